/* docs/spec/text.md as dispatch-table calls: CLIP's text transformer, the pooled vector
 * and cross-attention (text.h gives the order of calls).
 *
 * Rows: token states are [N, L, Dt] row-major, a LINEAR of them is one of the [N L, Dt]
 * view. nn.LayerNorm's weight and bias are LAYERNORM_FWD's affine form on the
 * [1, N L, Dt] view (shift = bias, scale = weight, one row of each). Attention is XATTN
 * (causal inside the encoder; with the padding mask kbias across to the image). The
 * pooled vector is EMBED_FWD of H's rows at pidx[n] = n L + l_n - 1, its backward
 * EMBED_BWD's scatter-add into dH. Linears' input gradients are written (LINEAR_BWD),
 * so a tensor read by several linears sums their shares through a temporary. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "text.h"
#include "tokenizer.h"

#define LN_EPS 1e-5f
/* Per encoder layer: ln1 q k v out ln2 fc1 fc2, weight and bias each. */
enum { L_LN1 = 0, L_Q = 2, L_K = 4, L_V = 6, L_OUT = 8, L_LN2 = 10, L_FC1 = 12, L_FC2 = 14, L_N = 16 };
/* A cross-attention module's parameters after its (U-Net) norm. */
enum { X_Q = 0, X_K = 2, X_V = 4, X_OUT = 6 };

/* ---- configuration and layout ------------------------------------------------------------ */

#define BAD(...) return (snprintf(msg, len, __VA_ARGS__), FM_ERR_ARG)

static fm_status range(const char *name, int v, int lo, int hi, char *msg, size_t len)
{
    if (v < lo || v > hi)
        BAD("%s %d out of range %d..%d", name, v, lo, hi);
    return FM_OK;
}

fm_status fm_text_check(const fm_config *c, char *msg, size_t len)
{
    if (c->text_depth == 0) {
        if (c->text_vocab || c->text_ctx || c->text_width || c->text_heads || c->text_ff ||
            c->text_tokenizer)
            BAD("text_depth is 0 (no text encoder): the other text_* fields must be 0");
        return FM_OK;
    }
    FM_TRY(range("text_depth", c->text_depth, 1, FM_TEXT_MAX_DEPTH, msg, len));
    FM_TRY(range("text_tokenizer", c->text_tokenizer, FM_TOKENIZER_BYTES, FM_TOKENIZER_CLIP, msg,
                 len));
    FM_TRY(range("text_vocab", c->text_vocab, 3, 65536, msg, len));
    FM_TRY(range("text_ctx", c->text_ctx, 2, 256, msg, len));
    FM_TRY(range("text_width", c->text_width, 1, 4096, msg, len));
    FM_TRY(range("text_heads", c->text_heads, 1, 64, msg, len));
    FM_TRY(range("text_ff", c->text_ff, 1, 16384, msg, len));
    /* every id the tokenizer writes must have a row: bytes 0..258; CLIP's 512 byte
     * tokens and its start and end tokens at least */
    const int vmin = c->text_tokenizer == FM_TOKENIZER_CLIP ? 514 : FM_TOK_BYTES_VOCAB;
    if (c->text_vocab < vmin)
        BAD("text_vocab %d is below the %d ids of the %s tokenizer", c->text_vocab, vmin,
            c->text_tokenizer == FM_TOKENIZER_CLIP ? "CLIP BPE" : "byte-level");
    if (c->text_width % c->text_heads)
        BAD("text_width %d is not a multiple of text_heads %d", c->text_width, c->text_heads);
    if (c->num_classes)
        BAD("num_classes %d with a text encoder: a model is conditioned on classes or on text",
            c->num_classes);
    return FM_OK;
}

void fm_text_lay_encoder(fm_layout *b, const fm_config *c)
{
    const int Dt = c->text_width, F = c->text_ff;
    char prefix[32];
    if (c->text_depth == 0)
        return;
    fm_lay_param(b, "text.", "token_emb.weight", 2, c->text_vocab, Dt, 1, 1);
    fm_lay_param(b, "text.", "pos_emb.weight", 2, c->text_ctx, Dt, 1, 1);
    for (int i = 0; i < c->text_depth; i++) {
        snprintf(prefix, sizeof prefix, "text.layers.%d.", i);
        fm_lay_norm(b, prefix, "ln1", Dt);
        fm_lay_linear(b, prefix, "q", Dt, Dt);
        fm_lay_linear(b, prefix, "k", Dt, Dt);
        fm_lay_linear(b, prefix, "v", Dt, Dt);
        fm_lay_linear(b, prefix, "out", Dt, Dt);
        fm_lay_norm(b, prefix, "ln2", Dt);
        fm_lay_linear(b, prefix, "fc1", F, Dt);
        fm_lay_linear(b, prefix, "fc2", Dt, F);
    }
    fm_lay_norm(b, "text.", "final_ln", Dt);
}

void fm_text_lay(fm_layout *b, const fm_config *c, int out)
{
    if (c->text_depth == 0)
        return;
    fm_text_lay_encoder(b, c);
    fm_lay_linear(b, "", "text_proj", out, c->text_width);
}

int fm_text_nparams(const fm_config *c)
{
    return c->text_depth ? 2 + L_N * c->text_depth + 2 + 2 : 0;
}

void fm_text_lay_cross(fm_layout *b, const char *prefix, int C, int Dt, int img)
{
    char pre[48];
    snprintf(pre, sizeof pre, "%scross.", prefix);
    if (img)
        fm_lay_norm(b, pre, "norm", C);
    fm_lay_linear(b, pre, "q", C, C);
    fm_lay_linear(b, pre, "k", C, Dt);
    fm_lay_linear(b, pre, "v", C, Dt);
    fm_lay_linear(b, pre, "out", C, C);
}

static int ends_with(const char *s, const char *end)
{
    size_t n = strlen(s), k = strlen(end);
    return n >= k && strcmp(s + n - k, end) == 0;
}

int fm_text_init(const fm_model *m, int i, fm_init *out)
{
    const fm_param *p = &m->params[i];
    const char *name = p->name;
    int text = strncmp(name, "text.", 5) == 0, proj = strncmp(name, "text_proj.", 10) == 0;
    if (!text && !proj && !strstr(name, ".cross."))
        return 0;
    int norm = strstr(name, "ln1.") || strstr(name, "ln2.") || strstr(name, "final_ln.") ||
               strstr(name, "cross.norm.");
    if (ends_with(name, ".bias") || strstr(name, "cross.out."))
        *out = (fm_init){FM_INIT_ZERO, 0};
    else if (norm)
        *out = (fm_init){FM_INIT_ONE, 0};
    else if (strstr(name, "token_emb.") || proj)
        *out = (fm_init){FM_INIT_NORMAL, 0.02f};
    else if (strstr(name, "pos_emb."))
        *out = (fm_init){FM_INIT_NORMAL, 0.01f};
    else {
        int64_t o = p->t.shape[0], in = fm_tensor_numel(&p->t) / o;
        *out = (fm_init){FM_INIT_UNIFORM, sqrtf(6.0f / (float)(in + o))};
    }
    return 1;
}

/* 2 per multiply-add: per layer 4 Dt^2 L (q k v out) + 2 Dt F L (MLP) + 2 L^2 Dt
 * (scores and weighted sum, the causal half counted whole). */
double fm_text_gflop(const fm_config *c)
{
    double L = c->text_ctx, Dt = c->text_width, F = c->text_ff;
    return c->text_depth * 2.0 * (4 * Dt * Dt * L + 2 * Dt * F * L + 2 * L * L * Dt) / 1e9;
}

double fm_text_cross_gflop(const fm_config *c, int C, int Lq)
{
    double L = c->text_ctx, Dt = c->text_width;
    return 2.0 * (2 * C * C * Lq + 2 * C * Dt * L + 2 * (double)Lq * L * C) / 1e9;
}

#undef BAD

/* ---- small pieces -------------------------------------------------------------------------- */

static fm_tensor W(const fm_blk_ctx *c, int i) { return fm_w(c->m, c->P, i); }

static fm_tensor rows(fm_tensor t)
{
    int64_t shape[2] = {t.shape[0] * t.shape[1], t.shape[2]};
    return fm_tensor_reshape(t, 2, shape);
}

/* The [1, R, D] view of [N, L, D] rows: nn.LayerNorm's parameters are one row of
 * LAYERNORM's per-sample shift and scale. */
static fm_tensor one_row(fm_tensor t)
{
    int64_t shape[3] = {1, t.shape[0] * t.shape[1], t.shape[2]};
    return fm_tensor_reshape(t, 3, shape);
}

static fm_tensor as_row(fm_tensor v)
{
    int64_t shape[2] = {1, fm_tensor_numel(&v)};
    return fm_tensor_reshape(v, 2, shape);
}

static fm_status seq(fm_backend *be, fm_tensor *t, int64_t N, int64_t L, int64_t D)
{
    return fm_new(be, t, 3, N, L, D, 1);
}

static fm_status linear(const fm_blk_ctx *c, fm_tensor out, fm_tensor in, int p)
{
    return fm_do(c->be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {rows(out), rows(in), W(c, p), W(c, p + 1)}});
}

/* din (written, or absent) and the parameter gradients of the linear at p. */
static fm_status linear_bwd(fm_model *m, fm_tensor din, fm_tensor dout, fm_tensor in, int p)
{
    return fm_do(m->be, (fm_call){.op = FM_OP_LINEAR_BWD,
                                  .t = {din.ndim ? rows(din) : din, fm_g(m, p), fm_g(m, p + 1),
                                        rows(dout), rows(in), fm_w(m, &m->P, p)}});
}

/* out = nn.LayerNorm(in) with the weight and bias at p; mean, rstd [N L] allocated. */
static fm_status ln(const fm_blk_ctx *c, fm_tensor out, fm_tensor *mean, fm_tensor *rstd,
                    fm_tensor in, int p)
{
    FM_TRY(fm_new(c->be, mean, 1, in.shape[0] * in.shape[1], 1, 1, 1));
    FM_TRY(fm_new(c->be, rstd, 1, in.shape[0] * in.shape[1], 1, 1, 1));
    return fm_do(c->be, (fm_call){.op = FM_OP_LAYERNORM_FWD,
                                .t = {one_row(out), *mean, *rstd, one_row(in), as_row(W(c, p + 1)),
                                      as_row(W(c, p))},
                                .f = {LN_EPS}, .i = {FM_LN_AFFINE}});
}

/* din = LN's input gradient; the weight's and bias's gradients accumulate (+=) through
 * [1, Dt] temporaries (LAYERNORM_BWD writes them). */
static fm_status ln_bwd(fm_model *m, fm_tensor din, fm_tensor dout, fm_tensor in, fm_tensor mean,
                        fm_tensor rstd, int p)
{
    fm_backend *be = m->be;
    const int64_t Dt = in.shape[2];
    fm_tensor dsh, dsc;
    FM_TRY(fm_new2(be, &dsh, 1, Dt));
    FM_TRY(fm_new2(be, &dsc, 1, Dt));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LAYERNORM_BWD,
                               .t = {one_row(din), dsh, dsc, one_row(dout), one_row(in), mean, rstd,
                                     as_row(fm_w(m, &m->P, p))},
                               .i = {FM_LN_AFFINE}}));
    FM_TRY(fm_blk_add(be, as_row(fm_g(m, p + 1)), as_row(fm_g(m, p + 1)), dsh));
    FM_TRY(fm_blk_add(be, as_row(fm_g(m, p)), as_row(fm_g(m, p)), dsc));
    FM_TRY(fm_tensor_free(be, &dsc));
    return fm_tensor_free(be, &dsh);
}

/* ---- memory and the mask -------------------------------------------------------------------- */

fm_status fm_text_create(fm_model *m, fm_text_state *s, int p)
{
    const int64_t L = m->cfg.text_ctx, n = (int64_t)m->batch * L;
    s->p = p;
    s->posidx = fm_tensor_1d(FM_I32, n);
    FM_TRY(fm_tensor_alloc(m->be, &s->posidx));
    if (!fm_backend_keeps_data(m->be)) /* planning: nothing to fill */
        return FM_OK;
    int32_t idx[1024];
    for (int64_t e0 = 0; e0 < n; e0 += 1024) {
        int64_t k = n - e0 < 1024 ? n - e0 : 1024;
        for (int64_t e = 0; e < k; e++)
            idx[e] = (int32_t)((e0 + e) % L);
        fm_tensor part = fm_tensor_slice(s->posidx, e0, k);
        FM_TRY(fm_upload(m->be, &part, idx));
    }
    return FM_OK;
}

/* The special ids of the config's tokenizer (model/tokenizer.h): bytes BOS 256, EOS 257,
 * PAD 258; CLIP's BPE puts its start and end tokens last (49406, 49407 in the full
 * vocabulary, V - 2 and V - 1 in a vocabulary of fewer merges) and pads with 0. */
static int32_t eos_id(const fm_config *c)
{
    return c->text_tokenizer == FM_TOKENIZER_CLIP ? c->text_vocab - 1 : FM_TOK_BYTES_EOS;
}

void fm_text_empty(const fm_config *c, int32_t *ids)
{
    const int clip = c->text_tokenizer == FM_TOKENIZER_CLIP;
    for (int k = 0; k < c->text_ctx; k++)
        ids[k] = clip ? FM_CLIP_PAD : FM_TOK_BYTES_PAD;
    ids[0] = clip ? c->text_vocab - 2 : FM_TOK_BYTES_BOS;
    ids[1] = eos_id(c);
}

/* kbias [N, L] and pidx [N] from the ids, read back a row at a time (N L integers a
 * forward): l_n = 1 + the first EOS's position (L without one). */
static fm_status mask(const fm_blk_ctx *c, fm_text_state *s)
{
    const int L = c->m->cfg.text_ctx;
    const int32_t eos = eos_id(&c->m->cfg);
    FM_TRY(fm_new2(c->be, &s->kbias, c->N, L));
    s->pidx = fm_tensor_1d(FM_I32, c->N);
    FM_TRY(fm_tensor_alloc(c->be, &s->pidx));
    if (!fm_backend_keeps_data(c->be))
        return FM_OK;
    int32_t ids[256], pidx[256];
    float bias[256];
    for (int n = 0; n < c->N; n++) {
        fm_tensor row = fm_tensor_slice(s->tok, (int64_t)n * L, L);
        FM_TRY(fm_download(c->be, ids, &row));
        int l = L;
        for (int k = 0; k < L; k++)
            if (ids[k] == eos) {
                l = k + 1;
                break;
            }
        for (int k = 0; k < L; k++)
            bias[k] = k < l ? 0.0f : -INFINITY;
        fm_tensor b = fm_tensor_slice(s->kbias, n, 1);
        FM_TRY(fm_upload(c->be, &b, bias));
        pidx[n % 256] = n * L + l - 1;
        if (n % 256 == 255 || n == c->N - 1) {
            fm_tensor part = fm_tensor_slice(s->pidx, n - n % 256, n % 256 + 1);
            FM_TRY(fm_upload(c->be, &part, pidx));
        }
    }
    return FM_OK;
}

/* ---- forward -------------------------------------------------------------------------------- */

/* x + out(attn(q(a), k(a), v(a))) with a = LN1(x), then + fc2(quickGELU(fc1(LN2(.)))).
 * Sampling writes both residual sums over x. */
static fm_status layer_fwd(const fm_blk_ctx *c, fm_text_layer *s, int p, fm_tensor x, fm_tensor *out)
{
    fm_backend *be = c->be;
    const fm_config *cfg = &c->m->cfg;
    const int N = c->N, L = cfg->text_ctx, Dt = cfg->text_width, F = cfg->text_ff;
    const int keep = c->train;
    fm_tensor pr, f;
    s->x = x;
    FM_TRY(seq(be, &s->a, N, L, Dt));
    FM_TRY(ln(c, s->a, &s->mean1, &s->rstd1, x, p + L_LN1));
    FM_TRY(fm_dead(be, keep, &s->rstd1));
    FM_TRY(fm_dead(be, keep, &s->mean1));
    FM_TRY(seq(be, &s->q, N, L, Dt));
    FM_TRY(seq(be, &s->k, N, L, Dt));
    FM_TRY(seq(be, &s->v, N, L, Dt));
    FM_TRY(linear(c, s->q, s->a, p + L_Q));
    FM_TRY(linear(c, s->k, s->a, p + L_K));
    FM_TRY(linear(c, s->v, s->a, p + L_V));
    FM_TRY(fm_dead(be, keep, &s->a));
    FM_TRY(seq(be, &s->o, N, L, Dt));
    FM_TRY(fm_new4(be, &s->att, N, cfg->text_heads, L, L));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_XATTN_FWD, .t = {s->o, s->att, s->q, s->k, s->v},
                               .i = {cfg->text_heads, 1}}));
    FM_TRY(fm_dead(be, keep, &s->att));
    FM_TRY(fm_dead(be, keep, &s->v));
    FM_TRY(fm_dead(be, keep, &s->k));
    FM_TRY(fm_dead(be, keep, &s->q));
    FM_TRY(seq(be, &pr, N, L, Dt));
    FM_TRY(linear(c, pr, s->o, p + L_OUT));
    FM_TRY(fm_dead(be, keep, &s->o));
    if (keep)
        FM_TRY(seq(be, &s->x1, N, L, Dt));
    else
        s->x1 = x;
    FM_TRY(fm_blk_add(be, s->x1, x, pr));
    FM_TRY(fm_tensor_free(be, &pr));
    FM_TRY(seq(be, &s->mm, N, L, Dt));
    FM_TRY(ln(c, s->mm, &s->mean2, &s->rstd2, s->x1, p + L_LN2));
    FM_TRY(fm_dead(be, keep, &s->rstd2));
    FM_TRY(fm_dead(be, keep, &s->mean2));
    FM_TRY(seq(be, &s->h, N, L, F));
    FM_TRY(linear(c, s->h, s->mm, p + L_FC1));
    FM_TRY(fm_dead(be, keep, &s->mm));
    FM_TRY(seq(be, &s->g, N, L, F));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_GELU_FWD, .t = {s->g, s->h}, .i = {FM_GELU_QUICK}}));
    FM_TRY(fm_dead(be, keep, &s->h));
    FM_TRY(seq(be, &f, N, L, Dt));
    FM_TRY(linear(c, f, s->g, p + L_FC2));
    FM_TRY(fm_dead(be, keep, &s->g));
    if (keep)
        FM_TRY(seq(be, out, N, L, Dt));
    else
        *out = s->x1;
    FM_TRY(fm_blk_add(be, *out, s->x1, f));
    return fm_tensor_free(be, &f);
}

fm_status fm_text_fwd(fm_blk_ctx *c, fm_text_state *s, const fm_tensor *y)
{
    fm_backend *be = c->be;
    const fm_config *cfg = &c->m->cfg;
    const int N = c->N, L = cfg->text_ctx, Dt = cfg->text_width;
    if (y->ndim < 1 || y->dtype != FM_I32 || fm_tensor_numel(y) != (int64_t)N * L)
        return fm_fail(be, FM_ERR_ARG, "text model forward: y must be [%d, %d] token ids (i32)", N,
                       L);
    s->tok = fm_tensor_1d(FM_I32, (int64_t)N * L);
    s->tok.base = y->base, s->tok.off = y->off;
    FM_TRY(mask(c, s));
    /* x = token_emb[y] + pos_emb[l] */
    fm_tensor x, pe;
    FM_TRY(seq(be, &x, N, L, Dt));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_FWD, .t = {rows(x), W(c, s->p), s->tok}}));
    FM_TRY(seq(be, &pe, N, L, Dt));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_FWD,
                               .t = {rows(pe), W(c, s->p + 1),
                                     fm_tensor_slice(s->posidx, 0, (int64_t)N * L)}}));
    FM_TRY(fm_blk_add(be, x, x, pe));
    FM_TRY(fm_tensor_free(be, &pe));
    for (int i = 0; i < cfg->text_depth; i++) {
        fm_text_layer local, *ls = c->train ? &s->l[i] : &local;
        fm_tensor out;
        FM_TRY(layer_fwd(c, ls, s->p + 2 + L_N * i, x, &out));
        x = out;
    }
    /* H = final_ln(x); pooled = H[n, l_n - 1] */
    const int pf = s->p + 2 + L_N * cfg->text_depth;
    s->xf = x;
    FM_TRY(seq(be, &s->H, N, L, Dt));
    FM_TRY(ln(c, s->H, &s->meanf, &s->rstdf, x, pf));
    FM_TRY(fm_dead(be, c->train, &s->rstdf));
    FM_TRY(fm_dead(be, c->train, &s->meanf));
    FM_TRY(fm_dead(be, c->train, &s->xf));
    FM_TRY(fm_new2(be, &s->pooled, N, Dt));
    return fm_do(be, (fm_call){.op = FM_OP_EMBED_FWD, .t = {s->pooled, rows(s->H), s->pidx}});
}

fm_status fm_text_pool_fwd(fm_blk_ctx *c, fm_text_state *s, fm_tensor emb, int pproj)
{
    fm_tensor tp;
    FM_TRY(fm_new2(c->be, &tp, emb.shape[0], emb.shape[1]));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {tp, s->pooled, W(c, pproj), W(c, pproj + 1)}}));
    FM_TRY(fm_blk_add(c->be, emb, emb, tp));
    FM_TRY(fm_tensor_free(c->be, &tp));
    return fm_dead(c->be, c->train, &s->pooled);
}

fm_status fm_text_cross_fwd(fm_blk_ctx *c, const fm_text_state *s, fm_text_cross *k, int p,
                            fm_tensor u, int u_dead, fm_tensor *out)
{
    fm_backend *be = c->be;
    const fm_config *cfg = &c->m->cfg;
    const int N = c->N, Lq = (int)u.shape[1], C = (int)u.shape[2], L = cfg->text_ctx;
    k->u = u;
    FM_TRY(seq(be, &k->q, N, Lq, C));
    FM_TRY(linear(c, k->q, u, p + X_Q));
    if (u_dead)
        FM_TRY(fm_dead(be, c->train, &k->u));
    FM_TRY(seq(be, &k->k, N, L, C));
    FM_TRY(seq(be, &k->v, N, L, C));
    FM_TRY(linear(c, k->k, s->H, p + X_K));
    FM_TRY(linear(c, k->v, s->H, p + X_V));
    FM_TRY(seq(be, &k->o, N, Lq, C));
    FM_TRY(fm_new4(be, &k->att, N, cfg->heads, Lq, L));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_XATTN_FWD, .t = {k->o, k->att, k->q, k->k, k->v, s->kbias},
                               .i = {cfg->heads, 0}}));
    FM_TRY(fm_dead(be, c->train, &k->att));
    FM_TRY(fm_dead(be, c->train, &k->v));
    FM_TRY(fm_dead(be, c->train, &k->k));
    FM_TRY(fm_dead(be, c->train, &k->q));
    FM_TRY(seq(be, out, N, Lq, C));
    FM_TRY(linear(c, *out, k->o, p + X_OUT));
    return fm_dead(be, c->train, &k->o);
}

/* [N, C, h w] <-> [N, h w, C] */
static fm_tensor chw(fm_tensor x)
{
    int64_t shape[3] = {x.shape[0], x.shape[1], x.shape[2] * x.shape[3]};
    return fm_tensor_reshape(x, 3, shape);
}

fm_status fm_text_cross_img_fwd(fm_blk_ctx *c, const fm_text_state *s, fm_text_cross *k, int p,
                                fm_tensor x, int x_dead, fm_tensor *out)
{
    fm_backend *be = c->be;
    const int64_t N = x.shape[0], C = x.shape[1], S = x.shape[2] * x.shape[3];
    fm_tensor u, d, dt;
    k->x = x;
    FM_TRY(fm_new_like(be, &k->n, x));
    FM_TRY(fm_blk_gnorm(c, k->n, &k->mean, &k->rstd, x, p));
    FM_TRY(seq(be, &u, N, S, C));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_TRANSPOSE, .t = {u, chw(k->n)}}));
    FM_TRY(fm_dead(be, c->train, &k->n));
    FM_TRY(fm_text_cross_fwd(c, s, k, p + 2, u, 1, &d));
    FM_TRY(seq(be, &dt, N, C, S));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_TRANSPOSE, .t = {dt, d}}));
    FM_TRY(fm_tensor_free(be, &d));
    if (c->train || !x_dead)
        FM_TRY(fm_new_like(be, out, x));
    else
        *out = x;
    FM_TRY(fm_blk_add(be, chw(*out), chw(x), dt));
    return fm_tensor_free(be, &dt);
}

fm_status fm_text_release(fm_blk_ctx *c, fm_text_state *s)
{
    FM_TRY(fm_dead(c->be, c->train, &s->H));
    FM_TRY(fm_dead(c->be, c->train, &s->pidx));
    return fm_dead(c->be, c->train, &s->kbias);
}

/* ---- backward ------------------------------------------------------------------------------- */

fm_status fm_text_bwd_begin(fm_model *m, fm_text_state *s)
{
    FM_TRY(fm_new_like(m->be, &s->dH, s->H));
    return fm_fill(m->be, &s->dH, 0.0f);
}

/* acc += the input gradient of the linear at p (dout, in), through a temporary. */
static fm_status linear_bwd_acc(fm_model *m, fm_tensor acc, fm_tensor dout, fm_tensor in, int p)
{
    fm_tensor t;
    FM_TRY(fm_new_like(m->be, &t, acc));
    FM_TRY(linear_bwd(m, t, dout, in, p));
    FM_TRY(fm_blk_add(m->be, acc, acc, t));
    return fm_tensor_free(m->be, &t);
}

fm_status fm_text_cross_bwd(fm_model *m, fm_text_state *s, const fm_text_cross *k, int p,
                            fm_tensor du, fm_tensor dout)
{
    fm_backend *be = m->be;
    fm_tensor dO, dq, dk, dv, ds;
    FM_TRY(fm_new_like(be, &dO, k->o));
    FM_TRY(linear_bwd(m, dO, dout, k->o, p + X_OUT));
    FM_TRY(fm_new_like(be, &dq, k->q));
    FM_TRY(fm_new_like(be, &dk, k->k));
    FM_TRY(fm_new_like(be, &dv, k->v));
    FM_TRY(fm_new_like(be, &ds, k->att));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_XATTN_BWD,
                               .t = {dq, dk, dv, ds, dO, k->q, k->k, k->v, k->att},
                               .i = {m->cfg.heads, 0}}));
    FM_TRY(fm_tensor_free(be, &ds));
    FM_TRY(linear_bwd_acc(m, s->dH, dv, s->H, p + X_V));
    FM_TRY(linear_bwd_acc(m, s->dH, dk, s->H, p + X_K));
    FM_TRY(linear_bwd(m, du, dq, k->u, p + X_Q));
    FM_TRY(fm_tensor_free(be, &dv));
    FM_TRY(fm_tensor_free(be, &dk));
    FM_TRY(fm_tensor_free(be, &dq));
    return fm_tensor_free(be, &dO);
}

fm_status fm_text_cross_img_bwd(fm_model *m, fm_text_state *s, const fm_text_cross *k, int p,
                                fm_tensor dx)
{
    fm_backend *be = m->be;
    const int64_t N = dx.shape[0], C = dx.shape[1], S = dx.shape[2] * dx.shape[3];
    fm_tensor dd, du, dn, dnc, dgn;
    /* the residual: dL/d(branch) = dx, as tokens */
    FM_TRY(seq(be, &dd, N, S, C));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_TRANSPOSE, .t = {dd, chw(dx)}}));
    FM_TRY(seq(be, &du, N, S, C));
    FM_TRY(fm_text_cross_bwd(m, s, k, p + 2, du, dd));
    FM_TRY(seq(be, &dn, N, C, S));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_TRANSPOSE, .t = {dn, du}}));
    FM_TRY(fm_new_like(be, &dgn, dx));
    dnc = fm_tensor_reshape(dn, 4, dx.shape);
    FM_TRY(fm_blk_gnorm_bwd(m, dgn, dnc, k->x, k->mean, k->rstd, &m->P, p));
    FM_TRY(fm_blk_add(be, dx, dx, dgn));
    FM_TRY(fm_tensor_free(be, &dgn));
    FM_TRY(fm_tensor_free(be, &dn));
    FM_TRY(fm_tensor_free(be, &du));
    return fm_tensor_free(be, &dd);
}

/* dx (written) from dout through layer i; dout is consumed. */
static fm_status layer_bwd(fm_model *m, const fm_text_layer *s, int p, fm_tensor dx, fm_tensor dout)
{
    fm_backend *be = m->be;
    fm_tensor dg, dh, dmm, dx1, dO, dq, dk, dv, ds, da;
    /* MLP branch: dx1 = dout + LN2'(fc1'(gelu'(fc2'(dout)))) */
    FM_TRY(fm_new_like(be, &dg, s->g));
    FM_TRY(linear_bwd(m, dg, dout, s->g, p + L_FC2));
    FM_TRY(fm_new_like(be, &dh, s->h));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_GELU_BWD, .t = {dh, dg, s->h}, .i = {FM_GELU_QUICK}}));
    FM_TRY(fm_new_like(be, &dmm, s->mm));
    FM_TRY(linear_bwd(m, dmm, dh, s->mm, p + L_FC1));
    FM_TRY(fm_new_like(be, &dx1, s->x1));
    FM_TRY(ln_bwd(m, dx1, dmm, s->x1, s->mean2, s->rstd2, p + L_LN2));
    FM_TRY(fm_blk_add(be, dx1, dx1, dout));
    /* attention branch: dx = dx1 + LN1'(q' + k' + v' of attn'(out'(dx1))) */
    FM_TRY(fm_new_like(be, &dO, s->o));
    FM_TRY(linear_bwd(m, dO, dx1, s->o, p + L_OUT));
    FM_TRY(fm_new_like(be, &dq, s->q));
    FM_TRY(fm_new_like(be, &dk, s->k));
    FM_TRY(fm_new_like(be, &dv, s->v));
    FM_TRY(fm_new_like(be, &ds, s->att));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_XATTN_BWD,
                               .t = {dq, dk, dv, ds, dO, s->q, s->k, s->v, s->att},
                               .i = {m->cfg.text_heads, 1}}));
    FM_TRY(fm_new_like(be, &da, s->a));
    FM_TRY(linear_bwd(m, da, dq, s->a, p + L_Q));
    FM_TRY(linear_bwd_acc(m, da, dk, s->a, p + L_K));
    FM_TRY(linear_bwd_acc(m, da, dv, s->a, p + L_V));
    FM_TRY(ln_bwd(m, dx, da, s->x, s->mean1, s->rstd1, p + L_LN1));
    FM_TRY(fm_blk_add(be, dx, dx, dx1));
    fm_tensor *tmp[] = {&da, &ds, &dv, &dk, &dq, &dO, &dx1, &dmm, &dh, &dg};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++)
        FM_TRY(fm_tensor_free(be, tmp[i]));
    return FM_OK;
}

/* The encoder's backward from dH: the final norm, the layers in reverse, the two
 * embedding tables (scatter-adds). */
static fm_status encoder_bwd(fm_model *m, fm_text_state *s)
{
    fm_backend *be = m->be;
    const fm_config *cfg = &m->cfg;
    const int N = (int)s->H.shape[0], L = cfg->text_ctx;
    fm_tensor dx;
    FM_TRY(fm_new_like(be, &dx, s->xf));
    FM_TRY(ln_bwd(m, dx, s->dH, s->xf, s->meanf, s->rstdf, s->p + 2 + L_N * cfg->text_depth));
    for (int i = cfg->text_depth - 1; i >= 0; i--) {
        fm_tensor dxi;
        FM_TRY(fm_new_like(be, &dxi, s->l[i].x));
        FM_TRY(layer_bwd(m, &s->l[i], s->p + 2 + L_N * i, dxi, dx));
        FM_TRY(fm_copy(be, &dx, &dxi));
        FM_TRY(fm_tensor_free(be, &dxi));
    }
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_BWD, .t = {fm_g(m, s->p), rows(dx), s->tok}}));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_BWD,
                               .t = {fm_g(m, s->p + 1), rows(dx),
                                     fm_tensor_slice(s->posidx, 0, (int64_t)N * L)}}));
    return fm_tensor_free(be, &dx);
}

fm_status fm_text_bwd_end(fm_model *m, fm_text_state *s, fm_tensor demb, int pproj)
{
    fm_backend *be = m->be;
    fm_tensor dp;
    FM_TRY(fm_new_like(be, &dp, s->pooled));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_BWD,
                               .t = {dp, fm_g(m, pproj), fm_g(m, pproj + 1), demb, s->pooled,
                                     fm_w(m, &m->P, pproj)}}));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_BWD, .t = {rows(s->dH), dp, s->pidx}}));
    FM_TRY(fm_tensor_free(be, &dp));
    if (!fm_model_frozen(m, s->p))
        FM_TRY(encoder_bwd(m, s));
    return fm_tensor_free(be, &s->dH);
}

fm_status fm_text_bwd_states(fm_model *m, fm_text_state *s, fm_tensor dH)
{
    if (fm_model_frozen(m, s->p))
        return FM_OK;
    s->dH = dH;
    fm_status st = encoder_bwd(m, s);
    s->dH = (fm_tensor){0};
    return st;
}
