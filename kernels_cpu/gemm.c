/* SGEMM for the cpu backend: OpenBLAS through CBLAS when the build found it
 * (FMRT_HAVE_OPENBLAS), else a blocked GEMM of our own. Both compute, row-major,
 *
 *   C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C
 *
 * Our GEMM (the GotoBLAS/BLIS scheme, simplified): B is packed in KC x NC panels of
 * NR-wide column strips, A in MC x KC blocks of MR-row strips. The packing buffers,
 * MC x KC + KC x NC floats (1.1 MiB) per thread, are carved from the caller's block at
 * open (fm_cpu_pack): the calling thread's, so that no two threads share one. Where the
 * block had no room for them the GEMM runs unpacked (plain loops). The micro-kernel keeps an
 * MR x NR tile of C in vector registers (GNU vector extensions, 8 floats each, which the
 * compiler maps to AVX/FMA or SSE) and accumulates KC rank-1 updates. */
#include <stddef.h>
#include <string.h>

#include "cpu.h"

#ifdef FMRT_HAVE_OPENBLAS
#include <cblas.h>

void fm_cpu_gemm_init(void)
{
    /* Parallelism is ours (threads over images, tiles, heads); OpenBLAS threads inside
     * ours would oversubscribe the cores. */
    openblas_set_num_threads(1);
}

const char *fm_cpu_gemm_name(void)
{
    return "OpenBLAS";
}

size_t fm_cpu_gemm_pack_floats(void)
{
    return 0; /* OpenBLAS packs into buffers of its own */
}

void fm_cpu_sgemm(fm_cpu *cpu, int tid, int ta, int tb, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc)
{
    (void)cpu, (void)tid;
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) { /* C = beta C */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb, beta,
                C, (blasint)ldc);
}

#else

void fm_cpu_gemm_init(void) {}
const char *fm_cpu_gemm_name(void)
{
    return "own blocked SGEMM";
}

#define MR 6
#define NR 16
#define KC 256
#define MC 96
#define NC 1024

size_t fm_cpu_gemm_pack_floats(void)
{
    return MC * KC + KC * NC;
}

/* op(X)[r, c] of a row-major X with row stride ld. */
static inline float at(const float *X, int64_t ld, int t, int64_t r, int64_t c)
{
    return t ? X[c * ld + r] : X[r * ld + c];
}

/* B block rows [k0, k0+kc), cols [j0, j0+nc) into NR-wide strips, zero-padded:
 * strip s holds kc rows of NR values. */
static void pack_b(float *packB, const float *B, int64_t ldb, int tb, int64_t k0, int64_t kc,
                   int64_t j0, int64_t nc)
{
    for (int64_t s = 0; s < nc; s += NR) {
        float *dst = packB + s * kc;
        int64_t w = nc - s < NR ? nc - s : NR;
        for (int64_t k = 0; k < kc; k++) {
            int64_t j = 0;
            if (!tb)
                for (const float *src = B + (k0 + k) * ldb + j0 + s; j < w; j++)
                    dst[k * NR + j] = src[j];
            else
                for (; j < w; j++)
                    dst[k * NR + j] = B[(j0 + s + j) * ldb + k0 + k];
            for (; j < NR; j++)
                dst[k * NR + j] = 0.0f;
        }
    }
}

/* A block rows [i0, i0+mc), cols [k0, k0+kc) into MR-row strips: strip s holds kc
 * columns of MR values, alpha applied here. */
static void pack_a(float *packA, const float *A, int64_t lda, int ta, float alpha, int64_t i0,
                   int64_t mc, int64_t k0, int64_t kc)
{
    for (int64_t s = 0; s < mc; s += MR) {
        float *dst = packA + s * kc;
        int64_t h = mc - s < MR ? mc - s : MR;
        for (int64_t k = 0; k < kc; k++) {
            int64_t i = 0;
            for (; i < h; i++)
                dst[k * MR + i] = alpha * at(A, lda, ta, i0 + s + i, k0 + k);
            for (; i < MR; i++)
                dst[k * MR + i] = 0.0f;
        }
    }
}

/* Store the MR x NR tile acc into C (h x w valid): C = acc + beta C on the first K
 * block, C += acc on the others. */
static void store_tile(float acc[MR][NR], float *C, int64_t ldc, int64_t h, int64_t w, float beta,
                       int first)
{
    for (int64_t i = 0; i < h; i++) {
        float *c = C + i * ldc;
        if (first && beta == 0.0f)
            for (int64_t j = 0; j < w; j++)
                c[j] = acc[i][j];
        else if (first)
            for (int64_t j = 0; j < w; j++)
                c[j] = beta * c[j] + acc[i][j];
        else
            for (int64_t j = 0; j < w; j++)
                c[j] += acc[i][j];
    }
}

#if defined(__GNUC__)
/* acc[MR][NR] = sum_k a[k][:] (x) b[k][:] with the tile in 2 MR vector registers of 8
 * floats (GNU vector extensions: the compiler emits AVX/FMA or SSE as the target has;
 * gemm.c is built with -ffp-contract=fast so that a * b + c becomes one FMA). */
typedef float fm_v8 __attribute__((vector_size(32)));

static void micro(int64_t kc, const float *restrict a, const float *restrict b, float *C,
                  int64_t ldc, int64_t h, int64_t w, float beta, int first)
{
    fm_v8 acc[MR][2];
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = (fm_v8){0};
    for (int64_t k = 0; k < kc; k++) {
        fm_v8 b0, b1;
        memcpy(&b0, b + k * NR, sizeof b0);
        memcpy(&b1, b + k * NR + 8, sizeof b1);
        for (int i = 0; i < MR; i++) {
            fm_v8 av = (fm_v8){0} + a[k * MR + i];
            acc[i][0] += av * b0;
            acc[i][1] += av * b1;
        }
    }
    float tile[MR][NR];
    memcpy(tile, acc, sizeof tile);
    store_tile(tile, C, ldc, h, w, beta, first);
}
#else
static void micro(int64_t kc, const float *restrict a, const float *restrict b, float *C,
                  int64_t ldc, int64_t h, int64_t w, float beta, int first)
{
    float acc[MR][NR] = {{0}};
    for (int64_t k = 0; k < kc; k++)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                acc[i][j] += a[k * MR + i] * b[k * NR + j];
    store_tile(acc, C, ldc, h, w, beta, first);
}
#endif

/* Without packing buffers: C = alpha op(A) op(B) + beta C by rows, in plain loops. */
static void sgemm_unpacked(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                           float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        for (int64_t j = 0; j < N; j++)
            c[j] = beta == 0.0f ? 0.0f : beta * c[j];
        for (int64_t k = 0; k < K; k++) {
            float a = alpha * at(A, lda, ta, i, k);
            for (int64_t j = 0; j < N; j++)
                c[j] += a * at(B, ldb, tb, k, j);
        }
    }
}

void fm_cpu_sgemm(fm_cpu *cpu, int tid, int ta, int tb, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc)
{
    float *packA = fm_cpu_pack(cpu, tid), *packB = packA ? packA + MC * KC : NULL;
    if (M <= 0 || N <= 0)
        return;
    if (!packA || K <= 0) {
        sgemm_unpacked(ta, tb, M, N, K > 0 ? K : 0, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    for (int64_t j0 = 0; j0 < N; j0 += NC) {
        int64_t nc = N - j0 < NC ? N - j0 : NC;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            pack_b(packB, B, ldb, tb, k0, kc, j0, nc);
            for (int64_t i0 = 0; i0 < M; i0 += MC) {
                int64_t mc = M - i0 < MC ? M - i0 : MC;
                pack_a(packA, A, lda, ta, alpha, i0, mc, k0, kc);
                for (int64_t s = 0; s < mc; s += MR)
                    for (int64_t t = 0; t < nc; t += NR)
                        micro(kc, packA + s * kc, packB + t * kc, C + (i0 + s) * ldc + j0 + t, ldc,
                              mc - s < MR ? mc - s : MR, nc - t < NR ? nc - t : NR, beta, k0 == 0);
            }
        }
    }
}

#endif

/* ---- the pool-parallel GEMM ------------------------------------------------------------ */

typedef struct gemm_job {
    fm_cpu *cpu;
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc, parts;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int by_rows;
} gemm_job;

static void gemm_part(void *p, int64_t k, int tid)
{
    const gemm_job *g = p;
    int64_t lo, hi;
    if (g->by_rows) { /* rows [lo, hi) of C: rows of op(A) */
        fm_cpu_range(g->M, g->parts, k, &lo, &hi);
        const float *A = g->ta ? g->A + lo : g->A + lo * g->lda;
        fm_cpu_sgemm(g->cpu, tid, g->ta, g->tb, hi - lo, g->N, g->K, g->alpha, A, g->lda, g->B,
                     g->ldb, g->beta, g->C + lo * g->ldc, g->ldc);
    } else { /* columns [lo, hi) of C: columns of op(B) */
        fm_cpu_range(g->N, g->parts, k, &lo, &hi);
        const float *B = g->tb ? g->B + lo * g->ldb : g->B + lo;
        fm_cpu_sgemm(g->cpu, tid, g->ta, g->tb, g->M, hi - lo, g->K, g->alpha, g->A, g->lda, B,
                     g->ldb, g->beta, g->C + lo, g->ldc);
    }
}

void fm_cpu_sgemm_par(fm_cpu *cpu, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc)
{
    int nt = fm_cpu_threads(cpu);
    /* Below ~4 MFLOP the wake-up costs more than it saves. */
    if (nt == 1 || (double)M * N * K < 2e6) {
        fm_cpu_sgemm(cpu, 0, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    gemm_job g = {cpu, ta, tb, M, N, K, lda, ldb, ldc, nt, alpha, beta, A, B, C, M >= N};
    /* Parts of at least 16 rows/columns. */
    int64_t dim = g.by_rows ? M : N;
    if (g.parts > dim / 16)
        g.parts = dim / 16 > 0 ? dim / 16 : 1;
    fm_cpu_parallel(cpu, g.parts, gemm_part, &g);
}

/* ---- vectorisable sums in double ---------------------------------------------------------- */

/* sum_i (a[i] - ma) (b[i] - mb), or sum_i (a[i] - ma) when b is NULL: float lanes over
 * blocks of up to 256 values, each block added to a double. The blocks cover all whole
 * vectors (n = 196: 12 vectors, then 4 values), so that a short span is not a chain of
 * dependent double adds. */
double fm_cpu_dot(const float *a, float ma, const float *b, float mb, int64_t n)
{
    double total = 0.0;
    int64_t nv = n - n % 16;
    for (int64_t i0 = 0; i0 < nv; i0 += 256) {
        int64_t len = nv - i0 < 256 ? nv - i0 : 256;
        const float *x = a + i0, *y = b ? b + i0 : NULL;
        float lane[16] = {0};
        if (y)
            for (int64_t v = 0; v < len; v += 16)
                for (int j = 0; j < 16; j++)
                    lane[j] += (x[v + j] - ma) * (y[v + j] - mb);
        else
            for (int64_t v = 0; v < len; v += 16)
                for (int j = 0; j < 16; j++)
                    lane[j] += x[v + j] - ma;
        float s = 0.0f;
        for (int j = 0; j < 16; j++)
            s += lane[j];
        total += s;
    }
    for (int64_t i = nv; i < n; i++)
        total += b ? (double)(a[i] - ma) * (b[i] - mb) : (double)(a[i] - ma);
    return total;
}
