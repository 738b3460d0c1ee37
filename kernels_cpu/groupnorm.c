/* Group normalisation (maths in kernels_ref/groupnorm.c) over the pool, one (sample,
 * group) pair per item. Each group is one contiguous span of M = Cg*H*W floats, so its
 * statistics are short vectorisable passes: float lanes over blocks of 256, each block
 * added to a double (fm_cpu_sum, fm_cpu_dot), two passes for the centred variance. The
 * SiLU post-op (i1 = FM_GN_ACT_SILU: out = y / (1 + e^-y), y the normalised value) runs
 * in the writing pass with vmath.h's fm_cpu_silu, as silu.c, so it equals GROUPNORM_FWD
 * + SILU_FWD on this backend while the span is read once less and written once less.
 *
 * Backward: per channel, sdy = sum dy and sdyx = sum dy xhat over the plane; they give
 * din for the pair and, summed over the batch, dgamma and dbeta. The per-(n, c) sums go
 * to a [2, N, C] double table in thread 0's scratch (each item writes its own entries),
 * reduced over n after the parallel region, so dgamma/dbeta need no atomics and add up
 * in a fixed order. */
#include <math.h>

#include "cpu.h"
#include "vmath.h"

typedef struct gn_job {
    float *out, *mean, *rstd, *din;
    const float *in, *gamma, *beta, *dout, *cmean, *crstd;
    double *sums; /* backward: [2][N][C] */
    int64_t N, C, HW, G;
    float eps;
    int act; /* forward: FM_GN_ACT_* */
} gn_job;

static void fwd_pair(void *p, int64_t ng, int tid)
{
    (void)tid;
    const gn_job *j = p;
    int64_t n = ng / j->G, g = ng % j->G, Cg = j->C / j->G, M = Cg * j->HW;
    const float *x = j->in + (n * j->C + g * Cg) * j->HW;
    float *y = j->out + (n * j->C + g * Cg) * j->HW;
    double mu = fm_cpu_sum(x, M) / (double)M;
    double var = fm_cpu_dot(x, (float)mu, x, (float)mu, M) / (double)M;
    double rs = 1.0 / sqrt(var + (double)j->eps);
    j->mean[ng] = (float)mu;
    j->rstd[ng] = (float)rs;
    for (int64_t cc = 0; cc < Cg; cc++) {
        int64_t ch = g * Cg + cc;
        /* y = x a + b per channel: a = rstd gamma, b = beta - mean a */
        float a = (float)(rs * j->gamma[ch]), b = (float)(j->beta[ch] - mu * rs * j->gamma[ch]);
        const float *xc = x + cc * j->HW;
        float *yc = y + cc * j->HW;
        /* one loop per activation, so that each stays a plain vectorisable loop */
        if (j->act == FM_GN_ACT_SILU) {
            for (int64_t i = 0; i < j->HW; i++)
                yc[i] = fm_cpu_silu(xc[i] * a + b);
        } else {
            for (int64_t i = 0; i < j->HW; i++)
                yc[i] = xc[i] * a + b;
        }
    }
}

/* t: out, mean, rstd, in, gamma, beta   i0 groups, i1 act, f0 eps */
fm_status fm_cpu_groupnorm_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *in = &c->t[3];
    gn_job j = {.out = fm_f32(&c->t[0]),
                .mean = fm_f32(&c->t[1]),
                .rstd = fm_f32(&c->t[2]),
                .in = fm_f32(in),
                .gamma = fm_f32(&c->t[4]),
                .beta = fm_f32(&c->t[5]),
                .N = in->shape[0],
                .C = in->shape[1],
                .HW = in->shape[2] * in->shape[3],
                .G = c->i[0],
                .eps = c->f[0],
                .act = c->i[1]};
    fm_cpu_parallel(fm_cpu_of(be), j.N * j.G, fwd_pair, &j);
    return FM_OK;
}

static void bwd_pair(void *p, int64_t ng, int tid)
{
    (void)tid;
    const gn_job *j = p;
    int64_t n = ng / j->G, g = ng % j->G, Cg = j->C / j->G, M = Cg * j->HW;
    int64_t base = (n * j->C + g * Cg) * j->HW;
    const float *x = j->in + base, *dy = j->dout + base;
    float *dx = j->din + base;
    float mu = j->cmean[ng];
    double rs = j->crstd[ng];
    double *sdy_t = j->sums + n * j->C, *sdyx_t = j->sums + (j->N + n) * j->C;
    double s1 = 0.0, s2 = 0.0;
    for (int64_t cc = 0; cc < Cg; cc++) {
        int64_t ch = g * Cg + cc;
        double sdy = fm_cpu_sum(dy + cc * j->HW, j->HW);
        double sdyx = fm_cpu_dot(dy + cc * j->HW, 0.0f, x + cc * j->HW, mu, j->HW) * rs;
        sdy_t[ch] = sdy;
        sdyx_t[ch] = sdyx;
        s1 += sdy * j->gamma[ch];
        s2 += sdyx * j->gamma[ch];
    }
    /* din = rstd (dy gamma - mean(dxhat) - xhat mean(dxhat xhat)), xhat = (x - mu) rstd */
    float m1 = (float)(s1 / (double)M), m2 = (float)(s2 / (double)M), frs = (float)rs;
    for (int64_t cc = 0; cc < Cg; cc++) {
        float gm = j->gamma[g * Cg + cc];
        const float *xc = x + cc * j->HW, *dyc = dy + cc * j->HW;
        float *dxc = dx + cc * j->HW;
        for (int64_t i = 0; i < j->HW; i++) {
            float xh = (xc[i] - mu) * frs;
            dxc[i] = frs * (dyc[i] * gm - m1 - xh * m2);
        }
    }
}

/* t: din, dgamma, dbeta, dout, in, mean, rstd, gamma   i0 groups */
fm_status fm_cpu_groupnorm_bwd(fm_backend *be, const fm_call *c)
{
    fm_cpu *cpu = fm_cpu_of(be);
    const fm_tensor *in = &c->t[4];
    gn_job j = {.din = fm_f32(&c->t[0]),
                .dout = fm_f32(&c->t[3]),
                .in = fm_f32(in),
                .cmean = fm_f32(&c->t[5]),
                .crstd = fm_f32(&c->t[6]),
                .gamma = fm_f32(&c->t[7]),
                .N = in->shape[0],
                .C = in->shape[1],
                .HW = in->shape[2] * in->shape[3],
                .G = c->i[0]};
    if ((size_t)(2 * j.N * j.C) * sizeof(double) > fm_cpu_scratch_floats(cpu) * sizeof(float))
        return fm_ref_groupnorm_bwd(be, c);
    j.sums = (double *)fm_cpu_scratch(cpu, 0);
    fm_cpu_parallel(cpu, j.N * j.G, bwd_pair, &j);
    float *dgamma = fm_f32(&c->t[1]), *dbeta = fm_f32(&c->t[2]);
    for (int64_t ch = 0; ch < j.C; ch++) {
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t n = 0; n < j.N; n++) {
            sdy += j.sums[n * j.C + ch];
            sdyx += j.sums[(j.N + n) * j.C + ch];
        }
        dbeta[ch] += (float)sdy;
        dgamma[ch] += (float)sdyx;
    }
    return FM_OK;
}
