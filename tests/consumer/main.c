/* A program outside the fmrt tree, built against an installed fmrt (cmake --install)
 * by tests/install_consumer.sh: with find_package(fmrt) (CMakeLists.txt here) and with
 * pkg-config. It includes the public header only, runs one op on the ref backend over
 * a static host block, reads a weights file with the library's parser, and samples a
 * digit from it through fm_sampler (sampler.h).
 * Usage: consumer WEIGHTS.fmw */
#include <fmrt/fmrt.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static _Alignas(64) unsigned char block[1 << 16]; /* the ref backend's whole memory */
static fm_param params[FM_MAX_PARAMS];

static int silu(void)
{
    size_t need = 0;
    if (fm_backend_host_bytes("ref", sizeof block / 2, 1, &need) != FM_OK || need > sizeof block) {
        fprintf(stderr, "consumer: ref needs %zu bytes\n", need);
        return 1;
    }
    fm_backend be;
    fm_backend_config cfg = {
        .name = "ref", .mem = block, .mem_bytes = sizeof block, .device_index = -1};
    if (fm_backend_open(&be, &cfg) != FM_OK) {
        fprintf(stderr, "consumer: %s\n", fm_backend_error(&be));
        return 1;
    }
    const float x[6] = {-3.0f, -1.0f, -0.5f, 0.0f, 1.0f, 2.5f};
    float y[6];
    fm_call c = {.op = FM_OP_SILU_FWD};
    c.t[0] = fm_tensor_1d(FM_F32, 6);
    c.t[1] = fm_tensor_1d(FM_F32, 6);
    int rc = fm_tensor_alloc(&be, &c.t[0]) != FM_OK || fm_tensor_alloc(&be, &c.t[1]) != FM_OK ||
             fm_upload(&be, &c.t[1], x) != FM_OK || fm_run(&be, &c) != FM_OK ||
             fm_download(&be, y, &c.t[0]) != FM_OK;
    if (rc)
        fprintf(stderr, "consumer: %s\n", fm_backend_error(&be));
    else {
        printf("fmrt %s, backend %s, silu:", FMRT_VERSION, fm_backend_name(&be));
        for (int i = 0; i < 6; i++)
            printf(" %.6f", y[i]);
        printf("\n");
    }
    fm_backend_close(&be);
    return rc;
}

static int weights(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    unsigned char *image = NULL;
    size_t len = 0, cap = 0;
    for (;;) { /* the whole file: the application owns its memory, not the library */
        if (len == cap) {
            cap = cap ? 2 * cap : (size_t)1 << 20;
            unsigned char *p = realloc(image, cap);
            if (!p)
                break;
            image = p;
        }
        size_t n = fread(image + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f) || !image;
    fclose(f);
    fm_weights w;
    char err[256];
    if (bad || fm_weights_parse(image, len, &w, err, sizeof err) != FM_OK) {
        fprintf(stderr, "consumer: %s: %s\n", path, bad ? "unreadable" : err);
        free(image);
        return 1;
    }
    int64_t nfloats = 0;
    int np = fm_model_layout(&w.cfg, params, FM_MAX_PARAMS, &nfloats);
    printf("weights: %d tensors, %d parameter tensors, %lld parameters, %d classes, crc 0x%08x\n",
           w.ntensors, np, (long long)nfloats, w.cfg.num_classes, (unsigned)w.crc);
    free(image);
    return 0;
}

/* One 7 (10 Euler steps, seed 3, ref): its ink and a checksum of its pixels. */
static int sample(const char *path)
{
    static fm_sampler s;
    fm_sampler_config c = {.weights = path, .backend = "ref", .batch = 1};
    size_t bytes;
    void *mem = NULL;
    uint8_t px[28 * 28];
    int32_t seven = 7;
    fm_sample_request r = {.n = 1, .steps = 10, .seed = 3, .labels = &seven};
    int rc = fm_sampler_bytes(&s, &c, &bytes) != FM_OK || !(mem = aligned_alloc(64, bytes)) ||
             fm_sampler_open(&s, &c, mem, bytes) != FM_OK || fm_sampler_run(&s, &r, px) != FM_OK;
    if (rc) {
        fprintf(stderr, "consumer: %s\n", s.err);
    } else {
        unsigned ink = 0, sum = 0;
        for (int i = 0; i < 28 * 28; i++) {
            ink += px[i] > 127;
            sum = sum * 31u + px[i];
        }
        printf("sampled 1 digit: %u of 784 pixels inked, checksum 0x%08x\n", ink, sum);
    }
    fm_sampler_close(&s);
    free(mem);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: consumer WEIGHTS.fmw\n");
        return 2;
    }
    return silu() || weights(argv[1]) || sample(argv[1]);
}
