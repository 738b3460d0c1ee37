/* fmrt eval's options (eval.c; tests/fuzz/fuzz_cli.c). */
#ifndef FMRT_CLI_EVAL_H
#define FMRT_CLI_EVAL_H

typedef struct cli_eval_opts {
    const char *samples, *ref, *labels, *classifier, *backend, *sampler, *classes, *save_stats,
        *samples_out, *classes_out;
    const char *vae;  /* --vae: a latent model's autoencoder (default: the one it records) */
    const char *data; /* --data: the images an autoencoder (SAMPLES) reconstructs */
    /* A text model's prompt adherence: --prompts FILE (one a line), --n-per-prompt,
     * --held-out "red 7,green 2" (else the model's record), --csv FILE. */
    const char *prompts, *held_out, *csv, *vocab;
    long long n, steps, seed, batch, cls, per_prompt;
    double cfg;
    int have_n, have_cls, have_cfg, have_per_prompt, raw, sanity, json;
} cli_eval_opts;
/* 0, CLI_HELP or 2 (cli.h: "option parsing"). */
int parse_eval_args(int argc, char **argv, cli_eval_opts *o);

#endif
