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

#include "blocks.h"
#include "text.h"

#define MAX_MODULES 96

/* Which part of the network a module belongs to (fm_blk_mod.part). */
typedef enum mod_part { PART_ENC, PART_MID, PART_DEC } mod_part;

/* The U-Net's state in the model: its modules and the activations backward reads. */
typedef struct unet_state {
    int nmods;
    fm_blk_mod mods[MAX_MODULES];
    fm_blk_saved sv[MAX_MODULES];           /* training forwards */
    fm_tensor e, l1, s1, temb, st;          /* time path: st = SiLU(temb) feeds every ResBlock */
    fm_tensor hs[2 * FM_MAX_LEVELS * 10];   /* skip stack */
    int nhs;
    fm_tensor hlast, nout, mout, rout, aout; /* output head: v = conv_out(SiLU(norm_out(hlast))) */
    fm_text_state text;                     /* a text model's encoder (docs/spec/text.md) */
    fm_text_cross xs[FM_MAX_LEVELS];        /* its cross-attention modules */
    int nxs;
} unet_state;
_Static_assert(sizeof(unet_state) <= FM_MODEL_STATE_BYTES, "unet_state outgrew FM_MODEL_STATE_BYTES");

static unet_state *state(fm_model *m) { return FM_MODEL_STATE(m, unet_state); }

/* ---- layout ------------------------------------------------------------------------ */

/* The walk's output: the parameter table (b) and, when mods is set, the module list;
 * n counts the modules either way. */
typedef struct walk {
    fm_layout *b;
    fm_blk_mod *mods;
    int n;
    int nx; /* cross-attention modules */
} walk;

/* The next module's description (NULL when the walk only counts or is full). */
static fm_blk_mod *next_module(walk *w)
{
    int i = w->n++;
    return w->mods && i < MAX_MODULES ? &w->mods[i] : NULL;
}

static void add_resblock(walk *w, mod_part part, const char *prefix, int cin, int cout, int cskip,
                         int T, int res)
{
    fm_blk_mod *md = next_module(w);
    fm_blk_lay_res(w->b, md, prefix, cin, cout, T, res);
    if (md)
        md->part = part, md->cskip = cskip;
}

static void add_other(walk *w, fm_blk_kind kind, mod_part part, const char *prefix, int c, int res)
{
    fm_blk_mod *md = next_module(w);
    if (kind == FM_BLK_ATTN)
        fm_blk_lay_attn(w->b, md, prefix, c, res);
    else
        fm_blk_lay_resample(w->b, md, kind, prefix, c, res);
    if (md)
        md->part = part;
}

/* The cross-attention after a self-attention module (text models). */
static void add_cross(walk *w, const fm_config *cfg, mod_part part, const char *prefix, int c,
                      int res)
{
    fm_blk_mod *md = next_module(w);
    if (md)
        *md = (fm_blk_mod){.kind = FM_BLK_XATTN, .part = part, .cin = c, .cout = c, .res = res,
                           .p = w->b->np, .xslot = w->nx};
    w->nx++;
    fm_text_lay_cross(w->b, prefix, c, cfg->text_width, 1);
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
    fm_text_lay(b, cfg, T);
    fm_lay_conv(b, "", "conv_in", C, cfg->in_channels, 3);
    chans[nch++] = C;
    for (int l = 0; l < cfg->levels; l++) {
        for (int r = 0; r < cfg->res_blocks; r++) {
            snprintf(prefix, sizeof prefix, "enc.%d.", e++);
            add_resblock(w, PART_ENC, prefix, c, C * cfg->channel_mult[l], 0, T, res);
            c = C * cfg->channel_mult[l];
            chans[nch++] = c;
        }
        if (l < cfg->levels - 1) {
            snprintf(prefix, sizeof prefix, "enc.%d.", e++);
            add_other(w, FM_BLK_DOWN, PART_ENC, prefix, c, res);
            chans[nch++] = c;
            res /= 2;
        }
    }
    add_resblock(w, PART_MID, "mid.0.", c, c, 0, T, res);
    add_other(w, FM_BLK_ATTN, PART_MID, "mid.1.", c, res);
    if (cfg->text_depth)
        add_cross(w, cfg, PART_MID, "mid.1.", c, res);
    add_resblock(w, PART_MID, "mid.2.", c, c, 0, T, res);
    for (int l = cfg->levels - 1; l >= 0; l--) {
        for (int r = 0; r < cfg->res_blocks + 1; r++) {
            int skip = chans[--nch];
            snprintf(prefix, sizeof prefix, "dec.%d.", d++);
            add_resblock(w, PART_DEC, prefix, c + skip, C * cfg->channel_mult[l], skip, T, res);
            c = C * cfg->channel_mult[l];
        }
        if (l > 0) {
            snprintf(prefix, sizeof prefix, "dec.%d.", d++);
            add_other(w, FM_BLK_UP, PART_DEC, prefix, c, res);
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

#define BAD(...) return (snprintf(msg, len, __VA_ARGS__), FM_ERR_ARG)

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
    if (fm_blk_check(c, msg, len) != FM_OK)
        return FM_ERR_ARG;
    if (c->base_channels % 2)
        BAD("base_channels %d must be even (sinusoidal embedding)", c->base_channels);
    if (c->time_dim < 1 || c->time_dim > 65536)
        BAD("time_dim %d out of range 1..65536", c->time_dim);
    if (fm_text_check(c, msg, len) != FM_OK)
        return FM_ERR_ARG;
    return check_tables(c, msg, len);
}

#undef BAD

/* docs/spec/unet.md: conv/linear U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (a bias takes its
 * weight's fan_in, the elements per output row), norms 1/0, class_emb N(0, 1),
 * conv_out zero. */
static fm_init init(const fm_model *m, int i)
{
    const char *name = m->params[i].name;
    fm_init r;
    if (fm_text_init(m, i, &r))
        return r;
    if (strncmp(name, "conv_out.", 9) == 0)
        return (fm_init){FM_INIT_ZERO, 0};
    if (strncmp(name, "class_emb.", 10) == 0)
        return (fm_init){FM_INIT_NORMAL, 1.0f};
    return fm_blk_init(m, i);
}

/* Parameter indices: time_lin1, time_lin2 (0..3), class_emb or the text encoder and
 * text_proj, then conv_in. */
static int first_text(const fm_config *c) { return 4 + (c->num_classes > 0); }
static int text_proj(const fm_config *c) { return first_text(c) + fm_text_nparams(c) - 2; }
static int conv_in(const fm_config *c) { return first_text(c) + fm_text_nparams(c); }

/* The module list, walked again into the state (the table is the model's). */
static fm_status create(fm_model *m)
{
    unet_state *u = state(m);
    fm_layout b = {0};
    walk w = {.b = &b, .mods = u->mods};
    memset(u, 0, sizeof *u);
    build(&m->cfg, &w);
    u->nmods = w.n;
    u->nxs = w.nx;
    return m->cfg.text_depth ? fm_text_create(m, &u->text, first_text(&m->cfg)) : FM_OK;
}

/* ---- forward ------------------------------------------------------------------------- */

/* x_dead: x is not on the skip stack, so this module is its last user (sampling frees
 * it after its last read). A decoder ResBlock's popped skip always dies at the concat. */
static fm_status module_fwd(fm_blk_ctx *c, int i, fm_tensor x, int x_dead, fm_tensor skip,
                            fm_tensor *out, fm_tensor st)
{
    unet_state *u = state(c->m);
    const fm_blk_mod *md = &u->mods[i];
    fm_blk_saved local, *s = c->train ? &u->sv[i] : &local;
    if (md->kind == FM_BLK_XATTN)
        return fm_text_cross_img_fwd(c, &u->text, &u->xs[md->xslot], md->p, x, x_dead, out);
    if (md->kind == FM_BLK_RES && md->part == PART_DEC) {
        /* cat [N, cin, H, H] = [h, skip] replaces both from here on. */
        fm_tensor cat;
        FM_TRY(fm_new4(c->be, &cat, c->N, md->cin, md->res, md->res));
        FM_TRY(fm_do(c->be, (fm_call){.op = FM_OP_CONCAT_FWD, .t = {cat, x, skip}}));
        FM_TRY(fm_dead(c->be, c->train, &skip));
        if (x_dead)
            FM_TRY(fm_dead(c->be, c->train, &x));
        x = cat;
        x_dead = 1;
    }
    return fm_blk_fwd(c, md, s, x, x_dead, out, st);
}

static fm_status forward(fm_model *m, int train, const fm_tensor *params, const fm_tensor *v,
                         const fm_tensor *x, const fm_tensor *t, const fm_tensor *y)
{
    const fm_config *cfg = &m->cfg;
    fm_backend *be = m->be;
    unet_state *tp = state(m);
    const int N = (int)x->shape[0];
    fm_blk_ctx c = {m, be, params, N, train};

    /* time path */
    const int C = cfg->base_channels, T = cfg->time_dim;
    FM_TRY(fm_new2(m->be, &tp->e, N, C));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_TIMEEMB_FWD, .t = {tp->e, *t}}));
    FM_TRY(fm_new2(m->be, &tp->l1, N, T));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {tp->l1, tp->e, fm_w(m, params, 0), fm_w(m, params, 1)}}));
    FM_TRY(fm_new2(m->be, &tp->s1, N, T));
    FM_TRY(fm_blk_silu(be, tp->s1, tp->l1));
    FM_TRY(fm_new2(m->be, &tp->temb, N, T));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {tp->temb, tp->s1, fm_w(m, params, 2), fm_w(m, params, 3)}}));
    if (cfg->num_classes > 0) {
        fm_tensor ce;
        FM_TRY(fm_new2(m->be, &ce, N, T));
        FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_FWD, .t = {ce, fm_w(m, params, 4), *y}}));
        FM_TRY(fm_blk_add(be, tp->temb, tp->temb, ce));
    }
    if (cfg->text_depth) {
        FM_TRY(fm_text_fwd(&c, &tp->text, y));
        FM_TRY(fm_text_pool_fwd(&c, &tp->text, tp->temb, text_proj(cfg)));
    }
    const int p = conv_in(cfg);
    FM_TRY(fm_new2(m->be, &tp->st, N, T));
    FM_TRY(fm_blk_silu(be, tp->st, tp->temb));

    fm_tensor h;
    FM_TRY(fm_new4(m->be, &h, N, C, cfg->image, cfg->image));
    FM_TRY(fm_blk_conv(&c, h, *x, p, 1));
    tp->nhs = 0;
    tp->hs[tp->nhs++] = h;
    /* Every pushed tensor lives until the decoder pops it; any other h dies in the
     * module that reads it. */
    int pushed = 1;
    for (int i = 0; i < tp->nmods; i++) {
        const fm_blk_mod *md = &tp->mods[i];
        fm_tensor out, skip = {0};
        if (md->kind == FM_BLK_RES && md->part == PART_DEC)
            skip = tp->hs[--tp->nhs];
        FM_TRY(module_fwd(&c, i, h, !pushed, skip, &out, tp->st));
        h = out;
        pushed = md->part == PART_ENC;
        if (pushed)
            tp->hs[tp->nhs++] = h;
    }

    if (cfg->text_depth)
        FM_TRY(fm_text_release(&c, &tp->text));
    int po = m->nparams - 4; /* norm_out.weight, norm_out.bias, conv_out.weight, conv_out.bias */
    FM_TRY(fm_blk_norm_silu(&c, &tp->nout, &tp->aout, &tp->mout, &tp->rout, h, po));
    if (!pushed)
        FM_TRY(fm_dead(be, train, &h));
    FM_TRY(fm_blk_conv(&c, *v, tp->aout, po + 2, 1));
    FM_TRY(fm_dead(be, train, &tp->aout));
    tp->hlast = h;
    return FM_OK;
}

/* ---- backward ------------------------------------------------------------------------ */

/* Module i's backward: *dx (allocated here, it outlives the module's temporaries) =
 * dL/d(its input) from dh; dst +=. A decoder ResBlock also writes the gradient of its
 * popped skip into dhs[(*top)++]. */
static fm_status module_bwd(fm_model *m, int i, fm_tensor dh, fm_tensor dst, fm_tensor *dhs,
                            int *top, fm_tensor *dx)
{
    const unet_state *tp = state(m);
    const fm_blk_mod *md = &tp->mods[i];
    const fm_blk_saved *s = &tp->sv[i];
    fm_backend *be = m->be;
    const int N = (int)dh.shape[0], H = md->res;
    if (md->kind == FM_BLK_XATTN) {
        /* x + xattn(x): dL/dx = dh + the branch's share */
        unet_state *u = state(m);
        FM_TRY(fm_new4(be, dx, N, md->cin, H, H));
        FM_TRY(fm_copy(be, dx, &dh));
        return fm_text_cross_img_bwd(m, &u->text, &u->xs[md->xslot], md->p, *dx);
    }
    if (md->kind == FM_BLK_RES && md->part == PART_DEC) {
        int idx = (*top)++;
        fm_tensor dcat;
        FM_TRY(fm_new4(be, dx, N, md->cin - md->cskip, H, H));
        FM_TRY(fm_new4(be, &dhs[idx], N, md->cskip, H, H));
        fm_arena_mark mark = fm_arena_get_mark(&be->arena, "module grad");
        FM_TRY(fm_new4(be, &dcat, N, md->cin, H, H));
        FM_TRY(fm_blk_bwd(m, md, s, dcat, dh, dst, tp->st));
        FM_TRY(fm_do(be, (fm_call){.op = FM_OP_CONCAT_BWD, .t = {*dx, dhs[idx], dcat}}));
        fm_arena_reset(&be->arena, mark);
        return FM_OK;
    }
    FM_TRY(fm_new4(be, dx, N, md->cin, H, H));
    return fm_blk_bwd(m, md, s, *dx, dh, dst, tp->st);
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
    FM_TRY(fm_blk_silu_bwd(be, dtemb, dst, tp->temb));
    if (m->cfg.num_classes > 0)
        FM_TRY(fm_do(be, (fm_call){.op = FM_OP_EMBED_BWD, .t = {fm_g(m, 4), dtemb, m->y}}));
    if (m->cfg.text_depth)
        FM_TRY(fm_text_bwd_end(m, &state(m)->text, dtemb, text_proj(&m->cfg)));
    FM_TRY(fm_new2(be, &ds1, N, T));
    FM_TRY(fm_do(be, (fm_call){.op = FM_OP_LINEAR_BWD,
                               .t = {ds1, fm_g(m, 2), fm_g(m, 3), dtemb, tp->s1, fm_w(m, P, 2)}}));
    FM_TRY(fm_new2(be, &dl1, N, T));
    FM_TRY(fm_blk_silu_bwd(be, dl1, ds1, tp->l1));
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
    if (cfg->text_depth)
        FM_TRY(fm_text_bwd_begin(m, &state(m)->text));
    FM_TRY(fm_new4(be, &dao, N, Cl, S, S));
    FM_TRY(fm_blk_conv_bwd(m, dao, *dv, tp->aout, P, po + 2, 1));
    FM_TRY(fm_new4(be, &dno, N, Cl, S, S));
    FM_TRY(fm_blk_silu_bwd(be, dno, dao, tp->nout));
    FM_TRY(fm_new4(be, &dh, N, Cl, S, S));
    FM_TRY(fm_blk_gnorm_bwd(m, dh, dno, h, tp->mout, tp->rout, P, po));

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
            FM_TRY(fm_blk_add(be, dh, dh, dhs[i]));
    }
    /* conv_in: its output was hs[0]; its input x needs no gradient. */
    FM_TRY(fm_blk_conv_bwd(m, (fm_tensor){0}, dh, m->x, P, conv_in(cfg), 1));
    return time_bwd(m, dst);
}

/* Forward GFLOP of one image (2 per multiply-add) from the module list: convs
 * 2 Cin Cout K^2 Ho Wo, attention 2 C 3C L + 2 C C L (1x1 convs) + 4 L^2 C (q^T k
 * and A v). A training step is about 3x (backward: two products per layer). */
static double gflop(const fm_config *c)
{
    fm_blk_mod mods[MAX_MODULES];
    fm_layout b = {0};
    walk w = {.b = &b, .mods = mods};
    build(c, &w);
    double S2 = (double)c->image * c->image, f = 0;
    f += 2.0 * c->in_channels * c->base_channels * 9 * S2; /* conv_in */
    int clast = c->base_channels;
    for (int k = 0; k < w.n && k < MAX_MODULES; k++) {
        if (mods[k].kind == FM_BLK_XATTN)
            f += fm_text_cross_gflop(c, mods[k].cin, mods[k].res * mods[k].res) * 1e9;
        else
            f += fm_blk_gflop(&mods[k]) * 1e9;
        clast = mods[k].cout;
    }
    f += 2.0 * clast * c->in_channels * 9 * S2; /* conv_out */
    return f / 1e9 + (c->text_depth ? fm_text_gflop(c) : 0);
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
    /* Latent flow matching (docs/spec/vae.md): the vae preset's 4x7x7 latents, one level
     * (7 is odd: no downsampling), two ResBlocks and attention over the 49 positions. */
    {"latent", {.in_channels = 4, .image = 7, .base_channels = 64, .levels = 1,
                .channel_mult = {1}, .res_blocks = 2, .time_dim = 128, .heads = 4, .groups = 8}},
    {NULL, {0}},
};

const fm_arch fm_arch_unet = {
    .name = "unet",
    .id = 0,
    .fields = FM_FIELD(in_channels) | FM_FIELD(image) | FM_FIELD(base_channels) |
              FM_FIELD(channel_mult) | FM_FIELD(res_blocks) | FM_FIELD(time_dim) | FM_FIELD(heads) |
              FM_FIELD(groups) | FM_FIELD(num_classes) | FM_TEXT_FIELDS,
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
