/* The U-Net of docs/spec/unet.md as a sequence of dispatch-table calls.
 *
 * Forward (skip stack hs):
 *   temb = lin2(SiLU(lin1(sinusoid(t)))) [+ class_emb[y]];  st = SiLU(temb)
 *   h = conv_in(x); push h
 *   encoder modules (ResBlocks, Down between levels); push after each
 *   middle: ResBlock, Attention, ResBlock
 *   decoder: ResBlock(concat[h, pop()]) ..., Up between levels
 *   v = conv_out(SiLU(norm_out(h)))
 * Backward runs the same list in reverse; the gradient of every pushed tensor
 * collects its two uses (the next module and the decoder's concat), and every
 * ResBlock adds its share of dL/dst. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "build.h"

#define MAX_MODULES 96

/* One network module: a ResBlock, Down, Up or Attention, with its first parameter. */
typedef enum mod_kind { MOD_RES, MOD_DOWN, MOD_UP, MOD_ATTN } mod_kind;
typedef enum mod_part { PART_ENC, PART_MID, PART_DEC } mod_part;

typedef struct module {
    mod_kind kind;
    mod_part part;
    int cin, cout;  /* channels in (for decoder ResBlocks: h + skip) and out */
    int cskip;      /* decoder ResBlocks: channels taken from the skip stack */
    int res;        /* H = W at this module's input */
    int p;          /* index of its first parameter */
    int has_skip;   /* ResBlock with a 1x1 skip conv (cin != cout) */
} module;

/* What a module's backward needs from its forward (fields used per kind). */
typedef struct saved {
    fm_tensor x;                            /* module input (decoder: the concat) */
    fm_tensor n1, mean1, rstd1, a1, h1;     /* ResBlock first half; Attention: n1 = norm(x) */
    fm_tensor n2, mean2, rstd2, a2;         /* ResBlock second half */
    fm_tensor qkv, att, o;                  /* Attention */
    fm_tensor up;                           /* Up: the upsampled input */
    fm_tensor out;
} saved;

/* The U-Net's state in the model: its modules and the activations backward reads. */
typedef struct unet_state {
    int nmods;
    module mods[MAX_MODULES];
    saved sv[MAX_MODULES];                  /* training forwards */
    fm_tensor e, l1, s1, temb, st;          /* time path: st = SiLU(temb) feeds every ResBlock */
    fm_tensor hs[2 * FM_MAX_LEVELS * 10];   /* skip stack */
    int nhs;
    fm_tensor hlast, nout, mout, rout, aout; /* output head: v = conv_out(SiLU(norm_out(hlast))) */
} unet_state;
_Static_assert(sizeof(unet_state) <= FM_MODEL_STATE_BYTES, "unet_state outgrew FM_MODEL_STATE_BYTES");

static unet_state *state(fm_model *m) { return FM_MODEL_STATE(m, unet_state); }

/* ---- layout ------------------------------------------------------------------------ */

/* ResBlock parameter order: norm1 conv1 temb norm2 conv2 [skip], weight then bias. */
enum { RB_N1W, RB_N1B, RB_C1W, RB_C1B, RB_TW, RB_TB, RB_N2W, RB_N2B, RB_C2W, RB_C2B, RB_SW, RB_SB };
/* Attention: norm qkv proj. Down/Up: conv. */
enum { AT_NW, AT_NB, AT_QW, AT_QB, AT_PW, AT_PB };

/* The walk's output: the parameter table (b) and, when mods is set, the module list;
 * n counts the modules either way. */
typedef struct walk {
    fm_layout *b;
    module *mods;
    int n;
    module dummy; /* what add_module hands out when it only counts or is full */
} walk;

/* A module whose first parameter is the next one added. */
static module *add_module(walk *w, mod_kind kind, mod_part part, int cin, int cout, int res)
{
    int i = w->n++;
    if (!w->mods || i >= MAX_MODULES)
        return &w->dummy;
    module *m = &w->mods[i];
    *m = (module){.kind = kind, .part = part, .cin = cin, .cout = cout, .res = res, .p = w->b->np};
    return m;
}

static module *add_resblock(walk *w, mod_part part, const char *prefix, int cin, int cout, int T,
                            int res)
{
    fm_layout *b = w->b;
    module *m = add_module(w, MOD_RES, part, cin, cout, res);
    m->has_skip = cin != cout;
    fm_lay_norm(b, prefix, "norm1", cin);
    fm_lay_conv(b, prefix, "conv1", cout, cin, 3);
    fm_lay_linear(b, prefix, "temb", cout, T);
    fm_lay_norm(b, prefix, "norm2", cout);
    fm_lay_conv(b, prefix, "conv2", cout, cout, 3);
    if (m->has_skip)
        fm_lay_conv(b, prefix, "skip", cout, cin, 1);
    return m;
}

static void build(const fm_config *cfg, walk *w)
{
    fm_layout *b = w->b;
    const int C = cfg->base_channels, T = cfg->time_dim;
    char prefix[32];
    int chans[64], nch = 0, c = C, res = cfg->image, e = 0, d = 0;

    fm_lay_linear(b, "", "time_lin1", T, C);
    fm_lay_linear(b, "", "time_lin2", T, T);
    if (cfg->num_classes > 0)
        fm_lay_param(b, "class_emb.weight", "", 2, cfg->num_classes + 1, T, 1, 1);
    fm_lay_conv(b, "", "conv_in", C, cfg->in_channels, 3);
    chans[nch++] = C;
    for (int l = 0; l < cfg->levels; l++) {
        for (int r = 0; r < cfg->res_blocks; r++) {
            snprintf(prefix, sizeof prefix, "enc.%d.", e++);
            add_resblock(w, PART_ENC, prefix, c, C * cfg->channel_mult[l], T, res);
            c = C * cfg->channel_mult[l];
            chans[nch++] = c;
        }
        if (l < cfg->levels - 1) {
            snprintf(prefix, sizeof prefix, "enc.%d.", e++);
            add_module(w, MOD_DOWN, PART_ENC, c, c, res);
            fm_lay_conv(b, prefix, "conv", c, c, 3);
            chans[nch++] = c;
            res /= 2;
        }
    }
    add_resblock(w, PART_MID, "mid.0.", c, c, T, res);
    add_module(w, MOD_ATTN, PART_MID, c, c, res);
    fm_lay_norm(b, "mid.1.", "norm", c);
    fm_lay_conv(b, "mid.1.", "qkv", 3 * c, c, 1);
    fm_lay_conv(b, "mid.1.", "proj", c, c, 1);
    add_resblock(w, PART_MID, "mid.2.", c, c, T, res);
    for (int l = cfg->levels - 1; l >= 0; l--) {
        for (int r = 0; r < cfg->res_blocks + 1; r++) {
            int skip = chans[--nch];
            snprintf(prefix, sizeof prefix, "dec.%d.", d++);
            add_resblock(w, PART_DEC, prefix, c + skip, C * cfg->channel_mult[l], T, res)->cskip = skip;
            c = C * cfg->channel_mult[l];
        }
        if (l > 0) {
            snprintf(prefix, sizeof prefix, "dec.%d.", d++);
            add_module(w, MOD_UP, PART_DEC, c, c, res);
            fm_lay_conv(b, prefix, "conv", c, c, 3);
            res *= 2;
        }
    }
    fm_lay_norm(b, "", "norm_out", c);
    fm_lay_conv(b, "", "conv_out", cfg->in_channels, c, 3);
}

static void layout(const fm_config *cfg, fm_layout *b)
{
    walk w = {.b = b};
    build(cfg, &w);
}

/* ---- config -------------------------------------------------------------------------- */

static int in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }
#define BAD(...) return (snprintf(msg, len, __VA_ARGS__), FM_ERR_ARG)

/* Range first, then divisibility, so that each message names what is wrong. */
static fm_status check_sizes(const fm_config *c, char *msg, size_t len)
{
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
    if (c->base_channels % 2)
        BAD("base_channels %d must be even (sinusoidal embedding)", c->base_channels);
    return FM_OK;
}

/* The fixed tables, counted by the layout's own walk; last, once every field is in
 * range. */
static fm_status check_tables(const fm_config *c, char *msg, size_t len)
{
    fm_layout b = {0};
    walk w = {.b = &b};
    build(c, &w);
    if (w.n > MAX_MODULES)
        BAD("res_blocks %d with %d levels needs %d modules, more than the %d the U-Net "
            "supports", c->res_blocks, c->levels, w.n, MAX_MODULES);
    if (b.np > FM_MAX_PARAMS)
        BAD("res_blocks %d with %d levels needs %d parameter tensors, more than the %d this "
            "build supports (FM_MAX_PARAMS)", c->res_blocks, c->levels, b.np, FM_MAX_PARAMS);
    return FM_OK;
}

static fm_status check(const fm_config *c, char *msg, size_t len)
{
    if (!in_range(c->levels, 1, FM_MAX_LEVELS))
        BAD("channel_mult has %d levels, expected 1..%d", c->levels, FM_MAX_LEVELS);
    if (check_sizes(c, msg, len) != FM_OK)
        return FM_ERR_ARG;
    for (int l = 0; l < c->levels; l++)
        if (!in_range(c->channel_mult[l], 1, 64))
            BAD("channel_mult[%d] = %d out of range 1..64", l, c->channel_mult[l]);
    if (!in_range(c->res_blocks, 1, FM_MAX_RES_BLOCKS))
        BAD("res_blocks %d out of range 1..%d", c->res_blocks, FM_MAX_RES_BLOCKS);
    if (!in_range(c->time_dim, 1, 65536))
        BAD("time_dim %d out of range 1..65536", c->time_dim);
    int mid = c->base_channels * c->channel_mult[c->levels - 1];
    if (!in_range(c->heads, 1, mid))
        BAD("heads %d out of range 1..%d (the middle width)", c->heads, mid);
    if (mid % c->heads != 0)
        BAD("heads %d must divide the middle width %d", c->heads, mid);
    return check_tables(c, msg, len);
}

#undef BAD

/* docs/spec/unet.md: conv/linear U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (a bias takes its
 * weight's fan_in, the elements per output row), norms 1/0, class_emb N(0, 1),
 * conv_out zero. */
static fm_init init(const fm_model *m, int i)
{
    const char *name = m->params[i].name;
    size_t len = strlen(name);
    int is_bias = len > 5 && strcmp(name + len - 5, ".bias") == 0;
    if (strstr(name, "norm"))
        return (fm_init){is_bias ? FM_INIT_ZERO : FM_INIT_ONE, 0};
    if (strncmp(name, "conv_out.", 9) == 0)
        return (fm_init){FM_INIT_ZERO, 0};
    if (strncmp(name, "class_emb.", 10) == 0)
        return (fm_init){FM_INIT_NORMAL, 1.0f};
    const fm_tensor *w = is_bias && i > 0 ? &m->params[i - 1].t : &m->params[i].t;
    int64_t fan_in = fm_tensor_numel(w) / w->shape[0];
    return (fm_init){FM_INIT_UNIFORM, 1.0f / sqrtf((float)fan_in)};
}

/* The module list, walked again into the state (the table is the model's). */
static fm_status create(fm_model *m)
{
    unet_state *u = state(m);
    fm_layout b = {0};
    walk w = {.b = &b, .mods = u->mods};
    memset(u, 0, sizeof *u);
    build(&m->cfg, &w);
    u->nmods = w.n;
    return FM_OK;
}

/* ---- op helpers ----------------------------------------------------------------------- */

typedef struct ctx {
    fm_model *m;
    unet_state *u;
    fm_backend *be;
    const fm_tensor *P; /* parameter block for forward */
    int N;
    int train;
} ctx;

static fm_tensor W(const ctx *c, int i) { return fm_w(c->m, c->P, i); }

/* out = conv(in) + bias (+ bn[N,Co] per sample) (+ res, the residual): bn and res are
 * CONV2D_FWD's epilogue terms ({0}: absent). */
static fm_status conv_add(ctx *c, fm_tensor out, fm_tensor in, int p, int stride, fm_tensor bn,
                          fm_tensor res)
{
    fm_tensor w = W(c, p);
    int pad = (int)(w.shape[2] / 2);
    return fm_do(c->be, (fm_call){.op = FM_OP_CONV2D_FWD,
                                .t = {out, in, w, W(c, p + 1), bn, res},
                                .i = {stride, pad}});
}

static fm_status conv(ctx *c, fm_tensor out, fm_tensor in, int p, int stride)
{
    return conv_add(c, out, in, p, stride, (fm_tensor){0}, (fm_tensor){0});
}

static fm_status conv_bwd(fm_model *m, fm_tensor din, fm_tensor dout, fm_tensor in, const fm_tensor *P,
                          int p, int stride)
{
    fm_tensor w = fm_w(m, P, p);
    int pad = (int)(w.shape[2] / 2);
    return fm_do(m->be, (fm_call){.op = FM_OP_CONV2D_BWD,
                                .t = {din, fm_g(m, p), fm_g(m, p + 1), dout, in, w},
                                .i = {stride, pad}});
}

/* act: GROUPNORM_FWD's post-op (FM_GN_ACT_*) */
static fm_status gnorm_act(ctx *c, fm_tensor out, fm_tensor *mean, fm_tensor *rstd, fm_tensor in,
                           int p, int act)
{
    int G = c->m->cfg.groups;
    FM_TRY(fm_new2(c->m->be, mean, c->N, G));
    FM_TRY(fm_new2(c->m->be, rstd, c->N, G));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_GROUPNORM_FWD,
                                .t = {out, *mean, *rstd, in, W(c, p), W(c, p + 1)},
                                .i = {G, act},
                                .f = {1e-5f}}));
    /* [N, G] statistics only backward reads; top of the arena first, so no hole. */
    FM_TRY(fm_dead(c->be, c->train, rstd));
    return fm_dead(c->be, c->train, mean);
}

static fm_status gnorm(ctx *c, fm_tensor out, fm_tensor *mean, fm_tensor *rstd, fm_tensor in, int p)
{
    return gnorm_act(c, out, mean, rstd, in, p, FM_GN_ACT_NONE);
}

static fm_status gnorm_bwd(fm_model *m, fm_tensor din, fm_tensor dout, fm_tensor in, fm_tensor mean,
                           fm_tensor rstd, const fm_tensor *P, int p)
{
    return fm_do(m->be, (fm_call){.op = FM_OP_GROUPNORM_BWD,
                                .t = {din, fm_g(m, p), fm_g(m, p + 1), dout, in, mean, rstd,
                                      fm_w(m, P, p)},
                                .i = {m->cfg.groups}});
}

static fm_status silu(fm_backend *be, fm_tensor out, fm_tensor in)
{
    return fm_do(be, (fm_call){.op = FM_OP_SILU_FWD, .t = {out, in}});
}

static fm_status silu_bwd(fm_backend *be, fm_tensor din, fm_tensor dout, fm_tensor in)
{
    return fm_do(be, (fm_call){.op = FM_OP_SILU_BWD, .t = {din, dout, in}});
}

/* *act = SiLU(norm(in)), both the shape of in. Training keeps the norm's output in *nrm
 * for SILU_BWD: two ops. Otherwise one GROUPNORM_FWD with the SiLU post-op, and *nrm is
 * never allocated (one pass and one tensor less; the same bytes on ref, see
 * kernels_ref/groupnorm.c). */
static fm_status norm_silu(ctx *c, fm_tensor *nrm, fm_tensor *act, fm_tensor *mean, fm_tensor *rstd,
                           fm_tensor in, int p)
{
    const int64_t *d = in.shape;
    if (!c->train) {
        *nrm = (fm_tensor){0};
        FM_TRY(fm_new4(c->m->be, act, d[0], d[1], d[2], d[3]));
        return gnorm_act(c, *act, mean, rstd, in, p, FM_GN_ACT_SILU);
    }
    FM_TRY(fm_new4(c->m->be, nrm, d[0], d[1], d[2], d[3]));
    FM_TRY(gnorm(c, *nrm, mean, rstd, in, p));
    FM_TRY(fm_new4(c->m->be, act, d[0], d[1], d[2], d[3]));
    return silu(c->be, *act, *nrm);
}

static fm_status add(fm_backend *be, fm_tensor out, fm_tensor a, fm_tensor b)
{
    return fm_do(be, (fm_call){.op = FM_OP_ADD_FWD, .t = {out, a, b}});
}

/* ---- modules: forward ---------------------------------------------------------------- */

/* out = conv2(SiLU(norm2(conv1(SiLU(norm1(x))) + temb(st)))) + skip(x)
 *
 * The time embedding tp [N,cout] and the skip path are conv1's and conv2's epilogue
 * terms (CONV2D_FWD bn and res), not passes of their own. x [N,cin,H,H], out
 * [N,cout,H,H] allocated here, at its first write. When sampling each temporary is
 * freed after its last use, so at most x, a1 = SiLU(norm1(x)) [N,cin,H,H] (one fused
 * GROUPNORM_FWD) and h1 [N,cout,H,H] are alive at once, plus a2, sk and out
 * [N,cout,H,H] at the end (sk before out: the order in which the arena's holes fit,
 * tests/test_model.c's mnist_sample_arena check); x itself belongs to the caller
 * (module_fwd). */
static fm_status res_fwd(ctx *c, const module *md, saved *s, fm_tensor x, fm_tensor *out,
                         fm_tensor st)
{
    fm_model *m = c->m;
    int N = c->N, H = md->res, p = md->p;
    fm_tensor tp;
    s->x = x;
    FM_TRY(norm_silu(c, &s->n1, &s->a1, &s->mean1, &s->rstd1, x, p + RB_N1W));
    FM_TRY(fm_new2(m->be, &tp, N, md->cout));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {tp, st, W(c, p + RB_TW), W(c, p + RB_TB)}}));
    FM_TRY(fm_new4(m->be, &s->h1, N, md->cout, H, H));
    FM_TRY(conv_add(c, s->h1, s->a1, p + RB_C1W, 1, tp, (fm_tensor){0}));
    FM_TRY(fm_dead(c->be, c->train, &s->a1));
    FM_TRY(fm_dead(c->be, c->train, &tp));
    FM_TRY(norm_silu(c, &s->n2, &s->a2, &s->mean2, &s->rstd2, s->h1, p + RB_N2W));
    FM_TRY(fm_dead(c->be, c->train, &s->h1));
    fm_tensor sk = x;
    if (md->has_skip) {
        FM_TRY(fm_new4(m->be, &sk, N, md->cout, H, H));
        FM_TRY(conv(c, sk, x, p + RB_SW, 1));
    }
    FM_TRY(fm_new4(m->be, out, N, md->cout, H, H));
    FM_TRY(conv_add(c, *out, s->a2, p + RB_C2W, 1, (fm_tensor){0}, sk));
    FM_TRY(fm_dead(c->be, c->train, &s->a2));
    if (md->has_skip)
        FM_TRY(fm_dead(c->be, c->train, &sk));
    s->out = *out;
    return FM_OK;
}

/* out = x + proj(attention(qkv(norm(x)))), x the projection's epilogue term
 * x, out [N,C,H,H]; n1 [N,C,H,H] dies at qkv [N,3C,H,H], which dies with the
 * attention weights att [N,heads,L,L] once o [N,C,H,H] is written. */
static fm_status attn_fwd(ctx *c, const module *md, saved *s, fm_tensor x, fm_tensor *out)
{
    fm_model *m = c->m;
    int N = c->N, H = md->res, C = md->cin, p = md->p, L = H * H, heads = m->cfg.heads;
    s->x = x;
    FM_TRY(fm_new4(m->be, &s->n1, N, C, H, H));
    FM_TRY(gnorm(c, s->n1, &s->mean1, &s->rstd1, x, p + AT_NW));
    FM_TRY(fm_new4(m->be, &s->qkv, N, 3 * C, H, H));
    FM_TRY(conv(c, s->qkv, s->n1, p + AT_QW, 1));
    FM_TRY(fm_dead(c->be, c->train, &s->n1));
    s->att = fm_tensor_4d(FM_F32, N, heads, L, L);
    FM_TRY(fm_tensor_alloc(m->be, &s->att));
    FM_TRY(fm_new4(m->be, &s->o, N, C, H, H));
    FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_ATTENTION_FWD, .t = {s->o, s->att, s->qkv}, .i = {heads}}));
    FM_TRY(fm_dead(c->be, c->train, &s->att));
    FM_TRY(fm_dead(c->be, c->train, &s->qkv));
    FM_TRY(fm_new4(m->be, out, N, C, H, H));
    FM_TRY(conv_add(c, *out, s->o, p + AT_PW, 1, (fm_tensor){0}, x));
    FM_TRY(fm_dead(c->be, c->train, &s->o));
    s->out = *out;
    return FM_OK;
}

/* x_dead: x is not on the skip stack, so this module is its last user (sampling frees
 * it after its last read). A decoder ResBlock's popped skip always dies at the concat. */
static fm_status module_fwd(ctx *c, int i, fm_tensor x, int x_dead, fm_tensor skip, fm_tensor *out,
                            fm_tensor st)
{
    fm_model *m = c->m;
    const module *md = &c->u->mods[i];
    saved local, *s = c->train ? &c->u->sv[i] : &local;
    int N = c->N, H = md->res;
    int Ho = md->kind == MOD_DOWN ? H / 2 : md->kind == MOD_UP ? 2 * H : H;
    if (md->kind == MOD_RES && md->part == PART_DEC) {
        /* cat [N, cin, H, H] = [h, skip] replaces both from here on. */
        fm_tensor cat;
        FM_TRY(fm_new4(m->be, &cat, N, md->cin, H, H));
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_CONCAT_FWD, .t = {cat, x, skip}}));
        FM_TRY(fm_dead(c->be, c->train, &skip));
        if (x_dead)
            FM_TRY(fm_dead(c->be, c->train, &x));
        x = cat;
        x_dead = 1;
    }
    switch (md->kind) {
    case MOD_RES: FM_TRY(res_fwd(c, md, s, x, out, st)); break;
    case MOD_ATTN: FM_TRY(attn_fwd(c, md, s, x, out)); break;
    case MOD_DOWN:
        s->x = x;
        FM_TRY(fm_new4(m->be, out, N, md->cout, Ho, Ho));
        FM_TRY(conv(c, *out, x, md->p, 2));
        break;
    case MOD_UP:
        /* up [N, cin, 2H, 2H] is 4x the input, which dies before the conv's out. */
        s->x = x;
        FM_TRY(fm_new4(m->be, &s->up, N, md->cin, 2 * H, 2 * H));
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_UPSAMPLE2X_FWD, .t = {s->up, x}}));
        if (x_dead)
            FM_TRY(fm_dead(c->be, c->train, &x));
        x_dead = 0;
        FM_TRY(fm_new4(m->be, out, N, md->cout, Ho, Ho));
        FM_TRY(conv(c, *out, s->up, md->p, 1));
        FM_TRY(fm_dead(c->be, c->train, &s->up));
        break;
    }
    if (x_dead)
        FM_TRY(fm_dead(c->be, c->train, &x));
    return FM_OK;
}

static fm_status forward(fm_model *m, int train, const fm_tensor *params, const fm_tensor *v,
                         const fm_tensor *x, const fm_tensor *t, const fm_tensor *y)
{
    const fm_config *cfg = &m->cfg;
    fm_backend *be = m->be;
    unet_state *tp = state(m);
    const int N = (int)x->shape[0];
    ctx c = {m, tp, be, params, N, train};

    /* time path */
    const int C = cfg->base_channels, T = cfg->time_dim;
    FM_TRY(fm_new2(m->be, &tp->e, N, C));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_TIMEEMB_FWD, .t = {tp->e, *t}}));
    FM_TRY(fm_new2(m->be, &tp->l1, N, T));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {tp->l1, tp->e, W(&c, 0), W(&c, 1)}}));
    FM_TRY(fm_new2(m->be, &tp->s1, N, T));
    FM_TRY(silu(be, tp->s1, tp->l1));
    FM_TRY(fm_new2(m->be, &tp->temb, N, T));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {tp->temb, tp->s1, W(&c, 2), W(&c, 3)}}));
    int p = 4;
    if (cfg->num_classes > 0) {
        fm_tensor ce;
        FM_TRY(fm_new2(m->be, &ce, N, T));
        FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_FWD, .t = {ce, W(&c, p), *y}}));
        FM_TRY(add(be, tp->temb, tp->temb, ce));
        p++;
    }
    FM_TRY(fm_new2(m->be, &tp->st, N, T));
    FM_TRY(silu(be, tp->st, tp->temb));

    fm_tensor h;
    FM_TRY(fm_new4(m->be, &h, N, C, cfg->image, cfg->image));
    FM_TRY(conv(&c, h, *x, p, 1));
    tp->nhs = 0;
    tp->hs[tp->nhs++] = h;
    /* Every pushed tensor lives until the decoder pops it; any other h dies in the
     * module that reads it. */
    int pushed = 1;
    for (int i = 0; i < tp->nmods; i++) {
        const module *md = &tp->mods[i];
        fm_tensor out, skip = {0};
        if (md->kind == MOD_RES && md->part == PART_DEC)
            skip = tp->hs[--tp->nhs];
        FM_TRY(module_fwd(&c, i, h, !pushed, skip, &out, tp->st));
        h = out;
        pushed = md->part == PART_ENC;
        if (pushed)
            tp->hs[tp->nhs++] = h;
    }

    int po = m->nparams - 4; /* norm_out.weight, norm_out.bias, conv_out.weight, conv_out.bias */
    FM_TRY(norm_silu(&c, &tp->nout, &tp->aout, &tp->mout, &tp->rout, h, po));
    if (!pushed)
        FM_TRY(fm_dead(be, train, &h));
    FM_TRY(conv(&c, *v, tp->aout, po + 2, 1));
    FM_TRY(fm_dead(be, train, &tp->aout));
    tp->hlast = h;
    return FM_OK;
}

/* ---- modules: backward --------------------------------------------------------------- */

/* Inputs: dout = dL/d(out). Writes dx = dL/dx; adds dL/dst into dst. */
static fm_status res_bwd(fm_model *m, const module *md, const saved *s, fm_tensor dx,
                         fm_tensor dout, fm_tensor dst, const fm_tensor *P)
{
    int N = (int)dout.shape[0], H = md->res, p = md->p;
    const unet_state *tp = state(m);
    fm_tensor da2, dn2, dh1, dtp, dst_i, da1, dn1;
    FM_TRY(fm_new4(m->be, &da2, N, md->cout, H, H));
    FM_TRY(conv_bwd(m, da2, dout, s->a2, P, p + RB_C2W, 1));
    FM_TRY(fm_new4(m->be, &dn2, N, md->cout, H, H));
    FM_TRY(silu_bwd(m->be, dn2, da2, s->n2));
    FM_TRY(fm_new4(m->be, &dh1, N, md->cout, H, H));
    FM_TRY(gnorm_bwd(m, dh1, dn2, s->h1, s->mean2, s->rstd2, P, p + RB_N2W));
    /* h1 = conv1(a1) + temb(st) broadcast: the projection sees the spatial sums. */
    FM_TRY(fm_new2(m->be, &dtp, N, md->cout));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_BIAS_ADD_BWD, .t = {dtp, dh1}}));
    FM_TRY(fm_new2(m->be, &dst_i, N, m->cfg.time_dim));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_LINEAR_BWD,
                             .t = {dst_i, fm_g(m, p + RB_TW), fm_g(m, p + RB_TB), dtp, tp->st,
                                   fm_w(m, P, p + RB_TW)}}));
    FM_TRY(add(m->be, dst, dst, dst_i));
    FM_TRY(fm_new4(m->be, &da1, N, md->cin, H, H));
    FM_TRY(conv_bwd(m, da1, dh1, s->a1, P, p + RB_C1W, 1));
    FM_TRY(fm_new4(m->be, &dn1, N, md->cin, H, H));
    FM_TRY(silu_bwd(m->be, dn1, da1, s->n1));
    FM_TRY(gnorm_bwd(m, dx, dn1, s->x, s->mean1, s->rstd1, P, p + RB_N1W));
    if (md->has_skip) {
        fm_tensor dsk;
        FM_TRY(fm_new4(m->be, &dsk, N, md->cin, H, H));
        FM_TRY(conv_bwd(m, dsk, dout, s->x, P, p + RB_SW, 1));
        FM_TRY(add(m->be, dx, dx, dsk));
    } else {
        FM_TRY(add(m->be, dx, dx, dout));
    }
    return FM_OK;
}

static fm_status attn_bwd(fm_model *m, const module *md, const saved *s, fm_tensor dx,
                          fm_tensor dout, const fm_tensor *P)
{
    int N = (int)dout.shape[0], H = md->res, C = md->cin, p = md->p;
    fm_tensor d_o, dqkv, ws, dn;
    FM_TRY(fm_new4(m->be, &d_o, N, C, H, H));
    FM_TRY(conv_bwd(m, d_o, dout, s->o, P, p + AT_PW, 1));
    FM_TRY(fm_new4(m->be, &dqkv, N, 3 * C, H, H));
    ws = fm_tensor_1d(FM_F32, fm_attention_ws_floats((int64_t)H * H));
    FM_TRY(fm_tensor_alloc(m->be, &ws));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_ATTENTION_BWD, .t = {dqkv, ws, d_o, s->qkv, s->att},
                             .i = {m->cfg.heads}}));
    FM_TRY(fm_new4(m->be, &dn, N, C, H, H));
    FM_TRY(conv_bwd(m, dn, dqkv, s->n1, P, p + AT_QW, 1));
    FM_TRY(gnorm_bwd(m, dx, dn, s->x, s->mean1, s->rstd1, P, p + AT_NW));
    return add(m->be, dx, dx, dout);
}

/* Module i's backward: *dx (allocated here, it outlives the module's temporaries) =
 * dL/d(its input) from dh; dst +=. A decoder ResBlock also writes the gradient of its
 * popped skip into dhs[(*top)++]. */
static fm_status module_bwd(fm_model *m, int i, fm_tensor dh, fm_tensor dst, fm_tensor *dhs,
                            int *top, fm_tensor *dx)
{
    const unet_state *tp = state(m);
    const module *md = &tp->mods[i];
    const saved *s = &tp->sv[i];
    const fm_tensor *P = &m->P;
    fm_backend *be = m->be;
    const int N = (int)dh.shape[0], H = md->res;
    fm_arena_mark mark;
    if (md->kind == MOD_RES && md->part == PART_DEC) {
        int idx = (*top)++;
        fm_tensor dcat;
        FM_TRY(fm_new4(be, dx, N, md->cin - md->cskip, H, H));
        FM_TRY(fm_new4(be, &dhs[idx], N, md->cskip, H, H));
        mark = fm_arena_get_mark(&be->arena, "module grad");
        FM_TRY(fm_new4(be, &dcat, N, md->cin, H, H));
        FM_TRY(res_bwd(m, md, s, dcat, dh, dst, P));
        FM_TRY(fm_do(be, (fm_call){.op = FM_OP_CONCAT_BWD, .t = {*dx, dhs[idx], dcat}}));
        fm_arena_reset(&be->arena, mark);
        return FM_OK;
    }
    FM_TRY(fm_new4(be, dx, N, md->cin, H, H));
    mark = fm_arena_get_mark(&be->arena, "module grad");
    switch (md->kind) {
    case MOD_RES: FM_TRY(res_bwd(m, md, s, *dx, dh, dst, P)); break;
    case MOD_ATTN: FM_TRY(attn_bwd(m, md, s, *dx, dh, P)); break;
    case MOD_DOWN: FM_TRY(conv_bwd(m, *dx, dh, s->x, P, md->p, 2)); break;
    case MOD_UP: {
        fm_tensor du;
        FM_TRY(fm_new4(be, &du, N, md->cin, 2 * H, 2 * H));
        FM_TRY(conv_bwd(m, du, dh, s->up, P, md->p, 1));
        FM_TRY(fm_do(be, (fm_call){.op = FM_OP_UPSAMPLE2X_BWD, .t = {*dx, du}}));
        break;
    }
    }
    fm_arena_reset(&be->arena, mark);
    return FM_OK;
}

/* The time path from dst = dL/dst: st = SiLU(temb), temb = lin2(SiLU(lin1(e))) +
 * class_emb[y]. */
static fm_status time_bwd(fm_model *m, fm_tensor dst)
{
    const unet_state *tp = state(m);
    const fm_tensor *P = &m->P;
    fm_backend *be = m->be;
    const int N = (int)dst.shape[0], T = m->cfg.time_dim;
    fm_tensor dtemb, ds1, dl1;
    FM_TRY(fm_new2(be, &dtemb, N, T));
    FM_TRY(silu_bwd(be, dtemb, dst, tp->temb));
    if (m->cfg.num_classes > 0)
        FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_BWD, .t = {fm_g(m, 4), dtemb, m->y}}));
    FM_TRY(fm_new2(be, &ds1, N, T));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_BWD,
                               .t = {ds1, fm_g(m, 2), fm_g(m, 3), dtemb, tp->s1, fm_w(m, P, 2)}}));
    FM_TRY(fm_new2(be, &dl1, N, T));
    FM_TRY(silu_bwd(be, dl1, ds1, tp->l1));
    return fm_do(be, (fm_call){.op = FM_OP_LINEAR_BWD,
                               .t = {(fm_tensor){0}, fm_g(m, 0), fm_g(m, 1), dl1, tp->e,
                                     fm_w(m, P, 0)}});
}

static fm_status backward(fm_model *m, const fm_tensor *dv)
{
    const unet_state *tp = state(m);
    fm_backend *be = m->be;
    const fm_config *cfg = &m->cfg;
    const fm_tensor *P = &m->P;
    int N = (int)dv->shape[0], S = cfg->image, po = m->nparams - 4;
    fm_tensor h = tp->hlast, dh, dao, dno, dst;
    int Cl = (int)h.shape[1];

    FM_TRY(fm_new2(be, &dst, N, cfg->time_dim));
    FM_TRY(fm_fill(be, &dst, 0.0f));
    FM_TRY(fm_new4(be, &dao, N, Cl, S, S));
    FM_TRY(conv_bwd(m, dao, *dv, tp->aout, P, po + 2, 1));
    FM_TRY(fm_new4(be, &dno, N, Cl, S, S));
    FM_TRY(silu_bwd(be, dno, dao, tp->nout));
    FM_TRY(fm_new4(be, &dh, N, Cl, S, S));
    FM_TRY(gnorm_bwd(m, dh, dno, h, tp->mout, tp->rout, P, po));

    /* Gradients of the skip stack, filled by the decoder, consumed by the encoder.
     * Decoder ResBlocks pop hs[nskip-1] first and hs[0] last; in reverse the first
     * one met is hs[0]'s. */
    fm_tensor dhs[sizeof tp->hs / sizeof tp->hs[0]];
    int nskip = 1, top = 0; /* conv_in's output, then every encoder module's */
    for (int i = 0; i < tp->nmods; i++)
        nskip += tp->mods[i].part == PART_ENC;
    for (int i = tp->nmods - 1; i >= 0; i--) {
        fm_tensor dx;
        FM_TRY(module_bwd(m, i, dh, dst, dhs, &top, &dx));
        dh = dx;
        /* Module i <= nskip - 1 read the pushed tensor hs[i] (encoder module i reads
         * hs[i] and writes hs[i+1]; the first middle module reads the last one). Its
         * other use, the decoder's concat, left its gradient in dhs[i]. */
        if (i < nskip)
            FM_TRY(add(be, dh, dh, dhs[i]));
    }
    /* conv_in: its output was hs[0]; its input x needs no gradient. */
    FM_TRY(conv_bwd(m, (fm_tensor){0}, dh, m->x, P, cfg->num_classes > 0 ? 5 : 4, 1));
    return time_bwd(m, dst);
}

/* Forward GFLOP of one image (2 per multiply-add) from the module list: convs
 * 2 Cin Cout K^2 Ho Wo, attention 2 C 3C L + 2 C C L (1x1 convs) + 4 L^2 C (q^T k
 * and A v). A training step is about 3x (backward: two products per layer). */
static double gflop(const fm_config *c)
{
    module mods[MAX_MODULES];
    fm_layout b = {0};
    walk w = {.b = &b, .mods = mods};
    build(c, &w);
    double S2 = (double)c->image * c->image, f = 0;
    f += 2.0 * c->in_channels * c->base_channels * 9 * S2; /* conv_in */
    int clast = c->base_channels;
    for (int k = 0; k < w.n && k < MAX_MODULES; k++) {
        const module *md = &mods[k];
        double r2 = (double)md->res * md->res, ci = md->cin, co = md->cout;
        switch (md->kind) {
        case MOD_RES:
            f += 2.0 * ci * co * 9 * r2 + 2.0 * co * co * 9 * r2 + (md->has_skip ? 2.0 * ci * co * r2 : 0);
            break;
        case MOD_DOWN: f += 2.0 * ci * co * 9 * r2 / 4; break;
        case MOD_UP: f += 2.0 * ci * co * 9 * r2 * 4; break;
        case MOD_ATTN: f += 2.0 * ci * 3 * ci * r2 + 2.0 * ci * ci * r2 + 4.0 * r2 * r2 * ci; break;
        }
        clast = md->cout;
    }
    f += 2.0 * clast * c->in_channels * 9 * S2; /* conv_out */
    return f / 1e9;
}

/* docs/spec/unet.md's presets; every one unconditional (set num_classes). */
static const fm_preset presets[] = {
    {"mnist", {.in_channels = 1, .image = 28, .base_channels = 64, .levels = 3,
               .channel_mult = {1, 2, 2}, .res_blocks = 1, .time_dim = 128, .heads = 4, .groups = 8}},
    {"tiny", {.in_channels = 1, .image = 28, .base_channels = 32, .levels = 3,
              .channel_mult = {1, 2, 2}, .res_blocks = 1, .time_dim = 64, .heads = 4, .groups = 8}},
    /* CIFAR-10 (32x32 RGB): mnist's and tiny's networks with 3 channels in and out. */
    {"cifar", {.in_channels = 3, .image = 32, .base_channels = 64, .levels = 3,
               .channel_mult = {1, 2, 2}, .res_blocks = 1, .time_dim = 128, .heads = 4, .groups = 8}},
    {"cifar-small", {.in_channels = 3, .image = 32, .base_channels = 32, .levels = 3,
                     .channel_mult = {1, 2, 2}, .res_blocks = 1, .time_dim = 64, .heads = 4,
                     .groups = 8}},
    {NULL, {0}},
};

const fm_arch fm_arch_unet = {
    .name = "unet",
    .id = 0,
    .fields = FM_FIELD(in_channels) | FM_FIELD(image) | FM_FIELD(base_channels) |
              FM_FIELD(channel_mult) | FM_FIELD(res_blocks) | FM_FIELD(time_dim) | FM_FIELD(heads) |
              FM_FIELD(groups) | FM_FIELD(num_classes),
    .presets = presets,
    .conformance = "tiny",
    .conformance_rgb = "cifar-small",
    .velocity = 1,
    .check = check,
    .layout = layout,
    .init = init,
    .create = create,
    .forward = forward,
    .backward = backward,
    .gflop = gflop,
};
