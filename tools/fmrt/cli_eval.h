/* fmrt eval's options (eval.c; tests/fuzz/fuzz_cli.c). */
#ifndef FMRT_CLI_EVAL_H
#define FMRT_CLI_EVAL_H

typedef struct cli_eval_opts {
    const char *samples, *ref, *labels, *classifier, *backend, *sampler, *classes, *save_stats,
        *samples_out, *classes_out;
    const char *vae;  /* --vae: a latent model's autoencoder (default: the one it records) */
    const char *data; /* --data: the images an autoencoder (SAMPLES) reconstructs */
    long long n, steps, seed, batch, cls;
    double cfg;
    int have_n, have_cls, have_cfg, raw, sanity, json;
} cli_eval_opts;
/* 0, CLI_HELP or 2 (cli.h: "option parsing"). */
int parse_eval_args(int argc, char **argv, cli_eval_opts *o);

#endif
