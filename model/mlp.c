/* A trial architecture: a 2-layer MLP velocity model on flattened images (README
 * "Adding a model"). With F = freq_dim, H = hidden, D = in_channels image^2:
 *
 *   e = sinusoid_F(t)                         [N, F]   TIMEEMB
 *   h = fc1(flat(x)) + time(e) [+ class_emb[y]] [N, H]  LINEAR, LINEAR, (EMBED), ADD
 *   s = SiLU(h)                               [N, H]
 *   v = fc2(s) as [N, C, S, S]                [N, D]   (fc2 starts at zero: v = 0)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "build.h"

enum { FC1, TIME = 2, EMB = 4 }; /* fc1 and time: weight, bias; then class_emb or fc2 */

/* What backward reads from the forward. */
typedef struct mlp_state {
    fm_tensor e, h, s;
} mlp_state;
_Static_assert(sizeof(mlp_state) <= FM_MODEL_STATE_BYTES, "mlp_state outgrew FM_MODEL_STATE_BYTES");

static mlp_state *state(fm_model *m) { return FM_MODEL_STATE(m, mlp_state); }
static int64_t dim(const fm_config *c) { return (int64_t)c->in_channels * c->image * c->image; }
static int fc2(const fm_model *m) { return EMB + (m->cfg.num_classes > 0); }

static void layout(const fm_config *c, fm_layout *b)
{
    fm_lay_linear(b, "", "fc1", c->hidden, (int)dim(c));
    fm_lay_linear(b, "", "time", c->hidden, c->freq_dim);
    if (c->num_classes > 0)
        fm_lay_param(b, "class_emb.weight", "", 2, c->num_classes + 1, c->hidden, 1, 1);
    fm_lay_linear(b, "", "fc2", (int)dim(c), c->hidden);
}

static fm_status check(const fm_config *c, char *msg, size_t len)
{
    if (c->image < 1 || c->image > 256)
        return snprintf(msg, len, "image %d out of range 1..256", c->image), FM_ERR_ARG;
    if (c->hidden < 1 || c->hidden > 65536)
        return snprintf(msg, len, "hidden %d out of range 1..65536", c->hidden), FM_ERR_ARG;
    if (c->freq_dim < 4 || c->freq_dim > 65536 || c->freq_dim % 2)
        return snprintf(msg, len, "freq_dim %d must be even, in 4..65536", c->freq_dim), FM_ERR_ARG;
    return FM_OK;
}

static int out_shape(const fm_config *c, int64_t n, int64_t shape[4])
{
    shape[0] = n;
    shape[1] = c->in_channels;
    shape[2] = shape[3] = c->image;
    return 4;
}

/* Linears U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (a bias takes its weight's), class_emb
 * N(0, 1), fc2 zero. */
static fm_init init(const fm_model *m, int i)
{
    if (i >= fc2(m))
        return (fm_init){FM_INIT_ZERO, 0};
    if (m->cfg.num_classes > 0 && i == EMB)
        return (fm_init){FM_INIT_NORMAL, 1.0f};
    const fm_tensor *w = &m->params[i & ~1].t;
    return (fm_init){FM_INIT_UNIFORM, 1.0f / sqrtf((float)(fm_tensor_numel(w) / w->shape[0]))};
}

/* [N, C, S, S] as [N, C S S] (a view). */
static fm_tensor rows(const fm_tensor *t)
{
    int64_t shape[2] = {t->shape[0], fm_tensor_numel(t) / t->shape[0]};
    return fm_tensor_reshape(*t, 2, shape);
}

static fm_status forward(fm_model *m, int keep, const fm_tensor *P, const fm_tensor *v,
                         const fm_tensor *x, const fm_tensor *t, const fm_tensor *y)
{
    mlp_state *st = state(m);
    fm_backend *be = m->be;
    const int64_t N = x->shape[0], H = m->cfg.hidden;
    fm_tensor te;
    FM_TRY(fm_new2(be, &st->e, N, m->cfg.freq_dim));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_TIMEEMB_FWD, .t = {st->e, *t}}));
    FM_TRY(fm_new2(be, &st->h, N, H));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_FWD,
                               .t = {st->h, rows(x), fm_w(m, P, FC1), fm_w(m, P, FC1 + 1)}}));
    FM_TRY(fm_new2(be, &te, N, H));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_FWD,
                               .t = {te, st->e, fm_w(m, P, TIME), fm_w(m, P, TIME + 1)}}));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_ADD_FWD, .t = {st->h, st->h, te}}));
    if (m->cfg.num_classes > 0) {
        FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_FWD, .t = {te, fm_w(m, P, EMB), *y}}));
        FM_TRY(fm_do(be, (fm_call){.op = FM_OP_ADD_FWD, .t = {st->h, st->h, te}}));
    }
    FM_TRY(fm_new2(be, &st->s, N, H));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_SILU_FWD, .t = {st->s, st->h}}));
    int p = fc2(m);
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_FWD,
                               .t = {rows(v), st->s, fm_w(m, P, p), fm_w(m, P, p + 1)}}));
    (void)keep; /* the arena mark of the forward frees all four tensors when sampling */
    return FM_OK;
}

static fm_status backward(fm_model *m, const fm_tensor *dv)
{
    const mlp_state *st = state(m);
    fm_backend *be = m->be;
    const fm_tensor *P = &m->P;
    const int64_t N = dv->shape[0], H = m->cfg.hidden;
    int p = fc2(m);
    fm_tensor ds, dh;
    FM_TRY(fm_new2(be, &ds, N, H));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_BWD,
                               .t = {ds, fm_g(m, p), fm_g(m, p + 1), rows(dv), st->s, fm_w(m, P, p)}}));
    FM_TRY(fm_new2(be, &dh, N, H));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_SILU_BWD, .t = {dh, ds, st->h}}));
    if (m->cfg.num_classes > 0)
        FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_BWD, .t = {fm_g(m, EMB), dh, m->y}}));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_BWD,
                               .t = {(fm_tensor){0}, fm_g(m, TIME), fm_g(m, TIME + 1), dh, st->e,
                                     fm_w(m, P, TIME)}}));
    return fm_do(be, (fm_call){.op = FM_OP_LINEAR_BWD,
                               .t = {(fm_tensor){0}, fm_g(m, FC1), fm_g(m, FC1 + 1), dh,
                                     rows(&m->x), fm_w(m, P, FC1)}});
}

/* 2 D H + 2 F H + 2 H D per image. */
static double gflop(const fm_config *c)
{
    return (4.0 * (double)dim(c) * c->hidden + 2.0 * c->freq_dim * c->hidden) / 1e9;
}

static const fm_preset presets[] = {
    {"mlp", {.in_channels = 1, .image = 28, .hidden = 256, .freq_dim = 64}},
    {NULL, {0}},
};

const fm_arch fm_arch_mlp = {
    .name = "mlp",
    .id = 3,
    .fields = FM_FIELD(in_channels) | FM_FIELD(image) | FM_FIELD(hidden) | FM_FIELD(freq_dim) |
              FM_FIELD(num_classes),
    .presets = presets,
    .conformance = "mlp",
    .velocity = 1,
    .check = check,
    .layout = layout,
    .out_shape = out_shape,
    .init = init,
    .forward = forward,
    .backward = backward,
    .gflop = gflop,
};
