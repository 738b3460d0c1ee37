/* The flat weights / checkpoint format; layout in weights.h and
 * docs/weights-format.md. Every field is packed and unpacked byte by byte
 * (little-endian), never through a struct, so the file does not depend on the
 * compiler's padding or the host's byte order. */
#include "weights.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef FMRT_NO_ZLIB
#include "crc32.h"
#else
#include <zlib.h>
#endif
#ifndef FMRT_NO_FILES
#include "io.h"
#endif

/* Helpers of the save path only: unused when FMRT_NO_FILES leaves it out. */
#if defined(FMRT_NO_FILES) && defined(__GNUC__)
#define SAVE_ONLY __attribute__((unused))
#else
#define SAVE_ONLY
#endif

/* ---- layout ------------------------------------------------------------------------ */

/* Fixed header. */
enum {
    H_MAGIC = 0,          /* char[8] "FMRTWGT1" */
    H_VERSION = 8,        /* u32 */
    H_KIND = 12,          /* u32: 0 weights, 1 checkpoint */
    H_HEADER_BYTES = 16,  /* u32: 112, where the directory starts */
    H_DTYPE = 20,         /* u32: fm_dtype of the float tensors */
    H_CONFIG = 24,        /* i32[16] */
    H_NTENSORS = 88,      /* u32 */
    H_NMETA = 92,         /* u32 */
    H_PAYLOAD_OFF = 96,   /* u64, multiple of 64 */
    H_PAYLOAD_BYTES = 104 /* u64 */
};
/* Directory entry. */
enum { D_NAME = 0, D_DTYPE = 48, D_NDIM = 52, D_SHAPE = 56, D_OFFSET = 88, D_BYTES = 96 };
/* Metadata entry. */
enum { M_KEY = 0, M_VALUE = 32 };
/* Config slots: in_channels, image, base_channels, levels, channel_mult[4],
 * res_blocks, time_dim, heads, groups, num_classes, 3 reserved (zero). */
#define NCONFIG 16

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static SAVE_ONLY void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static SAVE_ONLY uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* The file's CRC-32: zlib's on the host (the project's choice); builds without zlib
 * (FMRT_NO_ZLIB, microcontrollers) use the table-driven fm_crc32, which gives the
 * same values (tests/test_crc32.c). crc starts at 0. */
#ifdef FMRT_NO_ZLIB
static uint32_t crc_update(uint32_t crc, const void *data, size_t n)
{
    return fm_crc32(crc, data, n);
}
#else
/* zlib's crc32 takes a uInt length; feed big buffers in pieces. */
static uint32_t crc_update(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}
#endif

/* Slot 13 holds the architecture (version 2); the slots of the other family are 0. */
#define SLOT_ARCH 13
enum { FAM_ALL, FAM_UNET, FAM_DIT };
static int in_family(int fam, int arch)
{
    return fam == FAM_ALL || (fam == FAM_UNET) == (arch == FM_ARCH_UNET);
}

static SAVE_ONLY void config_pack(uint8_t *p, const fm_config *c)
{
    int32_t v[NCONFIG] = {0};
#define PACK(f, slot, fam)                                                                         \
    if (in_family(FAM_##fam, c->arch))                                                             \
        v[slot] = c->f;
    FM_CONFIG_INTS(PACK)
#undef PACK
    if (c->arch == FM_ARCH_UNET) {
        v[3] = c->levels;
        for (int l = 0; l < FM_MAX_LEVELS; l++)
            v[4 + l] = l < c->levels ? c->channel_mult[l] : 0;
    }
    v[SLOT_ARCH] = c->arch;
    for (int i = 0; i < NCONFIG; i++)
        put32(p + 4 * i, (uint32_t)v[i]);
}

static void config_unpack(const uint8_t *p, fm_config *c, int32_t v[NCONFIG])
{
    for (int i = 0; i < NCONFIG; i++)
        v[i] = (int32_t)get32(p + 4 * i);
    memset(c, 0, sizeof *c);
    c->arch = v[SLOT_ARCH];
#define UNPACK(f, slot, fam)                                                                       \
    if (in_family(FAM_##fam, c->arch))                                                             \
        c->f = v[slot];
    FM_CONFIG_INTS(UNPACK)
#undef UNPACK
    if (c->arch == FM_ARCH_UNET) {
        c->levels = v[3];
        for (int l = 0; l < FM_MAX_LEVELS; l++)
            c->channel_mult[l] = v[4 + l];
    }
}

/* Whether slot i of the config block carries a field of c's architecture. */
static int slot_used(const fm_config *c, int i)
{
    int used = i == SLOT_ARCH || (c->arch == FM_ARCH_UNET && i >= 3 && i < 4 + c->levels);
#define USED(f, slot, fam) used |= slot == i && in_family(FAM_##fam, c->arch);
    FM_CONFIG_INTS(USED)
#undef USED
    return used;
}

/* The lowest version that holds cfg: 1 for a U-Net (older builds read it), 2 for
 * another architecture. */
static SAVE_ONLY uint32_t version_of(const fm_config *c)
{
    return c->arch == FM_ARCH_UNET ? 1 : 2;
}

/* strnlen is POSIX, not C11. */
static SAVE_ONLY size_t bounded_len(const char *s, size_t n)
{
    size_t l = 0;
    while (l < n && s[l])
        l++;
    return l;
}

static int dtype_ok(uint32_t d)
{
    return d == FM_F32 || d == FM_F16 || d == FM_I32 || d == FM_U8;
}
static int dtype_float(uint32_t d)
{
    return d == FM_F32 || d == FM_F16;
}
static const char *dname(uint32_t d)
{
    return d < FM_DTYPE_COUNT ? fm_dtype_name((fm_dtype)d) : "?";
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

/* prod(shape[0..ndim)) * size into *bytes; 0 on overflow of 64 bits. */
static int shape_bytes(const uint64_t *shape, int ndim, uint64_t size, uint64_t *bytes)
{
    uint64_t b = size;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0 || b > UINT64_MAX / shape[d])
            return 0;
        b *= shape[d];
    }
    *bytes = b;
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

/* ---- save -------------------------------------------------------------------------- */

/* Writing files needs io.c (POSIX rename/fsync): builds without a file system
 * (FMRT_NO_FILES, microcontrollers) keep only the parser. */
#ifndef FMRT_NO_FILES

/* Header, directory, metadata and padding up to the payload. */
static size_t header_block(int nt, int nmeta)
{
    return (size_t)align_up(FM_WEIGHTS_HEADER_BYTES + (uint64_t)FM_WEIGHTS_DIR_BYTES * nt +
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
    return header_block(nt, nmeta) + align_up(sizeof(void *) * nchunks, FM_ARENA_MIN_ALIGN) +
           align_up(sizeof(size_t) * nchunks, FM_ARENA_MIN_ALIGN);
}

/* The tensors fm_weights_save is given: names, dtypes (one float dtype for all,
 * returned in *fdt), shapes against byte counts, data, no name twice. */
static SAVE_ONLY fm_status check_save_tensors(const char *path, const fm_wtensor *t, int nt,
                                              fm_dtype *fdt, char *err, size_t errlen)
{
    *fdt = FM_F32;
    int have_float = 0;
    for (int i = 0; i < nt; i++) {
        const fm_wtensor *x = &t[i];
        size_t nl = bounded_len(x->name, FM_WEIGHTS_NAME);
        if (nl == 0 || nl == FM_WEIGHTS_NAME)
            return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor %d: name empty or longer than %d",
                             path, i, FM_WEIGHTS_NAME - 1);
        if (!dtype_ok((uint32_t)x->dtype))
            return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor '%s': dtype %d not storable",
                             path, x->name, (int)x->dtype);
        if (dtype_float((uint32_t)x->dtype)) {
            if (have_float && x->dtype != *fdt)
                return fm_errorf(err, errlen, FM_ERR_ARG, "%s: tensor '%s' is %s, others are %s",
                                 path, x->name, dname(x->dtype), dname(*fdt));
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
        if (!shape_bytes(shape, x->ndim, fm_dtype_size(x->dtype), &b) || b > SIZE_MAX)
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
static SAVE_ONLY fm_status check_save_meta(const char *path, const fm_wmeta *meta, int nmeta,
                                           char *err, size_t errlen)
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

/* Header h (hdr bytes: fixed header, directory, metadata) filled in, and the chunks of
 * the file listed in order: header, then each tensor's bytes and its padding to 4.
 * Returns the number of chunks; the CRC trailer is the caller's. */
static SAVE_ONLY int pack_file(uint8_t *h, size_t hdr, const void **chunks, size_t *sizes, int kind,
                               const fm_config *cfg, const fm_wtensor *t, int nt,
                               const fm_wmeta *meta, int nmeta, fm_dtype fdt)
{
    static const uint8_t zeros[4];
    memset(h, 0, hdr);
    uint64_t off = 0;
    int c = 0;
    chunks[c] = h;
    sizes[c++] = hdr;
    for (int i = 0; i < nt; i++) {
        uint8_t *e = h + FM_WEIGHTS_HEADER_BYTES + (size_t)FM_WEIGHTS_DIR_BYTES * i;
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
        uint8_t *e = h + FM_WEIGHTS_HEADER_BYTES + (size_t)FM_WEIGHTS_DIR_BYTES * nt +
                     (size_t)FM_WEIGHTS_META_BYTES * i;
        memcpy(e + M_KEY, meta[i].key, strlen(meta[i].key));
        put64(e + M_VALUE, meta[i].value);
    }
    memcpy(h + H_MAGIC, FM_WEIGHTS_MAGIC, 8);
    put32(h + H_VERSION, version_of(cfg));
    put32(h + H_KIND, (uint32_t)kind);
    put32(h + H_HEADER_BYTES, FM_WEIGHTS_HEADER_BYTES);
    put32(h + H_DTYPE, (uint32_t)fdt);
    config_pack(h + H_CONFIG, cfg);
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
    size_t hdr = header_block(nt, nmeta);
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

    int c = pack_file(h, hdr, chunks, sizes, kind, cfg, t, nt, meta, nmeta, fdt);
    uint32_t crc = 0; /* zlib's crc32(0, Z_NULL, 0) */
    for (int i = 0; i < c; i++)
        crc = crc_update(crc, chunks[i], sizes[i]);
    uint8_t trailer[4];
    put32(trailer, crc);
    chunks[c] = trailer;
    sizes[c++] = 4;
    s = fm_file_write_atomic(path, chunks, sizes, c, err, errlen);
    fm_arena_reset(scratch, mark);
    return s;
}
#endif /* FMRT_NO_FILES */

/* ---- parse ------------------------------------------------------------------------- */

/* Name the format a foreign file seems to be in, or "". */
static const char *magic_hint(const uint8_t *p, size_t len)
{
    if (len >= 7 && memcmp(p, FM_WEIGHTS_MAGIC, 7) == 0)
        return " (an fmrt weights file of another format generation)";
    if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return " (looks like gzip: decompress it first)";
    if (len >= 4 && memcmp(p, "PK\x03\x04", 4) == 0)
        return " (looks like a zip archive, e.g. a PyTorch .pt/.pth: convert it first)";
    if (len >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5)
        return " (looks like a Python pickle, e.g. an old torch.save: convert it first)";
    if (len >= 6 && memcmp(p, "\x93NUMPY", 6) == 0)
        return " (looks like a NumPy .npy array)";
    if (len >= 4 && memcmp(p, "\x89PNG", 4) == 0)
        return " (looks like a PNG image)";
    if (len >= 4 && memcmp(p, "GGUF", 4) == 0)
        return " (looks like a GGUF model)";
    if (len >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0x08 && p[3] >= 1 && p[3] <= 4)
        return " (looks like an IDX data file, e.g. MNIST)";
    if (len >= 9 && p[8] == '{' && get64(p) <= len - 8)
        return " (looks like safetensors: convert it first)";
    return "";
}

/* The fixed header's fields, once checked. */
typedef struct header {
    uint32_t version, kind, dtype, nt, nm, crc;
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
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "wrong magic \"%s\", expected \"%s\"%s", shown,
                         FM_WEIGHTS_MAGIC, magic_hint(p, len));
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
    if (hbytes != FM_WEIGHTS_HEADER_BYTES)
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "header size %" PRIu32 ", the format has %d",
                         hbytes, FM_WEIGHTS_HEADER_BYTES);
    if (kind > FM_WEIGHTS_KIND_CHECKPOINT)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "unknown kind %" PRIu32 ", expected 0 (weights) or 1 (checkpoint)", kind);
    if (nt > FM_WEIGHTS_MAX_TENSORS || nm > FM_WEIGHTS_MAX_META)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "%" PRIu32 " tensors / %" PRIu32 " metadata entries, limits %d / %d", nt,
                         nm, FM_WEIGHTS_MAX_TENSORS, FM_WEIGHTS_MAX_META);
    /* nt, nm are small now: no overflow below. */
    uint64_t meta_end = FM_WEIGHTS_HEADER_BYTES + (uint64_t)FM_WEIGHTS_DIR_BYTES * nt +
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
    uint32_t crc = h->crc = crc_update(0, p, len - 4);
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
                         h->dtype, dname(h->dtype), FM_F32, FM_F16);
    int32_t cv[NCONFIG];
    char msg[160];
    config_unpack(p + H_CONFIG, &w->cfg, cv);
    if (h->version == 1 && cv[SLOT_ARCH] != 0)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "config: reserved slot %d is %" PRId32 ", expected 0 (version 1 files "
                         "hold U-Nets only)",
                         SLOT_ARCH, cv[SLOT_ARCH]);
    if (fm_config_validate(&w->cfg, msg, sizeof msg) != FM_OK)
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "config: %s", msg);
    const int unet = w->cfg.arch == FM_ARCH_UNET;
    for (int l = w->cfg.levels; unet && l < FM_MAX_LEVELS; l++)
        if (cv[4 + l])
            return fm_errorf(err, errlen, FM_ERR_FORMAT,
                             "config: channel_mult[%d] = %" PRId32 " beyond levels %d, expected 0",
                             l, cv[4 + l], w->cfg.levels);
    for (int i = 0; i < NCONFIG; i++)
        if (cv[i] && !slot_used(&w->cfg, i))
            return fm_errorf(err, errlen, FM_ERR_FORMAT,
                             "config: %s slot %d is %" PRId32 ", expected 0",
                             i > SLOT_ARCH ? "reserved" : unet ? "U-Net's unused" : "DiT's unused",
                             i, cv[i]);

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
    if (!dtype_ok(dt))
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "tensor '%s': dtype %" PRIu32 " unknown", name,
                         dt);
    if (dtype_float(dt) && dt != dtype)
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "tensor '%s' is %s, the header says %s", name,
                         dname(dt), dname(dtype));
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
    if (!shape_bytes(shape, (int)ndim, fm_dtype_size((fm_dtype)dt), &bytes))
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "tensor '%s': shape %s overflows", name,
                         shape_str(shape, (int)ndim, sh, sizeof sh));
    uint64_t toff = get64(e + D_OFFSET), tb = get64(e + D_BYTES);
    if (tb != bytes)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "tensor '%s': %" PRIu64 " bytes, shape %s of %s needs %" PRIu64, name, tb,
                         shape_str(shape, (int)ndim, sh, sizeof sh), dname(dt), bytes);
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
    const uint8_t *dir = p + FM_WEIGHTS_HEADER_BYTES;
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
#define FIELD(x, slot, fam) {#x, a->x, want->x},
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
                         "tensor '%s': file has %s %s, model expects %s %s", name, dname(t.dtype),
                         shape_str(fs, t.ndim, a, sizeof a), dname(dtype),
                         shape_str(ms, ndim, b, sizeof b));
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
