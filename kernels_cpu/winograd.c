/* 3x3 stride-1 convolution by Winograd's minimal filtering F(m x m, 3x3), m = 2 or 4
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). Each m x m
 * block of outputs comes from the a x a input tile d around it, a = m + 2:
 *
 *   Y = A^T [ U . V ] A,   U = G g G^T (a x a per (out, in) channel pair),
 *                          V = B^T d B (a x a per (in channel, tile))
 *
 * and the sum over input channels of U . V is, for each of the a^2 positions xi of the
 * tile, one GEMM: M[xi] (Co x T) = U[xi] (Co x Ci) V[xi] (Ci x T) over T tiles.
 *
 * F(2x2, 3x3), interpolation points 0, 1, -1 and infinity:
 *
 *   B^T = | 1  0 -1  0 |   G = | 1    0    0  |   A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |       | 1/2  1/2  1/2|         | 0  1 -1 -1 |
 *         | 0 -1  1  0 |       | 1/2 -1/2  1/2|
 *         | 0  1  0 -1 |       | 0    0    1  |
 *
 * 16 multiply-adds per 4 outputs per channel pair instead of 36 (2.25x fewer). The
 * transforms only add, subtract and halve, so the rounding error stays that of a
 * Ci-term dot product (conformance NMSE ~1e-14, as for im2col).
 *
 * F(4x4, 3x3), points 0, 1, -1, 2, -2 and infinity:
 *
 *   B^T = | 4  0 -5  0  1  0 |   G = |  1/4     0     0  |   A^T = | 1  1  1  1  1  0 |
 *         | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6 |         | 0  1 -1  2 -2  0 |
 *         | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6 |         | 0  1  1  4  4  0 |
 *         | 0 -2 -1  2  1  0 |       |  1/24  1/12  1/6 |         | 0  1 -1  8 -8  1 |
 *         | 0  2 -1 -2  1  0 |       |  1/24 -1/12  1/6 |
 *         | 0  4  0 -5  0  1 |       |  0     0     1   |
 *
 * (the rows of A^T are the powers 0..3 of the points 1, -1, 2, -2, with infinity's
 * column last; G holds the Lagrange weights 1 / prod(p_i - p_j) of the finite points).
 * 36 multiply-adds per 16 outputs: 4x fewer than direct, 1.78x fewer than F(2x2). The
 * points are the smallest integers that give 6 distinct ones, so the entries of the
 * matrices stay small (|A^T| <= 8, |B^T| <= 5) and the transforms stay short: larger or
 * more points (F(6x6)) grow the matrix entries geometrically and with them the error.
 * Here the input and output transforms amplify values by up to ~10x each way and
 * 1/6, 1/12, 1/24 round in U, so the relative error per output is about an order of
 * magnitude above F(2x2)'s: conformance NMSE ~3e-12 for 64 channels at 28x28 against
 * ~1e-13 (tolerance 1e-8), whole-model forward ~2e-11. F(4x4) is used where its tiles
 * cover the image with no more padded work than F(2x2)'s (tile_size).
 *
 * The same routine computes the input gradient of a 3x3 stride-1 conv: din is the
 * correlation of dout with the weights flipped in space and transposed in channels,
 * padded by 2 - p (`flip`); fm_cpu_winograd3x3_dw (at the end) the weight gradient, by
 * F(2x2) only. Work items are groups of whole images, or (images with more tiles than
 * an item's target) runs of whole tile rows of one image; U lives in the shared
 * scratch, V and M in the thread's own. Each returns 0 when the shapes do not fit the
 * scratch (the caller then uses im2col).
 *
 * Under FM_BACKEND_BF16 (cpu's --precision bf16) the forward F(4x4) path writes U and V
 * rounded to bfloat16 and its GEMMs run on AVX512-BF16 (gemm_bf16.c) with float32
 * sums; the transforms stay float32. The rounding, amplified by the transforms, gives
 * conv NMSE ~6e-4 (TOL_BF16_* in model/conformance/conf_rows.h). */
#include <string.h>

#include "cpu.h"
#include "vmath.h"

/* Target tiles per GEMM (the M of the a^2 GEMMs): values / a^2, so that an item's V
 * and M hold about the same floats per channel whatever the tile size. Small, so that V
 * and M stay in L2 between the transforms and the GEMMs: the GEMMs do not pack
 * (gemm_small.c), so short ones lose little. Measured on the mnist preset's sampling (2
 * threads, AVX-512): 8192 (227 tiles of F(4x4), right for OpenBLAS's packing GEMM) 2.55
 * s per 10 steps, 2048 2.36-2.42 s, 1024 2.24 s, 512 2.27-2.62 s (whole images per
 * item then; split_rows now also cuts a 28x28 image's 49 tiles into 28 + 21). The values
 * are the backend's block (FM_CPU_BLOCK, 1024, unless FMRT_CPU_FORCE sets it). */
#define WINO_MIN_TILES 64 /* and at least that many where the batch allows */
#define WINO_MAXA 6       /* the largest tile side a = m + 2 */
/* The F(4x4) transforms' loops over the tile are unrolled before vectorisation, so that
 * their small arrays become registers and the channel loop around them vectorises. */
#define FM_UNROLL6 _Pragma("GCC unroll 6")

typedef struct wino {
    fm_cpu *cpu;
    const float *in, *w, *dout;
    fm_cpu_adds e; /* the epilogue terms (forward) */
    float *out, *U;
    int64_t N, Ci, H, W, Co, Ho, Wo, p, th, tw, nb, T;
    int64_t plane;        /* floats of a thread's padded plane X (Y after it; then Co of bias) */
    int64_t rpi, rchunks; /* nb = 1: tile rows per item, items per image (else th, 1) */
    int m, a, nx;         /* outputs per tile side, tile side m + 2, positions a^2 */
    int flip;
    int bf16; /* U and V in bfloat16 (U pair-packed), the GEMMs by fm_cpu_sbgemm_small */
} wino;

/* u = G g along one axis: a values from 3. Inlined with a constant m into the channel
 * loop of weight_block. */
static inline void filter_1d(int m, float g0, float g1, float g2, float u[WINO_MAXA])
{
    if (m == 2) {
        u[0] = g0;
        u[1] = 0.5f * (g0 + g1 + g2);
        u[2] = 0.5f * (g0 - g1 + g2);
        u[3] = g2;
    } else {
        float s = g0 + g2, q = (1.0f / 24.0f) * g0 + (1.0f / 6.0f) * g2;
        u[0] = 0.25f * g0;
        u[1] = (-1.0f / 6.0f) * (s + g1);
        u[2] = (-1.0f / 6.0f) * (s - g1);
        u[3] = q + (1.0f / 12.0f) * g1;
        u[4] = q - (1.0f / 12.0f) * g1;
        u[5] = g2;
    }
}

#define WINO_WB 64 /* output channels per block of the weight transform */

/* U[xi][c][o0 + o] = (G g G^T)[xi] for the no filters g[.][o] (row-major 3x3 in g[0..8]),
 * vectorised over o; bf: in bfloat16, pair-packed over c (U[xi][c/2][o][c % 2]). */
static inline __attribute__((always_inline)) void weight_block(const wino *wn,
                                                               const float (*g)[WINO_WB], int64_t c,
                                                               int64_t o0, int64_t no, const int m,
                                                               const int bf)
{
    const int a = m + 2;
    float *U = wn->U + c * wn->Co + o0;
    uint16_t *Ub = (uint16_t *)wn->U + (c / 2) * 2 * wn->Co + 2 * o0 + c % 2;
    int64_t xs = wn->Co * wn->Ci; /* U's stride from one xi to the next */
    FM_IVDEP
    for (int64_t o = 0; o < no; o++) {
        float gg[3][WINO_MAXA]; /* gg[j] = G (column j of g) */
        FM_UNROLL6
        for (int j = 0; j < 3; j++)
            filter_1d(m, g[j][o], g[3 + j][o], g[6 + j][o], gg[j]);
        FM_UNROLL6
        for (int i = 0; i < a; i++) { /* row i of G g, through G: (G g) G^T */
            float u[WINO_MAXA];
            filter_1d(m, gg[0][i], gg[1][i], gg[2][i], u);
            FM_UNROLL6
            for (int j = 0; j < a; j++) {
                if (bf)
                    Ub[(i * a + j) * xs + 2 * o] = fm_cpu_to_bf16(u[j]);
                else
                    U[(i * a + j) * xs + o] = u[j];
            }
        }
    }
}

/* U for g = w[o, c] (or, flipped, w[c, o] rotated 180 degrees, with o and c then counting
 * the conv's output and input channels), one c per item: the filters of a block of
 * output channels are first gathered channel-innermost, so that the transform
 * vectorises and writes U's rows [c][o] whole. */
static void weight_item(void *p, int64_t c, int tid)
{
    (void)tid;
    const wino *wn = p;
    float g[9][WINO_WB];
    for (int64_t o0 = 0; o0 < wn->Co; o0 += WINO_WB) {
        int64_t no = wn->Co - o0 < WINO_WB ? wn->Co - o0 : WINO_WB;
        for (int64_t o = 0; o < no; o++) {
            const float *wp =
                wn->flip ? wn->w + (c * wn->Co + o0 + o) * 9 : wn->w + ((o0 + o) * wn->Ci + c) * 9;
            for (int k = 0; k < 9; k++)
                g[k][o] = wp[wn->flip ? 8 - k : k];
        }
        const float(*gb)[WINO_WB] = (const float(*)[WINO_WB])g;
        if (wn->m == 2)
            weight_block(wn, gb, c, o0, no, 2, 0);
        else if (wn->bf16)
            weight_block(wn, gb, c, o0, no, 4, 1);
        else
            weight_block(wn, gb, c, o0, no, 4, 0);
    }
}

/* v = B^T d for one tile, channel-vectorised: d and v are the a^2 channel vectors of
 * the tile in row-major order (F(2x2): a = 4). */
static void input_tile2(const float *const *d, float *const *v, int64_t Ci)
{
    FM_IVDEP
    for (int64_t c = 0; c < Ci; c++) {
        float b[4][4]; /* B^T d */
        for (int j = 0; j < 4; j++) {
            b[0][j] = d[j][c] - d[8 + j][c];
            b[1][j] = d[4 + j][c] + d[8 + j][c];
            b[2][j] = d[8 + j][c] - d[4 + j][c];
            b[3][j] = d[4 + j][c] - d[12 + j][c];
        }
        for (int i = 0; i < 4; i++) { /* (B^T d) B */
            v[i * 4 + 0][c] = b[i][0] - b[i][2];
            v[i * 4 + 1][c] = b[i][1] + b[i][2];
            v[i * 4 + 2][c] = b[i][2] - b[i][1];
            v[i * 4 + 3][c] = b[i][1] - b[i][3];
        }
    }
}

/* r = B^T x of F(4x4), six values: 4 x0 - 5 x2 + x4, then the pairs
 * (x4 - 4 x2) +- (x3 - 4 x1), (x4 - x2) +- 2 (x3 - x1), and 4 x1 - 5 x3 + x5. */
static inline void bt4(float x0, float x1, float x2, float x3, float x4, float x5, float *r)
{
    float s1 = x4 - 4.0f * x2, d1 = x3 - 4.0f * x1, s2 = x4 - x2, d2 = 2.0f * (x3 - x1);
    r[0] = 4.0f * x0 - 5.0f * x2 + x4;
    r[1] = s1 + d1;
    r[2] = s1 - d1;
    r[3] = s2 + d2;
    r[4] = s2 - d2;
    r[5] = 4.0f * x1 - 5.0f * x3 + x5;
}

/* The same for F(4x4): a = 6, B^T along the rows, then along the columns; bf: into vb,
 * rounded to bfloat16. */
static inline __attribute__((always_inline)) void
input_tile4(const float *const *d, float *const *v, uint16_t *const *vb, int64_t Ci, const int bf)
{
    FM_IVDEP
    for (int64_t c = 0; c < Ci; c++) {
        float b[6][6]; /* b[j][i] = (B^T d)[i][j] */
        FM_UNROLL6
        for (int j = 0; j < 6; j++)
            bt4(d[j][c], d[6 + j][c], d[12 + j][c], d[18 + j][c], d[24 + j][c], d[30 + j][c], b[j]);
        FM_UNROLL6
        for (int i = 0; i < 6; i++) { /* (B^T d) B */
            float r[6];
            bt4(b[0][i], b[1][i], b[2][i], b[3][i], b[4][i], b[5][i], r);
            FM_UNROLL6
            for (int j = 0; j < 6; j++) {
                if (bf)
                    vb[i * 6 + j][c] = fm_cpu_to_bf16(r[j]);
                else
                    v[i * 6 + j][c] = r[j];
            }
        }
    }
}

/* rows x nq positions from channels-first to channels-last: dst[y drow + q ld + c] =
 * src[c cs + y srow + q]. Blocks of 16 channels outermost, so that the 16 source planes
 * are read as 16 sequential streams (the prefetchers follow them; a loop over rows
 * outermost jumps between planes every few positions and waits on memory). */
static void to_last(float *dst, int64_t drow, int64_t ld, const float *src, int64_t srow,
                    int64_t cs, int64_t rows, int64_t nq, int64_t nc)
{
    for (int64_t c0 = 0; c0 < nc; c0 += 16) {
        int64_t cb = nc - c0 < 16 ? nc - c0 : 16;
        for (int64_t y = 0; y < rows; y++) {
            /* the 16 planes' row two ahead: the loads below otherwise wait on memory */
            if (y + 2 < rows)
                for (int64_t c = 0; c < cb; c++)
                    for (int64_t q = 0; q < nq; q += 16)
                        __builtin_prefetch(src + (y + 2) * srow + (c0 + c) * cs + q);
            fm_cpu_transpose_add(dst + y * drow + c0, ld, src + y * srow + c0 * cs, cs, cb, nq,
                                 NULL, NULL);
        }
    }
}

/* And back, adding the bias and the residual: dst[c cs + y drow + q] =
 * src[y srow + q ld + c] + bias[c] + res[c cs + y drow + q] (bias, res NULL: 0); the
 * same order, 16 destination planes written as streams. */
static void to_first(float *dst, int64_t drow, int64_t cs, const float *src, int64_t srow,
                     int64_t ld, int64_t rows, int64_t nq, int64_t nc, const float *bias,
                     const float *res)
{
    for (int64_t c0 = 0; c0 < nc; c0 += 16) {
        int64_t cb = nc - c0 < 16 ? nc - c0 : 16;
        for (int64_t y = 0; y < rows; y++) {
            if (y + 2 < rows) /* the same for the stores' lines */
                for (int64_t c = 0; c < cb; c++)
                    for (int64_t q = 0; q < nq; q += 16)
                        __builtin_prefetch(dst + (y + 2) * drow + (c0 + c) * cs + q, 1);
            fm_cpu_transpose_add(dst + y * drow + c0 * cs, cs, src + y * srow + c0, ld, nq, cb,
                                 bias ? bias + c0 : NULL, res ? res + y * drow + c0 * cs : NULL);
        }
    }
}

/* V[xi][t0 + t][c] = (B^T d B)[xi] for the tiles of tile rows [r0, r1) of image n,
 * through X, a zero-padded channels-last copy of the image rows they cover:
 * d[i][j] = X[m (ty - r0) + i][m tx + j][:]. */
static void input_transform(const wino *wn, float *V, float *X, int64_t T, int64_t n, int64_t t0,
                            int64_t r0, int64_t r1)
{
    int64_t tw = wn->tw, Ci = wn->Ci, m = wn->m, a = wn->a;
    int64_t PH = m * (r1 - r0) + 2, PW = m * tw + 2;
    int64_t HW = wn->H * wn->W, nq = wn->W < PW - wn->p ? wn->W : PW - wn->p;
    /* image rows [y0, y1) land in X's rows from py0; the rest is zero padding */
    int64_t y0 = m * r0 - wn->p, y1 = y0 + PH, py0 = 0;
    if (y0 < 0)
        py0 = -y0, y0 = 0;
    if (y1 > wn->H)
        y1 = wn->H;
    for (int64_t py = 0; py < PH; py++) {
        float *row = X + py * PW * Ci;
        if (py < py0 || py >= py0 + y1 - y0) {
            memset(row, 0, (size_t)(PW * Ci) * sizeof(float));
            continue;
        }
        memset(row, 0, (size_t)(wn->p * Ci) * sizeof(float));
        memset(row + (wn->p + nq) * Ci, 0, (size_t)((PW - wn->p - nq) * Ci) * sizeof(float));
    }
    if (y1 > y0)
        to_last(X + (py0 * PW + wn->p) * Ci, PW * Ci, Ci, wn->in + n * Ci * HW + y0 * wn->W, wn->W,
                HW, y1 - y0, nq, Ci);
    for (int64_t ty = 0; ty < r1 - r0; ty++)
        for (int64_t tx = 0; tx < tw; tx++) {
            int64_t t = t0 + ty * tw + tx;
            const float *d[WINO_MAXA * WINO_MAXA];
            float *v[WINO_MAXA * WINO_MAXA];
            uint16_t *vb[WINO_MAXA * WINO_MAXA];
            for (int64_t i = 0; i < a; i++)
                for (int64_t j = 0; j < a; j++) {
                    d[i * a + j] = X + ((m * ty + i) * PW + m * tx + j) * Ci;
                    v[i * a + j] = V + ((i * a + j) * T + t) * Ci;
                    vb[i * a + j] = (uint16_t *)V + ((i * a + j) * T + t) * Ci;
                }
            if (m == 2)
                input_tile2(d, v, Ci);
            else if (wn->bf16)
                input_tile4(d, v, vb, Ci, 1);
            else
                input_tile4(d, v, vb, Ci, 0);
        }
}

/* y = A^T m A for one tile: mm holds the a^2 channel vectors of M, y the m^2 output
 * vectors, row-major (F(2x2)). */
static void output_tile2(const float *const *mm, float *const *y, int64_t Co)
{
    FM_IVDEP
    for (int64_t o = 0; o < Co; o++) {
        float r[2][4]; /* A^T m */
        for (int j = 0; j < 4; j++) {
            r[0][j] = mm[j][o] + mm[4 + j][o] + mm[8 + j][o];
            r[1][j] = mm[4 + j][o] - mm[8 + j][o] - mm[12 + j][o];
        }
        for (int i = 0; i < 2; i++) { /* (A^T m) A */
            y[i * 2 + 0][o] = r[i][0] + r[i][1] + r[i][2];
            y[i * 2 + 1][o] = r[i][1] - r[i][2] - r[i][3];
        }
    }
}

/* r = A^T x of F(4x4): with s = x1 + x2, e = x1 - x2, S = x3 + x4, E = x3 - x4 the four
 * values x0 + s + S, e + 2 E, s + 4 S, e + 8 E + x5. */
static inline void at4(float x0, float x1, float x2, float x3, float x4, float x5, float *r)
{
    float s = x1 + x2, e = x1 - x2, S = x3 + x4, E = x3 - x4;
    r[0] = x0 + s + S;
    r[1] = e + 2.0f * E;
    r[2] = s + 4.0f * S;
    r[3] = e + 8.0f * E + x5;
}

static void output_tile4(const float *const *mm, float *const *y, int64_t Co)
{
    FM_IVDEP
    for (int64_t o = 0; o < Co; o++) {
        float r[6][4]; /* r[j][i] = (A^T m)[i][j] */
        FM_UNROLL6
        for (int j = 0; j < 6; j++)
            at4(mm[j][o], mm[6 + j][o], mm[12 + j][o], mm[18 + j][o], mm[24 + j][o], mm[30 + j][o],
                r[j]);
        FM_UNROLL6
        for (int i = 0; i < 4; i++) { /* (A^T m) A */
            float q[4];
            at4(r[0][i], r[1][i], r[2][i], r[3][i], r[4][i], r[5][i], q);
            FM_UNROLL6
            for (int j = 0; j < 4; j++)
                y[i * 4 + j][o] = q[j];
        }
    }
}

/* Item it: images [n0, n1), tile rows [r0, r1) of each. */
static void item_range(const wino *wn, int64_t it, int64_t *n0, int64_t *n1, int64_t *r0,
                       int64_t *r1)
{
    *n0 = it / wn->rchunks * wn->nb;
    *n1 = *n0 + wn->nb < wn->N ? *n0 + wn->nb : wn->N;
    *r0 = it % wn->rchunks * wn->rpi;
    *r1 = *r0 + wn->rpi < wn->th ? *r0 + wn->rpi : wn->th;
}

/* The bias of image n's planes: b, or b[o] + bn[n, o] into buf[Co]; NULL when neither. */
static const float *item_bias(const wino *wn, float *buf, int64_t n)
{
    if (!wn->e.bn)
        return wn->e.b;
    for (int64_t o = 0; o < wn->Co; o++)
        buf[o] = (wn->e.b ? wn->e.b[o] : 0.0f) + wn->e.bn[n * wn->Co + o];
    return buf;
}

/* One item: images [n0, n1), tile rows [r0, r1), T tiles. Channels are the SIMD
 * dimension (Ci and Co are 64-256 in the model, while a row has only 2-14 tiles): the
 * image rows the tiles cover are first transposed into a zero-padded channels-last
 * plane X[m (r1 - r0) + 2][m tw + 2][Ci], so that the a^2 values of a tile are a^2
 * contiguous channel vectors; V and M are [a^2][T][channels], the GEMMs are
 * M[xi] (T x Co) = V[xi] (T x Ci) U[xi] (Ci x Co), and the output transform fills a
 * channels-last Y[m (r1 - r0)][m tw][Co] that is transposed back into NCHW with the
 * bias. */
static void tile_item(void *p, int64_t it, int tid)
{
    const wino *wn = p;
    int64_t n0, n1, r0, r1;
    item_range(wn, it, &n0, &n1, &r0, &r1);
    int64_t tw = wn->tw, per = (r1 - r0) * tw, T = (n1 - n0) * per;
    int64_t Ci = wn->Ci, Co = wn->Co, m = wn->m, nx = wn->nx;
    float *V = fm_cpu_scratch(wn->cpu, tid), *M = V + nx * T * Ci, *X = M + nx * T * Co;
    float *Y = X; /* the plane buffer is free again once V is complete */
    for (int64_t n = n0; n < n1; n++)
        input_transform(wn, V, X, T, n, (n - n0) * per, r0, r1);
    for (int64_t xi = 0; xi < nx; xi++)
        if (wn->bf16)
            fm_cpu_sbgemm_small(wn->cpu, T, Co, Ci, (const uint16_t *)V + xi * T * Ci, Ci,
                                (const uint16_t *)wn->U + xi * Ci * Co, 2 * Co, M + xi * T * Co,
                                Co);
        else
            fm_cpu_sgemm_small(wn->cpu, tid, 0, T, Co, Ci, V + xi * T * Ci, Ci, wn->U + xi * Ci * Co, Co,
                               M + xi * T * Co, Co, 0);
    int64_t YW = m * tw;
    for (int64_t n = n0; n < n1; n++) {
        /* Y[m (ty - r0) + i][m tx + j][o] = (A^T m A)[i][j] */
        for (int64_t ty = 0; ty < r1 - r0; ty++)
            for (int64_t tx = 0; tx < tw; tx++) {
                int64_t t = (n - n0) * per + ty * tw + tx;
                const float *mm[WINO_MAXA * WINO_MAXA];
                float *y[4 * 4];
                for (int64_t xi = 0; xi < nx; xi++)
                    mm[xi] = M + (xi * T + t) * Co;
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < m; j++)
                        y[i * m + j] = Y + ((m * ty + i) * YW + m * tx + j) * Co;
                if (m == 2)
                    output_tile2(mm, y, Co);
                else
                    output_tile4(mm, y, Co);
            }
        /* out[n, o, y, x] = Y[y - m r0][x][o] + b[o] + bn[n, o] + res[n, o, y, x] over the
         * item's rows */
        int64_t y1 = m * r1 < wn->Ho ? m * r1 : wn->Ho;
        int64_t at = n * Co * wn->Ho * wn->Wo + m * r0 * wn->Wo;
        to_first(wn->out + at, wn->Wo, wn->Ho * wn->Wo, Y, YW * Co, Co, y1 - m * r0, wn->Wo, Co,
                 item_bias(wn, X + wn->plane, n), wn->e.res ? wn->e.res + at : NULL);
    }
}

/* The tile size for an Ho x Wo output: the one with fewer GEMM multiply-adds over the
 * padded tiles, a^2 per tile (16 ceil(Ho/2) ceil(Wo/2) against 36 ceil(Ho/4) ceil(Wo/4)),
 * F(2x2) on a tie for its smaller rounding error. F(4x4) never needs more, and wins by
 * 1.78x where 4 divides Ho and Wo. Measured on the mnist preset's 64-image sampling
 * (2 threads, AVX-512): 28x28 convs 1.3-1.45x faster than by F(2x2), 14x14 1.05-1.15x,
 * 7x7 (2x2 tiles of 4, as padded as F(2x2)'s 4x4 tiles of 2) 1.15x. */
static int tile_size(int64_t Ho, int64_t Wo)
{
    int64_t f2 = 16 * ((Ho + 1) / 2) * ((Wo + 1) / 2), f4 = 36 * ((Ho + 3) / 4) * ((Wo + 3) / 4);
    return f4 < f2 ? 4 : 2;
}

/* tile_size's choice, or the one FMRT_CPU_FORCE names */
static int first_tile_size(const fm_cpu *cpu, int64_t Ho, int64_t Wo)
{
    fm_cpu_conv_path path = fm_cpu_forced(cpu)->conv;
    return path == FM_CPU_CONV_WINOGRAD2   ? 2
           : path == FM_CPU_CONV_WINOGRAD4 ? 4
                                           : tile_size(Ho, Wo);
}

/* Tile geometry of an F(m x m) plan. */
static void set_tiles(wino *wn, int m)
{
    wn->m = m, wn->a = m + 2, wn->nx = wn->a * wn->a;
    wn->th = (wn->Ho + m - 1) / m, wn->tw = (wn->Wo + m - 1) / m;
}

/* Tiles per item: the backend's block of values over a^2, at least one. */
static int64_t target_tiles(const wino *wn)
{
    int64_t t = fm_cpu_forced(wn->cpu)->block / wn->nx;
    return t > 0 ? t : 1;
}

/* Images per item when `fixed` floats of the thread's scratch are taken and each tile
 * costs nx (Ci + Co) floats: up to block / nx tiles and what the scratch holds, at least
 * ~4 items per thread when the batch allows. 0 when one image does not fit. */
static int64_t images_per_item(const wino *wn, size_t fixed)
{
    int64_t per = wn->th * wn->tw, nt = fm_cpu_threads(wn->cpu);
    if (fm_cpu_scratch_floats(wn->cpu) <= fixed)
        return 0;
    int64_t maxT =
        (int64_t)((fm_cpu_scratch_floats(wn->cpu) - fixed) / (size_t)(wn->nx * (wn->Ci + wn->Co)));
    int64_t target = target_tiles(wn);
    if (maxT > target)
        maxT = target > per ? target : per;
    if (per > maxT)
        return 0;
    int64_t nb = maxT / per, cap = wn->N / (4 * nt);
    /* but not below WINO_MIN_TILES tiles (small images: short GEMMs run far below the
     * SGEMM rate), as long as every thread still gets an item */
    int64_t low = (WINO_MIN_TILES + per - 1) / per, most = (wn->N + nt - 1) / nt;
    if (cap < low)
        cap = low < most ? low : most;
    return nb > cap ? (cap > 1 ? cap : 1) : nb;
}

/* Items of one image each whose image has more than the target tiles take
 * ceil(target / tw) tile rows each instead (a 28x28 output by F(4x4): 4 + 3 of its 7
 * rows), so that V and M stay in L2. */
static void split_rows(wino *wn)
{
    int64_t target = target_tiles(wn);
    wn->rpi = wn->th, wn->rchunks = 1;
    if (wn->nb == 1 && wn->th * wn->tw > target) {
        wn->rpi = (target + wn->tw - 1) / wn->tw;
        wn->rchunks = (wn->th + wn->rpi - 1) / wn->rpi;
    }
}

int fm_cpu_winograd3x3(fm_cpu *cpu, float *out, const float *in, const float *w, fm_cpu_adds e,
                       int64_t N, int64_t Ci, int64_t H, int64_t W, int64_t Co, int64_t Ho,
                       int64_t Wo, int64_t pad, int flip)
{
    wino wn = {.cpu = cpu,
               .in = in,
               .w = w,
               .e = e,
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
    /* the chosen tile size, or F(2x2) where F(4x4)'s U (36 Co Ci floats) or tiles do not
     * fit the scratch; per thread: V and M, one padded plane, which also holds Y, and Co
     * floats of per-image bias */
    for (int m = first_tile_size(cpu, Ho, Wo);; m = 2) {
        set_tiles(&wn, m);
        wn.plane = (m * wn.th + 2) * (m * wn.tw + 2) * (Ci > Co ? Ci : Co);
        if ((size_t)(wn.nx * Co * Ci) <= fm_cpu_shared_floats(cpu))
            wn.nb = images_per_item(&wn, (size_t)(wn.plane + Co));
        if (wn.nb || m == 2)
            break;
    }
    if (!wn.nb)
        return 0;
    split_rows(&wn);
    wn.U = fm_cpu_shared(cpu);
    wn.bf16 = !flip && wn.m == 4 && fm_cpu_bf16(cpu) && Co % 16 == 0 && fm_cpu_sbgemm_fits(Ci);
    fm_cpu_parallel(cpu, Ci, weight_item, &wn);
    fm_cpu_parallel(cpu, (N + wn.nb - 1) / wn.nb * wn.rchunks, tile_item, &wn);
    return 1;
}

/* ---- the weight gradient ---------------------------------------------------------------
 * With y = A^T (U . V) A per tile, dU = V . (A dy A^T) summed over the tiles, and
 * dg = G^T dU G. The tile sum is, per xi, one GEMM into a per-thread [16][Co][Ci]
 * partial: dU[xi] (Co x Ci) += D[xi]^T (Co x T) V[xi] (T x Ci), D[xi][t][o] =
 * (A dy A^T)[xi] with dy the tile's 2x2 of dout (zero past the image), A = A^T's
 * transpose. 16 multiply-adds per 4 outputs per channel pair instead of 36, as forward.
 * (F(2x2) only: here the tile sum of the GEMMs runs over T, and F(4x4)'s larger
 * transform errors would add up over all the tiles of the batch.) */

static void dw_item(void *p, int64_t it, int tid)
{
    const wino *wn = p;
    int64_t n0 = it * wn->nb, n1 = n0 + wn->nb < wn->N ? n0 + wn->nb : wn->N;
    int64_t th = wn->th, tw = wn->tw, per = th * tw, T = (n1 - n0) * per;
    int64_t Ci = wn->Ci, Co = wn->Co, ZW = 2 * tw;
    float *dU = fm_cpu_scratch(wn->cpu, tid), *V = dU + 16 * Co * Ci, *D = V + 16 * T * Ci;
    float *X = D + 16 * T * Co;
    for (int64_t n = n0; n < n1; n++)
        input_transform(wn, V, X, T, n, (n - n0) * per, 0, th);
    for (int64_t n = n0; n < n1; n++) {
        /* Z[zy][zx][o] = dout[n, o, zy, zx] (channels last), zero past Ho x Wo */
        float *Z = X;
        for (int64_t zy = 0; zy < 2 * th; zy++) {
            float *row = Z + zy * ZW * Co;
            int64_t nq = zy < wn->Ho ? wn->Wo : 0;
            memset(row + nq * Co, 0, (size_t)((ZW - nq) * Co) * sizeof(float));
        }
        to_last(Z, ZW * Co, Co, wn->dout + n * Co * wn->Ho * wn->Wo, wn->Wo, wn->Ho * wn->Wo,
                wn->Ho, wn->Wo, Co);
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
        fm_cpu_sgemm_small(wn->cpu, tid, 1, Co, Ci, T, D + xi * T * Co, Co, V + xi * T * Ci, Ci,
                           dU + xi * Co * Ci, Ci, 1);
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
    set_tiles(&wn, 2);
    int nt = fm_cpu_threads(cpu);
    size_t cmax = (size_t)(Ci > Co ? Ci : Co);
    size_t fixed = (size_t)(16 * Co * Ci) + (size_t)((2 * wn.th + 2) * (2 * wn.tw + 2)) * cmax;
    wn.nb = images_per_item(&wn, fixed);
    if (!wn.nb)
        return 0;
    for (int t = 0; t < nt; t++)
        memset(fm_cpu_scratch(cpu, t), 0, (size_t)(16 * Co * Ci) * sizeof(float));
    fm_cpu_parallel_fixed(cpu, (N + wn.nb - 1) / wn.nb, dw_item, &wn); /* reproducible */
    fm_cpu_parallel(cpu, Co, dw_reduce, &wn);
    return 1;
}
