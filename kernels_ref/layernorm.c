/* Layer norm over the last dim of x[B,T,D] (rows r = b*T + t), then a per-sample
 * modulation as a post-op (shift, scale [B,D]), in one of two forms (i0):
 *
 *   mean = (1/D) sum_j x,  var = (1/D) sum_j (x - mean)^2 (biased),  rstd = 1/sqrt(var + eps)
 *   xhat = (x - mean) rstd,  out[b,t,j] = xhat m[b,j] + shift[b,j]   (absent shift: 0)
 *   0 adaLN:  m = 1 + scale   (absent scale: 0, m = 1)
 *   1 affine: m = scale       (absent scale: m = 1; nn.LayerNorm on the [1, B*T, D] view)
 *
 * Backward, g = dout m[b,j] and means over the row:
 *   din         = rstd (g - mean(g) - xhat mean(g xhat))
 *   dshift[b,j] = sum_t dout,  dscale[b,j] = sum_t dout xhat     (written, =; dm/dscale
 *                 is 1 in both forms)
 * All reductions are accumulated in double. */
#include <math.h>

#include "ref.h"

/* The multiplier m[j] of one sample: 1 + scale[j] (adaLN), scale[j] (affine), or 1
 * when scale is absent. */
static double mult(const float *scale, int64_t j, int form)
{
    return scale ? (form == FM_LN_AFFINE ? 0.0 : 1.0) + (double)scale[j] : 1.0;
}

/* out[R,D], mean[R], rstd[R] from in[R,D]; shift/scale rows of sample r / T. */
static void layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                              const float *shift, const float *scale, int64_t R, int64_t T,
                              int64_t D, float eps, int form)
{
    for (int64_t r = 0; r < R; r++) {
        const float *x = in + r * D;
        const float *sh = shift ? shift + r / T * D : NULL, *sc = scale ? scale + r / T * D : NULL;
        double sum = 0.0, ss = 0.0;
        for (int64_t j = 0; j < D; j++)
            sum += x[j];
        double mu = sum / (double)D;
        for (int64_t j = 0; j < D; j++)
            ss += (x[j] - mu) * (x[j] - mu);
        double rs = 1.0 / sqrt(ss / (double)D + (double)eps);
        mean[r] = (float)mu;
        rstd[r] = (float)rs;
        for (int64_t j = 0; j < D; j++)
            out[r * D + j] = (float)((x[j] - mu) * rs * mult(sc, j, form) + (sh ? sh[j] : 0.0));
    }
}

/* dshift[B,D], dscale[B,D] (either NULL): sums over the T rows of each sample. */
static void layernorm_backward_mod(float *dshift, float *dscale, const float *dout, const float *in,
                                   const float *mean, const float *rstd, int64_t B, int64_t T,
                                   int64_t D)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < D; j++) {
            double s1 = 0.0, s2 = 0.0;
            for (int64_t t = 0; t < T; t++) {
                int64_t r = b * T + t;
                double dy = dout[r * D + j];
                s1 += dy;
                s2 += dy * ((in[r * D + j] - (double)mean[r]) * rstd[r]);
            }
            if (dshift)
                dshift[b * D + j] = (float)s1;
            if (dscale)
                dscale[b * D + j] = (float)s2;
        }
}

/* din[R,D] from dout, in, mean, rstd and scale (NULL: 0). */
static void layernorm_backward_din(float *din, const float *dout, const float *in,
                                   const float *mean, const float *rstd, const float *scale,
                                   int64_t R, int64_t T, int64_t D, int form)
{
    for (int64_t r = 0; r < R; r++) {
        const float *x = in + r * D, *dy = dout + r * D;
        const float *sc = scale ? scale + r / T * D : NULL;
        double mu = mean[r], rs = rstd[r], s1 = 0.0, s2 = 0.0;
        for (int64_t j = 0; j < D; j++) {
            double g = dy[j] * mult(sc, j, form);
            s1 += g;
            s2 += g * ((x[j] - mu) * rs);
        }
        double m1 = s1 / (double)D, m2 = s2 / (double)D;
        for (int64_t j = 0; j < D; j++) {
            double g = dy[j] * mult(sc, j, form);
            din[r * D + j] = (float)(rs * (g - m1 - (x[j] - mu) * rs * m2));
        }
    }
}

/* t: out, mean, rstd, in[B,T,D], shift?, scale?   f0 eps, i0 form */
fm_status fm_ref_layernorm_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *in = &c->t[3];
    int64_t T = in->shape[1], D = in->shape[2];
    layernorm_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]), fm_f32(in),
                      fm_tensor_present(&c->t[4]) ? fm_f32(&c->t[4]) : NULL,
                      fm_tensor_present(&c->t[5]) ? fm_f32(&c->t[5]) : NULL, in->shape[0] * T, T, D,
                      c->f[0], c->i[0]);
    return FM_OK;
}

/* t: din, dshift?, dscale?, dout, in[B,T,D], mean, rstd, scale?   i0 form */
fm_status fm_ref_layernorm_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *in = &c->t[4];
    int64_t B = in->shape[0], T = in->shape[1], D = in->shape[2];
    const float *dout = fm_f32(&c->t[3]), *x = fm_f32(in);
    const float *mean = fm_f32(&c->t[5]), *rstd = fm_f32(&c->t[6]);
    float *dshift = fm_tensor_present(&c->t[1]) ? fm_f32(&c->t[1]) : NULL;
    float *dscale = fm_tensor_present(&c->t[2]) ? fm_f32(&c->t[2]) : NULL;
    if (dshift || dscale)
        layernorm_backward_mod(dshift, dscale, dout, x, mean, rstd, B, T, D);
    layernorm_backward_din(fm_f32(&c->t[0]), dout, x, mean, rstd,
                           fm_tensor_present(&c->t[7]) ? fm_f32(&c->t[7]) : NULL, B * T, T, D,
                           c->i[0]);
    return FM_OK;
}
