# Cross-compiling for a Cortex-M7 with a double-precision FPU (STM32F7/H7, i.MX RT)
# with the Debian toolchain: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi
# Use: cmake -S examples/mcu -B build-mcu -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi-cortex-m7.cmake
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar)
set(CMAKE_RANLIB arm-none-eabi-ranlib)
set(CMAKE_SIZE arm-none-eabi-size)
# No OS to run test executables: try_compile builds a library instead.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(FMRT_CM7_FLAGS "-mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard")
# Debian's arm-none-eabi gcc ships its own <stdint.h>, which does not set the
# macros newlib's <inttypes.h> tests before defining PRId64/PRIu64/PRIx64; say
# that the 64-bit types exist (they do: long long, which newlib's "ll" matches).
set(FMRT_NEWLIB_FIX "-D__int64_t_defined=1 -D__int_least64_t_defined=1 -D__int_fast64_t_defined=1")
# Each function and object in its own section so the linker drops what is unused.
set(CMAKE_C_FLAGS_INIT "${FMRT_CM7_FLAGS} ${FMRT_NEWLIB_FIX} -ffunction-sections -fdata-sections")
set(CMAKE_C_FLAGS_RELEASE_INIT "-O2")
set(CMAKE_C_FLAGS_MINSIZEREL_INIT "-Os")
# newlib-nano; no syscalls are linked: the firmware must not need any.
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nano.specs -Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
