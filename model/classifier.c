/* The classifier of classifier.h as an architecture (fm_arch_classifier) whose
 * forward gives the logits; its API and training step are classifier_api.c's. The
 * shapes below are those of one config: C in_channels, S image, K classes. */
#include "classifier.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "build.h"

enum { C1, C2, C3, FC1, FC2 }; /* layer k: weight = param 2k, bias = param 2k + 1 */

/* The classifier's state in the model: the activations of one forward (backward
 * reads them) and where fm_classifier_forward wants the features. */
typedef struct cls_state {
    fm_tensor a1, h1;   /* [N,16,S,S] pre- and post-SiLU */
    fm_tensor a2, h2;   /* [N,32,S/2,S/2] */
    fm_tensor a3, h3;   /* [N,64,S/4,S/4] */
    fm_tensor z4, f;    /* [N,128] */
    fm_tensor features; /* f is copied here when present */
} cls_state;
_Static_assert(sizeof(cls_state) <= FM_MODEL_STATE_BYTES, "cls_state outgrew FM_MODEL_STATE_BYTES");

static cls_state *state(fm_model *m) { return FM_MODEL_STATE(m, cls_state); }

/* ---- the architecture ----------------------------------------------------------------- */

int fm_classifier_classes(const fm_config *cfg)
{
    /* num_classes 0: a file from before classifiers recorded K, all MNIST digits. */
    return cfg->num_classes ? cfg->num_classes : FM_CLS_DEFAULT_CLASSES;
}

/* fc1's inputs: h3 flattened, 64 (S/4)^2. */
static int flat_in(const fm_config *c)
{
    return 64 * (c->image / 4) * (c->image / 4);
}

static void layout(const fm_config *cfg, fm_layout *b)
{
    fm_lay_conv(b, "", "c1", 16, cfg->in_channels, 3);
    fm_lay_conv(b, "", "c2", 32, 16, 3);
    fm_lay_conv(b, "", "c3", 64, 32, 3);
    fm_lay_linear(b, "", "fc1", FM_CLS_FEATURES, flat_in(cfg));
    fm_lay_linear(b, "", "fc2", fm_classifier_classes(cfg), FM_CLS_FEATURES);
}

#define BAD(...) return (snprintf(msg, len, __VA_ARGS__), FM_ERR_ARG)

/* C 1 or 3; S 8..256 and a multiple of 4 (two stride-2 convolutions halve it twice
 * exactly); K 2..256 (a label is one byte), or 0 for the default 10. */
static fm_status check(const fm_config *c, char *msg, size_t len)
{
    if (c->in_channels != 1 && c->in_channels != 3)
        BAD("in_channels %d: the classifier takes 1 (grey) or 3 (RGB)", c->in_channels);
    if (c->image < FM_CLS_MIN_IMAGE || c->image > FM_CLS_MAX_IMAGE || c->image % 4 != 0)
        BAD("image %d: the classifier takes %d..%d, a multiple of 4", c->image, FM_CLS_MIN_IMAGE,
            FM_CLS_MAX_IMAGE);
    if (c->num_classes == 1 || c->num_classes > FM_CLS_MAX_CLASSES)
        BAD("num_classes %d: the classifier tells 2..%d classes apart", c->num_classes,
            FM_CLS_MAX_CLASSES);
    return FM_OK;
}

#undef BAD

static int out_shape(const fm_config *c, int64_t n, int64_t shape[4])
{
    shape[0] = n;
    shape[1] = fm_classifier_classes(c);
    return 2;
}

/* U(-1/sqrt(fan_in), 1/sqrt(fan_in)); a bias takes its layer's weight's fan_in. */
static fm_init init(const fm_model *m, int i)
{
    const fm_tensor *w = &m->params[i & ~1].t;
    return (fm_init){FM_INIT_UNIFORM, 1.0f / sqrtf((float)(fm_tensor_numel(w) / w->shape[0]))};
}

static fm_status create(fm_model *m)
{
    memset(state(m), 0, sizeof(cls_state));
    return FM_OK;
}

/* Convolutions 2 Cin Cout 9 Ho Wo, linears 2 In Out (the preset: 0.0169). */
static double gflop(const fm_config *c)
{
    const double s1 = (double)c->image * c->image, s2 = s1 / 4, s3 = s1 / 16;
    return (2.0 * c->in_channels * 16 * 9 * s1 + 2.0 * 16 * 32 * 9 * s2 + 2.0 * 32 * 64 * 9 * s3 +
            2.0 * flat_in(c) * FM_CLS_FEATURES + 2.0 * FM_CLS_FEATURES * fm_classifier_classes(c)) /
           1e9;
}

/* ---- forward ------------------------------------------------------------------------ */

/* h = SiLU(a), a = conv_k(in) with stride; a, h [N, co, hw, hw]. */
static fm_status conv_silu(fm_model *m, const fm_tensor *P, int k, int stride, const fm_tensor *in,
                           fm_tensor *a, fm_tensor *h, int64_t co, int64_t hw)
{
    FM_TRY(fm_new4(m->be, a, in->shape[0], co, hw, hw));
    FM_TRY(fm_new_like(m->be, h, *a));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_CONV2D_FWD,
                                  .t = {*a, *in, fm_w(m, P, 2 * k), fm_w(m, P, 2 * k + 1)},
                                  .i = {stride, 1}}));
    return fm_do(m->be, (fm_call){.op = FM_OP_SILU_FWD, .t = {*h, *a}});
}

/* [N, C, H, W] as [N, C H W] (a view). */
static fm_tensor flat2(const fm_tensor *t)
{
    int64_t shape[2] = {t->shape[0], fm_tensor_numel(t) / t->shape[0]};
    return fm_tensor_reshape(*t, 2, shape);
}

static fm_status forward(fm_model *m, int keep, const fm_tensor *P, const fm_tensor *logits,
                         const fm_tensor *x, const fm_tensor *t, const fm_tensor *y)
{
    (void)keep, (void)t, (void)y;
    cls_state *r = state(m);
    const int64_t N = x->shape[0], S = m->cfg.image;
    FM_TRY(conv_silu(m, P, C1, 1, x, &r->a1, &r->h1, 16, S));
    FM_TRY(conv_silu(m, P, C2, 2, &r->h1, &r->a2, &r->h2, 32, S / 2));
    FM_TRY(conv_silu(m, P, C3, 2, &r->h2, &r->a3, &r->h3, 64, S / 4));
    FM_TRY(fm_new2(m->be, &r->z4, N, FM_CLS_FEATURES));
    FM_TRY(fm_new_like(m->be, &r->f, r->z4));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_LINEAR_FWD,
                                  .t = {r->z4, flat2(&r->h3), fm_w(m, P, 2 * FC1),
                                        fm_w(m, P, 2 * FC1 + 1)}}));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_SILU_FWD, .t = {r->f, r->z4}}));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_LINEAR_FWD,
                                  .t = {*logits, r->f, fm_w(m, P, 2 * FC2), fm_w(m, P, 2 * FC2 + 1)}}));
    return fm_tensor_present(&r->features) ? fm_copy(m->be, &r->features, &r->f) : FM_OK;
}

/* ---- backward ----------------------------------------------------------------------- */

/* da = dSiLU(dh, a), then conv_k's backward into dprev (absent for c1). */
static fm_status conv_silu_bwd(fm_model *m, int k, int stride, const fm_tensor *dh,
                               const fm_tensor *a, const fm_tensor *in, const fm_tensor *dprev)
{
    fm_tensor da;
    FM_TRY(fm_new_like(m->be, &da, *a));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_SILU_BWD, .t = {da, *dh, *a}}));
    return fm_do(m->be, (fm_call){.op = FM_OP_CONV2D_BWD,
                                  .t = {dprev ? *dprev : (fm_tensor){0}, fm_g(m, 2 * k),
                                        fm_g(m, 2 * k + 1), da, *in, fm_w(m, &m->P, 2 * k)},
                                  .i = {stride, 1}});
}

/* Linear layer k's backward: dW, db += ; din = dout W. */
static fm_status linear_bwd(fm_model *m, int k, const fm_tensor *din, const fm_tensor *dout,
                            const fm_tensor *in)
{
    return fm_do(m->be, (fm_call){.op = FM_OP_LINEAR_BWD,
                                  .t = {*din, fm_g(m, 2 * k), fm_g(m, 2 * k + 1), *dout, *in,
                                        fm_w(m, &m->P, 2 * k)}});
}

/* Gradients into m->grad from dlogits. */
static fm_status backward(fm_model *m, const fm_tensor *dlogits)
{
    const cls_state *r = state(m);
    fm_tensor df, dz4, dh3, dh2, dh1;
    FM_TRY(fm_new_like(m->be, &df, r->f));
    FM_TRY(linear_bwd(m, FC2, &df, dlogits, &r->f));
    FM_TRY(fm_new_like(m->be, &dz4, r->z4));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_SILU_BWD, .t = {dz4, df, r->z4}}));
    FM_TRY(fm_new_like(m->be, &dh3, r->h3));
    fm_tensor dh3f = flat2(&dh3), h3f = flat2(&r->h3);
    FM_TRY(linear_bwd(m, FC1, &dh3f, &dz4, &h3f));
    FM_TRY(fm_new_like(m->be, &dh2, r->h2));
    FM_TRY(conv_silu_bwd(m, C3, 2, &dh3, &r->a3, &r->h2, &dh2));
    FM_TRY(fm_new_like(m->be, &dh1, r->h1));
    FM_TRY(conv_silu_bwd(m, C2, 2, &dh2, &r->a2, &r->h1, &dh1));
    return conv_silu_bwd(m, C1, 1, &dh1, &r->a1, &m->x, NULL);
}

static const fm_preset presets[] = {
    {"classifier", {.in_channels = 1, .image = FM_CLS_DEFAULT_IMAGE}},
    {NULL, {0}},
};

const fm_arch fm_arch_classifier = {
    .name = "classifier",
    .id = 2,
    .fields = FM_FIELD(in_channels) | FM_FIELD(image) | FM_FIELD(num_classes),
    .presets = presets,
    .velocity = 0,
    .check = check,
    .layout = layout,
    .out_shape = out_shape,
    .init = init,
    .create = create,
    .forward = forward,
    .backward = backward,
    .gflop = gflop,
};

void fm_classifier_want_features(fm_model *m, const fm_tensor *features)
{
    state(m)->features = features ? *features : (fm_tensor){0};
}
