/* The MNIST classifier of classifier.h as dispatch-table calls. */
#include "classifier.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "philox.h"

enum { C1, C2, C3, FC1, FC2 }; /* layer k: weight = param 2k, bias = param 2k + 1 */

/* Activations of one forward, kept for backward. */
typedef struct cls_act {
    fm_tensor x;      /* [N,1,28,28] */
    fm_tensor a1, h1; /* [N,16,28,28] pre- and post-SiLU */
    fm_tensor a2, h2; /* [N,32,14,14] */
    fm_tensor a3, h3; /* [N,64,7,7] */
    fm_tensor z4, f;  /* [N,128] */
    fm_tensor logits; /* [N,10] */
} cls_act;

fm_cls_opts fm_cls_defaults(void)
{
    fm_cls_opts o = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0};
    return o;
}

static void add(fm_param *p, int *np, int64_t *nf, const char *name, int ndim, int64_t d0,
                int64_t d1, int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    fm_param *q = &p[(*np)++];
    snprintf(q->name, sizeof q->name, "%s", name);
    q->t = fm_tensor_desc(FM_F32, ndim, shape);
    q->offset = *nf;
    *nf += fm_tensor_numel(&q->t);
}

int fm_classifier_layout(fm_param *p, int64_t *nfloats)
{
    int np = 0;
    int64_t nf = 0;
    add(p, &np, &nf, "c1.weight", 4, 16, 1, 3, 3);
    add(p, &np, &nf, "c1.bias", 1, 16, 1, 1, 1);
    add(p, &np, &nf, "c2.weight", 4, 32, 16, 3, 3);
    add(p, &np, &nf, "c2.bias", 1, 32, 1, 1, 1);
    add(p, &np, &nf, "c3.weight", 4, 64, 32, 3, 3);
    add(p, &np, &nf, "c3.bias", 1, 64, 1, 1, 1);
    add(p, &np, &nf, "fc1.weight", 2, FM_CLS_FEATURES, 64 * 7 * 7, 1, 1);
    add(p, &np, &nf, "fc1.bias", 1, FM_CLS_FEATURES, 1, 1, 1);
    add(p, &np, &nf, "fc2.weight", 2, FM_CLS_CLASSES, FM_CLS_FEATURES, 1, 1);
    add(p, &np, &nf, "fc2.bias", 1, FM_CLS_CLASSES, 1, 1, 1);
    *nfloats = nf;
    return np;
}

int64_t fm_classifier_param_count(void)
{
    fm_param p[FM_CLS_NPARAMS];
    int64_t nf;
    fm_classifier_layout(p, &nf);
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
    size_t state = (mode == FM_MODE_TRAIN ? 4 : 1) * round64(P);
    return state + io + (mode == FM_MODE_TRAIN ? 2 : 1) * acts + round64(N * 44) + (64 << 10);
}

fm_status fm_classifier_create(fm_classifier *c, fm_backend *be, int batch, fm_mode mode)
{
    memset(c, 0, sizeof *c);
    if (batch < 1 || batch > FM_CLS_MAX_BATCH)
        return fm_fail(be, FM_ERR_ARG, "classifier: batch %d outside 1..%d", batch,
                       FM_CLS_MAX_BATCH);
    c->be = be;
    c->mode = mode;
    c->batch = batch;
    c->nparams = fm_classifier_layout(c->params, &c->nfloats);
    fm_tensor *blocks[] = {&c->flat, &c->grad, &c->adam_m, &c->adam_v};
    for (int i = 0; i < (mode == FM_MODE_TRAIN ? 4 : 1); i++) {
        *blocks[i] = fm_tensor_1d(FM_F32, c->nfloats);
        FM_TRY(fm_tensor_alloc(be, blocks[i]));
        FM_TRY(fm_fill(be, blocks[i], 0.0f));
    }
    for (int i = 0; i < c->nparams; i++) {
        fm_tensor t = c->params[i].t;
        t.base = c->flat.base;
        t.off = c->flat.off + (size_t)c->params[i].offset * sizeof(float);
        c->params[i].t = t;
    }
    c->persistent = fm_arena_get_mark(&be->arena, "classifier");
    return FM_OK;
}

/* Parameter i's view inside a [P] block (flat, grad). */
static fm_tensor view(const fm_classifier *c, const fm_tensor *block, int i)
{
    fm_tensor t = c->params[i].t;
    t.base = block->base;
    t.off = block->off + (size_t)c->params[i].offset * sizeof(float);
    return t;
}

fm_status fm_classifier_init(fm_classifier *c, uint64_t seed)
{
    float buf[1024];
    for (int i = 0; i < c->nparams; i++) {
        const fm_tensor *w = &c->params[i & ~1].t; /* the layer's weight gives fan_in */
        float bound = 1.0f / sqrtf((float)(fm_tensor_numel(w) / w->shape[0]));
        int64_t n = fm_tensor_numel(&c->params[i].t);
        for (int64_t s = 0; s < n; s += 1024) {
            int64_t k = n - s < 1024 ? n - s : 1024;
            for (int64_t j = 0; j < k; j++)
                buf[j] =
                    bound * (2.0f * fm_philox_uniform(seed, (uint64_t)(s + j), (uint32_t)i) - 1.0f);
            fm_tensor part = fm_tensor_1d(FM_F32, k);
            part.base = c->params[i].t.base;
            part.off = c->params[i].t.off + (size_t)s * sizeof(float);
            FM_TRY(fm_upload(c->be, &part, buf));
        }
    }
    if (c->mode == FM_MODE_TRAIN) {
        FM_TRY(fm_fill(c->be, &c->adam_m, 0.0f));
        FM_TRY(fm_fill(c->be, &c->adam_v, 0.0f));
    }
    return FM_OK;
}

/* ---- forward ------------------------------------------------------------------------ */

static fm_status run(fm_backend *be, fm_call call)
{
    return fm_run(be, &call);
}

static fm_status alloc(fm_backend *be, fm_tensor *t, fm_tensor desc)
{
    *t = desc;
    return fm_tensor_alloc(be, t);
}

/* out = SiLU(conv_k(in)), a = the conv's output. */
static fm_status conv_silu(fm_classifier *c, int k, int stride, const fm_tensor *in, fm_tensor *a,
                           fm_tensor *h, int64_t co, int64_t hw)
{
    fm_backend *be = c->be;
    FM_TRY(alloc(be, a, fm_tensor_4d(FM_F32, in->shape[0], co, hw, hw)));
    FM_TRY(alloc(be, h, *a));
    FM_TRY(run(be, (fm_call){.op = FM_OP_CONV2D_FWD,
                             .t = {*a, *in, c->params[2 * k].t, c->params[2 * k + 1].t},
                             .i = {stride, 1}}));
    return run(be, (fm_call){.op = FM_OP_SILU_FWD, .t = {*h, *a}});
}

static fm_tensor flat2(const fm_tensor *t)
{
    int64_t shape[2] = {t->shape[0], fm_tensor_numel(t) / t->shape[0]};
    return fm_tensor_reshape(*t, 2, shape);
}

/* The whole forward into r (logits into r->logits when it is present already). */
static fm_status forward(fm_classifier *c, cls_act *r)
{
    fm_backend *be = c->be;
    const int64_t N = r->x.shape[0];
    FM_TRY(conv_silu(c, C1, 1, &r->x, &r->a1, &r->h1, 16, 28));
    FM_TRY(conv_silu(c, C2, 2, &r->h1, &r->a2, &r->h2, 32, 14));
    FM_TRY(conv_silu(c, C3, 2, &r->h2, &r->a3, &r->h3, 64, 7));
    FM_TRY(alloc(be, &r->z4, fm_tensor_2d(FM_F32, N, FM_CLS_FEATURES)));
    FM_TRY(alloc(be, &r->f, r->z4));
    fm_tensor h3 = flat2(&r->h3);
    FM_TRY(run(be, (fm_call){.op = FM_OP_LINEAR_FWD,
                             .t = {r->z4, h3, c->params[2 * FC1].t, c->params[2 * FC1 + 1].t}}));
    FM_TRY(run(be, (fm_call){.op = FM_OP_SILU_FWD, .t = {r->f, r->z4}}));
    if (!fm_tensor_present(&r->logits))
        FM_TRY(alloc(be, &r->logits, fm_tensor_2d(FM_F32, N, FM_CLS_CLASSES)));
    return run(be,
               (fm_call){.op = FM_OP_LINEAR_FWD,
                         .t = {r->logits, r->f, c->params[2 * FC2].t, c->params[2 * FC2 + 1].t}});
}

static fm_status check_x(fm_classifier *c, const fm_tensor *x)
{
    if (x->ndim != 4 || x->shape[1] != 1 || x->shape[2] != FM_CLS_IMAGE ||
        x->shape[3] != FM_CLS_IMAGE || x->shape[0] < 1 || x->shape[0] > c->batch)
        return fm_fail(c->be, FM_ERR_ARG, "classifier: input must be [N,1,28,28] with 1 <= N <= %d",
                       c->batch);
    return FM_OK;
}

static fm_status forward_out(fm_classifier *c, const fm_tensor *x, const fm_tensor *features,
                             const fm_tensor *logits)
{
    cls_act r = {.x = *x, .logits = *logits};
    FM_TRY(forward(c, &r));
    return features ? fm_copy(c->be, features, &r.f) : FM_OK;
}

fm_status fm_classifier_forward(fm_classifier *c, const fm_tensor *x, const fm_tensor *features,
                                const fm_tensor *logits)
{
    FM_TRY(check_x(c, x));
    fm_arena_mark mark = fm_arena_get_mark(&c->be->arena, "classifier forward");
    fm_status s = forward_out(c, x, features, logits);
    fm_arena_reset(&c->be->arena, mark);
    return s;
}

/* ---- backward and the training step ------------------------------------------------- */

/* din = dSiLU(dh, a) followed by conv_k's backward into dprev (absent for c1). */
static fm_status conv_silu_bwd(fm_classifier *c, int k, int stride, const fm_tensor *dh,
                               const fm_tensor *a, const fm_tensor *in, const fm_tensor *dprev)
{
    fm_backend *be = c->be;
    fm_tensor da;
    FM_TRY(alloc(be, &da, *a));
    FM_TRY(run(be, (fm_call){.op = FM_OP_SILU_BWD, .t = {da, *dh, *a}}));
    return run(be, (fm_call){.op = FM_OP_CONV2D_BWD,
                             .t = {dprev ? *dprev : (fm_tensor){0}, view(c, &c->grad, 2 * k),
                                   view(c, &c->grad, 2 * k + 1), da, *in, c->params[2 * k].t},
                             .i = {stride, 1}});
}

/* Linear layer k's backward: dW, db += ; din = dout W. */
static fm_status linear_bwd(fm_classifier *c, int k, const fm_tensor *din, const fm_tensor *dout,
                            const fm_tensor *in)
{
    return run(c->be, (fm_call){.op = FM_OP_LINEAR_BWD,
                                .t = {*din, view(c, &c->grad, 2 * k), view(c, &c->grad, 2 * k + 1),
                                      *dout, *in, c->params[2 * k].t}});
}

/* Gradients of the mean cross-entropy into c->grad (zeroed here) from dlogits. */
static fm_status backward(fm_classifier *c, const cls_act *r, const fm_tensor *dlogits)
{
    fm_backend *be = c->be;
    fm_tensor df, dz4, dh3, dh2, dh1;
    FM_TRY(fm_fill(be, &c->grad, 0.0f));
    FM_TRY(alloc(be, &df, r->f));
    FM_TRY(linear_bwd(c, FC2, &df, dlogits, &r->f));
    FM_TRY(alloc(be, &dz4, r->z4));
    FM_TRY(run(be, (fm_call){.op = FM_OP_SILU_BWD, .t = {dz4, df, r->z4}}));
    FM_TRY(alloc(be, &dh3, r->h3));
    fm_tensor dh3f = flat2(&dh3), h3f = flat2(&r->h3);
    FM_TRY(linear_bwd(c, FC1, &dh3f, &dz4, &h3f));
    FM_TRY(alloc(be, &dh2, r->h2));
    FM_TRY(conv_silu_bwd(c, C3, 2, &dh3, &r->a3, &r->h2, &dh2));
    FM_TRY(alloc(be, &dh1, r->h1));
    FM_TRY(conv_silu_bwd(c, C2, 2, &dh2, &r->a2, &r->h1, &dh1));
    return conv_silu_bwd(c, C1, 1, &dh1, &r->a1, &r->x, NULL);
}

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

static fm_status adamw(fm_classifier *c, const fm_cls_opts *o, uint64_t step)
{
    double bc1 = 1.0 - pow((double)o->beta1, (double)step);
    double bc2 = 1.0 - pow((double)o->beta2, (double)step);
    return run(c->be, (fm_call){.op = FM_OP_ADAMW,
                                .t = {c->flat, c->adam_m, c->adam_v, c->grad},
                                .f = {o->lr, o->beta1, o->beta2, o->eps, o->weight_decay,
                                      (float)bc1, (float)bc2}});
}

static fm_status train_step(fm_classifier *c, const fm_cls_opts *o, const fm_tensor *x,
                            const int32_t *labels, uint64_t step, float *loss, int *correct)
{
    fm_backend *be = c->be;
    const int N = (int)x->shape[0];
    cls_act r = {.x = *x};
    fm_tensor y, lt, probs, dlogits;
    FM_TRY(alloc(be, &y, fm_tensor_1d(FM_I32, N)));
    FM_TRY(fm_upload(be, &y, labels));
    FM_TRY(forward(c, &r));
    FM_TRY(alloc(be, &lt, fm_tensor_1d(FM_F32, 1)));
    FM_TRY(alloc(be, &probs, r.logits));
    FM_TRY(alloc(be, &dlogits, r.logits));
    FM_TRY(run(be, (fm_call){.op = FM_OP_SOFTMAX_XENT_FWD, .t = {lt, probs, r.logits, y}}));
    *loss = 0; /* the plan backend computes nothing */
    FM_TRY(fm_download(be, loss, &lt));
    if (!isfinite(*loss))
        return fm_fail(be, FM_ERR_NUMERIC, "classifier step %llu: non-finite loss (%g)",
                       (unsigned long long)step, (double)*loss);
    if (correct) {
        float host[FM_CLS_MAX_BATCH * FM_CLS_CLASSES];
        FM_TRY(fm_download(be, host, &r.logits));
        *correct = fm_classifier_count_correct(host, labels, N);
    }
    FM_TRY(run(be, (fm_call){.op = FM_OP_SOFTMAX_XENT_BWD, .t = {dlogits, probs, y}, .f = {1.0f}}));
    FM_TRY(backward(c, &r, &dlogits));
    return adamw(c, o, step);
}

fm_status fm_classifier_train_step(fm_classifier *c, const fm_cls_opts *o, const fm_tensor *x,
                                   const int32_t *labels, uint64_t step, float *loss, int *correct)
{
    if (c->mode != FM_MODE_TRAIN)
        return fm_fail(c->be, FM_ERR_ARG, "classifier train step: created for inference");
    if (step < 1)
        return fm_fail(c->be, FM_ERR_ARG, "classifier train step: step counts from 1");
    FM_TRY(check_x(c, x));
    for (int64_t i = 0; i < x->shape[0]; i++)
        if (labels[i] < 0 || labels[i] >= FM_CLS_CLASSES)
            return fm_fail(c->be, FM_ERR_ARG, "classifier: label %d of item %lld outside 0..9",
                           (int)labels[i], (long long)i);
    fm_arena_mark mark = fm_arena_get_mark(&c->be->arena, "classifier step");
    fm_status s = train_step(c, o, x, labels, step, loss, correct);
    fm_arena_reset(&c->be->arena, mark);
    return s;
}
