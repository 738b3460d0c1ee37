/* Group normalisation over in[N,C,H,W], G groups of Cg = C/G consecutive channels;
 * L = H*W. Group (n, g) is the contiguous span of M = Cg*L floats starting at
 * channel g*Cg of sample n, and element i of the span has channel g*Cg + i/L.
 *
 *   mean = (1/M) sum x,  var = (1/M) sum (x - mean)^2 (biased),  rstd = 1/sqrt(var + eps)
 *   y    = (x - mean) rstd gamma[c] + beta[c]
 *   out  = y (act 0), or silu(y) = y / (1 + e^-y) (act 1, the SiLU post-op: fm_cuda_silu,
 *          cuda.h, in the writing pass)
 * Backward, xhat = (x - mean) rstd recomputed from the saved statistics:
 *   din       = rstd (dout gamma[c] - m1 - xhat m2),
 *               m1 = (1/M) sum dout gamma,  m2 = (1/M) sum dout gamma xhat   (over the group)
 *   dgamma[c] += sum_{n,y,x} dout xhat,  dbeta[c] += sum_{n,y,x} dout
 *
 * Reductions: one block of FM_CUDA_THREADS per output, deterministic (fixed
 * warp-shuffle trees, no atomics), float accumulation:
 *   forward       grid N*G, block (n,g): pass 1 the sum -> mean; pass 2 the centred sum
 *                 of squares -> rstd (two passes, as the reference: no E[x^2]-E[x]^2
 *                 cancellation); pass 3 writes out. The span is re-read from L1/L2.
 *   backward din  grid N*G, block (n,g): pass 1 sums dout gamma and dout gamma xhat,
 *                 pass 2 writes din.
 *   backward dgb  grid C, block c: sums over the N*L values of channel c (Kahan within
 *                 a thread), then one += each into dgamma[c], dbeta[c].
 * Every thread stores only elements it loaded itself after the block's reductions, and
 * the backward runs dgamma/dbeta before din, so out = in or din = dout would still be
 * computed correctly (ops.h does not promise that aliasing; it is merely harmless).
 * Twin of kernels_cl/groupnorm.cl. */
#include "cuda.h"

static_assert(FM_CUDA_THREADS % 32 == 0 && FM_CUDA_THREADS <= 1024, "block = whole warps");

#define GN_WARPS (FM_CUDA_THREADS / 32)

/* One block per (n, g): blockIdx.x = n*G + g, whose span starts at (n*C + g*Cg)*L =
 * blockIdx.x * M. mean, rstd are [N*G]. */
static __global__ void gn_fwd_kernel(float *out, float *mean, float *rstd, const float *in,
                                     const float *gamma, const float *beta, long long G,
                                     long long Cg, long long L, float eps, int act)
{
    __shared__ float sh[GN_WARPS];
    const long long M = Cg * L, base = (long long)blockIdx.x * M;
    const long long ch0 = ((long long)blockIdx.x % G) * Cg;
    const float *x = in + base;
    float *y = out + base;
    float s = 0.0f;
    for (long long i = threadIdx.x; i < M; i += FM_CUDA_THREADS)
        s += x[i];
    const float mu = fm_cuda_block_sum(s, sh) / (float)M;
    float ss = 0.0f;
    for (long long i = threadIdx.x; i < M; i += FM_CUDA_THREADS) {
        float d = x[i] - mu;
        ss += d * d;
    }
    const float var = fm_cuda_block_sum(ss, sh) / (float)M;
    const float rs = 1.0f / sqrtf(var + eps);
    if (threadIdx.x == 0) {
        mean[blockIdx.x] = mu;
        rstd[blockIdx.x] = rs;
    }
    for (long long i = threadIdx.x; i < M; i += FM_CUDA_THREADS) {
        long long ch = ch0 + i / L;
        float v = (x[i] - mu) * (rs * gamma[ch]) + beta[ch];
        y[i] = act ? fm_cuda_silu(v) : v;
    }
}

/* din: one block per (n, g) as in the forward. */
static __global__ void gn_bwd_din_kernel(float *din, const float *dout, const float *in,
                                         const float *mean, const float *rstd,
                                         const float *gamma, long long G, long long Cg,
                                         long long L)
{
    __shared__ float sh[GN_WARPS];
    const long long M = Cg * L, base = (long long)blockIdx.x * M;
    const long long ch0 = ((long long)blockIdx.x % G) * Cg;
    const float *x = in + base, *dy = dout + base;
    float *dx = din + base;
    const float mu = mean[blockIdx.x], rs = rstd[blockIdx.x];
    float s1 = 0.0f, s2 = 0.0f;
    for (long long i = threadIdx.x; i < M; i += FM_CUDA_THREADS) {
        float dyg = dy[i] * gamma[ch0 + i / L];
        s1 += dyg;
        s2 += dyg * ((x[i] - mu) * rs);
    }
    const float m1 = fm_cuda_block_sum(s1, sh) / (float)M;
    const float m2 = fm_cuda_block_sum(s2, sh) / (float)M;
    for (long long i = threadIdx.x; i < M; i += FM_CUDA_THREADS) {
        float xh = (x[i] - mu) * rs;
        dx[i] = rs * (dy[i] * gamma[ch0 + i / L] - m1 - xh * m2);
    }
}

/* dgamma, dbeta: one block per channel c (gridDim.x = C), over the N planes of c. */
static __global__ void gn_bwd_dgb_kernel(float *dgamma, float *dbeta, const float *dout,
                                         const float *in, const float *mean,
                                         const float *rstd, long long N, long long G,
                                         long long Cg, long long L)
{
    __shared__ float sh[GN_WARPS];
    const long long c = blockIdx.x, C = G * Cg, g = c / Cg, NL = N * L;
    float sdy = 0.0f, cdy = 0.0f, sdyx = 0.0f, cdyx = 0.0f; /* Kahan sums, compensations */
    for (long long j = threadIdx.x; j < NL; j += FM_CUDA_THREADS) {
        long long n = j / L, i = j - n * L, at = (n * C + c) * L + i;
        float dy = dout[at], xh = (in[at] - mean[n * G + g]) * rstd[n * G + g];
        float y = dy - cdy, t = sdy + y;
        cdy = (t - sdy) - y;
        sdy = t;
        y = dy * xh - cdyx;
        t = sdyx + y;
        cdyx = (t - sdyx) - y;
        sdyx = t;
    }
    sdy = fm_cuda_block_sum(sdy, sh);
    sdyx = fm_cuda_block_sum(sdyx, sh);
    if (threadIdx.x == 0) {
        dbeta[c] += sdy;
        dgamma[c] += sdyx;
    }
}

/* t: out, mean[N,G], rstd[N,G], in[N,C,H,W], gamma[C], beta[C]   i0 groups, i1 act, f0 eps */
extern "C" fm_status fm_cuda_groupnorm_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *in = &c->t[3];
    long long N = in->shape[0], C = in->shape[1], L = in->shape[2] * in->shape[3], G = c->i[0];
    /* one block per (n, g) */
    FM_CUDA_LAUNCH(gn_fwd_kernel, fm_cuda_blocks(N * G * FM_CUDA_THREADS), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]),
                                              fm_cuda_f32(&c->t[2]), fm_cuda_f32(in),
                                              fm_cuda_f32(&c->t[4]), fm_cuda_f32(&c->t[5]), G,
                                              C / G, L, c->f[0], c->i[1] == FM_GN_ACT_SILU);
    return fm_cuda_launched(be, "groupnorm_fwd");
}

/* t: din, dgamma[C], dbeta[C], dout, in, mean[N,G], rstd[N,G], gamma[C]   i0 groups */
extern "C" fm_status fm_cuda_groupnorm_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *in = &c->t[4];
    long long N = in->shape[0], C = in->shape[1], L = in->shape[2] * in->shape[3], G = c->i[0];
    cudaStream_t st = fm_cuda_of(be)->stream;
    const float *dout = fm_cuda_f32(&c->t[3]), *x = fm_cuda_f32(in);
    const float *mean = fm_cuda_f32(&c->t[5]), *rstd = fm_cuda_f32(&c->t[6]);
    /* dgamma, dbeta first (they read dout), one block per channel */
    FM_CUDA_LAUNCH(gn_bwd_dgb_kernel, fm_cuda_blocks(C * FM_CUDA_THREADS), FM_CUDA_THREADS, 0, st)(
        fm_cuda_f32(&c->t[1]), fm_cuda_f32(&c->t[2]), dout, x, mean, rstd, N, G, C / G, L);
    fm_status s = fm_cuda_launched(be, "groupnorm_bwd dgamma/dbeta");
    if (s != FM_OK)
        return s;
    /* din, one block per (n, g) */
    FM_CUDA_LAUNCH(gn_bwd_din_kernel, fm_cuda_blocks(N * G * FM_CUDA_THREADS), FM_CUDA_THREADS, 0, st)(
        fm_cuda_f32(&c->t[0]), dout, x, mean, rstd, fm_cuda_f32(&c->t[7]), G, C / G, L);
    return fm_cuda_launched(be, "groupnorm_bwd din");
}
