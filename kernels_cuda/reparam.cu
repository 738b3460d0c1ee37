/* The autoencoder's posterior (kernels_ref/reparam.c). mom [N,2Z,h,w]: the mean mu in
 * channels 0..Z-1 and the log-variance lv in Z..2Z-1 of each image; zl = Z h w, so
 * latent element e (image e / zl) reads mu at mom[e + (e / zl) zl] and lv at zl
 * further. With lv' = clamp(lv, -30, 20):
 *
 *   z   = mu + exp(lv'/2) eps           (eps absent: z = mu)
 *   kl  = (1/N) sum 0.5 (mu^2 + exp(lv') - 1 - lv')
 *   dmu = dz + k mu,  k = dkl / N       (f0 dkl; dz, eps absent: zero)
 *   dlv = [-30 <= lv <= 20] (dz eps exp(lv/2) / 2 + k (exp(lv) - 1) / 2)
 *
 * Forward in one pass over mom: P blocks (as sum.cu's first pass) write z for a
 * grid-strided share of the latent and sum those elements' KL terms (Kahan within a
 * thread, the fixed block tree across) into one partial each in scratch; sum.cu's
 * second pass adds the P partials and divides by N in double. Backward: one thread per
 * element of dmom, k rounded to float on the host as the reference does. Twin of
 * kernels_cl/reparam.cl. */
#include "cuda.h"

#define REPARAM_PER_THREAD 16
#define REPARAM_MAX_PARTIALS 1024

static __device__ float reparam_clamp(float lv)
{
    return lv < FM_LOGVAR_MIN ? FM_LOGVAR_MIN : lv > FM_LOGVAR_MAX ? FM_LOGVAR_MAX : lv;
}

/* z for e = global thread id + k * total threads < n; part[block] = their KL terms'
 * sum. eps may be NULL. */
static __global__ void reparam_fwd_kernel(float *z, float *part, const float *mom,
                                          const float *eps, long long n, long long zl)
{
    __shared__ float sh[FM_CUDA_THREADS / 32];
    long long stride = (long long)gridDim.x * FM_CUDA_THREADS;
    float acc = 0.0f, comp = 0.0f;
    for (long long e = (long long)blockIdx.x * FM_CUDA_THREADS + threadIdx.x; e < n; e += stride) {
        long long im = e + e / zl * zl;
        float mu = mom[im], lv = reparam_clamp(mom[im + zl]);
        z[e] = eps ? mu + expf(0.5f * lv) * eps[e] : mu;
        float y = 0.5f * (mu * mu + expf(lv) - 1.0f - lv) - comp, t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    acc = fm_cuda_block_sum(acc, sh);
    if (threadIdx.x == 0)
        part[blockIdx.x] = acc;
}

/* One thread per element j of dmom (n = N 2 zl); dz, eps may be NULL; k = dkl / N. */
static __global__ void reparam_bwd_kernel(float *dmom, const float *dz, const float *mom,
                                          const float *eps, float k, long long n, long long zl)
{
    long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n)
        return;
    long long img = j / (2 * zl), r = j - img * 2 * zl;
    int is_lv = r >= zl;
    long long e = img * zl + (is_lv ? r - zl : r);
    float d = dz ? dz[e] : 0.0f, x = mom[j];
    if (!is_lv) {
        dmom[j] = d + k * x;
        return;
    }
    if (x < FM_LOGVAR_MIN || x > FM_LOGVAR_MAX) {
        dmom[j] = 0.0f;
        return;
    }
    float s = expf(0.5f * x);
    dmom[j] = 0.5f * (d * (eps ? eps[e] : 0.0f) * s + k * (s * s - 1.0f));
}

static float *f32_or_null(const fm_tensor *t)
{
    return fm_tensor_present(t) ? fm_cuda_f32(t) : NULL;
}

/* t: z, kl[1], mom[N,2Z,h,w], eps? */
extern "C" fm_status fm_cuda_reparam_fwd(fm_backend *be, const fm_call *c)
{
    fm_cuda *cu = fm_cuda_of(be);
    long long n = fm_tensor_numel(&c->t[0]), N = c->t[2].shape[0];
    long long np = (n + (long long)FM_CUDA_THREADS * REPARAM_PER_THREAD - 1) /
                   ((long long)FM_CUDA_THREADS * REPARAM_PER_THREAD);
    np = np < 1 ? 1 : np > REPARAM_MAX_PARTIALS ? REPARAM_MAX_PARTIALS : np;
    if ((size_t)np * sizeof(float) > cu->scratch_bytes)
        return fm_fail(be, FM_ERR_ARENA, "cuda: reparam_fwd: scratch of %zu bytes too small",
                       cu->scratch_bytes);
    float *part = fm_cuda_scratch(be, 0);
    FM_CUDA_LAUNCH(reparam_fwd_kernel, (unsigned)np, FM_CUDA_THREADS, 0, cu->stream)(
        fm_cuda_f32(&c->t[0]), part, fm_cuda_f32(&c->t[2]), f32_or_null(&c->t[3]), n, n / N);
    FM_TRY(fm_cuda_launched(be, "reparam_fwd"));
    return fm_cuda_sum_final(be, fm_cuda_f32(&c->t[1]), part, np, (double)N, "reparam_fwd");
}

/* t: dmom[N,2Z,h,w], dz?, mom, eps?   f0 dkl */
extern "C" fm_status fm_cuda_reparam_bwd(fm_backend *be, const fm_call *c)
{
    fm_cuda *cu = fm_cuda_of(be);
    long long n = fm_tensor_numel(&c->t[0]), N = c->t[0].shape[0];
    float k = c->f[0] / (float)N;
    FM_CUDA_LAUNCH(reparam_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, cu->stream)(
        fm_cuda_f32(&c->t[0]), f32_or_null(&c->t[1]), fm_cuda_f32(&c->t[2]), f32_or_null(&c->t[3]),
        k, n, n / N / 2);
    return fm_cuda_launched(be, "reparam_bwd");
}
