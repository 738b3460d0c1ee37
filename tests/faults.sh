#!/usr/bin/env bash
# Fault paths of the fmrt tool, end to end. Every fault must give a clear error line,
# a non-zero exit, no crash, and leave the files already on disk intact:
#   numeric  a non-finite gradient (FMRT_TEST_FAULT_STEP poisons one step) stops
#            training naming the step and the first bad tensor, with the last
#            checkpoint and --out untouched; --skip-nonfinite skips and counts it;
#   device   an arena smaller than the plan (FMRT_ARENA_BYTES) names bytes needed
#            and free; an arena that cannot be allocated (host or OpenCL); no CUDA
#            device; a missing OpenCL device lists the devices seen;
#   disk     a checkpoint written to a full disk (a 1 MiB tmpfs, or RLIMIT_FSIZE
#            when mounting is not allowed) and to a read-only folder (tmpfs
#            remounted read-only, before and in the middle of a run).
# Usage: faults.sh FMRT DATA_DIR
set -euo pipefail
fmrt=$1
data=$2 # train-images-idx3-ubyte.gz and labels (tests/data/mnist)
if [ ! -d "$data" ]; then echo "$0: $data not found" >&2; exit 1; fi
t=$(mktemp -d)
mounts=()
cleanup() {
    for m in "${mounts[@]+"${mounts[@]}"}"; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
    rm -rf "$t"
}
trap cleanup EXIT

tiny=(--data "$data" --limit 64 --backend ref --log-every 1000)
model=(--preset tiny --config base_channels=8 --config "channel_mult=1,2" --config time_dim=16
       --config heads=2 --config groups=4 --batch 4 --seed 5)

. "$(dirname "$0")/expect.sh"

# ---- numeric faults ---------------------------------------------------------------
"$fmrt" train --force "${tiny[@]}" "${model[@]}" --steps 4 --ckpt "$t/a4.fmw" --out "$t/a.fmw" \
    2>/dev/null </dev/null
echo sentinel >"$t/b.fmw"
cp "$t/b.fmw" "$t/b.keep"
FMRT_TEST_FAULT_STEP=5 expect_fail "step 5: non-finite gradient in [a-z_0-9.]+ \(loss [0-9.]+\)" \
    "$fmrt" train --force "${tiny[@]}" "${model[@]}" --steps 8 --ckpt "$t/b4.fmw" --ckpt-every 2 \
    --out "$t/b.fmw"
# The checkpoint of step 4, not a later one: every tensor equal (the files differ only
# in the run's recorded end, step 4 against 8).
"$fmrt" diff "$t/a4.fmw" "$t/b4.fmw" --tol 0 >/dev/null
"$fmrt" info "$t/b4.fmw" | grep -Eq "^  step +4$"
cmp "$t/b.keep" "$t/b.fmw"  # --out never written
echo "ok: the step-4 checkpoint and --out are intact"
FMRT_TEST_FAULT_STEP=5 "$fmrt" train --force "${tiny[@]}" "${model[@]}" --steps 8 --skip-nonfinite \
    --out "$t/s.fmw" 2>"$t/err" </dev/null
grep -q "skipped 1 step with a non-finite" "$t/err"
echo "ok: --skip-nonfinite: $(grep '^skipped step' "$t/err")"

# ---- device faults ----------------------------------------------------------------
w=$t/a.fmw
have_opencl=0
"$fmrt" backends >"$t/backends.txt" 2>&1
grep -q opencl "$t/backends.txt" && have_opencl=1
FMRT_ARENA_BYTES=1000000 expect_fail "ref arena exhausted: .*needs [0-9]+, [0-9]+ of [0-9]+ bytes free" \
    "$fmrt" sample --force "$w" --n 4 --steps 2 --backend ref --out "$t/x.png"
FMRT_ARENA_BYTES=1125899906842624 expect_fail "the arena needs [0-9.]+ GiB of host memory, more than this machine" \
    "$fmrt" sample --force "$w" --n 4 --steps 2 --backend ref --out "$t/x.png"
FMRT_ARENA_BYTES=12x expect_fail "FMRT_ARENA_BYTES: '12x'" "$fmrt" sample --force "$w" --backend ref
if [ "$have_opencl" = 1 ]; then
    FMRT_ARENA_BYTES=1000000 expect_fail "opencl arena exhausted: .*needs [0-9]+, [0-9]+ of [0-9]+ bytes free" \
        "$fmrt" sample --force "$w" --n 4 --steps 2 --backend opencl --out "$t/x.png"
    FMRT_ARENA_BYTES=1125899906842624 expect_fail "allows one allocation of at most|allocation of [0-9]+ bytes failed" \
        "$fmrt" sample --force "$w" --n 4 --steps 2 --backend opencl --out "$t/x.png"
    expect_fail "no device 99; devices seen: \[0\]" "$fmrt" sample --force "$w" --backend opencl:99
    # The non-finite guard runs on the device backend's own reduction too.
    FMRT_TEST_FAULT_STEP=2 expect_fail "step 2: non-finite gradient in " "$fmrt" train --force \
        --data "$data" --limit 16 --log-every 1000 "${model[@]}" --backend opencl --steps 3 \
        --out "$t/o.fmw"
else
    expect_fail "'opencl' is not compiled" "$fmrt" sample --force "$w" --backend opencl:99
fi
if "$fmrt" sample --force "$w" --n 2 --steps 1 --backend cuda --out "$t/x.png" 2>"$t/err" </dev/null; then
    echo "note: a CUDA device is present; the no-device path is not checked here"
else
    test "$(wc -l <"$t/err")" -eq 1
    grep -Eq "^fmrt sample: .*cuda" "$t/err"
    echo "ok: $(cat "$t/err")"
fi

# ---- full disk ----------------------------------------------------------------------
# Step 2's checkpoint (about 640 KB) fits in the 1 MiB disk; rewriting it needs room
# for a second copy, which is not there.
mkdir "$t/full"
if mount -t tmpfs -o size=1m fmrt-full "$t/full" 2>/dev/null; then
    mounts+=("$t/full")
    limit=0
    echo "full disk: a 1 MiB tmpfs"
else
    limit=1 # 300 KiB per file: EFBIG instead of ENOSPC
    echo "full disk: cannot mount a tmpfs here; RLIMIT_FSIZE (ulimit -f 300) instead"
fi
"$fmrt" train --force "${tiny[@]}" "${model[@]}" --steps 2 --ckpt "$t/full/c.fmw" --out "$t/w2.fmw" \
    2>/dev/null </dev/null
cp "$t/full/c.fmw" "$t/c.keep"
resume=("$fmrt" train --force "${tiny[@]}" --resume "$t/full/c.fmw" --ckpt "$t/full/c.fmw" --steps 4
        --out "$t/w4.fmw")
if [ "$limit" = 1 ]; then
    expect_fail "writing checkpoint: .*(File too large|No space left)" \
        bash -c 'ulimit -f 300; exec "$@"' _ "${resume[@]}"
else
    expect_fail "writing checkpoint: .*No space left on device" "${resume[@]}"
fi
cmp "$t/c.keep" "$t/full/c.fmw"
test "$(ls "$t/full")" = c.fmw # no temporary file left behind
echo "ok: the previous checkpoint is intact and no temporary file is left"

# ---- read-only folder ---------------------------------------------------------------
mkdir "$t/ro"
if mount -t tmpfs -o size=8m fmrt-ro "$t/ro" 2>/dev/null; then
    mounts+=("$t/ro")
    cp "$t/c.keep" "$t/ro/c.fmw"
    mount -o remount,ro "$t/ro"
    expect_fail "not writable" "$fmrt" train --force "${tiny[@]}" --resume "$t/ro/c.fmw" \
        --ckpt "$t/ro/c.fmw" --steps 4 --out "$t/w4.fmw"
    cmp "$t/c.keep" "$t/ro/c.fmw"
    # In the middle of a run: the folder turns read-only between two checkpoints.
    mount -o remount,rw "$t/ro"
    rm -f "$t/ro/c.fmw"
    "$fmrt" train --force "${tiny[@]}" "${model[@]}" --steps 100000 --ckpt "$t/ro/c.fmw" --ckpt-every 1 \
        --out "$t/ro/w.fmw" 2>"$t/err" </dev/null &
    pid=$!
    while [ ! -e "$t/ro/c.fmw" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    # The remount fails with EBUSY while a temporary file is open for writing.
    ro=0
    for _ in $(seq 1000); do mount -o remount,ro "$t/ro" 2>/dev/null && { ro=1; break; }; sleep 0.01; done
    if [ "$ro" -eq 0 ]; then
        kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
        echo "FAIL: $t/ro stayed busy (EBUSY) for 10 s: could not turn it read-only mid-run"; exit 1
    fi
    cp "$t/ro/c.fmw" "$t/ro.keep"
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -eq 0 ] || [ "$rc" -gt 125 ]; then echo "FAIL: exit $rc"; cat "$t/err"; exit 1; fi
    grep -E "writing checkpoint: .*Read-only file system" "$t/err"
    cmp "$t/ro.keep" "$t/ro/c.fmw"
    "$fmrt" info "$t/ro/c.fmw" >"$t/info.txt"
    grep -q '^crc .* ok' "$t/info.txt"
    echo "ok: read-only mid-run: exit $rc, the last checkpoint is intact and loads"
elif cp "$t/c.keep" "$t/ro/c.fmw" && chattr +i "$t/ro" 2>/dev/null; then
    expect_fail "not writable|Permission denied|Operation not permitted" "$fmrt" train --force \
        "${tiny[@]}" --resume "$t/ro/c.fmw" --ckpt "$t/ro/c.fmw" --steps 4 --out "$t/w4.fmw"
    chattr -i "$t/ro"
    cmp "$t/c.keep" "$t/ro/c.fmw"
else
    echo "note: cannot mount or chattr here; the read-only folder check is skipped"
fi
echo "faults: ok"
