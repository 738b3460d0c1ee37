/* Per-op profile of a real run (profile.c): fmrt bench's per-op table. */
#ifndef FMRT_CLI_PROFILE_H
#define FMRT_CLI_PROFILE_H

#include <stdio.h>

#include "backend.h"
#include "ops.h"

#define CLI_PROFILE_ROWS 256
#define CLI_PROFILE_KEY 96

typedef struct cli_profile_row {
    fm_op op;
    char shape[CLI_PROFILE_KEY];
    double calls, seconds, flop, bytes; /* totals over the profiled run(s) */
} cli_profile_row;

typedef struct cli_profile {
    cli_profile_row rows[CLI_PROFILE_ROWS];
    int nrows, dropped, failed;
    double t0, wall, op_seconds;
} cli_profile;

/* Observe every op of `be` from now on (one profile per backend at a time). */
void cli_profile_begin(cli_profile *p, fm_backend *be);
/* Stop observing; 1 (message in be->err) when a sync failed meanwhile. */
int cli_profile_end(cli_profile *p, fm_backend *be);
/* The table: per op, then the `top` costliest (op, shape) rows; times per run over
 * `runs` runs; GEMM-shaped rates also as a share of `sgemm` GFLOP/s (0: not known). */
void cli_profile_print(const cli_profile *p, const char *title, double runs, double sgemm, int top);
/* The (op, shape) rows as JSON objects, each preceded by ",\n" unless *first (then
 * cleared). */
void cli_profile_json(const cli_profile *p, FILE *f, const char *backend, const char *what,
                      const char *preset, double runs, int *first);

#endif
