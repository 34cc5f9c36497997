# CMake toolchain file: cross-compile hmac-watchdog for linux/arm64 (aarch64) on a Debian
# bookworm amd64 machine. Used by tests/arm64/run.sh, which prepares everything it expects:
#
#   compiler  aarch64-linux-gnu-g++ (Debian's g++-aarch64-linux-gnu; its glibc and libstdc++,
#             static archives included, live in /usr/aarch64-linux-gnu, found by the compiler
#             itself, so no --sysroot is passed)
#   sysroot   build/arm64/sysroot (override: -DHW_ARM64_SYSROOT=DIR or the environment
#             variable of the same name): libssl-dev:arm64 unpacked with dpkg -x (libcrypto.a in
#             usr/lib/aarch64-linux-gnu, headers in usr/include and usr/include/aarch64-linux-gnu),
#             catch2:arm64 (headers and CMake package), and copies of the arch-independent
#             spdlog, fmt and CLI11 headers. It holds no C library headers, so the compiler never
#             mixes in the build machine's /usr/include or /usr/include/x86_64-linux-gnu.
#   emulator  qemu-aarch64 (see the end of this file): Catch2's test discovery and ctest run
#             the aarch64 test binaries through it.
#
#   cmake -S . -B build/arm64/build -DCMAKE_TOOLCHAIN_FILE=tests/arm64/aarch64.cmake \
#         -DCMAKE_BUILD_TYPE=Release -DHW_STATIC=ON
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

if(NOT HW_ARM64_SYSROOT)
  if(DEFINED ENV{HW_ARM64_SYSROOT})
    set(HW_ARM64_SYSROOT "$ENV{HW_ARM64_SYSROOT}")
  else()
    get_filename_component(HW_ARM64_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../../build/arm64/sysroot"
                           ABSOLUTE)
  endif()
endif()
set(HW_ARM64_SYSROOT "${HW_ARM64_SYSROOT}" CACHE PATH "arm64 sysroot prepared by tests/arm64/run.sh")
# try_compile projects re-read this file: hand them the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES HW_ARM64_SYSROOT)

# Libraries, headers and CMake packages come only from the arm64 sysroot and the cross
# toolchain's own folder; programs (python3, the shell tools) from the build machine.
set(CMAKE_FIND_ROOT_PATH "${HW_ARM64_SYSROOT}" /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# OpenSSL's <openssl/configuration.h> is arch-specific (usr/include/aarch64-linux-gnu); a
# native compiler finds it through multiarch, the cross compiler needs it spelled out.
set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES "${HW_ARM64_SYSROOT}/usr/include/aarch64-linux-gnu")
set(CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES "${HW_ARM64_SYSROOT}/usr/include/aarch64-linux-gnu")

# The emulator: HW_ARM64_QEMU (cache or environment), else the qemu that run.sh unpacks next to
# the sysroot (bookworm-backports' qemu-user: bookworm's 7.2 lacks prctl(PR_SET_CHILD_SUBREAPER),
# which the watchdog needs), else qemu-aarch64-static / qemu-aarch64 from PATH. -L lets the
# dynamically linked test binaries find the aarch64 loader and libraries of the cross toolchain.
if(NOT HW_ARM64_QEMU AND DEFINED ENV{HW_ARM64_QEMU})
  set(HW_ARM64_QEMU "$ENV{HW_ARM64_QEMU}")
endif()
if(NOT HW_ARM64_QEMU AND EXISTS "${HW_ARM64_SYSROOT}/../qemu/usr/bin/qemu-aarch64")
  get_filename_component(HW_ARM64_QEMU "${HW_ARM64_SYSROOT}/../qemu/usr/bin/qemu-aarch64" ABSOLUTE)
endif()
if(NOT HW_ARM64_QEMU)
  find_program(HW_ARM64_QEMU NAMES qemu-aarch64-static qemu-aarch64)
endif()
if(HW_ARM64_QEMU)
  set(HW_ARM64_QEMU "${HW_ARM64_QEMU}" CACHE FILEPATH "qemu user-mode emulator for aarch64")
  list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES HW_ARM64_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${HW_ARM64_QEMU};-L;/usr/aarch64-linux-gnu")
endif()
