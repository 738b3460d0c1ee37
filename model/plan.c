/* Exact memory planning by running the real code on the "plan" backend: every
 * allocation the step makes is counted, every shape checked, nothing computed. */
#include <stdio.h>
#include <string.h>

#include "clip.h"
#include "flow.h"
#include "vae.h"

static fm_status plan_run(fm_model *m, fm_backend *be, const fm_config *cfg, fm_mode mode, int batch)
{
    fm_status s = fm_model_create(m, be, cfg, mode, batch);
    if (s != FM_OK)
        return s;
    if (m->arch->tokens) /* a text encoder: ids in, no image */
        return fm_clip_plan_run(m, mode);
    fm_tensor x = fm_tensor_4d(FM_F32, batch, cfg->in_channels, cfg->image, cfg->image);
    if ((s = fm_tensor_alloc(be, &x)) != FM_OK)
        return s;
    /* A velocity model trains and samples by flow.h; the other model fm_model_plan
     * sizes is the autoencoder (the classifier sizes itself:
     * fm_classifier_arena_bytes). */
    if (!m->arch->velocity)
        return fm_vae_plan_run(m, mode, &x);
    if (mode == FM_MODE_TRAIN) {
        /* The plan backend reads no data: any pointer stands for the labels or ids. */
        int32_t y[1] = {0};
        float loss;
        fm_train_opts o = fm_train_defaults();
        if (batch > 1024)
            return fm_fail(be, FM_ERR_ARG, "plan: batch %d above 1024", batch);
        return fm_train_step(m, &o, &x, fm_config_conditional(cfg) ? y : NULL, 1, &loss);
    }
    fm_tensor y = fm_tensor_1d(FM_I32, (int64_t)batch * fm_config_cond_width(cfg));
    if ((s = fm_tensor_alloc(be, &y)) != FM_OK)
        return s;
    /* The most a sampling run holds: Heun (two states) with guidance (two passes). */
    fm_sample_opts o = {.steps = 2, .heun = 1, .guidance = 1, .cfg_scale = 1.0f};
    return fm_sample(m, &m->flat, &x, &y, &o);
}

fm_status fm_model_plan_live(const fm_config *cfg, fm_mode mode, int batch, fm_model *scratch,
                            void *mem, size_t mem_bytes, fm_plan *out, char *err, size_t errlen)
{
    fm_backend be;
    fm_backend_config bc = {.name = "plan", .mem = mem, .mem_bytes = mem ? mem_bytes : 0};
    size_t live = 0;
    fm_status s = fm_backend_open(&be, &bc);
    if (s == FM_OK)
        s = plan_run(scratch, &be, cfg, mode, batch);
    if (s == FM_OK && mem)
        s = fm_plan_live_bytes(&be, &live);
    if (s != FM_OK) {
        snprintf(err, errlen, "%s", be.err);
        return s;
    }
    memset(out, 0, sizeof *out);
    out->nparams = scratch->nfloats;
    out->params_bytes = (size_t)scratch->nfloats * sizeof(float);
    out->state_bytes = scratch->persistent.used;
    out->total_bytes = be.arena.high;
    out->live_bytes = live;
    fm_backend_close(&be);
    return FM_OK;
}

fm_status fm_model_plan(const fm_config *cfg, fm_mode mode, int batch, fm_model *scratch, fm_plan *out,
                       char *err, size_t errlen)
{
    return fm_model_plan_live(cfg, mode, batch, scratch, NULL, 0, out, err, errlen);
}
