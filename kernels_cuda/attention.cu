/* Multi-head self-attention as cuBLAS strided-batched GEMMs plus row kernels (twin of
 * kernels_cl/attention.{c,cl}). For image n and head h (d = C / heads, L = H W) the
 * matrices are row-major [d, L] slices, one row per channel:
 *
 *   q = qkv + (n 3C + h d) L,  k = q + C L,  v = q + 2 C L,  o = out + (n C + h d) L
 *   A = att + (n heads + h) L L                                            [L, L]
 *
 *   forward   A = q^T k / sqrt(d)       m = L, n = L, k = d   (transA), alpha = 1/sqrt(d)
 *             A = softmax over rows     (attn_softmax: one warp per row)
 *             o = v A^T                 m = d, n = L, k = L   (transB)
 *   backward  dA = dO^T v               m = L, n = L, k = d   (transA)
 *             dv = dO A                 m = d, n = L, k = L
 *             dS = A (dA - rowsum(A dA))  (attn_softmax_bwd, one warp per row, in place)
 *             dq = k dS^T / sqrt(d)     m = d, n = L, k = L   (transB)
 *             dk = q dS / sqrt(d)       m = d, n = L, k = L
 * Every leading dimension is L.
 *
 * Batching: one cuBLAS call per head and GEMM, batched over the images n. For a fixed h
 * every operand has a regular stride in n (3C L for q/k/v/dq/dk/dv, C L for o/dO,
 * heads L L for A), so heads x 2 calls forward instead of N x heads x 2.
 *
 * The backward dA / dS matrices of a chunk of images (one head) live in the backend
 * scratch, L L floats per image; `ws` (2 L L floats, slot 1) serves when the scratch
 * cannot hold two images' worth (L > 2048). */
#include <math.h>

#include "cuda.h"

static __device__ float attn_warp_max(float v)
{
    for (int off = 16; off > 0; off >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

static __device__ float attn_warp_sum(float v)
{
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

/* att[r, :] = softmax(att[r, :]) in place for r < rows, rows of length L; one warp per
 * row (r = global thread / 32; the whole warp leaves together), max-shifted:
 *   a[k] = exp(a[k] - max) / sum_k' exp(a[k'] - max) */
static __global__ void attn_softmax_kernel(float *att, long long rows, int L)
{
    long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= rows)
        return;
    float *a = att + r * L;
    float mx = -INFINITY;
    for (int k = lane; k < L; k += 32)
        mx = fmaxf(mx, a[k]);
    mx = attn_warp_max(mx);
    float sum = 0.0f;
    for (int k = lane; k < L; k += 32) {
        float e = expf(a[k] - mx);
        a[k] = e;
        sum += e;
    }
    sum = attn_warp_sum(sum);
    for (int k = lane; k < L; k += 32)
        a[k] = a[k] / sum;
}

/* For the rows r < rows of a chunk (image b = r / L of the chunk, query i = r % L), with
 * A = att + b sa + i L (sa: elements between the chunk's images) and g = buf + r L
 * holding dA on entry:
 *   g[k] = A[k] (g[k] - sum_k' A[k'] g[k'])      (dS, in place; one warp per row) */
static __global__ void attn_softmax_bwd_kernel(float *buf, const float *att, long long sa,
                                               long long rows, int L)
{
    long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= rows)
        return;
    const float *a = att + (r / L) * sa + (r % L) * L;
    float *g = buf + r * L;
    float dot = 0.0f;
    for (int k = lane; k < L; k += 32)
        dot += a[k] * g[k];
    dot = attn_warp_sum(dot);
    for (int k = lane; k < L; k += 32)
        g[k] = a[k] * (g[k] - dot);
}

/* t: out, att, qkv   i0 heads */
extern "C" fm_status fm_cuda_attention_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0], *att = &c->t[1], *qkv = &c->t[2];
    long long N = out->shape[0], C = out->shape[1], L = out->shape[2] * out->shape[3];
    long long heads = c->i[0], d = C / heads;
    if (L > 0x7fffffffLL || N > 0x7fffffffLL)
        return fm_fail(be, FM_ERR_ARG, "cuda: attention_fwd: dimensions beyond 2^31");
    const float *q0 = fm_cuda_f32(qkv);
    float *a0 = fm_cuda_f32(att), *o0 = fm_cuda_f32(out);
    float scale = (float)(1.0 / sqrt((double)d));
    long long s3 = 3 * C * L, sA = heads * L * L;
    for (long long h = 0; h < heads; h++) {
        const float *q = q0 + h * d * L, *k = q + C * L;
        /* A[L, L] = scale q[d, L]^T k[d, L], batch over n: strides 3CL, 3CL, heads LL */
        FM_TRY(fm_cuda_gemm_batched(be, (int)L, (int)L, (int)d, scale, q, (int)L, s3, 1, k, (int)L, s3,
                                 0, 0.0f, a0 + h * L * L, (int)L, sA, (int)N));
    }
    long long rows = N * heads * L;
    FM_CUDA_LAUNCH(attn_softmax_kernel, fm_cuda_blocks(rows * 32), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        a0, rows, (int)L);
    FM_TRY(fm_cuda_launched(be, "attn_softmax"));
    for (long long h = 0; h < heads; h++) {
        const float *v = q0 + h * d * L + 2 * C * L;
        /* o[d, L] = v[d, L] A[L, L]^T, batch over n: strides 3CL, heads LL, CL */
        FM_TRY(fm_cuda_gemm_batched(be, (int)d, (int)L, (int)L, 1.0f, v, (int)L, s3, 0, a0 + h * L * L,
                                 (int)L, sA, 1, 0.0f, o0 + h * d * L, (int)L, C * L, (int)N));
    }
    return FM_OK;
}

/* t: dqkv, ws, dout, qkv, att   i0 heads */
extern "C" fm_status fm_cuda_attention_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dqkv = &c->t[0], *ws = &c->t[1], *dout = &c->t[2], *qkv = &c->t[3];
    const fm_tensor *att = &c->t[4];
    long long N = dout->shape[0], C = dout->shape[1], L = dout->shape[2] * dout->shape[3];
    long long heads = c->i[0], d = C / heads;
    if (L > 0x7fffffffLL || N > 0x7fffffffLL)
        return fm_fail(be, FM_ERR_ARG, "cuda: attention_bwd: dimensions beyond 2^31");
    const float *q0 = fm_cuda_f32(qkv), *do0 = fm_cuda_f32(dout), *a0 = fm_cuda_f32(att);
    float *dq0 = fm_cuda_f32(dqkv);
    float scale = (float)(1.0 / sqrt((double)d));
    long long LL = L * L;
    /* dA / dS buffer: cap images of one head, L L floats each */
    long long cap = (long long)(fm_cuda_of(be)->scratch_bytes / ((size_t)LL * sizeof(float)));
    float *buf;
    if (cap >= 2) {
        buf = fm_cuda_scratch(be, 0);
    } else {
        buf = fm_cuda_f32(ws); /* 2 L L floats (checked by fm_op_check) */
        cap = 2;
    }
    long long s3 = 3 * C * L, sA = heads * LL, sO = C * L;
    for (long long h = 0; h < heads; h++) {
        for (long long n0 = 0; n0 < N; n0 += cap) {
            int nb = (int)(N - n0 < cap ? N - n0 : cap);
            const float *q = q0 + (n0 * 3 * C + h * d) * L, *k = q + C * L, *v = q + 2 * C * L;
            float *dq = dq0 + (n0 * 3 * C + h * d) * L, *dk = dq + C * L, *dv = dq + 2 * C * L;
            const float *dO = do0 + (n0 * C + h * d) * L, *A = a0 + (n0 * heads + h) * LL;
            /* dA[L, L] = dO[d, L]^T v[d, L] */
            FM_TRY(fm_cuda_gemm_batched(be, (int)L, (int)L, (int)d, 1.0f, dO, (int)L, sO, 1, v, (int)L,
                                     s3, 0, 0.0f, buf, (int)L, LL, nb));
            /* dv[d, L] = dO[d, L] A[L, L] */
            FM_TRY(fm_cuda_gemm_batched(be, (int)d, (int)L, (int)L, 1.0f, dO, (int)L, sO, 0, A, (int)L,
                                     sA, 0, 0.0f, dv, (int)L, s3, nb));
            long long rows = (long long)nb * L;
            FM_CUDA_LAUNCH(attn_softmax_bwd_kernel, fm_cuda_blocks(rows * 32), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(buf, A, sA, rows, (int)L);
            FM_TRY(fm_cuda_launched(be, "attn_softmax_bwd"));
            /* dq[d, L] = scale k[d, L] dS[L, L]^T */
            FM_TRY(fm_cuda_gemm_batched(be, (int)d, (int)L, (int)L, scale, k, (int)L, s3, 0, buf,
                                     (int)L, LL, 1, 0.0f, dq, (int)L, s3, nb));
            /* dk[d, L] = scale q[d, L] dS[L, L] */
            FM_TRY(fm_cuda_gemm_batched(be, (int)d, (int)L, (int)L, scale, q, (int)L, s3, 0, buf,
                                     (int)L, LL, 0, 0.0f, dk, (int)L, s3, nb));
        }
    }
    return FM_OK;
}
