# Sourced by the end-to-end scripts (faults.sh, hostile.sh, ...) after they set $t, a
# scratch folder. expect_fail PATTERN CMD...: CMD exits 1..125 (an error, not a crash)
# with stdin closed, and its stderr ($t/err; stdout in $t/out) matches PATTERN.
# expect_one PATTERN CMD...: the same, and stderr is exactly one line.
expect_fail() {
    local pat=$1 rc=0
    shift
    "$@" >"$t/out" 2>"$t/err" </dev/null || rc=$?
    if [ "$rc" -eq 0 ] || [ "$rc" -gt 125 ]; then
        echo "FAIL: exit $rc from: $*"; cat "$t/err"; exit 1
    fi
    if ! grep -Eq -- "$pat" "$t/err"; then
        echo "FAIL: stderr of '$*' lacks /$pat/:"; cat "$t/err"; exit 1
    fi
    echo "ok: $(grep -E -- "$pat" "$t/err" | head -1 | head -c 200)"
}

expect_one() {
    expect_fail "$@"
    if [ "$(wc -l <"$t/err")" -ne 1 ]; then
        echo "FAIL: '$*' printed more than one line:"; cat "$t/err"; exit 1
    fi
}
