/* Layer norm with its post-op, adaLN or affine by i0 (maths in kernels_ref/layernorm.c;
 * the multiplier m = one + scale, one = 1 for adaLN, 0 for affine, 1 when scale is
 * absent) over the pool.
 * Rows are independent: forward and din take blocks of rows per item, each row's sums
 * in double as the reference (rows are short: D is the token width). dshift/dscale are
 * column sums over the T rows of a sample: one item per (sample, block of LN_COLS
 * columns), accumulated in double on the stack, so no atomics and a fixed order. */
#include <math.h>

#include "cpu.h"

#define LN_ROWS 16 /* rows per item */
#define LN_COLS 64 /* columns per item of the column sums */

typedef struct ln_job {
    float *out, *mean, *rstd, *din, *dshift, *dscale;
    const float *in, *shift, *scale, *dout, *cmean, *crstd;
    int64_t R, T, D;
    float eps;
    double one; /* m = one + scale: 1 adaLN, 0 affine */
} ln_job;

static double ln_one(const fm_call *c)
{
    return c->i[0] == FM_LN_AFFINE ? 0.0 : 1.0;
}

static const float *opt(const fm_tensor *t)
{
    return fm_tensor_present(t) ? fm_f32(t) : NULL;
}

static void fwd_rows(void *p, int64_t k, int tid)
{
    (void)tid;
    const ln_job *j = p;
    int64_t D = j->D, hi = (k + 1) * LN_ROWS < j->R ? (k + 1) * LN_ROWS : j->R;
    for (int64_t r = k * LN_ROWS; r < hi; r++) {
        const float *x = j->in + r * D;
        const float *sh = j->shift ? j->shift + r / j->T * D : NULL;
        const float *sc = j->scale ? j->scale + r / j->T * D : NULL;
        double sum = 0.0, ss = 0.0;
        for (int64_t i = 0; i < D; i++)
            sum += x[i];
        double mu = sum / (double)D;
        for (int64_t i = 0; i < D; i++)
            ss += (x[i] - mu) * (x[i] - mu);
        double rs = 1.0 / sqrt(ss / (double)D + (double)j->eps);
        j->mean[r] = (float)mu;
        j->rstd[r] = (float)rs;
        for (int64_t i = 0; i < D; i++) {
            double m = sc ? j->one + (double)sc[i] : 1.0;
            j->out[r * D + i] = (float)((x[i] - mu) * rs * m + (sh ? sh[i] : 0.0));
        }
    }
}

/* LAYERNORM_FWD: out, mean, rstd, in[B,T,D], shift?, scale?   f0 eps, i0 form */
fm_status fm_cpu_layernorm_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *in = &c->t[3];
    ln_job j = {.out = fm_f32(&c->t[0]),
                .mean = fm_f32(&c->t[1]),
                .rstd = fm_f32(&c->t[2]),
                .in = fm_f32(in),
                .shift = opt(&c->t[4]),
                .scale = opt(&c->t[5]),
                .R = in->shape[0] * in->shape[1],
                .T = in->shape[1],
                .D = in->shape[2],
                .eps = c->f[0],
                .one = ln_one(c)};
    fm_cpu_parallel(fm_cpu_of(be), (j.R + LN_ROWS - 1) / LN_ROWS, fwd_rows, &j);
    return FM_OK;
}

/* Item k: sample k / nblk, columns [LN_COLS (k % nblk), ...). */
static void mod_cols(void *p, int64_t k, int tid)
{
    (void)tid;
    const ln_job *j = p;
    int64_t D = j->D, nblk = (D + LN_COLS - 1) / LN_COLS, b = k / nblk;
    int64_t c0 = k % nblk * LN_COLS, nc = D - c0 < LN_COLS ? D - c0 : LN_COLS;
    double s1[LN_COLS] = {0}, s2[LN_COLS] = {0};
    for (int64_t t = 0; t < j->T; t++) {
        int64_t r = b * j->T + t;
        const float *x = j->in + r * D + c0, *dy = j->dout + r * D + c0;
        double mu = j->cmean[r], rs = j->crstd[r];
        for (int64_t i = 0; i < nc; i++) {
            s1[i] += dy[i];
            s2[i] += dy[i] * ((x[i] - mu) * rs);
        }
    }
    for (int64_t i = 0; i < nc; i++) {
        if (j->dshift)
            j->dshift[b * D + c0 + i] = (float)s1[i];
        if (j->dscale)
            j->dscale[b * D + c0 + i] = (float)s2[i];
    }
}

static void din_rows(void *p, int64_t k, int tid)
{
    (void)tid;
    const ln_job *j = p;
    int64_t D = j->D, hi = (k + 1) * LN_ROWS < j->R ? (k + 1) * LN_ROWS : j->R;
    for (int64_t r = k * LN_ROWS; r < hi; r++) {
        const float *x = j->in + r * D, *dy = j->dout + r * D;
        const float *sc = j->scale ? j->scale + r / j->T * D : NULL;
        double mu = j->cmean[r], rs = j->crstd[r], s1 = 0.0, s2 = 0.0;
        for (int64_t i = 0; i < D; i++) {
            double g = dy[i] * (sc ? j->one + (double)sc[i] : 1.0);
            s1 += g;
            s2 += g * ((x[i] - mu) * rs);
        }
        double m1 = s1 / (double)D, m2 = s2 / (double)D;
        for (int64_t i = 0; i < D; i++) {
            double g = dy[i] * (sc ? j->one + (double)sc[i] : 1.0);
            j->din[r * D + i] = (float)(rs * (g - m1 - (x[i] - mu) * rs * m2));
        }
    }
}

/* LAYERNORM_BWD: din, dshift?, dscale?, dout, in[B,T,D], mean, rstd, scale?   i0 form */
fm_status fm_cpu_layernorm_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *in = &c->t[4];
    ln_job j = {.din = fm_f32(&c->t[0]),
                .dshift = (float *)opt(&c->t[1]),
                .dscale = (float *)opt(&c->t[2]),
                .dout = fm_f32(&c->t[3]),
                .in = fm_f32(in),
                .cmean = fm_f32(&c->t[5]),
                .crstd = fm_f32(&c->t[6]),
                .scale = opt(&c->t[7]),
                .R = in->shape[0] * in->shape[1],
                .T = in->shape[1],
                .D = in->shape[2],
                .one = ln_one(c)};
    fm_cpu *cpu = fm_cpu_of(be);
    if (j.dshift || j.dscale)
        fm_cpu_parallel(cpu, in->shape[0] * ((j.D + LN_COLS - 1) / LN_COLS), mod_cols, &j);
    fm_cpu_parallel(cpu, (j.R + LN_ROWS - 1) / LN_ROWS, din_rows, &j);
    return FM_OK;
}
