/* fmrt train's flags (train_args.c): the usage text, the named recipes that fill in
 * what a new run's flags leave open, the parser and its cross-checks. */
#define _XOPEN_SOURCE 700
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "cli_config.h"
#include "cli_train.h"
#include "flow.h"
#include "model.h"

typedef cli_train_opts opts;

void cli_train_usage(FILE *f)
{
    fprintf(f,
            "usage: fmrt train (--data PATH | --images F --labels F | --resume F) [options]\n\n"
            "Trains a flow-matching model (U-Net or DiT) on images.\n\n"
            "data (the model takes the images' size and channels unless --config says):\n"
            "  --data PATH          a folder of MNIST-format IDX files (train-images-idx3-ubyte\n"
            "                       [.gz] and labels: MNIST, Fashion-MNIST), of CIFAR-10\n"
            "                       batches (data_batch_N.bin), or of PNG/JPEG images (one\n"
            "                       sub-folder per class, or none), or a pack (fmrt data pack)\n"
            "  --images F --labels F  IDX files (raw or gzip'd)\n"
            "  --limit N            use only the first N images\n"
            "  --flip               mirror a random half of each batch left to right\n"
            "recipe (what a new run's flags leave open):\n"
            "  --recipe NAME        quick (default): --preset tiny --batch 32 --steps 3000\n"
            "                       --lr 3e-4 (dit-tiny, 20000 steps, lr 1e-3 with --arch dit);\n"
            "                       good digits in about half an hour on 2 cores\n"
            "                       notebook: the seed notebook's: --preset mnist (dit)\n"
            "                       --batch 128 --epochs 30 --lr 1e-4\n"
            "model:\n"
            "  --arch unet|dit      the network family (default unet; dit: docs/spec/dit.md)\n"
            "  --preset NAME        base configuration: mnist, tiny (U-Nets), dit, dit-tiny;\n"
            "                       for 32x32 RGB (CIFAR-10): cifar, cifar-small, dit-cifar\n"
            "                       (default: the recipe's)\n"
            "  --config key=value   override one config field (repeatable)\n"
            "  --classes K          conditional model with K classes (default: the labels'\n"
            "                       classes, 10 for MNIST; 0: an unconditional model)\n"
            "  --class-names L      the classes' names, recorded in the model (fmrt sample\n"
            "                       --class NAME): a,b,c or @FILE with one name per line\n"
            "  --backend NAME       ref, cpu, opencl, cuda or auto (default auto: the fastest\n"
               "                       compiled in that opens: fmrt backends lists them)\n"
            "  --vae F              train on the latents of autoencoder F (fmrt train-vae):\n"
            "                       in_channels and image F's latents'; the training set\n"
            "                       is encoded once at the start and its latents kept in\n"
            "                       memory (with --flip or --encode-each-step: each batch\n"
            "                       is encoded at its step); a resume takes the\n"
            "                       autoencoder the run recorded\n"
            "  --encode-each-step   --vae: encode each batch at its step, not the set once\n"
            "text prompts (docs/spec/text.md):\n"
            "  --captions F         a text-conditioned model: line i of F is training image\n"
            "                       i's caption (as many lines as the data has images); F a\n"
            "                       folder: its train-captions.txt (fmrt data colour-mnist).\n"
            "                       A model without a text encoder gets the default one\n"
            "                       (byte level, text_ctx=32 text_width=64 text_depth=2\n"
            "                       text_heads=4 text_ff=256; --config text_*=... changes\n"
            "                       it). Captions are tokenized once at the start; with\n"
            "                       probability --label-drop a row trains as the empty prompt\n"
            "  --text F             copy the text encoder of weights file F (a text model, or\n"
            "                       a CLIP text encoder from fmrt convert): its text_* config\n"
            "                       and text.* tensors, frozen (never updated; text_proj is\n"
            "                       trained). Needs --captions\n"
            "  --vocab F            CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt[.gz] or\n"
            "                       merges.txt) of a CLIP-tokenizer model; with --captions on\n"
            "                       a new run and no --text: the default encoder with CLIP's\n"
            "                       tokenizer (text_vocab the file's)\n"
            "                       A resume takes the captions, vocabulary and frozen encoder\n"
            "                       the run recorded; --preview-every of a text model samples\n"
            "                       the empty prompt. A held-out.txt beside the data (fmrt\n"
            "                       data colour-mnist --hold-out) is recorded (held_out=)\n"
            "                       for fmrt eval --prompts\n"
            "optimisation:\n"
            "  --batch N            batch size (the recipe's; the last partial batch is dropped)\n"
            "  --epochs N           epochs to train\n"
            "  --steps N            total optimizer steps instead of --epochs\n"
            "  --lr X --wd X        AdamW learning rate (the recipe's) / weight decay (0.01)\n"
            "  --lr-schedule S      constant (default) or cosine: from lr down to 0 at the\n"
            "                       run's last step\n"
            "  --warmup N           steps of linear warmup to lr (default 0)\n"
            "  --ema X              EMA decay (0.999)\n"
            "  --label-drop P       conditional models: label dropout probability (0.1)\n"
            "  --seed S             Philox seed of the whole run (default 0)\n"
            "output:\n"
            "  --out F              weights file written at the end (default weights.fmw)\n"
            "  --ckpt F             checkpoint written every --ckpt-every steps and at the end\n"
            "                       (default: --out with .ckpt for .fmw; with --resume, F)\n"
            "  --ckpt-every N       steps between checkpoints (default 500)\n"
            "  --no-ckpt            no checkpoint (Ctrl-C then keeps only the weights)\n"
            "  --resume F           continue the run of checkpoint F bit-identically (the\n"
            "                       original command with --resume F added, or just\n"
            "                       --resume F: the data's path, --limit, model, recipe and\n"
            "                       length are F's)\n"
            "  --log F              CSV of step,epoch,loss,img_per_s\n"
            "  --log-every N        progress line every N steps when stderr is not a TTY (50)\n"
            "  --preview-every N    every N steps, a grid sampled from the EMA weights (the\n"
            "                       same noise each time; a row per class, guidance 2, 20\n"
            "                       Euler steps), replacing the last one\n"
            "  --preview F          that grid's PNG file (default: --out with -preview.png)\n"
            "  --skip-nonfinite     skip steps whose loss or gradient is NaN/inf (counted)\n"
            "                       instead of stopping with the last checkpoint kept\n"
            "data parallel (mpirun -np N fmrt train ... --dist):\n"
            "  --dist               one rank of N: each takes batch/N rows of every global\n"
            "                       batch; gradients averaged by MPI (NCCL for cuda ranks);\n"
            "                       rank 0 logs and writes the files (on by itself under mpirun)\n"
            "  --dist-check N       compare the ranks' parameter checksums every N steps (100)\n\n"
            "--steps / --epochs count from the start of the run, also after --resume.\n"
            "Ctrl-C finishes the current step, writes --out and --ckpt, and exits with\n"
            "status 130 (a second Ctrl-C ends it at once).\n"
            "--preset vae (or vae-cifar, vae-test) trains an autoencoder as fmrt train-vae.\n");
}

void cli_train_vae_usage(FILE *f)
{
    fprintf(f,
            "usage: fmrt train-vae (--data PATH | --images F --labels F | --resume F) [options]\n\n"
            "Trains the autoencoder of latent flow matching (docs/spec/vae.md) on images:\n"
            "loss = REC + beta KL. Takes fmrt train's data, optimisation, output and --dist\n"
            "options (fmrt train --help), with these differences:\n"
            "  --preset NAME        vae (default: 28x28 grey, 4x7x7 latents), vae-cifar\n"
            "                       (32x32 RGB, 4x8x8), vae-test; --config as fmrt train\n"
            "  --kl-weight B        beta, the weight of the KL term (default 1e-3, 0..1e6;\n"
            "                       recorded, so a resume keeps it unless given)\n"
            "  --recipe quick       (the default; notebook is the same) --batch 32 --steps 2000\n"
            "                       --lr 1e-3\n"
            "  --log F              CSV of step,epoch,loss,img_per_s,rec,kl (rec: REC per\n"
            "                       image; the progress line shows it per pixel)\n"
            "The unconditional autoencoder takes no --classes, --class-names or\n"
            "--preview-every. The weights file records the latent scale k = 1/std of the\n"
            "latent means of the first min(10000, N) images (EMA weights), which fmrt\n"
            "train --vae uses.\n");
}

/* Named recipes: what a new run takes for the flags it leaves out (the preset, when
 * its architecture is the run's, the batch, the length and the lr). quick is the
 * README's: good digits on a 2-core CPU in about half an hour (README "Shipped
 * weights" measures both); notebook is the seed notebook's. */
static const struct recipe {
    const char *name, *preset;
    int batch;
    long long steps, epochs;
    double lr;
} recipes[] = {
    {"quick", "tiny", 32, 3000, 0, 3e-4},
    {"quick", "dit-tiny", 32, 20000, 0, 1e-3},
    {"notebook", "mnist", 128, 0, 30, 1e-4},
    {"notebook", "dit", 128, 0, 30, 1e-4},
    /* The autoencoder (fmrt train-vae): no seed-notebook recipe, so notebook is quick. */
    {"quick", "vae", 32, 2000, 0, 1e-3},
    {"notebook", "vae", 32, 2000, 0, 1e-3},
};

/* The architecture id the flags ask for (--arch, else --preset's, else the U-Net's);
 * -1 when they name none (cli_build_config says why later). */
static int wanted_arch(const cli_config_opts *c)
{
    fm_config cfg;
    const fm_arch *a = fm_arch_find(c->arch ? c->arch : "unet");
    if (!c->arch && c->preset)
        return fm_config_preset(&cfg, c->preset) == FM_OK ? (int)cfg.arch : -1;
    return a ? a->id : -1;
}

/* --recipe (default quick) fills in what a new run's flags leave open. */
/* The recipe --recipe names (default quick) for the flags' architecture, or NULL. */
static const struct recipe *find_recipe(const opts *o)
{
    const char *name = o->recipe ? o->recipe : "quick";
    const int arch = wanted_arch(&o->cfg);
    fm_config cfg;
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        const int same = arch < 0 || (fm_config_preset(&cfg, recipes[i].preset) == FM_OK &&
                                      (int)cfg.arch == arch);
        if (strcmp(recipes[i].name, name) == 0 && same)
            return &recipes[i];
    }
    return NULL;
}

static int apply_recipe(opts *o)
{
    const struct recipe *r = find_recipe(o);
    if (!r)
        return cli_usage_error(o->cmd, "--recipe %s: quick or notebook", o->recipe);
    if (!o->cfg.preset)
        o->cfg.preset = r->preset;
    if (!o->have_batch)
        o->batch = r->batch;
    if (!o->steps && !o->have_epochs) {
        o->steps = r->steps;
        o->epochs = r->epochs;
    }
    if (!o->have_lr)
        o->lr = r->lr;
    return 0;
}

/* A default output name: --out's with `suffix` for .fmw (or added), into buf. */
static const char *beside_out(const opts *o, const char *suffix, char *buf, size_t len)
{
    size_t n = strlen(o->out);
    if (n > 4 && strcmp(o->out + n - 4, ".fmw") == 0)
        n -= 4;
    if (n + strlen(suffix) >= len) {
        cli_usage_error(o->cmd, "--out: a name of %zu characters is too long", n);
        return NULL;
    }
    memcpy(buf, o->out, n);
    memcpy(buf + n, suffix, strlen(suffix) + 1);
    return buf;
}

/* FM_LR_* of a --lr-schedule name, -1 for another. */
int cli_train_schedule(const char *name)
{
    return strcmp(name, "constant") == 0 ? FM_LR_CONSTANT
           : strcmp(name, "cosine") == 0 ? FM_LR_COSINE
                                         : -1;
}

/* The flags against each other, once all are read; fills in --ckpt-every's default. */
static int check_train_args(opts *o)
{
    if (o->data && (o->images || o->labels))
        return cli_usage_error(o->cmd, "give --data DIR or --images/--labels, not both");
    if (!o->data && (!o->images || !o->labels) && (!o->resume || o->images || o->labels))
        return cli_usage_error(o->cmd, "training data missing: --data DIR or --images F --labels F");
    if (o->steps && o->have_epochs)
        return cli_usage_error(o->cmd, "give --steps or --epochs, not both");
    if (o->no_ckpt && (o->ckpt || o->ckpt_every))
        return cli_usage_error(o->cmd, "--no-ckpt with --ckpt or --ckpt-every");
    /* Checkpoints are on by default: a resumed run goes on writing its own. */
    if (!o->no_ckpt && !o->ckpt && o->resume)
        o->ckpt = o->resume;
    if (!o->no_ckpt && !o->ckpt &&
        !(o->ckpt = beside_out(o, ".ckpt", o->ckpt_default, sizeof o->ckpt_default)))
        return 2;
    if (o->preview && !o->preview_every)
        return cli_usage_error(o->cmd, "--preview needs --preview-every N");
    if (o->preview_every && !o->preview &&
        !(o->preview =
              beside_out(o, "-preview.png", o->preview_default, sizeof o->preview_default)))
        return 2;
    if (o->preview && cli_check_ext("--preview", o->preview, ".png", "previews are PNG images"))
        return 2;
    if (o->ckpt && !o->ckpt_every)
        o->ckpt_every = 500;
    if ((o->captions || o->text || o->vocab) && o->ae_cmd)
        return cli_usage_error(o->cmd, "%s: an autoencoder is unconditional (text prompts "
                                       "condition fmrt train's flow models)",
                               o->captions ? "--captions" : o->text ? "--text" : "--vocab");
    if ((o->captions || o->text) && o->cfg.have_classes)
        return cli_usage_error(o->cmd, "--classes with %s: a model is conditioned on classes or "
                                       "on text prompts, not both",
                               o->captions ? "--captions" : "--text");
    if ((o->captions || o->text) && o->class_names)
        return cli_usage_error(o->cmd, "--class-names with %s: a text model has no classes",
                               o->captions ? "--captions" : "--text");
    if (o->text && o->resume)
        return cli_usage_error(o->cmd, "--text is for a new run: a resumed run keeps the "
                                       "encoder its checkpoint holds");
    if (o->text && !o->captions)
        return cli_usage_error(o->cmd, "--text needs --captions F (the training images' "
                                       "captions)");
    if (o->lr_schedule && cli_train_schedule(o->lr_schedule) < 0)
        return cli_usage_error(o->cmd, "--lr-schedule %s: constant or cosine", o->lr_schedule);
    return o->resume ? 0 : apply_recipe(o);
}

/* The flags' defaults: the seed notebook's recipe (flow.h). */
static void default_train_args(opts *o)
{
    memset(o, 0, sizeof *o);
    o->out = "weights.fmw";
    o->log_every = 50;
    o->wd = 0.01;
    o->ema = 0.999;
    o->label_drop = 0.1;
    o->dist_check = 100;
    o->kl_weight = 1e-3;
    o->cmd = "train";
}

/* The flags without a value; 1 when a is one of them. */
static int switch_flag(const char *a, opts *o)
{
    int *on = strcmp(a, "--skip-nonfinite") == 0 ? &o->skip_nonfinite
              : strcmp(a, "--dist") == 0         ? &o->dist
              : strcmp(a, "--no-ckpt") == 0      ? &o->no_ckpt
              : strcmp(a, "--flip") == 0         ? &o->flip
              : strcmp(a, "--encode-each-step") == 0 ? &o->encode_each_step
                                                 : NULL;
    if (on)
        *on = 1;
    return on != NULL;
}

/* fmrt train's and train-vae's flags (cmd names the command, ae: train-vae's). */
static int parse_as(const char *cmd, int ae, int argc, char **argv, opts *o)
{
    default_train_args(o);
    o->cmd = cmd;
    o->ae_cmd = ae;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        if (switch_flag(a, o))
            continue;
        int r = cli_config_option(o->cmd, &o->cfg, argc, argv, &i);
        if (r == 0)
            continue;
        if (r > 0)
            return r;
        if (strncmp(a, "--", 2) != 0)
            return cli_usage_error(o->cmd, "unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return cli_usage_error(o->cmd, "%s needs a value", a);
        const char *v = argv[++i];
        const char **str = NULL, *key = NULL; /* key: fm_train_opt_check's name */
        long long *num = NULL, lo = 1, hi = 1ll << 29;
        double *real = NULL, hi_real = DBL_MAX, lo_real = -DBL_MAX;
        int *have = NULL;
        /* clang-format off */
        if (strcmp(a, "--data") == 0) str = &o->data;
        else if (strcmp(a, "--images") == 0) str = &o->images;
        else if (strcmp(a, "--labels") == 0) str = &o->labels;
        else if (strcmp(a, "--backend") == 0) str = &o->backend;
        else if (strcmp(a, "--out") == 0) str = &o->out;
        else if (strcmp(a, "--ckpt") == 0) str = &o->ckpt;
        else if (strcmp(a, "--resume") == 0) str = &o->resume;
        else if (strcmp(a, "--log") == 0) str = &o->log;
        else if (strcmp(a, "--lr-schedule") == 0) str = &o->lr_schedule;
        else if (strcmp(a, "--recipe") == 0) str = &o->recipe;
        else if (strcmp(a, "--class-names") == 0) str = &o->class_names;
        else if (strcmp(a, "--preview") == 0) str = &o->preview;
        else if (strcmp(a, "--vae") == 0) str = &o->vae;
        else if (strcmp(a, "--captions") == 0) str = &o->captions;
        else if (strcmp(a, "--text") == 0) str = &o->text;
        else if (strcmp(a, "--vocab") == 0) str = &o->vocab;
        else if (strcmp(a, "--kl-weight") == 0) real = &o->kl_weight, lo_real = 0, hi_real = 1e6, have = &o->have_kl;
        else if (strcmp(a, "--preview-every") == 0) num = &o->preview_every;
        else if (strcmp(a, "--warmup") == 0) num = &o->warmup, lo = 0, hi = FM_MAX_STEPS, have = &o->have_warmup;
        else if (strcmp(a, "--batch") == 0) num = &o->batch, hi = FM_MAX_BATCH, have = &o->have_batch;
        else if (strcmp(a, "--epochs") == 0) num = &o->epochs, hi = 1000000, have = &o->have_epochs;
        else if (strcmp(a, "--steps") == 0) num = &o->steps, hi = FM_MAX_STEPS;
        else if (strcmp(a, "--seed") == 0) num = &o->seed, lo = 0, hi = FM_MAX_SEED, have = &o->have_seed;
        else if (strcmp(a, "--ckpt-every") == 0) num = &o->ckpt_every;
        else if (strcmp(a, "--limit") == 0) num = &o->limit, hi = 1ll << 31;
        else if (strcmp(a, "--log-every") == 0) num = &o->log_every;
        else if (strcmp(a, "--dist-check") == 0) num = &o->dist_check, have = &o->have_dist_check;
        else if (strcmp(a, "--lr") == 0) real = &o->lr, key = "lr", have = &o->have_lr;
        else if (strcmp(a, "--wd") == 0) real = &o->wd, key = "weight_decay", have = &o->have_wd;
        else if (strcmp(a, "--ema") == 0) real = &o->ema, key = "ema_decay", have = &o->have_ema;
        else if (strcmp(a, "--label-drop") == 0) real = &o->label_drop, key = "label_drop", have = &o->have_drop;
        else return cli_usage_error(o->cmd, "unknown option '%s'", a);
        /* clang-format on */
        char msg[128];
        if (str)
            *str = v;
        else if (num && cli_int(a, v, lo, hi, num))
            return 2;
        else if (real && cli_float(a, v, lo_real, hi_real, real))
            return 2;
        /* The rule a resumed checkpoint's value is held to as well (flow.h). */
        if (real && key && fm_train_opt_check(key, *real, msg, sizeof msg) != FM_OK)
            return cli_usage_error(o->cmd, "%s %s: %s", a, v, msg);
        if (have)
            *have = 1;
    }
    if (ae && o->vae)
        return cli_usage_error(cmd, "--vae is fmrt train's (a flow model on an autoencoder's "
                                    "latents); an autoencoder trains on images");
    if (ae && !o->cfg.preset)
        o->cfg.preset = "vae";
    return check_train_args(o);
}

int parse_train_args(int argc, char **argv, opts *o) { return parse_as("train", 0, argc, argv, o); }

int parse_train_vae_args(int argc, char **argv, opts *o)
{
    return parse_as("train-vae", 1, argc, argv, o);
}

const char *cli_train_recipe_preset(const opts *o)
{
    const struct recipe *r = find_recipe(o);
    return r ? r->preset : NULL;
}
