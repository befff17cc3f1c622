# Included after project() by the aarch64 toolchain (CMAKE_PROJECT_INCLUDE): works around an internal
# compiler error of Debian's aarch64 GCC 12 (vect_transform_reduction, tree-vect-loop.cc:7457) when it
# auto-vectorizes a double fmax reduction over floats in tests/cpp/test-nn-attention-strides.cpp. Only the
# test sources lose loop vectorization; the library (and its NEON kernels) is built unchanged.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  file(GLOB _ld_cross_tests "${CMAKE_SOURCE_DIR}/tests/cpp/test-*.cpp")
  set_source_files_properties(${_ld_cross_tests} PROPERTIES COMPILE_OPTIONS "-fno-tree-loop-vectorize")
endif()
