/* The bfloat16 GEMM of the reduced-precision path (FM_BACKEND_BF16, winograd.c):
 *
 *   C[M,N] = A[M,K] B[K,N]    A, B in bfloat16; products and sums in float32; C float32
 *
 * A is row-major (row stride lda, counted in bfloat16 values) and K even. B is
 * pair-packed: row pair k/2 holds, for every column j, B[k][j] and B[k+1][j] side by side,
 *
 *   Bp[(k/2) ldp + 2 j + (k mod 2)],   ldp >= 2 N,
 *
 * the operand layout of AVX512-BF16's VDPBF16PS, which adds a[2j] b[2j] + a[2j+1] b[2j+1]
 * to the float32 lane j. With A's pair (A[r][k], A[r][k+1]) broadcast to all 16 lanes,
 * one instruction does two steps of k for 16 columns: twice the multiply-adds of a
 * float32 FMA, from operands half the size. The register tile is gemm_small.c's (14
 * rows x 32 columns, no packing).
 *
 * Built where the compiler targets AVX512-BF16 (-march=native on such a CPU):
 * fm_cpu_bf16_native() says whether this build has it. Elsewhere the function is a
 * plain loop (correct, slow); the backend does not call it there. N must be a multiple
 * of 16 (the caller checks: fm_cpu_sbgemm_fits). */
#include <string.h>

#include "cpu.h"

int fm_cpu_sbgemm_fits(int64_t N, int64_t K)
{
    return fm_cpu_bf16_native() && N % 16 == 0 && K % 2 == 0 && K > 0;
}

#if defined(__AVX512BF16__) && defined(__AVX512F__)
#include <immintrin.h>

int fm_cpu_bf16_native(void)
{
    return 1;
}

#define SB_MR 14

/* One mr x (nv 16) tile over K2 = K / 2 pairs; mr and nv constant at every call. */
static inline __attribute__((always_inline)) void sbtile(const int mr, const int nv, int64_t K2,
                                                         const uint16_t *A, int64_t lda,
                                                         const uint16_t *B, int64_t ldp, float *C,
                                                         int64_t ldc)
{
    __m512 c[SB_MR][2];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            c[r][v] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K2; k++) {
        __m512bh b[2];
        for (int v = 0; v < nv; v++)
            b[v] = (__m512bh)_mm512_loadu_si512(B + k * ldp + v * 32);
        for (int r = 0; r < mr; r++) {
            int32_t pair;
            memcpy(&pair, A + r * lda + 2 * k, sizeof pair);
            __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
            for (int v = 0; v < nv; v++)
                c[r][v] = _mm512_dpbf16_ps(c[r][v], a, b[v]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            _mm512_storeu_ps(C + r * ldc + v * 16, c[r][v]);
}

#define SB_CASE(mr)                                                                                \
    case mr:                                                                                       \
        if (nv == 2)                                                                               \
            sbtile(mr, 2, K2, A, lda, B, ldp, C, ldc);                                             \
        else                                                                                       \
            sbtile(mr, 1, K2, A, lda, B, ldp, C, ldc);                                             \
        break;

static void sbtile_rows(int mr, int nv, int64_t K2, const uint16_t *A, int64_t lda,
                        const uint16_t *B, int64_t ldp, float *C, int64_t ldc)
{
    switch (mr) {
        SB_CASE(1)
        SB_CASE(2)
        SB_CASE(3)
        SB_CASE(4)
        SB_CASE(5)
        SB_CASE(6)
        SB_CASE(7)
        SB_CASE(8)
        SB_CASE(9)
        SB_CASE(10)
        SB_CASE(11)
        SB_CASE(12)
        SB_CASE(13)
        SB_CASE(14)
    default:
        break;
    }
}

void fm_cpu_sbgemm_small(int64_t M, int64_t N, int64_t K, const uint16_t *A, int64_t lda,
                         const uint16_t *Bp, int64_t ldp, float *C, int64_t ldc)
{
    for (int64_t j0 = 0; j0 < N; j0 += 32) {
        int nv = N - j0 >= 32 ? 2 : 1;
        for (int64_t i0 = 0; i0 < M; i0 += SB_MR) {
            int mr = M - i0 < SB_MR ? (int)(M - i0) : SB_MR;
            sbtile_rows(mr, nv, K / 2, A + i0 * lda, lda, Bp + 2 * j0, ldp, C + i0 * ldc + j0, ldc);
        }
    }
}

#else

int fm_cpu_bf16_native(void)
{
    return 0;
}

static float widen(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

void fm_cpu_sbgemm_small(int64_t M, int64_t N, int64_t K, const uint16_t *A, int64_t lda,
                         const uint16_t *Bp, int64_t ldp, float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++)
                s += widen(A[i * lda + k]) * widen(Bp[(k / 2) * ldp + 2 * j + (k & 1)]);
            C[i * ldc + j] = s;
        }
}

#endif
