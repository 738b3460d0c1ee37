#!/usr/bin/env bash
# The layering check extended to calls: within each layer of the library and the tool,
# the graph "file A calls a function defined in file B" must have no cycle, so that
# each file can be read (and replaced) knowing only the files below it. The include
# check (tests/layering.cmake) sees folders; this one sees the files inside them, from
# the object files' symbols (nm: what each defines, what each needs), and finds cycles
# with tsort.
#
# A layer may name files whose cycle is known and tolerated (known_<layer>="a.c b.c");
# today none is.
# Usage: callgraph.sh BUILD_DIR
set -euo pipefail
export LC_ALL=C
b=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

bad=0
for layer in fmrt_runtime fmrt_kernels_ref fmrt_kernels_cpu fmrt_kernels_cl fmrt_kernels_cuda \
    fmrt_model fmrt_io fmrt_conformance_ops fmrt_conformance_model cli_tool dist_mpi alloc_formats; do
    d=$b/CMakeFiles/$layer.dir
    [ -d "$d" ] || continue
    mapfile -t objs < <(find "$d" -name '*.o' | sort)
    [ ${#objs[@]} -gt 0 ] || continue
    # symbol -> the file defining it (global functions and data)
    for o in "${objs[@]}"; do
        nm -g --defined-only -P "$o" | awk -v f="$(basename "$o" .o)" '$2 ~ /^[TDBR]$/ { print $1, f }'
    done | sort -k1,1 >"$t/defs"
    # file -> file for every symbol a file needs that another file of the layer defines
    for o in "${objs[@]}"; do
        nm -u -P "$o" | awk '{ print $1 }' | sort -u |
            join - "$t/defs" | awk -v f="$(basename "$o" .o)" '$2 != f { print f, $2 }'
    done | sort -u >"$t/edges"
    n=$(wc -l <"$t/edges")
    tsort "$t/edges" >/dev/null 2>"$t/loops" || true
    # tsort reports each loop it breaks: "input contains a loop:" then one member a line
    loops=$(awk '/contains a loop/ { if (m != "") print m; m = ""; next }
                 { sub(/^tsort: /, ""); m = m " " $0 } END { if (m != "") print m }' "$t/loops")
    allowed=known_$layer
    status="no cycle"
    while read -r loop; do
        [ -n "$loop" ] || continue
        ok=1
        for f in $loop; do
            case " ${!allowed:-} " in *" $f "*) ;; *) ok=0 ;; esac
        done
        if [ "$ok" -eq 1 ]; then
            status="known cycle:$loop"
        else
            echo "callgraph: $layer: a cycle of calls:$loop"
            bad=1
            status="CYCLE"
        fi
    done <<<"$loops"
    printf '%-24s %3d files, %4d edges: %s\n' "$layer" ${#objs[@]} "$n" "$status"
done
if [ "$bad" -ne 0 ]; then
    echo "callgraph: FAIL (a file that calls back into a file that calls it: move the shared"
    echo "part below both, or pass what the lower one needs as an argument)"
    exit 1
fi
echo "callgraph: ok"
