/* The autoencoder's API (vae.h) over its architecture (vae.c): the loss and its
 * gradients, the training step, encode and decode, and the work fm_model_plan sizes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "philox.h"
#include "vae.h"

extern const fm_arch fm_arch_vae;


int fm_vae_is(const fm_config *cfg)
{
    return fm_arch_by_id(cfg->arch) == &fm_arch_vae;
}

int fm_vae_latent_shape(const fm_config *cfg, int64_t n, int64_t shape[4])
{
    const int s = cfg->image >> (cfg->levels - 1);
    shape[0] = n, shape[1] = cfg->latent_channels, shape[2] = shape[3] = s;
    return 4;
}

static fm_tensor given(const fm_tensor *t)
{
    return t ? *t : (fm_tensor){0};
}

/* t = a new [n, chans, s, s] tensor at the latent's side s. */
static fm_status latent_like(fm_model *m, fm_tensor *t, int64_t n, int chans)
{
    int64_t shape[4];
    fm_vae_latent_shape(&m->cfg, n, shape);
    return fm_new4(m->be, t, n, chans, shape[2], shape[3]);
}

static fm_status need_vae(fm_model *m, const char *what)
{
    if (m->arch != &fm_arch_vae)
        return fm_fail(m->be, FM_ERR_ARG, "%s: a %s is not an autoencoder", what, m->arch->name);
    return FM_OK;
}

/* t is [N, Z, s, s] for some 1 <= N <= m->batch. */
static fm_status check_latent(fm_model *m, const char *what, const fm_tensor *t)
{
    int64_t shape[4];
    fm_vae_latent_shape(&m->cfg, t->ndim == 4 ? t->shape[0] : 0, shape);
    fm_tensor want = fm_tensor_desc(FM_F32, 4, shape);
    if (!fm_tensor_same_shape(t, &want) || shape[0] < 1 || shape[0] > m->batch)
        return fm_fail(m->be, FM_ERR_ARG, "%s: the latent must be [N<=%d, %lld, %lld, %lld]", what,
                       m->batch, (long long)shape[1], (long long)shape[2], (long long)shape[3]);
    return FM_OK;
}

/* The loss of docs/spec/vae.md with its REC scaled by dscale in backward (1 but for
 * the fault_step test hook). losses [3]: loss, rec, kl. */
static fm_status loss_grad(fm_model *m, float beta, const fm_tensor *x, const fm_tensor *eps,
                           const fm_tensor *xhat_out, const fm_tensor *moments, const fm_tensor *z,
                           const fm_tensor *losses, float dscale)
{
    fm_backend *be = m->be;
    const int64_t N = x->shape[0], D = fm_tensor_numel(x) / N;
    fm_tensor xhat = given(xhat_out), dx, mse;
    fm_tensor loss = fm_tensor_slice(*losses, 0, 1), rec = fm_tensor_slice(*losses, 1, 1);
    fm_tensor kl = fm_tensor_slice(*losses, 2, 1);
    if (!xhat_out)
        FM_TRY(fm_new_like(be, &xhat, *x));
    FM_TRY(fm_new_like(be, &dx, *x));
    FM_TRY(fm_new_like(be, &mse, rec));
    fm_vae_want(m, eps, moments, z, &kl);
    fm_vae_set_beta(m, beta);
    FM_TRY(fm_model_forward(m, FM_MODE_TRAIN, &m->flat, &xhat, x, NULL, NULL));
    /* REC = D mean((xhat - x)^2): the squared error summed per image, batch mean. */
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_MSE_FWD, .t = {mse, xhat, *x}}));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_AXPBY_FWD, .t = {rec, mse, mse}, .f = {(float)D, 0}}));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_AXPBY_FWD, .t = {loss, rec, kl}, .f = {1, beta}}));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_MSE_BWD, .t = {dx, (fm_tensor){0}, xhat, *x},
                               .f = {(float)D * dscale}}));
    return fm_model_backward(m, &dx);
}

static fm_status check_losses(fm_model *m, const fm_tensor *x, const fm_tensor *losses)
{
    FM_TRY(need_vae(m, "vae loss"));
    if (!losses || fm_tensor_numel(losses) != 3 || losses->ndim != 1)
        return fm_fail(m->be, FM_ERR_ARG, "vae loss: losses must be a [3] tensor");
    if (x->ndim != 4 || x->shape[0] < 1)
        return fm_fail(m->be, FM_ERR_ARG, "vae loss: x must be [N, C, H, W]");
    return FM_OK;
}

fm_status fm_vae_loss_grad(fm_model *m, float beta, const fm_tensor *x, const fm_tensor *eps,
                           const fm_tensor *xhat, const fm_tensor *moments, const fm_tensor *z,
                           const fm_tensor *losses)
{
    FM_TRY(check_losses(m, x, losses));
    fm_arena_mark mark = fm_arena_get_mark(&m->be->arena, "vae loss");
    fm_status s = loss_grad(m, beta, x, eps, xhat, moments, z, losses, 1.0f);
    fm_vae_want(m, NULL, NULL, NULL, NULL);
    fm_arena_reset(&m->be->arena, mark);
    return s;
}

static fm_status train_step(fm_model *m, const fm_train_opts *o, float beta, const fm_tensor *x,
                            uint64_t step, fm_vae_loss *out)
{
    fm_backend *be = m->be;
    const int64_t N = x->shape[0];
    fm_tensor eps, losses;
    float host[3];
    FM_TRY(latent_like(m, &eps, N, m->cfg.latent_channels));
    losses = fm_tensor_1d(FM_F32, 3);
    FM_TRY(fm_tensor_alloc(be, &losses));
    /* docs/spec/vae.md, "Training step": global row shard + n starts at (shard + n) Z s s */
    const uint64_t first = (uint64_t)o->shard * (uint64_t)(fm_tensor_numel(&eps) / N);
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_RNG, .t = {eps}, .i = {FM_RNG_NORMAL},
                               .u = {o->seed, FM_STREAM(step, 0), first}}));
    FM_TRY(fm_fill(be, &m->grad, 0.0f));
    const float dscale = o->fault_step && step == o->fault_step ? INFINITY : 1.0f;
    FM_TRY(loss_grad(m, beta, x, &eps, NULL, NULL, NULL, &losses, dscale));
    FM_TRY(fm_download(be, host, &losses));
    out->loss = host[0], out->rec = host[1], out->kl = host[2];
    return fm_train_apply(m, o, step, &out->loss);
}

fm_status fm_vae_train_step(fm_model *m, const fm_train_opts *o, float beta, const fm_tensor *x,
                            uint64_t step, fm_vae_loss *out)
{
    FM_TRY(need_vae(m, "vae train step"));
    FM_TRY(fm_train_check_step(m, o, step));
    if (!(beta >= 0 && beta <= 1e6f))
        return fm_fail(m->be, FM_ERR_ARG, "vae train step: kl weight %g outside [0, 1e6]",
                       (double)beta);
    fm_arena_mark mark = fm_arena_get_mark(&m->be->arena, "vae step");
    fm_status s = train_step(m, o, beta, x, step, out);
    fm_vae_want(m, NULL, NULL, NULL, NULL);
    fm_arena_reset(&m->be->arena, mark);
    return s;
}

/* One half alone in sampling mode, after any activations of an earlier forward. */
static fm_status run_half(fm_model *m, int decoder, const fm_tensor *params, const fm_tensor *in,
                          const fm_tensor *out)
{
    fm_model_release(m);
    return fm_vae_run_half(m, decoder, params, in, out);
}

static fm_status check_image(fm_model *m, const char *what, const fm_tensor *x)
{
    const fm_config *c = &m->cfg;
    if (x->ndim != 4 || x->shape[1] != c->in_channels || x->shape[2] != c->image ||
        x->shape[3] != c->image || x->shape[0] < 1 || x->shape[0] > m->batch)
        return fm_fail(m->be, FM_ERR_ARG, "%s: images must be [N<=%d, %d, %d, %d]", what, m->batch,
                       c->in_channels, c->image, c->image);
    return FM_OK;
}

fm_status fm_vae_encode(fm_model *m, const fm_tensor *params, const fm_tensor *x, float scale,
                        const fm_tensor *z)
{
    FM_TRY(need_vae(m, "vae encode"));
    FM_TRY(check_image(m, "vae encode", x));
    FM_TRY(check_latent(m, "vae encode", z));
    if (z->shape[0] != x->shape[0])
        return fm_fail(m->be, FM_ERR_ARG, "vae encode: %lld images, %lld latents",
                       (long long)x->shape[0], (long long)z->shape[0]);
    fm_arena_mark mark = fm_arena_get_mark(&m->be->arena, "vae encode");
    fm_tensor mom, kl = fm_tensor_1d(FM_F32, 1);
    fm_status s = latent_like(m, &mom, x->shape[0], 2 * m->cfg.latent_channels);
    if (s == FM_OK)
        s = fm_tensor_alloc(m->be, &kl);
    if (s == FM_OK)
        s = run_half(m, 0, params, x, &mom);
    /* z = mu (REPARAM_FWD without noise), then scaled in place. */
    if (s == FM_OK)
        s = fm_do(m->be, (fm_call){.op = FM_OP_REPARAM_FWD, .t = {*z, kl, mom}});
    if (s == FM_OK && scale != 1.0f)
        s = fm_do(m->be, (fm_call){.op = FM_OP_AXPBY_FWD, .t = {*z, *z, *z}, .f = {scale, 0}});
    fm_arena_reset(&m->be->arena, mark);
    return s;
}

fm_status fm_vae_decode(fm_model *m, const fm_tensor *params, const fm_tensor *z, float scale,
                        const fm_tensor *out)
{
    FM_TRY(need_vae(m, "vae decode"));
    FM_TRY(check_latent(m, "vae decode", z));
    FM_TRY(check_image(m, "vae decode", out));
    if (!(scale > 0) || !isfinite(scale))
        return fm_fail(m->be, FM_ERR_ARG, "vae decode: latent scale %g is not positive", (double)scale);
    fm_arena_mark mark = fm_arena_get_mark(&m->be->arena, "vae decode");
    fm_tensor zs;
    fm_status s = fm_new_like(m->be, &zs, *z);
    if (s == FM_OK)
        s = fm_do(m->be, (fm_call){.op = FM_OP_AXPBY_FWD, .t = {zs, *z, *z}, .f = {1.0f / scale, 0}});
    if (s == FM_OK)
        s = run_half(m, 1, params, &zs, out);
    fm_arena_reset(&m->be->arena, mark);
    return s;
}

fm_status fm_vae_plan_run(fm_model *m, fm_mode mode, const fm_tensor *x)
{
    FM_TRY(need_vae(m, "plan"));
    if (mode == FM_MODE_TRAIN) {
        fm_train_opts o = fm_train_defaults();
        fm_vae_loss l;
        return fm_vae_train_step(m, &o, 1e-3f, x, 1, &l);
    }
    fm_tensor z;
    FM_TRY(latent_like(m, &z, x->shape[0], m->cfg.latent_channels));
    FM_TRY(fm_vae_encode(m, &m->flat, x, 1.0f, &z));
    return fm_vae_decode(m, &m->flat, &z, 1.0f, x);
}
