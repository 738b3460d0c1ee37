/* The autoencoder of docs/spec/vae.md as dispatch-table calls: the architecture "vae"
 * (model.h) and its API (vae.h).
 *
 *   encoder: h = enc.conv_in(x); modules (ResBlocks, Downs, middle);
 *            moments = enc.conv_out(SiLU(enc.norm_out(h)))            [N, 2Z, s, s]
 *   z = REPARAM_FWD(moments, eps)                                      [N, Z, s, s]
 *   decoder: h = dec.conv_in(z); modules (middle, ResBlocks, Ups);
 *            xhat = dec.conv_out(SiLU(dec.norm_out(h)))               [N, Cin, S, S]
 *
 * Each half is a straight list of blocks.c modules (no skip stack), run by one walker
 * forward and backward. Backward adds beta dKL/dmoments at the posterior. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "blocks.h"
#include "philox.h"
#include "vae.h"

#define MAX_MODULES 48

/* One half's walk: conv_in, its modules, norm_out + conv_out. */
typedef struct modlist {
    int p_in, p_out; /* conv_in's weight; norm_out's weight (conv_out's is + 2) */
    int n;
    fm_blk_mod mods[MAX_MODULES];
} modlist;

/* One half of the network and what its backward reads: the head's input h and
 * activations. */
typedef struct half {
    modlist l;
    fm_blk_saved sv[MAX_MODULES];
    fm_tensor in;          /* its input (x or z), conv_in's input */
    fm_tensor h, nrm, act, mean, rstd; /* head: act = SiLU(nrm = norm_out(h)) */
} half;

typedef struct vae_state {
    half enc, dec;
    fm_tensor moments, z, kl; /* the last training forward's posterior */
    fm_tensor eps;            /* fm_vae_want: the noise (absent: z = mu) */
    fm_tensor want_mom, want_z, want_kl;
    float beta;               /* the KL's weight in the loss backward differentiates */
} vae_state;
_Static_assert(sizeof(vae_state) <= FM_MODEL_STATE_BYTES, "vae_state outgrew FM_MODEL_STATE_BYTES");

static vae_state *state(fm_model *m) { return FM_MODEL_STATE(m, vae_state); }

/* ---- layout -------------------------------------------------------------------------------- */

static fm_blk_mod *next_module(modlist *h)
{
    int i = h->n++;
    return i < MAX_MODULES ? &h->mods[i] : NULL;
}

static void middle(fm_layout *b, modlist *hf, const char *part, int c, int res)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s.mid.0.", part);
    fm_blk_lay_res(b, next_module(hf), prefix, c, c, 0, res);
    snprintf(prefix, sizeof prefix, "%s.mid.1.", part);
    fm_blk_lay_attn(b, next_module(hf), prefix, c, res);
    snprintf(prefix, sizeof prefix, "%s.mid.2.", part);
    fm_blk_lay_res(b, next_module(hf), prefix, c, c, 0, res);
}

/* docs/spec/vae.md, "Layout": the parameter table into b and both halves' modules. */
static void build(const fm_config *cfg, fm_layout *b, modlist *enc, modlist *dec)
{
    const int C = cfg->base_channels, L = cfg->levels, Z = cfg->latent_channels;
    char prefix[32];
    int c = C, res = cfg->image, k = 0;
    enc->n = dec->n = 0;
    enc->p_in = b->np;
    fm_lay_conv(b, "enc.", "conv_in", C, cfg->in_channels, 3);
    for (int l = 0; l < L; l++) {
        for (int r = 0; r < cfg->res_blocks; r++, c = C * cfg->channel_mult[l]) {
            snprintf(prefix, sizeof prefix, "enc.%d.", k++);
            fm_blk_lay_res(b, next_module(enc), prefix, c, C * cfg->channel_mult[l], 0, res);
        }
        if (l < L - 1) {
            snprintf(prefix, sizeof prefix, "enc.%d.", k++);
            fm_blk_lay_resample(b, next_module(enc), FM_BLK_DOWN, prefix, c, res);
            res /= 2;
        }
    }
    middle(b, enc, "enc", c, res);
    enc->p_out = b->np;
    fm_lay_norm(b, "enc.", "norm_out", c);
    fm_lay_conv(b, "enc.", "conv_out", 2 * Z, c, 3);

    dec->p_in = b->np;
    fm_lay_conv(b, "dec.", "conv_in", c, Z, 3);
    middle(b, dec, "dec", c, res);
    k = 0;
    for (int l = L - 1; l >= 0; l--) {
        for (int r = 0; r < cfg->res_blocks + 1; r++, c = C * cfg->channel_mult[l]) {
            snprintf(prefix, sizeof prefix, "dec.%d.", k++);
            fm_blk_lay_res(b, next_module(dec), prefix, c, C * cfg->channel_mult[l], 0, res);
        }
        if (l > 0) {
            snprintf(prefix, sizeof prefix, "dec.%d.", k++);
            fm_blk_lay_resample(b, next_module(dec), FM_BLK_UP, prefix, c, res);
            res *= 2;
        }
    }
    dec->p_out = b->np;
    fm_lay_norm(b, "dec.", "norm_out", c);
    fm_lay_conv(b, "dec.", "conv_out", cfg->in_channels, c, 3);
}

static void layout(const fm_config *cfg, fm_layout *b)
{
    modlist enc, dec;
    build(cfg, b, &enc, &dec);
}

/* ---- config ---------------------------------------------------------------------------------- */

#define BAD(...) return (snprintf(msg, len, __VA_ARGS__), FM_ERR_ARG)

static fm_status check(const fm_config *c, char *msg, size_t len)
{
    if (fm_blk_check(c, msg, len) != FM_OK)
        return FM_ERR_ARG;
    if (c->latent_channels < 1 || c->latent_channels > 64)
        BAD("latent_channels %d out of range 1..64", c->latent_channels);
    if (c->num_classes != 0)
        BAD("num_classes %d: the autoencoder takes no labels (0)", c->num_classes);
    fm_layout b = {0};
    modlist enc, dec;
    build(c, &b, &enc, &dec);
    if (enc.n > MAX_MODULES || dec.n > MAX_MODULES)
        BAD("res_blocks %d with %d levels needs more than the %d modules a half supports",
            c->res_blocks, c->levels, MAX_MODULES);
    if (b.np > FM_MAX_PARAMS)
        BAD("res_blocks %d with %d levels needs %d parameter tensors, more than the %d this "
            "build supports (FM_MAX_PARAMS)", c->res_blocks, c->levels, b.np, FM_MAX_PARAMS);
    return FM_OK;
}

#undef BAD


static fm_status create(fm_model *m)
{
    vae_state *v = state(m);
    fm_layout b = {0};
    memset(v, 0, sizeof *v);
    build(&m->cfg, &b, &v->enc.l, &v->dec.l);
    return FM_OK;
}

/* ---- forward ----------------------------------------------------------------------------------- */

/* out = conv_out(SiLU(norm_out(conv_in-and-modules(in)))) for one half; `in` belongs to
 * the caller. */
static fm_status half_fwd(fm_blk_ctx *c, half *hf, fm_tensor in, const fm_tensor *out)
{
    const modlist *l = &hf->l;
    const fm_blk_mod *first = &l->mods[0];
    fm_tensor h;
    hf->in = in;
    FM_TRY(fm_new4(c->be, &h, c->N, first->cin, first->res, first->res));
    FM_TRY(fm_blk_conv(c, h, in, l->p_in, 1));
    for (int i = 0; i < l->n; i++) {
        fm_blk_saved local, *s = c->train ? &hf->sv[i] : &local;
        fm_tensor o;
        FM_TRY(fm_blk_fwd(c, &l->mods[i], s, h, 1, &o, (fm_tensor){0}));
        h = o;
    }
    hf->h = h;
    FM_TRY(fm_blk_norm_silu(c, &hf->nrm, &hf->act, &hf->mean, &hf->rstd, h, l->p_out));
    FM_TRY(fm_dead(c->be, c->train, &h));
    FM_TRY(fm_blk_conv(c, *out, hf->act, l->p_out + 2, 1));
    return fm_dead(c->be, c->train, &hf->act);
}

static fm_status latent_like(fm_model *m, fm_tensor *t, int64_t n, int chans)
{
    const int s = m->cfg.image >> (m->cfg.levels - 1);
    return fm_new4(m->be, t, n, chans, s, s);
}

static fm_status copy_wanted(fm_backend *be, const fm_tensor *want, const fm_tensor *t)
{
    return fm_tensor_present(want) ? fm_copy(be, want, t) : FM_OK;
}

/* xhat = dec(z), z = mu + sigma eps (eps absent: mu), moments = enc(x). */
static fm_status forward(fm_model *m, int train, const fm_tensor *params, const fm_tensor *xhat,
                         const fm_tensor *x, const fm_tensor *t, const fm_tensor *y)
{
    (void)t, (void)y;
    vae_state *v = state(m);
    const int N = (int)x->shape[0], Z = m->cfg.latent_channels;
    fm_blk_ctx c = {m, m->be, params, N, train};
    FM_TRY(latent_like(m, &v->moments, N, 2 * Z));
    FM_TRY(half_fwd(&c, &v->enc, *x, &v->moments));
    FM_TRY(latent_like(m, &v->z, N, Z));
    v->kl = fm_tensor_1d(FM_F32, 1);
    FM_TRY(fm_tensor_alloc(m->be, &v->kl));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_REPARAM_FWD, .t = {v->z, v->kl, v->moments, v->eps}}));
    FM_TRY(copy_wanted(m->be, &v->want_mom, &v->moments));
    FM_TRY(copy_wanted(m->be, &v->want_z, &v->z));
    FM_TRY(copy_wanted(m->be, &v->want_kl, &v->kl));
    FM_TRY(fm_dead(m->be, train, &v->kl));
    FM_TRY(fm_dead(m->be, train, &v->moments));
    FM_TRY(half_fwd(&c, &v->dec, v->z, xhat));
    return fm_dead(m->be, train, &v->z);
}

/* ---- backward ---------------------------------------------------------------------------------- */

/* din (absent: not wanted) = dL/d(half's input) from dout = dL/d(its output). */
static fm_status half_bwd(fm_model *m, const half *hf, fm_tensor din, fm_tensor dout)
{
    fm_backend *be = m->be;
    const fm_tensor *P = &m->P;
    const int64_t *d = hf->h.shape;
    fm_tensor da, dn, dh;
    FM_TRY(fm_new4(be, &da, d[0], d[1], d[2], d[3]));
    FM_TRY(fm_blk_conv_bwd(m, da, dout, hf->act, P, hf->l.p_out + 2, 1));
    FM_TRY(fm_new4(be, &dn, d[0], d[1], d[2], d[3]));
    FM_TRY(fm_blk_silu_bwd(be, dn, da, hf->nrm));
    FM_TRY(fm_new4(be, &dh, d[0], d[1], d[2], d[3]));
    FM_TRY(fm_blk_gnorm_bwd(m, dh, dn, hf->h, hf->mean, hf->rstd, P, hf->l.p_out));
    for (int i = hf->l.n - 1; i >= 0; i--) {
        const fm_blk_mod *md = &hf->l.mods[i];
        fm_tensor dx;
        FM_TRY(fm_new4(be, &dx, d[0], md->cin, md->res, md->res));
        FM_TRY(fm_blk_bwd(m, md, &hf->sv[i], dx, dh, (fm_tensor){0}, (fm_tensor){0}));
        dh = dx;
    }
    return fm_blk_conv_bwd(m, din, dh, hf->in, P, hf->l.p_in, 1);
}

static fm_status backward(fm_model *m, const fm_tensor *dxhat)
{
    vae_state *v = state(m);
    fm_tensor dz, dmom;
    FM_TRY(fm_new_like(m->be, &dz, v->z));
    FM_TRY(half_bwd(m, &v->dec, dz, *dxhat));
    FM_TRY(fm_new_like(m->be, &dmom, v->moments));
    FM_TRY(fm_do(m->be, (fm_call){.op = FM_OP_REPARAM_BWD, .t = {dmom, dz, v->moments, v->eps},
                                  .f = {v->beta}}));
    return half_bwd(m, &v->enc, (fm_tensor){0}, dmom);
}

/* conv_in, modules and conv_out of both halves, for one image. */
static double gflop(const fm_config *c)
{
    fm_layout b = {0};
    modlist enc, dec;
    build(c, &b, &enc, &dec);
    const double S2 = (double)c->image * c->image, s = c->image >> (c->levels - 1);
    const int C = c->base_channels, Z = c->latent_channels;
    const int cmid = C * c->channel_mult[c->levels - 1], c0 = C * c->channel_mult[0];
    double f = 2.0 * 9 * S2 * (c->in_channels * C + c0 * c->in_channels) +
               2.0 * 9 * s * s * (cmid * 2 * Z + Z * cmid);
    for (int i = 0; i < enc.n; i++)
        f += fm_blk_gflop(&enc.mods[i]) * 1e9;
    for (int i = 0; i < dec.n; i++)
        f += fm_blk_gflop(&dec.mods[i]) * 1e9;
    return f / 1e9;
}

/* docs/spec/vae.md's presets. */
static const fm_preset presets[] = {
    {"vae", {.in_channels = 1, .image = 28, .base_channels = 16, .levels = 3,
             .channel_mult = {1, 2, 4}, .res_blocks = 1, .heads = 1, .groups = 8,
             .latent_channels = 4}},
    {"vae-cifar", {.in_channels = 3, .image = 32, .base_channels = 64, .levels = 3,
                   .channel_mult = {1, 2, 2}, .res_blocks = 1, .heads = 1, .groups = 8,
                   .latent_channels = 4}},
    {"vae-test", {.in_channels = 3, .image = 8, .base_channels = 4, .levels = 2,
                  .channel_mult = {1, 2}, .res_blocks = 1, .heads = 2, .groups = 2,
                  .latent_channels = 2}},
    {NULL, {0}},
};

const fm_arch fm_arch_vae = {
    .name = "vae",
    .id = 3,
    .fields = FM_FIELD(in_channels) | FM_FIELD(image) | FM_FIELD(base_channels) |
              FM_FIELD(channel_mult) | FM_FIELD(res_blocks) | FM_FIELD(heads) | FM_FIELD(groups) |
              FM_FIELD(latent_channels),
    .presets = presets,
    .conformance = "vae-test",
    .velocity = 0,
    .check = check,
    .layout = layout,
    .init = fm_blk_init, /* docs/spec/vae.md, "Layout" */
    .create = create,
    .forward = forward,
    .backward = backward,
    .gflop = gflop,
};

/* ---- what the API (vae_api.c) needs of the architecture's state ---------------------- */

void fm_vae_want(fm_model *m, const fm_tensor *eps, const fm_tensor *moments, const fm_tensor *z,
                 const fm_tensor *kl)
{
    vae_state *v = state(m);
    const fm_tensor none = {0};
    v->eps = eps ? *eps : none, v->want_mom = moments ? *moments : none;
    v->want_z = z ? *z : none, v->want_kl = kl ? *kl : none;
}

void fm_vae_set_beta(fm_model *m, float beta)
{
    state(m)->beta = beta;
}

fm_status fm_vae_run_half(fm_model *m, int decoder, const fm_tensor *params, const fm_tensor *in,
                          const fm_tensor *out)
{
    vae_state *v = state(m);
    fm_blk_ctx c = {m, m->be, params, (int)in->shape[0], 0};
    fm_arena_mark mark = fm_arena_get_mark(&m->be->arena, "vae half");
    fm_status s = half_fwd(&c, decoder ? &v->dec : &v->enc, *in, out);
    fm_arena_reset(&m->be->arena, mark);
    return s;
}
