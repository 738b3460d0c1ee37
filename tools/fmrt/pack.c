/* Packed data sets (docs/data-pack.md): the reader that fmrt train streams rows
 * from, and the writer behind fmrt data pack.
 *
 * Integrity without a pass over the file at open. The header has its own CRC;
 * every image has a CRC-32 in a table before the pixels, checked each time the image
 * is read; and the header's data CRC covers the names, the labels and that table, so
 * it stands for the whole content (fmrt data pack prints it, a checkpoint can record
 * it). Opening a pack of any size reads its header and about 5 bytes per image; a
 * damaged image is named when a batch first reads it (fmrt data info reads all).
 *
 * Reads are pread, one call per run of consecutive rows, never a mapping of the file:
 * the address space a run uses is a few batches whatever the pack's size (a training
 * run under ulimit -v smaller than the pack, tests/pack.sh).
 *
 * Prefetch: one background thread, started by the first cli_pack_prefetch, reads the
 * rows of the caller's next batch into a buffer of its own while the caller computes;
 * cli_pack_rows copies them out when it asks for exactly those rows, and reads them
 * itself otherwise. Both paths deliver the file's bytes checked against the same
 * CRCs, so what a run sees does not depend on timing (a resume stays bit-identical).
 * The thread prints nothing: when its read fails, the caller's own read repeats it and
 * names the file and the row, once, on the caller's thread. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h" /* fm_class_name_ok, FM_TEXT_MAX */
#include "cli.h"
#include "cli_data.h"
#include "cli_pack.h"
#include "file.h"    /* FM_TMP_SUFFIX, fm_file_check_output, fm_path_folder */
#include "size.h"    /* fm_mul_size */
#include "weights.h" /* FM_WEIGHTS_MAGIC, fm_file_kind */

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define HEADER 64                        /* bytes; each part after it starts at a multiple of 64 */
#define IO_MAX ((size_t)1 << 30)         /* one read or write call at most */
#define CHUNK_BYTES ((uint64_t)4 << 20)  /* rows per pass of the writer and of verify */
#define READER_STACK ((size_t)256 << 10) /* the thread reads and sums: no deep calls */

/* Where each part of a pack starts (docs/data-pack.md, "Layout"). */
typedef struct layout {
    uint64_t count, names_bytes;
    uint32_t channels, height, width, num_classes;
    uint64_t frame, labels_off, crcs_off, pixels_off, end; /* from the fields (place) */
} layout;

typedef struct header {
    uint32_t version, header_bytes, flags, reserved, header_crc, data_crc;
    layout L;
} header;

enum { JOB_NONE, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct cli_pack {
    char *path;
    int fd;
    layout L;
    uint32_t data_crc;
    uint8_t *meta;       /* bytes HEADER .. pixels_off: names, labels, image CRCs */
    const uint8_t *crcs; /* into meta: count u32 */
    /* The background reader: one job, the next batch's rows. */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_t thread;
    int sync_ok; /* mu and the conditions exist */
    int started; /* 1 running, -1 could not start (reads stay synchronous) */
    int quit, state, job_n, job_cap, job_rc;
    uint32_t *job_idx;
    uint8_t *job_px;
};

/* ---- bytes ----------------------------------------------------------------------- */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* zlib's CRC-32 (the project's, as the weights files'); its length is a uInt. */
static uint32_t crc(uint32_t c, const uint8_t *p, uint64_t n)
{
    while (n) {
        const uInt k = n > IO_MAX ? (uInt)IO_MAX : (uInt)n;
        c = (uint32_t)crc32(c, p, k);
        p += k;
        n -= k;
    }
    return c;
}

static uint64_t up64(uint64_t x)
{
    return (x + 63) & ~(uint64_t)63;
}

/* The offsets from the fields. In range (check_fields), nothing overflows: at most
 * 2^31 images of 3 x 4096 x 4096 bytes is under 2^57. */
static void place(layout *L)
{
    L->frame = (uint64_t)L->channels * L->height * L->width;
    L->labels_off = up64(HEADER + L->names_bytes);
    L->crcs_off = up64(L->labels_off + (L->num_classes ? L->count : 0));
    L->pixels_off = up64(L->crcs_off + 4 * L->count);
    L->end = L->pixels_off + L->count * L->frame;
}

static void encode_header(header *h, uint8_t b[HEADER])
{
    memset(b, 0, HEADER);
    memcpy(b, CLI_PACK_MAGIC, 8);
    put32(b + 8, h->version);
    put32(b + 12, h->header_bytes);
    put64(b + 16, h->L.count);
    put32(b + 24, h->L.channels);
    put32(b + 28, h->L.height);
    put32(b + 32, h->L.width);
    put32(b + 36, h->L.num_classes);
    put64(b + 40, h->L.names_bytes);
    put32(b + 48, h->flags);
    put32(b + 52, h->reserved);
    h->header_crc = crc(0, b, 56);
    put32(b + 56, h->header_crc);
    put32(b + 60, h->data_crc);
}

static void decode_header(const uint8_t b[HEADER], header *h)
{
    memset(h, 0, sizeof *h);
    h->version = get32(b + 8);
    h->header_bytes = get32(b + 12);
    h->L.count = get64(b + 16);
    h->L.channels = get32(b + 24);
    h->L.height = get32(b + 28);
    h->L.width = get32(b + 32);
    h->L.num_classes = get32(b + 36);
    h->L.names_bytes = get64(b + 40);
    h->flags = get32(b + 48);
    h->reserved = get32(b + 52);
    h->header_crc = get32(b + 56);
    h->data_crc = get32(b + 60);
}

/* ---- whole reads and writes ------------------------------------------------------ */

/* n bytes at off, whole: 0; else -1 with errno (0: the file ended first). */
static int pread_all(int fd, uint8_t *p, uint64_t n, uint64_t off)
{
    while (n) {
        ssize_t r = pread(fd, p, n > IO_MAX ? IO_MAX : (size_t)n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        p += r, n -= (uint64_t)r, off += (uint64_t)r;
    }
    return 0;
}

static int pwrite_all(int fd, const uint8_t *p, uint64_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n > IO_MAX ? IO_MAX : (size_t)n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0) /* no progress and no error: a full device */
                errno = ENOSPC;
            return -1;
        }
        p += w, n -= (uint64_t)w, off += (uint64_t)w;
    }
    return 0;
}

static const char *read_why(void)
{
    return errno ? strerror(errno) : "the file ends early (it shrank?)";
}

/* ---- checks shared by the reader and the writer ---------------------------------- */

/* Every field in its range (docs/data-pack.md), then the offsets placed. */
static int check_fields(const char *path, header *h)
{
    layout *L = &h->L;
    const struct {
        const char *name;
        uint64_t v, lo, hi;
    } f[] = {
        {"header_bytes", h->header_bytes, HEADER, HEADER},
        {"count", L->count, 1, INT32_MAX},
        {"channels", L->channels, 1, 3},
        {"height", L->height, 1, CLI_PACK_MAX_SIDE},
        {"width", L->width, 1, CLI_PACK_MAX_SIDE},
        {"num_classes", L->num_classes, 0, CLI_PACK_MAX_CLASSES},
        {"names_bytes", L->names_bytes, 0, L->num_classes ? FM_TEXT_MAX - 1 : 0},
        {"flags", h->flags, 0, 0},
        {"reserved", h->reserved, 0, 0},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi)
            return cli_error("%s: %s %llu is outside %llu..%llu", path, f[i].name,
                             (unsigned long long)f[i].v, (unsigned long long)f[i].lo,
                             (unsigned long long)f[i].hi);
    if (L->channels == 2)
        return cli_error("%s: channels 2: a pack holds 1 (grey) or 3 (RGB)", path);
    place(L);
    return 0;
}

/* The class names: '\n'-separated, one per class, each a valid class name. */
static int check_names(const char *path, const char *s, size_t len, uint32_t classes)
{
    uint32_t k = 0;
    for (size_t at = 0; len && at <= len; k++) {
        const char *nl = memchr(s + at, '\n', len - at);
        const size_t l = nl ? (size_t)(nl - (s + at)) : len - at;
        if (!fm_class_name_ok(s + at, l))
            return cli_error("%s: class name %u is not 1 to %d printable bytes without ','", path,
                             k, FM_CLASS_NAME_MAX - 1);
        at += l + 1;
    }
    if (len && k != classes)
        return cli_error("%s: %u class names for %u classes", path, k, classes);
    return 0;
}

/* ---- rows ------------------------------------------------------------------------- */

/* Rows r0 .. r0+k-1 (consecutive, in range) into px with one pread, each against its
 * CRC. No allocation and no printing (the reader thread runs it): the error, naming
 * the file and the row, goes to err. */
static int read_run(const struct cli_pack *p, uint64_t r0, uint64_t k, uint8_t *px, char *err,
                    size_t errlen)
{
    const uint64_t F = p->L.frame;
    if (pread_all(p->fd, px, k * F, p->L.pixels_off + r0 * F) != 0) {
        snprintf(err, errlen, "%s: cannot read image %llu: %s", p->path, (unsigned long long)r0,
                 read_why());
        return 1;
    }
    for (uint64_t j = 0; j < k; j++) {
        const uint32_t want = get32(p->crcs + 4 * (r0 + j)), got = crc(0, px + j * F, F);
        if (got != want) {
            snprintf(err, errlen,
                     "%s: image %llu has CRC 0x%08x, the pack records 0x%08x: the file is "
                     "damaged or changed since it was packed",
                     p->path, (unsigned long long)(r0 + j), got, want);
            return 1;
        }
    }
    return 0;
}

/* Rows idx[0..n) into px, a run of consecutive indices at a time. */
static int read_rows(const struct cli_pack *p, const uint32_t *idx, int n, uint8_t *px, char *err,
                     size_t errlen)
{
    for (int i = 0, k; i < n; i += k) {
        if (idx[i] >= p->L.count) {
            snprintf(err, errlen, "%s: image %u asked for, the pack has %llu", p->path, idx[i],
                     (unsigned long long)p->L.count);
            return 1;
        }
        for (k = 1; i + k < n && idx[i + k] == idx[i] + (uint32_t)k && idx[i + k] < p->L.count;)
            k++;
        if (read_run(p, idx[i], (uint64_t)k, px + (size_t)i * p->L.frame, err, errlen))
            return 1;
    }
    return 0;
}

/* ---- the background reader ------------------------------------------------------- */

static void *reader_main(void *arg)
{
    struct cli_pack *p = arg;
    char err[PATH_MAX + 256]; /* unused: the caller's own read reports */
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->state != JOB_QUEUED)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit)
            break;
        p->state = JOB_RUNNING; /* job_idx and job_px are the thread's until JOB_DONE */
        pthread_mutex_unlock(&p->mu);
        const int rc = read_rows(p, p->job_idx, p->job_n, p->job_px, err, sizeof err);
        pthread_mutex_lock(&p->mu);
        p->job_rc = rc;
        p->state = JOB_DONE;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The thread, with a small stack (under ulimit -v each thread's stack is address
 * space) and every signal blocked (Ctrl-C stays with the caller's thread). A thread
 * that cannot start leaves the reads synchronous: prefetch is only a hint. */
static void start_reader(struct cli_pack *p)
{
    pthread_attr_t at;
    sigset_t all, old;
    p->started = -1;
    if (!p->sync_ok || pthread_attr_init(&at) != 0)
        return;
    pthread_attr_setstacksize(&at, READER_STACK);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&p->thread, &at, reader_main, p) == 0)
        p->started = 1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&at);
}

/* Room for a job of n rows (called with no job running). */
static int reserve(struct cli_pack *p, int n)
{
    size_t px;
    if (n <= p->job_cap)
        return 0;
    if (!fm_mul_size((size_t)n, (size_t)p->L.frame, &px))
        return 1;
    uint32_t *idx = realloc(p->job_idx, sizeof *idx * (size_t)n);
    if (idx)
        p->job_idx = idx;
    uint8_t *b = idx ? realloc(p->job_px, px) : NULL;
    if (!b)
        return 1;
    p->job_px = b;
    p->job_cap = n;
    return 0;
}

void cli_pack_prefetch(struct cli_pack *p, const uint32_t *idx, int n)
{
    if (!p || n <= 0 || p->started < 0)
        return;
    if (!p->started)
        start_reader(p);
    if (p->started != 1)
        return;
    pthread_mutex_lock(&p->mu);
    while (p->state == JOB_RUNNING) /* an earlier hint that nobody took */
        pthread_cond_wait(&p->done, &p->mu);
    p->state = JOB_NONE;
    if (reserve(p, n) == 0) { /* idx copied: the caller may reuse its array at once */
        memcpy(p->job_idx, idx, sizeof *idx * (size_t)n);
        p->job_n = n;
        p->state = JOB_QUEUED;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->mu);
}

/* 1 when the reader held exactly rows idx[0..n), read without error: now in px. */
static int take_prefetched(struct cli_pack *p, const uint32_t *idx, int n, uint8_t *px)
{
    int took = 0;
    if (p->started != 1)
        return 0;
    pthread_mutex_lock(&p->mu);
    const int same = p->state != JOB_NONE && p->job_n == n &&
                     memcmp(p->job_idx, idx, sizeof *idx * (size_t)n) == 0;
    if (p->state == JOB_QUEUED && !same)
        p->state = JOB_NONE; /* not started: dropped */
    while (p->state == JOB_QUEUED || p->state == JOB_RUNNING)
        pthread_cond_wait(&p->done, &p->mu);
    if (p->state == JOB_DONE && same && p->job_rc == 0) {
        memcpy(px, p->job_px, (size_t)n * p->L.frame);
        took = 1;
    }
    p->state = JOB_NONE;
    pthread_mutex_unlock(&p->mu);
    return took;
}

int cli_pack_rows(struct cli_pack *p, const uint32_t *idx, int n, uint8_t *px)
{
    char err[PATH_MAX + 256];
    if (n <= 0 || take_prefetched(p, idx, n, px))
        return 0;
    if (read_rows(p, idx, n, px, err, sizeof err))
        return cli_error("%s", err);
    return 0;
}

/* ---- open and close ------------------------------------------------------------- */

int cli_is_pack(const char *path)
{
    return cli_file_has_magic(path, CLI_PACK_MAGIC, 8);
}

/* A file that is not a pack, named for what it is (as fmrt convert does). */
static int wrong_magic(const char *path, const uint8_t *b, size_t got)
{
    if (got == 0)
        return cli_error("%s is empty, not a data pack", path);
    if (got >= 8 && memcmp(b, FM_WEIGHTS_MAGIC, 8) == 0)
        return cli_error("%s is an fmrt weights or checkpoint file, not a data pack (.fmd, made "
                         "by fmrt data pack)",
                         path);
    const char *kind = fm_file_kind(b, got);
    if (kind)
        return cli_error("%s is %s, not a data pack (.fmd, made by fmrt data pack)", path, kind);
    return cli_error("%s is not a data pack: it does not start with %s (packs are made by fmrt "
                     "data pack)",
                     path, CLI_PACK_MAGIC);
}

/* The header, in the order of what is most useful to hear first: what the file is,
 * the version that wrote it, its CRC, then each field and the length they give. */
static int read_header(struct cli_pack *p, header *h)
{
    struct stat st;
    uint8_t b[HEADER];
    if (fstat(p->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return cli_error("%s is not a regular file", p->path);
    const uint64_t size = (uint64_t)st.st_size, got = size < HEADER ? size : HEADER;
    if (pread_all(p->fd, b, got, 0) != 0)
        return cli_error("%s: cannot read the header: %s", p->path, read_why());
    if (got < 8 || memcmp(b, CLI_PACK_MAGIC, 8) != 0)
        return wrong_magic(p->path, b, (size_t)got);
    if (size < HEADER)
        return cli_error("%s: truncated: %llu bytes, a pack's header alone is %d", p->path,
                         (unsigned long long)size, HEADER);
    decode_header(b, h);
    if (h->version != CLI_PACK_VERSION)
        return cli_error("%s: pack version %u; this fmrt reads version %d", p->path, h->version,
                         CLI_PACK_VERSION);
    const uint32_t hc = crc(0, b, 56);
    if (hc != h->header_crc)
        return cli_error("%s: the header's CRC is 0x%08x, it records 0x%08x: the file is damaged",
                         p->path, hc, h->header_crc);
    if (check_fields(p->path, h))
        return 1;
    if (size != h->L.end)
        return cli_error("%s: %s: %llu bytes, the header gives %llu", p->path,
                         size < h->L.end ? "truncated" : "bytes after the end",
                         (unsigned long long)size, (unsigned long long)h->L.end);
    return 0;
}

/* Names, labels and the images' CRCs (all before the pixels) into memory, checked
 * against the data CRC; the labels into d->mem, each < num_classes. */
static int read_meta(struct cli_pack *p, const header *h, cli_data *d)
{
    const layout *L = &h->L;
    const uint64_t m = L->pixels_off - HEADER;
    fm_arena a;
    if (m > SIZE_MAX || !(p->meta = malloc((size_t)m)))
        return cli_error("%s: cannot allocate %llu bytes for its labels and CRCs", p->path,
                         (unsigned long long)m);
    if (pread_all(p->fd, p->meta, m, HEADER) != 0)
        return cli_error("%s: cannot read its labels and CRCs: %s", p->path, read_why());
    const uint32_t c = crc(0, p->meta, m);
    if (c != h->data_crc)
        return cli_error(
            "%s: the CRC of its names, labels and image CRCs is 0x%08x, the header records 0x%08x: "
            "the file is damaged",
            p->path, c, h->data_crc);
    if (check_names(p->path, (const char *)p->meta, (size_t)L->names_bytes, L->num_classes))
        return 1;
    memcpy(d->names, p->meta, (size_t)L->names_bytes);
    d->names[L->names_bytes] = 0;
    if (cli_host_arena(&a, (size_t)L->count, &d->mem))
        return 1;
    uint8_t *lab = d->mem.ptr;
    const uint8_t *src = p->meta + (L->labels_off - HEADER);
    for (uint64_t i = 0; i < L->count; i++) {
        lab[i] = L->num_classes ? src[i] : 0;
        if (L->num_classes && lab[i] >= L->num_classes)
            return cli_error("%s: image %llu has label %d, the pack has %u classes", p->path,
                             (unsigned long long)i, lab[i], L->num_classes);
    }
    p->crcs = p->meta + (L->crcs_off - HEADER);
    return 0;
}

static void free_pack(struct cli_pack *p)
{
    if (p->fd >= 0)
        close(p->fd);
    if (p->sync_ok) {
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->mu);
    }
    free(p->job_idx);
    free(p->job_px);
    free(p->meta);
    free(p->path);
    free(p);
}

/* The mutex and conditions, each undone if the next fails (sync_ok: all three). */
static void init_sync(struct cli_pack *p)
{
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return;
    if (pthread_cond_init(&p->wake, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        return;
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->mu);
        return;
    }
    p->sync_ok = 1;
}

int cli_pack_open(const char *path, cli_data *d)
{
    header h = {0};
    struct cli_pack *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        return cli_error("cannot allocate the reader of %s", path);
    }
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = p->fd < 0 ? cli_error("cannot open %s: %s", path, strerror(errno))
                       : read_header(p, &h) || read_meta(p, &h, d);
    if (rc) {
        free_pack(p);
        cli_mem_free(&d->mem);
        d->names[0] = 0;
        return 1;
    }
    init_sync(p); /* without it the reads stay synchronous */
    p->L = h.L;
    p->data_crc = h.data_crc;
    d->pack = p;
    d->num_classes = (int)h.L.num_classes;
    d->ds = (fm_dataset){.n = (int)h.L.count,
                         .c = (int)h.L.channels,
                         .h = (int)h.L.height,
                         .w = (int)h.L.width,
                         .images = NULL,
                         .labels = d->mem.ptr};
    return 0;
}

void cli_pack_close(struct cli_pack *p)
{
    if (!p)
        return;
    if (p->started == 1) {
        pthread_mutex_lock(&p->mu);
        p->quit = 1;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    free_pack(p);
}

uint32_t cli_pack_crc(const struct cli_pack *p)
{
    return p->data_crc;
}

uint64_t cli_pack_bytes(const struct cli_pack *p)
{
    return p->L.end;
}

/* Rows per pass of the writer and of verify: about CHUNK_BYTES, at least 1. */
static uint64_t chunk_rows(uint64_t frame, uint64_t count)
{
    uint64_t k = CHUNK_BYTES / frame;
    k = k < 1 ? 1 : k;
    return k < count ? k : count;
}

int cli_pack_verify(struct cli_pack *p)
{
    char err[PATH_MAX + 256];
    const uint64_t k = chunk_rows(p->L.frame, p->L.count);
    uint8_t *buf = malloc((size_t)(k * p->L.frame));
    if (!buf)
        return cli_error("%s: cannot allocate a read buffer", p->path);
    int rc = 0;
    for (uint64_t r = 0; rc == 0 && r < p->L.count; r += k) {
        const uint64_t n = p->L.count - r < k ? p->L.count - r : k;
        if (read_run(p, r, n, buf, err, sizeof err))
            rc = cli_error("%s", err);
    }
    free(buf);
    return rc;
}

/* ---- the writer ------------------------------------------------------------------- */

typedef struct writer {
    const char *path;
    char tmp[PATH_MAX];
    int fd, locked; /* locked: the temporary file is ours to remove on failure */
    header h;
    uint8_t *meta; /* bytes HEADER .. pixels_off, built as the rows pass */
    uint32_t *idx[2];
    uint8_t *px;
} writer;

/* The header's fields from the data set, checked as a reader would. */
static int writer_layout(writer *w, const cli_data *d)
{
    layout *L = &w->h.L;
    w->h.version = CLI_PACK_VERSION;
    w->h.header_bytes = HEADER;
    *L = (layout){.count = (uint64_t)(d->ds.n > 0 ? d->ds.n : 0),
                  .names_bytes = strlen(d->names),
                  .channels = (uint32_t)d->ds.c,
                  .height = (uint32_t)d->ds.h,
                  .width = (uint32_t)d->ds.w,
                  .num_classes = (uint32_t)(d->num_classes > 0 ? d->num_classes : 0)};
    if (check_fields(w->path, &w->h) ||
        check_names(w->path, d->names, (size_t)L->names_bytes, L->num_classes))
        return 1;
    for (uint64_t i = 0; i < L->count; i++) { /* what a reader would refuse */
        const uint8_t y = d->ds.labels[i];
        if (L->num_classes ? y >= L->num_classes : y != 0)
            return cli_error("%s: the source's image %llu has label %d, the source states %u "
                             "classes",
                             w->path, (unsigned long long)i, y, L->num_classes);
    }
    return 0;
}

/* "<path>.tmp", created or emptied, under a write lock (as fm_file_write_atomic's:
 * two writers of one path cannot interleave; the kernel drops the lock of one
 * killed). O_NOFOLLOW: a link planted at the name cannot redirect the write. */
static int open_tmp(writer *w)
{
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    char err[PATH_MAX + 256];
    if (fm_file_check_output(w->path, err, sizeof err) != FM_OK)
        return cli_error("%s", err);
    snprintf(w->tmp, sizeof w->tmp, "%s" FM_TMP_SUFFIX, w->path); /* fits: checked */
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (w->fd < 0)
        return cli_error("%s: cannot create %s: %s", w->path, w->tmp, strerror(errno));
    if (fcntl(w->fd, F_SETLK, &lk) != 0)
        return cli_error("%s: cannot use %s: another process is writing it", w->path, w->tmp);
    w->locked = 1;
    if (ftruncate(w->fd, 0) != 0)
        return cli_error("%s: cannot empty %s: %s", w->path, w->tmp, strerror(errno));
    return 0;
}

static void fill_idx(uint32_t *idx, uint64_t r0, uint64_t k)
{
    for (uint64_t j = 0; j < k; j++)
        idx[j] = (uint32_t)(r0 + j);
}

/* Every row in order through src's cli_data_rows (a pack source streams: the next chunk is
 * prefetched while this one is summed and written), its CRC into meta. */
static int write_rows(writer *w, cli_data *d, const cli_rows_source *src)
{
    const layout *L = &w->h.L;
    const uint64_t k = chunk_rows(L->frame, L->count);
    uint8_t *crcs = w->meta + (L->crcs_off - HEADER);
    w->idx[0] = malloc(sizeof(uint32_t) * (size_t)k);
    w->idx[1] = malloc(sizeof(uint32_t) * (size_t)k);
    w->px = malloc((size_t)(k * L->frame));
    if (!w->idx[0] || !w->idx[1] || !w->px)
        return cli_error("%s: cannot allocate the writer's buffers", w->path);
    fill_idx(w->idx[0], 0, k);
    for (uint64_t r = 0, j = 0; r < L->count; r += k, j ^= 1) {
        const uint64_t n = L->count - r < k ? L->count - r : k, next = r + n;
        const uint64_t nn = L->count - next < k ? L->count - next : k;
        if (src->rows(d, w->idx[j], (int)n, w->px, NULL))
            return 1;
        fill_idx(w->idx[j ^ 1], next, nn);
        src->prefetch(d, w->idx[j ^ 1], (int)nn);
        for (uint64_t i = 0; i < n; i++)
            put32(crcs + 4 * (r + i), crc(0, w->px + i * L->frame, L->frame));
        if (pwrite_all(w->fd, w->px, n * L->frame, L->pixels_off + r * L->frame) != 0)
            return cli_error("%s: writing %s failed: %s", w->path, w->tmp, strerror(errno));
    }
    return 0;
}

/* Names, labels, CRCs and header written, then the file made durable and renamed
 * over path while still locked; the folder fsync'd so that the rename lasts. */
static int finish(writer *w, const cli_data *d)
{
    const layout *L = &w->h.L;
    const uint64_t m = L->pixels_off - HEADER;
    uint8_t b[HEADER];
    memcpy(w->meta, d->names, (size_t)L->names_bytes);
    if (L->num_classes)
        memcpy(w->meta + (L->labels_off - HEADER), d->ds.labels, (size_t)L->count);
    w->h.data_crc = crc(0, w->meta, m);
    encode_header(&w->h, b);
    if (pwrite_all(w->fd, w->meta, m, HEADER) != 0 || pwrite_all(w->fd, b, HEADER, 0) != 0 ||
        fsync(w->fd) != 0)
        return cli_error("%s: writing %s failed: %s", w->path, w->tmp, strerror(errno));
    if (rename(w->tmp, w->path) != 0)
        return cli_error("%s: renaming %s to it failed: %s", w->path, w->tmp, strerror(errno));
    w->locked = 0; /* renamed: nothing to remove */
    char dir[PATH_MAX];
    fm_path_folder(w->path, dir, sizeof dir);
    const int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* some file systems cannot fsync a folder: not worth failing for */
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int cli_pack_write(const char *path, cli_data *d, const cli_rows_source *src, uint32_t *crc_out,
                   uint64_t *bytes)
{
    writer w = {.path = path, .fd = -1};
    int rc = writer_layout(&w, d);
    if (rc == 0 && !(w.meta = calloc(1, (size_t)(w.h.L.pixels_off - HEADER))))
        rc = cli_error("%s: cannot allocate %llu bytes for the labels and CRCs", path,
                       (unsigned long long)(w.h.L.pixels_off - HEADER));
    rc = rc || open_tmp(&w) || write_rows(&w, d, src) || finish(&w, d);
    if (w.fd >= 0)
        close(w.fd);
    if (rc && w.locked)
        unlink(w.tmp);
    free(w.meta);
    free(w.idx[0]);
    free(w.idx[1]);
    free(w.px);
    *crc_out = w.h.data_crc;
    *bytes = w.h.L.end;
    return rc;
}
