#!/usr/bin/env bash
# A PyTorch model sampled by fmrt: tests/data/torch/unet_cond.safetensors is a state
# dict of the contract's network saved with safetensors.torch.save_file, and
# unet_cond.euler8.f32 what PyTorch (float64, scripts/reference/fmrt_ref.py) samples
# from it: 8 Euler steps, guidance 2, classes 0,3,7,9, from fmrt's noise of seed 5.
# fmrt converts the file and samples it on BACKEND; the float samples must agree
# within the conformance tolerance of a 10-step sampler row (NMSE <= 1e-6).
# Usage: torch_parity.sh FMRT DATA_DIR BACKEND
set -euo pipefail
fmrt=$1 data=$2/torch backend=$3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
"$fmrt" convert "$data/unet_cond.safetensors" "$t/u.fmw" --preset tiny --config image=16 \
    --config base_channels=8 --config channel_mult=1,2 --config time_dim=16 --config heads=2 \
    --config groups=4 --classes 10
"$fmrt" sample "$t/u.fmw" --n 4 --steps 8 --seed 5 --classes 0,3,7,9 --cfg 2.0 \
    --backend "$backend" --f32-out "$t/s.f32" --raw-out "$t/s.u8" --out "$t/s.png"
# One float per line from each file, side by side: NMSE and the largest difference.
paste <(od -v -An -w4 -t f4 "$t/s.f32") <(od -v -An -w4 -t f4 "$data/unet_cond.euler8.f32") |
    awk -v tol=1e-6 '{ d = $1 - $2; se += d * d; sr += $2 * $2; if (d < 0) d = -d; if (d > m) m = d }
        END { e = se / sr; printf "fmrt vs PyTorch: %d values, NMSE %.3e, max |diff| %.3e\n", NR, e, m
              if (NR != 1024 || !(e <= tol)) { print "FAIL: NMSE above " tol; exit 1 } }'
diff_px=$(cmp -l "$t/s.u8" "$data/unet_cond.euler8.u8" | wc -l || true)
echo "pixels that differ from PyTorch's: $diff_px of 1024"
