/* Sinusoidal time embedding, nh = D/2 (not `half`: that is an OpenCL type name):
 *   f_i = exp(-ln(10000) i / (nh - 1)) = q^i,  q = 10000^(-1/(nh-1)),  a_i = 1000 t f_i
 *   out[n] = [sin a_0 .. sin a_{nh-1}, cos a_0 .. cos a_{nh-1}]
 *   dt[n]  = sum_i 1000 f_i (cos a_i dout[n,i] - sin a_i dout[n,nh+i])
 *
 * a_0 = 1000 t reaches 1000 rad, where one float ulp is 6e-5 rad, so the angle is
 * carried as an unevaluated sum hi + lo of two floats ("double-float"): q comes from
 * the host in double, split into (q_hi, q_lo); f_i = q^i by binary powering in
 * double-float; 1000 t is exact as a two-product; then
 *   sin(hi + lo) = sin hi + lo cos hi,  cos(hi + lo) = cos hi - lo sin hi
 * (|lo| <= ulp(hi)/2, so the dropped lo^2 terms are < 1e-9). fma is exact-rounded in
 * OpenCL C, which makes the error-free products exact. */
#define TIMEEMB_WG_MAX 128

/* (rh, rl) = (ah + al)(bh + bl) in double-float. */
static float2 timeemb_df_mul(float2 a, float2 b)
{
    float p = a.x * b.x;
    float e = fma(a.x, b.x, -p);
    e = fma(a.x, b.y, fma(a.y, b.x, e));
    float h = p + e;
    return (float2)(h, e - (h - p));
}

/* f_i = q^i as double-float (binary powering). */
static float2 timeemb_freq(float2 q, int i)
{
    float2 f = (float2)(1.0f, 0.0f), b = q;
    for (int e = i; e > 0; e >>= 1) {
        if (e & 1)
            f = timeemb_df_mul(f, b);
        b = timeemb_df_mul(b, b);
    }
    return f;
}

/* a = (1000 t) f as double-float; 1000 t is exact as hi + lo. */
static float2 timeemb_angle(float t, float2 f)
{
    float th = 1000.0f * t;
    return timeemb_df_mul((float2)(th, fma(1000.0f, t, -th)), f);
}

/* One work-item per (n, i < nh): writes out[n, i] and out[n, nh + i]. */
__kernel void timeemb_fwd(__global float *out, uint out_off, __global const float *t,
                          uint t_off, int N, int nh, float q_hi, float q_lo)
{
    int k = get_global_id(0);
    if (k >= N * nh)
        return;
    int n = k / nh, i = k % nh;
    float2 a = timeemb_angle(t[t_off + n], timeemb_freq((float2)(q_hi, q_lo), i));
    float s = sin(a.x), c = cos(a.x);
    out[out_off + n * 2 * nh + i] = s + a.y * c;
    out[out_off + n * 2 * nh + nh + i] = c - a.y * s;
}

/* One work-group per sample n, tree sum over i. */
__kernel void timeemb_bwd(__global float *dt, uint dt_off, __global const float *dout,
                          uint dout_off, __global const float *t, uint t_off, int nh,
                          float q_hi, float q_lo)
{
    __local float s[TIMEEMB_WG_MAX];
    int n = get_group_id(0), l = get_local_id(0);
    float tn = t[t_off + n];
    __global const float *g = dout + dout_off + (size_t)n * 2 * nh;
    float acc = 0.0f;
    for (int i = l; i < nh; i += get_local_size(0)) {
        float2 f = timeemb_freq((float2)(q_hi, q_lo), i), a = timeemb_angle(tn, f);
        float sh = sin(a.x), ch = cos(a.x);
        float sa = sh + a.y * ch, ca = ch - a.y * sh;
        acc += 1000.0f * f.x * (ca * g[i] - sa * g[nh + i]);
    }
    s[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = get_local_size(0) / 2; h > 0; h >>= 1) {
        if (l < h)
            s[l] += s[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0)
        dt[dt_off + n] = s[0];
}
