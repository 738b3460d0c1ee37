/* Conformance of a backend against the reference for the whole model: forward, both
 * samplers and a training step. See conformance_model.h for the contract. */
#include "conformance_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "conf_rows.h"
#include "flow.h"
#include "philox.h"
#include "vae.h"

/* ---- whole-model rows ------------------------------------------------------------- */

#define MODEL_SEED 20240601u
#define NOISE_SEED 777u
#define NOISE_STREAM 11u
#define TRAIN_SEED 4242u
#define SAMPLE_STEPS 10
#define CFG_SCALE 2.0f

typedef struct model_ctx {
    fm_backend *ref, *be;
    fm_model *mr, *mb;
    float *ha, *hb; /* P floats each: host staging */
    int32_t *yv;    /* batch conditioning rows (labels, or token ids) */
    int cond;       /* the model takes y (labels or token ids) */
    int guided;     /* conditional rows: labels / prompts, guidance in the samplers */
    fm_conf_report cb;
    void *user;
    fm_conf_summary *sum;
    char shape[64];
} model_ctx;

/* Report a failed stage (one row) and clean both models up. */
static void stage_failed(model_ctx *x, const char *op, double tol, fm_status s, int on_ref)
{
    fm_conf_row row;
    fm_conf_row_init(&row, op, x->shape, fm_conf_tol(x->be, op, tol));
    fm_conf_row_failed(&row, s, on_ref ? "ref" : fm_backend_name(x->be),
                       on_ref ? x->ref->err : x->be->err);
    fm_conf_emit(x->cb, x->user, x->sum, &row);
    fm_model_release(x->mr);
    fm_model_release(x->mb);
}

/* Run `expr_be` then `expr_ref`; on failure report the stage and go to `fail`. The
 * backend under test goes first: when it lacks an op, the (slow) reference run of
 * the same stage is skipped. */
#define BOTH(x, op, tol, expr_ref, expr_be, fail)                                                  \
    do {                                                                                           \
        fm_status s_ = (expr_be);                                                                  \
        if (s_ != FM_OK) {                                                                         \
            stage_failed(x, op, tol, s_, 0);                                                       \
            goto fail;                                                                             \
        }                                                                                          \
        s_ = (expr_ref);                                                                           \
        if (s_ != FM_OK) {                                                                         \
            stage_failed(x, op, tol, s_, 1);                                                       \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* Download t from both backends into ha (ref) / hb (be); fm_conf_compare whole. */
static fm_status compare_tensor(model_ctx *x, const char *op, double tol, const fm_tensor *tr,
                                const fm_tensor *tb)
{
    fm_conf_row row;
    fm_conf_row_init(&row, op, x->shape, fm_conf_tol(x->be, op, tol));
    fm_status s = fm_download(x->ref, x->ha, tr);
    if (s != FM_OK) {
        stage_failed(x, op, tol, s, 1);
        return s;
    }
    s = fm_download(x->be, x->hb, tb);
    if (s != FM_OK) {
        stage_failed(x, op, tol, s, 0);
        return s;
    }
    int first = 1;
    fm_conf_cmp c = fm_conf_compare(x->hb, x->ha, FM_F32, 0, fm_tensor_numel(tr));
    char what[48];
    fm_tensor_shape_str(tr, what, sizeof what);
    fm_conf_row_add(&row, &c, what, &first);
    fm_conf_emit(x->cb, x->user, x->sum, &row);
    return FM_OK;
}

/* A parameter whose reference gradient has less than ZERO_GRAD of the block's energy is
 * one whose exact gradient is 0 (a text model's key projection biases: they shift every
 * score of a query row alike, which the softmax ignores, docs/spec/text.md): what both
 * backends hold there is rounding noise, and its NMSE against itself means nothing. Such
 * a tensor's error is measured against the whole block's energy instead. Measured
 * (tiny+text, dit-tiny+text): those tensors hold 3e-23 .. 2e-20 of the block's energy,
 * the smallest real gradient 6e-9; 1e-14 lies six decades from both (a real gradient
 * 1e-7 of the block's norm still counts on its own). */
#define ZERO_GRAD 1e-14

/* A [P] block (grads, params, ema) of both models. per_param: the row's NMSE is the
 * worst parameter's (gradients: a small tensor's gradient must be right even when
 * large ones dominate the block; see ZERO_GRAD); else the block's, naming the worst
 * parameter. */
static fm_status compare_block(model_ctx *x, const char *op, double tol, const fm_tensor *br,
                               const fm_tensor *bb, int per_param)
{
    fm_conf_row row;
    fm_conf_row_init(&row, op, x->shape, fm_conf_tol(x->be, op, tol));
    fm_status s = fm_download(x->ref, x->ha, br);
    if (s != FM_OK) {
        stage_failed(x, op, tol, s, 1);
        return s;
    }
    s = fm_download(x->be, x->hb, bb);
    if (s != FM_OK) {
        stage_failed(x, op, tol, s, 0);
        return s;
    }
    const fm_model *m = x->mr;
    double worst = -1, block = 0;
    int wi = 0, nonfinite = 0;
    for (int i = 0; i < m->nparams; i++)
        block += fm_conf_compare(x->ha, x->ha, FM_F32, m->params[i].offset,
                                 fm_tensor_numel(&m->params[i].t))
                     .sr;
    fm_conf_cmp all = {0, 0, 0, 0};
    for (int i = 0; i < m->nparams; i++) {
        fm_conf_cmp c = fm_conf_compare(x->hb, x->ha, FM_F32, m->params[i].offset,
                                        fm_tensor_numel(&m->params[i].t));
        all.se += c.se;
        all.sr += c.sr;
        if (per_param && c.sr < ZERO_GRAD * block) /* an exact 0: against the block */
            c.sr = block;
        all.nonfinite += c.nonfinite;
        if (c.max_abs > all.max_abs)
            all.max_abs = c.max_abs;
        if (c.nonfinite && !nonfinite) {
            nonfinite = 1;
            wi = i;
            worst = INFINITY;
        }
        if (!nonfinite && fm_conf_nmse(&c) > worst) {
            worst = fm_conf_nmse(&c);
            wi = i;
        }
    }
    row.max_abs = all.max_abs;
    row.nmse = per_param ? worst : fm_conf_nmse(&all);
    if (all.nonfinite)
        snprintf(row.note, sizeof row.note, "non-finite values in %s (%d in all)",
                 m->params[wi].name, all.nonfinite);
    else if (per_param)
        snprintf(row.note, sizeof row.note, "worst: %s", m->params[wi].name);
    else
        snprintf(row.note, sizeof row.note, "worst: %s (%.1e)", m->params[wi].name, worst);
    if (all.nonfinite || !(row.nmse <= row.tol))
        row.status = FM_CONF_FAIL;
    fm_conf_emit(x->cb, x->user, x->sum, &row);
    return FM_OK;
}

static fm_status alloc_both(model_ctx *x, fm_tensor desc, fm_tensor *tr, fm_tensor *tb, int *on_ref)
{
    *tr = *tb = desc;
    *on_ref = 1;
    fm_status s = fm_tensor_alloc(x->ref, tr);
    if (s != FM_OK)
        return s;
    *on_ref = 0;
    return fm_tensor_alloc(x->be, tb);
}

/* Upload the same host data to both. */
static fm_status upload_both(model_ctx *x, const fm_tensor *tr, const fm_tensor *tb, const void *h,
                             int *on_ref)
{
    *on_ref = 1;
    fm_status s = fm_upload(x->ref, tr, h);
    if (s != FM_OK)
        return s;
    *on_ref = 0;
    return fm_upload(x->be, tb, h);
}

/* Identical parameters on both: the seeded init, then every all-zero tensor (the
 * output conv, norm betas) filled with small random values. With conv_out at zero
 * the network's output and every gradient but conv_out's would be exactly zero, and
 * the rows would test nothing. */
static fm_status setup_params(model_ctx *x, int *on_ref)
{
    fm_model *mr = x->mr, *mb = x->mb;
    *on_ref = 1;
    fm_status s = fm_model_init(mr, MODEL_SEED);
    if (s == FM_OK)
        s = fm_download(x->ref, x->ha, &mr->flat);
    if (s != FM_OK)
        return s;
    for (int i = 0; i < mr->nparams; i++) {
        const fm_param *p = &mr->params[i];
        int64_t n = fm_tensor_numel(&p->t);
        float *v = x->ha + p->offset;
        int zero = 1;
        for (int64_t e = 0; e < n && zero; e++)
            zero = v[e] == 0.0f;
        if (!zero)
            continue;
        float bound = p->t.ndim >= 2 ? 1.0f / sqrtf((float)(n / p->t.shape[0])) : 0.1f;
        for (int64_t e = 0; e < n; e++)
            v[e] =
                bound * (2.0f * fm_philox_uniform(MODEL_SEED + 1, (uint64_t)e, (uint32_t)i) - 1.0f);
    }
    s = upload_both(x, &mr->flat, &mb->flat, x->ha, on_ref);
    fm_model *ms[2] = {mr, mb};
    for (int k = 0; k < 2 && s == FM_OK; k++) {
        fm_backend *b = k ? x->be : x->ref;
        *on_ref = !k;
        s = fm_copy(b, &ms[k]->ema, &ms[k]->flat);
        if (s == FM_OK)
            s = fm_fill(b, &ms[k]->grad, 0.0f);
        if (s == FM_OK)
            s = fm_fill(b, &ms[k]->adam_m, 0.0f);
        if (s == FM_OK)
            s = fm_fill(b, &ms[k]->adam_v, 0.0f);
    }
    return s;
}

static int64_t image_numel(const fm_config *cfg, int batch)
{
    return (int64_t)batch * cfg->in_channels * cfg->image * cfg->image;
}

/* "PRESET+text": the preset with a small text encoder (docs/spec/text.md) in place of
 * the classes: byte-level ids, 12 tokens (not a power of two), width 32, two layers. */
#define TEXT_SUFFIX "+text"
static const char *const text_fields[][2] = {
    {"text_tokenizer", "1"}, {"text_vocab", "259"}, {"text_ctx", "12"}, {"text_width", "32"},
    {"text_depth", "2"},     {"text_heads", "2"},   {"text_ff", "64"}};

static fm_status model_config(const char *preset, int conditional, fm_config *cfg)
{
    char name[64], msg[128];
    size_t n = preset ? strlen(preset) : 0, k = strlen(TEXT_SUFFIX);
    int text = n > k && strcmp(preset + n - k, TEXT_SUFFIX) == 0;
    if (!preset || n - (text ? k : 0) >= sizeof name)
        return FM_ERR_ARG;
    memcpy(name, preset, n - (text ? k : 0));
    name[n - (text ? k : 0)] = 0;
    if (fm_config_preset(cfg, name) != FM_OK)
        return FM_ERR_ARG;
    cfg->num_classes = conditional && !text ? 10 : 0;
    for (size_t i = 0; text && i < sizeof text_fields / sizeof text_fields[0]; i++)
        if (fm_config_set(cfg, text_fields[i][0], text_fields[i][1], msg, sizeof msg) != FM_OK)
            return FM_ERR_ARG;
    return fm_config_validate(cfg, msg, sizeof msg);
}

int fm_conformance_model_conditions(const char *preset)
{
    fm_config c;
    if (model_config(preset, 0, &c) != FM_OK)
        return 0;
    return fm_arch_by_id(c.arch)->velocity ? 2 : 1;
}

/* The conditioning rows of a stage (a, b pick the stage's): nothing for a model without
 * y; labels (a i + b) mod K; a text model's token ids, a prompt of (a i + b) mod (L - 1)
 * byte ids per row (so lengths 0 .. L - 2, PAD after the EOS),
 * from the config's empty prompt [BOS, EOS, PAD, ...]. Unguided (x->guided 0): the "no
 * condition" row everywhere (a text model's empty prompt). last_null: the last row
 * (batch > 1) is the "no condition" row (label K, the empty prompt). */
static void cond_rows(const model_ctx *x, const fm_config *cfg, int batch, int a, int b,
                      int last_null)
{
    const int w = fm_config_cond_width(cfg), K = cfg->num_classes;
    int32_t none[256];
    if (!x->cond)
        return;
    fm_config_null_cond(cfg, none);
    for (int i = 0; i < batch; i++) {
        int32_t *row = x->yv + (int64_t)i * w;
        int null = !x->guided || (last_null && i == batch - 1 && batch > 1);
        memcpy(row, none, (size_t)w * sizeof *row);
        if (null)
            continue;
        if (cfg->text_depth == 0) {
            row[0] = (a * i + b) % K;
            continue;
        }
        const int len = (a * i + b) % (w - 1);
        for (int j = 0; j < len; j++)
            row[1 + j] = (a * i + 5 * j + 32) % 256;
        row[1 + len] = none[1]; /* EOS */
        for (int j = len + 2; j < w; j++)
            row[j] = none[w > 2 ? 2 : 1]; /* PAD */
    }
}

fm_status fm_conformance_model_bytes(const char *preset, int batch, int conditional,
                                     fm_model *scratch, size_t *device, size_t *host, char *err,
                                     size_t errlen)
{
    fm_config cfg;
    if (batch < 1 || batch > 1024 || model_config(preset, conditional, &cfg) != FM_OK) {
        snprintf(err, errlen, "conformance: bad preset '%s' or batch %d",
                 preset ? preset : "(null)", batch);
        return FM_ERR_ARG;
    }
    fm_plan tp, sp;
    fm_status s = fm_model_plan(&cfg, FM_MODE_TRAIN, batch, scratch, &tp, err, errlen);
    if (s == FM_OK)
        s = fm_model_plan(&cfg, FM_MODE_SAMPLE, batch, scratch, &sp, err, errlen);
    if (s != FM_OK)
        return s;
    /* Sampling a train-mode model: its persistent state plus the sampler's
     * activations. The planner aligns to 64 bytes, a device arena to its base
     * alignment (up to a few KiB): 1/16 slack covers the difference for the few
     * hundred tensors of a step. Our own inputs: at most 4 images and 4 vectors. */
    size_t need = tp.total_bytes;
    size_t sampling = tp.state_bytes + (sp.total_bytes - sp.state_bytes);
    if (sampling > need)
        need = sampling;
    size_t img = (size_t)image_numel(&cfg, batch) * sizeof(float);
    *device = need + need / 16 + 4 * (img + 4096) + 4 * 8192 + (1u << 20);
    *host = 2 * (sizeof(fm_model) + 4096) + 2 * ((size_t)tp.nparams * sizeof(float) + 4096) +
            4 * (img + 4096) + 8192 +
            (size_t)batch * fm_config_cond_width(&cfg) * sizeof(int32_t) + 4096;
    return FM_OK;
}

/* The stages; each reports its rows and leaves both arenas at `base`. */
static void stage_forward(model_ctx *x, const fm_config *cfg, int batch)
{
    int K = x->cond, on_ref = 1;
    fm_tensor xr, xb, tr, tb, yr = {0}, yb = {0}, vr, vb;
    fm_tensor ydesc = fm_tensor_1d(FM_I32, (int64_t)batch * fm_config_cond_width(cfg));
    fm_tensor img = fm_tensor_4d(FM_F32, batch, cfg->in_channels, cfg->image, cfg->image);
    fm_status s = alloc_both(x, img, &xr, &xb, &on_ref);
    if (s == FM_OK)
        s = alloc_both(x, img, &vr, &vb, &on_ref);
    if (s == FM_OK)
        s = alloc_both(x, fm_tensor_1d(FM_F32, batch), &tr, &tb, &on_ref);
    if (s == FM_OK && K > 0)
        s = alloc_both(x, ydesc, &yr, &yb, &on_ref);
    /* x uniform in [-1, 1), t in (0, 1), labels (or prompts) cycling, the last one "no
     * label" K (the empty prompt). */
    int64_t n = image_numel(cfg, batch);
    for (int64_t e = 0; e < n; e++)
        x->ha[e] = 2.0f * fm_philox_uniform(MODEL_SEED, (uint64_t)e, 100) - 1.0f;
    if (s == FM_OK)
        s = upload_both(x, &xr, &xb, x->ha, &on_ref);
    float tv[1024];
    for (int i = 0; i < batch; i++)
        tv[i] = 0.05f + 0.9f * fm_philox_uniform(MODEL_SEED, (uint64_t)i, 101);
    cond_rows(x, cfg, batch, 3, 1, 1);
    if (s == FM_OK)
        s = upload_both(x, &tr, &tb, tv, &on_ref);
    if (s == FM_OK && K > 0)
        s = upload_both(x, &yr, &yb, x->yv, &on_ref);
    if (s != FM_OK) {
        stage_failed(x, "model_fwd", TOL_FWD, s, on_ref);
        return;
    }
    BOTH(x, "model_fwd", TOL_FWD,
         fm_model_forward(x->mr, x->mr->mode, &x->mr->flat, &vr, &xr, &tr, K ? &yr : NULL),
         fm_model_forward(x->mb, x->mb->mode, &x->mb->flat, &vb, &xb, &tb, K ? &yb : NULL), done);
    fm_model_release(x->mr);
    fm_model_release(x->mb);
    compare_tensor(x, "model_fwd", TOL_FWD, &vr, &vb);
done:
    return;
}

static void stage_sample(model_ctx *x, const fm_config *cfg, int batch, int heun)
{
    const char *op = heun ? "sample_heun10" : "sample_euler10";
    int K = x->cond, on_ref = 1;
    fm_tensor xr, xb, yr = {0}, yb = {0};
    fm_tensor img = fm_tensor_4d(FM_F32, batch, cfg->in_channels, cfg->image, cfg->image);
    fm_status s = alloc_both(x, img, &xr, &xb, &on_ref);
    if (s == FM_OK && K > 0)
        s = alloc_both(x, fm_tensor_1d(FM_I32, (int64_t)batch * fm_config_cond_width(cfg)), &yr,
                       &yb, &on_ref);
    cond_rows(x, cfg, batch, 7, 2, 0);
    if (s == FM_OK && K > 0)
        s = upload_both(x, &yr, &yb, x->yv, &on_ref);
    if (s != FM_OK) {
        stage_failed(x, op, TOL_STEP, s, on_ref);
        return;
    }
    /* The noise comes from each backend's own RNG op: same Philox bits. */
    BOTH(x, op, TOL_STEP, fm_noise(x->ref, &xr, NOISE_SEED, NOISE_STREAM),
         fm_noise(x->be, &xb, NOISE_SEED, NOISE_STREAM), done);
    fm_sample_opts so = {
        .steps = SAMPLE_STEPS, .heun = heun, .guidance = x->guided, .cfg_scale = CFG_SCALE};
    BOTH(x, op, TOL_STEP, fm_sample(x->mr, &x->mr->flat, &xr, K ? &yr : NULL, &so),
         fm_sample(x->mb, &x->mb->flat, &xb, K ? &yb : NULL, &so), done);
    compare_tensor(x, op, TOL_STEP, &xr, &xb);
done:
    return;
}

/* Step 1 of the model's own training: flow matching, or the autoencoder's
 * REC + beta KL (beta 0.5, so that the KL's gradient weighs in). */
static fm_status train_step(fm_model *m, const fm_train_opts *o, const fm_tensor *x,
                            const int32_t *y, float *loss)
{
    if (m->arch->velocity)
        return fm_train_step(m, o, x, y, 1, loss);
    fm_vae_loss l = {0};
    fm_status s = fm_vae_train_step(m, o, 0.5f, x, 1, &l);
    *loss = l.loss;
    return s;
}

/* An autoencoder's two halves: z = 2 mu(x) (vae_encode), then dec(z / 2) (vae_decode),
 * each backend decoding its own z. */
static void stage_codec(model_ctx *x, const fm_config *cfg, int batch)
{
    int on_ref = 1;
    int64_t zs[4];
    fm_vae_latent_shape(cfg, batch, zs);
    fm_tensor xr, xb, zr, zb, orr, ob;
    fm_tensor img = fm_tensor_4d(FM_F32, batch, cfg->in_channels, cfg->image, cfg->image);
    fm_status s = alloc_both(x, img, &xr, &xb, &on_ref);
    if (s == FM_OK)
        s = alloc_both(x, img, &orr, &ob, &on_ref);
    if (s == FM_OK)
        s = alloc_both(x, fm_tensor_desc(FM_F32, 4, zs), &zr, &zb, &on_ref);
    int64_t n = image_numel(cfg, batch);
    for (int64_t e = 0; e < n; e++)
        x->ha[e] = 2.0f * fm_philox_uniform(MODEL_SEED, (uint64_t)e, 103) - 1.0f;
    if (s == FM_OK)
        s = upload_both(x, &xr, &xb, x->ha, &on_ref);
    if (s != FM_OK) {
        stage_failed(x, "vae_encode", TOL_FWD, s, on_ref);
        return;
    }
    BOTH(x, "vae_encode", TOL_FWD, fm_vae_encode(x->mr, &x->mr->flat, &xr, 2.0f, &zr),
         fm_vae_encode(x->mb, &x->mb->flat, &xb, 2.0f, &zb), done);
    if (compare_tensor(x, "vae_encode", TOL_FWD, &zr, &zb) != FM_OK)
        goto done;
    BOTH(x, "vae_decode", TOL_FWD, fm_vae_decode(x->mr, &x->mr->flat, &zr, 2.0f, &orr),
         fm_vae_decode(x->mb, &x->mb->flat, &zb, 2.0f, &ob), done);
    compare_tensor(x, "vae_decode", TOL_FWD, &orr, &ob);
done:
    return;
}

static void stage_train(model_ctx *x, const fm_config *cfg, int batch)
{
    int K = x->cond, on_ref = 1;
    fm_tensor xr, xb;
    fm_tensor img = fm_tensor_4d(FM_F32, batch, cfg->in_channels, cfg->image, cfg->image);
    fm_status s = alloc_both(x, img, &xr, &xb, &on_ref);
    int64_t n = image_numel(cfg, batch);
    for (int64_t e = 0; e < n; e++)
        x->ha[e] = 2.0f * fm_philox_uniform(MODEL_SEED, (uint64_t)e, 102) - 1.0f;
    if (s == FM_OK)
        s = upload_both(x, &xr, &xb, x->ha, &on_ref);
    if (s != FM_OK) {
        stage_failed(x, "train_loss", TOL_FWD, s, on_ref);
        return;
    }
    cond_rows(x, cfg, batch, 5, 3, 0);
    fm_train_opts o = fm_train_defaults();
    o.seed = TRAIN_SEED;
    float lr = 0, lb = 0;
    BOTH(x, "train_loss", TOL_FWD, train_step(x->mr, &o, &xr, K ? x->yv : NULL, &lr),
         train_step(x->mb, &o, &xb, K ? x->yv : NULL, &lb), done);
    fm_conf_row row;
    fm_conf_row_init(&row, "train_loss", x->shape, fm_conf_tol(x->be, "train_loss", TOL_FWD));
    fm_conf_cmp c = fm_conf_compare(&lb, &lr, FM_F32, 0, 1);
    int first = 1;
    char what[64];
    snprintf(what, sizeof what, "loss ref %.7g", (double)lr);
    fm_conf_row_add(&row, &c, what, &first);
    fm_conf_emit(x->cb, x->user, x->sum, &row);
    if (compare_block(x, "train_grads", TOL_STEP, &x->mr->grad, &x->mb->grad, 1) != FM_OK ||
        compare_block(x, "train_params", TOL_STEP, &x->mr->flat, &x->mb->flat, 0) != FM_OK)
        goto done;
    compare_block(x, "train_ema", TOL_STEP, &x->mr->ema, &x->mb->ema, 0);
done:
    return;
}

/* One ERROR row for a host arena too small for the staging buffers; releases what
 * the model rows took from the three arenas. */
static fm_status host_exhausted(model_ctx *x, fm_arena *host, const fm_arena_mark marks[3])
{
    fm_conf_row row;
    fm_conf_row_init(&row, "unet_create", x->shape, 0);
    fm_conf_row_failed(&row, FM_ERR_ARENA, "host",
                       "staging arena exhausted (size it with fm_conformance_model_bytes)");
    fm_conf_emit(x->cb, x->user, x->sum, &row);
    fm_arena_reset(host, marks[0]);
    fm_arena_reset(&x->ref->arena, marks[1]);
    fm_arena_reset(&x->be->arena, marks[2]);
    return FM_ERR_ARENA;
}

fm_status fm_conformance_model(fm_backend *ref, fm_backend *be, fm_arena *host, const char *preset,
                               int batch, int conditional, fm_conf_report cb, void *user,
                               fm_conf_summary *sum)
{
    fm_config cfg;
    if (!ref || !be || !host || batch < 1 || batch > 1024 ||
        model_config(preset, conditional, &cfg) != FM_OK)
        return FM_ERR_ARG;
    /* A text model always takes token ids: its unconditional rows are empty prompts. */
    model_ctx x = {.ref = ref, .be = be, .cb = cb, .user = user, .sum = sum,
                   .cond = fm_config_conditional(&cfg), .guided = conditional && fm_config_conditional(&cfg)};
    snprintf(x.shape, sizeof x.shape, "%s b%d %s", preset, batch,
             cfg.text_depth ? (conditional ? "prompts" : "empty") : conditional ? "cond" : "uncond");
    const fm_arena_mark marks[3] = {fm_arena_get_mark(host, "conf model"),
                                    fm_arena_get_mark(&ref->arena, "conf model"),
                                    fm_arena_get_mark(&be->arena, "conf model")};

    /* The two model descriptions are large (~200 KiB each): host arena, not stack. */
    void *pr = NULL, *pb = NULL, *ha = NULL, *hb = NULL, *yv = NULL;
    fm_status s = fm_conf_host_alloc(host, sizeof(fm_model), &pr);
    if (s == FM_OK)
        s = fm_conf_host_alloc(host, sizeof(fm_model), &pb);
    if (s == FM_OK)
        s = fm_conf_host_alloc(host, (size_t)batch * fm_config_cond_width(&cfg) * sizeof(int32_t),
                               &yv);
    if (s != FM_OK)
        return host_exhausted(&x, host, marks);
    x.mr = pr;
    x.mb = pb;
    x.yv = yv;

    int on_ref = 1;
    s = fm_model_create(x.mr, ref, &cfg, FM_MODE_TRAIN, batch);
    if (s == FM_OK) {
        on_ref = 0;
        s = fm_model_create(x.mb, be, &cfg, FM_MODE_TRAIN, batch);
    }
    if (s == FM_OK) {
        size_t img = (size_t)image_numel(&cfg, batch) * sizeof(float);
        size_t bytes = (size_t)x.mr->nfloats * sizeof(float);
        if (img > bytes)
            bytes = img;
        if (fm_conf_host_alloc(host, bytes, &ha) != FM_OK ||
            fm_conf_host_alloc(host, bytes, &hb) != FM_OK)
            return host_exhausted(&x, host, marks);
        x.ha = ha;
        x.hb = hb;
        s = setup_params(&x, &on_ref);
    }
    if (s != FM_OK) {
        fm_conf_row row;
        fm_conf_row_init(&row, "unet_create", x.shape, 0);
        fm_conf_row_failed(&row, s, on_ref ? "ref" : fm_backend_name(be),
                           on_ref ? ref->err : be->err);
        fm_conf_emit(cb, user, sum, &row);
    } else {
        /* Each stage starts from the state after setup: same weights, same arenas. */
        fm_arena_mark br = fm_arena_get_mark(&ref->arena, "conf stage");
        fm_arena_mark bb = fm_arena_get_mark(&be->arena, "conf stage");
        /* A velocity model's samplers; an autoencoder's encode and decode. */
        const int velocity = x.mr->arch->velocity;
        for (int st = 0; st < 4; st++) {
            switch (st) {
            case 0: stage_forward(&x, &cfg, batch); break;
            case 1:
                if (velocity)
                    stage_sample(&x, &cfg, batch, 0);
                else
                    stage_codec(&x, &cfg, batch);
                break;
            case 2:
                if (velocity)
                    stage_sample(&x, &cfg, batch, 1);
                break;
            default: stage_train(&x, &cfg, batch); break;
            }
            fm_model_release(x.mr);
            fm_model_release(x.mb);
            fm_arena_reset(&ref->arena, br);
            fm_arena_reset(&be->arena, bb);
        }
    }
    fm_arena_reset(host, marks[0]);
    fm_arena_reset(&ref->arena, marks[1]);
    fm_arena_reset(&be->arena, marks[2]);
    return FM_OK;
}
