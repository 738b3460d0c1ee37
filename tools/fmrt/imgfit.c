/* Images to the model's shape (cli_data.h): centre crop to a square, resize, channel
 * conversion; and the horizontal flip of --flip. Separable resampling, one axis at a
 * time, in float:
 *
 *   shrinking S -> D (area): out[j] = (1/s) * sum_k in[k] * |[k, k+1) n [j s, (j+1) s)|,
 *                            s = S / D (each output pixel the mean of the source span
 *                            it covers, partial pixels weighted by their overlap);
 *   growing S -> D (bilinear): x = (j + 0.5) s - 0.5, clamped to [0, S - 1];
 *                            out[j] = (1 - f) in[floor x] + f in[floor x + 1], f = x - floor x. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_data.h"

/* One output sample of a line of S source samples (stride `step`) at output j of D. */
static float sample(const float *in, size_t step, int S, int D, int j)
{
    const double s = (double)S / D;
    if (S > D) {
        const double lo = j * s, hi = (j + 1) * s;
        double acc = 0;
        for (int k = (int)lo; k < S && k < hi; k++) {
            const double a = k > lo ? k : lo, b = k + 1 < hi ? k + 1 : hi;
            acc += (b - a) * in[(size_t)k * step];
        }
        return (float)(acc / s);
    }
    double x = (j + 0.5) * s - 0.5;
    x = x < 0 ? 0 : x > S - 1 ? S - 1 : x;
    const int k = (int)x;
    const double f = x - k;
    const float b = k + 1 < S ? in[(size_t)(k + 1) * step] : in[(size_t)k * step];
    return (float)((1 - f) * in[(size_t)k * step] + f * b);
}

static uint8_t to_u8(float v)
{
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5f);
}

int cli_img_fit(const uint8_t *src, int sc, int sh, int sw, uint8_t *dst, int dc, int ds)
{
    const int S = sh < sw ? sh : sw, y0 = (sh - S) / 2, x0 = (sw - S) / 2;
    const size_t plane = (size_t)ds * ds;
    /* rows: [sc][S][S] cropped source; cols: [sc][S][ds] after the x pass; out: [sc][ds][ds] */
    float *rows = malloc(sizeof(float) * ((size_t)sc * S * S + (size_t)sc * S * ds + sc * plane));
    if (!rows)
        return cli_error("cannot allocate the resize buffers of a %dx%d image", sh, sw);
    float *cols = rows + (size_t)sc * S * S, *out = cols + (size_t)sc * S * ds;
    for (int c = 0; c < sc; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                rows[((size_t)c * S + y) * S + x] =
                    src[((size_t)c * sh + y0 + y) * sw + x0 + x];
    for (int c = 0; c < sc; c++)
        for (int y = 0; y < S; y++)
            for (int j = 0; j < ds; j++)
                cols[((size_t)c * S + y) * ds + j] =
                    sample(rows + ((size_t)c * S + y) * S, 1, S, ds, j);
    for (int c = 0; c < sc; c++)
        for (int i = 0; i < ds; i++)
            for (int x = 0; x < ds; x++)
                out[c * plane + (size_t)i * ds + x] =
                    sample(cols + (size_t)c * S * ds + x, (size_t)ds, S, ds, i);
    for (size_t p = 0; p < plane; p++) {
        if (dc == sc)
            for (int c = 0; c < dc; c++)
                dst[c * plane + p] = to_u8(out[c * plane + p]);
        else if (dc == 3) /* grey to RGB */
            for (int c = 0; c < 3; c++)
                dst[c * plane + p] = to_u8(out[p]);
        else /* RGB to grey: BT.601 luma */
            dst[p] = to_u8(0.299f * out[p] + 0.587f * out[plane + p] + 0.114f * out[2 * plane + p]);
    }
    free(rows);
    return 0;
}

void cli_img_flip(uint8_t *px, int c, int h, int w)
{
    for (int r = 0; r < c * h; r++) {
        uint8_t *line = px + (size_t)r * w;
        for (int x = 0; x < w / 2; x++) {
            const uint8_t t = line[x];
            line[x] = line[w - 1 - x];
            line[w - 1 - x] = t;
        }
    }
}
