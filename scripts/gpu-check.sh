#!/usr/bin/env bash
# gpu-check: fmrt's CUDA backend, and its OpenCL backend through NVIDIA's OpenCL ICD, on
# one NVIDIA GPU in one prepared run: under 8 minutes on one H100 or H200, so that a
# 15-minute device lease leaves room for one rerun (--only STEPS reruns a part).
#
# Steps, the time expected on one H100 with 16 cores, and [the time box of each]:
#   0. preflight: this script's tools, nvidia-smi, .gpu-deps/ unpacked in /tmp   ~5 s
#   1. build for this card only (sm_XY from nvidia-smi) in build-gpu/, with MPI and
#      NCCL where found (train --dist); build-gpu-cl/ (OpenCL only) beside it in the
#      background when NVIDIA's OpenCL ICD is there                     ~60-90 s [300 s]
#      probe: a quick bench on cuda; if cuda cannot run: the table, exit 2   ~5 s [60 s]
#   2. correctness, every job below at once (one GPU, 16 cores; one at a time if the
#      GPU is in an exclusive compute mode); the wall time is the slowest job's, the
#      mnist model rows                                                ~90-150 s [210 s]
#      conformance  strict float32: the op rows, and the whole-model rows of tiny,
#                   mnist, dit-tiny, cifar-small, dit-cifar (batch 2), a process each
#      tf32         the same with --tf32 (TF32 GEMMs, checked with TF32 tolerances)
#      golden       the float64 cases unet_cond dit_cond unet_rgb dit_rgb vae unet_text dit_text on cuda
#      memcheck     compute-sanitizer --tool memcheck on the op rows         [150 s]
#      racecheck    compute-sanitizer --tool racecheck on the op rows        [150 s]
#      cross        train tiny 30 steps on cuda; sample 4 digits x 10 steps from the
#                   weights on cuda and on ref: the largest pixel difference
#      dist         train --dist, one rank (NCCL all-reduce), against a plain cuda
#                   run (fmrt diff); one rank, as NCCL refuses two ranks on one GPU
#      opencl       build-gpu-cl on the GPU through NVIDIA's ICD: conformance op rows
#   3. bench on cuda, alone on the GPU: SGEMM, training img/s (mnist, batch 128),
#      sampling 64 x 50 Euler steps, per-op tables; strict, then --tf32
#                                                                 ~2 x 40 s [150 s each]
#   4. bench on OpenCL through NVIDIA's ICD, the same numbers: the nearest this
#      project gets to sampling on another vendor's GPU                ~60 s [150 s]
#   5. one summary table, a row per step (also summary.txt)         total ~6 minutes
# The run is held to GPU_CHECK_BUDGET seconds (470): a step that would start past it
# is a SKIP row, and every time box is cut to what is left (GPU_CHECK_SERIAL=1: the
# correctness jobs one at a time, slower). A rerun on the same warm
# machine rebuilds nothing; --only conformance,golden (say) runs those steps alone
# (steps: conformance tf32 golden memcheck racecheck cross dist opencl bench).
# Exit status: 0 no check failed, 1 a check failed, 2 no usable build or device (or
# one of this script's own tools missing), 3 no NVIDIA GPU visible.
#
# The model rows are those eight presets (the five below, the autoencoder's vae-test and
# the text-conditioned tiny+text and dit-tiny+text), not --model all: the ref oracle
# runs them on one CPU core, and the full-size cifar and dit presets take it minutes
# each. They reach every kernel at each architecture's shapes, grey and colour
# (cifar-small, dit-cifar), with and without a prompt: the set ctest's
# conformance_cuda_emu runs.
#
# A bare GPU machine has no network and may lack what the build needs besides CUDA
# (zlib, libpng, libjpeg, cJSON and pkg-config, stb), the OpenCL headers, ICD loader and
# CLBlast, and MPI. Here first, on a Debian machine with apt:
#   scripts/gpu-check.sh --fetch-deps
# downloads them as .deb files into .gpu-deps/ (git-ignored: carry it), with MNIST's
# 10k training digits where ../shared has them (else tests/data/mnist's 256 serve).
# The device run unpacks them under /tmp/fmrt-deps, never into /, and only fmrt sees
# their libraries (through a wrapper); Open MPI is moved there by OPAL_PREFIX.
#
# Logs: gpu-check-out/ (git-ignored). Where $OUT is set (the device tool), summary.txt
# and gpu-check-logs.tar.gz are copied there, as that tool brings back few files.
#
# Other modes: --dry-run prints every command with its time box and runs none;
# --host-test runs the same jobs here without a GPU, build/fmrt's cpu backend in cuda's
# place at small sizes and PoCL in NVIDIA's (no build, no sanitizer, no NCCL): a check
# of this script's jobs, parsing and table.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD

# ---- options ----------------------------------------------------------------------
steps_known=(conformance tf32 golden memcheck racecheck cross dist opencl bench)
mode=run only=''
while [ $# -gt 0 ]; do
  case $1 in
    --fetch-deps) mode=fetch ;;
    --dry-run) mode=dry ;;
    --host-test) mode=host ;;
    --only) only=${2:-}; shift ;;
    --only=*) only=${1#--only=} ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
  esac
  shift
done
for s in ${only//,/ }; do
  [[ " ${steps_known[*]} " == *" $s "* ]] ||
    { echo "gpu-check: --only: no step '$s' (steps: ${steps_known[*]})" >&2; exit 2; }
done
wanted() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
dry=0
[ "$mode" = dry ] && dry=1

# ---- --fetch-deps: here, with apt and the network -----------------------------------
# What the build needs besides CUDA; OpenCL; Open MPI with the run-time libraries of its
# components (ucx, fabric, pmix, ...). Nothing that every machine has (libc, libstdc++).
deb_build=(zlib1g zlib1g-dev libpng16-16 libpng-dev libjpeg62-turbo libjpeg62-turbo-dev
           libcjson1 libcjson-dev libstb-dev pkgconf pkgconf-bin libpkgconf3)
deb_opencl=(ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers libclblast1 libclblast-dev clinfo)
deb_mpi=(libopenmpi3 libopenmpi-dev openmpi-bin openmpi-common libpmix2 libhwloc15 libudev1
         libevent-core-2.1-7 libevent-pthreads-2.1-7 libnuma1 libucx0 libfabric1 libibverbs1
         ibverbs-providers librdmacm1 libpsm2-2 libnl-3-200 libnl-route-3-200 libmunge2 libatomic1)
deb_pkgs=("${deb_build[@]}" "${deb_opencl[@]}" "${deb_mpi[@]}")
fetch_deps() {
  command -v apt-get >/dev/null || { echo "gpu-check: --fetch-deps needs apt-get" >&2; exit 2; }
  rm -rf .gpu-deps && mkdir -p .gpu-deps/mnist || exit 2
  (cd .gpu-deps && apt-get -o APT::Sandbox::User=root download "${deb_pkgs[@]}" >/dev/null) ||
    { echo "gpu-check: apt-get download failed (apt-get update first?)" >&2; exit 1; }
  cp "${FMRT_SHARED_DIR:-../shared}"/data/mnist/train-10k-*.gz .gpu-deps/mnist/ 2>/dev/null ||
    echo "gpu-check: no MNIST in ../shared: the device run trains on tests/data/mnist"
  echo "gpu-check: $(find .gpu-deps -name '*.deb' | wc -l) packages, $(du -sh .gpu-deps | cut -f1) in .gpu-deps/"
  exit 0
}
[ "$mode" = fetch ] && fetch_deps

# ---- preflight: this script's own tools, then the GPU ---------------------------------
export PATH=/usr/local/cuda/bin:/usr/local/cuda/compute-sanitizer:$PATH
need=(awk od paste timeout tar nproc grep sed)
[ "$mode" = host ] || need+=(cmake)
for t in "${need[@]}"; do
  command -v "$t" >/dev/null || { echo "gpu-check: '$t' not found: this script needs it" >&2; exit 2; }
done
if [ "$mode" = run ]; then
  command -v cc >/dev/null || command -v gcc >/dev/null ||
    { echo "gpu-check: no C compiler (cc, gcc) to build with" >&2; exit 2; }
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
  if [ "${gpus:-0}" -eq 0 ]; then
    why="nvidia-smi found none"
    command -v nvidia-smi >/dev/null || why="no nvidia-smi on PATH"
    echo "gpu-check: no NVIDIA GPU visible ($why): nothing to check" >&2
    exit 3
  fi
fi

budget=${GPU_CHECK_BUDGET:-470}
logs=$root/gpu-check-out
work=/tmp/gpu-check-work
if ((!dry)); then
  rm -rf "$logs" "$work" && mkdir -p "$logs" "$work" || exit 2
fi
declare -a rows=()
declare -A job_pid=() job_rc=() job_t0=() job_secs=()
fails=0 gpu_name="no GPU" be=cuda fmrt=$root/build-gpu/fmrt fmrt_cl=$root/build-gpu-cl/fmrt

# row STEP STATUS DETAIL: a line of the summary table. STATUS: PASS, FAIL, PART (the
# time box ended it with no failure in the part that ran), SKIP, or INFO (a number).
row() {
  local d=${3//$'\n'/ }
  rows+=("$(printf '%-31s %-5s %s' "$1" "$2" "${d:0:150}")")
  [ "$2" != FAIL ] || fails=$((fails + 1))
}
summary() {
  { echo
    echo "gpu-check summary: $gpu_name; ${SECONDS} s of a ${budget} s budget"
    printf '%-31s %-5s %s\n' step result detail
    printf '%s\n' "${rows[@]}"
  } | tee "$logs/summary.txt"
  if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
    cp "$logs/summary.txt" "$OUT/" &&
      tar -C "$logs" -czf "$OUT/gpu-check-logs.tar.gz" .
  fi
}
# first REGEX FILE...: the first matching line, blanks squeezed, compute-sanitizer's
# "=========" cut, at most 100 characters.
first() {
  local l
  l=$(grep -h -E "$1" "${@:2}" 2>/dev/null | head -1)
  [ -n "$l" ] && printf '%s\n' "$l" | tr -s ' ' | sed 's/^=* *//' | cut -c1-100
}

# ---- jobs: each in the background under its time box, output in gpu-check-out/NAME.log
# box CAP: the seconds a step may take: CAP, cut to what the budget has left.
box() {
  local left=$((budget - SECONDS))
  ((left >= 20)) || return 1
  echo $((left < $1 ? left : $1))
}
# tmo CMD...: CMD under what is left of the current job's box (JOB_END); --dry-run: print it.
tmo() {
  if ((dry)); then printf '     '; printf ' %q' "$@"; echo; return 0; fi
  local left=$((JOB_END - SECONDS))
  ((left > 0)) || return 124
  timeout -k 10 "$left" "$@"
}
# start NAME CAP FUNC ARGS...: FUNC ARGS as a background job, CAP seconds at most.
start() {
  local name=$1 t
  t=$(box "$2") || { job_rc[$name]=budget; return 0; }
  shift 2
  if ((dry)); then
    printf '  %-22s [%3s s]\n' "$name" "$t"
    JOB_END=$((SECONDS + t)) "$@"
    job_rc[$name]=0
    return 0
  fi
  ((serial)) && finish # a GPU in an exclusive compute mode: one process at a time
  job_t0[$name]=$SECONDS
  (JOB_END=$((SECONDS + t)) && "$@") </dev/null >"$logs/$name.log" 2>&1 &
  job_pid[$name]=$!
}
# finish [NAME]: wait for that job (or all); job_rc[NAME]: its exit status (124: time box).
finish() {
  local name
  for name in "${@:-${!job_pid[@]}}"; do
    if [ -z "$name" ] || [ -z "${job_pid[$name]:-}" ]; then continue; fi
    wait "${job_pid[$name]}"
    job_rc[$name]=$?
    job_secs[$name]=$((SECONDS - job_t0[$name]))
    unset "job_pid[$name]"
  done
}
# not_run NAME REASON: job NAME is not started; its row (skipped NAME LABEL) says why.
declare -A skip_why=()
not_run() { job_rc[$1]=skip skip_why[$1]=$2; }
skipped() {
  case ${job_rc[$1]:-} in
    budget) row "$2" SKIP "the time budget was spent" ;;
    skip) row "$2" SKIP "${skip_why[$1]}" ;;
    *) return 1 ;;
  esac
}

# ---- 0. what a bare machine lacks ----------------------------------------------------------
deps=/tmp/fmrt-deps
dlib=$deps/usr/lib/x86_64-linux-gnu
libdirs=$dlib:$deps/lib/x86_64-linux-gnu:$dlib/openmpi/lib:$dlib/pmix2/lib
cmake_deps=() fmrt_env=() cl_lib='' cl_ok=0 mpi_from=none dist_cfg=''
serial=${GPU_CHECK_SERIAL:-0} # 1: the jobs one at a time
# the OpenCL device's description must name this (NVIDIA's platform: 'NVIDIA CUDA')
cl_match=NVIDIA
unpack_deps() { # PACKAGE...: those of .gpu-deps/ unpacked (again when the list changed)
  [ "$(cat "$deps/.unpacked" 2>/dev/null)" = "$*" ] && return 0
  rm -rf "$deps" && mkdir -p "$deps" || return 1
  local p f l
  for p in "$@"; do
    for f in .gpu-deps/"$p"_*.deb; do
      [ ! -f "$f" ] || dpkg-deb -x "$f" "$deps" || return 1
    done
  done
  # absolute links (libz.so -> /lib/...) point into the unpacked tree instead
  find "$deps" -type l -lname '/*' | while read -r l; do ln -sfn "$deps$(readlink "$l")" "$l"; done
  echo "$*" >"$deps/.unpacked"
}
setup_deps() {
  # MPI: the machine's own where it has one (mpicc), else the unpacked Open MPI (below)
  local use=("${deb_build[@]}" "${deb_opencl[@]}")
  if command -v mpicc >/dev/null; then mpi_from=system; else use+=("${deb_mpi[@]}"); fi
  if ! ls .gpu-deps/*.deb >/dev/null 2>&1; then
    row "deps (.gpu-deps)" INFO "none carried: the machine's own headers and libraries only"
  elif ((!dry)) && ! unpack_deps "${use[@]}"; then
    row "deps (.gpu-deps)" INFO "could not unpack .gpu-deps/ (dpkg-deb): the machine's own only"
  else
    # Headers and libraries of the packages first; fmrt alone (a wrapper) runs with their
    # run-time libraries, so that cmake, nvcc and the rest keep the machine's own.
    # (jconfig.h sits in the multiarch folder; pkg-config: cJSON's .pc files, their
    # paths under /tmp/fmrt-deps by PKG_CONFIG_SYSROOT_DIR.)
    fmrt_env+=(LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    cmake_deps+=(-DCMAKE_PREFIX_PATH="$deps/usr" -DCMAKE_LIBRARY_PATH="$dlib"
                 -DCMAKE_INCLUDE_PATH="$deps/usr/include"
                 -DCMAKE_C_FLAGS="-isystem $deps/usr/include/x86_64-linux-gnu"
                 -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$libdirs"
                 -DPKG_CONFIG_EXECUTABLE="$work/pkg-config")
    local pc
    pc=$(command -v pkg-config || echo "$deps/usr/bin/pkgconf")
    wrap "$pc" "$work/pkg-config" PKG_CONFIG_LIBDIR="$dlib/pkgconfig:$deps/usr/share/pkgconfig" \
      PKG_CONFIG_SYSROOT_DIR="$deps"
  fi
  # The unpacked Open MPI: moved from /usr to /tmp/fmrt-deps/usr by OPAL_PREFIX (PMIx and
  # its plugins by their own variables); fmrt's --dist starts it as a singleton.
  if [ "$mpi_from" = system ]; then
    :
  elif [ -f "$dlib/openmpi/include/mpi.h" ] || { ((dry)) && [ -n "${cmake_deps[*]}" ]; }; then
    mpi_from=.gpu-deps
    cmake_deps+=(-DMPI_SKIP_COMPILER_WRAPPER=ON -DMPI_C_HEADER_DIR="$dlib/openmpi/include"
                 -DMPI_C_LIB_NAMES=mpi -DMPI_mpi_LIBRARY="$dlib/openmpi/lib/libmpi.so")
    fmrt_env+=(OPAL_PREFIX="$deps/usr" OPAL_SYSCONFDIR="$deps/etc/openmpi"
               PMIX_INSTALL_PREFIX="$dlib/pmix2" PMIX_MCA_mca_base_component_path="$dlib/pmix2/lib/pmix"
               PATH="$deps/usr/bin:$PATH" OMPI_MCA_mca_base_component_show_load_errors=0)
  fi
  fmrt_env+=(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
  # NCCL: the CUDA toolkit's, else the one in the image's Python (nvidia-nccl-cu*).
  local inc nccl f
  inc=$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")/../include
  if [ ! -f "$inc/nccl.h" ]; then
    nccl=$(python3 -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null)
    if [ -n "$nccl" ] && [ -f "$nccl/include/nccl.h" ] && [ -f "$nccl/lib/libnccl.so.2" ]; then
      cmake_deps+=(-DFMRT_NCCL_INCLUDE="$nccl/include" -DFMRT_NCCL_LIB="$nccl/lib/libnccl.so.2")
    fi
  fi
  # NVIDIA's OpenCL driver: an ICD file that names it, else the library where drivers go.
  for f in /etc/OpenCL/vendors/*.icd; do
    [ -f "$f" ] && grep -qi nvidia "$f" && cl_lib=$(head -1 "$f") && break
  done
  if [ -z "$cl_lib" ]; then
    cl_lib=$({ ldconfig -p | awk '/libnvidia-opencl\.so\.1 / {print $NF}'
               ls /usr/local/nvidia/lib64/libnvidia-opencl.so.1 /usr/local/nvidia/lib/libnvidia-opencl.so.1 \
                  /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 /usr/lib64/libnvidia-opencl.so.1
             } 2>/dev/null | head -1)
  fi
  if ((dry)) && [ -z "$cl_lib" ]; then cl_lib="libnvidia-opencl.so.1 (if found)"; fi
}
# wrap REAL WRAPPER [VAR=VALUE...]: a script that runs REAL with fmrt_env and those
# variables (nothing else runs with them).
wrap() {
  ((dry)) && return 0
  { echo '#!/bin/sh'
    local e
    for e in ${fmrt_env[@]+"${fmrt_env[@]}"} "${@:3}"; do printf 'export %q\n' "$e"; done
    printf 'exec %q "$@"\n' "$1"
  } >"$2" && chmod +x "$2"
}

# ---- 1. build ---------------------------------------------------------------------------
arch=90
build_one() { # DIR cuda|opencl [cmake args]: configure and build
  local dir=$1 a=(-DFMRT_TESTS=OFF -DFMRT_CPU=OFF)
  if [ "$2" = cuda ]; then
    a+=(-DFMRT_CUDA=ON -DFMRT_OPENCL=OFF -DCMAKE_CUDA_ARCHITECTURES="$arch")
  else
    a+=(-DFMRT_CUDA=OFF -DFMRT_OPENCL=ON -DFMRT_DIST=OFF)
  fi
  shift 2
  tmo cmake -S . -B "$dir" "${a[@]}" ${cmake_deps[@]+"${cmake_deps[@]}"} "$@" &&
    tmo cmake --build "$dir" -j"$(nproc)"
}
build() {
  local t t0=$SECONDS rc
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
  arch=${arch:-90}
  gpu_name=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
             head -1)
  gpu_name="${gpu_name:-no GPU}, sm_$arch"
  if nvidia-smi --query-gpu=compute_mode --format=csv,noheader 2>/dev/null | grep -qi exclusive; then
    serial=1 gpu_name+=", exclusive compute mode: jobs one at a time"
  fi
  if [ -n "$cl_lib" ] && wanted opencl; then # beside the cuda build, in the background
    start build-opencl 300 build_one build-gpu-cl opencl
  fi
  t=$(box 300) || t=300
  echo "gpu-check: building for sm_$arch (build-gpu/)"
  if ((dry)); then
    printf '  %-22s [%3s s]\n' build-cuda "$t"
    JOB_END=$((SECONDS + t)) build_one build-gpu cuda
    fmrt=$work/fmrt
    echo "  $fmrt: a wrapper that runs build-gpu/fmrt with"
    printf '      %s\n' ${fmrt_env[@]+"${fmrt_env[@]}"}
    return 0
  fi
  JOB_END=$((SECONDS + t)) build_one build-gpu cuda >"$logs/build.log" 2>&1
  rc=$?
  wrap "$root/build-gpu/fmrt" "$work/fmrt"
  fmrt=$work/fmrt
  # a build with MPI that fails, or whose fmrt cannot start (a library of Open MPI
  # missing here): once more without --dist
  if grep -q 'MPI=ON' "$logs/build.log" && { ((rc != 0)) || ! "$fmrt" backends >/dev/null 2>&1; }; then
    echo "== again without MPI (FMRT_DIST=OFF): $("$fmrt" backends 2>&1 | head -1)" >>"$logs/build.log"
    JOB_END=$((SECONDS + t)) build_one build-gpu cuda -DFMRT_DIST=OFF >>"$logs/build.log" 2>&1
    rc=$?
  fi
  if ((rc != 0)); then
    row "build cuda (sm_$arch)" FAIL "$(first 'error|Error' "$logs/build.log") (build.log)"
    tail -30 "$logs/build.log"
    summary
    exit 2
  fi
  dist_cfg=$(grep -o 'fmrt dist: MPI=[A-Z]* NCCL=[A-Z]*' "$logs/build.log" | tail -1)
  row "build cuda (sm_$arch)" PASS "$((SECONDS - t0)) s; ${dist_cfg#fmrt } (MPI: $mpi_from)"
}
probe() { # can the backend run at all?
  local t
  t=$(box 60) || t=60
  if timeout -k 10 "$t" "$fmrt" bench --backend "$be" --quick --preset tiny --no-ops \
       >"$logs/probe.log" 2>&1; then
    row "$be backend (probe)" PASS \
      "$(awk -v b="$be" '$1 == b && $2 == "train" {print "quick train:", $5, $6}' "$logs/probe.log")"
  else
    row "$be backend (probe)" FAIL "cannot run: $(first 'fmrt|rror' "$logs/probe.log")"
    summary
    exit 2
  fi
}

# ---- 2. correctness jobs -------------------------------------------------------------------
conf_models=(tiny mnist dit-tiny cifar-small dit-cifar vae-test tiny+text dit-tiny+text)
golden_cases=(unet_cond dit_cond unet_rgb dit_rgb vae unet_text dit_text)
san_box=150 train_batch=32 cross_steps=30 dist_steps=20
data=${FMRT_SHARED_DIR:-../shared}/data/mnist
[ -d "$data" ] || data=.gpu-deps/mnist
ls "$data"/train-*images* >/dev/null 2>&1 || data=tests/data/mnist

conf_jobs() { local p; echo "conf-$1-ops"; for p in "${conf_models[@]}"; do echo "conf-$1-$p"; done; }
start_conformance() { # strict|tf32: the op rows, and a process per preset's model rows
  local m=$1 f=() p
  [ "$m" = tf32 ] && f=(--tf32)
  start "conf-$m-ops" 210 tmo "$fmrt" conformance --backend "$be" ${f[@]+"${f[@]}"} --model none
  for p in "${conf_models[@]}"; do # --op linear_fwd: 3 op rows instead of them all
    start "conf-$m-$p" 210 tmo "$fmrt" conformance --backend "$be" ${f[@]+"${f[@]}"} \
      --op linear_fwd --model "$p"
  done
}
sanitizer_job() { # memcheck|racecheck
  tmo compute-sanitizer --tool "$1" --error-exitcode 9 --print-limit 20 \
    "$fmrt" conformance --backend "$be" --model none
}
cross_job() { # train on the backend; sample the weights there and on ref
  local t=$work/cross s=(--n 4 --steps 10 --classes '0,1,2,3' --seed 3)
  ((dry)) || mkdir -p "$t"
  tmo "$fmrt" train --data "$data" --preset tiny --classes 10 --batch "$train_batch" \
      --steps "$cross_steps" --backend "$be" --out "$t/w.fmw" &&
    tmo "$fmrt" sample "$t/w.fmw" --backend "$be" "${s[@]}" --raw-out "$t/$be.u8" --out "$t/$be.png" &&
    tmo "$fmrt" sample "$t/w.fmw" --backend ref "${s[@]}" --raw-out "$t/ref.u8" --out "$t/ref.png"
}
dist_job() { # one rank's NCCL average is the gradient itself: the weights must agree
  local t=$work/dist f=(--data "$data" --preset tiny --classes 10 --batch "$train_batch"
                        --steps "$dist_steps" --seed 5 --backend "$be")
  ((dry)) || mkdir -p "$t"
  tmo "$fmrt" train "${f[@]}" --out "$t/plain.fmw" &&
    tmo "$fmrt" train "${f[@]}" --dist --out "$t/dist.fmw" &&
    tmo "$fmrt" diff "$t/plain.fmw" "$t/dist.fmw" --tol 1e-5
}
opencl_job() { # build-gpu-cl with NVIDIA's ICD alone: the platforms, then the op rows
  if [ -x "$deps/usr/bin/clinfo" ] || ((dry)); then tmo "$work/clinfo" -l; fi
  tmo "$fmrt_cl" conformance --backend opencl --model none
}
opencl_setup() { # fmrt_cl: build-gpu-cl/fmrt (build/fmrt here) seeing that ICD alone
  local real=$1
  if ((!dry)); then
    mkdir -p "$work/icd"
    echo "$cl_lib" >"$work/icd/nvidia.icd"
  fi
  fmrt_env+=(OCL_ICD_VENDORS="$work/icd" FMRT_CACHE_DIR="$work/cl-cache")
  wrap "$real" "$work/fmrt-cl"
  wrap "$deps/usr/bin/clinfo" "$work/clinfo"
  fmrt_cl=$work/fmrt-cl
}

correctness() {
  local c
  wanted conformance && start_conformance strict
  wanted tf32 && start_conformance tf32
  if wanted golden; then
    for c in "${golden_cases[@]}"; do
      start "golden-$c" 120 tmo "$fmrt" golden "tests/data/golden/$c" --backend "$be"
    done
  fi
  for c in memcheck racecheck; do
    wanted $c || continue
    if [ "$mode" = host ]; then
      not_run $c "host test"
    elif command -v compute-sanitizer >/dev/null || ((dry)); then
      start "$c" "$san_box" sanitizer_job $c
    else
      not_run $c "compute-sanitizer not found"
    fi
  done
  wanted cross && start cross 180 cross_job
  if wanted dist; then
    if ((dry)) || [ "$mode" = host ] || [[ $dist_cfg == *"MPI=ON NCCL=ON" ]]; then
      start dist 150 dist_job
    else
      not_run dist "built without MPI or NCCL (${dist_cfg:-no 'fmrt dist:' line})"
    fi
  fi
  if wanted opencl; then # last: it may wait for its build
    if [ -z "$cl_lib" ]; then
      not_run opencl "no NVIDIA OpenCL ICD (libnvidia-opencl.so.1 not found)"
    elif [ "$mode" = host ]; then
      opencl_setup "$root/build/fmrt"
      start opencl 210 opencl_job
    else
      finish build-opencl
      if ((dry)) || [ "${job_rc[build-opencl]}" = 0 ]; then
        ((dry)) || row "build opencl" PASS "${job_secs[build-opencl]} s (build-gpu-cl; ICD: $cl_lib)"
        opencl_setup "$root/build-gpu-cl/fmrt"
        start opencl 210 opencl_job
      else
        row "build opencl" FAIL "$(first 'error|Error' "$logs/build-opencl.log") (build-opencl.log)"
        not_run opencl "no OpenCL build"
      fi
    fi
  fi
  ((dry)) || finish
}

# One row for all the conformance processes of strict or tf32.
eval_conformance() { # strict|tf32
  local m=$1 label="conformance $1 ($be)" j n p b files=() bad=() late=() norun=()
  local total=0 pass=0 nbad=0 slow=0 slowest=''
  for j in $(conf_jobs "$m"); do
    skipped "$j" "$label" && return
    files+=("$logs/$j.log")
    read -r n p b < <(awk -v b="$be:" '$1 == b && $3 == "rows:" {print $2, $4, $6 + $8 + $10}' \
                      "$logs/$j.log" | tail -1)
    if [ -z "${n:-}" ]; then # no summary line: cut off, or it could not run
      if [ "${job_rc[$j]}" = 124 ]; then late+=("${j#conf-"$m"-}"); else norun+=("${j#conf-"$m"-}"); fi
      continue
    fi
    total=$((total + n)) pass=$((pass + p)) nbad=$((nbad + b))
    [ "$b" = 0 ] && [ "${job_rc[$j]}" = 0 ] || bad+=("${j#conf-"$m"-}")
    if [ "${job_secs[$j]}" -gt "$slow" ]; then slow=${job_secs[$j]} slowest=${j#conf-"$m"-}; fi
    n=
  done
  local what="$pass/$total rows: op rows; models ${conf_models[*]}"
  if ((${#bad[@]} + ${#norun[@]})); then
    row "$label" FAIL "$nbad bad rows${bad[*]:+ (in ${bad[*]})}${norun[*]:+; did not run: ${norun[*]}}; first: $(
      first 'e[-+][0-9]+ (FAIL|ERROR|unsupported) |cannot|rror' "${files[@]}")"
  elif ((${#late[@]})); then
    row "$label" PART "$what; time box hit: ${late[*]}"
  else
    row "$label" PASS "$what; slowest $slowest ${slow} s"
  fi
}

eval_golden() {
  local c f n=0 ok=0 worst='' bad=() label="golden cases ($be)"
  for c in "${golden_cases[@]}"; do
    skipped "golden-$c" "$label" && return
    f=$logs/golden-$c.log
    n=$((n + 1))
    if [ "${job_rc[golden-$c]}" = 0 ]; then
      ok=$((ok + 1))
      worst+="${worst:+, }$c $(awk '/^golden:/ {print $NF}' "$f")"
    else
      bad+=("$c: $(first 'FAIL|rror|missing|^fmrt ' "$f" || tail -1 "$f");")
    fi
  done
  if ((${#bad[@]})); then
    row "$label" FAIL "$ok/$n pass; ${bad[*]}"
  else
    row "$label" PASS "$ok/$n pass; worst gradient rel err: $worst"
  fi
}

eval_sanitizer() { # memcheck|racecheck
  local j=$1 f=$logs/$1.log label="$1 (op rows)" rc nrows nerr nwarn total
  [ -n "${job_rc[$j]:-}" ] || return 0
  skipped "$j" "$label" && return
  rc=${job_rc[$j]}
  nrows=$(grep -c -E 'e[-+][0-9]+ (pass|FAIL|ERROR|unsupported) ' "$f")
  total=$(awk -v b="$be:" '$1 == b && $3 == "rows:" {print $2}' "$logs/conf-strict-ops.log" 2>/dev/null)
  nerr=$(grep -c -E '^========= (Invalid|Error|Program hit)' "$f")
  nwarn=$(grep -c -E '^========= Warning' "$f")
  if ((nrows == 0)) && grep -q -i 'not supported' "$f"; then
    row "$label" SKIP "$(first '[Nn]ot supported' "$f")"
  elif ((rc == 9 || nerr > 0)); then
    row "$label" FAIL "$(first 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" || echo "$nerr reports"); first: $(
      first '^========= (Invalid|Error|Program hit)' "$f")"
  elif ((rc == 124)); then
    row "$label" PART "no errors ($nwarn warnings) in the $nrows of ${total:-?} op rows run in ${san_box} s"
  elif ((rc == 0)); then
    row "$label" PASS "0 errors, $nwarn warnings; $nrows op rows, ${job_secs[$j]} s"
  else
    row "$label" FAIL "exit $rc: $(first 'FAIL|ERROR|rror' "$f")"
  fi
}

eval_cross() {
  local t=$work/cross label="$be weights sampled on ref" d n m mean px
  [ -n "${job_rc[cross]:-}" ] || return 0
  skipped cross "$label" && return
  if [ "${job_rc[cross]}" != 0 ] || [ ! -s "$t/$be.u8" ] || [ ! -s "$t/ref.u8" ]; then
    row "$label" FAIL "exit ${job_rc[cross]}: $(first 'fmrt|rror' "$logs/cross.log")"
    return
  fi
  # the u8 pixels side by side: how many differ, the largest and the mean difference
  read -r n m mean px < <(paste <(od -An -v -tu1 -w1 "$t/$be.u8") <(od -An -v -tu1 -w1 "$t/ref.u8") |
    awk '{d = $1 - $2; if (d < 0) d = -d; if (d > 0) n++; if (d > m) m = d; s += d}
         END {printf "%d %d %.3f %d\n", n, m, s / NR, NR}')
  d="max $m/255, mean $mean; $n of $px pixels differ (4 digits x 10 steps)"
  if ((m <= 8)); then row "$label" PASS "$d"; else row "$label" FAIL "$d; bound 8"; fi
}

eval_dist() {
  local label="dist, 1 rank ($be, NCCL)" f=$logs/dist.log
  [ "$be" = cuda ] || label="dist, 1 rank ($be, MPI)"
  [ -n "${job_rc[dist]:-}" ] || return 0
  skipped dist "$label" && return
  case ${job_rc[dist]} in
    0) row "$label" PASS "vs a plain run, $dist_steps steps: $(tail -1 "$f" | tr -s ' ')" ;;
    124) row "$label" FAIL "time box hit: $(tail -1 "$f")" ;;
    *) row "$label" FAIL "$(first 'NCCL|MPI|rank|rror|rel L2' "$f" || tail -1 "$f")" ;;
  esac
}

eval_opencl() {
  local f=$logs/opencl.log label="opencl on NVIDIA (conformance)" dev n p b
  [ -n "${job_rc[opencl]:-}" ] || return 0
  skipped opencl "$label" && return
  dev=$(sed -n 's/^== opencl (opencl: \(.*\)) against ref ==$/\1/p' "$f" | head -1)
  read -r n p b < <(awk '$1 == "opencl:" && $3 == "rows:" {print $2, $4, $6 + $8 + $10}' "$f" | tail -1)
  if [ -z "$dev" ]; then
    row "$label" FAIL "no device: $(first 'opencl|rror' "$f")"
  elif [[ $dev != *"$cl_match"* ]]; then
    row "$label" SKIP "the OpenCL device is not NVIDIA's: ${dev:0:60}"
  else
    cl_ok=1 # NVIDIA's device: the OpenCL bench runs on it too
    if [ "${job_rc[opencl]}" = 0 ]; then
      row "$label" PASS "$p/$n op rows; ${dev:0:60}"
    else
      row "$label" FAIL "${b:-?} bad of ${n:-?} rows; first: $(
        first 'e[-+][0-9]+ (FAIL|ERROR|unsupported) |rror' "$f" || tail -1 "$f")"
    fi
  fi
}

# ---- 3-4. benchmarks, one at a time ------------------------------------------------------
bench_flags=(--preset mnist --batch 128 --sample-n 64 --sample-steps 50 --repeats 5 --top 12)
bench_job() { # BINARY BACKEND LABEL [flags]
  tmo "$1" bench --backend "$2" "${bench_flags[@]}" --json "$logs/bench-$3.json" "${@:4}"
}
eval_bench() { # LABEL BACKEND-NAME
  local label=$1 b=$2 f=$logs/bench-$1.log
  skipped "bench-$label" "bench ($label)" && return
  if [ "${job_rc[bench-$label]}" != 0 ]; then
    row "bench ($label)" FAIL "exit ${job_rc[bench-$label]}: $(first 'rror|cannot|fmrt' "$f" || tail -1 "$f")"
    return
  fi
  # result lines: "cuda  train b128  mnist  VALUE img/s (...)", "cuda  sample 64x50 euler  mnist  VALUE s"
  row "sgemm 1024^3 ($label)" INFO "$(awk -v b="$b" '$1 == b && $2 == "sgemm" {print $5, $6}' "$f")"
  row "train ${bench_flags[1]} b${bench_flags[3]} ($label)" INFO \
    "$(awk -v b="$b" '$1 == b && $2 == "train" {print $5, $6}' "$f")"
  row "sample ${bench_flags[5]}x${bench_flags[7]} euler ($label)" INFO \
    "$(awk -v b="$b" '$1 == b && $2 == "sample" && $4 == "euler" {print $6, $7}' "$f")"
  # the sampling per-op table's first row (all shapes): its share and op
  row "top op, sampling ($label)" INFO \
    "$(awk '/sample n[0-9]+ euler: per op/ {getline; getline; print $1, $(NF-2); exit}' "$f"); per-op tables in bench-$label.log"
}
benches() {
  local m f
  if wanted bench; then
    for m in strict tf32; do
      f=()
      [ "$m" = tf32 ] && f=(--tf32)
      start "bench-$m" 150 bench_job "$fmrt" "$be" "$m" ${f[@]+"${f[@]}"}
      ((dry)) || { finish; eval_bench "$m" "$be"; }
    done
  fi
  if wanted bench && wanted opencl && ((dry || cl_ok)); then # its device was found
    start bench-opencl 150 bench_job "$fmrt_cl" opencl:0 opencl
    ((dry)) || { finish; eval_bench opencl opencl; }
  fi
}

# ---- the run -------------------------------------------------------------------------------
if [ "$mode" = host ]; then
  # No GPU here: build/fmrt's cpu backend in cuda's place, PoCL in NVIDIA's, small sizes.
  fmrt=$root/build/fmrt be=cpu gpu_name="host test: cpu for cuda, PoCL for NVIDIA OpenCL"
  [ -x "$fmrt" ] || { echo "gpu-check: --host-test needs build/fmrt" >&2; exit 2; }
  conf_models=(tiny) golden_cases=(unet_cond dit_rgb) train_batch=8 cross_steps=3 dist_steps=2
  bench_flags=(--preset tiny --batch 8 --sample-n 4 --sample-steps 2 --repeats 1 --warmup 0 --top 3)
  cl_lib=$(head -1 /etc/OpenCL/vendors/pocl.icd 2>/dev/null) cl_match=pthread
  row "build" SKIP "host test: build/fmrt as it is"
else
  ((dry)) && echo "gpu-check --dry-run: what a run would do, each job's time box in []"
  setup_deps
  build
  ((dry)) || probe
fi
echo "gpu-check: correctness jobs, all at once (logs: gpu-check-out/)"
correctness
if ((!dry)); then
  wanted conformance && eval_conformance strict
  wanted tf32 && eval_conformance tf32
  wanted golden && eval_golden
  eval_sanitizer memcheck
  eval_sanitizer racecheck
  eval_cross
  eval_dist
  eval_opencl
fi
echo "gpu-check: benchmarks, one at a time"
benches
if ((dry)); then
  echo "gpu-check --dry-run: nothing was run"
  exit 0
fi
summary
((fails == 0))
