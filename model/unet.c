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
#include "unet.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dit.h"
#include "layout.h"
#include "philox.h"

/* ---- layout ------------------------------------------------------------------------ */

/* ResBlock parameter order: norm1 conv1 temb norm2 conv2 [skip], weight then bias. */
enum { RB_N1W, RB_N1B, RB_C1W, RB_C1B, RB_TW, RB_TB, RB_N2W, RB_N2B, RB_C2W, RB_C2B, RB_SW, RB_SB };
/* Attention: norm qkv proj. Down/Up: conv. */
enum { AT_NW, AT_NB, AT_QW, AT_QB, AT_PW, AT_PB };

static void add_resblock(fm_layout *b, fm_mod_part part, const char *prefix, int cin, int cout, int T,
                         int res)
{
    fm_module *m = fm_lay_module(b, FM_MOD_RES, part, cin, cout, res);
    m->has_skip = cin != cout;
    fm_lay_norm(b, prefix, "norm1", cin);
    fm_lay_conv(b, prefix, "conv1", cout, cin, 3);
    fm_lay_linear(b, prefix, "temb", cout, T);
    fm_lay_norm(b, prefix, "norm2", cout);
    fm_lay_conv(b, prefix, "conv2", cout, cout, 3);
    if (m->has_skip)
        fm_lay_conv(b, prefix, "skip", cout, cin, 1);
}

void fm_unet_build(const fm_config *cfg, fm_layout *b)
{
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
            add_resblock(b, FM_PART_ENC, prefix, c, C * cfg->channel_mult[l], T, res);
            c = C * cfg->channel_mult[l];
            chans[nch++] = c;
        }
        if (l < cfg->levels - 1) {
            snprintf(prefix, sizeof prefix, "enc.%d.", e++);
            fm_lay_module(b, FM_MOD_DOWN, FM_PART_ENC, c, c, res);
            fm_lay_conv(b, prefix, "conv", c, c, 3);
            chans[nch++] = c;
            res /= 2;
        }
    }
    add_resblock(b, FM_PART_MID, "mid.0.", c, c, T, res);
    fm_lay_module(b, FM_MOD_ATTN, FM_PART_MID, c, c, res);
    fm_lay_norm(b, "mid.1.", "norm", c);
    fm_lay_conv(b, "mid.1.", "qkv", 3 * c, c, 1);
    fm_lay_conv(b, "mid.1.", "proj", c, c, 1);
    add_resblock(b, FM_PART_MID, "mid.2.", c, c, T, res);
    for (int l = cfg->levels - 1; l >= 0; l--) {
        for (int r = 0; r < cfg->res_blocks + 1; r++) {
            int skip = chans[--nch];
            snprintf(prefix, sizeof prefix, "dec.%d.", d++);
            add_resblock(b, FM_PART_DEC, prefix, c + skip, C * cfg->channel_mult[l], T, res);
            if (b->mods && b->nm > 0 && b->nm <= b->maxm)
                b->mods[b->nm - 1].cskip = skip;
            c = C * cfg->channel_mult[l];
        }
        if (l > 0) {
            snprintf(prefix, sizeof prefix, "dec.%d.", d++);
            fm_lay_module(b, FM_MOD_UP, FM_PART_DEC, c, c, res);
            fm_lay_conv(b, prefix, "conv", c, c, 3);
            res *= 2;
        }
    }
    fm_lay_norm(b, "", "norm_out", c);
    fm_lay_conv(b, "", "conv_out", cfg->in_channels, c, 3);
}

/* The walk of cfg's architecture. */
static void build(const fm_config *cfg, fm_layout *b)
{
    if (cfg->arch == FM_ARCH_DIT)
        fm_dit_build(cfg, b);
    else
        fm_unet_build(cfg, b);
}

void fm_unet_count(const fm_config *cfg, int *modules, int *params)
{
    fm_layout b = {0};
    build(cfg, &b);
    *modules = b.nm;
    *params = b.np;
}

int fm_unet_layout(const fm_config *cfg, fm_param *params, int max, int64_t *nfloats)
{
    static fm_module mods[FM_MAX_MODULES];
    fm_layout b = {.params = params, .maxp = max, .mods = mods, .maxm = FM_MAX_MODULES};
    build(cfg, &b);
    if (nfloats)
        *nfloats = b.nfloats;
    return b.overflow ? -1 : b.np;
}

/* ---- memory --------------------------------------------------------------------------- */

fm_tensor fm_unet_view(const fm_unet *m, const fm_tensor *block, int i)
{
    fm_tensor t = m->params[i].t;
    t.base = block->base;
    t.off = block->off + (size_t)m->params[i].offset * sizeof(float);
    return t;
}

const fm_param *fm_unet_find(const fm_unet *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return &m->params[i];
    return NULL;
}

static fm_status alloc4(fm_unet *m, fm_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w)
{
    *t = fm_tensor_4d(FM_F32, n, c, h, w);
    return fm_tensor_alloc(m->be, t);
}

static fm_status alloc2(fm_unet *m, fm_tensor *t, int64_t n, int64_t c)
{
    *t = fm_tensor_2d(FM_F32, n, c);
    return fm_tensor_alloc(m->be, t);
}

/* ext: the parameter block in caller memory (sample mode on ref), else NULL. */
static fm_status create(fm_unet *m, fm_backend *be, const fm_config *cfg, fm_mode mode, int batch,
                        const void *ext)
{
    char msg[200];
    memset(m, 0, sizeof *m);
    if (fm_config_validate(cfg, msg, sizeof msg) != FM_OK)
        return fm_fail(be, FM_ERR_ARG, "model config: %s", msg);
    if (batch < 1)
        return fm_fail(be, FM_ERR_ARG, "model: batch %d must be >= 1", batch);
    m->cfg = *cfg;
    m->mode = mode;
    m->batch = batch;
    m->be = be;
    fm_layout b = {.params = m->params, .maxp = FM_MAX_PARAMS, .mods = m->mods, .maxm = FM_MAX_MODULES};
    build(cfg, &b);
    if (b.overflow)
        return fm_fail(be, FM_ERR_ARG, "model config has more than %d parameters or %d modules",
                       FM_MAX_PARAMS, FM_MAX_MODULES);
    m->nparams = b.np;
    m->nmods = b.nm;
    m->nfloats = b.nfloats;
    fm_tensor *blocks[] = {&m->flat, &m->grad, &m->adam_m, &m->adam_v, &m->ema};
    int nblocks = mode == FM_MODE_TRAIN ? 5 : 1;
    for (int i = 0; i < nblocks; i++) {
        *blocks[i] = fm_tensor_1d(FM_F32, m->nfloats);
        if (ext) {
            /* The tensor API has no const base; the sampler only reads parameters. */
            blocks[i]->base = (void *)(uintptr_t)ext;
            continue;
        }
        FM_TRY(fm_tensor_alloc(be, blocks[i]));
        FM_TRY(fm_fill(be, blocks[i], 0.0f));
    }
    for (int i = 0; i < m->nparams; i++)
        m->params[i].t = fm_unet_view(m, &m->flat, i);
    if (cfg->arch == FM_ARCH_DIT)
        FM_TRY(fm_dit_create(m));
    m->persistent = fm_arena_get_mark(&be->arena, "persistent");
    m->keep = mode == FM_MODE_TRAIN;
    return FM_OK;
}

fm_status fm_unet_create(fm_unet *m, fm_backend *be, const fm_config *cfg, fm_mode mode, int batch)
{
    return create(m, be, cfg, mode, batch, NULL);
}

fm_status fm_unet_create_in_place(fm_unet *m, fm_backend *be, const fm_config *cfg, int batch,
                                  const void *params)
{
    if (!params || (uintptr_t)params % sizeof(float) != 0)
        return fm_fail(be, FM_ERR_ARG, "model in place: parameters %s",
                       params ? "not 4-byte aligned" : "missing");
    /* Only the reference backend reads tensors through host pointers. */
    if (!be || !be->iface || strcmp(fm_backend_name(be), "ref") != 0)
        return fm_fail(be, FM_ERR_ARG, "model in place: needs the ref backend, not %s",
                       fm_backend_name(be));
    return create(m, be, cfg, FM_MODE_SAMPLE, batch, params);
}

/* Host-side initialisation: each parameter gets its own Philox stream (its index),
 * so the values do not depend on how the flat block is laid out on a device. */
fm_status fm_unet_init_params(fm_unet *m, uint64_t seed)
{
    if (m->cfg.arch == FM_ARCH_DIT)
        return fm_dit_init_params(m, seed);
    for (int i = 0; i < m->nparams; i++) {
        fm_param *p = &m->params[i];
        const char *name = p->name;
        size_t len = strlen(name);
        int is_bias = len > 5 && strcmp(name + len - 5, ".bias") == 0;
        int is_norm = strstr(name, "norm") != NULL;
        int is_out = strncmp(name, "conv_out.", 9) == 0;
        int is_emb = strncmp(name, "class_emb.", 10) == 0;
        /* fan_in of a conv/linear is the weight's elements per output row; a bias uses
         * its weight's (the previous parameter). */
        const fm_tensor *w = is_bias && i > 0 ? &m->params[i - 1].t : &p->t;
        int64_t fan_in = fm_tensor_numel(w) / w->shape[0];
        float bound = 1.0f / sqrtf((float)fan_in);
        int64_t n = fm_tensor_numel(&p->t);
        /* Upload in slices through a small stack buffer: the library has no heap. */
        float buf[1024];
        for (int64_t s = 0; s < n; s += 1024) {
            int64_t k = n - s < 1024 ? n - s : 1024;
            for (int64_t j = 0; j < k; j++) {
                uint64_t e = (uint64_t)(s + j);
                float v;
                if (is_norm)
                    v = is_bias ? 0.0f : 1.0f;
                else if (is_out)
                    v = 0.0f;
                else if (is_emb)
                    v = fm_philox_normal(seed, e, (uint32_t)i);
                else
                    v = bound * (2.0f * fm_philox_uniform(seed, e, (uint32_t)i) - 1.0f);
                buf[j] = v;
            }
            fm_tensor part = fm_tensor_1d(FM_F32, k);
            part.base = p->t.base;
            part.off = p->t.off + (size_t)s * sizeof(float);
            FM_TRY(fm_upload(m->be, &part, buf));
        }
    }
    if (m->mode == FM_MODE_TRAIN)
        FM_TRY(fm_copy(m->be, &m->ema, &m->flat));
    return FM_OK;
}

/* ---- op helpers ----------------------------------------------------------------------- */

typedef struct ctx {
    fm_unet *m;
    fm_backend *be;
    const fm_tensor *P; /* parameter block for forward */
    int N;
    int train;
} ctx;

static fm_tensor W(ctx *c, int i) { return fm_unet_view(c->m, c->P, i); }
static fm_tensor G(fm_unet *m, int i) { return fm_unet_view(m, &m->grad, i); }

static fm_status run(fm_backend *be, fm_call call) { return fm_run(be, &call); }

/* out = conv(in) + bias (+ bn[N,Co] per sample) (+ res, the residual): bn and res are
 * CONV2D_FWD's epilogue terms ({0}: absent). */
static fm_status conv_add(ctx *c, fm_tensor out, fm_tensor in, int p, int stride, fm_tensor bn,
                          fm_tensor res)
{
    fm_tensor w = W(c, p);
    int pad = (int)(w.shape[2] / 2);
    return run(c->be, (fm_call){.op = FM_OP_CONV2D_FWD,
                                .t = {out, in, w, W(c, p + 1), bn, res},
                                .i = {stride, pad}});
}

static fm_status conv(ctx *c, fm_tensor out, fm_tensor in, int p, int stride)
{
    return conv_add(c, out, in, p, stride, (fm_tensor){0}, (fm_tensor){0});
}

static fm_status conv_bwd(fm_unet *m, fm_tensor din, fm_tensor dout, fm_tensor in, const fm_tensor *P,
                          int p, int stride)
{
    fm_tensor w = fm_unet_view(m, P, p);
    int pad = (int)(w.shape[2] / 2);
    return run(m->be, (fm_call){.op = FM_OP_CONV2D_BWD,
                                .t = {din, G(m, p), G(m, p + 1), dout, in, w},
                                .i = {stride, pad}});
}

/* Sampling frees every activation right after its last use (fm_tensor_free), so the
 * arena holds about the live set; training keeps them all for backward. */
static fm_status dead(ctx *c, const fm_tensor *t)
{
    return c->train ? FM_OK : fm_tensor_free(c->be, t);
}

/* act: GROUPNORM_FWD's post-op (FM_GN_ACT_*) */
static fm_status gnorm_act(ctx *c, fm_tensor out, fm_tensor *mean, fm_tensor *rstd, fm_tensor in,
                           int p, int act)
{
    int G = c->m->cfg.groups;
    FM_TRY(alloc2(c->m, mean, c->N, G));
    FM_TRY(alloc2(c->m, rstd, c->N, G));
    FM_TRY(run(c->be, (fm_call){.op = FM_OP_GROUPNORM_FWD,
                                .t = {out, *mean, *rstd, in, W(c, p), W(c, p + 1)},
                                .i = {G, act},
                                .f = {1e-5f}}));
    /* [N, G] statistics only backward reads; top of the arena first, so no hole. */
    FM_TRY(dead(c, rstd));
    return dead(c, mean);
}

static fm_status gnorm(ctx *c, fm_tensor out, fm_tensor *mean, fm_tensor *rstd, fm_tensor in, int p)
{
    return gnorm_act(c, out, mean, rstd, in, p, FM_GN_ACT_NONE);
}

static fm_status gnorm_bwd(fm_unet *m, fm_tensor din, fm_tensor dout, fm_tensor in, fm_tensor mean,
                           fm_tensor rstd, const fm_tensor *P, int p)
{
    return run(m->be, (fm_call){.op = FM_OP_GROUPNORM_BWD,
                                .t = {din, G(m, p), G(m, p + 1), dout, in, mean, rstd,
                                      fm_unet_view(m, P, p)},
                                .i = {m->cfg.groups}});
}

static fm_status silu(fm_backend *be, fm_tensor out, fm_tensor in)
{
    return run(be, (fm_call){.op = FM_OP_SILU_FWD, .t = {out, in}});
}

static fm_status silu_bwd(fm_backend *be, fm_tensor din, fm_tensor dout, fm_tensor in)
{
    return run(be, (fm_call){.op = FM_OP_SILU_BWD, .t = {din, dout, in}});
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
        FM_TRY(alloc4(c->m, act, d[0], d[1], d[2], d[3]));
        return gnorm_act(c, *act, mean, rstd, in, p, FM_GN_ACT_SILU);
    }
    FM_TRY(alloc4(c->m, nrm, d[0], d[1], d[2], d[3]));
    FM_TRY(gnorm(c, *nrm, mean, rstd, in, p));
    FM_TRY(alloc4(c->m, act, d[0], d[1], d[2], d[3]));
    return silu(c->be, *act, *nrm);
}

static fm_status add(fm_backend *be, fm_tensor out, fm_tensor a, fm_tensor b)
{
    return run(be, (fm_call){.op = FM_OP_ADD_FWD, .t = {out, a, b}});
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
static fm_status res_fwd(ctx *c, const fm_module *md, fm_saved *s, fm_tensor x, fm_tensor *out,
                         fm_tensor st)
{
    fm_unet *m = c->m;
    int N = c->N, H = md->res, p = md->p;
    fm_tensor tp;
    s->x = x;
    FM_TRY(norm_silu(c, &s->n1, &s->a1, &s->mean1, &s->rstd1, x, p + RB_N1W));
    FM_TRY(alloc2(m, &tp, N, md->cout));
    FM_TRY(run(c->be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {tp, st, W(c, p + RB_TW), W(c, p + RB_TB)}}));
    FM_TRY(alloc4(m, &s->h1, N, md->cout, H, H));
    FM_TRY(conv_add(c, s->h1, s->a1, p + RB_C1W, 1, tp, (fm_tensor){0}));
    FM_TRY(dead(c, &s->a1));
    FM_TRY(dead(c, &tp));
    FM_TRY(norm_silu(c, &s->n2, &s->a2, &s->mean2, &s->rstd2, s->h1, p + RB_N2W));
    FM_TRY(dead(c, &s->h1));
    fm_tensor sk = x;
    if (md->has_skip) {
        FM_TRY(alloc4(m, &sk, N, md->cout, H, H));
        FM_TRY(conv(c, sk, x, p + RB_SW, 1));
    }
    FM_TRY(alloc4(m, out, N, md->cout, H, H));
    FM_TRY(conv_add(c, *out, s->a2, p + RB_C2W, 1, (fm_tensor){0}, sk));
    FM_TRY(dead(c, &s->a2));
    if (md->has_skip)
        FM_TRY(dead(c, &sk));
    s->out = *out;
    return FM_OK;
}

/* out = x + proj(attention(qkv(norm(x)))), x the projection's epilogue term
 * x, out [N,C,H,H]; n1 [N,C,H,H] dies at qkv [N,3C,H,H], which dies with the
 * attention weights att [N,heads,L,L] once o [N,C,H,H] is written. */
static fm_status attn_fwd(ctx *c, const fm_module *md, fm_saved *s, fm_tensor x, fm_tensor *out)
{
    fm_unet *m = c->m;
    int N = c->N, H = md->res, C = md->cin, p = md->p, L = H * H, heads = m->cfg.heads;
    s->x = x;
    FM_TRY(alloc4(m, &s->n1, N, C, H, H));
    FM_TRY(gnorm(c, s->n1, &s->mean1, &s->rstd1, x, p + AT_NW));
    FM_TRY(alloc4(m, &s->qkv, N, 3 * C, H, H));
    FM_TRY(conv(c, s->qkv, s->n1, p + AT_QW, 1));
    FM_TRY(dead(c, &s->n1));
    s->att = fm_tensor_4d(FM_F32, N, heads, L, L);
    FM_TRY(fm_tensor_alloc(m->be, &s->att));
    FM_TRY(alloc4(m, &s->o, N, C, H, H));
    FM_TRY(run(c->be, (fm_call){.op = FM_OP_ATTENTION_FWD, .t = {s->o, s->att, s->qkv}, .i = {heads}}));
    FM_TRY(dead(c, &s->att));
    FM_TRY(dead(c, &s->qkv));
    FM_TRY(alloc4(m, out, N, C, H, H));
    FM_TRY(conv_add(c, *out, s->o, p + AT_PW, 1, (fm_tensor){0}, x));
    FM_TRY(dead(c, &s->o));
    s->out = *out;
    return FM_OK;
}

/* x_dead: x is not on the skip stack, so this module is its last user (sampling frees
 * it after its last read). A decoder ResBlock's popped skip always dies at the concat. */
static fm_status module_fwd(ctx *c, int i, fm_tensor x, int x_dead, fm_tensor skip, fm_tensor *out,
                            fm_tensor st)
{
    fm_unet *m = c->m;
    const fm_module *md = &m->mods[i];
    fm_saved local, *s = c->train ? &m->saved[i] : &local;
    int N = c->N, H = md->res;
    int Ho = md->kind == FM_MOD_DOWN ? H / 2 : md->kind == FM_MOD_UP ? 2 * H : H;
    if (md->kind == FM_MOD_RES && md->part == FM_PART_DEC) {
        /* cat [N, cin, H, H] = [h, skip] replaces both from here on. */
        fm_tensor cat;
        FM_TRY(alloc4(m, &cat, N, md->cin, H, H));
        FM_TRY(run(c->be, (fm_call){.op = FM_OP_CONCAT_FWD, .t = {cat, x, skip}}));
        FM_TRY(dead(c, &skip));
        if (x_dead)
            FM_TRY(dead(c, &x));
        x = cat;
        x_dead = 1;
    }
    switch (md->kind) {
    case FM_MOD_RES: FM_TRY(res_fwd(c, md, s, x, out, st)); break;
    case FM_MOD_ATTN: FM_TRY(attn_fwd(c, md, s, x, out)); break;
    case FM_MOD_DOWN:
        s->x = x;
        FM_TRY(alloc4(m, out, N, md->cout, Ho, Ho));
        FM_TRY(conv(c, *out, x, md->p, 2));
        break;
    case FM_MOD_UP:
        /* up [N, cin, 2H, 2H] is 4x the input, which dies before the conv's out. */
        s->x = x;
        FM_TRY(alloc4(m, &s->up, N, md->cin, 2 * H, 2 * H));
        FM_TRY(run(c->be, (fm_call){.op = FM_OP_UPSAMPLE2X_FWD, .t = {s->up, x}}));
        if (x_dead)
            FM_TRY(dead(c, &x));
        x_dead = 0;
        FM_TRY(alloc4(m, out, N, md->cout, Ho, Ho));
        FM_TRY(conv(c, *out, s->up, md->p, 1));
        FM_TRY(dead(c, &s->up));
        break;
    }
    if (x_dead)
        FM_TRY(dead(c, &x));
    return FM_OK;
}

void fm_unet_release(fm_unet *m)
{
    if (m->tape.active)
        fm_arena_reset(&m->be->arena, m->act);
    m->tape.active = 0;
}

fm_status fm_unet_forward(fm_unet *m, const fm_tensor *params, const fm_tensor *v, const fm_tensor *x,
                          const fm_tensor *t, const fm_tensor *y)
{
    const fm_config *cfg = &m->cfg;
    fm_backend *be = m->be;
    int N = (int)x->shape[0];
    int train = m->keep;
    if (x->ndim != 4 || x->shape[1] != cfg->in_channels || x->shape[2] != cfg->image ||
        x->shape[3] != cfg->image || N > m->batch || !fm_tensor_same_shape(x, v))
        return fm_fail(be, FM_ERR_ARG,
                       "model forward: x must be [N<=%d, %d, %d, %d] like v", m->batch,
                       cfg->in_channels, cfg->image, cfg->image);
    if (cfg->num_classes > 0 && (!y || y->ndim == 0))
        return fm_fail(be, FM_ERR_ARG, "model forward: a conditional model needs labels y");
    fm_unet_release(m);
    m->act = fm_arena_get_mark(&be->arena, "activations");
    fm_tape *tp = &m->tape;
    ctx c = {m, be, params, N, train};
    tp->x = *x;
    tp->t = *t;
    tp->y = cfg->num_classes > 0 ? *y : (fm_tensor){0};
    tp->params = *params;
    tp->active = 1;
    if (cfg->arch == FM_ARCH_DIT) {
        FM_TRY(fm_dit_forward(m, params, v, x, t, y));
        if (!train)
            fm_unet_release(m);
        return FM_OK;
    }

    /* time path */
    const int C = cfg->base_channels, T = cfg->time_dim;
    FM_TRY(alloc2(m, &tp->e, N, C));
    FM_TRY(run(be, (fm_call){.op = FM_OP_TIMEEMB_FWD, .t = {tp->e, *t}}));
    FM_TRY(alloc2(m, &tp->l1, N, T));
    FM_TRY(run(be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {tp->l1, tp->e, W(&c, 0), W(&c, 1)}}));
    FM_TRY(alloc2(m, &tp->s1, N, T));
    FM_TRY(silu(be, tp->s1, tp->l1));
    FM_TRY(alloc2(m, &tp->temb, N, T));
    FM_TRY(run(be, (fm_call){.op = FM_OP_LINEAR_FWD, .t = {tp->temb, tp->s1, W(&c, 2), W(&c, 3)}}));
    int p = 4;
    if (cfg->num_classes > 0) {
        fm_tensor ce;
        FM_TRY(alloc2(m, &ce, N, T));
        FM_TRY(run(be, (fm_call){.op = FM_OP_EMBED_FWD, .t = {ce, W(&c, p), *y}}));
        FM_TRY(add(be, tp->temb, tp->temb, ce));
        p++;
    }
    FM_TRY(alloc2(m, &tp->st, N, T));
    FM_TRY(silu(be, tp->st, tp->temb));

    fm_tensor h;
    FM_TRY(alloc4(m, &h, N, C, cfg->image, cfg->image));
    FM_TRY(conv(&c, h, *x, p, 1));
    tp->nhs = 0;
    tp->hs[tp->nhs++] = h;
    /* Every pushed tensor lives until the decoder pops it; any other h dies in the
     * module that reads it. */
    int pushed = 1;
    for (int i = 0; i < m->nmods; i++) {
        const fm_module *md = &m->mods[i];
        fm_tensor out, skip = {0};
        if (md->kind == FM_MOD_RES && md->part == FM_PART_DEC)
            skip = tp->hs[--tp->nhs];
        FM_TRY(module_fwd(&c, i, h, !pushed, skip, &out, tp->st));
        h = out;
        pushed = md->part == FM_PART_ENC;
        if (pushed)
            tp->hs[tp->nhs++] = h;
    }

    int po = m->nparams - 4; /* norm_out.weight, norm_out.bias, conv_out.weight, conv_out.bias */
    FM_TRY(norm_silu(&c, &tp->nout, &tp->aout, &tp->mout, &tp->rout, h, po));
    if (!pushed)
        FM_TRY(dead(&c, &h));
    FM_TRY(conv(&c, *v, tp->aout, po + 2, 1));
    FM_TRY(dead(&c, &tp->aout));
    tp->hlast = h;
    if (!train)
        fm_unet_release(m);
    return FM_OK;
}

/* ---- modules: backward --------------------------------------------------------------- */

/* Inputs: dout = dL/d(out). Writes dx = dL/dx; adds dL/dst into dst. */
static fm_status res_bwd(fm_unet *m, const fm_module *md, const fm_saved *s, fm_tensor dx,
                         fm_tensor dout, fm_tensor dst, const fm_tensor *P)
{
    int N = (int)dout.shape[0], H = md->res, p = md->p;
    fm_tape *tp = &m->tape;
    fm_tensor da2, dn2, dh1, dtp, dst_i, da1, dn1;
    FM_TRY(alloc4(m, &da2, N, md->cout, H, H));
    FM_TRY(conv_bwd(m, da2, dout, s->a2, P, p + RB_C2W, 1));
    FM_TRY(alloc4(m, &dn2, N, md->cout, H, H));
    FM_TRY(silu_bwd(m->be, dn2, da2, s->n2));
    FM_TRY(alloc4(m, &dh1, N, md->cout, H, H));
    FM_TRY(gnorm_bwd(m, dh1, dn2, s->h1, s->mean2, s->rstd2, P, p + RB_N2W));
    /* h1 = conv1(a1) + temb(st) broadcast: the projection sees the spatial sums. */
    FM_TRY(alloc2(m, &dtp, N, md->cout));
    FM_TRY(run(m->be, (fm_call){.op = FM_OP_BIAS_ADD_BWD, .t = {dtp, dh1}}));
    FM_TRY(alloc2(m, &dst_i, N, m->cfg.time_dim));
    FM_TRY(run(m->be, (fm_call){.op = FM_OP_LINEAR_BWD,
                             .t = {dst_i, G(m, p + RB_TW), G(m, p + RB_TB), dtp, tp->st,
                                   fm_unet_view(m, P, p + RB_TW)}}));
    FM_TRY(add(m->be, dst, dst, dst_i));
    FM_TRY(alloc4(m, &da1, N, md->cin, H, H));
    FM_TRY(conv_bwd(m, da1, dh1, s->a1, P, p + RB_C1W, 1));
    FM_TRY(alloc4(m, &dn1, N, md->cin, H, H));
    FM_TRY(silu_bwd(m->be, dn1, da1, s->n1));
    FM_TRY(gnorm_bwd(m, dx, dn1, s->x, s->mean1, s->rstd1, P, p + RB_N1W));
    if (md->has_skip) {
        fm_tensor dsk;
        FM_TRY(alloc4(m, &dsk, N, md->cin, H, H));
        FM_TRY(conv_bwd(m, dsk, dout, s->x, P, p + RB_SW, 1));
        FM_TRY(add(m->be, dx, dx, dsk));
    } else {
        FM_TRY(add(m->be, dx, dx, dout));
    }
    return FM_OK;
}

static fm_status attn_bwd(fm_unet *m, const fm_module *md, const fm_saved *s, fm_tensor dx,
                          fm_tensor dout, const fm_tensor *P)
{
    int N = (int)dout.shape[0], H = md->res, C = md->cin, p = md->p;
    fm_tensor d_o, dqkv, ws, dn;
    FM_TRY(alloc4(m, &d_o, N, C, H, H));
    FM_TRY(conv_bwd(m, d_o, dout, s->o, P, p + AT_PW, 1));
    FM_TRY(alloc4(m, &dqkv, N, 3 * C, H, H));
    ws = fm_tensor_1d(FM_F32, fm_attention_ws_floats((int64_t)H * H));
    FM_TRY(fm_tensor_alloc(m->be, &ws));
    FM_TRY(run(m->be, (fm_call){.op = FM_OP_ATTENTION_BWD, .t = {dqkv, ws, d_o, s->qkv, s->att},
                             .i = {m->cfg.heads}}));
    FM_TRY(alloc4(m, &dn, N, C, H, H));
    FM_TRY(conv_bwd(m, dn, dqkv, s->n1, P, p + AT_QW, 1));
    FM_TRY(gnorm_bwd(m, dx, dn, s->x, s->mean1, s->rstd1, P, p + AT_NW));
    return add(m->be, dx, dx, dout);
}

fm_status fm_unet_backward(fm_unet *m, const fm_tensor *dv)
{
    fm_tape *tp = &m->tape;
    fm_backend *be = m->be;
    const fm_config *cfg = &m->cfg;
    if (m->mode != FM_MODE_TRAIN || !tp->active || !m->keep)
        return fm_fail(be, FM_ERR_ARG, "model backward: needs a training-mode forward first");
    if (cfg->arch == FM_ARCH_DIT)
        return fm_dit_backward(m, dv);
    const fm_tensor *P = &tp->params;
    int N = (int)dv->shape[0], S = cfg->image, po = m->nparams - 4;
    fm_tensor h = tp->hlast, dh, dao, dno, dst;
    int Cl = (int)h.shape[1];

    FM_TRY(alloc2(m, &dst, N, cfg->time_dim));
    FM_TRY(fm_fill(be, &dst, 0.0f));
    FM_TRY(alloc4(m, &dao, N, Cl, S, S));
    FM_TRY(conv_bwd(m, dao, *dv, tp->aout, P, po + 2, 1));
    FM_TRY(alloc4(m, &dno, N, Cl, S, S));
    FM_TRY(silu_bwd(be, dno, dao, tp->nout));
    FM_TRY(alloc4(m, &dh, N, Cl, S, S));
    FM_TRY(gnorm_bwd(m, dh, dno, h, tp->mout, tp->rout, P, po));

    /* Gradients of the skip stack, filled by the decoder, consumed by the encoder. */
    fm_tensor dhs[sizeof tp->hs / sizeof tp->hs[0]];
    int nskip = 0;
    for (int i = 0; i < m->nmods; i++)
        if (m->mods[i].part == FM_PART_ENC)
            nskip++;
    nskip++; /* conv_in's output */
    /* Decoder ResBlocks pop hs[nskip-1] first and hs[0] last; in reverse the first
     * one met is hs[0]'s. */
    int top = 0;
    for (int i = m->nmods - 1; i >= 0; i--) {
        const fm_module *md = &m->mods[i];
        const fm_saved *s = &m->saved[i];
        int H = md->res;
        fm_tensor dx;
        if (md->kind == FM_MOD_RES && md->part == FM_PART_DEC) {
            /* Output gradients first: they outlive the module's temporaries. */
            int idx = top++;
            fm_tensor dcat;
            FM_TRY(alloc4(m, &dx, N, md->cin - md->cskip, H, H));
            FM_TRY(alloc4(m, &dhs[idx], N, md->cskip, H, H));
            fm_arena_mark mark = fm_arena_get_mark(&be->arena, "module grad");
            FM_TRY(alloc4(m, &dcat, N, md->cin, H, H));
            FM_TRY(res_bwd(m, md, s, dcat, dh, dst, P));
            FM_TRY(run(be, (fm_call){.op = FM_OP_CONCAT_BWD, .t = {dx, dhs[idx], dcat}}));
            fm_arena_reset(&be->arena, mark);
        } else {
            FM_TRY(alloc4(m, &dx, N, md->cin, H, H));
            fm_arena_mark mark = fm_arena_get_mark(&be->arena, "module grad");
            switch (md->kind) {
            case FM_MOD_RES: FM_TRY(res_bwd(m, md, s, dx, dh, dst, P)); break;
            case FM_MOD_ATTN: FM_TRY(attn_bwd(m, md, s, dx, dh, P)); break;
            case FM_MOD_DOWN: FM_TRY(conv_bwd(m, dx, dh, s->x, P, md->p, 2)); break;
            case FM_MOD_UP: {
                fm_tensor du;
                FM_TRY(alloc4(m, &du, N, md->cin, 2 * H, 2 * H));
                FM_TRY(conv_bwd(m, du, dh, s->up, P, md->p, 1));
                FM_TRY(run(be, (fm_call){.op = FM_OP_UPSAMPLE2X_BWD, .t = {dx, du}}));
                break;
            }
            }
            fm_arena_reset(&be->arena, mark);
        }
        dh = dx;
        /* Module i <= nskip - 1 read the pushed tensor hs[i] (encoder module i reads
         * hs[i] and writes hs[i+1]; the first middle module reads the last one). Its
         * other use, the decoder's concat, left its gradient in dhs[i]. */
        if (i < nskip)
            FM_TRY(add(be, dh, dh, dhs[i]));
    }
    /* conv_in: its output was hs[0]; its input x needs no gradient. */
    FM_TRY(conv_bwd(m, (fm_tensor){0}, dh, tp->x, P, cfg->num_classes > 0 ? 5 : 4, 1));

    /* time path: st = SiLU(temb), temb = lin2(SiLU(lin1(e))) + class_emb[y] */
    fm_tensor dtemb, ds1, dl1;
    FM_TRY(alloc2(m, &dtemb, N, cfg->time_dim));
    FM_TRY(silu_bwd(be, dtemb, dst, tp->temb));
    if (cfg->num_classes > 0)
        FM_TRY(run(be, (fm_call){.op = FM_OP_EMBED_BWD, .t = {G(m, 4), dtemb, tp->y}}));
    FM_TRY(alloc2(m, &ds1, N, cfg->time_dim));
    FM_TRY(run(be, (fm_call){.op = FM_OP_LINEAR_BWD,
                          .t = {ds1, G(m, 2), G(m, 3), dtemb, tp->s1, fm_unet_view(m, P, 2)}}));
    FM_TRY(alloc2(m, &dl1, N, cfg->time_dim));
    FM_TRY(silu_bwd(be, dl1, ds1, tp->l1));
    FM_TRY(run(be, (fm_call){.op = FM_OP_LINEAR_BWD,
                          .t = {(fm_tensor){0}, G(m, 0), G(m, 1), dl1, tp->e, fm_unet_view(m, P, 0)}}));
    fm_unet_release(m);
    return FM_OK;
}
