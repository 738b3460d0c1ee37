#include "flow.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "philox.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        fm_status s_ = (x);                                                                        \
        if (s_ != FM_OK)                                                                           \
            return s_;                                                                             \
    } while (0)

/* Run `body`, then release the arena back to `mark` whatever happened. */
#define SCOPED(be, mark, body)                                                                     \
    do {                                                                                           \
        fm_arena_mark mark_ = (mark);                                                              \
        fm_status st_ = (body);                                                                    \
        fm_arena_reset(&(be)->arena, mark_);                                                       \
        return st_;                                                                                \
    } while (0)

fm_train_opts fm_train_defaults(void)
{
    fm_train_opts o = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                       .weight_decay = 0.01f, .ema_decay = 0.999f, .label_drop = 0.1f, .seed = 0};
    return o;
}

/* The rules of fm_train_opt_check, once. */
static const struct hparam_rule {
    const char *key;
    double lo, hi;
    int lo_open, hi_open;
} hparam_rules[] = {
    {"lr", 0, 10, 1, 0},         {"beta1", 0, 1, 0, 1},        {"beta2", 0, 1, 0, 1},
    {"eps", 0, 1, 1, 0},         {"weight_decay", 0, 10, 0, 0}, {"ema_decay", 0, 1, 0, 0},
    {"label_drop", 0, 1, 0, 0},
};

fm_status fm_train_opt_check(const char *key, double v, char *msg, size_t len)
{
    for (size_t i = 0; i < sizeof hparam_rules / sizeof hparam_rules[0]; i++) {
        const struct hparam_rule *r = &hparam_rules[i];
        if (strcmp(key, r->key) != 0)
            continue;
        /* Written so that NaN fails: every comparison with NaN is false. */
        int ok = (r->lo_open ? v > r->lo : v >= r->lo) && (r->hi_open ? v < r->hi : v <= r->hi);
        if (ok)
            return FM_OK;
        snprintf(msg, len, "%s %g is outside %c%g, %g%c", key, v, r->lo_open ? '(' : '[', r->lo,
                 r->hi, r->hi_open ? ')' : ']');
        return FM_ERR_ARG;
    }
    snprintf(msg, len, "unknown hyper-parameter '%s'", key);
    return FM_ERR_ARG;
}

fm_status fm_train_opts_check(const fm_train_opts *o, char *msg, size_t len)
{
    const struct {
        const char *key;
        float v;
    } f[] = {{"lr", o->lr},       {"beta1", o->beta1},
             {"beta2", o->beta2}, {"eps", o->eps},
             {"weight_decay", o->weight_decay}, {"ema_decay", o->ema_decay},
             {"label_drop", o->label_drop}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (fm_train_opt_check(f[i].key, (double)f[i].v, msg, len) != FM_OK)
            return FM_ERR_ARG;
    if (o->lr_schedule > FM_LR_COSINE) {
        snprintf(msg, len, "lr_schedule %lu is not constant (0) or cosine (1)",
                 (unsigned long)o->lr_schedule);
        return FM_ERR_ARG;
    }
    if (o->warmup > FM_MAX_STEPS || o->decay_steps > FM_MAX_STEPS) {
        snprintf(msg, len, "warmup %llu / decay_steps %llu: above %lld steps",
                 (unsigned long long)o->warmup, (unsigned long long)o->decay_steps, FM_MAX_STEPS);
        return FM_ERR_ARG;
    }
    if (o->lr_schedule == FM_LR_COSINE && o->decay_steps <= o->warmup) {
        snprintf(msg, len, "a cosine schedule needs decay_steps %llu above warmup %llu",
                 (unsigned long long)o->decay_steps, (unsigned long long)o->warmup);
        return FM_ERR_ARG;
    }
    return FM_OK;
}

float fm_train_lr(const fm_train_opts *o, uint64_t step)
{
    double w = o->warmup && step < o->warmup ? (double)step / (double)o->warmup : 1.0;
    if (o->lr_schedule != FM_LR_COSINE)
        return (float)((double)o->lr * w);
    double p = step > o->warmup + 1
                   ? (double)(step - 1 - o->warmup) / (double)(o->decay_steps - o->warmup)
                   : 0.0;
    p = p > 1.0 ? 1.0 : p;
    return (float)((double)o->lr * w * 0.5 * (1.0 + cos(3.14159265358979323846 * p)));
}

static fm_status run(fm_backend *be, fm_call c) { return fm_run(be, &c); }

static fm_status alloc(fm_backend *be, fm_tensor *t, fm_tensor desc)
{
    *t = desc;
    return fm_tensor_alloc(be, t);
}

fm_status fm_noise(fm_backend *be, const fm_tensor *x, uint64_t seed, uint32_t stream)
{
    return run(be, (fm_call){.op = FM_OP_RNG, .t = {*x}, .i = {FM_RNG_NORMAL}, .u = {seed, stream}});
}

/* fm_flow_loss_grad with dL/dv scaled by dscale (1 but for the fault_step test hook). */
static fm_status loss_grad(fm_model *m, const fm_tensor *x0, const fm_tensor *x1, const fm_tensor *t,
                           const fm_tensor *y, const fm_tensor *xt_out, const fm_tensor *vpred_out,
                           const fm_tensor *loss, float dscale)
{
    fm_backend *be = m->be;
    fm_tensor xt, v, vp, dv;
    if (xt_out)
        xt = *xt_out;
    else
        TRY(alloc(be, &xt, *x0));
    if (vpred_out)
        vp = *vpred_out;
    else
        TRY(alloc(be, &vp, *x0));
    TRY(alloc(be, &v, *x0));
    TRY(alloc(be, &dv, *x0));
    TRY(run(be, (fm_call){.op = FM_OP_FM_INTERP_FWD, .t = {xt, v, *x0, *x1, *t}}));
    TRY(fm_model_forward(m, FM_MODE_TRAIN, &m->flat, &vp, &xt, t, y));
    TRY(run(be, (fm_call){.op = FM_OP_MSE_FWD, .t = {*loss, vp, v}}));
    TRY(run(be, (fm_call){.op = FM_OP_MSE_BWD, .t = {dv, (fm_tensor){0}, vp, v}, .f = {dscale}}));
    return fm_model_backward(m, &dv);
}

fm_status fm_flow_loss_grad(fm_model *m, const fm_tensor *x0, const fm_tensor *x1, const fm_tensor *t,
                            const fm_tensor *y, const fm_tensor *xt_out, const fm_tensor *vpred_out,
                            const fm_tensor *loss)
{
    return loss_grad(m, x0, x1, t, y, xt_out, vpred_out, loss, 1.0f);
}

/* Sum of `x` on the backend, read back into *out (sum is a [1] tensor). */
static fm_status sum_of(fm_backend *be, const fm_tensor *sum, const fm_tensor *x, float *out)
{
    TRY(run(be, (fm_call){.op = FM_OP_SUM_FWD, .t = {*sum, *x}}));
    return fm_download(be, out, sum);
}

static fm_status grad_check(fm_model *m, uint64_t step, float loss)
{
    fm_backend *be = m->be;
    const unsigned long long n = (unsigned long long)step;
    if (!isfinite(loss))
        return fm_fail(be, FM_ERR_NUMERIC, "step %llu: non-finite loss (%g)", n, (double)loss);
    fm_tensor sum;
    float total, part;
    TRY(alloc(be, &sum, fm_tensor_1d(FM_F32, 1)));
    /* The common case costs one reduction over P floats and a 4-byte read. */
    TRY(sum_of(be, &sum, &m->grad, &total));
    if (isfinite(total))
        return FM_OK;
    for (int i = 0; i < m->nparams; i++) {
        fm_tensor view = fm_model_view(m, &m->grad, i);
        TRY(sum_of(be, &sum, &view, &part));
        if (!isfinite(part))
            return fm_fail(be, FM_ERR_NUMERIC, "step %llu: non-finite gradient in %s (loss %.4f)",
                           n, m->params[i].name, (double)loss);
    }
    /* Every parameter's sum is finite but not their total: gradients near FLT_MAX,
     * which AdamW's squared moments cannot hold either. */
    return fm_fail(be, FM_ERR_NUMERIC, "step %llu: the gradient sum overflows (%g) although "
                   "every parameter's gradient is finite (loss %.4f)", n, (double)total,
                   (double)loss);
}

fm_status fm_grad_check(fm_model *m, uint64_t step, float loss)
{
    if (m->mode != FM_MODE_TRAIN)
        return fm_fail(m->be, FM_ERR_ARG, "gradient check: the model was created for sampling");
    SCOPED(m->be, fm_arena_get_mark(&m->be->arena, "grad_check"), grad_check(m, step, loss));
}

fm_status fm_train_apply(fm_model *m, const fm_train_opts *o, uint64_t step, float *loss)
{
    fm_backend *be = m->be;
    if (o->grad_hook)
        TRY(o->grad_hook(o->grad_user, be, &m->grad, loss));
    TRY(fm_grad_check(m, step, *loss));

    /* Bias corrections in double: 1 - beta^step underflows nothing and loses no
     * digits for the step counts of a long run. */
    double bc1 = 1.0 - pow((double)o->beta1, (double)step);
    double bc2 = 1.0 - pow((double)o->beta2, (double)step);
    const fm_call adamw = {.op = FM_OP_ADAMW,
                           .f = {fm_train_lr(o, step), o->beta1, o->beta2, o->eps, o->weight_decay,
                                 (float)bc1, (float)bc2}};
    /* Frozen parameters (m->frozen_*, one contiguous range) keep their values: AdamW
     * runs on the floats before and after them. */
    int64_t lo = m->nfloats, hi = m->nfloats;
    if (m->frozen_count > 0) {
        const fm_param *a = &m->params[m->frozen_first];
        const fm_param *b = &m->params[m->frozen_first + m->frozen_count - 1];
        lo = a->offset, hi = b->offset + fm_tensor_numel(&b->t);
    }
    const int64_t from[2] = {0, hi}, count[2] = {lo, m->nfloats - hi};
    for (int k = 0; k < 2; k++) {
        if (count[k] == 0)
            continue;
        fm_call c = adamw;
        c.t[0] = fm_tensor_slice(m->flat, from[k], count[k]);
        c.t[1] = fm_tensor_slice(m->adam_m, from[k], count[k]);
        c.t[2] = fm_tensor_slice(m->adam_v, from[k], count[k]);
        c.t[3] = fm_tensor_slice(m->grad, from[k], count[k]);
        TRY(run(be, c));
        /* The EMA too: d x + (1 - d) x is not x in float, and frozen tensors must stay
         * the bits they were given. */
        TRY(run(be, (fm_call){.op = FM_OP_EMA,
                              .t = {fm_tensor_slice(m->ema, from[k], count[k]), c.t[0]},
                              .f = {o->ema_decay}}));
    }
    return FM_OK;
}

fm_status fm_train_check_step(fm_model *m, const fm_train_opts *o, uint64_t step)
{
    if (m->mode != FM_MODE_TRAIN)
        return fm_fail(m->be, FM_ERR_ARG, "train step: the model was created for sampling");
    if (step < 1 || step >= (1u << 30))
        return fm_fail(m->be, FM_ERR_ARG, "train step: step %llu outside 1..2^30",
                       (unsigned long long)step);
    if (o->shard < 0 || o->shard > (1ll << 40))
        return fm_fail(m->be, FM_ERR_ARG, "train step: shard %lld outside 0..2^40",
                       (long long)o->shard);
    char msg[128];
    if (fm_train_opts_check(o, msg, sizeof msg) != FM_OK)
        return fm_fail(m->be, FM_ERR_ARG, "train step: %s", msg);
    return FM_OK;
}

static fm_status train_step(fm_model *m, const fm_train_opts *o, const fm_tensor *x0, const int32_t *y,
                            uint64_t step, float *loss_out)
{
    fm_backend *be = m->be;
    const int N = (int)x0->shape[0];
    fm_tensor x1, t, yt = {0}, loss;
    TRY(alloc(be, &x1, *x0));
    TRY(alloc(be, &t, fm_tensor_1d(FM_F32, N)));
    TRY(alloc(be, &loss, fm_tensor_1d(FM_F32, 1)));
    /* global row shard + n starts at counter (shard + n) * (C H W) */
    const uint64_t row = (uint64_t)(fm_tensor_numel(x0) / N), first = (uint64_t)o->shard * row;
    TRY(run(be, (fm_call){.op = FM_OP_RNG, .t = {x1}, .i = {FM_RNG_NORMAL},
                          .u = {o->seed, FM_STREAM(step, 0), first}}));

    /* t and the label dropout are N numbers: drawn on the host from the same Philox
     * streams, so every backend sees the same values. A dropped row (a label, or a
     * prompt's ids) becomes the "no condition" row. */
    float tv[FM_MAX_BATCH];
    if (N > FM_MAX_BATCH)
        return fm_fail(be, FM_ERR_ARG, "train step: batch %d above %d", N, FM_MAX_BATCH);
    const int cond = fm_config_conditional(&m->cfg), w = fm_config_cond_width(&m->cfg);
    int32_t none[256];
    fm_config_null_cond(&m->cfg, none);
    if (cond) {
        TRY(alloc(be, &yt, fm_tensor_1d(FM_I32, (int64_t)N * w)));
        TRY(fm_upload(be, &yt, y));
    }
    for (int n = 0; n < N; n++) {
        const uint64_t g = (uint64_t)(o->shard + n); /* the row in the global batch */
        tv[n] = fm_philox_uniform(o->seed, g, FM_STREAM(step, 1));
        if (cond && fm_philox_uniform(o->seed, g, FM_STREAM(step, 2)) < o->label_drop) {
            fm_tensor row = fm_tensor_slice(yt, (int64_t)n * w, w);
            TRY(fm_upload(be, &row, none));
        }
    }
    TRY(fm_upload(be, &t, tv));
    TRY(fm_fill(be, &m->grad, 0.0f));
    const float dscale = o->fault_step && step == o->fault_step ? INFINITY : 1.0f;
    TRY(loss_grad(m, x0, &x1, &t, cond ? &yt : NULL, NULL, NULL, &loss, dscale));
    /* Before the update: a bad step must leave the weights, EMA and moments as
     * they were, so that the caller's last checkpoint or a skip stays valid. */
    TRY(fm_download(be, loss_out, &loss));
    return fm_train_apply(m, o, step, loss_out);
}

fm_status fm_train_step(fm_model *m, const fm_train_opts *o, const fm_tensor *x0, const int32_t *y,
                        uint64_t step, float *loss)
{
    TRY(fm_train_check_step(m, o, step));
    if (!m->arch->velocity)
        return fm_fail(m->be, FM_ERR_ARG, "train step: a %s is not a velocity model",
                       m->arch->name);
    if (fm_config_conditional(&m->cfg) && !y)
        return fm_fail(m->be, FM_ERR_ARG, "train step: a conditional model needs %s",
                       m->cfg.text_depth ? "token ids" : "labels");
    SCOPED(m->be, fm_arena_get_mark(&m->be->arena, "step"), train_step(m, o, x0, y, step, loss));
}

/* The sampler's state after `step`: its sum is finite iff every element is (or the
 * sum overflows, which a state in [-1, 1] scale cannot do without something wrong). */
static fm_status finite_state(fm_backend *be, const fm_tensor *sum, const fm_tensor *x, int step)
{
    float total = 0; /* the plan backend computes nothing */
    TRY(sum_of(be, sum, x, &total));
    if (isfinite(total))
        return FM_OK;
    return fm_fail(be, FM_ERR_NUMERIC, "sampling step %d produced non-finite values (sum %g): "
                   "the weights or the guidance scale overflow float", step, (double)total);
}

/* v = v(x, t, y), with classifier-free guidance when asked. */
static fm_status velocity(fm_model *m, const fm_tensor *P, const fm_tensor *v, const fm_tensor *x,
                          const fm_tensor *t, const fm_tensor *y, const fm_tensor *yk,
                          const fm_tensor *vu, const fm_sample_opts *o)
{
    /* w = 1 is the conditional velocity itself (w vc + 0 vu = vc exactly for a finite
     * vu): the unconditional pass would be wasted. */
    const int cond = fm_config_conditional(&m->cfg);
    if (!o->guidance || !cond || o->cfg_scale == 1.0f)
        return fm_model_forward(m, FM_MODE_SAMPLE, P, v, x, t, cond ? y : NULL);
    TRY(fm_model_forward(m, FM_MODE_SAMPLE, P, vu, x, t, yk));
    TRY(fm_model_forward(m, FM_MODE_SAMPLE, P, v, x, t, y));
    /* v = vu + w (vc - vu) = w vc + (1 - w) vu */
    return run(m->be, (fm_call){.op = FM_OP_AXPBY_FWD, .t = {*v, *v, *vu},
                                .f = {o->cfg_scale, 1.0f - o->cfg_scale}});
}

static fm_status sample(fm_model *m, const fm_tensor *P, const fm_tensor *x, const fm_tensor *y_in,
                        const fm_sample_opts *o)
{
    fm_backend *be = m->be;
    const int N = (int)x->shape[0];
    fm_tensor t, v, v1, vu, xp, yk = {0}, y = {0}, sum;
    TRY(alloc(be, &sum, fm_tensor_1d(FM_F32, 1)));
    TRY(alloc(be, &t, fm_tensor_1d(FM_F32, N)));
    TRY(alloc(be, &v, *x));
    TRY(alloc(be, &vu, *x));
    if (o->heun) {
        TRY(alloc(be, &v1, *x));
        TRY(alloc(be, &xp, *x));
    }
    if (fm_config_conditional(&m->cfg)) {
        /* The "no condition" rows (label K, or the empty prompt) for unconditional
         * passes (and for y absent). */
        const int w = fm_config_cond_width(&m->cfg);
        int32_t none[256];
        fm_config_null_cond(&m->cfg, none);
        TRY(alloc(be, &yk, fm_tensor_1d(FM_I32, (int64_t)N * w)));
        for (int n = 0; n < N; n++) {
            fm_tensor row = fm_tensor_slice(yk, (int64_t)n * w, w);
            TRY(fm_upload(be, &row, none));
        }
        y = y_in && y_in->ndim ? *y_in : yk;
    }
    const double h = 1.0 / o->steps;
    for (int i = 0; i < o->steps; i++) {
        float ti = (float)(1.0 - (double)i / o->steps);
        TRY(fm_fill(be, &t, ti));
        TRY(velocity(m, P, &v, x, &t, &y, &yk, &vu, o));
        if (!o->heun) {
            /* Euler: x <- x - h v(x, t_i) */
            TRY(run(be, (fm_call){.op = FM_OP_AXPBY_FWD, .t = {*x, v, *x}, .f = {(float)-h, 1.0f}}));
        } else if (i == o->steps - 1) {
            /* Heun's last step is an Euler step (t_{i+1} = 0 would be wasted). */
            TRY(run(be, (fm_call){.op = FM_OP_AXPBY_FWD, .t = {*x, v, *x}, .f = {(float)-h, 1.0f}}));
        } else {
            /* xp = x - h v0;  x <- x - h/2 (v0 + v(xp, t_{i+1})) */
            TRY(run(be, (fm_call){.op = FM_OP_AXPBY_FWD, .t = {xp, v, *x}, .f = {(float)-h, 1.0f}}));
            TRY(fm_fill(be, &t, (float)(1.0 - (double)(i + 1) / o->steps)));
            TRY(velocity(m, P, &v1, &xp, &t, &y, &yk, &vu, o));
            TRY(run(be, (fm_call){.op = FM_OP_AXPBY_FWD, .t = {v, v, v1}, .f = {1.0f, 1.0f}}));
            TRY(run(be, (fm_call){.op = FM_OP_AXPBY_FWD, .t = {*x, v, *x}, .f = {(float)(-h / 2), 1.0f}}));
        }
        TRY(finite_state(be, &sum, x, i + 1));
        if (o->on_step)
            TRY(o->on_step(o->user, i + 1, x));
    }
    return FM_OK;
}

fm_status fm_sample(fm_model *m, const fm_tensor *params, const fm_tensor *x, const fm_tensor *y,
                    const fm_sample_opts *o)
{
    if (!m->arch->velocity)
        return fm_fail(m->be, FM_ERR_ARG, "sample: a %s is not a velocity model", m->arch->name);
    if (o->steps < 1 || o->steps > 100000)
        return fm_fail(m->be, FM_ERR_ARG, "sample: steps %d outside 1..100000", o->steps);
    /* Every forward of the sampler is a sampling one (no backward follows): it frees
     * activations module by module even in a model created for training. */
    fm_model_release(m);
    fm_arena_mark mark = fm_arena_get_mark(&m->be->arena, "sample");
    fm_status s = sample(m, params, x, y, o);
    fm_arena_reset(&m->be->arena, mark);
    return s;
}
