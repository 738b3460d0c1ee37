#include "checkpoint.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "size.h"

#define FAIL(s, ...) return fm_errorf(err, errlen, s, __VA_ARGS__)

enum { NMETA_MAX = 24 };

int fm_wtensor_of_param(fm_wtensor *e, const char *prefix, const fm_param *p, const float *host)
{
    memset(e, 0, sizeof *e);
    int n = snprintf(e->name, sizeof e->name, "%s%s", prefix, p->name);
    e->dtype = FM_F32;
    e->ndim = p->t.ndim;
    for (int d = 0; d < 4; d++)
        e->shape[d] = d < p->t.ndim ? p->t.shape[d] : 1;
    e->data = host + p->offset;
    e->bytes = fm_tensor_bytes(&p->t);
    return n < 0 || (size_t)n >= sizeof e->name ? -1 : 0;
}

/* Blocks a file of this kind holds for this model (see the table in the header). */
static int nblocks(const fm_model *m, int kind)
{
    if (kind == FM_WEIGHTS_KIND_CHECKPOINT)
        return 4;
    return m->mode == FM_MODE_TRAIN ? 2 : 1;
}

size_t fm_model_save_scratch_bytes(const fm_model *m, int kind)
{
    int nb = nblocks(m, kind);
    /* nparams <= FM_MAX_PARAMS keeps the table sizes small; the float blocks are
     * as large as the file's config makes them, so they are checked (SIZE_MAX, which
     * no arena can provide, when they do not fit). */
    size_t nt = (size_t)m->nparams * 2 + 5; /* + the moments, text.data, .classes, .vae */
    size_t floats, blocks;
    if (m->nfloats < 0 || (uint64_t)m->nfloats > SIZE_MAX ||
        !fm_mul_add_size((size_t)m->nfloats, sizeof(float), 64, &floats) ||
        !fm_mul_size((size_t)nb, floats, &blocks))
        return SIZE_MAX;
    size_t header = FM_WEIGHTS_HEADER_MAX + nt * FM_WEIGHTS_DIR_BYTES +
                    NMETA_MAX * FM_WEIGHTS_META_BYTES + 2 * FM_WEIGHTS_ALIGN;
    /* fm_weights_save also keeps a chunk list (pointer + size, two chunks per tensor);
     * the slack covers that list's framing and the arena's rounding of each request. */
    size_t chunks = (2 * nt + 2) * (sizeof(void *) + sizeof(size_t));
    size_t total;
    if (!fm_add_size(blocks, nt * sizeof(fm_wtensor) + 64 + header + chunks + 8192, &total))
        return SIZE_MAX;
    return total;
}

static uint64_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bitsf(uint64_t v)
{
    uint32_t u = (uint32_t)v;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* count floats of host memory from the scratch arena. */
static void *scratch_alloc(fm_arena *a, size_t bytes)
{
    size_t off;
    if (!a->base || fm_arena_alloc(a, bytes, &off) != FM_OK)
        return NULL;
    return fm_arena_ptr(a, off);
}

int fm_text_tensor(fm_wtensor *e, const char *name, const fm_text *x)
{
    if (!x || !x->n)
        return 0;
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->dtype = FM_U8;
    e->ndim = 1;
    e->shape[0] = (int64_t)x->n;
    e->shape[1] = e->shape[2] = e->shape[3] = 1;
    e->data = x->s;
    e->bytes = x->n;
    return 1;
}

static fm_status save(const fm_model *m, const char *path, int kind, const fm_ckpt_state *st,
                      fm_arena *scratch, char *err, size_t errlen)
{
    const int np = m->nparams;
    const size_t pbytes = (size_t)m->nfloats * sizeof(float);
    /* Block b of the file and where it comes from. */
    const fm_tensor *src[4];
    const char *prefix[4] = {"", FM_RAW_PREFIX, NULL, NULL};
    int nb = nblocks(m, kind);
    src[0] = m->mode == FM_MODE_TRAIN ? &m->ema : &m->flat;
    src[1] = &m->flat;
    src[2] = &m->adam_m;
    src[3] = &m->adam_v;

    fm_wtensor *t = scratch_alloc(scratch, sizeof(fm_wtensor) * ((size_t)np * 2 + 5));
    if (!t)
        FAIL(FM_ERR_ARENA, "save %s: scratch arena too small (%zu bytes free)", path,
             fm_arena_free_bytes(scratch));
    int nt = 0;
    for (int b = 0; b < nb; b++) {
        float *host = scratch_alloc(scratch, pbytes);
        if (!host)
            FAIL(FM_ERR_ARENA, "save %s: scratch arena too small for %d blocks of %zu bytes", path,
                 nb, pbytes);
        /* The backend may be a device: bring the block to the host first. */
        fm_status s = fm_download(m->be, host, src[b]);
        if (s != FM_OK)
            FAIL(s, "save %s: download from the backend: %s", path, fm_backend_error(m->be));
        if (b >= 2) {
            fm_wtensor *e = &t[nt++];
            memset(e, 0, sizeof *e);
            snprintf(e->name, sizeof e->name, "%s", b == 2 ? "adam_m" : "adam_v");
            e->dtype = FM_F32;
            e->ndim = 1;
            e->shape[0] = m->nfloats;
            e->shape[1] = e->shape[2] = e->shape[3] = 1;
            e->data = host;
            e->bytes = pbytes;
            continue;
        }
        for (int i = 0; i < np; i++) {
            const fm_param *p = &m->params[i];
            if (fm_wtensor_of_param(&t[nt++], prefix[b], p, host) != 0)
                FAIL(FM_ERR_ARG, "save %s: tensor name '%s%s' longer than %d characters", path,
                     prefix[b], p->name, FM_WEIGHTS_NAME - 1);
        }
    }

    if (st) {
        nt += fm_text_tensor(&t[nt], "text.data", &st->data);
        nt += fm_text_tensor(&t[nt], "text.classes", &st->classes);
        nt += fm_text_tensor(&t[nt], "text.vae", &st->vae);
    }
    fm_wmeta meta[NMETA_MAX];
    int nm = 0;
#define META(k, v)                                                                                 \
    do {                                                                                           \
        memset(&meta[nm], 0, sizeof meta[nm]);                                                     \
        snprintf(meta[nm].key, sizeof meta[nm].key, "%s", (k));                                    \
        meta[nm++].value = (v);                                                                    \
    } while (0)
    if (st) {
        META("step", st->step);
        META("seed", st->opts.seed);
        if (st->latent_scale > 0)
            META("latent_scale", fbits(st->latent_scale));
        if (st->vae_crc)
            META("vae_crc", st->vae_crc);
    }
    if (kind == FM_WEIGHTS_KIND_CHECKPOINT) {
        META("epoch", st->epoch);
        META("cursor", st->cursor);
        META("batch", st->batch);
        META("data_count", st->data_count);
        META("lr", fbits(st->opts.lr));
        META("beta1", fbits(st->opts.beta1));
        META("beta2", fbits(st->opts.beta2));
        META("eps", fbits(st->opts.eps));
        META("weight_decay", fbits(st->opts.weight_decay));
        META("ema_decay", fbits(st->opts.ema_decay));
        META("label_drop", fbits(st->opts.label_drop));
        META("lr_schedule", st->opts.lr_schedule);
        META("warmup", st->opts.warmup);
        META("decay_steps", st->opts.decay_steps);
        META("epoch_loss", dbits(st->epoch_loss));
        META("epoch_loss_steps", st->epoch_steps);
    }
#undef META
    return fm_weights_save(path, kind, &m->cfg, t, nt, meta, nm, scratch, err, errlen);
}

fm_status fm_model_save(const fm_model *m, const char *path, int kind, const fm_ckpt_state *st,
                       fm_arena *scratch, char *err, size_t errlen)
{
    if (kind != FM_WEIGHTS_KIND_WEIGHTS && kind != FM_WEIGHTS_KIND_CHECKPOINT)
        FAIL(FM_ERR_ARG, "save %s: unknown kind %d", path, kind);
    if (kind == FM_WEIGHTS_KIND_CHECKPOINT && (m->mode != FM_MODE_TRAIN || !st))
        FAIL(FM_ERR_ARG, "save %s: a checkpoint needs a training model and its state", path);
    fm_arena_mark mark = fm_arena_get_mark(scratch, "save");
    fm_status s = save(m, path, kind, st, scratch, err, errlen);
    fm_arena_reset(scratch, mark);
    return s;
}

static void shape_str(fm_dtype d, int ndim, const int64_t *shape, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s ", fm_dtype_name(d));
    for (int i = 0; i < ndim && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, i ? "x%lld" : "%lld", (long long)shape[i]);
}

/* A NaN or inf parameter reaches every output of the network and quantises to a
 * black image, so the loader refuses it by name and count (fm_f32_nonfinite). */
/* Tensor `name` of the file: f32 with exactly this shape, every value finite (and
 * >= 0 when nonneg: AdamW's second moment, whose square root it takes). */
static fm_status expect(const fm_weights *w, const char *name, int ndim, const int64_t *shape,
                        int nonneg, fm_wtensor *out, char *err, size_t errlen)
{
    char want[64], have[64];
    shape_str(FM_F32, ndim, shape, want, sizeof want);
    int i = fm_weights_find(w, name);
    if (i < 0)
        FAIL(FM_ERR_FORMAT, "tensor '%s' is missing from the file (model expects %s)", name, want);
    fm_status s = fm_weights_tensor(w, i, out);
    if (s != FM_OK)
        FAIL(s, "tensor '%s': cannot read its directory entry", name);
    int same = out->dtype == FM_F32 && out->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = out->shape[d] == shape[d];
    if (!same) {
        shape_str(out->dtype, out->ndim, out->shape, have, sizeof have);
        FAIL(FM_ERR_FORMAT, "tensor '%s': model expects %s, file has %s", name, want, have);
    }
    const size_t n = out->bytes / sizeof(float);
    size_t neg = 0, bad = fm_f32_nonfinite(out->data, n, &neg);
    if (bad)
        FAIL(FM_ERR_FORMAT, "tensor '%s': %zu of its %zu values are not finite (NaN or inf)", name,
             bad, n);
    if (nonneg && neg)
        FAIL(FM_ERR_FORMAT,
             "tensor '%s': %zu of its %zu values are negative (a second moment "
             "is >= 0)",
             name, neg, n);
    return FM_OK;
}

/* Check every parameter of block `dst` in the file tensors "<prefix><name>", and
 * upload it when the model has a backend (m->be NULL: a check only). */
static fm_status load_block(fm_model *m, const fm_weights *w, const char *prefix,
                            const fm_tensor *dst, char *err, size_t errlen)
{
    for (int i = 0; i < m->nparams; i++) {
        const fm_param *p = &m->params[i];
        char name[FM_WEIGHTS_NAME + 8];
        fm_wtensor t;
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        fm_status s = expect(w, name, p->t.ndim, p->t.shape, 0, &t, err, errlen);
        if (s != FM_OK)
            return s;
        fm_tensor view = fm_model_view(m, dst, i);
        if (m->be && (s = fm_upload(m->be, &view, t.data)) != FM_OK)
            FAIL(s, "tensor '%s': upload: %s", name, fm_backend_error(m->be));
    }
    return FM_OK;
}

/* The optimizer moments of a checkpoint, or zeroes (a fresh optimizer over loaded
 * weights: fine-tuning). */
static fm_status load_moments(fm_model *m, const fm_weights *w, char *err, size_t errlen)
{
    const char *names[2] = {"adam_m", "adam_v"};
    const fm_tensor *dst[2] = {&m->adam_m, &m->adam_v};
    fm_status s = FM_OK;
    for (int k = 0; k < 2 && s == FM_OK; k++) {
        if (w->kind != FM_WEIGHTS_KIND_CHECKPOINT) {
            if (m->be && (s = fm_fill(m->be, dst[k], 0.0f)) != FM_OK)
                FAIL(s, "clearing the optimizer state: %s", fm_backend_error(m->be));
            continue;
        }
        fm_wtensor t;
        s = expect(w, names[k], 1, &m->nfloats, k == 1, &t, err, errlen);
        if (s == FM_OK && m->be && (s = fm_upload(m->be, dst[k], t.data)) != FM_OK)
            FAIL(s, "tensor '%s': upload: %s", names[k], fm_backend_error(m->be));
    }
    return s;
}

int fm_weights_has_raw(const fm_weights *w)
{
    fm_wtensor t;
    for (int i = 0; w && i < w->ntensors; i++)
        if (fm_weights_tensor(w, i, &t) == FM_OK &&
            strncmp(t.name, FM_RAW_PREFIX, sizeof FM_RAW_PREFIX - 1) == 0)
            return 1;
    return 0;
}

/* 1 when name is a parameter of m's layout, plain or behind prefix (may be ""). */
static int layout_name(const fm_model *m, const char *prefix, const char *name)
{
    const size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0)
        return 0;
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(name + pl, m->params[i].name) == 0)
            return 1;
    return 0;
}

/* Every tensor of the file belongs to the model: a layout name, raw.<layout name>,
 * the moments of a checkpoint, or recorded text (u8). A file holding more (a second
 * DiT block under depth=1, a stray blocks.2.*) was written for another config, and
 * using part of it would sample a model nobody trained: refuse the first stranger. */
static fm_status check_strays(const fm_model *m, const fm_weights *w, char *err, size_t errlen)
{
    const int ck = w->kind == FM_WEIGHTS_KIND_CHECKPOINT;
    for (int i = 0; i < w->ntensors; i++) {
        fm_wtensor t;
        if (fm_weights_tensor(w, i, &t) != FM_OK)
            FAIL(FM_ERR_FORMAT, "tensor %d: cannot read its directory entry", i);
        const int text = strcmp(t.name, "text.data") == 0 || strcmp(t.name, "text.classes") == 0 ||
                         strcmp(t.name, "text.vae") == 0;
        const int moment = strcmp(t.name, "adam_m") == 0 || strcmp(t.name, "adam_v") == 0;
        if (layout_name(m, "", t.name) || layout_name(m, FM_RAW_PREFIX, t.name) ||
            (ck && moment) || (text && t.dtype == FM_U8))
            continue;
        char cs[300];
        fm_config_format(&w->cfg, cs, sizeof cs);
        FAIL(FM_ERR_FORMAT, "tensor '%s' is not part of this model (config %s%s)", t.name, cs,
             moment ? "; optimizer moments belong in a checkpoint"
             : text ? "; recorded text is u8" : "");
    }
    return FM_OK;
}

/* Every tensor the model's mode takes from the file (see the header's table), and
 * nothing else in it. */
static fm_status load_tensors(fm_model *m, const fm_weights *w, int use_raw, char *err,
                              size_t errlen)
{
    if (!fm_config_equal(&w->cfg, &m->cfg)) {
        char a[300], b[300];
        fm_config_format(&w->cfg, a, sizeof a);
        fm_config_format(&m->cfg, b, sizeof b);
        FAIL(FM_ERR_FORMAT, "config mismatch: file has %s; model has %s", a, b);
    }
    if (w->dtype != FM_F32)
        FAIL(FM_ERR_FORMAT, "the file stores %s weights; only f32 is supported",
             fm_dtype_name(w->dtype));
    fm_status s = check_strays(m, w, err, errlen);
    if (s != FM_OK)
        return s;
    const int has_raw = fm_weights_has_raw(w);
    if (m->mode == FM_MODE_SAMPLE) {
        if (use_raw && !has_raw)
            FAIL(FM_ERR_FORMAT, "the file holds no raw weights (raw.* tensors), only the %s ones",
                 w->kind == FM_WEIGHTS_KIND_CHECKPOINT ? "EMA" : "saved");
        return load_block(m, w, use_raw ? FM_RAW_PREFIX : "", &m->flat, err, errlen);
    }
    s = load_block(m, w, "", &m->ema, err, errlen);
    if (s == FM_OK)
        s = load_block(m, w, has_raw ? FM_RAW_PREFIX : "", &m->flat, err, errlen);
    return s == FM_OK ? load_moments(m, w, err, errlen) : s;
}

/* Metadata value `key`: required, or 0 when absent and !required. */
static fm_status meta_get(const fm_weights *w, const char *key, int required, uint64_t *v,
                          char *err, size_t errlen)
{
    *v = 0;
    if (!fm_weights_meta(w, key, v) && required)
        FAIL(FM_ERR_FORMAT, "checkpoint metadata '%s' is missing", key);
    return FM_OK;
}

static fm_status meta_range(const char *key, uint64_t v, uint64_t lo, uint64_t hi, char *err,
                            size_t errlen)
{
    if (v < lo || v > hi)
        FAIL(FM_ERR_FORMAT, "checkpoint metadata %s = %llu is outside %llu..%llu", key,
             (unsigned long long)v, (unsigned long long)lo, (unsigned long long)hi);
    return FM_OK;
}

/* The integer state: each field in the range of its fmrt train flag, and the
 * position consistent with the step (steps run epoch by epoch, spe batches each:
 * step = epoch spe + cursor, cursor < spe). */
static fm_status check_position(const fm_ckpt_state *st, char *err, size_t errlen)
{
    fm_status s = meta_range("step", st->step, 0, FM_MAX_STEPS, err, errlen);
    if (s == FM_OK)
        s = meta_range("seed", st->opts.seed, 0, FM_MAX_SEED, err, errlen);
    if (s == FM_OK)
        s = meta_range("batch", st->batch, 1, FM_MAX_BATCH, err, errlen);
    if (s == FM_OK)
        s = meta_range("data_count", st->data_count, st->batch, INT32_MAX, err, errlen);
    if (s != FM_OK)
        return s;
    const uint64_t spe = st->data_count / st->batch; /* >= 1, <= 2^31 */
    if (st->cursor >= spe || st->epoch > st->step || st->epoch * spe + st->cursor != st->step)
        FAIL(FM_ERR_FORMAT,
             "checkpoint metadata disagree: step %llu is not epoch %llu x %llu "
             "batches (data_count %llu / batch %llu) + cursor %llu",
             (unsigned long long)st->step, (unsigned long long)st->epoch, (unsigned long long)spe,
             (unsigned long long)st->data_count, (unsigned long long)st->batch,
             (unsigned long long)st->cursor);
    return FM_OK;
}

/* A checkpoint's float hyper-parameters, by key, travelling as IEEE bits. */
static const struct {
    const char *key;
    size_t off;
} float_fields[] = {
    {"lr", offsetof(fm_ckpt_state, opts.lr)},
    {"beta1", offsetof(fm_ckpt_state, opts.beta1)},
    {"beta2", offsetof(fm_ckpt_state, opts.beta2)},
    {"eps", offsetof(fm_ckpt_state, opts.eps)},
    {"weight_decay", offsetof(fm_ckpt_state, opts.weight_decay)},
    {"ema_decay", offsetof(fm_ckpt_state, opts.ema_decay)},
    {"label_drop", offsetof(fm_ckpt_state, opts.label_drop)},
};

/* The keys later versions added, absent from older checkpoints (their defaults are
 * what those runs did): the lr schedule and the epoch's losses so far. */
static fm_status read_later_keys(const fm_weights *w, fm_ckpt_state *st, char *err, size_t errlen)
{
    uint64_t sched = 0, loss = 0;
    char msg[160];
    meta_get(w, "lr_schedule", 0, &sched, err, errlen);
    meta_get(w, "warmup", 0, &st->opts.warmup, err, errlen);
    meta_get(w, "decay_steps", 0, &st->opts.decay_steps, err, errlen);
    meta_get(w, "epoch_loss", 0, &loss, err, errlen);
    meta_get(w, "epoch_loss_steps", 0, &st->epoch_steps, err, errlen);
    if (sched > FM_LR_COSINE)
        FAIL(FM_ERR_FORMAT, "checkpoint metadata lr_schedule = %llu is not 0 (constant) or 1 "
             "(cosine)", (unsigned long long)sched);
    st->opts.lr_schedule = (uint32_t)sched;
    if (fm_train_opts_check(&st->opts, msg, sizeof msg) != FM_OK)
        FAIL(FM_ERR_FORMAT, "checkpoint metadata: %s", msg);
    memcpy(&st->epoch_loss, &loss, sizeof loss);
    if (st->epoch_steps > st->cursor || !isfinite(st->epoch_loss) || st->epoch_loss < 0)
        FAIL(FM_ERR_FORMAT, "checkpoint metadata: epoch_loss %g over %llu steps does not fit "
             "cursor %llu", st->epoch_loss, (unsigned long long)st->epoch_steps,
             (unsigned long long)st->cursor);
    return FM_OK;
}

int fm_class_name_ok(const char *name, size_t len)
{
    if (len < 1 || len >= FM_CLASS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == ',')
            return 0;
    return 1;
}

int fm_class_index(const fm_text *classes, const char *name)
{
    const size_t len = strlen(name);
    size_t at = 0;
    for (int k = 0; classes->s && at < classes->n; k++) {
        const char *nl = memchr(classes->s + at, '\n', classes->n - at);
        const size_t end = nl ? (size_t)(nl - classes->s) : classes->n;
        if (end - at == len && memcmp(classes->s + at, name, len) == 0)
            return k;
        at = end + 1;
    }
    return -1;
}

/* Recorded text `name` of w into *x (none: n = 0): u8, one dimension, at most
 * FM_TEXT_MAX bytes, printable but for '\n' separators. */
static fm_status read_text(const fm_weights *w, const char *name, fm_text *x, char *err,
                           size_t errlen)
{
    fm_wtensor t;
    const int i = fm_weights_find(w, name);
    x->s = NULL;
    x->n = 0;
    if (i < 0)
        return FM_OK;
    if (fm_weights_tensor(w, i, &t) != FM_OK || t.dtype != FM_U8 || t.ndim != 1 ||
        t.bytes > FM_TEXT_MAX)
        FAIL(FM_ERR_FORMAT, "tensor '%s': recorded text is u8 [n], n <= %d", name, FM_TEXT_MAX);
    const char *s = t.data;
    for (size_t k = 0; k < t.bytes; k++)
        if (((unsigned char)s[k] < 0x20 && s[k] != '\n') || s[k] == 0x7f)
            FAIL(FM_ERR_FORMAT, "tensor '%s': byte %zu is a control character", name, k);
    x->s = s;
    x->n = t.bytes;
    return FM_OK;
}

/* text.classes: num_classes valid names, one per line. */
static fm_status check_classes(const fm_text *c, int num_classes, char *err, size_t errlen)
{
    int k = 0;
    for (size_t at = 0; c->n && at <= c->n; k++) {
        const char *nl = memchr(c->s + at, '\n', c->n - at);
        const size_t end = nl ? (size_t)(nl - c->s) : c->n;
        if (!fm_class_name_ok(c->s + at, end - at))
            FAIL(FM_ERR_FORMAT, "text.classes: name %d is empty, longer than %d bytes or holds "
                 "a ','", k, FM_CLASS_NAME_MAX - 1);
        at = end + 1;
    }
    if (c->n && k != num_classes)
        FAIL(FM_ERR_FORMAT, "text.classes: %d names for num_classes=%d", k, num_classes);
    return FM_OK;
}

/* latent_scale, vae_crc and text.vae (fm_ckpt_state), each optional. */
static fm_status read_latent_keys(const fm_weights *w, fm_ckpt_state *st, char *err, size_t errlen)
{
    uint64_t v;
    if (fm_weights_meta(w, "latent_scale", &v)) {
        st->latent_scale = bitsf(v);
        if (v > UINT32_MAX || !(st->latent_scale > 0) || !isfinite(st->latent_scale))
            FAIL(FM_ERR_FORMAT, "metadata latent_scale = %#llx is not a positive float32",
                 (unsigned long long)v);
    }
    if (fm_weights_meta(w, "vae_crc", &v)) {
        if (v == 0 || v > UINT32_MAX)
            FAIL(FM_ERR_FORMAT, "metadata vae_crc = %#llx is not a CRC-32",
                 (unsigned long long)v);
        st->vae_crc = v;
    }
    return read_text(w, "text.vae", &st->vae, err, errlen);
}

fm_status fm_ckpt_state_read(const fm_weights *w, fm_ckpt_state *st, char *err, size_t errlen)
{
    const int ck = w->kind == FM_WEIGHTS_KIND_CHECKPOINT;
    uint64_t *ints[] = {&st->step,   &st->opts.seed, &st->epoch,
                        &st->cursor, &st->batch,     &st->data_count};
    const char *int_keys[] = {"step", "seed", "epoch", "cursor", "batch", "data_count"};
    memset(st, 0, sizeof *st);
    fm_status s = read_text(w, "text.data", &st->data, err, errlen);
    if (s == FM_OK)
        s = read_text(w, "text.classes", &st->classes, err, errlen);
    if (s == FM_OK)
        s = check_classes(&st->classes, w->cfg.num_classes, err, errlen);
    if (s == FM_OK)
        s = read_latent_keys(w, st, err, errlen);
    /* A weights file may record step and seed; a checkpoint must hold everything. */
    for (int i = 0; i < (ck ? 6 : 2) && s == FM_OK; i++)
        s = meta_get(w, int_keys[i], ck, ints[i], err, errlen);
    if (s != FM_OK || !ck)
        return s;
    for (size_t i = 0; i < sizeof float_fields / sizeof float_fields[0]; i++) {
        uint64_t v;
        char msg[128];
        if ((s = meta_get(w, float_fields[i].key, 1, &v, err, errlen)) != FM_OK)
            return s;
        if (v > UINT32_MAX)
            FAIL(FM_ERR_FORMAT, "checkpoint metadata %s = %#llx is not a float32's bits",
                 float_fields[i].key, (unsigned long long)v);
        float f = bitsf(v);
        if (fm_train_opt_check(float_fields[i].key, (double)f, msg, sizeof msg) != FM_OK)
            FAIL(FM_ERR_FORMAT, "checkpoint metadata: %s", msg);
        memcpy((char *)st + float_fields[i].off, &f, sizeof f);
    }
    if ((s = check_position(st, err, errlen)) != FM_OK)
        return s;
    return read_later_keys(w, st, err, errlen);
}

fm_status fm_model_check_weights(const fm_weights *w, fm_mode mode, int use_raw, fm_model *scratch,
                                char *err, size_t errlen)
{
    memset(scratch, 0, sizeof *scratch);
    scratch->cfg = w->cfg;
    scratch->mode = mode;
    scratch->nparams = fm_model_layout(&w->cfg, scratch->params, FM_MAX_PARAMS, &scratch->nfloats);
    if (scratch->nparams < 0)
        FAIL(FM_ERR_FORMAT, "the file's config needs more than %d parameter tensors",
             FM_MAX_PARAMS);
    return load_tensors(scratch, w, use_raw, err, errlen);
}

fm_status fm_model_load(fm_model *m, const fm_weights *w, int use_raw, fm_ckpt_state *st,
                       int *has_state, char *err, size_t errlen)
{
    if (has_state)
        *has_state = 0;
    fm_ckpt_state tmp;
    /* The state first: a bad field fails before anything is uploaded. */
    fm_status s = fm_ckpt_state_read(w, st ? st : &tmp, err, errlen);
    if (s == FM_OK)
        s = load_tensors(m, w, use_raw, err, errlen);
    if (s != FM_OK)
        return s;
    if (has_state)
        *has_state = w->kind == FM_WEIGHTS_KIND_CHECKPOINT && m->mode == FM_MODE_TRAIN;
    return FM_OK;
}

fm_status fm_model_create_from_weights(fm_model *m, fm_backend *be, const fm_weights *w, fm_mode mode,
                                      int batch, int use_raw, fm_ckpt_state *st, int *has_state,
                                      char *err, size_t errlen)
{
    fm_status s = fm_model_create(m, be, &w->cfg, mode, batch);
    if (s != FM_OK)
        FAIL(s, "%s", fm_backend_error(be));
    return fm_model_load(m, w, use_raw, st, has_state, err, errlen);
}
