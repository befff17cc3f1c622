# The CUDA backend's build: decides LD_CUDA_ENABLED from LD_CUDA (AUTO / ON / OFF), sets the default
# architectures, and defines ld_add_cuda_backend(target), which adds ggml/src/cuda/*.cu + *.cpp to the
# core library with the CUDA runtime linked statically (the extension then imports on machines without
# CUDA libraries; with no driver or GPU the backend reports itself unavailable, with the reason).
string(TOUPPER "${LD_CUDA}" _ld_cuda_mode)
if(_ld_cuda_mode MATCHES "^(OFF|FALSE|NO|N|0)$")
  set(_ld_cuda_mode OFF)
elseif(NOT _ld_cuda_mode STREQUAL "AUTO")
  set(_ld_cuda_mode ON)
endif()

set(LD_CUDA_ENABLED OFF)
if(NOT _ld_cuda_mode STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(LD_CUDA_ENABLED ON)
  elseif(_ld_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "LD_CUDA=ON but no CUDA compiler (nvcc) was found: put nvcc on PATH or set CMAKE_CUDA_COMPILER")
  else()
    message(STATUS "llama-diffusion: no nvcc found, building without the CUDA backend (LD_CUDA=AUTO)")
  endif()
endif()

if(LD_CUDA_ENABLED)
  # Default architectures unless the user chose (CMAKE_CUDA_ARCHITECTURES or env CUDAARCHS, which CMake
  # reads itself when enabling the language).
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
    set(_ld_archs 80 86 89 90)
    file(WRITE ${CMAKE_BINARY_DIR}/ld_probe_90a.cu "__global__ void ld_probe() {}\n")
    execute_process(COMMAND ${CMAKE_CUDA_COMPILER} -gencode arch=compute_90a,code=sm_90a --dryrun -c
                            ${CMAKE_BINARY_DIR}/ld_probe_90a.cu -o ${CMAKE_BINARY_DIR}/ld_probe_90a.o
                    RESULT_VARIABLE _ld_90a OUTPUT_QUIET ERROR_QUIET)
    if(_ld_90a EQUAL 0)
      list(APPEND _ld_archs 90a)
    endif()
    set(CMAKE_CUDA_ARCHITECTURES "${_ld_archs}" CACHE STRING "CUDA architectures")
  endif()
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
  set(CMAKE_CUDA_VISIBILITY_PRESET hidden)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "llama-diffusion: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES})")
endif()

function(ld_add_cuda_backend target)
  file(GLOB _ld_cuda_src CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/ggml/src/cuda/*.cu
                                           ${CMAKE_CURRENT_SOURCE_DIR}/ggml/src/cuda/*.cpp)
  target_sources(${target} PRIVATE ${_ld_cuda_src})
  target_compile_definitions(${target} PUBLIC LD_HAVE_CUDA=1)
  # Precise math (no --use_fast_math): exp / tanh / log as the CPU reference expects them.
  target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CUDA>:-lineinfo;-Xcompiler=-fPIC>")
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/ggml/src)
  target_link_libraries(${target} PUBLIC CUDA::cudart_static)
  set_target_properties(${target} PROPERTIES CUDA_SEPARABLE_COMPILATION OFF)
  # ld-cuda-probe (not built by default): prints backends_list(); tests/python/test_cuda_build.py builds
  # and runs it to prove the CUDA backend compiles, links (static cudart) and reports itself.
  add_executable(ld-cuda-probe EXCLUDE_FROM_ALL ${CMAKE_CURRENT_SOURCE_DIR}/ggml/src/cuda/tools/cuda-probe.cpp)
  target_link_libraries(ld-cuda-probe PRIVATE ${target})
endfunction()
