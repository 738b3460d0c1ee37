/* The library's shortest path: a weights file to digits (model/io/sampler.h).
 *   sample_digits [WEIGHTS [BACKEND [OUT.u8]]]   (default model/tiny-cond.fmw, auto)
 * Draws one digit of each class 0..9 (20 Euler steps, seed 1), prints them as text
 * and writes the raw pixels (10 x 28 x 28 bytes) to OUT.u8 when given. */
#include <stdio.h>
#include <stdlib.h>

#include "fmrt.h"

int main(int argc, char **argv)
{
    static fm_sampler s; /* the model's tables: too large for the stack */
    fm_sampler_config c = {.weights = argc > 1 ? argv[1] : "model/tiny-cond.fmw",
                           .backend = argc > 2 ? argv[2] : "auto", .batch = 10};
    size_t bytes;
    void *mem = NULL;
    if (fm_sampler_bytes(&s, &c, &bytes) != FM_OK)
        return fprintf(stderr, "sample_digits: %s\n", s.err), 1;
    if (!(mem = aligned_alloc(64, bytes)) || fm_sampler_open(&s, &c, mem, bytes) != FM_OK)
        return fprintf(stderr, "sample_digits: %s\n", mem ? s.err : "no memory"), free(mem), 1;
    int channels, size;
    fm_sampler_shape(&s, &channels, &size);
    if (channels != 1 || size != 28)
        return fprintf(stderr, "sample_digits: %s holds %dx%dx%d images, not digits\n", c.weights,
                       channels, size, size), fm_sampler_close(&s), free(mem), 1;
    int32_t digits[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    static uint8_t px[10 * 28 * 28];
    fm_sample_request r = {.n = 10, .steps = 20, .seed = 1, .labels = digits, .guidance = 2.0f};
    int rc = fm_sampler_run(&s, &r, px) != FM_OK;
    for (int row = 0; !rc && row < 28; row += 2, putchar('\n'))
        for (int d = 0; d < 10; d++, putchar(' '))
            for (int col = 0; col < 28; col++)
                putchar(" .:-=+*#%@"[px[(d * 28 + row) * 28 + col] / 26]);
    if (rc)
        fprintf(stderr, "sample_digits: %s\n", s.err);
    if (argc > 3 && !rc) {
        FILE *f = fopen(argv[3], "wb");
        int bad = !f || fwrite(px, sizeof px, 1, f) != 1;
        if ((f && fclose(f) != 0) || bad)
            rc = fprintf(stderr, "sample_digits: cannot write %s\n", argv[3]) > 0;
    }
    fm_sampler_close(&s);
    free(mem);
    return rc;
}
