#include "checkpoint.h"

#include <stdio.h>
#include <string.h>

#include "size.h"

#define FAIL(s, ...) return (snprintf(err, errlen, __VA_ARGS__), (s))

enum { NMETA_MAX = 16 };

/* Blocks a file of this kind holds for this model (see the table in the header). */
static int nblocks(const fm_unet *m, int kind)
{
    if (kind == FM_WEIGHTS_KIND_CHECKPOINT)
        return 4;
    return m->mode == FM_MODE_TRAIN ? 2 : 1;
}

size_t fm_unet_save_scratch_bytes(const fm_unet *m, int kind)
{
    int nb = nblocks(m, kind);
    /* nparams <= FM_MAX_PARAMS keeps the table sizes small; the float blocks are
     * as large as the file's config makes them, so they are checked (SIZE_MAX, which
     * no arena can provide, when they do not fit). */
    size_t nt = (size_t)m->nparams * 2 + 2;
    size_t floats, blocks;
    if (m->nfloats < 0 || (uint64_t)m->nfloats > SIZE_MAX ||
        !fm_mul_add_size((size_t)m->nfloats, sizeof(float), 64, &floats) ||
        !fm_mul_size((size_t)nb, floats, &blocks))
        return SIZE_MAX;
    size_t header = FM_WEIGHTS_HEADER_BYTES + nt * FM_WEIGHTS_DIR_BYTES +
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

/* count floats of host memory from the scratch arena. */
static void *scratch_alloc(fm_arena *a, size_t bytes)
{
    size_t off;
    if (!a->base || fm_arena_alloc(a, bytes, &off) != FM_OK)
        return NULL;
    return fm_arena_ptr(a, off);
}

static fm_status save(const fm_unet *m, const char *path, int kind, const fm_ckpt_state *st,
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

    fm_wtensor *t = scratch_alloc(scratch, sizeof(fm_wtensor) * ((size_t)np * 2 + 2));
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
            fm_wtensor *e = &t[nt++];
            memset(e, 0, sizeof *e);
            int n = snprintf(e->name, sizeof e->name, "%s%s", prefix[b], p->name);
            if (n < 0 || (size_t)n >= sizeof e->name)
                FAIL(FM_ERR_ARG, "save %s: tensor name '%s%s' longer than %d characters", path,
                     prefix[b], p->name, FM_WEIGHTS_NAME - 1);
            e->dtype = FM_F32;
            e->ndim = p->t.ndim;
            for (int d = 0; d < 4; d++)
                e->shape[d] = d < p->t.ndim ? p->t.shape[d] : 1;
            e->data = host + p->offset;
            e->bytes = fm_tensor_bytes(&p->t);
        }
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
        META("seed", st->seed);
    }
    if (kind == FM_WEIGHTS_KIND_CHECKPOINT) {
        META("epoch", st->epoch);
        META("cursor", st->cursor);
        META("batch", st->batch);
        META("data_count", st->data_count);
        META("lr", fbits(st->lr));
        META("beta1", fbits(st->beta1));
        META("beta2", fbits(st->beta2));
        META("eps", fbits(st->eps));
        META("weight_decay", fbits(st->weight_decay));
        META("ema_decay", fbits(st->ema_decay));
        META("label_drop", fbits(st->label_drop));
    }
#undef META
    return fm_weights_save(path, kind, &m->cfg, t, nt, meta, nm, scratch, err, errlen);
}

fm_status fm_unet_save(const fm_unet *m, const char *path, int kind, const fm_ckpt_state *st,
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

/* Tensor `name` of the file, which must be f32 with exactly this shape. */
static fm_status expect(const fm_weights *w, const char *name, int ndim, const int64_t *shape,
                        fm_wtensor *out, char *err, size_t errlen)
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
    return FM_OK;
}

/* Upload every parameter of block `dst` from the file tensors "<prefix><name>". */
static fm_status load_block(fm_unet *m, const fm_weights *w, const char *prefix,
                            const fm_tensor *dst, char *err, size_t errlen)
{
    for (int i = 0; i < m->nparams; i++) {
        const fm_param *p = &m->params[i];
        char name[FM_WEIGHTS_NAME + 8];
        fm_wtensor t;
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        fm_status s = expect(w, name, p->t.ndim, p->t.shape, &t, err, errlen);
        if (s != FM_OK)
            return s;
        fm_tensor view = fm_unet_view(m, dst, i);
        if ((s = fm_upload(m->be, &view, t.data)) != FM_OK)
            FAIL(s, "tensor '%s': upload: %s", name, fm_backend_error(m->be));
    }
    return FM_OK;
}

static uint64_t meta_or0(const fm_weights *w, const char *key)
{
    uint64_t v = 0;
    return fm_weights_meta(w, key, &v) ? v : 0;
}

fm_status fm_unet_load(fm_unet *m, const fm_weights *w, int use_raw, fm_ckpt_state *st,
                       int *has_state, char *err, size_t errlen)
{
    if (has_state)
        *has_state = 0;
    if (!fm_config_equal(&w->cfg, &m->cfg)) {
        char a[300], b[300];
        fm_config_format(&w->cfg, a, sizeof a);
        fm_config_format(&m->cfg, b, sizeof b);
        FAIL(FM_ERR_FORMAT, "config mismatch: file has %s; model has %s", a, b);
    }
    if (w->dtype != FM_F32)
        FAIL(FM_ERR_FORMAT, "the file stores %s weights; only f32 is supported",
             fm_dtype_name(w->dtype));
    const int has_raw = fm_weights_find(w, FM_RAW_PREFIX "conv_in.weight") >= 0;
    fm_status s;
    if (m->mode == FM_MODE_SAMPLE) {
        if (use_raw && !has_raw)
            FAIL(FM_ERR_FORMAT, "the file holds no raw weights (raw.* tensors), only the %s ones",
                 w->kind == FM_WEIGHTS_KIND_CHECKPOINT ? "EMA" : "saved");
        s = load_block(m, w, use_raw ? FM_RAW_PREFIX : "", &m->flat, err, errlen);
    } else {
        s = load_block(m, w, "", &m->ema, err, errlen);
        if (s == FM_OK)
            s = load_block(m, w, has_raw ? FM_RAW_PREFIX : "", &m->flat, err, errlen);
        if (s == FM_OK && w->kind == FM_WEIGHTS_KIND_CHECKPOINT) {
            const char *names[2] = {"adam_m", "adam_v"};
            const fm_tensor *dst[2] = {&m->adam_m, &m->adam_v};
            for (int k = 0; k < 2 && s == FM_OK; k++) {
                fm_wtensor t;
                s = expect(w, names[k], 1, &m->nfloats, &t, err, errlen);
                if (s == FM_OK && (s = fm_upload(m->be, dst[k], t.data)) != FM_OK)
                    snprintf(err, errlen, "tensor '%s': upload: %s", names[k],
                             fm_backend_error(m->be));
            }
        } else if (s == FM_OK) {
            /* A fresh optimizer over loaded weights (fine-tuning). */
            s = fm_fill(m->be, &m->adam_m, 0.0f);
            if (s == FM_OK)
                s = fm_fill(m->be, &m->adam_v, 0.0f);
            if (s != FM_OK)
                snprintf(err, errlen, "clearing the optimizer state: %s", fm_backend_error(m->be));
        }
    }
    if (s != FM_OK)
        return s;
    if (st) {
        memset(st, 0, sizeof *st);
        st->step = meta_or0(w, "step");
        st->seed = meta_or0(w, "seed");
        if (w->kind == FM_WEIGHTS_KIND_CHECKPOINT) {
            st->epoch = meta_or0(w, "epoch");
            st->cursor = meta_or0(w, "cursor");
            st->batch = meta_or0(w, "batch");
            st->data_count = meta_or0(w, "data_count");
            st->lr = bitsf(meta_or0(w, "lr"));
            st->beta1 = bitsf(meta_or0(w, "beta1"));
            st->beta2 = bitsf(meta_or0(w, "beta2"));
            st->eps = bitsf(meta_or0(w, "eps"));
            st->weight_decay = bitsf(meta_or0(w, "weight_decay"));
            st->ema_decay = bitsf(meta_or0(w, "ema_decay"));
            st->label_drop = bitsf(meta_or0(w, "label_drop"));
        }
    }
    if (has_state)
        *has_state = w->kind == FM_WEIGHTS_KIND_CHECKPOINT && m->mode == FM_MODE_TRAIN;
    return FM_OK;
}

fm_status fm_unet_create_from_weights(fm_unet *m, fm_backend *be, const fm_weights *w,
                                      fm_mode mode, int batch, int use_raw, fm_ckpt_state *st,
                                      int *has_state, char *err, size_t errlen)
{
    fm_status s = fm_unet_create(m, be, &w->cfg, mode, batch);
    if (s != FM_OK)
        FAIL(s, "%s", fm_backend_error(be));
    return fm_unet_load(m, w, use_raw, st, has_state, err, errlen);
}
