#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer) over the whole test
# suite: configures build-asan (Debug, FMRT_SANITIZE=ON), builds, runs every ctest
# entry. Any report fails the run (UBSan does not recover, ASan halts on the first
# error, a leak fails the process at exit).
#
# Excluded, because the tools conflict, not because of findings:
#   - the CUDA backend (FMRT_CUDA=OFF): FMRT_SANITIZE's flags would reach nvcc, which
#     rejects them, and the CUDA runtime's address-space reservations need
#     ASAN_OPTIONS=protect_shadow_gap=0; it is checked by the normal suite instead.
#   - leaks inside the OpenCL ICD loader, PoCL, LLVM and CLBlast, which keep
#     process-lifetime state they never free: tests/lsan.supp names those libraries
#     only (frames of our code are never suppressed).
# allocator_may_return_null=1: tests ask for absurd arenas on purpose
# (tests/faults.sh) and expect a NULL they can report, as libc gives.
# The cpu kernels are built for the x86-64 baseline (FMRT_CPU_NATIVE=OFF: SSE2), so
# that every CI run also tests the narrowest vector width beside the machine's own
# (the main build's -march=native).
# C at -O2 (asserts kept: a Debug build with its C flags raised): the suite runs in
# about half the time of -O0, and ASan and UBSan check optimised code as users run it.
# C++ (the cuda-emu harness and the CUDA kernels it runs) stays at Debug's -O0: the
# harness switches its threads with swapcontext, and at -O2 the compiler keeps a
# thread-local's address across the switch (UBSan: a null thread_ctx in test_emu.cpp).
# Usage: scripts/sanitize.sh [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
b=build-asan
cmake -S . -B "$b" -DFMRT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O2" \
      -DFMRT_TESTS=ON -DFMRT_FUZZ=OFF -DFMRT_CUDA=OFF -DFMRT_CPU_NATIVE=OFF "$@" >/dev/null
cmake --build "$b" -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:halt_on_error=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
ctest --test-dir "$b" --output-on-failure -j"$(nproc)"
