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

#endif
