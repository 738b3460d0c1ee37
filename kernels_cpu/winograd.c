/* 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray,
 * "Fast Algorithms for Convolutional Neural Networks", 2016). Each 2x2 block of outputs
 * comes from the 4x4 input tile d around it:
 *
 *   Y = A^T [ U . V ] A,   U = G g G^T (4x4 per (out, in) channel pair),
 *                          V = B^T d B (4x4 per (in channel, tile))
 *
 *   B^T = | 1  0 -1  0 |   G = | 1    0    0  |   A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |       | 1/2  1/2  1/2|         | 0  1 -1 -1 |
 *         | 0 -1  1  0 |       | 1/2 -1/2  1/2|
 *         | 0  1  0 -1 |       | 0    0    1  |
 *
 * and the sum over input channels of U . V is, for each of the 16 positions xi of the
 * 4x4 tile, one GEMM: M[xi] (Co x T) = U[xi] (Co x Ci) V[xi] (Ci x T) over T tiles. That
 * is 16 multiply-adds per 4 outputs per channel pair instead of 36: 2.25x fewer FLOPs.
 * The transforms only add, subtract and halve, so the rounding error stays that of a
 * Ci-term dot product (conformance NMSE ~1e-14, as for im2col).
 *
 * The same routine computes the input gradient of a 3x3 stride-1 conv: din is the
 * correlation of dout with the weights flipped in space and transposed in channels,
 * padded by 2 - p (`flip`); fm_cpu_winograd3x3_dw (at the end) the weight gradient.
 * Work items are groups of whole images; U lives in the shared scratch, V and M in the
 * thread's own. Each returns 0 when the shapes do not fit the scratch (the caller then
 * uses im2col). */
#include <string.h>

#include "cpu.h"
#include "vmath.h"

#define WINO_TILES 512 /* target tiles per GEMM (the N of the 16 GEMMs) */

typedef struct wino {
    fm_cpu *cpu;
    const float *in, *w, *b, *dout;
    float *out, *U;
    int64_t N, Ci, H, W, Co, Ho, Wo, p, th, tw, nb, T;
    int flip;
} wino;

/* U[xi][o][c] = (G g G^T)[xi] for g = w[o, c] (or, flipped, w[c, o] rotated 180 degrees,
 * with o and c then counting the conv's input and output channels). Item: one o. */
static void weight_item(void *p, int64_t o, int tid)
{
    (void)tid;
    const wino *wn = p;
    for (int64_t c = 0; c < wn->Ci; c++) {
        float g[3][3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                g[i][j] = wn->flip ? wn->w[((c * wn->Co + o) * 3 + 2 - i) * 3 + 2 - j]
                                   : wn->w[((o * wn->Ci + c) * 3 + i) * 3 + j];
        float gg[4][3]; /* G g */
        for (int j = 0; j < 3; j++) {
            gg[0][j] = g[0][j];
            gg[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
            gg[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
            gg[3][j] = g[2][j];
        }
        for (int i = 0; i < 4; i++) { /* (G g) G^T */
            float u[4] = {gg[i][0], 0.5f * (gg[i][0] + gg[i][1] + gg[i][2]),
                          0.5f * (gg[i][0] - gg[i][1] + gg[i][2]), gg[i][2]};
            for (int j = 0; j < 4; j++)
                wn->U[((i * 4 + j) * wn->Co + o) * wn->Ci + c] = u[j];
        }
    }
}

/* V[xi][t0 + t][c] = (B^T d B)[xi] for the tiles of image n, through X, a zero-padded
 * channels-last copy of the image: d[i][j] = X[2 ty + i][2 tx + j][:]. */
static void input_transform(const wino *wn, float *V, float *X, int64_t T, int64_t n, int64_t t0)
{
    int64_t th = wn->th, tw = wn->tw, Ci = wn->Ci, PH = 2 * th + 2, PW = 2 * tw + 2;
    for (int64_t py = 0; py < PH; py++)
        for (int64_t px = 0; px < PW; px++) {
            int64_t y = py - wn->p, x = px - wn->p;
            float *xc = X + (py * PW + px) * Ci;
            if (y >= 0 && y < wn->H && x >= 0 && x < wn->W) {
                const float *ip = wn->in + n * Ci * wn->H * wn->W + y * wn->W + x;
                for (int64_t c = 0; c < Ci; c++)
                    xc[c] = ip[c * wn->H * wn->W];
            } else {
                for (int64_t c = 0; c < Ci; c++)
                    xc[c] = 0.0f;
            }
        }
    for (int64_t ty = 0; ty < th; ty++)
        for (int64_t tx = 0; tx < tw; tx++) {
            int64_t t = t0 + ty * tw + tx;
            const float *d[4][4];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    d[i][j] = X + ((2 * ty + i) * PW + 2 * tx + j) * Ci;
            float *v[16];
            for (int xi = 0; xi < 16; xi++)
                v[xi] = V + (xi * T + t) * Ci;
            FM_IVDEP
            for (int64_t c = 0; c < Ci; c++) {
                float b[4][4]; /* B^T d */
                for (int j = 0; j < 4; j++) {
                    b[0][j] = d[0][j][c] - d[2][j][c];
                    b[1][j] = d[1][j][c] + d[2][j][c];
                    b[2][j] = d[2][j][c] - d[1][j][c];
                    b[3][j] = d[1][j][c] - d[3][j][c];
                }
                for (int i = 0; i < 4; i++) { /* (B^T d) B */
                    v[i * 4 + 0][c] = b[i][0] - b[i][2];
                    v[i * 4 + 1][c] = b[i][1] + b[i][2];
                    v[i * 4 + 2][c] = b[i][2] - b[i][1];
                    v[i * 4 + 3][c] = b[i][1] - b[i][3];
                }
            }
        }
}

/* One item: images [n0, n1), T tiles. Channels are the SIMD dimension (Ci and Co are
 * 64-256 in the model, while a row has only 4-14 tiles): each image is first transposed
 * into a zero-padded channels-last plane X[2 th + 2][2 tw + 2][Ci], so that the 16
 * values of a tile are 16 contiguous channel vectors; V and M are [16][T][channels],
 * the GEMMs are M[xi] (T x Co) = V[xi] (T x Ci) U[xi]^T, and the output transform fills
 * a channels-last Y[2 th][2 tw][Co] that is transposed back into NCHW with the bias. */
static void tile_item(void *p, int64_t it, int tid)
{
    const wino *wn = p;
    int64_t n0 = it * wn->nb, n1 = n0 + wn->nb < wn->N ? n0 + wn->nb : wn->N;
    int64_t th = wn->th, tw = wn->tw, per = th * tw, T = (n1 - n0) * per;
    int64_t Ci = wn->Ci, Co = wn->Co;
    float *V = fm_cpu_scratch(wn->cpu, tid), *M = V + 16 * T * Ci, *X = M + 16 * T * Co;
    float *Y = X; /* the plane buffer is free again once V is complete */
    for (int64_t n = n0; n < n1; n++)
        input_transform(wn, V, X, T, n, (n - n0) * per);
    for (int xi = 0; xi < 16; xi++)
        fm_cpu_sgemm(0, 1, T, Co, Ci, 1.0f, V + xi * T * Ci, Ci, wn->U + xi * Co * Ci, Ci, 0.0f,
                     M + xi * T * Co, Co);
    int64_t YW = 2 * tw;
    for (int64_t n = n0; n < n1; n++) {
        /* Y[2 ty + i][2 tx + j][o] = (A^T m A)[i][j] */
        for (int64_t ty = 0; ty < th; ty++)
            for (int64_t tx = 0; tx < tw; tx++) {
                int64_t t = (n - n0) * per + ty * tw + tx;
                const float *m[16];
                for (int xi = 0; xi < 16; xi++)
                    m[xi] = M + (xi * T + t) * Co;
                float *y00 = Y + ((2 * ty) * YW + 2 * tx) * Co, *y01 = y00 + Co;
                float *y10 = y00 + YW * Co, *y11 = y10 + Co;
                FM_IVDEP
                for (int64_t o = 0; o < Co; o++) {
                    float a[2][4]; /* A^T m */
                    for (int j = 0; j < 4; j++) {
                        a[0][j] = m[j][o] + m[4 + j][o] + m[8 + j][o];
                        a[1][j] = m[4 + j][o] - m[8 + j][o] - m[12 + j][o];
                    }
                    y00[o] = a[0][0] + a[0][1] + a[0][2];
                    y01[o] = a[0][1] - a[0][2] - a[0][3];
                    y10[o] = a[1][0] + a[1][1] + a[1][2];
                    y11[o] = a[1][1] - a[1][2] - a[1][3];
                }
            }
        /* out[n, o, y, x] = Y[y][x][o] + b[o] over the image */
        for (int64_t o = 0; o < Co; o++) {
            float *op = wn->out + (n * Co + o) * wn->Ho * wn->Wo;
            float bias = wn->b ? wn->b[o] : 0.0f;
            for (int64_t y = 0; y < wn->Ho; y++)
                for (int64_t x = 0; x < wn->Wo; x++)
                    op[y * wn->Wo + x] = Y[(y * YW + x) * Co + o] + bias;
        }
    }
}

int fm_cpu_winograd3x3(fm_cpu *cpu, float *out, const float *in, const float *w, const float *b,
                       int64_t N, int64_t Ci, int64_t H, int64_t W, int64_t Co, int64_t Ho,
                       int64_t Wo, int64_t pad, int flip)
{
    wino wn = {.cpu = cpu,
               .in = in,
               .w = w,
               .b = b,
               .out = out,
               .N = N,
               .Ci = Ci,
               .H = H,
               .W = W,
               .Co = Co,
               .Ho = Ho,
               .Wo = Wo,
               .p = pad,
               .flip = flip};
    wn.th = (Ho + 1) / 2, wn.tw = (Wo + 1) / 2;
    int64_t per = wn.th * wn.tw, nt = fm_cpu_threads(cpu);
    if ((size_t)(16 * Co * Ci) > fm_cpu_shared_floats(cpu))
        return 0;
    /* images per item: up to WINO_TILES tiles and what the scratch holds, at least ~4
     * items per thread when the batch allows */
    /* per thread: V and M (16 x T x (Ci + Co)) plus one padded plane, which also holds Y */
    size_t plane = (size_t)((2 * wn.th + 2) * (2 * wn.tw + 2)) * (size_t)(Ci > Co ? Ci : Co);
    if (fm_cpu_scratch_floats(cpu) <= plane)
        return 0;
    int64_t maxT = (int64_t)((fm_cpu_scratch_floats(cpu) - plane) / (size_t)(16 * (Ci + Co)));
    if (maxT > WINO_TILES)
        maxT = WINO_TILES > per ? WINO_TILES : per;
    if (per > maxT)
        return 0;
    wn.nb = maxT / per;
    int64_t cap = N / (4 * nt);
    if (wn.nb > cap)
        wn.nb = cap > 1 ? cap : 1;
    wn.U = fm_cpu_shared(cpu);
    fm_cpu_parallel(cpu, Co, weight_item, &wn);
    fm_cpu_parallel(cpu, (N + wn.nb - 1) / wn.nb, tile_item, &wn);
    return 1;
}

/* ---- the weight gradient ---------------------------------------------------------------
 * With y = A^T (U . V) A per tile, dU = V . (A dy A^T) summed over the tiles, and
 * dg = G^T dU G. The tile sum is, per xi, one GEMM into a per-thread [16][Co][Ci]
 * partial: dU[xi] (Co x Ci) += D[xi]^T (Co x T) V[xi] (T x Ci), D[xi][t][o] =
 * (A dy A^T)[xi] with dy the tile's 2x2 of dout (zero past the image), A = A^T's
 * transpose. 16 multiply-adds per 4 outputs per channel pair instead of 36, as forward. */

static void dw_item(void *p, int64_t it, int tid)
{
    const wino *wn = p;
    int64_t n0 = it * wn->nb, n1 = n0 + wn->nb < wn->N ? n0 + wn->nb : wn->N;
    int64_t th = wn->th, tw = wn->tw, per = th * tw, T = (n1 - n0) * per;
    int64_t Ci = wn->Ci, Co = wn->Co, ZW = 2 * tw;
    float *dU = fm_cpu_scratch(wn->cpu, tid), *V = dU + 16 * Co * Ci, *D = V + 16 * T * Ci;
    float *X = D + 16 * T * Co;
    for (int64_t n = n0; n < n1; n++)
        input_transform(wn, V, X, T, n, (n - n0) * per);
    for (int64_t n = n0; n < n1; n++) {
        /* Z[zy][zx][o] = dout[n, o, zy, zx] (channels last), zero past Ho x Wo */
        float *Z = X;
        for (int64_t zy = 0; zy < 2 * th; zy++)
            for (int64_t zx = 0; zx < ZW; zx++) {
                float *z = Z + (zy * ZW + zx) * Co;
                if (zy < wn->Ho && zx < wn->Wo) {
                    const float *g = wn->dout + n * Co * wn->Ho * wn->Wo + zy * wn->Wo + zx;
                    for (int64_t o = 0; o < Co; o++)
                        z[o] = g[o * wn->Ho * wn->Wo];
                } else {
                    for (int64_t o = 0; o < Co; o++)
                        z[o] = 0.0f;
                }
            }
        for (int64_t ty = 0; ty < th; ty++)
            for (int64_t tx = 0; tx < tw; tx++) {
                int64_t t = (n - n0) * per + ty * tw + tx;
                const float *e00 = Z + (2 * ty * ZW + 2 * tx) * Co, *e01 = e00 + Co;
                const float *e10 = e00 + ZW * Co, *e11 = e10 + Co;
                float *w[16];
                for (int xi = 0; xi < 16; xi++)
                    w[xi] = D + (xi * T + t) * Co;
                FM_IVDEP
                for (int64_t o = 0; o < Co; o++) {
                    /* A dy: rows dy0, dy0 + dy1, dy0 - dy1, -dy1 */
                    float a[4][2] = {{e00[o], e01[o]},
                                     {e00[o] + e10[o], e01[o] + e11[o]},
                                     {e00[o] - e10[o], e01[o] - e11[o]},
                                     {-e10[o], -e11[o]}};
                    for (int i = 0; i < 4; i++) { /* (A dy) A^T */
                        w[i * 4 + 0][o] = a[i][0];
                        w[i * 4 + 1][o] = a[i][0] + a[i][1];
                        w[i * 4 + 2][o] = a[i][0] - a[i][1];
                        w[i * 4 + 3][o] = -a[i][1];
                    }
                }
            }
    }
    for (int xi = 0; xi < 16; xi++)
        fm_cpu_sgemm(1, 0, Co, Ci, T, 1.0f, D + xi * T * Co, Co, V + xi * T * Ci, Ci, 1.0f,
                     dU + xi * Co * Ci, Ci);
}

/* dw[o, c] += G^T (sum over threads of dU[:, o, c]) G. Item: one o. */
static void dw_reduce(void *p, int64_t o, int tid)
{
    (void)tid;
    const wino *wn = p;
    int nt = fm_cpu_threads(wn->cpu);
    int64_t Ci = wn->Ci, Co = wn->Co;
    for (int64_t c = 0; c < Ci; c++) {
        float u[4][4] = {{0}};
        for (int t = 0; t < nt; t++) {
            const float *part = fm_cpu_scratch(wn->cpu, t) + o * Ci + c;
            for (int xi = 0; xi < 16; xi++)
                u[xi / 4][xi % 4] += part[xi * Co * Ci];
        }
        float r[3][4]; /* G^T u, G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1] */
        for (int j = 0; j < 4; j++) {
            r[0][j] = u[0][j] + 0.5f * (u[1][j] + u[2][j]);
            r[1][j] = 0.5f * (u[1][j] - u[2][j]);
            r[2][j] = 0.5f * (u[1][j] + u[2][j]) + u[3][j];
        }
        float *g = wn->out + (o * Ci + c) * 9;
        for (int i = 0; i < 3; i++) { /* (G^T u) G */
            g[i * 3 + 0] += r[i][0] + 0.5f * (r[i][1] + r[i][2]);
            g[i * 3 + 1] += 0.5f * (r[i][1] - r[i][2]);
            g[i * 3 + 2] += 0.5f * (r[i][1] + r[i][2]) + r[i][3];
        }
    }
}

int fm_cpu_winograd3x3_dw(fm_cpu *cpu, float *dw, const float *in, const float *dout, int64_t N,
                          int64_t Ci, int64_t H, int64_t W, int64_t Co, int64_t Ho, int64_t Wo,
                          int64_t pad)
{
    wino wn = {.cpu = cpu,
               .in = in,
               .dout = dout,
               .out = dw,
               .N = N,
               .Ci = Ci,
               .H = H,
               .W = W,
               .Co = Co,
               .Ho = Ho,
               .Wo = Wo,
               .p = pad};
    wn.th = (Ho + 1) / 2, wn.tw = (Wo + 1) / 2;
    int64_t per = wn.th * wn.tw, nt = fm_cpu_threads(cpu);
    size_t cmax = (size_t)(Ci > Co ? Ci : Co);
    size_t fixed = (size_t)(16 * Co * Ci) + (size_t)((2 * wn.th + 2) * (2 * wn.tw + 2)) * cmax;
    if (fm_cpu_scratch_floats(cpu) <= fixed)
        return 0;
    int64_t maxT = (int64_t)((fm_cpu_scratch_floats(cpu) - fixed) / (size_t)(16 * (Ci + Co)));
    if (maxT > WINO_TILES)
        maxT = WINO_TILES > per ? WINO_TILES : per;
    if (per > maxT)
        return 0;
    wn.nb = maxT / per;
    int64_t cap = N / (4 * nt);
    if (wn.nb > cap)
        wn.nb = cap > 1 ? cap : 1;
    for (int t = 0; t < nt; t++)
        memset(fm_cpu_scratch(cpu, t), 0, (size_t)(16 * Co * Ci) * sizeof(float));
    fm_cpu_parallel_fixed(cpu, (N + wn.nb - 1) / wn.nb, dw_item, &wn); /* reproducible */
    fm_cpu_parallel(cpu, Co, dw_reduce, &wn);
    return 1;
}
