# CMake toolchain file: cross-compile for aarch64 Linux with Debian's g++-aarch64-linux-gnu and run the
# resulting test executables under qemu-user (ctest uses CMAKE_CROSSCOMPILING_EMULATOR automatically).
# Used by tests/cross/run-aarch64-tests.sh:
#   cmake -S . -B build/neon -G Ninja -DCMAKE_TOOLCHAIN_FILE=tests/cross/aarch64-toolchain.cmake -DLD_TESTS=ON
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# The target sysroot of the Debian cross packages; qemu's -L makes the dynamic loader find it.
set(LD_AARCH64_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${LD_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# -cpu max: the emulated CPU has every feature qemu knows, i8mm included, so the neon_i8mm kernels run
# (a default that some qemu versions share, named here so it does not depend on the version).
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;${LD_AARCH64_SYSROOT};-cpu;max")

# Per-source flags that need the detected compiler version (a GCC 12 workaround for the test sources).
set(CMAKE_PROJECT_INCLUDE ${CMAKE_CURRENT_LIST_DIR}/aarch64-test-flags.cmake)
