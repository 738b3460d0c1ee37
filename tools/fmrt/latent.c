/* cli_latent.h: the autoencoder beside a latent flow model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_backend.h"
#include "cli_latent.h"
#include "cli_config.h"

int cli_vae_read(const char *path, cli_vae *v)
{
    fm_ckpt_state st;
    char err[512];
    size_t bytes;
    snprintf(v->path, sizeof v->path, "%s", path);
    if (cli_load_weights(path, &v->w, &bytes, &v->wmem))
        return 1;
    if (!fm_vae_is(&v->w.cfg))
        return cli_error("%s: not an autoencoder (arch %s; train one with fmrt train-vae)", path,
                         fm_arch_by_id(v->w.cfg.arch) ? fm_arch_by_id(v->w.cfg.arch)->name : "?");
    if (cli_check_weights(path, &v->w, FM_MODE_SAMPLE, 0))
        return 1;
    if (fm_ckpt_state_read(&v->w, &st, err, sizeof err) != FM_OK)
        return cli_error("%s: %s", path, err);
    v->crc = v->w.crc;
    v->scale = st.latent_scale > 0 ? st.latent_scale : 1.0f;
    return 0;
}

int cli_vae_for_model(const char *model_path, const fm_ckpt_state *st, const char *flag,
                      cli_vae *v)
{
    char rec[4096];
    snprintf(rec, sizeof rec, "%.*s", (int)(st->vae.n < sizeof rec ? st->vae.n : sizeof rec - 1),
             st->vae.s ? st->vae.s : "");
    const char *path = flag ? flag : rec;
    if (!path[0])
        return cli_error("%s: a latent model needs its autoencoder: --vae FILE", model_path);
    if (cli_vae_read(path, v))
        return 1;
    if (v->crc != (uint32_t)st->vae_crc)
        return cli_error("%s: trained with the autoencoder of CRC %08x (%s), not %s (CRC %08x)",
                         model_path, (unsigned)st->vae_crc, rec[0] ? rec : "recorded", path,
                         (unsigned)v->crc);
    return 0;
}

int cli_vae_arena_bytes(const cli_vae *v, int n, size_t *bytes)
{
    fm_plan plan;
    if (cli_plan(&v->w.cfg, FM_MODE_SAMPLE, n, &plan))
        return 1;
    *bytes = plan.total_bytes;
    return 0;
}

int cli_vae_attach(cli_vae *v, fm_backend *be, int n)
{
    char err[768];
    v->m = calloc(1, sizeof *v->m);
    if (!v->m)
        return cli_error("cannot allocate the autoencoder's description");
    if (fm_model_create_from_weights(v->m, be, &v->w, FM_MODE_SAMPLE, n, 0, NULL, NULL, err,
                                     sizeof err) != FM_OK)
        return cli_error("%s: %s", v->path, err);
    cli_mem_free(&v->wmem);
    return 0;
}

void cli_vae_latent_config(const cli_vae *v, fm_config *cfg)
{
    int64_t shape[4];
    fm_vae_latent_shape(&v->w.cfg, 1, shape);
    cfg->in_channels = (int)shape[1];
    cfg->image = (int)shape[2];
}

void cli_vae_record(const cli_vae *v, fm_ckpt_state *st)
{
    st->vae_crc = v->crc;
    st->vae.s = v->path;
    st->vae.n = strlen(v->path);
}

int cli_vae_decode(cli_vae *v, const fm_tensor *z, const fm_tensor *out)
{
    if (fm_vae_decode(v->m, &v->m->flat, z, v->scale, out) != FM_OK)
        return cli_error("decode: %s", v->m->be->err);
    return 0;
}

int cli_vae_encode(cli_vae *v, const fm_tensor *x, const fm_tensor *z)
{
    if (fm_vae_encode(v->m, &v->m->flat, x, v->scale, z) != FM_OK)
        return cli_error("encode: %s", v->m->be->err);
    return 0;
}

void cli_vae_close(cli_vae *v)
{
    free(v->m);
    v->m = NULL;
    cli_mem_free(&v->wmem);
}
