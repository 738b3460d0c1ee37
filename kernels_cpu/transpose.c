/* Batched transpose on the pool: out[b,c,r] = in[b,r,c], in[B,R,C], out[B,C,R] (the
 * DiT's layout op: tokens [N,T,D] <-> channels [N,D,T]). Square tiles of FM_TILE so
 * that both the rows read and the rows written stay in L1; one work item is one
 * tile row of one batch: B * ceil(R / FM_TILE) items. Exact (a copy).
 *
 * The tiles, and Winograd's layout changes (NCHW <-> channels-last), go through
 * fm_cpu_transpose_add: 16 x 16 blocks in AVX-512 registers where the build has it
 * (16 vector loads, 64 shuffles, 16 vector stores per block, masked at the edges,
 * against 256 scalar loads and stores, one of the two sides strided), plain loops
 * elsewhere. Without a bias it is a copy, bit for bit. */
#include "cpu.h"

#define FM_TILE 32

#if defined(__AVX512F__)
#include <immintrin.h>

/* dst[j ldd + i] = src[i lds + j] (+ bias[j]) for i < nr, j < nc (both <= 16): masked
 * loads and stores at the edges. Three rounds of shuffles: unpack interleaves pairs of
 * rows, shuffle_ps gathers four rows' column 4k + c into 128-bit lane k, shuffle_f32x4
 * (twice) puts lane k of the four row groups together. */
static inline void block16(float *dst, int64_t ldd, const float *src, int64_t lds, int nr, int nc,
                           const float *bias, const float *res)
{
    __m512 t[16], u[16];
    const __mmask16 cm = (__mmask16)((1u << nc) - 1), rm = (__mmask16)((1u << nr) - 1);
    for (int p = 0; p < 8; p++) {
        const float *ra = src + (2 * p) * lds, *rb = ra + lds;
        __m512 a = 2 * p < nr ? _mm512_maskz_loadu_ps(cm, ra) : _mm512_setzero_ps();
        __m512 b = 2 * p + 1 < nr ? _mm512_maskz_loadu_ps(cm, rb) : _mm512_setzero_ps();
        t[2 * p] = _mm512_unpacklo_ps(a, b);
        t[2 * p + 1] = _mm512_unpackhi_ps(a, b);
    }
    for (int g = 0; g < 4; g++) { /* u[4 g + c], lane k: column 4k + c of rows 4g..4g+3 */
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        __m512 p = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        __m512 q = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        __m512 r = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        __m512 s = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        __m512 col[4] = {_mm512_shuffle_f32x4(p, r, 0x88), _mm512_shuffle_f32x4(q, s, 0x88),
                         _mm512_shuffle_f32x4(p, r, 0xDD), _mm512_shuffle_f32x4(q, s, 0xDD)};
        for (int k = 0; k < 4; k++) { /* column j = 4k + c */
            int j = 4 * k + c;
            if (j >= nc)
                continue;
            if (bias)
                col[k] = _mm512_add_ps(col[k], _mm512_set1_ps(bias[j]));
            if (res)
                col[k] = _mm512_add_ps(col[k], _mm512_maskz_loadu_ps(rm, res + j * ldd));
            _mm512_mask_storeu_ps(dst + j * ldd, rm, col[k]);
        }
    }
}
#define FM_TR_BLOCK 16
#else
#define FM_TR_BLOCK 0
#endif

void fm_cpu_transpose_add(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                          int64_t cols, const float *bias, const float *res)
{
#if FM_TR_BLOCK
    for (int64_t r0 = 0; r0 < rows; r0 += 16)
        for (int64_t c0 = 0; c0 < cols; c0 += 16)
            block16(dst + c0 * ldd + r0, ldd, src + r0 * lds + c0, lds,
                    rows - r0 < 16 ? (int)(rows - r0) : 16, cols - c0 < 16 ? (int)(cols - c0) : 16,
                    bias ? bias + c0 : NULL, res ? res + c0 * ldd + r0 : NULL);
#else
    for (int64_t j = 0; j < cols; j++)
        for (int64_t i = 0; i < rows; i++) {
            float v = bias ? src[i * lds + j] + bias[j] : src[i * lds + j];
            dst[j * ldd + i] = res ? v + res[j * ldd + i] : v;
        }
#endif
}

typedef struct transpose_job {
    float *out;
    const float *in;
    int64_t R, C, row_tiles;
} transpose_job;

static void tile_row(void *ctx, int64_t item, int tid)
{
    (void)tid;
    const transpose_job *j = ctx;
    const int64_t b = item / j->row_tiles, r0 = (item % j->row_tiles) * FM_TILE;
    const int64_t r1 = r0 + FM_TILE < j->R ? r0 + FM_TILE : j->R;
    const float *in = j->in + b * j->R * j->C;
    float *out = j->out + b * j->R * j->C;
    for (int64_t c0 = 0; c0 < j->C; c0 += FM_TILE) {
        const int64_t c1 = c0 + FM_TILE < j->C ? c0 + FM_TILE : j->C;
        fm_cpu_transpose_add(out + c0 * j->R + r0, j->R, in + r0 * j->C + c0, j->C, r1 - r0,
                             c1 - c0, NULL, NULL);
    }
}

/* TRANSPOSE: out[B,C,R], in[B,R,C] */
fm_status fm_cpu_transpose(fm_backend *be, const fm_call *c)
{
    const fm_tensor *in = &c->t[1];
    const int64_t B = in->shape[0], R = in->shape[1];
    transpose_job j = {.out = fm_f32(&c->t[0]), .in = fm_f32(in), .R = R, .C = in->shape[2],
                       .row_tiles = (R + FM_TILE - 1) / FM_TILE};
    fm_cpu_parallel(fm_cpu_of(be), B * j.row_tiles, tile_row, &j);
    return FM_OK;
}
