#!/usr/bin/env bash
# scripts/get-mnist.sh against local mirrors (file:// URLs; no network):
# the refusals (a wrong file, a file that is not gzip data, a missing file, a wrong
# file already in the folder, bad arguments, no curl or wget), each one line on stderr
# and a non-zero exit, with no .part file left and nothing renamed; and, where the
# shared folder holds the real test digits, their acceptance and the skip on a rerun.
#   tests/get_mnist.sh SOURCE_DIR [SHARED_DIR]
set -euo pipefail
src=${1:?usage: tests/get_mnist.sh SOURCE_DIR [SHARED_DIR]}
shared=${2:-}
get=$src/scripts/get-mnist.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "get_mnist: FAIL: $*" >&2; exit 1; }

# refuse NAME ARGS...: get-mnist.sh must exit non-zero with exactly one line on stderr
# (kept in $tmp/err); the output folders get no .part file.
refuse() {
  local what=$1 rc=0 lines
  shift
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -ne 0 ] || fail "$what: exit 0"
  lines=$(wc -l <"$tmp/err")
  [ "$lines" -eq 1 ] || { cat "$tmp/err" >&2; fail "$what: $lines lines on stderr, not 1"; }
  if compgen -G "$tmp/*/*.part" >/dev/null; then fail "$what: a .part file was left"; fi
  echo "ok: $what: $(cat "$tmp/err")"
}
has() { grep -qF -- "$2" "$tmp/err" || fail "$1: the message does not say '$2'"; }

mirror=$tmp/mirror
mkdir -p "$mirror"
t10k_images_sha=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7

# A gzip file with other contents: refused, naming the file and both hashes.
printf 'not the digits\n' | gzip >"$mirror/t10k-images-idx3-ubyte.gz"
wrong_sha=$(printf 'not the digits\n' | sha256sum | cut -d' ' -f1)
refuse "wrong contents" env FMRT_MNIST_URL="file://$mirror" "$get" --only t10k "$tmp/out1"
has "wrong contents" t10k-images-idx3-ubyte.gz
has "wrong contents" "$t10k_images_sha"
has "wrong contents" "$wrong_sha"
[ -z "$(ls -A "$tmp/out1")" ] || fail "wrong contents: the folder is not empty: $(ls -A "$tmp/out1")"

# Not gzip data at all (an HTML error page, say).
printf '<html>404</html>\n' >"$mirror/t10k-images-idx3-ubyte.gz"
refuse "not gzip" env FMRT_MNIST_URL="file://$mirror/" "$get" --only t10k "$tmp/out1"
has "not gzip" t10k-images-idx3-ubyte.gz
has "not gzip" "$t10k_images_sha"
[ -z "$(ls -A "$tmp/out1")" ] || fail "not gzip: the folder is not empty"

# A file the mirror does not have.
refuse "missing file" env FMRT_MNIST_URL="file://$mirror" "$get" --only train "$tmp/out1"
has "missing file" train-images-idx3-ubyte.gz
[ -z "$(ls -A "$tmp/out1")" ] || fail "missing file: the folder is not empty"

# A wrong file already in the folder: an error, and the file is left as it was.
mkdir -p "$tmp/out2"
printf 'mine\n' | gzip >"$tmp/out2/t10k-labels-idx1-ubyte.gz"
cp "$tmp/out2/t10k-labels-idx1-ubyte.gz" "$tmp/mine.gz"
refuse "wrong file present" env FMRT_MNIST_URL="file://$mirror" "$get" --only t10k "$tmp/out2"
has "wrong file present" t10k-labels-idx1-ubyte.gz
cmp -s "$tmp/mine.gz" "$tmp/out2/t10k-labels-idx1-ubyte.gz" || fail "wrong file present: it was changed"
[ "$(ls -A "$tmp/out2")" = t10k-labels-idx1-ubyte.gz ] || fail "wrong file present: other files appeared"

# Bad arguments.
refuse "unknown option" "$get" --bogus "$tmp/out1"
refuse "bad --only" "$get" --only test "$tmp/out1"
refuse "two folders" "$get" "$tmp/out1" "$tmp/out3"

# Neither curl nor wget on PATH.
mkdir -p "$tmp/bin"
for t in gzip sha256sum mkdir rm mv; do ln -s "$(command -v "$t")" "$tmp/bin/$t"; done
refuse "no downloader" env PATH="$tmp/bin" "$BASH" "$get" --only t10k "$tmp/out1"
has "no downloader" curl

# The real test digits, where the shared folder has them: accepted through file://,
# and a second run keeps them without downloading (the mirror is gone by then).
real=${shared:+$shared/data/mnist}
if [ -n "$real" ] && [ -f "$real/t10k-images-idx3-ubyte.gz" ] && [ -f "$real/t10k-labels-idx1-ubyte.gz" ]; then
  rm -f "$mirror"/*
  cp "$real"/t10k-images-idx3-ubyte.gz "$real"/t10k-labels-idx1-ubyte.gz "$mirror/"
  FMRT_MNIST_URL="file://$mirror" "$get" --only t10k "$tmp/real" || fail "the real t10k files were refused"
  for f in t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    cmp -s "$mirror/$f" "$tmp/real/$f" || fail "$f: the copy differs from the mirror's"
  done
  shopt -s nullglob dotglob
  present=("$tmp"/real/*)
  shopt -u nullglob dotglob
  [ ${#present[@]} -eq 2 ] || fail "real: the folder holds ${present[*]##*/}"
  rm -rf "$mirror"
  FMRT_MNIST_URL="file://$mirror" "$get" --only t10k "$tmp/real" >"$tmp/out" ||
    fail "a second run over the present files failed"
  grep -q "present" "$tmp/out" || fail "the second run did not report the present files"
  echo "ok: the real t10k files, from $real"
else
  echo "note: no shared MNIST copy (${real:-no shared folder given}): only the refusals were checked"
fi
echo "get_mnist: all checks passed"
