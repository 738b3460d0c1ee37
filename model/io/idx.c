/* IDX reading (raw or gzip) and the MNIST data sets; see idx.h.
 *
 * All reads go through open/read with a buffer on the stack, so not even stdio
 * allocates on our behalf; zlib draws its inflate state from the caller's arena. */
#define _POSIX_C_SOURCE 200809L

#include "idx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

/* ---- a byte source: raw file or gzip stream ------------------------------------ */

typedef struct idx_src {
    const char *path;
    int fd; /* -1: the bytes come from mem instead (fm_idx_parse) */
    const uint8_t *mem;
    size_t mem_len, mem_pos;
    int gz;          /* 1: the file is gzip'd and bytes come out of inflate */
    int zinit;       /* inflateInit2 succeeded (inflateEnd is due) */
    int zend;        /* the current gzip member reached Z_STREAM_END */
    int in_eof;      /* read() returned 0 */
    int arena_short; /* a zlib allocation did not fit in the arena */
    fm_arena *arena;
    z_stream zs; /* next_in/avail_in also serve the raw path */
    uint8_t in[16384];
} idx_src;

/* zlib's allocator hooks. zfree is a no-op: a bump arena cannot free single
 * blocks, and it need not, because fm_idx_load resets the arena to a mark taken
 * before inflateInit2 once inflateEnd has run, which releases all of zlib's state
 * (about 7 KiB of inflate state plus the 32 KiB window) at once. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    idx_src *s = opaque;
    size_t off;
    if (size && items > SIZE_MAX / size) {
        s->arena_short = 1;
        return Z_NULL;
    }
    if (fm_arena_alloc(s->arena, (size_t)items * size, &off) != FM_OK) {
        s->arena_short = 1;
        return Z_NULL;
    }
    return fm_arena_ptr(s->arena, off);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    (void)p;
}

/* Make input available: 1 when zs.avail_in > 0, 0 at end of file, -1 on a read
 * error (errno set). */
static int src_fill(idx_src *s)
{
    if (s->zs.avail_in)
        return 1;
    if (s->in_eof)
        return 0;
    if (s->fd < 0) {
        /* Memory: hand zlib the rest of the image directly, in uInt-sized pieces. */
        size_t k = s->mem_len - s->mem_pos;
        if (k == 0) {
            s->in_eof = 1;
            return 0;
        }
        if (k > UINT_MAX)
            k = UINT_MAX;
        s->zs.next_in = (Bytef *)(uintptr_t)(s->mem + s->mem_pos);
        s->zs.avail_in = (uInt)k;
        s->mem_pos += k;
        return 1;
    }
    ssize_t r;
    do
        r = read(s->fd, s->in, sizeof s->in);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    if (r == 0) {
        s->in_eof = 1;
        return 0;
    }
    s->zs.next_in = s->in;
    s->zs.avail_in = (uInt)r;
    return 1;
}

/* Start decoding at the current input position (buffered input is kept). */
static fm_status src_begin(idx_src *s, char *err, size_t errlen)
{
    s->zend = 0;
    if (!s->gz)
        return FM_OK;
    s->zs.zalloc = z_alloc;
    s->zs.zfree = z_free;
    s->zs.opaque = s;
    int rc = inflateInit2(&s->zs, 16 + MAX_WBITS); /* 16: gzip wrapper only */
    if (rc != Z_OK)
        return s->arena_short ? fm_errorf(err, errlen, FM_ERR_ARENA,
                                          "%s: arena too small for zlib's inflate state", s->path)
                              : fm_errorf(err, errlen, FM_ERR_FORMAT,
                                          "%s: inflateInit2 failed (%d)", s->path, rc);
    s->zinit = 1;
    return FM_OK;
}

static void src_end(idx_src *s)
{
    if (s->zinit)
        inflateEnd(&s->zs);
    s->zinit = 0;
}

/* Up to n decompressed bytes into dst; *got < n only at a clean end of the data
 * (end of a raw file, or end of the last gzip member with no input left). A gzip
 * stream cut short, corrupt data or garbage after the stream are errors. */
static fm_status src_read(idx_src *s, uint8_t *dst, size_t n, size_t *got, char *err, size_t errlen)
{
    *got = 0;
    while (*got < n) {
        int f = src_fill(s);
        if (f < 0)
            return fm_errorf(err, errlen, FM_ERR_IO, "%s: read failed: %s", s->path,
                             strerror(errno));
        if (!s->gz) {
            if (f == 0)
                return FM_OK;
            size_t k = n - *got < s->zs.avail_in ? n - *got : s->zs.avail_in;
            memcpy(dst + *got, s->zs.next_in, k);
            s->zs.next_in += k;
            s->zs.avail_in -= (uInt)k;
            *got += k;
            continue;
        }
        if (s->zend) {
            if (f == 0)
                return FM_OK; /* the last member ended with the file */
            /* Concatenated gzip members are one stream (RFC 1952); anything else
             * after a member is garbage. */
            if (s->zs.next_in[0] != 0x1f)
                return fm_errorf(err, errlen, FM_ERR_FORMAT,
                                 "%s: trailing garbage after the gzip stream (byte 0x%02x)",
                                 s->path, s->zs.next_in[0]);
            inflateReset(&s->zs);
            s->zend = 0;
        }
        size_t want = n - *got > UINT_MAX ? UINT_MAX : n - *got;
        uInt in0 = s->zs.avail_in;
        s->zs.next_out = dst + *got;
        s->zs.avail_out = (uInt)want;
        int rc = inflate(&s->zs, Z_NO_FLUSH);
        size_t made = want - s->zs.avail_out;
        *got += made;
        if (rc == Z_STREAM_END) {
            s->zend = 1;
            continue;
        }
        if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT)
            return fm_errorf(err, errlen, FM_ERR_FORMAT, "%s: corrupt gzip stream (%s)", s->path,
                             s->zs.msg ? s->zs.msg : "bad data");
        if (rc == Z_MEM_ERROR)
            return fm_errorf(err, errlen, FM_ERR_ARENA,
                             "%s: arena too small for zlib's inflate window", s->path);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return fm_errorf(err, errlen, FM_ERR_FORMAT, "%s: inflate failed (%d)", s->path, rc);
        if (made == 0 && in0 == s->zs.avail_in && f == 0)
            return fm_errorf(err, errlen, FM_ERR_FORMAT,
                             "%s: truncated gzip stream (file ends inside the compressed data)",
                             s->path);
    }
    return FM_OK;
}

/* ---- IDX ------------------------------------------------------------------------- */

/* The IDX type codes (LeCun's page): 0x08 u8, 0x09 i8, 0x0b i16, 0x0c i32, 0x0d f32,
 * 0x0e f64 (big-endian items). */
static const char *idx_type_name(int t)
{
    switch (t) {
    case 0x08: return "u8";
    case 0x09: return "i8";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    case 0x0E: return "f64";
    default: return "no IDX type";
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read and check the header: magic, type, ndim, dims and the payload size. */
static fm_status idx_header(idx_src *s, uint8_t *hdr, size_t *hlen, fm_idx *out, size_t *payload,
                            char *err, size_t errlen)
{
    size_t got;
    fm_status st = src_read(s, hdr, 4, &got, err, errlen);
    if (st)
        return st;
    if (got >= 2 && (hdr[0] != 0 || hdr[1] != 0))
        return fm_errorf(
            err, errlen, FM_ERR_FORMAT,
            "%s: not an IDX file (magic %02x %02x %02x %02x, expected 00 00 08 <ndim>)", s->path,
            hdr[0], hdr[1], got > 2 ? hdr[2] : 0, got > 3 ? hdr[3] : 0);
    if (got < 4)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "%s: truncated: %zu bytes of data, an IDX header needs at least 4",
                         s->path, got);
    if (hdr[2] != 0x08)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "%s: IDX type 0x%02x (%s?) is not u8 images/labels (type 0x08)",
                         s->path, hdr[2], idx_type_name(hdr[2]));
    int ndim = hdr[3];
    if (ndim < 1 || ndim > 4)
        return fm_errorf(err, errlen, FM_ERR_FORMAT, "%s: IDX ndim %d, expected 1..4", s->path,
                         ndim);
    st = src_read(s, hdr + 4, 4 * (size_t)ndim, &got, err, errlen);
    if (st)
        return st;
    if (got < 4 * (size_t)ndim)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "%s: truncated: IDX header needs %d bytes for %d dims, file holds %zu",
                         s->path, 4 + 4 * ndim, ndim, 4 + got);
    *hlen = 4 + 4 * (size_t)ndim;
    out->ndim = ndim;
    size_t total = 1;
    for (int d = 0; d < 4; d++) {
        uint32_t v = d < ndim ? be32(hdr + 4 + 4 * d) : 1;
        if (v == 0)
            return fm_errorf(err, errlen, FM_ERR_FORMAT, "%s: IDX dim %d is 0", s->path, d);
        /* total <= FM_IDX_MAX_BYTES (< 2^31) and v < 2^32: the product fits in 64 bits. */
        uint64_t t = (uint64_t)total * v;
        if (t > FM_IDX_MAX_BYTES)
            return fm_errorf(err, errlen, FM_ERR_FORMAT,
                             "%s: IDX dims announce more than %zu payload bytes", s->path,
                             (size_t)FM_IDX_MAX_BYTES);
        total = (size_t)t;
        out->dims[d] = v;
    }
    out->count = out->dims[0];
    out->item_bytes = total / out->count;
    *payload = total;
    return FM_OK;
}

/* Back to the first byte of the source, with nothing buffered. */
static fm_status src_rewind(idx_src *s, char *err, size_t errlen)
{
    if (s->fd >= 0 && lseek(s->fd, 0, SEEK_SET) != 0)
        return fm_errorf(err, errlen, FM_ERR_IO, "%s: seek failed: %s", s->path, strerror(errno));
    s->mem_pos = 0;
    s->zs.next_in = s->in;
    s->zs.avail_in = 0;
    s->in_eof = 0;
    return FM_OK;
}

/* The last 4 bytes of a gzip source: ISIZE, the last member's decompressed length
 * mod 2^32 (RFC 1952). 0 when the source is too short to be gzip (18 bytes). */
static int gz_isize(const idx_src *s, uint32_t *isize)
{
    uint8_t b[4];
    struct stat st;
    if (s->fd < 0) {
        if (s->mem_len < 18)
            return 0;
        memcpy(b, s->mem + s->mem_len - 4, 4);
    } else if (fstat(s->fd, &st) != 0 || st.st_size < 18 ||
               pread(s->fd, b, 4, st.st_size - 4) != 4) {
        return 0;
    }
    *isize = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

/* Bytes of the source (file or memory image): 1, or 0 when unknown. */
static int src_size(const idx_src *s, uint64_t *size)
{
    struct stat st;
    if (s->fd < 0) {
        *size = s->mem_len;
        return 1;
    }
    if (fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    *size = (uint64_t)st.st_size;
    return 1;
}

/* deflate's largest expansion: a 258-byte match per bit at best, about 1032:1. A
 * gzip member of c bytes decompresses to less than 1032 c. */
#define GZ_MAX_RATIO 1032u

/* What the header claims, for messages: "N labels" (1-D), "N images of HxW" (3-D),
 * else "N items of K bytes". */
static void claim_str(const fm_idx *x, char *buf, size_t len)
{
    if (x->ndim == 1)
        snprintf(buf, len, "%zu labels", x->count);
    else if (x->ndim == 3)
        snprintf(buf, len, "%zu images of %lux%lu", x->count, (unsigned long)x->dims[1],
                 (unsigned long)x->dims[2]);
    else
        snprintf(buf, len, "%zu items of %zu bytes", x->count, x->item_bytes);
}

/* The file can hold what the header claims (header + payload bytes): a raw file has
 * them, a gzip'd one inflates to them at most GZ_MAX_RATIO times its size. Checked
 * before any payload memory is taken, so that a 50-byte file claiming 64 MiB, or a
 * 50 KB gzip claiming 2 GiB, is named as truncated rather than sized for. */
static fm_status claim_fits(const idx_src *s, const fm_idx *x, size_t hlen, size_t payload,
                            char *err, size_t errlen)
{
    uint64_t size;
    char claim[96];
    if (!src_size(s, &size))
        return FM_OK; /* a pipe or device: the read finds a short payload */
    const uint64_t need = (uint64_t)hlen + payload;
    claim_str(x, claim, sizeof claim);
    if (!s->gz && need > size)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "%s: truncated: header claims %s, file has %llu bytes (needs %llu)",
                         s->path, claim, (unsigned long long)size, (unsigned long long)need);
    if (s->gz && need / GZ_MAX_RATIO >= size)
        return fm_errorf(err, errlen, FM_ERR_FORMAT,
                         "%s: truncated: header claims %s (%llu bytes), more than a %llu-byte "
                         "gzip file can inflate to (deflate expands at most %u:1)",
                         s->path, claim, (unsigned long long)need, (unsigned long long)size,
                         GZ_MAX_RATIO);
    return FM_OK;
}

/* The payload does not fit in the arena. A caller that sized the arena from the
 * gzip trailer (as fmrt train does) was misled when the trailer disagrees with the
 * IDX header: name both sizes rather than only the shortfall. */
static fm_status payload_short(const idx_src *s, fm_arena *host, size_t hlen, size_t payload,
                               char *err, size_t errlen)
{
    uint32_t isize;
    if (s->gz && gz_isize(s, &isize) && isize != (uint32_t)(hlen + payload))
        return fm_errorf(
            err, errlen, FM_ERR_ARENA,
            "%s: the decompressed size in the gzip trailer (%lu bytes) disagrees with "
            "the IDX header, which claims %zu (%zu header + %zu payload); the arena has "
            "%zu bytes free",
            s->path, (unsigned long)isize, hlen + payload, hlen, payload,
            fm_arena_free_bytes(host));
    return fm_errorf(err, errlen, FM_ERR_ARENA,
                     "%s: arena has %zu bytes free, the IDX payload needs %zu", s->path,
                     fm_arena_free_bytes(host), payload);
}

/* The whole IDX reader over an open source (a file or a memory image); closes
 * nothing, leaves the arena as it was on failure. */
static fm_status idx_read(idx_src *s, fm_arena *host, fm_idx *out, char *err, size_t errlen)
{
    const char *path = s->path;
    fm_arena_mark mark0 = fm_arena_get_mark(host, "idx");
    fm_idx idx;
    memset(&idx, 0, sizeof idx);
    uint8_t hdr[20];
    size_t hlen = 0, payload = 0, got = 0, off = 0;
    fm_status st = FM_OK;

    /* gzip or raw: look at the first two bytes. */
    if (src_fill(s) < 0) {
        st = fm_errorf(err, errlen, FM_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        goto done;
    }
    s->gz = s->zs.avail_in >= 2 && s->zs.next_in[0] == 0x1f && s->zs.next_in[1] == 0x8b;
    if (s->gz) {
        /* Pass 1 only learns the payload size; the stream is then restarted so that
         * the payload sits at the arena mark and zlib's state above it, to be
         * released at the end. Re-inflating the few header bytes costs nothing. */
        if ((st = src_begin(s, err, errlen)) ||
            (st = idx_header(s, hdr, &hlen, &idx, &payload, err, errlen)))
            goto done;
        src_end(s);
        fm_arena_reset(host, mark0);
        if ((st = src_rewind(s, err, errlen)))
            goto done;
    } else {
        if ((st = src_begin(s, err, errlen)) ||
            (st = idx_header(s, hdr, &hlen, &idx, &payload, err, errlen)))
            goto done;
    }

    if ((st = claim_fits(s, &idx, hlen, payload, err, errlen)))
        goto done;
    if (fm_arena_alloc(host, payload, &off) != FM_OK) {
        st = payload_short(s, host, hlen, payload, err, errlen);
        goto done;
    }
    uint8_t *data = fm_arena_ptr(host, off);
    fm_arena_mark mark1 = fm_arena_get_mark(host, "idx zlib");
    if (s->gz) {
        uint8_t again[20];
        if ((st = src_begin(s, err, errlen)) || (st = src_read(s, again, hlen, &got, err, errlen)))
            goto done;
        if (got != hlen || memcmp(again, hdr, hlen) != 0) {
            st = fm_errorf(err, errlen, FM_ERR_IO, "%s: file changed while reading", path);
            goto done;
        }
    }
    if ((st = src_read(s, data, payload, &got, err, errlen)))
        goto done;
    if (got < payload) {
        st = fm_errorf(err, errlen, FM_ERR_FORMAT,
                       "%s: truncated: header announces %zu payload bytes, file holds %zu", path,
                       payload, got);
        goto done;
    }
    /* Nothing may follow; for gzip this also drives inflate through the member's
     * trailer, so its CRC-32 and length are checked. */
    uint8_t extra;
    if ((st = src_read(s, &extra, 1, &got, err, errlen)))
        goto done;
    if (got) {
        st = fm_errorf(err, errlen, FM_ERR_FORMAT,
                       "%s: trailing bytes after the %zu-byte IDX payload", path, payload);
        goto done;
    }
    src_end(s);
    fm_arena_reset(host, mark1);
    idx.data = data;
    *out = idx;

done:
    src_end(s);
    if (st)
        fm_arena_reset(host, mark0);
    return st;
}

/* A file source for path over arena a: 0, or -1 with errno from open(). */
static int open_src(idx_src *s, const char *path, fm_arena *a)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->arena = a;
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    return s->fd < 0 ? -1 : 0;
}

fm_status fm_idx_load(const char *path, fm_arena *host, fm_idx *out, char *err, size_t errlen)
{
    if (!path || !host || !host->base || !out)
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_idx_load: NULL path, out or host arena");
    /* idx_src holds a 16 KiB read buffer: static would not be reentrant, and the
     * library has no heap, so it lives on this frame. */
    idx_src s;
    if (open_src(&s, path, host) != 0)
        return fm_errorf(err, errlen, FM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fm_status st = idx_read(&s, host, out, err, errlen);
    close(s.fd);
    return st;
}

fm_status fm_idx_probe(const char *path, fm_arena *scratch, fm_idx *out, size_t *need, char *err,
                       size_t errlen)
{
    if (!path || !scratch || !scratch->base || !out || !need)
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_idx_probe: NULL argument");
    idx_src s;
    if (open_src(&s, path, scratch) != 0)
        return fm_errorf(err, errlen, FM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fm_arena_mark mark = fm_arena_get_mark(scratch, "idx probe");
    uint8_t hdr[20];
    size_t hlen = 0, payload = 0;
    fm_idx idx;
    memset(&idx, 0, sizeof idx);
    fm_status st = FM_OK;
    if (src_fill(&s) < 0)
        st = fm_errorf(err, errlen, FM_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    s.gz = s.zs.avail_in >= 2 && s.zs.next_in[0] == 0x1f && s.zs.next_in[1] == 0x8b;
    if (!st && !(st = src_begin(&s, err, errlen)) &&
        !(st = idx_header(&s, hdr, &hlen, &idx, &payload, err, errlen)))
        st = claim_fits(&s, &idx, hlen, payload, err, errlen);
    src_end(&s);
    fm_arena_reset(scratch, mark);
    close(s.fd);
    if (st)
        return st;
    *out = idx;
    /* payload <= FM_IDX_MAX_BYTES < SIZE_MAX - FM_IDX_ZLIB_BYTES on 64-bit hosts; a
     * 32-bit one checks. */
    if (payload > SIZE_MAX - FM_IDX_ZLIB_BYTES)
        return fm_errorf(err, errlen, FM_ERR_ARENA, "%s: %zu payload bytes do not fit the "
                         "address space", path, payload);
    *need = payload + FM_IDX_ZLIB_BYTES;
    return FM_OK;
}

fm_status fm_idx_parse(const void *data, size_t len, const char *name, fm_arena *host, fm_idx *out,
                       char *err, size_t errlen)
{
    if ((!data && len) || !host || !host->base || !out)
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_idx_parse: NULL data, out or host arena");
    idx_src s;
    memset(&s, 0, sizeof s);
    s.path = name ? name : "IDX data";
    s.arena = host;
    s.fd = -1;
    s.mem = data;
    s.mem_len = len;
    return idx_read(&s, host, out, err, errlen);
}

fm_status fm_mnist_load(const char *images_path, const char *labels_path, int num_classes,
                        fm_arena *host, fm_dataset *out, char *err, size_t errlen)
{
    if (!images_path || !labels_path || !host || !out)
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_mnist_load: NULL argument");
    fm_arena_mark mark = fm_arena_get_mark(host, "mnist");
    fm_idx im, lb;
    fm_status st = fm_idx_load(images_path, host, &im, err, errlen);
    if (st)
        return st;
    if (im.ndim != 3) {
        st = fm_errorf(err, errlen, FM_ERR_FORMAT, "%s: images have %d dims, expected 3 (N, H, W)",
                       images_path, im.ndim);
        goto bad;
    }
    if ((st = fm_idx_load(labels_path, host, &lb, err, errlen)))
        goto bad;
    if (lb.ndim != 1) {
        st = fm_errorf(err, errlen, FM_ERR_FORMAT, "%s: labels have %d dims, expected 1 (N)",
                       labels_path, lb.ndim);
        goto bad;
    }
    if (lb.count != im.count) {
        st = fm_errorf(err, errlen, FM_ERR_FORMAT, "%s: %zu labels, but %s has %zu images",
                       labels_path, lb.count, images_path, im.count);
        goto bad;
    }
    if (num_classes > 0)
        for (size_t i = 0; i < lb.count; i++)
            if (lb.data[i] >= num_classes) {
                st = fm_errorf(err, errlen, FM_ERR_FORMAT,
                               "%s: label %d at index %zu, expected < %d classes", labels_path,
                               lb.data[i], i, num_classes);
                goto bad;
            }
    /* The payload limit (2^31 - 1 bytes) keeps every count within int. */
    out->n = (int)im.count;
    out->c = 1;
    out->h = (int)im.dims[1];
    out->w = (int)im.dims[2];
    out->images = im.data;
    out->labels = lb.data;
    return FM_OK;
bad:
    fm_arena_reset(host, mark);
    return st;
}

/* ---- finding MNIST files ------------------------------------------------------- */

static int is_regular(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir/<prefix>-<kind>, then with ".gz": 1 found (path in out), 0 not found,
 * -1 the path does not fit. */
static int find_one(const char *dir, const char *prefix, const char *kind, char *out, size_t len)
{
    size_t dl = strlen(dir);
    const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
    const char *ext[2] = {"", ".gz"};
    for (int i = 0; i < 2; i++) {
        int n = snprintf(out, len, "%s%s%s-%s%s", dir, sep, prefix, kind, ext[i]);
        if (n < 0 || (size_t)n >= len)
            return -1;
        if (is_regular(out))
            return 1;
    }
    return 0;
}

fm_status fm_mnist_find(const char *dir, const char *split, char *images, char *labels,
                        size_t pathlen, char *err, size_t errlen)
{
    if (!dir || !split || !images || !labels || !pathlen)
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_mnist_find: NULL argument");
    if (strcmp(split, "train") != 0 && strcmp(split, "t10k") != 0)
        return fm_errorf(err, errlen, FM_ERR_ARG, "split '%s' unknown, expected train or t10k",
                         split);
    struct stat st;
    if (stat(dir, &st) != 0)
        return fm_errorf(err, errlen, FM_ERR_IO, "data folder %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fm_errorf(err, errlen, FM_ERR_IO, "data folder %s: not a folder", dir);

    const char *prefixes[2] = {split, "train-10k"};
    int nprefix = strcmp(split, "train") == 0 ? 2 : 1;
    for (int p = 0; p < nprefix; p++) {
        int a = find_one(dir, prefixes[p], "images-idx3-ubyte", images, pathlen);
        int b = find_one(dir, prefixes[p], "labels-idx1-ubyte", labels, pathlen);
        if (a < 0 || b < 0)
            return fm_errorf(err, errlen, FM_ERR_ARG, "data folder %s: path longer than %zu bytes",
                             dir, pathlen);
        if (a && b)
            return FM_OK;
        if (a || b) /* half a pair is a broken data folder, not a reason to fall back */
            return fm_errorf(err, errlen, FM_ERR_IO, "data folder %s: found %s but no %s-%s[.gz]",
                             dir, a ? images : labels, prefixes[p],
                             a ? "labels-idx1-ubyte" : "images-idx3-ubyte");
    }
    images[0] = labels[0] = '\0';
    if (nprefix == 2)
        return fm_errorf(
            err, errlen, FM_ERR_IO,
            "data folder %s: no train split: looked for train-images-idx3-ubyte[.gz] + "
            "train-labels-idx1-ubyte[.gz], then train-10k-images-idx3-ubyte[.gz] + "
            "train-10k-labels-idx1-ubyte[.gz]",
            dir);
    return fm_errorf(err, errlen, FM_ERR_IO,
                     "data folder %s: no %s split: looked for %s-images-idx3-ubyte[.gz] + "
                     "%s-labels-idx1-ubyte[.gz]",
                     dir, split, split, split);
}
