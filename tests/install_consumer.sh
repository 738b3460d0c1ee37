#!/usr/bin/env bash
# The installed fmrt as another project sees it: cmake --install BUILD_DIR into a
# scratch prefix, then tests/consumer built against that prefix twice, with
# find_package(fmrt) and with pkg-config --static, each run on the installed weights
# (same output from both), and the installed tool finding the shipped weights by
# bare name in share/fmrt. Skips (77) only without cmake or pkg-config.
# Usage: install_consumer.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
for tool in cmake pkg-config; do
    if ! command -v "$tool" >/dev/null; then
        echo "skipped: $tool not found"; exit 77
    fi
done
# The build's own C compiler (a sanitized libfmrt.a needs that compiler's runtimes).
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
cc=${cc:-${CC:-cc}}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
p=$t/prefix

cmake --install "$build" --prefix "$p" >"$t/install.log" || { cat "$t/install.log"; exit 1; }
for f in include/fmrt/fmrt.h include/fmrt/backend_impl.h lib/libfmrt.a lib/cmake/fmrt/fmrtConfig.cmake \
         lib/cmake/fmrt/fmrtConfigVersion.cmake lib/cmake/fmrt/fmrtTargets.cmake \
         lib/pkgconfig/fmrt.pc bin/fmrt share/fmrt/tiny-cond.fmw share/fmrt/tiny-uncond.fmw; do
    test -e "$p/$f" || { echo "FAIL: $p/$f was not installed"; exit 1; }
done
if [ -e "$p/include/fmrt/conf_rows.h" ]; then echo "FAIL: the private conf_rows.h was installed"; exit 1; fi
# The cuda-emu test harness stays in the build tree: no symbol of it in libfmrt, no
# mention in the CMake package or fmrt.pc.
if nm "$p/lib/libfmrt.a" 2>/dev/null | grep -q "cuda_emu" ||
   grep -rlq "cuda_emu" "$p/lib/cmake" "$p/lib/pkgconfig"; then
    echo "FAIL: the installed library or package refers to the cuda-emu harness"; exit 1
fi
weights=$p/share/fmrt/tiny-cond.fmw

# 1. CMake: find_package(fmrt) + fmrt::fmrt, the prefix found through CMAKE_PREFIX_PATH.
cmake -S "$src/tests/consumer" -B "$t/cm" -DCMAKE_PREFIX_PATH="$p" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=Release >"$t/cm.log" 2>&1 || { cat "$t/cm.log"; exit 1; }
cmake --build "$t/cm" >>"$t/cm.log" 2>&1 || { cat "$t/cm.log"; exit 1; }
"$t/cm/consumer" "$weights" >"$t/out.cmake"
echo "cmake consumer:"; cat "$t/out.cmake"

# 2. pkg-config: one compiler line from fmrt.pc.
flags=$(PKG_CONFIG_PATH="$p/lib/pkgconfig" pkg-config --static --cflags --libs fmrt)
echo "pkg-config --static --cflags --libs fmrt: $flags"
# shellcheck disable=SC2086 # the flags are words
"$cc" -std=c11 -Wall -Wextra -Werror -o "$t/consumer_pc" "$src/tests/consumer/main.c" $flags
"$t/consumer_pc" "$weights" >"$t/out.pc"
if ! cmp -s "$t/out.cmake" "$t/out.pc"; then
    echo "FAIL: the two consumers differ:"; diff "$t/out.cmake" "$t/out.pc"; exit 1
fi
# silu(x) = x sigmoid(x) at -3 -1 -0.5 0 1 2.5, to 1e-5.
awk '/^fmrt .*, backend ref, silu:/ {
         split("-0.142278 -0.268941 -0.188770 0 0.731059 2.310354", want, " ")
         for (i = 1; i <= 6; i++) { d = $(NF - 6 + i) - want[i]; if (d > 1e-5 || d < -1e-5) bad = 1 }
         ok = 1 }
     END { exit bad || !ok }' "$t/out.pc" || { echo "FAIL: unexpected silu line"; exit 1; }
grep -q " 1009825 parameters" "$t/out.pc" \
    || { echo "FAIL: tiny-cond.fmw should hold 1009825 parameters"; exit 1; }
# A digit has ink and background: between 3% and 50% of its pixels above half.
awk '/^sampled 1 digit:/ { ok = $4 >= 24 && $4 <= 392 } END { exit !ok }' "$t/out.pc" \
    || { echo "FAIL: the sampled digit:"; cat "$t/out.pc"; exit 1; }

# 3. The installed tool finds the shipped weights by bare name, from another folder.
(cd "$t" && "$p/bin/fmrt" info tiny-cond.fmw) >"$t/info.txt"
grep -q "^file .*/share/fmrt/tiny-cond.fmw" "$t/info.txt" \
    || { echo "FAIL: fmrt info tiny-cond.fmw did not find share/fmrt:"; cat "$t/info.txt"; exit 1; }
grep -q "1009825 parameters" "$t/info.txt" || { echo "FAIL: fmrt info:"; cat "$t/info.txt"; exit 1; }
head -6 "$t/info.txt"
rc=0
(cd "$t" && "$p/bin/fmrt" info no-such.fmw) 2>"$t/err" || rc=$?
if [ "$rc" -eq 0 ] || [ "$(wc -l <"$t/err")" -ne 1 ] || ! grep -q "share/fmrt/no-such.fmw" "$t/err"; then
    echo "FAIL: a missing bare name should give one line naming both places (exit $rc):"
    cat "$t/err"; exit 1
fi
cat "$t/err"

# 4. fmrt eval finds the installed classifier and reference statistics by itself.
(cd "$t" && "$p/bin/fmrt" eval "$src/tests/data/mnist/train-images-idx3-ubyte.gz" --json \
    --backend ref) >"$t/eval.json"
for f in "share/fmrt/classifier.fmw" "share/fmrt/mnist-test.fms" '"fid":'; do
    grep -q "$f" "$t/eval.json" || { echo "FAIL: fmrt eval did not use $f:"; cat "$t/eval.json"; exit 1; }
done
cat "$t/eval.json"
echo "install_consumer: ok"
