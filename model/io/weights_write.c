/* Writing the flat weights / checkpoint format: check what the reader will check,
 * pack the header, directory and metadata, and save crash-safely through
 * fm_file_write_atomic (file.c: POSIX rename/fsync); layout in weights.h,
 * weights_format.h and docs/weights-format.md. Builds without a file system
 * (microcontrollers) leave this file out and keep only weights_read.c. Every field
 * is packed byte by byte (little-endian), never through a struct, so the file does
 * not depend on the compiler's padding or the host's byte order. */
#include "weights.h"

#include <inttypes.h>
#include <string.h>

#include "file.h"
#include "weights_format.h"

/* ---- fields ------------------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* The config slots of cfg into the fixed header h: slots 0..15 always, 16..31 (at
 * H_CONFIG_HI) only in a version 3 header, which has room for them. */
static void config_pack(uint8_t *h, uint32_t version, const int32_t v[FM_CONFIG_SLOTS])
{
    for (int i = 0; i < FM_CONFIG_SLOTS; i++)
        if (i < H_CONFIG_LO_SLOTS || version >= 3)
            put32(h + fm_wf_config_at(i), (uint32_t)v[i]);
}

/* The lowest version that holds cfg (packed in v): 3 when a slot beyond the fixed
 * header's 16 is set (a text encoder), else 1 for a U-Net (architecture 0; older
 * builds read it), 2 for another architecture. */
static uint32_t version_of(const fm_config *c, const int32_t v[FM_CONFIG_SLOTS])
{
    for (int i = H_CONFIG_LO_SLOTS; i < FM_CONFIG_SLOTS; i++)
        if (v[i])
            return 3;
    return c->arch == 0 ? 1 : 2;
}

/* strnlen is POSIX, not C11. */
static size_t bounded_len(const char *s, size_t n)
{
    size_t l = 0;
    while (l < n && s[l])
        l++;
    return l;
}

/* ---- save -------------------------------------------------------------------------- */

/* Header (hbytes), directory, metadata and padding up to the payload. */
static size_t header_block(size_t hbytes, int nt, int nmeta)
{
    return (size_t)align_up(hbytes + (uint64_t)FM_WEIGHTS_DIR_BYTES * nt +
                                (uint64_t)FM_WEIGHTS_META_BYTES * nmeta,
                            FM_WEIGHTS_ALIGN);
}

size_t fm_weights_save_scratch(int nt, int nmeta)
{
    /* Beyond the format's limits fm_weights_save refuses anyway; the bound also
     * keeps the sums below far from overflowing a 32-bit size_t. */
    if (nt < 0 || nmeta < 0 || nt > FM_WEIGHTS_MAX_TENSORS || nmeta > FM_WEIGHTS_MAX_META)
        return 0;
    size_t nchunks = 2 * (size_t)nt + 2;
    return header_block(FM_WEIGHTS_HEADER_MAX, nt, nmeta) +
           align_up(sizeof(void *) * nchunks, FM_ARENA_MIN_ALIGN) +
           align_up(sizeof(size_t) * nchunks, FM_ARENA_MIN_ALIGN);
}

/* The tensors fm_weights_save is given: names, dtypes (one float dtype for all,
 * returned in *fdt), shapes against byte counts, data, no name twice. */
static fm_status check_save_tensors(const char *path, const fm_wtensor *t, int nt, fm_dtype *fdt,
                                    char *err, size_t errlen)
{
    *fdt = FM_F32;
    int have_float = 0;
    for (int i = 0; i < nt; i++) {
        const fm_wtensor *x = &t[i];
        size_t nl = bounded_len(x->name, FM_WEIGHTS_NAME);
        if (nl == 0 || nl == FM_WEIGHTS_NAME)
            return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor %d: name empty or longer than %d",
                             path, i, FM_WEIGHTS_NAME - 1);
        if (!fm_wf_dtype_ok((uint32_t)x->dtype))
            return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor '%s': dtype %d not storable",
                             path, x->name, (int)x->dtype);
        if (fm_wf_dtype_float((uint32_t)x->dtype)) {
            if (have_float && x->dtype != *fdt)
                return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor '%s' is %s, others are %s",
                                 path, x->name, fm_wf_dtype_name(x->dtype), fm_wf_dtype_name(*fdt));
            *fdt = x->dtype;
            have_float = 1;
        }
        if (x->ndim < 1 || x->ndim > 4)
            return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor '%s': ndim %d, expected 1..4",
                             path, x->name, x->ndim);
        uint64_t shape[4], b = 0;
        for (int d = 0; d < x->ndim; d++) {
            if (x->shape[d] < 1)
                return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor '%s': dim %d is %" PRId64,
                                 path, x->name, d, x->shape[d]);
            shape[d] = (uint64_t)x->shape[d];
        }
        if (!fm_wf_shape_bytes(shape, x->ndim, fm_dtype_size(x->dtype), &b) || b > SIZE_MAX)
            return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor '%s': shape overflows", path,
                             x->name);
        if (b != x->bytes)
            return fm_errorf(err, errlen, FM_ERR_ARG,
                             "%s: tensor '%s': %zu bytes, shape says %" PRIu64, path, x->name,
                             x->bytes, b);
        if (!x->data)
            return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor '%s': no data", path, x->name);
        for (int j = 0; j < i; j++)
            if (strcmp(t[j].name, x->name) == 0)
                return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor name '%s' appears twice",
                                 path, x->name);
    }
    return FM_OK;
}

/* Metadata keys: present, short enough, none twice. */
static fm_status check_save_meta(const char *path, const fm_wmeta *meta, int nmeta, char *err,
                                 size_t errlen)
{
    for (int i = 0; i < nmeta; i++) {
        size_t kl = bounded_len(meta[i].key, FM_WEIGHTS_KEY);
        if (kl == 0 || kl == FM_WEIGHTS_KEY)
            return fm_errorf(err, errlen, FM_ERR_ARG,
                             "%s: metadata %d: key empty or longer than %d", path, i,
                             FM_WEIGHTS_KEY - 1);
        for (int j = 0; j < i; j++)
            if (strcmp(meta[j].key, meta[i].key) == 0)
                return fm_errorf(err, errlen, FM_ERR_ARG, "%s: metadata key '%s' appears twice",
                                 path, meta[i].key);
    }

    return FM_OK;
}

/* Header h (hdr bytes: fixed header of this version, directory, metadata) filled in,
 * and the chunks of the file listed in order: header, then each tensor's bytes and its
 * padding to 4. Returns the number of chunks; the CRC trailer is the caller's. */
static int pack_file(uint8_t *h, size_t hdr, uint32_t version, const int32_t v[FM_CONFIG_SLOTS],
                     const void **chunks, size_t *sizes, int kind, const fm_wtensor *t, int nt,
                     const fm_wmeta *meta, int nmeta, fm_dtype fdt)
{
    static const uint8_t zeros[4];
    const size_t hbytes = fm_weights_header_bytes(version);
    memset(h, 0, hdr);
    uint64_t off = 0;
    int c = 0;
    chunks[c] = h;
    sizes[c++] = hdr;
    for (int i = 0; i < nt; i++) {
        uint8_t *e = h + hbytes + (size_t)FM_WEIGHTS_DIR_BYTES * i;
        memcpy(e + D_NAME, t[i].name, strlen(t[i].name));
        put32(e + D_DTYPE, (uint32_t)t[i].dtype);
        put32(e + D_NDIM, (uint32_t)t[i].ndim);
        for (int d = 0; d < 4; d++)
            put64(e + D_SHAPE + 8 * d, d < t[i].ndim ? (uint64_t)t[i].shape[d] : 1);
        put64(e + D_OFFSET, off);
        put64(e + D_BYTES, t[i].bytes);
        uint64_t end = off + t[i].bytes, next = align_up(end, 4);
        chunks[c] = t[i].data;
        sizes[c++] = t[i].bytes;
        chunks[c] = zeros;
        sizes[c++] = (size_t)(next - end);
        off = next;
    }
    for (int i = 0; i < nmeta; i++) {
        uint8_t *e = h + hbytes + (size_t)FM_WEIGHTS_DIR_BYTES * nt +
                     (size_t)FM_WEIGHTS_META_BYTES * i;
        memcpy(e + M_KEY, meta[i].key, strlen(meta[i].key));
        put64(e + M_VALUE, meta[i].value);
    }
    memcpy(h + H_MAGIC, FM_WEIGHTS_MAGIC, 8);
    put32(h + H_VERSION, version);
    put32(h + H_KIND, (uint32_t)kind);
    put32(h + H_HEADER_BYTES, (uint32_t)hbytes);
    put32(h + H_DTYPE, (uint32_t)fdt);
    config_pack(h, version, v);
    put32(h + H_NTENSORS, (uint32_t)nt);
    put32(h + H_NMETA, (uint32_t)nmeta);
    put64(h + H_PAYLOAD_OFF, hdr);
    put64(h + H_PAYLOAD_BYTES, off);

    return c;
}

fm_status fm_weights_save(const char *path, int kind, const fm_config *cfg, const fm_wtensor *t,
                          int nt, const fm_wmeta *meta, int nmeta, fm_arena *scratch, char *err,
                          size_t errlen)
{
    char msg[160];
    if (!path || !cfg || !scratch || !scratch->base || (nt > 0 && !t) || (nmeta > 0 && !meta))
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_weights_save: NULL argument");
    if (kind != FM_WEIGHTS_KIND_WEIGHTS && kind != FM_WEIGHTS_KIND_CHECKPOINT)
        return fm_errorf(err, errlen, FM_ERR_ARG,
                         "%s: kind %d, expected 0 (weights) or 1 (checkpoint)", path, kind);
    if (nt < 0 || nt > FM_WEIGHTS_MAX_TENSORS || nmeta < 0 || nmeta > FM_WEIGHTS_MAX_META)
        return fm_errorf(err, errlen, FM_ERR_ARG,
                         "%s: %d tensors / %d metadata entries, limits %d / %d", path, nt, nmeta,
                         FM_WEIGHTS_MAX_TENSORS, FM_WEIGHTS_MAX_META);
    if (fm_config_validate(cfg, msg, sizeof msg) != FM_OK)
        return fm_errorf(err, errlen, FM_ERR_ARG, "%s: config: %s", path, msg);

    fm_dtype fdt;
    fm_status s = check_save_tensors(path, t, nt, &fdt, err, errlen);
    if (s == FM_OK)
        s = check_save_meta(path, meta, nmeta, err, errlen);
    if (s != FM_OK)
        return s;

    /* Header, directory, metadata and padding: one block in scratch. */
    int32_t v[FM_CONFIG_SLOTS];
    fm_config_pack(cfg, v);
    const uint32_t version = version_of(cfg, v);
    size_t hdr = header_block(fm_weights_header_bytes(version), nt, nmeta);
    int nchunks = 1 + 2 * nt + 1; /* header, tensor + padding each, CRC */
    fm_arena_mark mark = fm_arena_get_mark(scratch, "weights save");
    size_t off_h, off_c, off_s;
    if (fm_arena_alloc(scratch, hdr, &off_h) != FM_OK ||
        fm_arena_alloc(scratch, sizeof(void *) * (size_t)nchunks, &off_c) != FM_OK ||
        fm_arena_alloc(scratch, sizeof(size_t) * (size_t)nchunks, &off_s) != FM_OK) {
        fm_arena_reset(scratch, mark);
        return fm_errorf(err, errlen, FM_ERR_ARENA,
                         "%s: scratch arena too small for the %zu-byte header", path, hdr);
    }
    uint8_t *h = fm_arena_ptr(scratch, off_h);
    const void **chunks = fm_arena_ptr(scratch, off_c);
    size_t *sizes = fm_arena_ptr(scratch, off_s);

    int c = pack_file(h, hdr, version, v, chunks, sizes, kind, t, nt, meta, nmeta, fdt);
    uint32_t crc = 0; /* zlib's crc32(0, Z_NULL, 0) */
    for (int i = 0; i < c; i++)
        crc = fm_wf_crc(crc, chunks[i], sizes[i]);
    uint8_t trailer[4];
    put32(trailer, crc);
    chunks[c] = trailer;
    sizes[c++] = 4;
    s = fm_file_write_atomic(path, chunks, sizes, c, err, errlen);
    fm_arena_reset(scratch, mark);
    return s;
}
