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
 * B's rows are read in whole vectors of 16 columns: past N (N not a multiple of 16) B
 * must hold readable values (fm_cpu_bf16_pack pads with zeros); C's last columns are
 * written under a mask.
 *
 * Built where the compiler targets AVX512-BF16 (-march=native on such a CPU):
 * fm_cpu_bf16_native() says whether this build has it. The portable loops at the end
 * compute the same: bfloat16 operands, exact products (two 8-bit significands fit a
 * float's 24), float32 sums; only the order of the sums differs. They run where the
 * instructions are missing and bf16-portable is forced (FMRT_CPU_FORCE), so that the
 * bf16 path's accuracy is tested on every CPU. */
#include <string.h>

#include "cpu.h"
#include "vmath.h"

int fm_cpu_sbgemm_fits(int64_t K)
{
    return K % 2 == 0 && K > 0;
}

static void sbgemm_portable(int64_t M, int64_t N, int64_t K, const uint16_t *A, int64_t lda,
                            const uint16_t *Bp, int64_t ldp, float *C, int64_t ldc);
static void pack_portable(uint16_t *Bp, const float *B, int64_t ldb, int64_t K, int64_t N);

#if defined(__AVX512BF16__) && defined(__AVX512F__)
#include <immintrin.h>

int fm_cpu_bf16_native(void)
{
    return 1;
}

#define SB_MR 14

/* One mr x (nv 16) tile over K2 = K / 2 pairs; mr and nv constant at every call. The
 * last vector of each row of C is stored under `last` (all ones but at C's edge). */
static inline __attribute__((always_inline)) void sbtile(const int mr, const int nv, int64_t K2,
                                                         const uint16_t *A, int64_t lda,
                                                         const uint16_t *B, int64_t ldp, float *C,
                                                         int64_t ldc, __mmask16 last)
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
            _mm512_mask_storeu_ps(C + r * ldc + v * 16, v == nv - 1 ? last : 0xffff, c[r][v]);
}

#define SB_CASE(mr)                                                                                \
    case mr:                                                                                       \
        if (nv == 2)                                                                               \
            sbtile(mr, 2, K2, A, lda, B, ldp, C, ldc, last);                                       \
        else                                                                                       \
            sbtile(mr, 1, K2, A, lda, B, ldp, C, ldc, last);                                       \
        break;

static void sbtile_rows(int mr, int nv, int64_t K2, const uint16_t *A, int64_t lda,
                        const uint16_t *B, int64_t ldp, float *C, int64_t ldc, __mmask16 last)
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
    default: break;
    }
}

static void sbgemm_native(int64_t M, int64_t N, int64_t K, const uint16_t *A, int64_t lda,
                          const uint16_t *Bp, int64_t ldp, float *C, int64_t ldc)
{
    for (int64_t j0 = 0; j0 < N; j0 += 32) {
        int64_t w = N - j0 < 32 ? N - j0 : 32; /* columns of this strip */
        int nv = w > 16 ? 2 : 1;
        __mmask16 last = (__mmask16)(w % 16 ? (1u << (w % 16)) - 1 : 0xffff);
        for (int64_t i0 = 0; i0 < M; i0 += SB_MR) {
            int mr = M - i0 < SB_MR ? (int)(M - i0) : SB_MR;
            sbtile_rows(mr, nv, K / 2, A + i0 * lda, lda, Bp + 2 * j0, ldp, C + i0 * ldc + j0, ldc,
                        last);
        }
    }
}

/* Bp (pair-packed, row pairs of ldp = 2 ceil(N / 16) 16 values) from the float rows of
 * B[K,N] (K even): per row pair and 16 columns, the two rows' vectors interleaved
 * (a0 b0 a1 b1 ...) by two permutes and rounded by VCVTNEPS2BF16 (to nearest, ties to
 * even, as fm_cpu_to_bf16); columns past N are zeros. */
static void pack_native(uint16_t *Bp, const float *B, int64_t ldb, int64_t K, int64_t N)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    int64_t ldp = 2 * ((N + 15) / 16 * 16);
    for (int64_t k = 0; k < K; k += 2)
        for (int64_t j = 0; j < N; j += 16) {
            __mmask16 m = (__mmask16)(N - j >= 16 ? 0xffff : (1u << (N - j)) - 1);
            __m512 a = _mm512_maskz_loadu_ps(m, B + k * ldb + j);
            __m512 b = _mm512_maskz_loadu_ps(m, B + (k + 1) * ldb + j);
            uint16_t *d = Bp + (k / 2) * ldp + 2 * j;
            _mm256_storeu_si256((__m256i *)d,
                                (__m256i)_mm512_cvtneps_pbh(_mm512_permutex2var_ps(a, lo, b)));
            _mm256_storeu_si256((__m256i *)(d + 16),
                                (__m256i)_mm512_cvtneps_pbh(_mm512_permutex2var_ps(a, hi, b)));
        }
}

#else

int fm_cpu_bf16_native(void)
{
    return 0;
}

#define sbgemm_native sbgemm_portable /* never called: fm_cpu_bf16_native() is 0 */
#define pack_native pack_portable

#endif

const char *fm_cpu_bf16_kernel(const fm_cpu_force *f)
{
    return f->bf16_portable ? "portable C" : fm_cpu_bf16_native() ? "AVX512-BF16" : NULL;
}

static int native(const fm_cpu *cpu)
{
    return fm_cpu_bf16_native() && !fm_cpu_forced(cpu)->bf16_portable;
}

void fm_cpu_sbgemm_small(const fm_cpu *cpu, int64_t M, int64_t N, int64_t K, const uint16_t *A,
                         int64_t lda, const uint16_t *Bp, int64_t ldp, float *C, int64_t ldc)
{
    (native(cpu) ? sbgemm_native : sbgemm_portable)(M, N, K, A, lda, Bp, ldp, C, ldc);
}

void fm_cpu_bf16_pack(const fm_cpu *cpu, uint16_t *Bp, const float *B, int64_t ldb, int64_t K,
                      int64_t N)
{
    (native(cpu) ? pack_native : pack_portable)(Bp, B, ldb, K, N);
}

/* ---- portable loops -------------------------------------------------------------------- */

static void pack_portable(uint16_t *Bp, const float *B, int64_t ldb, int64_t K, int64_t N)
{
    int64_t ldp = 2 * ((N + 15) / 16 * 16);
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < ldp / 2; j++)
            Bp[(k / 2) * ldp + 2 * j + (k & 1)] = j < N ? fm_cpu_to_bf16(B[k * ldb + j]) : 0;
}

/* Row i of C as a sum over k's pairs of c[j] += a0 b0[j] + a1 b1[j]: the products are
 * exact, so the pair's sum rounds once and its addition to c once, fused or not (as a
 * VDPBF16PS lane adds a pair); the loop over j vectorises. */
static void sbgemm_portable(int64_t M, int64_t N, int64_t K, const uint16_t *A, int64_t lda,
                            const uint16_t *Bp, int64_t ldp, float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        float *restrict c = C + i * ldc;
        for (int64_t j = 0; j < N; j++)
            c[j] = 0.0f;
        for (int64_t k = 0; k < K; k += 2) {
            float a0 = fm_cpu_from_bf16(A[i * lda + k]), a1 = fm_cpu_from_bf16(A[i * lda + k + 1]);
            const uint16_t *restrict b = Bp + (k / 2) * ldp;
            for (int64_t j = 0; j < N; j++)
                c[j] += a0 * fm_cpu_from_bf16(b[2 * j]) + a1 * fm_cpu_from_bf16(b[2 * j + 1]);
        }
    }
}
