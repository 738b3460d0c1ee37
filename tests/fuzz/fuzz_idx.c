/* libFuzzer harness: the IDX reader, raw and gzip'd, from memory and from a file.
 *
 * Per input:
 *   1. fm_idx_parse on the bytes as given (a raw IDX image, or a gzip stream the
 *      fuzzer mutated: corrupt members, bad trailers, garbage after the stream);
 *   2. the same bytes gzip'd by the harness, as one member and as two
 *      concatenated members: a valid stream around fuzzed content, so the header
 *      and payload checks are reached through inflate too;
 *   3. fm_idx_load on the raw bytes written to a temporary file (the file source: read(),
 *      lseek() for the gzip second pass);
 *   4. step 1 again with an arena too small for zlib's state.
 * On success the payload is read in full (ASan bounds) and its size checked
 * against the dims; on failure the arena must be exactly as it was. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io.h"
#include "fuzz.h"

#define BIG_ARENA ((size_t)16 << 20)
#define SMALL_ARENA ((size_t)24 << 10) /* below zlib's ~45 KiB of inflate state */

static uint8_t *g_mem;
static int g_fd = -1;
static char g_path[4096];
static volatile uint32_t g_sink;
static z_stream g_zs;

static void remove_tmp(void) { unlink(g_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* tmpfs when there is one: truncate-and-rewrite on a disk file system waits
     * for writeback (ext4's replace-via-truncate flush) and halves the rate. */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(g_path, sizeof g_path, "%s/fuzz_idx.XXXXXX", dir && *dir ? dir : "/tmp");
    g_mem = aligned_alloc(64, BIG_ARENA);
    g_fd = mkstemp(g_path);
    if (!g_mem || g_fd < 0)
        abort();
    atexit(remove_tmp);
    if (deflateInit2(&g_zs, 1, Z_DEFLATED, 16 + 9, 1, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    return 0;
}

static void check_result(fm_status s, const fm_arena *a, size_t used0, const fm_idx *x,
                         const char *err)
{
    if (s != FM_OK) {
        CHECK(a->used == used0); /* "on failure the arena is left as it was" */
        CHECK(memchr(err, 0, 512) != NULL);
        return;
    }
    CHECK(x->ndim >= 1 && x->ndim <= 4);
    size_t total = 1;
    for (int d = 0; d < 4; d++) {
        CHECK(x->dims[d] >= 1);
        CHECK(d < x->ndim || x->dims[d] == 1);
        total *= x->dims[d];
    }
    CHECK(total <= FM_IDX_MAX_BYTES);
    CHECK(x->count == x->dims[0] && x->count * x->item_bytes == total);
    /* Exactly the payload (rounded) stays allocated: zlib's state was released. */
    CHECK(a->used == used0 + fm_arena_round(a, total));
    CHECK(x->data == a->base + used0);
    g_sink ^= (uint32_t)crc32(0L, x->data, (uInt)total);
}

static void parse(const uint8_t *data, size_t size, size_t arena_bytes)
{
    fm_arena a;
    fm_idx x;
    char err[512];
    CHECK(fm_arena_init(&a, g_mem, arena_bytes, 0) == FM_OK);
    fm_status s = fm_idx_parse(data, size, NULL, &a, &x, err, sizeof err);
    check_result(s, &a, 0, &x, err);
}

/* gzip the input as `members` concatenated members (split evenly). One deflate
 * stream, reset per member, with a small window and hash: a fresh deflateInit2
 * per input costs more page faults than the whole parse. */

static uint8_t *gzip(const uint8_t *data, size_t size, int members, size_t *out_len)
{
    size_t cap = 64 * (size_t)members + size + size / 8 + 64, len = 0;
    uint8_t *out = malloc(cap);
    if (!out)
        return NULL;
    for (int m = 0; m < members; m++) {
        size_t lo = size * (size_t)m / (size_t)members;
        size_t hi = size * (size_t)(m + 1) / (size_t)members;
        if (deflateReset(&g_zs) != Z_OK) {
            free(out);
            return NULL;
        }
        g_zs.next_in = (Bytef *)(uintptr_t)(data + lo);
        g_zs.avail_in = (uInt)(hi - lo);
        g_zs.next_out = out + len;
        g_zs.avail_out = (uInt)(cap - len);
        int rc = deflate(&g_zs, Z_FINISH);
        len = cap - g_zs.avail_out;
        if (rc != Z_STREAM_END) {
            free(out);
            return NULL;
        }
    }
    *out_len = len;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size, BIG_ARENA);

    for (int members = 1; members <= 2; members++) {
        size_t glen;
        uint8_t *gz = gzip(data, size, members, &glen);
        if (gz) {
            parse(gz, glen, BIG_ARENA);
            free(gz);
        }
    }

    if (ftruncate(g_fd, 0) == 0 && pwrite(g_fd, data, size, 0) == (ssize_t)size) {
        fm_arena a;
        fm_idx x;
        char err[512];
        CHECK(fm_arena_init(&a, g_mem, BIG_ARENA, 0) == FM_OK);
        /* A little already in use, so "left as it was" is not just "empty". */
        size_t off;
        CHECK(fm_arena_alloc(&a, 100, &off) == FM_OK);
        size_t used0 = a.used;
        fm_status s = fm_idx_load(g_path, &a, &x, err, sizeof err);
        check_result(s, &a, used0, &x, err);
    }

    parse(data, size, SMALL_ARENA);
    return 0;
}
