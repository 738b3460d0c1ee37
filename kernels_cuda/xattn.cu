/* Attention between token sequences (maths in kernels_ref/xattn.c) as cuBLAS
 * strided-batched GEMMs plus row kernels (twin of kernels_cl/xattn.cl's maths). For
 * sample n and head h (d = C / heads) the matrices are row-major slices with leading
 * dimension C (the head's columns of the token rows) or Lk (att, ds):
 *
 *   q = q0 + n Lq C + h d  [Lq, d]     k, v = k0, v0 + n Lk C + h d  [Lk, d]
 *   A = att + (n heads + h) Lq Lk  [Lq, Lk]     S = ds at the same offset
 *
 *   forward   A = q k^T / sqrt(d)     m = Lq, n = Lk, k = d    (transB)
 *             A = masked softmax      (xattn_softmax: bias, causal k > i; one warp per row)
 *             o = A v                 m = Lq, n = d,  k = Lk
 *   backward  S = dO v^T              m = Lq, n = Lk, k = d    (transB)
 *             dv = A^T dO             m = Lk, n = d,  k = Lq   (transA)
 *             S = A (S - rowsum(A S)) (xattn_softmax_bwd, one warp per row, in place)
 *             dq = S k / sqrt(d)      m = Lq, n = d,  k = Lk
 *             dk = S^T q / sqrt(d)    m = Lk, n = d,  k = Lq   (transA)
 *
 * Batching: one call per head and GEMM, batched over the samples n (strides Lq C, Lk C,
 * heads Lq Lk). ds is the op's own tensor, so no scratch. */
#include <math.h>

#include "cuda.h"

static __device__ float xattn_warp_max(float v)
{
    for (int off = 16; off > 0; off >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

static __device__ float xattn_warp_sum(float v)
{
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

/* Row r < rows of att (r = (n heads + h) Lq + i), scores in place: adds bias[n, k],
 * masks (-inf) keys k > i when causal and keys whose bias is -inf, then
 *   a[k] = exp(a[k] - max) / sum_k' exp(a[k'] - max) over the kept keys, masked 0
 * (a row with none kept: all 0). One warp per row; the whole warp leaves together. */
static __global__ void xattn_softmax_kernel(float *att, const float *bias, long long rows, int Lq,
                                            int Lk, int heads, int causal)
{
    long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= rows)
        return;
    long long i = r % Lq, n = r / Lq / heads;
    float *a = att + r * Lk;
    const float *b = bias ? bias + n * Lk : NULL;
    float mx = -INFINITY;
    for (int k = lane; k < Lk; k += 32) {
        float s = (causal && k > i) ? -INFINITY : a[k] + (b ? b[k] : 0.0f);
        a[k] = s;
        mx = fmaxf(mx, s);
    }
    mx = xattn_warp_max(mx);
    float sum = 0.0f;
    for (int k = lane; k < Lk; k += 32) {
        float e = (mx == -INFINITY || a[k] == -INFINITY) ? 0.0f : expf(a[k] - mx);
        a[k] = e;
        sum += e;
    }
    sum = xattn_warp_sum(sum);
    for (int k = lane; k < Lk; k += 32)
        a[k] = sum > 0.0f ? a[k] / sum : 0.0f;
}

/* Row r < rows of ds, dA on entry: g[k] = A[k] (g[k] - sum_k' A[k'] g[k']). */
static __global__ void xattn_softmax_bwd_kernel(float *ds, const float *att, long long rows, int Lk)
{
    long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= rows)
        return;
    const float *a = att + r * Lk;
    float *g = ds + r * Lk;
    float dot = 0.0f;
    for (int k = lane; k < Lk; k += 32)
        dot += a[k] * g[k];
    dot = xattn_warp_sum(dot);
    for (int k = lane; k < Lk; k += 32)
        g[k] = a[k] * (g[k] - dot);
}

/* The shapes of one call, as cuBLAS takes them. */
typedef struct xa_dims {
    int N, Lq, Lk, C, heads, d;
    long long sq, sk, sa; /* batch strides: Lq C, Lk C, heads Lq Lk */
} xa_dims;

static fm_status xa_geometry(fm_backend *be, const fm_tensor *q, const fm_tensor *k, int heads,
                             xa_dims *g, const char *what)
{
    long long N = q->shape[0], Lq = q->shape[1], Lk = k->shape[1], C = q->shape[2];
    if (N * Lq * C > 0x7fffffffLL || N * Lk * C > 0x7fffffffLL ||
        N * heads * Lq * Lk > 0x7fffffffLL)
        return fm_fail(be, FM_ERR_ARG, "cuda: %s: dimensions beyond 2^31", what);
    g->N = (int)N;
    g->Lq = (int)Lq;
    g->Lk = (int)Lk;
    g->C = (int)C;
    g->heads = heads;
    g->d = (int)(C / heads);
    g->sq = Lq * C;
    g->sk = Lk * C;
    g->sa = heads * Lq * Lk;
    return FM_OK;
}

/* t: out, att, q, k, v, bias?   i0 heads, i1 causal */
extern "C" fm_status fm_cuda_xattn_fwd(fm_backend *be, const fm_call *c)
{
    xa_dims g = {};
    FM_TRY(xa_geometry(be, &c->t[2], &c->t[3], c->i[0], &g, "xattn_fwd"));
    const float *q0 = fm_cuda_f32(&c->t[2]), *k0 = fm_cuda_f32(&c->t[3]);
    const float *v0 = fm_cuda_f32(&c->t[4]);
    float *o0 = fm_cuda_f32(&c->t[0]), *a0 = fm_cuda_f32(&c->t[1]);
    float scale = (float)(1.0 / sqrt((double)g.d));
    long long LL = (long long)g.Lq * g.Lk;
    for (int h = 0; h < g.heads; h++) /* A = scale q k^T */
        FM_TRY(fm_cuda_gemm_batched(be, g.Lq, g.Lk, g.d, scale, q0 + h * g.d, g.C, g.sq, 0,
                                    k0 + h * g.d, g.C, g.sk, 1, 0.0f, a0 + h * LL, g.Lk, g.sa,
                                    g.N));
    long long rows = (long long)g.N * g.heads * g.Lq;
    const float *bias = fm_tensor_present(&c->t[5]) ? fm_cuda_f32(&c->t[5]) : NULL;
    FM_CUDA_LAUNCH(xattn_softmax_kernel, fm_cuda_blocks(rows * 32), FM_CUDA_THREADS, 0,
                   fm_cuda_of(be)->stream)
    (a0, bias, rows, g.Lq, g.Lk, g.heads, c->i[1]);
    FM_TRY(fm_cuda_launched(be, "xattn_softmax"));
    for (int h = 0; h < g.heads; h++) /* o = A v */
        FM_TRY(fm_cuda_gemm_batched(be, g.Lq, g.d, g.Lk, 1.0f, a0 + h * LL, g.Lk, g.sa, 0,
                                    v0 + h * g.d, g.C, g.sk, 0, 0.0f, o0 + h * g.d, g.C, g.sq,
                                    g.N));
    return FM_OK;
}

/* S = dO v^T and dv = A^T dO of head h. */
static fm_status xa_bwd_ds_dv(fm_backend *be, const fm_call *c, const xa_dims *g, int h)
{
    long long LL = (long long)g->Lq * g->Lk;
    const float *dO = fm_cuda_f32(&c->t[4]) + h * g->d, *v = fm_cuda_f32(&c->t[7]) + h * g->d;
    const float *A = fm_cuda_f32(&c->t[8]) + h * LL;
    FM_TRY(fm_cuda_gemm_batched(be, g->Lq, g->Lk, g->d, 1.0f, dO, g->C, g->sq, 0, v, g->C, g->sk, 1,
                                0.0f, fm_cuda_f32(&c->t[3]) + h * LL, g->Lk, g->sa, g->N));
    return fm_cuda_gemm_batched(be, g->Lk, g->d, g->Lq, 1.0f, A, g->Lk, g->sa, 1, dO, g->C, g->sq,
                                0, 0.0f, fm_cuda_f32(&c->t[2]) + h * g->d, g->C, g->sk, g->N);
}

/* dq = scale S k and dk = scale S^T q of head h. */
static fm_status xa_bwd_dq_dk(fm_backend *be, const fm_call *c, const xa_dims *g, int h)
{
    float scale = (float)(1.0 / sqrt((double)g->d));
    const float *S = fm_cuda_f32(&c->t[3]) + h * (long long)g->Lq * g->Lk;
    const float *q = fm_cuda_f32(&c->t[5]) + h * g->d, *k = fm_cuda_f32(&c->t[6]) + h * g->d;
    FM_TRY(fm_cuda_gemm_batched(be, g->Lq, g->d, g->Lk, scale, S, g->Lk, g->sa, 0, k, g->C, g->sk,
                                0, 0.0f, fm_cuda_f32(&c->t[0]) + h * g->d, g->C, g->sq, g->N));
    return fm_cuda_gemm_batched(be, g->Lk, g->d, g->Lq, scale, S, g->Lk, g->sa, 1, q, g->C, g->sq,
                                0, 0.0f, fm_cuda_f32(&c->t[1]) + h * g->d, g->C, g->sk, g->N);
}

/* t: dq, dk, dv, ds, dout, q, k, v, att   i0 heads */
extern "C" fm_status fm_cuda_xattn_bwd(fm_backend *be, const fm_call *c)
{
    xa_dims g = {};
    FM_TRY(xa_geometry(be, &c->t[5], &c->t[6], c->i[0], &g, "xattn_bwd"));
    for (int h = 0; h < g.heads; h++)
        FM_TRY(xa_bwd_ds_dv(be, c, &g, h));
    long long rows = (long long)g.N * g.heads * g.Lq;
    FM_CUDA_LAUNCH(xattn_softmax_bwd_kernel, fm_cuda_blocks(rows * 32), FM_CUDA_THREADS, 0,
                   fm_cuda_of(be)->stream)
    (fm_cuda_f32(&c->t[3]), fm_cuda_f32(&c->t[8]), rows, g.Lk);
    FM_TRY(fm_cuda_launched(be, "xattn_softmax_bwd"));
    for (int h = 0; h < g.heads; h++)
        FM_TRY(xa_bwd_dq_dk(be, c, &g, h));
    return FM_OK;
}
