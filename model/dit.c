/* The DiT of docs/spec/dit.md as a sequence of dispatch-table calls.
 * Tokens are rows: [N, T, D] row-major, T = (image/p)^2 tokens of width D.
 *
 *   c  = lin2(SiLU(lin1(sinusoid_F(t)))) [+ class_emb[y]];  sc = SiLU(c)   [N, D]
 *   x  = tokens(patch conv p x p, stride p) + pos                        [N, T, D]
 *   block i (adaLN-Zero), [sh1 sc1 g1 sh2 sc2 g2] = ada(sc) in D-row chunks:
 *     a  = LN(x) (1 + sc1) + sh1                  (one LAYERNORM_FWD)
 *     x1 = x + g1 proj(attention(qkv(a)))         (GATED_ADD_FWD)
 *     m  = LN(x1) (1 + sc2) + sh2
 *     out = x1 + g2 fc2(GELU(fc1(m)))
 *   v  = unpatchify(final_linear(LN(x) (1 + fscale) + fshift)), [fshift fscale] = final_ada(sc)
 *
 * The attention is the U-Net's ATTENTION_FWD/BWD on a channel-major qkv: TRANSPOSE
 * takes [N, T, 3D] to [N, 3D, T] and the output [N, D, T] back to tokens. A linear
 * of [N, T, D] is a LINEAR of its [N*T, D] view. An adaLN layer D -> kD is k LINEARs
 * of [D, D] row blocks of its weight, so each of shift, scale and gate is its own
 * contiguous [N, D] tensor. The position table is added by gathering its rows for
 * every sample (EMBED_FWD with the token index) and one ADD_FWD. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "text.h"

/* What a block's backward needs from its forward (tokens [N,T,D]). */
typedef struct block_saved {
    fm_tensor x;                 /* block input */
    fm_tensor mod[6];            /* sh1 sc1 g1 sh2 sc2 g2, [N,D] each */
    fm_tensor mean1, rstd1, a;   /* a = modulate(LN(x), sh1, sc1) */
    fm_tensor qkvt, att, o, pr;  /* qkv as [N,3D,T], attention weights, o [N,T,D], proj(o) */
    fm_tensor x1;                /* x + g1 pr */
    fm_tensor mean2, rstd2, mm;  /* mm = modulate(LN(x1), sh2, sc2) */
    fm_tensor h, gh, f;          /* fc1(mm) [N,T,rD], GELU(h), fc2(gh) */
    fm_tensor xa;                /* text models: x + g1 pr, before x1 = xa + xattn(xa, H) */
    fm_text_cross xc;
} block_saved;

/* The DiT's state in the model: its constants and the activations backward reads. */
typedef struct dit_state {
    fm_tensor pos, posidx;       /* [T,D] position table, [batch*T] i32 token index (persistent) */
    fm_tensor e, l1, s1, c, sc;  /* time path: sc = SiLU(c) feeds every ada */
    fm_tensor fmod[2], meanf, rstdf, af; /* final layer: shift, scale, modulate(LN(x)) */
    fm_tensor xlast;             /* the last block's output */
    fm_text_state text;          /* a text model's encoder (docs/spec/text.md) */
    block_saved blk[FM_MAX_DEPTH];
} dit_state;
_Static_assert(sizeof(dit_state) <= FM_MODEL_STATE_BYTES, "dit_state outgrew FM_MODEL_STATE_BYTES");

static dit_state *state(fm_model *m) { return FM_MODEL_STATE(m, dit_state); }

/* Per-block parameters (weight, bias each), in canonical order. */
enum { B_ADA, B_ADAB, B_QKV, B_QKVB, B_PROJ, B_PROJB, B_FC1, B_FC1B, B_FC2, B_FC2B, B_N };
#define P_PATCH 0
#define P_LIN1 2
#define P_LIN2 4
#define P_EMB 6
#define LN_EPS 1e-6f

static void layout(const fm_config *cfg, fm_layout *b)
{
    const int D = cfg->hidden, p = cfg->patch, C = cfg->in_channels;
    char prefix[32];
    fm_lay_conv(b, "", "patch", D, C, p);
    fm_lay_linear(b, "", "time_lin1", D, cfg->freq_dim);
    fm_lay_linear(b, "", "time_lin2", D, D);
    if (cfg->num_classes > 0)
        fm_lay_param(b, "class_emb.weight", "", 2, cfg->num_classes + 1, D, 1, 1);
    fm_text_lay(b, cfg, D);
    for (int i = 0; i < cfg->depth; i++) {
        snprintf(prefix, sizeof prefix, "blocks.%d.", i);
        fm_lay_linear(b, prefix, "ada", 6 * D, D);
        fm_lay_linear(b, prefix, "qkv", 3 * D, D);
        fm_lay_linear(b, prefix, "proj", D, D);
        if (cfg->text_depth)
            fm_text_lay_cross(b, prefix, D, cfg->text_width, 0);
        fm_lay_linear(b, prefix, "fc1", cfg->mlp_ratio * D, D);
        fm_lay_linear(b, prefix, "fc2", D, cfg->mlp_ratio * D);
    }
    fm_lay_linear(b, "", "final_ada", 2 * D, D);
    fm_lay_linear(b, "", "final_linear", p * p * C, D);
}

/* ---- sizes and helpers ----------------------------------------------------------------- */

typedef struct ctx {
    fm_model *m;
    dit_state *d;
    fm_backend *be;
    const fm_tensor *P; /* parameter block of the forward */
    int N, T, D, g;     /* batch, tokens, width, grid side */
    int train;
} ctx;

/* Parameter indices: class_emb or the text encoder and text_proj after time_lin2, then
 * the blocks, each with its cross-attention's 8 tensors after proj in a text model. */
static int first_text(const fm_model *m) { return P_EMB + (m->cfg.num_classes > 0); }
static int text_proj(const fm_model *m) { return first_text(m) + fm_text_nparams(&m->cfg) - 2; }
static int first_block(const fm_model *m) { return first_text(m) + fm_text_nparams(&m->cfg); }
enum { B_XN = 8 };
static int block_param(const fm_model *m, int i, int k)
{
    const int x = m->cfg.text_depth ? B_XN : 0;
    return first_block(m) + (B_N + x) * i + k + (k >= B_FC1 ? x : 0);
}
static int cross_param(const fm_model *m, int i) { return block_param(m, i, B_PROJB) + 1; }

static fm_tensor W(const ctx *c, int i) { return fm_w(c->m, c->P, i); }

static fm_status alloc(fm_backend *be, fm_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    return fm_new(be, t, ndim, d0, d1, d2, 1);
}

/* [N, T, k D] tokens, and their [N*T, k D] rows for LINEAR. */
static fm_status tokens(const ctx *c, fm_tensor *t, int k)
{
    return alloc(c->be, t, 3, c->N, c->T, (int64_t)k * c->D);
}

static fm_tensor rows(fm_tensor t)
{
    int64_t shape[2] = {t.shape[0] * t.shape[1], t.shape[2]};
    return fm_tensor_reshape(t, 2, shape);
}

static fm_tensor reshape4(fm_tensor t, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    return fm_tensor_reshape(t, 4, shape);
}

/* dead() on n tensors, in order (the last allocated first keeps the arena unfragmented). */
static fm_status dead_all(const ctx *c, fm_tensor *const *t, int n)
{
    for (int k = 0; k < n; k++)
        FM_TRY(fm_dead(c->be, c->train, t[k]));
    return FM_OK;
}

/* out [rows, O] = in [rows, I] W^T + b for parameter pair p. */
static fm_status linear(const ctx *c, fm_tensor out, fm_tensor in, int p)
{
    return fm_do(c->be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {out, in, W(c, p), W(c, p + 1)}});
}

/* Rows [k D, (k+1) D) of the adaLN layer at p (weight [n D, D], bias [n D]). */
static fm_tensor chunk_w(const fm_model *m, const fm_tensor *P, int p, int k)
{
    int64_t D = m->cfg.hidden;
    return fm_tensor_slice(fm_w(m, P, p), k * D, D);
}

static fm_tensor chunk_b(const fm_model *m, const fm_tensor *P, int p, int k)
{
    int64_t D = m->cfg.hidden;
    return fm_tensor_slice(fm_w(m, P, p + 1), k * D, D);
}

/* out[k] [N, D] = sc W_k^T + b_k, k < n: the adaLN layer at p in its n chunks. */
static fm_status ada(const ctx *c, fm_tensor *out, int n, int p)
{
    const fm_tensor sc = c->d->sc;
    for (int k = 0; k < n; k++) {
        FM_TRY(alloc(c->be, &out[k], 2, c->N, c->D, 0));
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_LINEAR_FWD,
                                    .t = {out[k], sc, chunk_w(c->m, c->P, p, k),
                                          chunk_b(c->m, c->P, p, k)}}));
    }
    return FM_OK;
}

/* out = LN(in) (1 + scale) + shift, with the row statistics for backward. */
static fm_status ln_mod(const ctx *c, fm_tensor *out, fm_tensor *mean, fm_tensor *rstd,
                        fm_tensor in, fm_tensor shift, fm_tensor scale)
{
    FM_TRY(tokens(c, out, 1));
    FM_TRY(alloc(c->be, mean, 2, c->N, c->T, 0));
    FM_TRY(alloc(c->be, rstd, 2, c->N, c->T, 0));
    return fm_do(c->be, (fm_call){.op = FM_OP_LAYERNORM_FWD,
                                .t = {*out, *mean, *rstd, in, shift, scale},
                                .f = {LN_EPS}});
}

/* ---- memory and initialisation --------------------------------------------------------- */

/* pos[n = i g + j] = [sin(j w_k), cos(j w_k), sin(i w_k), cos(i w_k)], w_k = 10000^(-k/q),
 * q = D/4 (docs/spec/dit.md), uploaded a row at a time (the library has no heap). */
static fm_status upload_pos(fm_model *m, int g, int D)
{
    const int q = D / 4;
    float row[4 * 4096];
    for (int n = 0; n < g * g; n++) {
        int i = n / g, j = n % g;
        for (int k = 0; k < q; k++) {
            double w = pow(10000.0, -(double)k / q);
            row[k] = (float)sin(j * w);
            row[q + k] = (float)cos(j * w);
            row[2 * q + k] = (float)sin(i * w);
            row[3 * q + k] = (float)cos(i * w);
        }
        fm_tensor r = fm_tensor_slice(state(m)->pos, n, 1);
        FM_TRY(fm_upload(m->be, &r, row));
    }
    return FM_OK;
}

/* The position table and the token index: persistent, after the parameter blocks. */
static fm_status create(fm_model *m)
{
    const int g = m->cfg.image / m->cfg.patch, T = g * g, D = m->cfg.hidden;
    dit_state *d = state(m);
    memset(d, 0, sizeof *d);
    if (D > 4 * 4096)
        return fm_fail(m->be, FM_ERR_ARG, "dit: hidden %d above %d", D, 4 * 4096);
    if (m->cfg.text_depth)
        FM_TRY(fm_text_create(m, &d->text, first_text(m)));
    FM_TRY(alloc(m->be, &d->pos, 2, T, D, 0));
    d->posidx = fm_tensor_1d(FM_I32, (int64_t)m->batch * T);
    FM_TRY(fm_tensor_alloc(m->be, &d->posidx));
    if (!fm_backend_keeps_data(m->be)) /* planning: the sizes are known, nothing to fill */
        return FM_OK;
    int32_t idx[1024];
    for (int64_t s = 0; s < (int64_t)m->batch * T; s += 1024) {
        int64_t k = (int64_t)m->batch * T - s < 1024 ? (int64_t)m->batch * T - s : 1024;
        for (int64_t e = 0; e < k; e++)
            idx[e] = (int32_t)((s + e) % T);
        fm_tensor part = fm_tensor_slice(d->posidx, s, k);
        FM_TRY(fm_upload(m->be, &part, idx));
    }
    return upload_pos(m, g, D);
}

/* docs/spec/dit.md: biases, every adaLN layer and the final linear zero (adaLN-Zero);
 * the time and class embeddings N(0, 0.02^2); every other weight Xavier-uniform on
 * [out, in] (the patch conv as [D, C p p]). */
static fm_init init(const fm_model *m, int i)
{
    const fm_param *p = &m->params[i];
    const char *name = p->name;
    size_t len = strlen(name);
    fm_init r;
    if (fm_text_init(m, i, &r))
        return r;
    int is_bias = len > 5 && strcmp(name + len - 5, ".bias") == 0;
    if (is_bias || strstr(name, "ada.") || strncmp(name, "final_linear.", 13) == 0)
        return (fm_init){FM_INIT_ZERO, 0};
    if (strncmp(name, "time_lin", 8) == 0 || strncmp(name, "class_emb.", 10) == 0)
        return (fm_init){FM_INIT_NORMAL, 0.02f};
    int64_t out = p->t.shape[0], in = fm_tensor_numel(&p->t) / out;
    return (fm_init){FM_INIT_UNIFORM, sqrtf(6.0f / (float)(in + out))};
}

/* ---- forward --------------------------------------------------------------------------- */

/* c = lin2(SiLU(lin1(sinusoid(t)))) [+ class_emb[y]], sc = SiLU(c). */
static fm_status time_fwd(const ctx *c, const fm_tensor *t, const fm_tensor *y)
{
    dit_state *d = c->d;
    const int F = c->m->cfg.freq_dim;
    FM_TRY(alloc(c->be, &d->e, 2, c->N, F, 0));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_TIMEEMB_FWD, .t = {d->e, *t}}));
    FM_TRY(alloc(c->be, &d->l1, 2, c->N, c->D, 0));
    FM_TRY(linear(c, d->l1, d->e, P_LIN1));
    FM_TRY(fm_dead(c->be, c->train, &d->e));
    FM_TRY(alloc(c->be, &d->s1, 2, c->N, c->D, 0));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_SILU_FWD, .t = {d->s1, d->l1}}));
    FM_TRY(fm_dead(c->be, c->train, &d->l1));
    FM_TRY(alloc(c->be, &d->c, 2, c->N, c->D, 0));
    FM_TRY(linear(c, d->c, d->s1, P_LIN2));
    FM_TRY(fm_dead(c->be, c->train, &d->s1));
    if (c->m->cfg.num_classes > 0) {
        fm_tensor ce;
        FM_TRY(alloc(c->be, &ce, 2, c->N, c->D, 0));
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_EMBED_FWD, .t = {ce, W(c, P_EMB), *y}}));
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ADD_FWD, .t = {d->c, d->c, ce}}));
        FM_TRY(fm_dead(c->be, c->train, &ce));
    }
    if (c->m->cfg.text_depth) {
        fm_blk_ctx bc = {c->m, c->be, c->P, c->N, c->train};
        FM_TRY(fm_text_fwd(&bc, &d->text, y));
        FM_TRY(fm_text_pool_fwd(&bc, &d->text, d->c, text_proj(c->m)));
    }
    FM_TRY(alloc(c->be, &d->sc, 2, c->N, c->D, 0));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_SILU_FWD, .t = {d->sc, d->c}}));
    return fm_dead(c->be, c->train, &d->c);
}

/* x [N, T, D] = tokens of the patch conv [N, D, g, g], plus the position table. */
static fm_status embed_fwd(const ctx *c, const fm_tensor *img, fm_tensor *x)
{
    dit_state *d = c->d;
    fm_tensor pe, pr;
    FM_TRY(alloc(c->be, &pe, 3, c->N, c->D, c->T));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_CONV2D_FWD,
                                .t = {reshape4(pe, c->N, c->D, c->g, c->g), *img, W(c, P_PATCH),
                                      W(c, P_PATCH + 1)},
                                .i = {c->m->cfg.patch, 0}}));
    FM_TRY(tokens(c, x, 1));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_TRANSPOSE, .t = {*x, pe}}));
    FM_TRY(fm_dead(c->be, c->train, &pe));
    FM_TRY(tokens(c, &pr, 1));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_EMBED_FWD,
                                .t = {rows(pr), d->pos,
                                      fm_tensor_slice(d->posidx, 0, (int64_t)c->N * c->T)}}));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ADD_FWD, .t = {*x, *x, pr}}));
    return fm_dead(c->be, c->train, &pr);
}

/* o [N, T, D] = heads of attention over the tokens of qkv(a), through the channel-major
 * ATTENTION_FWD. Keeps qkvt and att (training) in s. */
static fm_status attend(const ctx *c, block_saved *s, int i, fm_tensor a)
{
    const int D = c->D, g = c->g, T = c->T, heads = c->m->cfg.heads;
    fm_tensor qkv, ot;
    /* qkvt below qkv, so that qkv's space comes back whole; att, the largest, on top. */
    FM_TRY(alloc(c->be, &s->qkvt, 3, c->N, 3 * D, T));
    FM_TRY(tokens(c, &qkv, 3));
    FM_TRY(linear(c, rows(qkv), rows(a), block_param(c->m, i, B_QKV)));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_TRANSPOSE, .t = {s->qkvt, qkv}}));
    FM_TRY(fm_dead(c->be, c->train, &qkv));
    FM_TRY(alloc(c->be, &ot, 3, c->N, D, T));
    s->att = fm_tensor_4d(FM_F32, c->N, heads, T, T);
    FM_TRY(fm_tensor_alloc(c->be, &s->att));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ATTENTION_FWD,
                                .t = {reshape4(ot, c->N, D, g, g), s->att,
                                      reshape4(s->qkvt, c->N, 3 * D, g, g)},
                                .i = {heads}}));
    FM_TRY(fm_dead(c->be, c->train, &s->att));
    FM_TRY(fm_dead(c->be, c->train, &s->qkvt));
    FM_TRY(tokens(c, &s->o, 1));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_TRANSPOSE, .t = {s->o, ot}}));
    return fm_dead(c->be, c->train, &ot);
}

/* Text models (PixArt-alpha): x1 = xa + xattn(xa, H), xa = x + g1 proj(...), ungated and
 * without a norm; sampling adds in place. */
static fm_status cross_fwd(const ctx *c, block_saved *s, int i)
{
    fm_blk_ctx bc = {c->m, c->be, c->P, c->N, c->train};
    fm_tensor d;
    FM_TRY(fm_text_cross_fwd(&bc, &c->d->text, &s->xc, cross_param(c->m, i), s->x1, 0, &d));
    s->xa = s->x1;
    if (c->train)
        FM_TRY(tokens(c, &s->x1, 1));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ADD_FWD, .t = {s->x1, s->xa, d}}));
    return fm_tensor_free(c->be, &d);
}

/* out = x1 + g2 fc2(GELU(fc1(LN(x1) (1 + sc2) + sh2))),  x1 = x + g1 proj(attend(...)).
 * Sampling writes x1 and out over x (GATED_ADD_FWD may alias), so the residual stream
 * keeps one place in the arena; training keeps x and x1 for backward. */
static fm_status block_fwd(const ctx *c, int i, fm_tensor x, fm_tensor *out)
{
    block_saved local, *s = c->train ? &c->d->blk[i] : &local;
    const int r = c->m->cfg.mlp_ratio;
    s->x = x;
    FM_TRY(ada(c, s->mod, 6, block_param(c->m, i, B_ADA)));
    FM_TRY(ln_mod(c, &s->a, &s->mean1, &s->rstd1, x, s->mod[0], s->mod[1]));
    FM_TRY(dead_all(c, (fm_tensor *[]){&s->rstd1, &s->mean1, &s->mod[1], &s->mod[0]}, 4));
    FM_TRY(attend(c, s, i, s->a));
    FM_TRY(fm_dead(c->be, c->train, &s->a));
    FM_TRY(tokens(c, &s->pr, 1));
    FM_TRY(linear(c, rows(s->pr), rows(s->o), block_param(c->m, i, B_PROJ)));
    FM_TRY(fm_dead(c->be, c->train, &s->o));
    if (c->train)
        FM_TRY(tokens(c, &s->x1, 1));
    else
        s->x1 = x;
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_GATED_ADD_FWD, .t = {s->x1, x, s->mod[2], s->pr}}));
    FM_TRY(dead_all(c, (fm_tensor *[]){&s->pr, &s->mod[2]}, 2));
    if (c->m->cfg.text_depth)
        FM_TRY(cross_fwd(c, s, i));
    FM_TRY(ln_mod(c, &s->mm, &s->mean2, &s->rstd2, s->x1, s->mod[3], s->mod[4]));
    FM_TRY(dead_all(c, (fm_tensor *[]){&s->rstd2, &s->mean2, &s->mod[4], &s->mod[3]}, 4));
    FM_TRY(tokens(c, &s->h, r));
    FM_TRY(linear(c, rows(s->h), rows(s->mm), block_param(c->m, i, B_FC1)));
    FM_TRY(fm_dead(c->be, c->train, &s->mm));
    FM_TRY(tokens(c, &s->gh, r));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_GELU_FWD, .t = {s->gh, s->h}}));
    FM_TRY(fm_dead(c->be, c->train, &s->h));
    FM_TRY(tokens(c, &s->f, 1));
    FM_TRY(linear(c, rows(s->f), rows(s->gh), block_param(c->m, i, B_FC2)));
    FM_TRY(fm_dead(c->be, c->train, &s->gh));
    if (c->train)
        FM_TRY(tokens(c, out, 1));
    else
        *out = s->x1;
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_GATED_ADD_FWD, .t = {*out, s->x1, s->mod[5], s->f}}));
    return dead_all(c, (fm_tensor *[]){&s->f, &s->mod[5]}, 2);
}

/* v = unpatchify(final_linear(LN(x) (1 + fscale) + fshift)). */
static fm_status final_fwd(const ctx *c, fm_tensor x, const fm_tensor *v)
{
    dit_state *d = c->d;
    const int p = c->m->cfg.patch, ppc = p * p * c->m->cfg.in_channels;
    fm_tensor out;
    FM_TRY(ada(c, d->fmod, 2, c->m->nparams - 4));
    FM_TRY(ln_mod(c, &d->af, &d->meanf, &d->rstdf, x, d->fmod[0], d->fmod[1]));
    FM_TRY(dead_all(c, (fm_tensor *[]){&d->rstdf, &d->meanf, &d->fmod[1], &d->fmod[0]}, 4));
    FM_TRY(alloc(c->be, &out, 3, c->N, c->T, ppc));
    FM_TRY(linear(c, rows(out), rows(d->af), c->m->nparams - 2));
    FM_TRY(fm_dead(c->be, c->train, &d->af));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_UNPATCHIFY_FWD, .t = {*v, out}, .i = {p}}));
    return fm_dead(c->be, c->train, &out);
}

static fm_status forward(fm_model *m, int keep, const fm_tensor *P, const fm_tensor *v,
                         const fm_tensor *x, const fm_tensor *t, const fm_tensor *y)
{
    const int g = m->cfg.image / m->cfg.patch;
    ctx c = {m, state(m), m->be, P, (int)x->shape[0], g * g, m->cfg.hidden, g, keep};
    fm_tensor h, out;
    FM_TRY(time_fwd(&c, t, y));
    FM_TRY(embed_fwd(&c, x, &h));
    for (int i = 0; i < m->cfg.depth; i++) {
        FM_TRY(block_fwd(&c, i, h, &out));
        h = out; /* training: a new tensor, the input saved; sampling: h itself */
    }
    c.d->xlast = h;
    if (m->cfg.text_depth) {
        fm_blk_ctx bc = {m, c.be, P, c.N, keep};
        FM_TRY(fm_text_release(&bc, &c.d->text));
    }
    FM_TRY(final_fwd(&c, h, v));
    return fm_dead(c.be, c.train, &h);
}

/* ---- backward -------------------------------------------------------------------------- */

/* The adaLN layer at p, chunks k < n: dW_k, db_k += from dmod[k]; dsc += dmod[k] W_k. */
static fm_status ada_bwd(const ctx *c, const fm_tensor *dmod, int n, int p, fm_tensor dsc)
{
    fm_model *m = c->m;
    fm_tensor part;
    FM_TRY(alloc(c->be, &part, 2, c->N, c->D, 0));
    for (int k = 0; k < n; k++) {
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_LINEAR_BWD,
                                    .t = {part, chunk_w(m, &m->grad, p, k),
                                          chunk_b(m, &m->grad, p, k), dmod[k], c->d->sc,
                                          chunk_w(m, c->P, p, k)}}));
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ADD_FWD, .t = {dsc, dsc, part}}));
    }
    return FM_OK;
}

/* din = dL/d(in) of out = in W^T + b at p (rows views); dW, db +=. */
static fm_status linear_bwd(const ctx *c, fm_tensor din, fm_tensor dout, fm_tensor in, int p)
{
    return fm_do(c->be, (fm_call){.op = FM_OP_LINEAR_BWD,
                                .t = {rows(din), fm_g(c->m, p), fm_g(c->m, p + 1), rows(dout), rows(in),
                                      W(c, p)}});
}

/* Through the attention half: dx1 = dL/dx1 in, da = dL/da out; dmod[2] written. */
static fm_status attend_bwd(const ctx *c, const block_saved *s, int i, fm_tensor dx1,
                            fm_tensor *dmod, fm_tensor da)
{
    const int D = c->D, g = c->g, T = c->T;
    fm_tensor dpr, d_o, dot, dqkvt, dqkv, ws;
    FM_TRY(tokens(c, &dpr, 1));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_GATED_ADD_BWD, .t = {dpr, dmod[2], dx1, s->mod[2], s->pr}}));
    FM_TRY(tokens(c, &d_o, 1));
    FM_TRY(linear_bwd(c, d_o, dpr, s->o, block_param(c->m, i, B_PROJ)));
    FM_TRY(alloc(c->be, &dot, 3, c->N, D, T));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_TRANSPOSE, .t = {dot, d_o}}));
    FM_TRY(alloc(c->be, &dqkvt, 3, c->N, 3 * D, T));
    ws = fm_tensor_1d(FM_F32, fm_attention_ws_floats(T));
    FM_TRY(fm_tensor_alloc(c->be, &ws));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ATTENTION_BWD,
                                .t = {reshape4(dqkvt, c->N, 3 * D, g, g), ws,
                                      reshape4(dot, c->N, D, g, g),
                                      reshape4(s->qkvt, c->N, 3 * D, g, g), s->att},
                                .i = {c->m->cfg.heads}}));
    FM_TRY(tokens(c, &dqkv, 3));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_TRANSPOSE, .t = {dqkv, dqkvt}}));
    return linear_bwd(c, da, dqkv, s->a, block_param(c->m, i, B_QKV));
}

/* dx = dL/dx of block i from dout = dL/d(out); parameter gradients +=, dsc +=. */
static fm_status block_bwd(const ctx *c, int i, fm_tensor dout, fm_tensor dx, fm_tensor dsc)
{
    const block_saved *s = &c->d->blk[i];
    const int r = c->m->cfg.mlp_ratio;
    fm_tensor dmod[6], df, dgh, dh, dmm, dx1, da;
    for (int k = 0; k < 6; k++)
        FM_TRY(alloc(c->be, &dmod[k], 2, c->N, c->D, 0));
    FM_TRY(tokens(c, &df, 1));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_GATED_ADD_BWD, .t = {df, dmod[5], dout, s->mod[5], s->f}}));
    FM_TRY(tokens(c, &dgh, r));
    FM_TRY(linear_bwd(c, dgh, df, s->gh, block_param(c->m, i, B_FC2)));
    FM_TRY(tokens(c, &dh, r));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_GELU_BWD, .t = {dh, dgh, s->h}}));
    FM_TRY(tokens(c, &dmm, 1));
    FM_TRY(linear_bwd(c, dmm, dh, s->mm, block_param(c->m, i, B_FC1)));
    FM_TRY(tokens(c, &dx1, 1));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_LAYERNORM_BWD,
                                .t = {dx1, dmod[3], dmod[4], dmm, s->x1, s->mean2, s->rstd2,
                                      s->mod[4]}}));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ADD_FWD, .t = {dx1, dx1, dout}}));
    if (c->m->cfg.text_depth) {
        /* x1 = xa + xattn(xa): dL/dxa = dx1 + the branch's share */
        fm_tensor du;
        FM_TRY(tokens(c, &du, 1));
        FM_TRY(fm_text_cross_bwd(c->m, &c->d->text, &s->xc, cross_param(c->m, i), du, dx1));
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ADD_FWD, .t = {dx1, dx1, du}}));
    }
    FM_TRY(tokens(c, &da, 1));
    FM_TRY(attend_bwd(c, s, i, dx1, dmod, da));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_LAYERNORM_BWD,
                                .t = {dx, dmod[0], dmod[1], da, s->x, s->mean1, s->rstd1,
                                      s->mod[1]}}));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ADD_FWD, .t = {dx, dx, dx1}}));
    return ada_bwd(c, dmod, 6, block_param(c->m, i, B_ADA), dsc);
}

/* dx [N, T, D] = dL/d(last block's output) from dv; final layers' gradients +=. */
static fm_status final_bwd(const ctx *c, const fm_tensor *dv, fm_tensor dx, fm_tensor dsc)
{
    dit_state *d = c->d;
    const int p = c->m->cfg.patch, ppc = p * p * c->m->cfg.in_channels, pf = c->m->nparams - 4;
    fm_tensor dout, daf, dfmod[2];
    FM_TRY(alloc(c->be, &dout, 3, c->N, c->T, ppc));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_UNPATCHIFY_BWD, .t = {dout, *dv}, .i = {p}}));
    FM_TRY(tokens(c, &daf, 1));
    FM_TRY(linear_bwd(c, daf, dout, d->af, pf + 2));
    for (int k = 0; k < 2; k++)
        FM_TRY(alloc(c->be, &dfmod[k], 2, c->N, c->D, 0));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_LAYERNORM_BWD,
                                .t = {dx, dfmod[0], dfmod[1], daf, d->xlast, d->meanf, d->rstdf,
                                      d->fmod[1]}}));
    return ada_bwd(c, dfmod, 2, pf, dsc);
}

/* The patch conv's gradients from dx [N, T, D] (the position table is constant), then
 * the time path's from dsc. */
static fm_status stem_bwd(const ctx *c, fm_tensor dx, fm_tensor dsc)
{
    fm_model *m = c->m;
    dit_state *d = c->d;
    fm_tensor dpe, dc, ds1, dl1;
    FM_TRY(alloc(c->be, &dpe, 3, c->N, c->D, c->T));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_TRANSPOSE, .t = {dpe, dx}}));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_CONV2D_BWD,
                                .t = {(fm_tensor){0}, fm_g(m, P_PATCH), fm_g(m, P_PATCH + 1),
                                      reshape4(dpe, c->N, c->D, c->g, c->g), m->x,
                                      W(c, P_PATCH)},
                                .i = {m->cfg.patch, 0}}));
    FM_TRY(alloc(c->be, &dc, 2, c->N, c->D, 0));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_SILU_BWD, .t = {dc, dsc, d->c}}));
    if (m->cfg.num_classes > 0)
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_EMBED_BWD, .t = {fm_g(m, P_EMB), dc, m->y}}));
    if (m->cfg.text_depth)
        FM_TRY(fm_text_bwd_end(m, &d->text, dc, text_proj(m)));
    FM_TRY(alloc(c->be, &ds1, 2, c->N, c->D, 0));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_LINEAR_BWD,
                                .t = {ds1, fm_g(m, P_LIN2), fm_g(m, P_LIN2 + 1), dc, d->s1, W(c, P_LIN2)}}));
    FM_TRY(alloc(c->be, &dl1, 2, c->N, c->D, 0));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_SILU_BWD, .t = {dl1, ds1, d->l1}}));
    return fm_do(c->be, (fm_call){.op = FM_OP_LINEAR_BWD,
                                .t = {(fm_tensor){0}, fm_g(m, P_LIN1), fm_g(m, P_LIN1 + 1), dl1, d->e,
                                      W(c, P_LIN1)}});
}

static fm_status backward(fm_model *m, const fm_tensor *dv)
{
    const int g = m->cfg.image / m->cfg.patch;
    ctx c = {m, state(m), m->be, &m->P, (int)dv->shape[0], g * g, m->cfg.hidden, g, 1};
    fm_tensor dsc, dh, dx;
    FM_TRY(alloc(c.be, &dsc, 2, c.N, c.D, 0));
    FM_TRY(fm_fill(c.be, &dsc, 0.0f));
    if (m->cfg.text_depth)
        FM_TRY(fm_text_bwd_begin(m, &c.d->text));
    FM_TRY(tokens(&c, &dh, 1));
    FM_TRY(final_bwd(&c, dv, dh, dsc));
    for (int i = m->cfg.depth - 1; i >= 0; i--) {
        /* The block's temporaries go with the mark; dx survives it. */
        FM_TRY(tokens(&c, &dx, 1));
        fm_arena_mark mark = fm_arena_get_mark(&c.be->arena, "dit block grad");
        FM_TRY(block_bwd(&c, i, dh, dx, dsc));
        fm_arena_reset(&c.be->arena, mark);
        dh = dx;
    }
    return stem_bwd(&c, dh, dsc);
}

/* ---- config, shapes, cost -------------------------------------------------------------- */

static int in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }
#define BAD(...) return (snprintf(msg, len, __VA_ARGS__), FM_ERR_ARG)

/* docs/spec/dit.md: D divisible by 4 (position table) and by heads; F even, >= 4 (the
 * sinusoidal embedding's halves); the image a whole number of patches. */
static fm_status check(const fm_config *c, char *msg, size_t len)
{
    if (!in_range(c->image, 1, 4096))
        BAD("image %d out of range 1..4096", c->image);
    if (!in_range(c->patch, 1, c->image) || c->image % c->patch != 0)
        BAD("patch %d must divide image %d", c->patch, c->image);
    if (!in_range(c->hidden, 4, 16384) || c->hidden % 4 != 0)
        BAD("hidden %d must be a multiple of 4 in 4..16384", c->hidden);
    if (!in_range(c->heads, 1, c->hidden) || c->hidden % c->heads != 0)
        BAD("heads %d must divide hidden %d", c->heads, c->hidden);
    if (!in_range(c->depth, 1, FM_MAX_DEPTH))
        BAD("depth %d out of range 1..%d", c->depth, FM_MAX_DEPTH);
    if (!in_range(c->mlp_ratio, 1, 64))
        BAD("mlp_ratio %d out of range 1..64", c->mlp_ratio);
    if (!in_range(c->freq_dim, 4, 65536) || c->freq_dim % 2 != 0)
        BAD("freq_dim %d must be even, in 4..65536", c->freq_dim);
    return fm_text_check(c, msg, len);
}

#undef BAD

/* Forward GFLOP per image (T tokens of width D, MLP ratio r): the patch embedding and
 * final linear 2 T D p^2 C each; per block adaLN 12 D^2 (per sample), qkv 6 T D^2,
 * attention 4 T^2 D, proj 2 T D^2, MLP 4 r T D^2; the final adaLN 4 D^2. */
static double gflop(const fm_config *c)
{
    double g = c->image / c->patch, T = g * g, D = c->hidden, r = c->mlp_ratio;
    double pc = (double)c->patch * c->patch * c->in_channels;
    double block = 12 * D * D + 6 * T * D * D + 4 * T * T * D + 2 * T * D * D + 4 * r * T * D * D;
    double text = c->text_depth ? fm_text_gflop(c) + c->depth * fm_text_cross_gflop(c, (int)D, (int)T)
                                : 0;
    return (4 * T * D * pc + c->depth * block + 4 * D * D) / 1e9 + text;
}

/* docs/spec/dit.md's presets. */
static const fm_preset presets[] = {
    {"dit", {.in_channels = 1, .image = 28, .patch = 2, .hidden = 192, .depth = 6, .heads = 6,
             .freq_dim = 256, .mlp_ratio = 4}},
    {"dit-tiny", {.in_channels = 1, .image = 28, .patch = 4, .hidden = 128, .depth = 4,
                  .heads = 4, .freq_dim = 128, .mlp_ratio = 4}},
    /* CIFAR-10 (32x32 RGB): dit-tiny's network, 8x8 patches of 4x4x3 (64 tokens). */
    {"dit-cifar", {.in_channels = 3, .image = 32, .patch = 4, .hidden = 128, .depth = 4,
                   .heads = 4, .freq_dim = 128, .mlp_ratio = 4}},
    {NULL, {0}},
};

const fm_arch fm_arch_dit = {
    .name = "dit",
    .id = 1,
    .fields = FM_FIELD(in_channels) | FM_FIELD(image) | FM_FIELD(patch) | FM_FIELD(hidden) |
              FM_FIELD(depth) | FM_FIELD(heads) | FM_FIELD(freq_dim) | FM_FIELD(mlp_ratio) |
              FM_FIELD(num_classes) | FM_TEXT_FIELDS,
    .presets = presets,
    .conformance = "dit-tiny",
    .conformance_rgb = "dit-cifar",
    .velocity = 1,
    .check = check,
    .layout = layout,
    .init = init,
    .create = create,
    .forward = forward,
    .backward = backward,
    .gflop = gflop,
};
