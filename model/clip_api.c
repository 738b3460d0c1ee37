/* The API of clip.h over the architecture (clip.c): encoding and what planning runs. */
#include "clip.h"

#include "build.h"

extern const fm_arch fm_arch_clip;

int fm_clip_is(const fm_config *cfg)
{
    return fm_arch_by_id(cfg->arch) == &fm_arch_clip;
}

fm_status fm_clip_encode(fm_model *m, const fm_tensor *params, const fm_tensor *ids,
                         const fm_tensor *H, const fm_tensor *pooled)
{
    if (!fm_clip_is(&m->cfg))
        return fm_fail(m->be, FM_ERR_ARG, "clip encode: a %s is not a text encoder",
                       m->arch->name);
    if (pooled) {
        fm_tensor want = fm_tensor_2d(FM_F32, ids->ndim ? ids->shape[0] : 0, m->cfg.text_width);
        if (!fm_tensor_same_shape(pooled, &want) || pooled->dtype != FM_F32)
            return fm_fail(m->be, FM_ERR_ARG, "clip encode: pooled must be [N, %d] (f32)",
                           m->cfg.text_width);
        fm_clip_want_pooled(m, pooled);
    }
    fm_status st = fm_model_forward(m, FM_MODE_SAMPLE, params, H, NULL, NULL, ids);
    fm_clip_want_pooled(m, NULL);
    return st;
}

fm_status fm_clip_plan_run(fm_model *m, fm_mode mode)
{
    const int64_t N = m->batch, L = m->cfg.text_ctx, Dt = m->cfg.text_width;
    fm_tensor ids = fm_tensor_2d(FM_I32, N, L), H;
    FM_TRY(fm_tensor_alloc(m->be, &ids));
    FM_TRY(fm_new(m->be, &H, 3, N, L, Dt, 1));
    if (mode != FM_MODE_TRAIN)
        return fm_model_forward(m, FM_MODE_SAMPLE, &m->flat, &H, NULL, NULL, &ids);
    fm_tensor dH;
    FM_TRY(fm_new_like(m->be, &dH, H));
    FM_TRY(fm_model_forward(m, FM_MODE_TRAIN, &m->flat, &H, NULL, NULL, &ids));
    return fm_model_backward(m, &dH);
}
