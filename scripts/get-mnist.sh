#!/usr/bin/env bash
# Downloads the four MNIST files into DIR (default data/mnist), from the mirror
# torchvision uses, and checks each one before it takes its final name.
#   scripts/get-mnist.sh [--only train|t10k] [DIR]
# FMRT_MNIST_URL replaces the mirror (any URL curl takes, file:///some/folder too).
#
# Each file is written to NAME.part, checked, then renamed to NAME. The check is the
# SHA-256 of the file's decompressed contents (the IDX data), which is the same on
# every mirror: the gzip wrapper is not (a copy re-compressed elsewhere has another
# time stamp in its header and so another archive hash). A file whose check fails is
# deleted and the script stops. A file already in DIR with the right contents is
# kept; one with other contents is an error and is left as it is.
# Needs curl (or wget for http/https), gzip and sha256sum.
set -euo pipefail
me=get-mnist.sh
die() { echo "$me: $*" >&2; exit 1; }
usage() { echo "usage: scripts/get-mnist.sh [--only train|t10k] [DIR]  (default DIR: data/mnist)" >&2; exit 2; }

only="" dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only)
      [ $# -ge 2 ] || usage
      case "$2" in train|t10k) only=$2 ;; *) echo "$me: --only takes train or t10k, not '$2'" >&2; exit 2 ;; esac
      shift 2 ;;
    -h|--help) echo "usage: scripts/get-mnist.sh [--only train|t10k] [DIR]  (default DIR: data/mnist)"; exit 0 ;;
    -*) echo "$me: unknown option '$1' (usage: scripts/get-mnist.sh [--only train|t10k] [DIR])" >&2; exit 2 ;;
    *) [ -z "$dir" ] || { echo "$me: one folder only (got '$dir' and '$1')" >&2; exit 2; }
       dir=$1; shift ;;
  esac
done
dir=${dir:-data/mnist}
base=${FMRT_MNIST_URL:-https://ossci-datasets.s3.amazonaws.com/mnist}
base=${base%/}

# SHA-256 of the decompressed IDX files (published with the data by many projects;
# the t10k ones also checked against a separate copy). For reference, the archives on
# the default mirror (and storage.googleapis.com/cvdf-datasets/mnist) hash to
#   train-images 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
#   train-labels 3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
#   t10k-images  8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
#   t10k-labels  f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
files=(
  "train-images-idx3-ubyte.gz ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
  "train-labels-idx1-ubyte.gz 65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
  "t10k-images-idx3-ubyte.gz 0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
  "t10k-labels-idx1-ubyte.gz ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
)

for tool in gzip sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "needs $tool (sudo apt-get install coreutils gzip)"
done

# Prints the SHA-256 of FILE's decompressed contents, or fails when FILE is not gzip data.
content_sha256() {
  local sum
  sum=$(gzip -dc -- "$1" 2>/dev/null | sha256sum) || return 1
  echo "${sum%% *}"
}
file_sha256() {
  local sum
  sum=$(sha256sum -- "$1")
  echo "${sum%% *}"
}

part=""
trap '[ -z "$part" ] || rm -f -- "$part"' EXIT
trap "exit 130" INT
trap "exit 143" TERM

fetch() { # URL OUT; prints one line and fails when the download fails
  local url=$1 out=$2 err
  if command -v curl >/dev/null 2>&1; then
    if ! err=$(curl -fsSL --retry 2 --max-filesize 67108864 -o "$out" -- "$url" 2>&1); then
      echo "$me: cannot download $url: ${err##*$'\n'}" >&2
      return 1
    fi
  elif command -v wget >/dev/null 2>&1; then
    if ! err=$(wget -q -O "$out" -- "$url" 2>&1); then
      echo "$me: cannot download $url (wget${err:+: ${err##*$'\n'}})" >&2
      return 1
    fi
  else
    echo "$me: needs curl or wget to download (sudo apt-get install curl)" >&2
    return 1
  fi
}

mkdir -p -- "$dir" || die "cannot create the folder '$dir'"
# First the files already there: a wrong one stops the script before any download.
todo=()
for entry in "${files[@]}"; do
  name=${entry%% *} want=${entry##* }
  if [ -n "$only" ] && [ "${name%%-*}" != "$only" ]; then continue; fi
  dest=$dir/$name
  if [ ! -e "$dest" ]; then todo+=("$entry"); continue; fi
  got=$(content_sha256 "$dest") ||
    die "$dest is already there and is not gzip data (file SHA-256 $(file_sha256 "$dest")), expected contents with SHA-256 $want; left as it is (remove it to download again)"
  [ "$got" = "$want" ] ||
    die "$dest is already there with contents SHA-256 $got, expected $want; left as it is (remove it to download again)"
  echo "$me: $dest: present, contents check out"
done
for entry in ${todo[@]+"${todo[@]}"}; do
  name=${entry%% *} want=${entry##* }
  dest=$dir/$name
  part=$dest.part
  rm -f -- "$part"
  echo "$me: $base/$name -> $dest"
  fetch "$base/$name" "$part" || exit 1
  got=$(content_sha256 "$part") ||
    die "$name from $base is not gzip data (file SHA-256 $(file_sha256 "$part")), expected gzip'd contents with SHA-256 $want; deleted"
  [ "$got" = "$want" ] ||
    die "$name from $base: contents SHA-256 $got, expected $want; deleted"
  mv -f -- "$part" "$dest"
  part=""
done
echo "$me: MNIST in $dir${only:+ ($only only)}"
