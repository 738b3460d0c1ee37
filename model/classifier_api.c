/* The classifier's API (classifier.h) over its architecture (classifier.c): a model
 * of the "classifier" preset, its forward with the features, and the cross-entropy
 * training step. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "classifier.h"

fm_cls_opts fm_cls_defaults(void)
{
    fm_cls_opts o = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0};
    return o;
}

/* ---- the classifier's API ----------------------------------------------------------- */

fm_status fm_classifier_config(fm_config *cfg, int channels, int image, int classes, char *msg,
                               size_t len)
{
    fm_config_preset(cfg, "classifier");
    cfg->in_channels = channels;
    cfg->image = image;
    cfg->num_classes = classes;
    return fm_config_validate(cfg, msg, len);
}

/* cfg, or the preset when NULL. */
static fm_config config(const fm_config *cfg)
{
    fm_config c;
    if (cfg)
        return *cfg;
    fm_config_preset(&c, "classifier");
    return c;
}

int64_t fm_classifier_param_count(const fm_config *cfg)
{
    fm_config c = config(cfg);
    int64_t nf = 0;
    fm_model_layout(&c, NULL, 0, &nf);
    return nf;
}

static size_t round64(size_t b)
{
    return (b + 63) / 64 * 64;
}

/* Every allocation is bounded by rounding up; a forward keeps 10 activations, a
 * training step about as many again for the gradients plus labels, loss, probs.
 * Floats per image: x C S^2, a1 h1 2 16 S^2, a2 h2 2 32 (S/2)^2, a3 h3 2 64 (S/4)^2,
 * z4 f 2 128, logits K. */
size_t fm_classifier_arena_bytes(const fm_config *cfg, int batch, fm_mode mode)
{
    const fm_config c = config(cfg);
    const size_t N = (size_t)(batch < 1 ? 1 : batch), S = (size_t)c.image;
    const size_t K = (size_t)fm_classifier_classes(&c), x = (size_t)c.in_channels * S * S;
    size_t P = (size_t)fm_classifier_param_count(&c) * 4;
    size_t per = (x + 2 * 16 * S * S + 2 * 32 * (S / 2) * (S / 2) + 2 * 64 * (S / 4) * (S / 4) +
                  2 * FM_CLS_FEATURES + K) * 4;
    size_t acts = round64(N * per) + 32 * 64;
    size_t io = round64(N * x * 4) + round64(N * FM_CLS_FEATURES * 4) + round64(N * K * 4);
    size_t state = (mode == FM_MODE_TRAIN ? 5 : 1) * round64(P); /* train: + grads, m, v, EMA */
    /* train: labels, loss, and the step's logits, probs and dlogits */
    size_t step = round64(N * 44) + 3 * round64(N * K * 4);
    return state + io + (mode == FM_MODE_TRAIN ? 2 : 1) * acts + step + (64 << 10);
}

fm_status fm_classifier_create(fm_model *c, fm_backend *be, const fm_config *cfg, int batch,
                               fm_mode mode)
{
    if (batch < 1 || batch > FM_CLS_MAX_BATCH)
        return fm_fail(be, FM_ERR_ARG, "classifier: batch %d outside 1..%d", batch,
                       FM_CLS_MAX_BATCH);
    fm_config k = config(cfg);
    const fm_arch *a = fm_arch_by_id(k.arch);
    if (!a || a != fm_arch_find("classifier"))
        return fm_fail(be, FM_ERR_ARG, "classifier: the config is of arch %s",
                       a ? a->name : "unknown");
    return fm_model_create(c, be, &k, mode, batch);
}

fm_status fm_classifier_init(fm_model *c, uint64_t seed)
{
    return fm_model_init(c, seed);
}

fm_status fm_classifier_forward(fm_model *c, const fm_tensor *x, const fm_tensor *features,
                                const fm_tensor *logits)
{
    fm_classifier_want_features(c, features);
    fm_status s = fm_model_forward(c, FM_MODE_SAMPLE, &c->flat, logits, x, NULL, NULL);
    fm_classifier_want_features(c, NULL);
    return s;
}

/* ---- the training step ---------------------------------------------------------------- */

int fm_classifier_count_correct(const float *logits, const int32_t *labels, int n, int K)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * (size_t)K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (l[k] > l[best])
                best = k;
        ok += best == labels[i];
    }
    return ok;
}

static fm_status adamw(fm_model *c, const fm_cls_opts *o, uint64_t step)
{
    double bc1 = 1.0 - pow((double)o->beta1, (double)step);
    double bc2 = 1.0 - pow((double)o->beta2, (double)step);
    return fm_do(c->be, (fm_call){.op = FM_OP_ADAMW,
                                  .t = {c->flat, c->adam_m, c->adam_v, c->grad},
                                  .f = {o->lr, o->beta1, o->beta2, o->eps, o->weight_decay,
                                        (float)bc1, (float)bc2}});
}

/* How many rows of the device logits[N,K] have their argmax at the label: downloaded
 * ROWS rows at a time into a host block of the stack (the library never allocates;
 * 16 rows of up to 256 classes are 16 KiB). */
#define ROWS 16
static fm_status count_correct(fm_model *c, const fm_tensor *logits, const int32_t *labels,
                               int *correct)
{
    float host[ROWS * FM_CLS_MAX_CLASSES];
    const int N = (int)logits->shape[0], K = (int)logits->shape[1];
    *correct = 0;
    for (int s = 0; s < N; s += ROWS) {
        const int n = N - s < ROWS ? N - s : ROWS;
        fm_tensor part = fm_tensor_slice(*logits, s, n);
        FM_TRY(fm_download(c->be, host, &part));
        *correct += fm_classifier_count_correct(host, labels + s, n, K);
    }
    return FM_OK;
}
#undef ROWS

static fm_status train_step(fm_model *c, const fm_cls_opts *o, const fm_tensor *x,
                            const int32_t *labels, uint64_t step, float *loss, int *correct)
{
    fm_backend *be = c->be;
    const int N = (int)x->shape[0];
    fm_tensor y, logits, lt, probs, dlogits;
    FM_TRY(fm_new_like(be, &y, fm_tensor_1d(FM_I32, N)));
    FM_TRY(fm_upload(be, &y, labels));
    FM_TRY(fm_new2(be, &logits, N, fm_classifier_classes(&c->cfg)));
    FM_TRY(fm_model_forward(c, FM_MODE_TRAIN, &c->flat, &logits, x, NULL, NULL));
    FM_TRY(fm_new_like(be, &lt, fm_tensor_1d(FM_F32, 1)));
    FM_TRY(fm_new_like(be, &probs, logits));
    FM_TRY(fm_new_like(be, &dlogits, logits));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_SOFTMAX_XENT_FWD, .t = {lt, probs, logits, y}}));
    *loss = 0; /* the plan backend computes nothing */
    FM_TRY(fm_download(be, loss, &lt));
    if (!isfinite(*loss))
        return fm_fail(be, FM_ERR_NUMERIC, "classifier step %llu: non-finite loss (%g)",
                       (unsigned long long)step, (double)*loss);
    if (correct)
        FM_TRY(count_correct(c, &logits, labels, correct));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_SOFTMAX_XENT_BWD, .t = {dlogits, probs, y}, .f = {1.0f}}));
    FM_TRY(fm_fill(be, &c->grad, 0.0f));
    FM_TRY(fm_model_backward(c, &dlogits));
    return adamw(c, o, step);
}

fm_status fm_classifier_train_step(fm_model *c, const fm_cls_opts *o, const fm_tensor *x,
                                   const int32_t *labels, uint64_t step, float *loss, int *correct)
{
    if (c->mode != FM_MODE_TRAIN)
        return fm_fail(c->be, FM_ERR_ARG, "classifier train step: created for inference");
    if (step < 1)
        return fm_fail(c->be, FM_ERR_ARG, "classifier train step: step counts from 1");
    const int K = fm_classifier_classes(&c->cfg), C = c->cfg.in_channels, S = c->cfg.image;
    if (x->ndim != 4 || x->shape[0] < 1 || x->shape[0] > c->batch)
        return fm_fail(c->be, FM_ERR_ARG,
                       "classifier: input must be [N,%d,%d,%d] with 1 <= N <= %d", C, S, S,
                       c->batch);
    for (int64_t i = 0; i < x->shape[0]; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return fm_fail(c->be, FM_ERR_ARG, "classifier: label %d of item %lld outside 0..%d",
                           (int)labels[i], (long long)i, K - 1);
    fm_arena_mark mark = fm_arena_get_mark(&c->be->arena, "classifier step");
    fm_status s = train_step(c, o, x, labels, step, loss, correct);
    fm_arena_reset(&c->be->arena, mark);
    return s;
}
