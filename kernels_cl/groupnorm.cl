/* Group normalisation of in[N,C,H,W], G groups of Cg = C/G channels; group (n, g) is
 * the contiguous span of M = Cg*HW floats at (n*G + g) * M.
 *
 * Forward in two launches: the statistics, one work-group per (n, g), reading the
 * span twice:
 *   mean = (1/M) sum x,  var = (1/M) sum (x - mean)^2,  rstd = 1/sqrt(var + eps)
 * then the output, one work-item per element:
 *   y    = (x - mean) (rstd gamma[c]) + beta[c]
 *   out  = y (act 0), or silu(y) = y / (1 + e^-y) (act 1: the SiLU post-op, fm_cl_silu of silu.cl,
 *          applied in the same writing pass)
 * Backward, with xhat = (x - mean) rstd, in three launches through scratch ws:
 *   1. per (n, c) plane (one work-group): ws_dy[n,c] = sum dout, ws_dyx[n,c] = sum dout xhat
 *   2. per channel c:   dbeta[c] += ws_dy[n,c], dgamma[c] += ws_dyx[n,c]  for n = 0..N-1
 *      per (n, g):      m1 = (1/M) sum_c gamma[c] ws_dy[n,c], m2 = (1/M) sum_c gamma[c] ws_dyx[n,c]
 *   3. per element:     din = rstd (dout gamma[c] - m1 - xhat m2)
 * Sums: compensated (Kahan) sums per work-item in the 16 lanes of a float16 (item l
 * takes the float16s l, l + ls, ...: 16 independent chains; one scalar chain was bound
 * by the adds' latency on a CPU device), the M % 16 tail beside them, the lanes added
 * pairwise, then a tree in local memory; the work-group size is a power of two <= 128
 * (cl.h's reduce_wg). Elementwise passes are 2-D (position in the plane, plane), so no
 * work-item divides per element. On PoCL the statistics take about a tenth of the
 * forward's time, the output pass the rest (measured by skipping it). */
#define GROUPNORM_WG_MAX 128

float fm_cl_silu(float x); /* silu.cl */

/* Tree sum of v over the work-group (a power of two), returned to every item; s is
 * free again after. Shared with layernorm.cl (the .cl files are one program). */
float fm_cl_tree_sum(__local float *s, float v)
{
    int l = get_local_id(0);
    s[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = get_local_size(0) / 2; h > 0; h >>= 1) {
        if (l < h)
            s[l] += s[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = s[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* The 16 lanes added pairwise. */
static float groupnorm_lanes(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

/* Forward statistics, one work-group per (n, g). */
__kernel void groupnorm_stats(__global float *mean, uint mean_off, __global float *rstd,
                              uint rstd_off, __global const float *in, uint in_off, int C, int HW,
                              int G, float eps)
{
    __local float s[GROUPNORM_WG_MAX];
    int id = get_group_id(0), l = get_local_id(0), ls = get_local_size(0);
    int M = C / G * HW, M16 = M / 16;
    __global const float *x = in + in_off + (size_t)id * M;

    float16 acc = 0.0f, comp = 0.0f;
    for (int i = l; i < M16; i += ls) {
        float16 v = vload16(i, x) - comp;
        float16 t = acc + v;
        comp = (t - acc) - v;
        acc = t;
    }
    float tail = 0.0f;
    for (int i = 16 * M16 + l; i < M; i += ls)
        tail += x[i];
    float mu = fm_cl_tree_sum(s, groupnorm_lanes(acc) + tail) / (float)M;

    acc = 0.0f;
    comp = 0.0f;
    for (int i = l; i < M16; i += ls) {
        float16 d = vload16(i, x) - mu;
        float16 v = d * d - comp;
        float16 t = acc + v;
        comp = (t - acc) - v;
        acc = t;
    }
    tail = 0.0f;
    for (int i = 16 * M16 + l; i < M; i += ls)
        tail += (x[i] - mu) * (x[i] - mu);
    float var = fm_cl_tree_sum(s, groupnorm_lanes(acc) + tail) / (float)M;
    if (l == 0) {
        mean[mean_off + id] = mu;
        rstd[rstd_off + id] = 1.0f / sqrt(var + eps);
    }
}

/* Forward output, 2-D: dim 0 the position in a plane, dim 1 the plane n*C + c (uniform
 * over a work-group, so its channel arithmetic is not per element). */
__kernel void groupnorm_apply(__global float *out, uint out_off, __global const float *mean,
                              uint mean_off, __global const float *rstd, uint rstd_off,
                              __global const float *in, uint in_off, __global const float *gamma,
                              uint gamma_off, __global const float *beta, uint beta_off, int C,
                              int HW, int G, int act)
{
    int i = get_global_id(0), pl = get_global_id(1);
    if (i >= HW)
        return;
    int c = pl % C, ng = pl / C * G + c / (C / G);
    float mu = mean[mean_off + ng], sc = rstd[rstd_off + ng] * gamma[gamma_off + c];
    float bt = beta[beta_off + c];
    size_t at = (size_t)pl * HW + i;
    float v = (in[in_off + at] - mu) * sc + bt;
    out[out_off + at] = act ? fm_cl_silu(v) : v;
}

/* 1. ws[p] = sum dout, ws[NC + p] = sum dout xhat over plane p = n*C + c. */
__kernel void groupnorm_bwd_plane(__global float *ws, uint ws_off, __global const float *dout,
                                  uint dout_off, __global const float *in, uint in_off,
                                  __global const float *mean, uint mean_off,
                                  __global const float *rstd, uint rstd_off, int C, int HW, int G,
                                  int NC)
{
    __local float s[GROUPNORM_WG_MAX];
    int p = get_group_id(0), l = get_local_id(0), ls = get_local_size(0);
    int n = p / C, c = p % C, ng = n * G + c / (C / G);
    float mu = mean[mean_off + ng], rs = rstd[rstd_off + ng];
    __global const float *x = in + in_off + (size_t)p * HW;
    __global const float *dy = dout + dout_off + (size_t)p * HW;
    int HW16 = HW / 16;
    float16 a1 = 0.0f, c1 = 0.0f, a2 = 0.0f, c2 = 0.0f;
    for (int i = l; i < HW16; i += ls) {
        float16 g = vload16(i, dy), xh = (vload16(i, x) - mu) * rs;
        float16 v = g - c1, t = a1 + v;
        c1 = (t - a1) - v;
        a1 = t;
        v = g * xh - c2;
        t = a2 + v;
        c2 = (t - a2) - v;
        a2 = t;
    }
    float t1 = 0.0f, t2 = 0.0f;
    for (int i = 16 * HW16 + l; i < HW; i += ls) {
        t1 += dy[i];
        t2 += dy[i] * ((x[i] - mu) * rs);
    }
    float sdy = fm_cl_tree_sum(s, groupnorm_lanes(a1) + t1);
    float sdyx = fm_cl_tree_sum(s, groupnorm_lanes(a2) + t2);
    if (l == 0) {
        ws[ws_off + p] = sdy;
        ws[ws_off + NC + p] = sdyx;
    }
}

/* 2. Items [0, C): the parameter gradients of channel c (accumulated over n in the
 * reference's order). Items [C, C + N*G): m1, m2 of group (n, g) into ws[2NC ...]. */
__kernel void groupnorm_bwd_reduce(__global float *dgamma, uint dgamma_off,
                                   __global float *dbeta, uint dbeta_off, __global float *ws,
                                   uint ws_off, __global const float *gamma, uint gamma_off,
                                   int N, int C, int HW, int G)
{
    int i = get_global_id(0), NC = N * C, NG = N * G;
    if (i >= C + NG)
        return;
    __global float *sdy = ws + ws_off, *sdyx = ws + ws_off + NC;
    if (i < C) {
        float b = dbeta[dbeta_off + i], g = dgamma[dgamma_off + i];
        for (int n = 0; n < N; n++) {
            b += sdy[n * C + i];
            g += sdyx[n * C + i];
        }
        dbeta[dbeta_off + i] = b;
        dgamma[dgamma_off + i] = g;
        return;
    }
    int ng = i - C, n = ng / G, gr = ng % G, Cg = C / G;
    float s1 = 0.0f, s2 = 0.0f;
    for (int cc = 0; cc < Cg; cc++) {
        int ch = gr * Cg + cc;
        float gm = gamma[gamma_off + ch];
        s1 += sdy[n * C + ch] * gm;
        s2 += sdyx[n * C + ch] * gm;
    }
    float M = (float)Cg * (float)HW;
    ws[ws_off + 2 * NC + ng] = s1 / M;
    ws[ws_off + 2 * NC + NG + ng] = s2 / M;
}

/* 3. din = rstd (dout gamma[c] - m1 - xhat m2), 2-D as groupnorm_apply. */
__kernel void groupnorm_bwd_din(__global float *din, uint din_off, __global const float *dout,
                                uint dout_off, __global const float *in, uint in_off,
                                __global const float *mean, uint mean_off,
                                __global const float *rstd, uint rstd_off,
                                __global const float *gamma, uint gamma_off,
                                __global const float *ws, uint ws_off, int C, int HW, int G,
                                int NC, int NG)
{
    int i = get_global_id(0), pl = get_global_id(1);
    if (i >= HW)
        return;
    int c = pl % C, ng = pl / C * G + c / (C / G);
    float mu = mean[mean_off + ng], rs = rstd[rstd_off + ng];
    float m1 = ws[ws_off + 2 * NC + ng], m2 = ws[ws_off + 2 * NC + NG + ng];
    size_t at = (size_t)pl * HW + i;
    float xh = (in[in_off + at] - mu) * rs;
    din[din_off + at] = rs * (dout[dout_off + at] * gamma[gamma_off + c] - m1 - xh * m2);
}
