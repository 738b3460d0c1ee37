/* fmrt plan: the exact arena bytes fm_model_plan measures for training and
 * sampling, so a user can size a device before starting a run; with --vae, a latent
 * model's whole pipeline (the flow model at the latent's shape and its autoencoder). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_config.h"
#include "cli_latent.h"
#include "cli_plan.h"
#include "cli_text.h"
#include "commands.h"
#include "size.h"

#define CMD "plan"

static void row(const char *mode, int batch, const fm_plan *p)
{
    const double mib = 1024.0 * 1024.0;
    printf("%-7s batch %-5d params %lld (%.2f MiB)  state %zu bytes (%.2f MiB)  arena %zu bytes "
           "(%.2f MiB)\n",
           mode, batch, (long long)p->nparams, (double)p->params_bytes / mib, p->state_bytes,
           (double)p->state_bytes / mib, p->total_bytes, (double)p->total_bytes / mib);
    /* The arena's excess over the bound is memory the allocation order leaves unused. */
    printf("%-7s live  %zu bytes (%.2f MiB)  arena/live %.3f\n", mode, p->live_bytes,
           (double)p->live_bytes / mib,
           p->live_bytes ? (double)p->total_bytes / (double)p->live_bytes : 0.0);
}

/* The flow config at the autoencoder's latent shape, validated again (a preset's
 * levels may not divide the latent's side). */
static int latent_config(const char *path, cli_vae *v, fm_config *cfg)
{
    char msg[256];
    if (cli_vae_read(path, v))
        return 1;
    cli_vae_latent_config(v, cfg);
    if (fm_config_validate(cfg, msg, sizeof msg) != FM_OK)
        return cli_error("the latents of %s (%dx%dx%d) do not fit this config: %s", path,
                         cfg->in_channels, cfg->image, cfg->image, msg);
    printf("vae     %s: %dx%dx%d images <-> %dx%dx%d latents, scale %.9g\n", path,
           v->w.cfg.in_channels, v->w.cfg.image, v->w.cfg.image, cfg->in_channels, cfg->image,
           cfg->image, (double)v->scale);
    return 0;
}

/* The autoencoder's rows at both batches and each pipeline's sum: flow + autoencoder
 * on one backend, as train --vae and a latent model's sampling open it. */
static int pipeline(const cli_vae *v, int batch, int sbatch, const fm_plan *tp, const fm_plan *sp)
{
    const double mib = 1024.0 * 1024.0;
    fm_plan vt, vs;
    size_t t, s;
    if (cli_plan(&v->w.cfg, FM_MODE_SAMPLE, batch, &vt) ||
        cli_plan(&v->w.cfg, FM_MODE_SAMPLE, sbatch, &vs))
        return 1;
    row("vae", batch, &vt);
    if (sbatch != batch)
        row("vae", sbatch, &vs);
    if (!fm_add_size(tp->total_bytes, vt.total_bytes, &t) ||
        !fm_add_size(sp->total_bytes, vs.total_bytes, &s))
        return cli_error("the pipeline's arena does not fit in this address space");
    printf("pipeline train  batch %-5d flow %zu + vae %zu = %zu bytes (%.2f MiB)\n", batch,
           tp->total_bytes, vt.total_bytes, t, (double)t / mib);
    printf("pipeline sample batch %-5d flow %zu + vae %zu = %zu bytes (%.2f MiB)\n", sbatch,
           sp->total_bytes, vs.total_bytes, s, (double)s / mib);
    return 0;
}

int parse_plan_args(int argc, char **argv, cli_plan_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 128;
    o->sbatch = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        int r = cli_config_option(CMD, &o->cfg, argc, argv, &i);
        if (r == 0)
            continue;
        if (r > 0)
            return r;
        if (strcmp(a, "--batch") != 0 && strcmp(a, "--sample-batch") != 0 &&
            strcmp(a, "--vae") != 0)
            return cli_usage_error(CMD, "unknown option '%s'", a);
        if (i + 1 >= argc)
            return cli_usage_error(CMD, "%s needs a value", a);
        if (strcmp(a, "--vae") == 0) {
            o->vae = argv[++i];
            continue;
        }
        if (cli_int(a, argv[++i], 1, 1024, strcmp(a, "--batch") == 0 ? &o->batch : &o->sbatch))
            return 2;
    }
    return 0;
}

int cmd_plan(int argc, char **argv)
{
    cli_plan_opts o;
    int rc = parse_plan_args(argc, argv, &o);
    if (rc == CLI_HELP) {
        printf("usage: fmrt plan [--arch unet|dit]\n"
               "                 [--preset mnist|tiny|cifar|cifar-small|dit|dit-tiny|dit-cifar]\n"
               "                 [--config key=value ...] [--classes K]\n"
               "                 [--batch N] [--sample-batch N]\n\n"
               "Prints parameters, persistent state and total arena bytes for training\n"
               "(batch N, default 128) and sampling (default 16 images), measured by\n"
               "running the real code on the plan backend. 'live' is the lower bound\n"
               "the same run measures: the most bytes alive at one time (parameters and\n"
               "state included), where a tensor is alive from the first to the last op\n"
               "that touches it; arena/live is what the allocation order costs above it.\n"
               "A --config text_*=V (text_ctx, text_width, ...) plans a text model: the\n"
               "other text fields take fmrt train --captions' default encoder\n"
               "(docs/spec/text.md); the text line gives its size.\n"
               "  --vae F   a latent model on the autoencoder F (fmrt train-vae): the flow\n"
               "            model at F's latent shape (in_channels = Z, image = s), F's own\n"
               "            arena (an encode and a decode of the batch) at each batch, and\n"
               "            each pipeline's sum: what fmrt train --vae and fmrt sample of\n"
               "            the latent model open (one backend holds both models)\n");
        return 0;
    }
    if (rc)
        return rc;
    const long long batch = o.batch, sbatch = o.sbatch;
    fm_config cfg;
    cli_vae v = {0};
    if (cli_text_build_config(&o.cfg, 0, &cfg) || (o.vae && latent_config(o.vae, &v, &cfg))) {
        cli_vae_close(&v);
        return 1;
    }
    char line[320];
    fm_config_format(&cfg, line, sizeof line);
    printf("config  %s\n", line);
    fm_plan tp, sp;
    if (cli_plan(&cfg, FM_MODE_TRAIN, (int)batch, &tp) ||
        cli_plan(&cfg, FM_MODE_SAMPLE, (int)sbatch, &sp))
        return 1;
    if (cfg.text_depth) /* text_proj is the image network's: counted in params only */
        printf("text    tokenizer %s, context %d, width %d, depth %d, heads %d, MLP width %d: "
               "encoder %lld parameters\n",
               cli_tok_name(cfg.text_tokenizer), cfg.text_ctx, cfg.text_width, cfg.text_depth,
               cfg.text_heads, cfg.text_ff, (long long)cli_text_encoder_params(&cfg));
    row("train", (int)batch, &tp);
    row("sample", (int)sbatch, &sp);
    if (sbatch == batch)
        printf("sample/train arena ratio %.3f\n", (double)sp.total_bytes / (double)tp.total_bytes);
    rc = o.vae ? pipeline(&v, (int)batch, (int)sbatch, &tp, &sp) : 0;
    cli_vae_close(&v);
    return rc;
}
