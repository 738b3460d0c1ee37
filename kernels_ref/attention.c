/* Multi-head self-attention over the L = H*W positions of an image, on a fused
 * qkv[N,3C,H,W] (the output of a 1x1 conv). Head h of d = C/heads channels reads
 * channel s*C + h*d + j of qkv (s = 0 q, 1 k, 2 v; j < d), i.e. for one (n, h) the
 * matrices q, k, v are [d, L] row-major, each row one channel:
 *
 *   S[i,k]   = sum_j q[j,i] k[j,k] / sqrt(d)                   [L, L]
 *   att[i,k] = exp(S[i,k] - max_k S[i,.]) / sum_k' exp(...)     softmax over keys k
 *   o[j,i]   = sum_k att[i,k] v[j,k]          -> out channel h*d + j
 *
 * Backward, with dO = dout[h*d + j, i]:
 *   dA[i,k] = sum_j dO[j,i] v[j,k]            dv[j,k] = sum_i att[i,k] dO[j,i]
 *   dS[i,k] = att[i,k] (dA[i,k] - sum_k' att[i,k'] dA[i,k'])    (softmax Jacobian)
 *   dq[j,i] = sum_k dS[i,k] k[j,k] / sqrt(d)  dk[j,k] = sum_i dS[i,k] q[j,i] / sqrt(d)
 * dA and dS live in the caller's scratch ws[2,L,L], reused for every (n, h).
 * Reductions are accumulated in double. */
#include <math.h>

#include "ref.h"

/* out[N,C,L], att[N,heads,L,L] from qkv[N,3C,L]. */
static void attention_forward(float *out, float *att, const float *qkv, int64_t N, int64_t C,
                              int64_t L, int64_t heads)
{
    int64_t d = C / heads;
    double scale = 1.0 / sqrt((double)d);
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < heads; h++) {
            const float *q = qkv + (n * 3 * C + 0 * C + h * d) * L;
            const float *k = qkv + (n * 3 * C + 1 * C + h * d) * L;
            const float *v = qkv + (n * 3 * C + 2 * C + h * d) * L;
            float *a = att + (n * heads + h) * L * L;
            float *o = out + (n * C + h * d) * L;
            for (int64_t i = 0; i < L; i++) {
                float *ar = a + i * L;
                /* scores, then a max-shifted softmax so exp never overflows */
                double mx = -HUGE_VAL;
                for (int64_t kk = 0; kk < L; kk++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j < d; j++)
                        acc += (double)q[j * L + i] * k[j * L + kk];
                    ar[kk] = (float)(acc * scale);
                    if (ar[kk] > mx)
                        mx = ar[kk];
                }
                double sum = 0.0;
                for (int64_t kk = 0; kk < L; kk++) {
                    double e = exp(ar[kk] - mx);
                    ar[kk] = (float)e;
                    sum += e;
                }
                for (int64_t kk = 0; kk < L; kk++)
                    ar[kk] = (float)(ar[kk] / sum);
            }
            for (int64_t j = 0; j < d; j++) {
                for (int64_t i = 0; i < L; i++) {
                    const float *ar = a + i * L;
                    double acc = 0.0;
                    for (int64_t kk = 0; kk < L; kk++)
                        acc += (double)ar[kk] * v[j * L + kk];
                    o[j * L + i] = (float)acc;
                }
            }
        }
    }
}

/* dqkv[N,3C,L] = from dout[N,C,L], qkv, att[N,heads,L,L]; ws holds 2*L*L floats. */
static void attention_backward(float *dqkv, float *ws, const float *dout, const float *qkv,
                               const float *att, int64_t N, int64_t C, int64_t L, int64_t heads)
{
    int64_t d = C / heads;
    double scale = 1.0 / sqrt((double)d);
    float *dA = ws, *dS = ws + L * L;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < heads; h++) {
            const float *q = qkv + (n * 3 * C + 0 * C + h * d) * L;
            const float *k = qkv + (n * 3 * C + 1 * C + h * d) * L;
            const float *v = qkv + (n * 3 * C + 2 * C + h * d) * L;
            float *dq = dqkv + (n * 3 * C + 0 * C + h * d) * L;
            float *dk = dqkv + (n * 3 * C + 1 * C + h * d) * L;
            float *dv = dqkv + (n * 3 * C + 2 * C + h * d) * L;
            const float *a = att + (n * heads + h) * L * L;
            const float *dO = dout + (n * C + h * d) * L;
            for (int64_t i = 0; i < L; i++) {
                for (int64_t kk = 0; kk < L; kk++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j < d; j++)
                        acc += (double)dO[j * L + i] * v[j * L + kk];
                    dA[i * L + kk] = (float)acc;
                }
            }
            for (int64_t j = 0; j < d; j++) {
                for (int64_t kk = 0; kk < L; kk++) {
                    double acc = 0.0;
                    for (int64_t i = 0; i < L; i++)
                        acc += (double)a[i * L + kk] * dO[j * L + i];
                    dv[j * L + kk] = (float)acc;
                }
            }
            for (int64_t i = 0; i < L; i++) {
                double dot = 0.0;
                for (int64_t kk = 0; kk < L; kk++)
                    dot += (double)a[i * L + kk] * dA[i * L + kk];
                for (int64_t kk = 0; kk < L; kk++) {
                    dS[i * L + kk] = (float)(a[i * L + kk] * (dA[i * L + kk] - dot));
                }
            }
            for (int64_t j = 0; j < d; j++) {
                for (int64_t i = 0; i < L; i++) {
                    double acc = 0.0;
                    for (int64_t kk = 0; kk < L; kk++)
                        acc += (double)dS[i * L + kk] * k[j * L + kk];
                    dq[j * L + i] = (float)(acc * scale);
                }
                for (int64_t kk = 0; kk < L; kk++) {
                    double acc = 0.0;
                    for (int64_t i = 0; i < L; i++)
                        acc += (double)dS[i * L + kk] * q[j * L + i];
                    dk[j * L + kk] = (float)(acc * scale);
                }
            }
        }
    }
}

/* t: out, att, qkv   i0 heads */
fm_status fm_ref_attention_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *out = &c->t[0];
    attention_forward(fm_f32(out), fm_f32(&c->t[1]), fm_f32(&c->t[2]), out->shape[0], out->shape[1],
                      out->shape[2] * out->shape[3], c->i[0]);
    return FM_OK;
}

/* t: dqkv, ws, dout, qkv, att   i0 heads */
fm_status fm_ref_attention_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *dout = &c->t[2];
    attention_backward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(dout), fm_f32(&c->t[3]),
                       fm_f32(&c->t[4]), dout->shape[0], dout->shape[1],
                       dout->shape[2] * dout->shape[3], c->i[0]);
    return FM_OK;
}
