/* fmrt info's options (info.c; tests/fuzz/fuzz_cli.c) and the escaping of what it
 * prints from files. */
#ifndef FMRT_CLI_INFO_H
#define FMRT_CLI_INFO_H

#include <stddef.h>

typedef struct cli_info_opts {
    const char *path;
    int tensors; /* --tensors: list every tensor (default: their counts and bytes) */
} cli_info_opts;
/* 0, CLI_HELP or 2 (cli.h: "option parsing"). */
int parse_info_args(int argc, char **argv, cli_info_opts *o);

#endif
