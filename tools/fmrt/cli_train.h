/* fmrt train's and fmrt train-vae's options (train.c; tests/fuzz/fuzz_cli.c). */
#ifndef FMRT_CLI_TRAIN_H
#define FMRT_CLI_TRAIN_H

#include <stdio.h>

#include "cli_config.h"

typedef struct cli_train_opts {
    const char *cmd;  /* "train" or "train-vae": the name messages and --help give */
    int ae_cmd;       /* fmrt train-vae: an autoencoder's preset (default vae) is required */
    const char *vae;  /* --vae F: a flow model trained on F's latents (cli_latent.h) */
    double kl_weight; /* --kl-weight (an autoencoder's beta, default 1e-3) */
    int have_kl;      /* --kl-weight given */
    const char *data, *images, *labels, *backend, *out, *ckpt, *resume, *log;
    const char *lr_schedule; /* --lr-schedule constant|cosine (NULL: not given) */
    const char *recipe;      /* --recipe NAME (default quick): what the flags leave open */
    const char *class_names; /* --class-names a,b,c or @FILE (one per line) */
    char ckpt_default[4096]; /* --ckpt's default: --out with .ckpt for .fmw */
    const char *preview;     /* --preview FILE (default: --out with -preview.png) */
    char preview_default[4096];
    cli_config_opts cfg;
    long long batch, epochs, steps, seed, ckpt_every, limit, log_every, warmup;
    long long preview_every; /* --preview-every N: a sample grid every N steps (0: none) */
    double lr, wd, ema, label_drop;
    int have_batch, have_seed, have_lr, have_wd, have_ema, have_drop, have_epochs, have_warmup;
    int flip;             /* --flip: mirror a random half of the images (checkpointed) */
    int encode_each_step; /* --vae: encode every batch (default: the set once, if --flip
                             does not make each epoch's images new) */
    int skip_nonfinite;   /* --skip-nonfinite: skip (and count) steps with a NaN/inf */
    int no_ckpt;          /* --no-ckpt: no checkpoint file (Ctrl-C keeps only --out) */
    int dist;             /* --dist: one rank of a data-parallel run (train_dist.c) */
    long long dist_check; /* --dist-check N: the ranks' parameter checksums every N steps */
    int have_dist_check;  /* --dist-check given: refused without --dist */
    /* Text conditioning (docs/spec/text.md, cli_text.h): */
    const char *captions; /* --captions F: line i is training image i's caption (a folder:
                             its train-captions.txt, as fmrt data colour-mnist writes) */
    const char *text;     /* --text F: F's text encoder, copied and frozen */
    const char *vocab;    /* --vocab F: CLIP BPE's vocabulary (a CLIP-BPE model) */
} cli_train_opts;
/* 0, CLI_HELP or 2 (cli.h: "option parsing"). */
int parse_train_args(int argc, char **argv, cli_train_opts *o);
/* fmrt train-vae's: fmrt train's flags, the preset vae unless --preset names another
 * autoencoder's (train.c refuses any other). */
int parse_train_vae_args(int argc, char **argv, cli_train_opts *o);
void cli_train_usage(FILE *f);
void cli_train_vae_usage(FILE *f);
/* The preset of the recipe a new run with these flags takes (--recipe, default quick,
 * for the flags' architecture), or NULL. */
const char *cli_train_recipe_preset(const cli_train_opts *o);
/* --lr-schedule's name as fm_lr_schedule (constant, cosine), or -1. */
int cli_train_schedule(const char *name);

#endif
