/* libFuzzer harness: fmrt diff's comparison of two weights files (cli_diff_weights).
 *
 * The input is u32 LE la, then la bytes of file A, then file B (the rest). Each is
 * parsed by fm_weights_parse (fuzz_weights covers the parser itself); when A parses,
 * A against itself must agree (0) unless A holds a non-finite value; when both parse,
 * A against B answers 0 or 1, with --tol 0 and without, whatever the tensors' names,
 * dtypes, shapes and values. The report goes to /dev/null. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_diff.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char **argv[])
{
    (void)argc;
    (void)argv;
    cli_quiet = 1;
    if (!freopen("/dev/null", "w", stdout))
        abort();
    return 0;
}

/* A copy of n bytes at 64-byte alignment, as a file image read into an arena is. */
static uint8_t *aligned_copy(const uint8_t *p, size_t n)
{
    uint8_t *q = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const size_t la = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
                      (size_t)data[3] << 24;
    if (la > size - 4)
        return 0;
    uint8_t *a = aligned_copy(data + 4, la), *b = aligned_copy(data + 4 + la, size - 4 - la);
    fm_weights wa, wb;
    char err[512];
    cli_diff_opts o = {.a = "A", .b = "B"}, tol = {.a = "A", .b = "B", .have_tol = 1};
    const int pa = a && fm_weights_parse(a, la, &wa, err, sizeof err) == FM_OK;
    const int pb = b && fm_weights_parse(b, size - 4 - la, &wb, err, sizeof err) == FM_OK;
    if (pa) {
        int rc = cli_diff_weights(&o, &wa, &wa);
        CHECK(rc == 0 || rc == 1); /* 1 only for a non-finite value in A */
    }
    if (pa && pb) {
        int r1 = cli_diff_weights(&o, &wa, &wb), r2 = cli_diff_weights(&tol, &wa, &wb);
        CHECK((r1 == 0 || r1 == 1) && (r2 == 0 || r2 == 1) && (r1 == 0 || r2 == 1));
    }
    free(a);
    free(b);
    return 0;
}
