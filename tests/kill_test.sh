#!/usr/bin/env bash
# Crash safety under SIGKILL, for real: `fmrt train` writes a checkpoint after every
# step and is killed at random moments, half of them aimed at a checkpoint write
# (the kill is sent the moment "<ckpt>.tmp" appears, i.e. between the open
# and the rename of fm_file_write_atomic). After every kill:
#   - the checkpoint on disk, if any, is complete: `fmrt info` reads it and its
#     CRC checks out;
#   - resuming from it reaches exactly the weights of an uninterrupted run with the
#     same seed (cmp of the final --out files).
# The killed runs form a chain (each resumes the checkpoint the previous one left),
# so kills also land in resumed runs. A kill that left a temporary file behind is
# counted as "during a checkpoint write". How many land there depends on how long a
# write lasts on this machine's disk (microseconds on tmpfs), so the state such a kill
# leaves is also made directly at the end, whatever the disk: the last complete
# checkpoint beside a torn temporary file of the next one.
# Usage: kill_test.sh FMRT DATA_DIR [KILLS]   (KILL_SEED=N replays a sequence)
set -euo pipefail
fmrt=$1
data=$2 # train-images-idx3-ubyte.gz and labels (tests/data/mnist)
kills=${3:-10}
if [ ! -d "$data" ]; then echo "$0: $data not found" >&2; exit 1; fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
seed=${KILL_SEED:-$$}
RANDOM=$seed
echo "kill_test: $kills kills, KILL_SEED=$seed"

steps=20 # 16 steps per epoch: resumes cross an epoch boundary too
data_args=(--data "$data" --limit 64 --backend ref --log-every 1000)
model_args=(--preset tiny --config base_channels=8 --config "channel_mult=1,2" --config time_dim=16
            --config heads=2 --config groups=4 --batch 4 --seed 11)
"$fmrt" train --force "${data_args[@]}" "${model_args[@]}" --steps $steps --out "$t/ref.fmw" \
    --ckpt "$t/ref_ck.fmw" 2>"$t/ref.log" </dev/null

ck=$t/c.fmw
landed=0 before=0 finished=0 resumed=0
for i in $(seq 1 "$kills"); do
    if [ -e "$ck" ]; then
        "$fmrt" train --force "${data_args[@]}" --resume "$ck" --ckpt "$ck" --ckpt-every 1 --steps $steps \
            --out "$t/out.fmw" 2>>"$t/train.log" </dev/null &
    else
        "$fmrt" train --force "${data_args[@]}" "${model_args[@]}" --ckpt "$ck" --ckpt-every 1 \
            --steps $steps --out "$t/out.fmw" 2>>"$t/train.log" </dev/null &
    fi
    pid=$!
    tmp=$ck.tmp
    if [ $((i % 2)) -eq 0 ]; then
        # Aimed: let a few writes pass, then kill as soon as the next one starts.
        sleep "0.$((RANDOM % 5))"
        while [ ! -e "$tmp" ] && kill -0 "$pid" 2>/dev/null; do :; done
        how=aimed
    else
        sleep "$((RANDOM % 2)).$((RANDOM % 10))$((RANDOM % 10))"
        how=random
    fi
    kill -KILL "$pid" 2>/dev/null || true
    rc=0
    { wait "$pid"; } 2>/dev/null || rc=$? # quiet: no "Killed" job notice
    if [ "$rc" -ne 137 ]; then
        # The run ended on its own before the kill: start the chain again.
        test "$rc" -eq 0 || { echo "kill $i: train failed (rc $rc)"; tail "$t/train.log"; exit 1; }
        finished=$((finished + 1))
        echo "kill $i ($how): the run finished first; starting over"
        rm -f "$ck" "$t/out.fmw"
        continue
    fi
    during=no
    if [ -e "$tmp" ]; then
        during=yes
        landed=$((landed + 1))
        rm -f "$tmp"
    fi
    if [ ! -e "$ck" ]; then
        before=$((before + 1))
        echo "kill $i ($how): before the first checkpoint (during a write: $during)"
        continue
    fi
    "$fmrt" info "$ck" >"$t/info.txt"
    grep -q '^crc .* ok' "$t/info.txt"
    at=$(awk '$1 == "step" {print $2}' "$t/info.txt")
    if [ "$at" -eq "$steps" ]; then
        # Killed after the last checkpoint: nothing left to resume; it must be the
        # uninterrupted run's final checkpoint.
        cmp "$ck" "$t/ref_ck.fmw"
        resumed=$((resumed + 1))
        echo "kill $i ($how): the final checkpoint is complete and identical; starting over"
        rm -f "$ck" "$t/out.fmw"
        continue
    fi
    cp "$ck" "$t/snap.fmw"
    "$fmrt" train --force "${data_args[@]}" --resume "$t/snap.fmw" --steps $steps --out "$t/r.fmw" \
        2>"$t/resume.log" </dev/null
    cmp "$t/r.fmw" "$t/ref.fmw"
    resumed=$((resumed + 1))
    echo "kill $i ($how): checkpoint at step $at loads; during a write: $during; resume" \
         "to step $steps is bit-identical"
done
echo "kill_test: $kills kills, $landed during a checkpoint write, $before before the first" \
     "checkpoint, $finished after the run had finished; $resumed checkpoints resumed bit-identically"
if [ "$landed" -eq 0 ]; then
    echo "kill_test: no kill landed inside a checkpoint write here (writes are fast on this" \
         "disk); the state it leaves is checked directly below"
fi

# A checkpoint at step 7, and beside it the first 1000 bytes of a later one, as a kill
# between the open and the rename of the next write leaves them (the learning rate is
# constant: a 7-step run is the first 7 steps of the 20-step one).
p=$t/p.fmw
"$fmrt" train --force "${data_args[@]}" "${model_args[@]}" --steps 7 --ckpt "$p" --out "$t/p7.fmw" \
    2>>"$t/train.log" </dev/null
head -c 1000 "$t/ref_ck.fmw" >"$p.tmp"
"$fmrt" info "$p" >"$t/info.txt"
grep -q '^crc .* ok' "$t/info.txt"
if "$fmrt" info "$p.tmp" >"$t/torn.out" 2>"$t/torn.err"; then
    echo "FAIL: fmrt info accepted a torn checkpoint"; exit 1
fi
"$fmrt" train --force "${data_args[@]}" --resume "$p" --ckpt "$p" --ckpt-every 1 --steps $steps \
    --out "$t/p20.fmw" 2>>"$t/train.log" </dev/null
cmp "$t/p20.fmw" "$t/ref.fmw"
if [ -e "$p.tmp" ]; then echo "FAIL: the torn temporary file was left behind"; exit 1; fi
echo "kill_test: a torn temporary file beside the step-7 checkpoint: info refuses it" \
     "($(head -1 "$t/torn.err")), the resume overwrites it and ends bit-identical"

