/* Sinusoidal time embedding of t[N] into out[N,D], half = D/2:
 *
 *   f_i = exp(-ln(10000) i / (half - 1)),  a_i = 1000 t f_i,  i = 0..half-1
 *   out[n] = [sin a_0 .. sin a_{half-1}, cos a_0 .. cos a_{half-1}]
 *   dt[n]  = sum_i 1000 f_i (cos a_i dout[n,i] - sin a_i dout[n,half+i])    (=)
 *
 * D is even and >= 4 (fm_op_check), so half - 1 > 0. a_0 = 1000 t reaches 1000 rad,
 * where a float argument keeps only ~1e-4 rad of precision, so the angles and their
 * sines are computed in double. */
#include <math.h>

#include "ref.h"

static double timeemb_freq(int64_t i, int64_t half)
{
    return exp(-log(10000.0) * (double)i / (double)(half - 1));
}

/* out[N,D] from t[N]. */
static void timeemb_forward(float *out, const float *t, int64_t N, int64_t D)
{
    int64_t half = D / 2;
    for (int64_t n = 0; n < N; n++) {
        float *e = out + n * D;
        for (int64_t i = 0; i < half; i++) {
            double a = 1000.0 * t[n] * timeemb_freq(i, half);
            e[i] = (float)sin(a);
            e[half + i] = (float)cos(a);
        }
    }
}

/* dt[N] = from dout[N,D], t[N]. */
static void timeemb_backward(float *dt, const float *dout, const float *t, int64_t N, int64_t D)
{
    int64_t half = D / 2;
    for (int64_t n = 0; n < N; n++) {
        const float *g = dout + n * D;
        double acc = 0.0;
        for (int64_t i = 0; i < half; i++) {
            double f = timeemb_freq(i, half);
            double a = 1000.0 * t[n] * f;
            acc += 1000.0 * f * (cos(a) * g[i] - sin(a) * g[half + i]);
        }
        dt[n] = (float)acc;
    }
}

/* t: out, t */
fm_status fm_ref_timeemb_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *out = &c->t[0];
    timeemb_forward(fm_f32(out), fm_f32(&c->t[1]), out->shape[0], out->shape[1]);
    return FM_OK;
}

/* t: dt, dout, t */
fm_status fm_ref_timeemb_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *dout = &c->t[1];
    timeemb_backward(fm_f32(&c->t[0]), fm_f32(dout), fm_f32(&c->t[2]), dout->shape[0],
                     dout->shape[1]);
    return FM_OK;
}
