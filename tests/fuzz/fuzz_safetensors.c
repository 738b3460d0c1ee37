/* libFuzzer harness: the safetensors reader of fmrt convert (formats/safetensors.c)
 * and what convert does with a parsed file.
 *
 * Every input is parsed. A refusal must come with a message. An accepted file must
 * keep every promise of st_parse: each tensor's bytes inside the input (all read,
 * so that AddressSanitizer sees any extent that slipped outside), its byte count
 * the product of its shape, every name found by st_find, every metadata key by
 * st_meta_get. Float tensors are widened to F32 (F16 values round-trip through
 * st_f32_to_f16 exactly). The config of the "fmrt.config" metadata, when valid,
 * is checked against the tensors as convert would. Finally the file is written
 * again with st_header and parsed back: same names, dtypes, shapes and bytes.
 *
 * Seeds (tests/fuzz/corpus/safetensors): u-f32, c-f16 and r-raw written by fmrt
 * convert from the 2x2-image files of tests/fuzz/corpus/weights (F32, F16 --dtype f16,
 * --raw); mixed by the reference writer (safetensors.numpy.save_file: F64, a scalar,
 * an empty F32 tensor, F16, U8, one metadata key); bf16, empty ({} padded),
 * meta-only (an fmrt.config and no tensors) and overlap (refused) by printf. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "safetensors.h"

static volatile uint32_t g_sink;

static void widen(const st_tensor *t)
{
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return;
    float *v = malloc(t->numel ? (size_t)t->numel * sizeof *v : 1);
    char err[256];
    if (!v)
        return;
    CHECK(st_to_f32(t, v, err, sizeof err) == 0);
    for (uint64_t i = 0; i < t->numel; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        g_sink ^= bits;
        if (t->dtype == ST_F16) {
            uint16_t h = (uint16_t)(t->data[2 * i] | t->data[2 * i + 1] << 8);
            int nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
            CHECK(nan || st_f32_to_f16(v[i]) == h);
        }
    }
    free(v);
}

/* The tensors of f written again and parsed back. */
static void rewrite(const st_file *f)
{
    st_tensor *t = calloc((size_t)f->n + 1, sizeof *t);
    CHECK(t != NULL);
    memcpy(t, f->t, sizeof *t * (size_t)f->n);
    uint8_t *hdr;
    size_t hlen;
    char err[256];
    CHECK(st_header(t, f->n, f->meta, f->nmeta, &hdr, &hlen, err, sizeof err) == 0);
    CHECK(hlen % 8 == 0);
    size_t len = hlen + f->data_bytes;
    uint8_t *img = malloc(len ? len : 1);
    CHECK(img != NULL);
    memcpy(img, hdr, hlen);
    for (int i = 0; i < f->n; i++)
        memcpy(img + hlen + t[i].begin, f->t[i].data, (size_t)(t[i].end - t[i].begin));
    st_file g;
    CHECK(st_parse(img, len, &g, err, sizeof err) == 0);
    CHECK(g.n == f->n && g.nmeta == f->nmeta && g.data_bytes == f->data_bytes);
    for (int i = 0; i < f->n; i++) {
        const st_tensor *a = &f->t[i], *b = &g.t[i];
        CHECK(strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim);
        CHECK(memcmp(a->shape, b->shape, sizeof(uint64_t) * (size_t)a->ndim) == 0);
        CHECK(b->end - b->begin == a->end - a->begin);
        CHECK(memcmp(a->data, b->data, (size_t)(a->end - a->begin)) == 0);
    }
    for (int i = 0; i < f->nmeta; i++)
        CHECK(strcmp(st_meta_get(&g, f->meta[i].key), f->meta[i].value) == 0);
    st_free(&g);
    free(img);
    free(hdr);
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file f;
    char err[512];
    if (st_parse(data, size, &f, err, sizeof err)) {
        CHECK(memchr(err, 0, sizeof err) != NULL && err[0] != 0);
        CHECK(f.t == NULL && f.json == NULL);
        return 0;
    }
    CHECK(f.header_bytes + f.data_bytes + 8 == size);
    const uint8_t *buf = data + 8 + f.header_bytes;
    for (int i = 0; i < f.n; i++) {
        const st_tensor *t = &f.t[i];
        size_t bytes = (size_t)(t->end - t->begin);
        CHECK(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS && t->dtype < ST_NDTYPES);
        CHECK(t->begin <= t->end && t->end <= f.data_bytes && t->data == buf + t->begin);
        CHECK(bytes == t->numel * st_dtype_size(t->dtype));
        CHECK(t->begin % st_dtype_size(t->dtype) == 0);
        for (size_t k = 0; k < bytes; k++)
            g_sink += t->data[k];
        CHECK(st_find(&f, t->name) == t);
        widen(t);
    }
    CHECK(st_find(&f, "") == NULL || st_find(&f, "")->name[0] == 0);
    for (int i = 0; i < f.nmeta; i++)
        CHECK(st_meta_get(&f, f.meta[i].key) != NULL);
    fm_config cfg;
    int r = st_fmrt_config(&f, &cfg, err, sizeof err);
    CHECK(r == 0 || r == -1 || (r == 1 && err[0]));
    if (r == 0)
        g_sink += (uint32_t)st_fmrt_check(&f, &cfg, err, sizeof err);
    rewrite(&f);
    st_free(&f);
    return 0;
}
