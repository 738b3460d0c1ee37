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

static fm_config config(void)
{
    fm_config c;
    fm_config_preset(&c, "classifier");
    return c;
}

int64_t fm_classifier_param_count(void)
{
    fm_config c = config();
    int64_t nf = 0;
    fm_model_layout(&c, NULL, 0, &nf);
    return nf;
}

static size_t round64(size_t b)
{
    return (b + 63) / 64 * 64;
}

/* Every allocation is bounded by rounding up; a forward keeps 10 activations, a
 * training step about as many again for the gradients plus labels, loss, probs. */
size_t fm_classifier_arena_bytes(int batch, fm_mode mode)
{
    size_t N = (size_t)(batch < 1 ? 1 : batch);
    size_t P = (size_t)fm_classifier_param_count() * 4;
    size_t per = (784 + 2 * 16 * 784 + 2 * 32 * 196 + 2 * 64 * 49 + 2 * 128 + 10) * 4;
    size_t acts = round64(N * per) + 32 * 64;
    size_t io = round64(N * 784 * 4) + round64(N * 128 * 4) + round64(N * 10 * 4);
    size_t state = (mode == FM_MODE_TRAIN ? 5 : 1) * round64(P); /* train: + grads, m, v, EMA */
    return state + io + (mode == FM_MODE_TRAIN ? 2 : 1) * acts + round64(N * 44) + (64 << 10);
}

fm_status fm_classifier_create(fm_model *c, fm_backend *be, int batch, fm_mode mode)
{
    if (batch < 1 || batch > FM_CLS_MAX_BATCH)
        return fm_fail(be, FM_ERR_ARG, "classifier: batch %d outside 1..%d", batch,
                       FM_CLS_MAX_BATCH);
    fm_config cfg = config();
    return fm_model_create(c, be, &cfg, mode, batch);
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

int fm_classifier_count_correct(const float *logits, const int32_t *labels, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * FM_CLS_CLASSES;
        int best = 0;
        for (int k = 1; k < FM_CLS_CLASSES; k++)
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

static fm_status train_step(fm_model *c, const fm_cls_opts *o, const fm_tensor *x,
                            const int32_t *labels, uint64_t step, float *loss, int *correct)
{
    fm_backend *be = c->be;
    const int N = (int)x->shape[0];
    fm_tensor y, logits, lt, probs, dlogits;
    FM_TRY(fm_new_like(be, &y, fm_tensor_1d(FM_I32, N)));
    FM_TRY(fm_upload(be, &y, labels));
    FM_TRY(fm_new2(be, &logits, N, FM_CLS_CLASSES));
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
    if (correct) {
        float host[FM_CLS_MAX_BATCH * FM_CLS_CLASSES];
        FM_TRY(fm_download(be, host, &logits));
        *correct = fm_classifier_count_correct(host, labels, N);
    }
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
    if (x->ndim != 4 || x->shape[0] < 1 || x->shape[0] > c->batch)
        return fm_fail(c->be, FM_ERR_ARG, "classifier: input must be [N,1,28,28] with 1 <= N <= %d",
                       c->batch);
    for (int64_t i = 0; i < x->shape[0]; i++)
        if (labels[i] < 0 || labels[i] >= FM_CLS_CLASSES)
            return fm_fail(c->be, FM_ERR_ARG, "classifier: label %d of item %lld outside 0..9",
                           (int)labels[i], (long long)i);
    fm_arena_mark mark = fm_arena_get_mark(&c->be->arena, "classifier step");
    fm_status s = train_step(c, o, x, labels, step, loss, correct);
    fm_arena_reset(&c->be->arena, mark);
    return s;
}
