/* Group normalisation over in[N,C,H,W] with G groups of Cg = C/G consecutive channels.
 * A group of sample n is the contiguous block of M = Cg*H*W values starting at channel
 * g*Cg, so its statistics are plain reductions over one span of memory:
 *
 *   mean = (1/M) sum x,  var = (1/M) sum (x - mean)^2   (biased),  rstd = 1/sqrt(var + eps)
 *   xhat = (x - mean) rstd,  y = xhat gamma[c] + beta[c]
 *   out = y (act 0), or out = silu(y) = y / (1 + e^-y) (act 1, FM_GN_ACT_SILU)
 *
 * The SiLU post-op rounds y to float first and then applies fm_ref_silu (ref.h), as
 * silu.c does, so GROUPNORM_FWD act 1 is bit for bit GROUPNORM_FWD act 0 followed by SILU_FWD: the
 * fused sampler on this backend draws the same bytes as the unfused one.
 *
 * Backward, with dxhat = dout gamma[c] and means over the group:
 *   din    = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
 *   dgamma[c] += sum_{n,y,x} dout xhat,  dbeta[c] += sum_{n,y,x} dout
 * All reductions are accumulated in double. */
#include <math.h>

#include "ref.h"

/* out[N,C,HW], mean[N,G], rstd[N,G] from in[N,C,HW], gamma[C], beta[C]; act: i1. */
static void groupnorm_forward(float *out, float *mean, float *rstd, const float *in,
                              const float *gamma, const float *beta, int64_t N, int64_t C,
                              int64_t HW, int64_t G, float eps, int act)
{
    int64_t Cg = C / G, M = Cg * HW;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t g = 0; g < G; g++) {
            const float *x = in + (n * C + g * Cg) * HW;
            float *y = out + (n * C + g * Cg) * HW;
            /* Two passes: the centred sum of squares does not cancel like E[x^2]-E[x]^2. */
            double sum = 0.0;
            for (int64_t i = 0; i < M; i++)
                sum += x[i];
            double mu = sum / (double)M;
            double ss = 0.0;
            for (int64_t i = 0; i < M; i++)
                ss += (x[i] - mu) * (x[i] - mu);
            double rs = 1.0 / sqrt(ss / (double)M + (double)eps);
            mean[n * G + g] = (float)mu;
            rstd[n * G + g] = (float)rs;
            for (int64_t cc = 0; cc < Cg; cc++) {
                int64_t ch = g * Cg + cc;
                /* out = x a + b per channel: a = rstd gamma, b = beta - mean a */
                double a = rs * gamma[ch], b = beta[ch] - mu * a;
                for (int64_t i = 0; i < HW; i++) {
                    float v = (float)(x[cc * HW + i] * a + b);
                    y[cc * HW + i] = act == FM_GN_ACT_SILU ? fm_ref_silu(v) : v;
                }
            }
        }
    }
}

/* din[N,C,HW] =, dgamma[C] +=, dbeta[C] += from dout, in, mean[N,G], rstd[N,G], gamma.
 * xhat is recomputed from the saved mean and rstd. */
static void groupnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                               const float *in, const float *mean, const float *rstd,
                               const float *gamma, int64_t N, int64_t C, int64_t HW, int64_t G)
{
    int64_t Cg = C / G, M = Cg * HW;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t g = 0; g < G; g++) {
            const float *x = in + (n * C + g * Cg) * HW;
            const float *dy = dout + (n * C + g * Cg) * HW;
            float *dx = din + (n * C + g * Cg) * HW;
            double mu = mean[n * G + g], rs = rstd[n * G + g];
            /* sum dxhat and sum dxhat xhat over the group; dgamma, dbeta per channel */
            double s1 = 0.0, s2 = 0.0;
            for (int64_t cc = 0; cc < Cg; cc++) {
                int64_t ch = g * Cg + cc;
                double sdy = 0.0, sdyx = 0.0;
                for (int64_t i = 0; i < HW; i++) {
                    double xh = (x[cc * HW + i] - mu) * rs;
                    sdy += dy[cc * HW + i];
                    sdyx += dy[cc * HW + i] * xh;
                }
                dbeta[ch] += (float)sdy;
                dgamma[ch] += (float)sdyx;
                s1 += sdy * gamma[ch];
                s2 += sdyx * gamma[ch];
            }
            double m1 = s1 / (double)M, m2 = s2 / (double)M;
            for (int64_t cc = 0; cc < Cg; cc++) {
                double gm = gamma[g * Cg + cc];
                for (int64_t i = 0; i < HW; i++) {
                    double xh = (x[cc * HW + i] - mu) * rs;
                    dx[cc * HW + i] = (float)(rs * (dy[cc * HW + i] * gm - m1 - xh * m2));
                }
            }
        }
    }
}

/* t: out, mean, rstd, in, gamma, beta   i0 groups, i1 act, f0 eps */
fm_status fm_ref_groupnorm_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *in = &c->t[3];
    groupnorm_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]), fm_f32(in),
                      fm_f32(&c->t[4]), fm_f32(&c->t[5]), in->shape[0], in->shape[1],
                      in->shape[2] * in->shape[3], c->i[0], c->f[0], c->i[1]);
    return FM_OK;
}

/* t: din, dgamma, dbeta, dout, in, mean, rstd, gamma   i0 groups */
fm_status fm_ref_groupnorm_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *in = &c->t[4];
    groupnorm_backward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]), fm_f32(&c->t[3]),
                       fm_f32(in), fm_f32(&c->t[5]), fm_f32(&c->t[6]), fm_f32(&c->t[7]),
                       in->shape[0], in->shape[1], in->shape[2] * in->shape[3], c->i[0]);
    return FM_OK;
}
