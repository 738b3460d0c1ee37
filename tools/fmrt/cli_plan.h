/* fmrt plan's options (plan.c; tests/fuzz/fuzz_cli.c). */
#ifndef FMRT_CLI_PLAN_H
#define FMRT_CLI_PLAN_H

#include "cli_config.h"

typedef struct cli_plan_opts {
    cli_config_opts cfg;
    long long batch, sbatch;
    const char *vae; /* --vae: a latent model's autoencoder (its weights file) */
} cli_plan_opts;
/* 0, CLI_HELP or 2 (cli.h: "option parsing"). */
int parse_plan_args(int argc, char **argv, cli_plan_opts *o);

#endif
