/* The U-Net's and the autoencoder's shared modules (blocks.h), as dispatch-table
 * calls. docs/spec/unet.md, "Building blocks", gives the maths of each. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "blocks.h"

/* ResBlock parameters: norm1 conv1 [temb] norm2 conv2 [skip], weight then bias. */
enum { RB_N1 = 0, RB_C1 = 2, RB_T = 4 };
static int rb_n2(const fm_blk_mod *md) { return md->p + 4 + 2 * md->temb; }
static int rb_c2(const fm_blk_mod *md) { return md->p + 6 + 2 * md->temb; }
static int rb_sk(const fm_blk_mod *md) { return md->p + 8 + 2 * md->temb; }
/* Attention: norm qkv proj. */
enum { AT_N = 0, AT_Q = 2, AT_P = 4 };

/* ---- layout ------------------------------------------------------------------------------ */

static void describe(fm_blk_mod *md, const fm_layout *b, fm_blk_kind kind, int cin, int cout,
                     int res)
{
    if (md)
        *md = (fm_blk_mod){.kind = kind, .cin = cin, .cout = cout, .res = res, .p = b->np};
}

void fm_blk_lay_res(fm_layout *b, fm_blk_mod *md, const char *prefix, int cin, int cout, int T,
                    int res)
{
    describe(md, b, FM_BLK_RES, cin, cout, res);
    if (md)
        md->has_skip = cin != cout, md->temb = T > 0;
    fm_lay_norm(b, prefix, "norm1", cin);
    fm_lay_conv(b, prefix, "conv1", cout, cin, 3);
    if (T > 0)
        fm_lay_linear(b, prefix, "temb", cout, T);
    fm_lay_norm(b, prefix, "norm2", cout);
    fm_lay_conv(b, prefix, "conv2", cout, cout, 3);
    if (cin != cout)
        fm_lay_conv(b, prefix, "skip", cout, cin, 1);
}

void fm_blk_lay_attn(fm_layout *b, fm_blk_mod *md, const char *prefix, int c, int res)
{
    describe(md, b, FM_BLK_ATTN, c, c, res);
    fm_lay_norm(b, prefix, "norm", c);
    fm_lay_conv(b, prefix, "qkv", 3 * c, c, 1);
    fm_lay_conv(b, prefix, "proj", c, c, 1);
}

void fm_blk_lay_resample(fm_layout *b, fm_blk_mod *md, fm_blk_kind kind, const char *prefix, int c,
                         int res)
{
    describe(md, b, kind, c, c, res);
    fm_lay_conv(b, prefix, "conv", c, c, 3);
}

/* ---- single ops ---------------------------------------------------------------------------- */

static fm_tensor W(const fm_blk_ctx *c, int i) { return fm_w(c->m, c->P, i); }

fm_status fm_blk_conv_add(fm_blk_ctx *c, fm_tensor out, fm_tensor in, int p, int stride,
                          fm_tensor bn, fm_tensor res)
{
    fm_tensor w = W(c, p);
    int pad = (int)(w.shape[2] / 2);
    return fm_do(c->be, (fm_call){.op = FM_OP_CONV2D_FWD,
                                  .t = {out, in, w, W(c, p + 1), bn, res},
                                  .i = {stride, pad}});
}

fm_status fm_blk_conv(fm_blk_ctx *c, fm_tensor out, fm_tensor in, int p, int stride)
{
    return fm_blk_conv_add(c, out, in, p, stride, (fm_tensor){0}, (fm_tensor){0});
}

fm_status fm_blk_conv_bwd(fm_model *m, fm_tensor din, fm_tensor dout, fm_tensor in,
                          const fm_tensor *P, int p, int stride)
{
    fm_tensor w = fm_w(m, P, p);
    int pad = (int)(w.shape[2] / 2);
    return fm_do(m->be, (fm_call){.op = FM_OP_CONV2D_BWD,
                                  .t = {din, fm_g(m, p), fm_g(m, p + 1), dout, in, w},
                                  .i = {stride, pad}});
}

/* act: GROUPNORM_FWD's post-op (FM_GN_ACT_*) */
static fm_status gnorm_act(fm_blk_ctx *c, fm_tensor out, fm_tensor *mean, fm_tensor *rstd,
                           fm_tensor in, int p, int act)
{
    int G = c->m->cfg.groups;
    FM_TRY(fm_new2(c->be, mean, c->N, G));
    FM_TRY(fm_new2(c->be, rstd, c->N, G));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_GROUPNORM_FWD,
                                  .t = {out, *mean, *rstd, in, W(c, p), W(c, p + 1)},
                                  .i = {G, act},
                                  .f = {1e-5f}}));
    /* [N, G] statistics only backward reads; top of the arena first, so no hole. */
    FM_TRY(fm_dead(c->be, c->train, rstd));
    return fm_dead(c->be, c->train, mean);
}

fm_status fm_blk_gnorm(fm_blk_ctx *c, fm_tensor out, fm_tensor *mean, fm_tensor *rstd, fm_tensor in,
                       int p)
{
    return gnorm_act(c, out, mean, rstd, in, p, FM_GN_ACT_NONE);
}

fm_status fm_blk_gnorm_bwd(fm_model *m, fm_tensor din, fm_tensor dout, fm_tensor in, fm_tensor mean,
                           fm_tensor rstd, const fm_tensor *P, int p)
{
    return fm_do(m->be, (fm_call){.op = FM_OP_GROUPNORM_BWD,
                                  .t = {din, fm_g(m, p), fm_g(m, p + 1), dout, in, mean, rstd,
                                        fm_w(m, P, p)},
                                  .i = {m->cfg.groups}});
}

fm_status fm_blk_silu(fm_backend *be, fm_tensor out, fm_tensor in)
{
    return fm_do(be, (fm_call){.op = FM_OP_SILU_FWD, .t = {out, in}});
}

fm_status fm_blk_silu_bwd(fm_backend *be, fm_tensor din, fm_tensor dout, fm_tensor in)
{
    return fm_do(be, (fm_call){.op = FM_OP_SILU_BWD, .t = {din, dout, in}});
}

/* Training keeps the norm's output in *nrm for SILU_BWD: two ops. Otherwise one
 * GROUPNORM_FWD with the SiLU post-op, and *nrm is never allocated (one pass and one
 * tensor less; the same bytes on ref, see kernels_ref/groupnorm.c). */
fm_status fm_blk_norm_silu(fm_blk_ctx *c, fm_tensor *nrm, fm_tensor *act, fm_tensor *mean,
                           fm_tensor *rstd, fm_tensor in, int p)
{
    const int64_t *d = in.shape;
    if (!c->train) {
        *nrm = (fm_tensor){0};
        FM_TRY(fm_new4(c->be, act, d[0], d[1], d[2], d[3]));
        return gnorm_act(c, *act, mean, rstd, in, p, FM_GN_ACT_SILU);
    }
    FM_TRY(fm_new4(c->be, nrm, d[0], d[1], d[2], d[3]));
    FM_TRY(fm_blk_gnorm(c, *nrm, mean, rstd, in, p));
    FM_TRY(fm_new4(c->be, act, d[0], d[1], d[2], d[3]));
    return fm_blk_silu(c->be, *act, *nrm);
}

fm_status fm_blk_add(fm_backend *be, fm_tensor out, fm_tensor a, fm_tensor b)
{
    return fm_do(be, (fm_call){.op = FM_OP_ADD_FWD, .t = {out, a, b}});
}

/* ---- modules: forward ------------------------------------------------------------------------ */

/* out = conv2(SiLU(norm2(conv1(SiLU(norm1(x))) [+ temb(st)]))) + skip(x)
 *
 * The time embedding tp [N,cout] and the skip path are conv1's and conv2's epilogue
 * terms (CONV2D_FWD bn and res), not passes of their own. x [N,cin,H,H], out
 * [N,cout,H,H] allocated here, at its first write. When sampling each temporary is
 * freed after its last use, so at most x, a1 = SiLU(norm1(x)) [N,cin,H,H] (one fused
 * GROUPNORM_FWD) and h1 [N,cout,H,H] are alive at once, plus a2, sk and out
 * [N,cout,H,H] at the end (sk before out: the order in which the arena's holes fit,
 * tests/test_model.c's mnist_sample_arena check); x itself belongs to the caller. */
static fm_status res_fwd(fm_blk_ctx *c, const fm_blk_mod *md, fm_blk_saved *s, fm_tensor x,
                         fm_tensor *out, fm_tensor st)
{
    int N = c->N, H = md->res, p = md->p;
    fm_tensor tp = {0};
    s->x = x;
    FM_TRY(fm_blk_norm_silu(c, &s->n1, &s->a1, &s->mean1, &s->rstd1, x, p + RB_N1));
    if (md->temb) {
        FM_TRY(fm_new2(c->be, &tp, N, md->cout));
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_LINEAR_FWD,
                                      .t = {tp, st, W(c, p + RB_T), W(c, p + RB_T + 1)}}));
    }
    FM_TRY(fm_new4(c->be, &s->h1, N, md->cout, H, H));
    FM_TRY(fm_blk_conv_add(c, s->h1, s->a1, p + RB_C1, 1, tp, (fm_tensor){0}));
    FM_TRY(fm_dead(c->be, c->train, &s->a1));
    if (md->temb)
        FM_TRY(fm_dead(c->be, c->train, &tp));
    FM_TRY(fm_blk_norm_silu(c, &s->n2, &s->a2, &s->mean2, &s->rstd2, s->h1, rb_n2(md)));
    FM_TRY(fm_dead(c->be, c->train, &s->h1));
    fm_tensor sk = x;
    if (md->has_skip) {
        FM_TRY(fm_new4(c->be, &sk, N, md->cout, H, H));
        FM_TRY(fm_blk_conv(c, sk, x, rb_sk(md), 1));
    }
    FM_TRY(fm_new4(c->be, out, N, md->cout, H, H));
    FM_TRY(fm_blk_conv_add(c, *out, s->a2, rb_c2(md), 1, (fm_tensor){0}, sk));
    FM_TRY(fm_dead(c->be, c->train, &s->a2));
    if (md->has_skip)
        FM_TRY(fm_dead(c->be, c->train, &sk));
    s->out = *out;
    return FM_OK;
}

/* out = x + proj(attention(qkv(norm(x)))), x the projection's epilogue term
 * x, out [N,C,H,H]; n1 [N,C,H,H] dies at qkv [N,3C,H,H], which dies with the
 * attention weights att [N,heads,L,L] once o [N,C,H,H] is written. */
static fm_status attn_fwd(fm_blk_ctx *c, const fm_blk_mod *md, fm_blk_saved *s, fm_tensor x,
                          fm_tensor *out)
{
    int N = c->N, H = md->res, C = md->cin, p = md->p, L = H * H, heads = c->m->cfg.heads;
    s->x = x;
    FM_TRY(fm_new4(c->be, &s->n1, N, C, H, H));
    FM_TRY(fm_blk_gnorm(c, s->n1, &s->mean1, &s->rstd1, x, p + AT_N));
    FM_TRY(fm_new4(c->be, &s->qkv, N, 3 * C, H, H));
    FM_TRY(fm_blk_conv(c, s->qkv, s->n1, p + AT_Q, 1));
    FM_TRY(fm_dead(c->be, c->train, &s->n1));
    s->att = fm_tensor_4d(FM_F32, N, heads, L, L);
    FM_TRY(fm_tensor_alloc(c->be, &s->att));
    FM_TRY(fm_new4(c->be, &s->o, N, C, H, H));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ATTENTION_FWD, .t = {s->o, s->att, s->qkv},
                                  .i = {heads}}));
    FM_TRY(fm_dead(c->be, c->train, &s->att));
    FM_TRY(fm_dead(c->be, c->train, &s->qkv));
    FM_TRY(fm_new4(c->be, out, N, C, H, H));
    FM_TRY(fm_blk_conv_add(c, *out, s->o, p + AT_P, 1, (fm_tensor){0}, x));
    FM_TRY(fm_dead(c->be, c->train, &s->o));
    s->out = *out;
    return FM_OK;
}

fm_status fm_blk_fwd(fm_blk_ctx *c, const fm_blk_mod *md, fm_blk_saved *s, fm_tensor x, int x_dead,
                     fm_tensor *out, fm_tensor st)
{
    const int N = c->N, H = md->res;
    switch (md->kind) {
    case FM_BLK_RES: FM_TRY(res_fwd(c, md, s, x, out, st)); break;
    case FM_BLK_ATTN: FM_TRY(attn_fwd(c, md, s, x, out)); break;
    case FM_BLK_DOWN:
        s->x = x;
        FM_TRY(fm_new4(c->be, out, N, md->cout, H / 2, H / 2));
        FM_TRY(fm_blk_conv(c, *out, x, md->p, 2));
        break;
    case FM_BLK_XATTN:
        return fm_fail(c->be, FM_ERR_ARG, "blocks: a cross-attention module runs in text.c");
    case FM_BLK_UP:
        /* up [N, cin, 2H, 2H] is 4x the input, which dies before the conv's out. */
        s->x = x;
        FM_TRY(fm_new4(c->be, &s->up, N, md->cin, 2 * H, 2 * H));
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_UPSAMPLE2X_FWD, .t = {s->up, x}}));
        if (x_dead)
            FM_TRY(fm_dead(c->be, c->train, &x));
        x_dead = 0;
        FM_TRY(fm_new4(c->be, out, N, md->cout, 2 * H, 2 * H));
        FM_TRY(fm_blk_conv(c, *out, s->up, md->p, 1));
        FM_TRY(fm_dead(c->be, c->train, &s->up));
        break;
    }
    if (x_dead)
        FM_TRY(fm_dead(c->be, c->train, &x));
    return FM_OK;
}

/* ---- modules: backward ----------------------------------------------------------------------- */

/* dx = dL/dx from dout; with temb, dst += dL/dst through the projection. */
static fm_status res_bwd(fm_model *m, const fm_blk_mod *md, const fm_blk_saved *s, fm_tensor dx,
                         fm_tensor dout, fm_tensor dst, fm_tensor st)
{
    const fm_tensor *P = &m->P;
    int N = (int)dout.shape[0], H = md->res, p = md->p;
    fm_tensor da2, dn2, dh1, da1, dn1;
    FM_TRY(fm_new4(m->be, &da2, N, md->cout, H, H));
    FM_TRY(fm_blk_conv_bwd(m, da2, dout, s->a2, P, rb_c2(md), 1));
    FM_TRY(fm_new4(m->be, &dn2, N, md->cout, H, H));
    FM_TRY(fm_blk_silu_bwd(m->be, dn2, da2, s->n2));
    FM_TRY(fm_new4(m->be, &dh1, N, md->cout, H, H));
    FM_TRY(fm_blk_gnorm_bwd(m, dh1, dn2, s->h1, s->mean2, s->rstd2, P, rb_n2(md)));
    if (md->temb) {
        /* h1 = conv1(a1) + temb(st) broadcast: the projection sees the spatial sums. */
        fm_tensor dtp, dst_i;
        FM_TRY(fm_new2(m->be, &dtp, N, md->cout));
        FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_BIAS_ADD_BWD, .t = {dtp, dh1}}));
        FM_TRY(fm_new2(m->be, &dst_i, N, st.shape[1]));
        FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_LINEAR_BWD,
                                      .t = {dst_i, fm_g(m, p + RB_T), fm_g(m, p + RB_T + 1), dtp,
                                            st, fm_w(m, P, p + RB_T)}}));
        FM_TRY(fm_blk_add(m->be, dst, dst, dst_i));
    }
    FM_TRY(fm_new4(m->be, &da1, N, md->cin, H, H));
    FM_TRY(fm_blk_conv_bwd(m, da1, dh1, s->a1, P, p + RB_C1, 1));
    FM_TRY(fm_new4(m->be, &dn1, N, md->cin, H, H));
    FM_TRY(fm_blk_silu_bwd(m->be, dn1, da1, s->n1));
    FM_TRY(fm_blk_gnorm_bwd(m, dx, dn1, s->x, s->mean1, s->rstd1, P, p + RB_N1));
    if (!md->has_skip)
        return fm_blk_add(m->be, dx, dx, dout);
    fm_tensor dsk;
    FM_TRY(fm_new4(m->be, &dsk, N, md->cin, H, H));
    FM_TRY(fm_blk_conv_bwd(m, dsk, dout, s->x, P, rb_sk(md), 1));
    return fm_blk_add(m->be, dx, dx, dsk);
}

static fm_status attn_bwd(fm_model *m, const fm_blk_mod *md, const fm_blk_saved *s, fm_tensor dx,
                          fm_tensor dout)
{
    const fm_tensor *P = &m->P;
    int N = (int)dout.shape[0], H = md->res, C = md->cin, p = md->p;
    fm_tensor d_o, dqkv, ws, dn;
    FM_TRY(fm_new4(m->be, &d_o, N, C, H, H));
    FM_TRY(fm_blk_conv_bwd(m, d_o, dout, s->o, P, p + AT_P, 1));
    FM_TRY(fm_new4(m->be, &dqkv, N, 3 * C, H, H));
    ws = fm_tensor_1d(FM_F32, fm_attention_ws_floats((int64_t)H * H));
    FM_TRY(fm_tensor_alloc(m->be, &ws));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_ATTENTION_BWD, .t = {dqkv, ws, d_o, s->qkv, s->att},
                                  .i = {m->cfg.heads}}));
    FM_TRY(fm_new4(m->be, &dn, N, C, H, H));
    FM_TRY(fm_blk_conv_bwd(m, dn, dqkv, s->n1, P, p + AT_Q, 1));
    FM_TRY(fm_blk_gnorm_bwd(m, dx, dn, s->x, s->mean1, s->rstd1, P, p + AT_N));
    return fm_blk_add(m->be, dx, dx, dout);
}

fm_status fm_blk_bwd(fm_model *m, const fm_blk_mod *md, const fm_blk_saved *s, fm_tensor dx,
                     fm_tensor dh, fm_tensor dst, fm_tensor st)
{
    fm_backend *be = m->be;
    const int N = (int)dh.shape[0], H = md->res;
    fm_arena_mark mark = fm_arena_get_mark(&be->arena, "module grad");
    fm_status r = FM_OK;
    switch (md->kind) {
    case FM_BLK_RES: r = res_bwd(m, md, s, dx, dh, dst, st); break;
    case FM_BLK_ATTN: r = attn_bwd(m, md, s, dx, dh); break;
    case FM_BLK_DOWN: r = fm_blk_conv_bwd(m, dx, dh, s->x, &m->P, md->p, 2); break;
    case FM_BLK_UP: {
        fm_tensor du;
        r = fm_new4(be, &du, N, md->cin, 2 * H, 2 * H);
        if (r == FM_OK)
            r = fm_blk_conv_bwd(m, du, dh, s->up, &m->P, md->p, 1);
        if (r == FM_OK)
            r = fm_do(be, (fm_call){.op = FM_OP_UPSAMPLE2X_BWD, .t = {dx, du}});
        break;
    }
    case FM_BLK_XATTN:
        r = fm_fail(be, FM_ERR_ARG, "blocks: a cross-attention module runs in text.c");
        break;
    }
    fm_arena_reset(&be->arena, mark);
    return r;
}

/* convs 2 Cin Cout K^2 Ho Wo; attention 2 C 3C L + 2 C C L (1x1 convs) + 4 L^2 C (q^T k
 * and A v). */
double fm_blk_gflop(const fm_blk_mod *md)
{
    double r2 = (double)md->res * md->res, ci = md->cin, co = md->cout, f = 0;
    switch (md->kind) {
    case FM_BLK_RES:
        f = 2.0 * ci * co * 9 * r2 + 2.0 * co * co * 9 * r2 + (md->has_skip ? 2.0 * ci * co * r2 : 0);
        break;
    case FM_BLK_DOWN: f = 2.0 * ci * co * 9 * r2 / 4; break;
    case FM_BLK_UP: f = 2.0 * ci * co * 9 * r2 * 4; break;
    case FM_BLK_ATTN: f = 2.0 * ci * 3 * ci * r2 + 2.0 * ci * ci * r2 + 4.0 * r2 * r2 * ci; break;
    case FM_BLK_XATTN: break; /* text.c counts it (fm_text_cross_gflop) */
    }
    return f / 1e9;
}

/* ---- configuration and initialisation ------------------------------------------------------- */

static int in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }
#define BAD(...) return (snprintf(msg, len, __VA_ARGS__), FM_ERR_ARG)

fm_status fm_blk_check(const fm_config *c, char *msg, size_t len)
{
    if (!in_range(c->levels, 1, FM_MAX_LEVELS))
        BAD("channel_mult has %d levels, expected 1..%d", c->levels, FM_MAX_LEVELS);
    if (!in_range(c->image, 1, 4096))
        BAD("image %d out of range 1..4096", c->image);
    if (c->image % (1 << (c->levels - 1)) != 0)
        BAD("image %d must be divisible by 2^(levels-1) = %d", c->image, 1 << (c->levels - 1));
    if (!in_range(c->groups, 1, 1024))
        BAD("groups %d out of range 1..1024", c->groups);
    if (!in_range(c->base_channels, 4, 4096))
        BAD("base_channels %d out of range 4..4096", c->base_channels);
    if (c->base_channels % c->groups != 0)
        BAD("base_channels %d must be a multiple of groups %d", c->base_channels, c->groups);
    for (int l = 0; l < c->levels; l++)
        if (!in_range(c->channel_mult[l], 1, 64))
            BAD("channel_mult[%d] = %d out of range 1..64", l, c->channel_mult[l]);
    if (!in_range(c->res_blocks, 1, FM_MAX_RES_BLOCKS))
        BAD("res_blocks %d out of range 1..%d", c->res_blocks, FM_MAX_RES_BLOCKS);
    int mid = c->base_channels * c->channel_mult[c->levels - 1];
    if (!in_range(c->heads, 1, mid))
        BAD("heads %d out of range 1..%d (the middle width)", c->heads, mid);
    if (mid % c->heads != 0)
        BAD("heads %d must divide the middle width %d", c->heads, mid);
    return FM_OK;
}

#undef BAD

fm_init fm_blk_init(const fm_model *m, int i)
{
    const char *name = m->params[i].name;
    size_t len = strlen(name);
    int is_bias = len > 5 && strcmp(name + len - 5, ".bias") == 0;
    if (strstr(name, "norm"))
        return (fm_init){is_bias ? FM_INIT_ZERO : FM_INIT_ONE, 0};
    const fm_tensor *w = is_bias && i > 0 ? &m->params[i - 1].t : &m->params[i].t;
    int64_t fan_in = fm_tensor_numel(w) / w->shape[0];
    return (fm_init){FM_INIT_UNIFORM, 1.0f / sqrtf((float)fan_in)};
}
