/* fmrt sample's options (sample.c; tests/fuzz/fuzz_cli.c). */
#ifndef FMRT_CLI_SAMPLE_H
#define FMRT_CLI_SAMPLE_H

#include "cli.h"

typedef struct cli_sample_opts {
    const char *weights, *backend, *sampler, *out, *traj, *traj_list, *raw_out, *f32_out, *classes;
    const char *vae; /* --vae: a latent model's autoencoder (default: the one it records) */
    long long n, steps, seed, cls, cols;
    double cfg;
    int have_cls, have_cfg, have_n, raw;
    int rows;      /* --classes all (the default of a conditional model): a row per class */
    int named;     /* --class/--classes name classes: resolved with the model's names */
    const char *class_arg; /* --class's value */
    int unguided;  /* --classes none: the "no label" row K, no guidance */
    int labels[CLI_MAX_LIST], nlabels;  /* from --class or --classes */
    int traj_cols[CLI_MAX_LIST], ntraj; /* steps captured with --traj */
    /* A text model (docs/spec/text.md): --prompt TEXT (repeatable; each a grid row),
     * --prompts FILE (one prompt per line, each a row), --vocab F (CLIP BPE). */
    const char *prompt[CLI_MAX_LIST];
    int nprompt;
    const char *prompts_file, *vocab;
} cli_sample_opts;
/* 0, CLI_HELP or 2 (cli.h: "option parsing"). */
int parse_sample_args(int argc, char **argv, cli_sample_opts *o);

#endif
