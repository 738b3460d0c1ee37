/* Softmax cross-entropy, the classifier loss (logits[N,K], labels[N] i32):
 *
 *   m_n = max_k x[n,k],  lse_n = m_n + log sum_k exp(x[n,k] - m_n)
 *   probs[n,k] = exp(x[n,k] - lse_n),   loss = (1/N) sum_n (lse_n - x[n,labels[n]])
 *   dlogits[n,k] = s (probs[n,k] - [k == labels[n]]),   s = dloss / N (host, float)
 *
 * Forward in two launches, deterministic (no atomics): one thread per row (K is a
 * class count, ~10) writes its probs and its loss term lse_n - x[n,label] into the
 * scratch; then sum.cu's second pass (fm_cuda_sum_final: one block, Kahan within a
 * thread, a fixed warp-shuffle tree across threads) sums them and divides by N in double, as
 * kernels_ref/softmax_xent.c. Backward: one thread per element. Labels are trusted
 * (device backends clamp nothing). Twin of kernels_cl/softmax_xent.cl. */
#include "cuda.h"

static __global__ void xent_rows_kernel(float *probs, float *term, const float *logits,
                                        const int *labels, long long N, long long K)
{
    long long n = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N)
        return;
    const float *x = logits + n * K;
    float *p = probs + n * K;
    float m = x[0];
    for (long long k = 1; k < K; k++)
        m = x[k] > m ? x[k] : m;
    float s = 0.0f;
    for (long long k = 0; k < K; k++)
        s += expf(x[k] - m);
    float lse = m + logf(s);
    for (long long k = 0; k < K; k++)
        p[k] = expf(x[k] - lse);
    term[n] = lse - x[labels[n]];
}

static __global__ void xent_bwd_kernel(float *dlogits, const float *probs, const int *labels,
                                       float s, long long K, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    long long r = i / K, k = i - r * K;
    float onehot = k == labels[r] ? 1.0f : 0.0f;
    dlogits[i] = s * (probs[i] - onehot);
}

/* t: loss[1], probs[N,K], logits[N,K], labels[N] */
extern "C" fm_status fm_cuda_softmax_xent_fwd(fm_backend *be, const fm_call *c)
{
    fm_cuda *cu = fm_cuda_of(be);
    long long N = c->t[2].shape[0], K = c->t[2].shape[1];
    if ((size_t)N * sizeof(float) > cu->scratch_bytes)
        return fm_fail(be, FM_ERR_ARENA, "cuda: softmax_xent_fwd: %lld rows exceed the scratch", N);
    float *term = fm_cuda_scratch(be, 0);
    FM_CUDA_LAUNCH(xent_rows_kernel, fm_cuda_blocks(N), FM_CUDA_THREADS, 0, cu->stream)
    (fm_cuda_f32(&c->t[1]), term, fm_cuda_f32(&c->t[2]), fm_cuda_i32(&c->t[3]), N, K);
    FM_TRY(fm_cuda_launched(be, "softmax_xent_fwd"));
    return fm_cuda_sum_final(be, fm_cuda_f32(&c->t[0]), term, N, (double)N, "softmax_xent_fwd");
}

/* t: dlogits[N,K], probs[N,K], labels[N]   f0 dloss */
extern "C" fm_status fm_cuda_softmax_xent_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *probs = &c->t[1];
    long long N = probs->shape[0], K = probs->shape[1], n = N * K;
    float s = c->f[0] / (float)N;
    FM_CUDA_LAUNCH(xent_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)
    (fm_cuda_f32(&c->t[0]), fm_cuda_f32(probs), fm_cuda_i32(&c->t[2]), s, K, n);
    return fm_cuda_launched(be, "softmax_xent_bwd");
}
