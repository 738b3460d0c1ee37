/* fmrt diff's options (diff.c; tests/fuzz/fuzz_cli.c). */
#ifndef FMRT_CLI_DIFF_H
#define FMRT_CLI_DIFF_H

typedef struct cli_diff_opts {
    const char *a, *b;
    double tol;
    int have_tol, all;
} cli_diff_opts;
/* 0, CLI_HELP or 2 (cli.h: "option parsing"). */
int parse_diff_args(int argc, char **argv, cli_diff_opts *o);

#include "weights.h"
/* Compare two parsed files (o->a and o->b name them in messages): the report on
 * stdout, 0 when they agree (same structure; within --tol when given), 1 after one
 * error line otherwise (tests/fuzz/fuzz_diff.c). */
int cli_diff_weights(const cli_diff_opts *o, const fm_weights *wa, const fm_weights *wb);

#endif
