/* libFuzzer harness: the weights / checkpoint container parser.
 *
 * Every input is parsed as it is, then once more with its last four bytes
 * replaced by the correct CRC-32: a mutated file almost never carries a valid
 * checksum, and without the fix-up the fuzzer would only ever explore the code
 * up to the checksum test. On success every query the loaders use is run on
 * every tensor and metadata entry, and each tensor's bytes are read in full so
 * that AddressSanitizer sees any extent the parser let slip outside the image.
 * A broken invariant aborts (a finding), exactly like a sanitizer report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "weights.h"
#include "fuzz.h"

static volatile uint32_t g_sink; /* keeps the byte reads from being optimised away */

static void walk(const uint8_t *data, size_t size)
{
    fm_weights w;
    char err[512];
    if (fm_weights_parse(data, size, &w, err, sizeof err) != FM_OK) {
        CHECK(memchr(err, 0, sizeof err) != NULL);
        return;
    }
    CHECK(w.image == data && w.len == size);
    CHECK(w.payload >= data && w.payload_bytes <= size - (size_t)(w.payload - data));
    CHECK(fm_weights_check_config(&w, &w.cfg, err, sizeof err) == FM_OK);
    for (int i = 0; i < w.ntensors; i++) {
        fm_wtensor t, e;
        CHECK(fm_weights_tensor(&w, i, &t) == FM_OK);
        CHECK(t.ndim >= 1 && t.ndim <= 4);
        CHECK((const uint8_t *)t.data >= w.payload &&
              t.bytes <= w.payload_bytes - (size_t)((const uint8_t *)t.data - w.payload));
        /* Touch every byte: an out-of-image extent is an ASan report here. */
        g_sink ^= (uint32_t)crc32(0L, t.data, (uInt)t.bytes);
        CHECK(fm_weights_find(&w, t.name) == i);
        CHECK(fm_weights_expect(&w, t.name, t.dtype, t.ndim, t.shape, &e, err, sizeof err) ==
              FM_OK);
        const void *blk;
        size_t bytes;
        CHECK(fm_weights_contiguous(&w, i, 1, &blk, &bytes) && blk == t.data && bytes == t.bytes);
        /* A wrong expectation must fail with a message, not crash. */
        int64_t other[4] = {t.shape[0] + 1, 1, 1, 1};
        CHECK(fm_weights_expect(&w, t.name, t.dtype, 1, other, &e, err, sizeof err) != FM_OK ||
              t.ndim == 1);
    }
    const void *blk;
    size_t bytes;
    if (w.ntensors > 0 && fm_weights_contiguous(&w, 0, w.ntensors, &blk, &bytes))
        g_sink ^= (uint32_t)crc32(0L, blk, (uInt)bytes);
    CHECK(!fm_weights_contiguous(&w, 0, w.ntensors + 1, NULL, NULL));
    for (int i = 0; i < w.nmeta; i++) {
        char key[FM_WEIGHTS_KEY + 1];
        memcpy(key, w.meta + (size_t)i * FM_WEIGHTS_META_BYTES, FM_WEIGHTS_KEY);
        key[FM_WEIGHTS_KEY] = 0;
        uint64_t v;
        CHECK(fm_weights_meta(&w, key, &v));
        g_sink ^= (uint32_t)v;
    }
    CHECK(fm_weights_find(&w, "") == -1 && !fm_weights_meta(&w, "", NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    walk(data, size);
    if (size < 4)
        return 0;
    /* The same bytes with a valid checksum, in an exact-size heap copy. */
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    uint32_t crc = (uint32_t)crc32(0L, copy, (uInt)(size - 4));
    for (int i = 0; i < 4; i++)
        copy[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    walk(copy, size);
    free(copy);
    return 0;
}
