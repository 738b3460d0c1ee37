/* The GEMMs of the convolutions' inner loops without packing:
 *
 *   C[M,N] = op(A)[M,K] B[K,N]  (accumulate 0)   or   C += op(A) B  (accumulate 1)
 *
 * all row-major with row strides lda, ldb, ldc; op(A) = A, or A^T (ta: A stored K x M,
 * as the weight gradients' dout^T and the input gradients' w^T are). Winograd's a^2
 * GEMMs per tile block (M = tiles, K = input channels, N = output channels) are small
 * (M ~ 20-64, K and N 64-256) and their operands are already laid out for a register-
 * tile kernel: A's rows are read with broadcasts, B's rows with vector loads. A packing
 * GEMM (OpenBLAS) copies both into its panels on every call, which cost as much as a
 * fifth of a sampling step.
 *
 * Kernel: an MR x (NV VW) tile of C stays in vector registers while k runs over all of
 * K; per k it loads NV vectors of B's row k and, for each of the MR rows, broadcasts
 * A[r][k] into NV fused multiply-adds. MR x NV accumulators + NV loads + a broadcast
 * fit the register file: AVX-512 (32 registers of 16 floats) 14 x 2, AVX 6 x 2 (16
 * registers of 8), otherwise 4 x 2 vectors of 4. The loop order (column strips outside,
 * row tiles inside) keeps a strip of B (K x NV VW floats: 32 KiB at K = 256) in L1
 * while A streams from L2. The sum over k runs in order, one rounding per fused
 * multiply-add, as OpenBLAS's kernels do.
 *
 * The last N mod VW columns take a narrower strip whose vectors are filled and stored
 * element by element (a 14x14 image's 196 positions are 12 vectors of 16 and 4). K
 * above GS_KMAX, where a strip of B would leave L2, and N below VW (the U-Net's last,
 * one-channel conv: all tail) go to fm_cpu_sgemm. */
#include "cpu.h"

#if defined(__AVX512F__)
#define GS_VW 16
#define GS_MR 14
#elif defined(__AVX__)
#define GS_VW 8
#define GS_MR 6
#else
#define GS_VW 4
#define GS_MR 4
#endif
#define GS_NV 2
#define GS_KMAX 2304 /* a strip of B: 288 KiB */

typedef float gs_vec __attribute__((vector_size(GS_VW * sizeof(float)), aligned(sizeof(float))));

/* One mr x (nv VW) tile; mr and nv are constants at every call (tile_rows), so the
 * arrays become registers and the loops unroll. */
static inline __attribute__((always_inline)) void tile(const int mr, const int nv, const int ta,
                                                       int64_t K, const float *A, int64_t lda,
                                                       const float *B, int64_t ldb, float *C,
                                                       int64_t ldc, int accumulate)
{
    gs_vec c[GS_MR][GS_NV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            c[r][v] = accumulate ? *(const gs_vec *)(C + r * ldc + v * GS_VW) : (gs_vec){0};
    for (int64_t k = 0; k < K; k++) {
        gs_vec b[GS_NV];
        for (int v = 0; v < nv; v++)
            b[v] = *(const gs_vec *)(B + k * ldb + v * GS_VW);
        for (int r = 0; r < mr; r++) {
            float a = ta ? A[k * lda + r] : A[r * lda + k];
            for (int v = 0; v < nv; v++)
                c[r][v] += a * b[v];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            *(gs_vec *)(C + r * ldc + v * GS_VW) = c[r][v];
}

/* The last rem < VW columns of mr rows: B's and C's partial vectors go through lanes. */
static void tile_tail(int mr, int rem, int ta, int64_t K, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate)
{
    gs_vec c[GS_MR];
    for (int r = 0; r < mr; r++) {
        c[r] = (gs_vec){0};
        for (int i = 0; accumulate && i < rem; i++)
            c[r][i] = C[r * ldc + i];
    }
    for (int64_t k = 0; k < K; k++) {
        gs_vec b = {0};
        for (int i = 0; i < rem; i++)
            b[i] = B[k * ldb + i];
        for (int r = 0; r < mr; r++)
            c[r] += (ta ? A[k * lda + r] : A[r * lda + k]) * b;
    }
    for (int r = 0; r < mr; r++)
        for (int i = 0; i < rem; i++)
            C[r * ldc + i] = c[r][i];
}

/* The tile with constant sizes: the full one, or the last rows / last strip. */
#define GS_CASE(mr)                                                                                \
    case mr:                                                                                       \
        if (nv == GS_NV && ta)                                                                     \
            tile(mr, GS_NV, 1, K, A, lda, B, ldb, C, ldc, accumulate);                             \
        else if (nv == GS_NV)                                                                      \
            tile(mr, GS_NV, 0, K, A, lda, B, ldb, C, ldc, accumulate);                             \
        else if (ta)                                                                               \
            tile(mr, 1, 1, K, A, lda, B, ldb, C, ldc, accumulate);                                 \
        else                                                                                       \
            tile(mr, 1, 0, K, A, lda, B, ldb, C, ldc, accumulate);                                 \
        break;

static void tile_rows(int mr, int nv, int ta, int64_t K, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate)
{
    switch (mr) {
        GS_CASE(1)
        GS_CASE(2)
        GS_CASE(3)
        GS_CASE(4)
#if GS_MR > 4
        GS_CASE(5)
        GS_CASE(6)
#endif
#if GS_MR > 6
        GS_CASE(7)
        GS_CASE(8)
        GS_CASE(9)
        GS_CASE(10)
        GS_CASE(11)
        GS_CASE(12)
        GS_CASE(13)
        GS_CASE(14)
#endif
    default: break;
    }
}

/* Rows of the block starting at row i0 of M: the ceil(M / MR) blocks share the rows
 * evenly (M = 16: 8 + 8, not 14 + 2), so that no block is a thin tail whose few FMAs per
 * B load leave it waiting on loads; each block still re-reads B, so fewer is better. */
static int64_t row_block(int64_t M, int64_t i0)
{
    int64_t left = (M - i0 + GS_MR - 1) / GS_MR; /* blocks still to do, this one included */
    return (M - i0 + left - 1) / left;
}

void fm_cpu_sgemm_small(fm_cpu *cpu, int tid, int ta, int64_t M, int64_t N, int64_t K,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                        int64_t ldc, int accumulate)
{
    int64_t ra = ta ? 1 : lda;                /* A's step from one row of op(A) to the next */
    if (K > GS_KMAX || K <= 0 || N < GS_VW) { /* (N < VW: all tail, e.g. a 1-channel conv) */
        fm_cpu_sgemm(cpu, tid, ta, 0, M, N, K, 1.0f, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, C,
                     ldc);
        return;
    }
    int64_t Nv = N - N % GS_VW; /* columns in whole vectors */
    if (Nv < N)
        for (int64_t i0 = 0, mr; i0 < M; i0 += mr) {
            mr = row_block(M, i0);
            tile_tail((int)mr, (int)(N - Nv), ta, K, A + i0 * ra, lda, B + Nv, ldb,
                      C + i0 * ldc + Nv, ldc, accumulate);
        }
    for (int64_t j0 = 0; j0 < Nv; j0 += GS_NV * GS_VW) {
        int nv = Nv - j0 >= GS_NV * GS_VW ? GS_NV : 1;
        for (int64_t i0 = 0, mr; i0 < M; i0 += mr) {
            mr = row_block(M, i0);
            tile_rows((int)mr, nv, ta, K, A + i0 * ra, lda, B + j0, ldb, C + i0 * ldc + j0, ldc,
                      accumulate);
        }
    }
}
