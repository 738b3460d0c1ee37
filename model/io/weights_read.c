/* Reading the flat weights / checkpoint format: parse and validate a file image
 * in memory, then view its tensors and metadata in place; layout in weights.h,
 * weights_format.h and docs/weights-format.md. No file system, no allocation: the
 * microcontroller build compiles this file and not weights_write.c. Every field is
 * unpacked byte by byte (little-endian), never through a struct, so the file does
 * not depend on the compiler's padding or the host's byte order. */
#include "weights.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weights_format.h"

/* ---- fields ------------------------------------------------------------------------ */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void config_unpack(const uint8_t *h, uint32_t version, fm_config *c,
                          int32_t v[FM_CONFIG_SLOTS])
{
    fm_wf_config_read(h, version, v);
    fm_config_unpack(v, c);
}

/* A fixed-size name field: 1 = NUL-terminated, non-empty and zero after the NUL. */
static int field_ok(const uint8_t *p, size_t n)
{
    size_t l = 0;
    while (l < n && p[l])
        l++;
    if (l == 0 || l == n)
        return 0;
    for (size_t i = l; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static const char *shape_str(const uint64_t *shape, int ndim, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int d = 0; d < ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, d ? "x%" PRIu64 : "%" PRIu64, shape[d]);
    return buf;
}

/* ---- parse ------------------------------------------------------------------------- */

const char *fm_file_kind(const uint8_t *p, size_t n)
{
    static const struct {
        size_t n;
        const char *magic, *kind;
    } magics[] = {
        {7, "FMRTFID", "fmrt eval's feature statistics (.fms)"},
        {7, "FMRTWGT", "an fmrt weights file of another format generation"},
        {2, "\x1f\x8b", "gzip-compressed data (decompress it first)"},
        {4, "PK\x03\x04", "a zip archive (a PyTorch .pt/.pth? convert it first)"},
        {6, "\x93NUMPY", "a NumPy .npy array"},
        {4, "\x89PNG", "a PNG image"},
        {4, "GGUF", "a GGUF model"},
    };
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
        if (n >= magics[i].n && memcmp(p, magics[i].magic, magics[i].n) == 0)
            return magics[i].kind;
    if (n >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5)
        return "a Python pickle (an old torch.save? convert it first)";
    /* IDX: 00 00, a type code 0x08 (u8) .. 0x0e (f64), 1..4 dimensions. */
    if (n >= 4 && p[0] == 0 && p[1] == 0 && p[2] >= 0x08 && p[2] <= 0x0e && p[3] >= 1 && p[3] <= 4)
        return "an IDX data set (MNIST-style images or labels)";
    return NULL;
}

/* What a foreign file seems to be: fm_file_kind, and safetensors (which only this
 * reader needs to tell apart), or NULL. */
static const char *magic_hint(const uint8_t *p, size_t len)
{
    const char *kind = fm_file_kind(p, len);
    if (!kind && len >= 9 && p[8] == '{' && get64(p) <= len - 8)
        return "safetensors (convert it first)";
    return kind;
}

size_t fm_weights_header_bytes(uint32_t version)
{
    if (version < 1 || version > FM_WEIGHTS_VERSION)
        return 0;
    return version >= 3 ? FM_WEIGHTS_HEADER_BYTES_V3 : FM_WEIGHTS_HEADER_BYTES;
}

/* The fixed header's fields, once checked. */
typedef struct header {
    uint32_t version, kind, dtype, nt, nm, crc;
    uint32_t hbytes; /* fixed header's size: where the directory starts */
    uint64_t poff, pbytes;
} header;

/* The magic bytes, shown escaped when wrong (with a hint at what the file is). */
static fm_status parse_magic(const uint8_t *p, size_t len, char *err, size_t errlen)
{
    size_t m = len < 8 ? len : 8;
    if (m == 0 || memcmp(p, FM_WEIGHTS_MAGIC, m) != 0) {
        char shown[40];
        size_t k = 0;
        for (size_t i = 0; i < m && k + 5 < sizeof shown; i++)
            k += (size_t)snprintf(shown + k, sizeof shown - k,
                                  p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' ? "%c" : "\\x%02x",
                                  p[i]);
        shown[k] = '\0';
        if (m == 0)
            return fm_errorf(err, errlen, FM_ERR_FORMAT, "truncated: empty file, expected weights");
        const char *kind = magic_hint(p, len);
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "wrong magic \"%s\", expected \"%s\"%s%s%s",
                         shown, FM_WEIGHTS_MAGIC, kind ? " (looks like " : "", kind ? kind : "",
                         kind ? ")" : "");
    }
    return FM_OK;
}

/* Version, sizes, limits, payload bounds against the file length, checksum. */
static fm_status parse_header(const uint8_t *p, size_t len, header *h, char *err, size_t errlen)
{
    if (len < FM_WEIGHTS_HEADER_BYTES)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "truncated: %zu bytes, the weights header alone is %d", len,
                         FM_WEIGHTS_HEADER_BYTES);
    uint32_t version = h->version = get32(p + H_VERSION), kind = h->kind = get32(p + H_KIND);
    uint32_t hbytes = get32(p + H_HEADER_BYTES);
    uint32_t nt = h->nt = get32(p + H_NTENSORS), nm = h->nm = get32(p + H_NMETA);
    uint64_t poff = h->poff = get64(p + H_PAYLOAD_OFF),
             pbytes = h->pbytes = get64(p + H_PAYLOAD_BYTES);
    h->dtype = get32(p + H_DTYPE);
    if (version < 1 || version > FM_WEIGHTS_VERSION)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "unknown weights format version %" PRIu32
                         ", this build reads versions 1..%d",
                         version, FM_WEIGHTS_VERSION);
    const size_t want = fm_weights_header_bytes(version);
    if (hbytes != want)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "header size %" PRIu32 ", a version %" PRIu32 " file has %zu", hbytes,
                         version, want);
    h->hbytes = hbytes;
    if (len < want)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "truncated: %zu bytes, the version %" PRIu32 " weights header alone is %zu",
                         len, version, want);
    if (kind > FM_WEIGHTS_KIND_CHECKPOINT)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "unknown kind %" PRIu32 ", expected 0 (weights) or 1 (checkpoint)", kind);
    if (nt > FM_WEIGHTS_MAX_TENSORS || nm > FM_WEIGHTS_MAX_META)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "%" PRIu32 " tensors / %" PRIu32 " metadata entries, limits %d / %d", nt,
                         nm, FM_WEIGHTS_MAX_TENSORS, FM_WEIGHTS_MAX_META);
    /* nt, nm are small now: no overflow below. */
    uint64_t meta_end = hbytes + (uint64_t)FM_WEIGHTS_DIR_BYTES * nt +
                        (uint64_t)FM_WEIGHTS_META_BYTES * nm;
    if (poff % FM_WEIGHTS_ALIGN != 0 || poff < meta_end)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "payload offset %" PRIu64 " must be a multiple of %d and >= %" PRIu64
                         " (end of directory and metadata)",
                         poff, FM_WEIGHTS_ALIGN, meta_end);
    if (poff > UINT64_MAX - 4 || pbytes > UINT64_MAX - 4 - poff)
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "payload size %" PRIu64 " overflows", pbytes);
    uint64_t total = poff + pbytes + 4;
    if (total > len)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "truncated: file has %zu bytes, its header describes %" PRIu64, len,
                         total);
    if (total < len)
        return fm_errorf(
            err, errlen, FM_ERR_FORMAT,
            "%" PRIu64 " trailing bytes after the checksum (file has %zu, header says %" PRIu64 ")",
            (uint64_t)len - total, len, total);
    uint32_t stored = get32(p + len - 4);
    uint32_t crc = h->crc = fm_wf_crc(0, p, len - 4);
    if (crc != stored)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "checksum mismatch: stored CRC-32 0x%08" PRIx32 ", computed 0x%08" PRIx32
                         " (file corrupt)",
                         stored, crc);

    return FM_OK;
}

/* The float dtype and the model config of the header (unused slots must be 0). */
static fm_status parse_config(const uint8_t *p, const header *h, fm_weights *w, char *err,
                              size_t errlen)
{
    if (h->dtype != FM_F32 && h->dtype != FM_F16)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "float dtype %" PRIu32 " (%s) unknown, expected "
                         "%d (f32) or %d (f16)",
                         h->dtype, fm_wf_dtype_name(h->dtype), FM_F32, FM_F16);
    int32_t cv[FM_CONFIG_SLOTS];
    char msg[160];
    config_unpack(p, h->version, &w->cfg, cv);
    if (h->version == 1 && cv[FM_CONFIG_SLOT_ARCH] != 0)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "config: reserved slot %d is %" PRId32 ", expected 0 (version 1 files "
                         "hold U-Nets only)",
                         FM_CONFIG_SLOT_ARCH, cv[FM_CONFIG_SLOT_ARCH]);
    if (fm_config_validate(&w->cfg, msg, sizeof msg) != FM_OK)
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "config: %s", msg);
    const fm_arch *arch = fm_arch_by_id(w->cfg.arch);
    const int mult = (arch->fields & FM_FIELD(channel_mult)) != 0;
    for (int l = w->cfg.levels; mult && l < FM_MAX_LEVELS; l++)
        if (cv[4 + l])
            return fm_errorf(err, errlen, FM_ERR_FORMAT,
                             "config: channel_mult[%d] = %" PRId32 " beyond levels %d, expected 0",
                             l, cv[4 + l], w->cfg.levels);
    for (int i = 0; i < FM_CONFIG_SLOTS; i++)
        if (cv[i] && !fm_config_slot_used(&w->cfg, i))
            return fm_errorf(err, errlen, FM_ERR_FORMAT,
                             "config: %s%s slot %d is %" PRId32 ", expected 0",
                             i > FM_CONFIG_SLOT_ARCH ? "reserved" : arch->name,
                             i > FM_CONFIG_SLOT_ARCH ? "" : "'s unused", i, cv[i]);

    return FM_OK;
}

/* Directory entry i: name, dtype, shape against bytes, payload range after the
 * previous tensor's end (*prev_end, advanced), no name twice. */
static fm_status parse_entry(const uint8_t *dir, uint32_t i, const header *h, uint64_t *prev_end,
                             char *err, size_t errlen)
{
    uint32_t dtype = h->dtype;
    uint64_t pbytes = h->pbytes;
    const uint8_t *e = dir + (size_t)FM_WEIGHTS_DIR_BYTES * i;
    if (!field_ok(e + D_NAME, FM_WEIGHTS_NAME))
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "tensor %" PRIu32 ": name empty, unterminated or not NUL padded", i);
    const char *name = (const char *)(e + D_NAME);
    uint32_t dt = get32(e + D_DTYPE), ndim = get32(e + D_NDIM);
    if (!fm_wf_dtype_ok(dt))
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "tensor '%s': dtype %" PRIu32 " unknown", name,
                         dt);
    if (fm_wf_dtype_float(dt) && dt != dtype)
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "tensor '%s' is %s, the header says %s", name,
                         fm_wf_dtype_name(dt), fm_wf_dtype_name(dtype));
    if (ndim < 1 || ndim > 4)
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "tensor '%s': ndim %" PRIu32 ", expected 1..4",
                         name, ndim);
    uint64_t shape[4], bytes;
    for (int d = 0; d < 4; d++) {
        shape[d] = get64(e + D_SHAPE + 8 * d);
        if ((uint32_t)d < ndim ? shape[d] == 0 || shape[d] > INT64_MAX : shape[d] != 1)
            return fm_errorf(err, errlen, FM_ERR_FORMAT,
                             "tensor '%s': dim %d is %" PRIu64 ", expected %s", name, d, shape[d],
                             (uint32_t)d < ndim ? ">= 1" : "1 beyond ndim");
    }
    char sh[96];
    if (!fm_wf_shape_bytes(shape, (int)ndim, fm_dtype_size((fm_dtype)dt), &bytes))
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "tensor '%s': shape %s overflows", name,
                         shape_str(shape, (int)ndim, sh, sizeof sh));
    uint64_t toff = get64(e + D_OFFSET), tb = get64(e + D_BYTES);
    if (tb != bytes)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "tensor '%s': %" PRIu64 " bytes, shape %s of %s needs %" PRIu64, name, tb,
                         shape_str(shape, (int)ndim, sh, sizeof sh), fm_wf_dtype_name(dt), bytes);
    if (toff % 4 != 0)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "tensor '%s': payload offset %" PRIu64 " not a multiple of 4", name, toff);
    if (toff > pbytes || tb > pbytes - toff)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "tensor '%s': bytes %" PRIu64 "..%" PRIu64 " lie outside the %" PRIu64
                         "-byte payload",
                         name, toff, toff + tb, pbytes);
    if (toff < *prev_end)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "tensor '%s': offset %" PRIu64
                         " overlaps the previous tensor (ends at %" PRIu64 ")",
                         name, toff, *prev_end);
    *prev_end = toff + tb;
    for (uint32_t j = 0; j < i; j++)
        if (memcmp(dir + (size_t)FM_WEIGHTS_DIR_BYTES * j + D_NAME, e + D_NAME, FM_WEIGHTS_NAME) ==
            0)
            return fm_errorf(err, errlen, FM_ERR_FORMAT, "tensor name '%s' appears twice", name);
    return FM_OK;
}

/* Metadata keys: present, NUL padded, none twice. */
static fm_status parse_meta(const uint8_t *meta, uint32_t nm, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < nm; i++) {
        const uint8_t *e = meta + (size_t)FM_WEIGHTS_META_BYTES * i;
        if (!field_ok(e + M_KEY, FM_WEIGHTS_KEY))
            return fm_errorf(err, errlen, FM_ERR_FORMAT,
                             "metadata %" PRIu32 ": key empty, unterminated or not NUL padded", i);
        for (uint32_t j = 0; j < i; j++)
            if (memcmp(meta + (size_t)FM_WEIGHTS_META_BYTES * j, e, FM_WEIGHTS_KEY) == 0)
                return fm_errorf(err, errlen, FM_ERR_FORMAT, "metadata key '%s' appears twice",
                                 (const char *)e);
    }

    return FM_OK;
}

fm_status fm_weights_parse(const void *image, size_t len, fm_weights *w, char *err, size_t errlen)
{
    const uint8_t *p = image;
    header h = {0};
    if (!w || (!p && len))
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_weights_parse: NULL argument");
    memset(w, 0, sizeof *w);
    FM_TRY(parse_magic(p, len, err, errlen));
    FM_TRY(parse_header(p, len, &h, err, errlen));
    FM_TRY(parse_config(p, &h, w, err, errlen));
    const uint8_t *dir = p + h.hbytes;
    uint64_t prev_end = 0;
    for (uint32_t i = 0; i < h.nt; i++)
        FM_TRY(parse_entry(dir, i, &h, &prev_end, err, errlen));
    const uint8_t *meta = dir + (size_t)FM_WEIGHTS_DIR_BYTES * h.nt;
    FM_TRY(parse_meta(meta, h.nm, err, errlen));

    w->version = (int)h.version;
    w->kind = (int)h.kind;
    w->dtype = (fm_dtype)h.dtype;
    w->ntensors = (int)h.nt;
    w->nmeta = (int)h.nm;
    w->image = p;
    w->len = len;
    w->payload = p + h.poff;
    w->payload_bytes = (size_t)h.pbytes;
    w->dir = dir;
    w->meta = meta;
    w->crc = h.crc;
    return FM_OK;
}

/* ---- queries ---------------------------------------------------------------------- */

fm_status fm_weights_tensor(const fm_weights *w, int i, fm_wtensor *out)
{
    if (!w || !out || !w->dir || i < 0 || i >= w->ntensors)
        return FM_ERR_ARG;
    const uint8_t *e = w->dir + (size_t)FM_WEIGHTS_DIR_BYTES * i;
    memset(out, 0, sizeof *out);
    memcpy(out->name, e + D_NAME, FM_WEIGHTS_NAME);
    out->dtype = (fm_dtype)get32(e + D_DTYPE);
    out->ndim = (int)get32(e + D_NDIM);
    for (int d = 0; d < 4; d++)
        out->shape[d] = (int64_t)get64(e + D_SHAPE + 8 * d);
    out->data = w->payload + get64(e + D_OFFSET);
    out->bytes = (size_t)get64(e + D_BYTES);
    return FM_OK;
}

int fm_weights_find(const fm_weights *w, const char *name)
{
    if (!w || !name || !w->dir)
        return -1;
    size_t n = strlen(name);
    if (n == 0 || n >= FM_WEIGHTS_NAME)
        return -1;
    for (int i = 0; i < w->ntensors; i++) {
        const uint8_t *e = w->dir + (size_t)FM_WEIGHTS_DIR_BYTES * i + D_NAME;
        if (memcmp(e, name, n) == 0 && e[n] == 0)
            return i;
    }
    return -1;
}

int fm_weights_meta(const fm_weights *w, const char *key, uint64_t *value)
{
    if (!w || !key || !w->meta)
        return 0;
    size_t n = strlen(key);
    if (n == 0 || n >= FM_WEIGHTS_KEY)
        return 0;
    for (int i = 0; i < w->nmeta; i++) {
        const uint8_t *e = w->meta + (size_t)FM_WEIGHTS_META_BYTES * i;
        if (memcmp(e + M_KEY, key, n) == 0 && e[M_KEY + n] == 0) {
            if (value)
                *value = get64(e + M_VALUE);
            return 1;
        }
    }
    return 0;
}

fm_status fm_weights_check_config(const fm_weights *w, const fm_config *want, char *err,
                                  size_t errlen)
{
    if (!w || !want)
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_weights_check_config: NULL argument");
    const fm_config *a = &w->cfg;
    struct {
        const char *name;
        int file, model;
    } f[] = {{"arch", a->arch, want->arch},
             {"levels (channel_mult length)", a->levels, want->levels},
#define FIELD(x, slot) {#x, a->x, want->x},
             FM_CONFIG_INTS(FIELD)
#undef FIELD
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].file != f[i].model)
            return fm_errorf(err, errlen, FM_ERR_FORMAT,
                             "config mismatch: %s is %d in the file, %d in the model", f[i].name,
                             f[i].file, f[i].model);
    for (int l = 0; l < a->levels; l++)
        if (a->channel_mult[l] != want->channel_mult[l])
            return fm_errorf(err, errlen, FM_ERR_FORMAT,
                             "config mismatch: channel_mult[%d] is %d in the file, %d in the model",
                             l, a->channel_mult[l], want->channel_mult[l]);
    return FM_OK;
}

fm_status fm_weights_expect(const fm_weights *w, const char *name, fm_dtype dtype, int ndim,
                            const int64_t *shape, fm_wtensor *out, char *err, size_t errlen)
{
    if (!w || !name || !shape || !out || ndim < 1 || ndim > 4)
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_weights_expect: bad argument");
    int i = fm_weights_find(w, name);
    if (i < 0)
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "tensor '%s' missing from the file", name);
    fm_wtensor t;
    fm_weights_tensor(w, i, &t);
    int same = t.dtype == dtype && t.ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t.shape[d] == shape[d];
    if (!same) {
        uint64_t fs[4], ms[4];
        char a[96], b[96];
        for (int d = 0; d < 4; d++) {
            fs[d] = (uint64_t)t.shape[d];
            ms[d] = d < ndim ? (uint64_t)shape[d] : 1;
        }
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "tensor '%s': file has %s %s, model expects %s %s", name,
                         fm_wf_dtype_name(t.dtype), shape_str(fs, t.ndim, a, sizeof a),
                         fm_wf_dtype_name(dtype), shape_str(ms, ndim, b, sizeof b));
    }
    *out = t;
    return FM_OK;
}

int fm_weights_contiguous(const fm_weights *w, int first, int count, const void **data,
                          size_t *bytes)
{
    if (!w || first < 0 || count < 1 || first > w->ntensors - count)
        return 0;
    fm_wtensor t;
    fm_weights_tensor(w, first, &t);
    const uint8_t *start = t.data, *end = start + t.bytes;
    for (int i = first + 1; i < first + count; i++) {
        fm_weights_tensor(w, i, &t);
        if ((const uint8_t *)t.data != end)
            return 0;
        end += t.bytes;
    }
    if (data)
        *data = start;
    if (bytes)
        *bytes = (size_t)(end - start);
    return 1;
}

size_t fm_f32_nonfinite(const void *data, size_t n, size_t *negative)
{
    const unsigned char *p = data;
    size_t bad = 0, neg = 0;
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, p + i * sizeof v, sizeof v); /* file offsets are only 4-aligned */
        bad += !isfinite(v);
        neg += v < 0;
    }
    if (negative)
        *negative = neg;
    return bad;
}
