/* Attention between token sequences (kernels_ref/xattn.c): q and dout [N,Lq,C], k and v
 * [N,Lk,C], token-major; head h of d = C/heads reads columns h*d .. h*d+d-1; A (att,
 * ds) is [N,heads,Lq,Lk]. Five plain kernels, one work-item per element written or
 * per row (host: xattn.c):
 *
 *   xattn_qk           S[n,h,i,k] = scale sum_j a[n,i,h*d+j] b[n,k,h*d+j] + bias[n,k]
 *                      (flags bit 0 causal: -inf where k > i; bit 1 bias present;
 *                      bias -inf also masks). Scores (a q, b k) and dA (a dout, b v).
 *   xattn_softmax      per row: max-shifted softmax over the kept keys, masked
 *                      weights exactly 0 (a row with none kept: all 0, no NaN)
 *   xattn_softmax_bwd  per row: ds = att (ds - sum_k att ds), in place
 *   xattn_av           out[n,i,c] = scale sum_k A[n,h,i,k] x[n,k,c],  h = c / d
 *                      (out = att v; dq = ds k / sqrt(d))
 *   xattn_atx          out[n,k,c] = scale sum_i A[n,h,i,k] x[n,i,c]
 *                      (dv = att^T dout; dk = ds^T q / sqrt(d))
 * Each takes Lq, Lk, C, heads, flags, scale and n (the work-items) after its tensors. */

__kernel void xattn_qk(__global float *s, uint s_off, __global const float *a, uint a_off,
                       __global const float *b, uint b_off, __global const float *bias,
                       uint bias_off, int Lq, int Lk, int C, int heads, int flags, float scale,
                       int n)
{
    int g = get_global_id(0);
    if (g >= n)
        return;
    int k = g % Lk, i = g / Lk % Lq, nh = g / (Lk * Lq), h = nh % heads, b0 = nh / heads;
    int d = C / heads;
    float bk = (flags & 2) ? bias[bias_off + b0 * Lk + k] : 0.0f;
    if (((flags & 1) && k > i) || bk == -INFINITY) {
        s[s_off + g] = -INFINITY;
        return;
    }
    __global const float *ar = a + a_off + ((size_t)b0 * Lq + i) * C + h * d;
    __global const float *br = b + b_off + ((size_t)b0 * Lk + k) * C + h * d;
    float acc = 0.0f;
    for (int j = 0; j < d; j++)
        acc += ar[j] * br[j];
    s[s_off + g] = acc * scale + bk;
}

__kernel void xattn_softmax(__global float *att, uint att_off, int Lq, int Lk, int C, int heads,
                            int flags, float scale, int n)
{
    int g = get_global_id(0);
    if (g >= n)
        return;
    __global float *r = att + att_off + (size_t)g * Lk;
    float mx = -INFINITY;
    for (int k = 0; k < Lk; k++)
        mx = fmax(mx, r[k]);
    if (mx == -INFINITY) {
        for (int k = 0; k < Lk; k++)
            r[k] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int k = 0; k < Lk; k++) {
        float e = r[k] == -INFINITY ? 0.0f : exp(r[k] - mx);
        r[k] = e;
        sum += e;
    }
    for (int k = 0; k < Lk; k++)
        r[k] = r[k] / sum;
}

__kernel void xattn_softmax_bwd(__global float *ds, uint ds_off, __global const float *att,
                                uint att_off, int Lq, int Lk, int C, int heads, int flags,
                                float scale, int n)
{
    int g = get_global_id(0);
    if (g >= n)
        return;
    __global float *r = ds + ds_off + (size_t)g * Lk;
    __global const float *a = att + att_off + (size_t)g * Lk;
    float dot = 0.0f;
    for (int k = 0; k < Lk; k++)
        dot += a[k] * r[k];
    for (int k = 0; k < Lk; k++)
        r[k] = a[k] * (r[k] - dot);
}

__kernel void xattn_av(__global float *out, uint out_off, __global const float *A, uint A_off,
                       __global const float *x, uint x_off, int Lq, int Lk, int C, int heads,
                       int flags, float scale, int n)
{
    int g = get_global_id(0);
    if (g >= n)
        return;
    int c = g % C, i = g / C % Lq, b0 = g / (C * Lq), h = c / (C / heads);
    __global const float *ar = A + A_off + (((size_t)b0 * heads + h) * Lq + i) * Lk;
    __global const float *xc = x + x_off + (size_t)b0 * Lk * C + c;
    float acc = 0.0f;
    for (int k = 0; k < Lk; k++)
        acc += ar[k] * xc[(size_t)k * C];
    out[out_off + g] = acc * scale;
}

__kernel void xattn_atx(__global float *out, uint out_off, __global const float *A, uint A_off,
                        __global const float *x, uint x_off, int Lq, int Lk, int C, int heads,
                        int flags, float scale, int n)
{
    int g = get_global_id(0);
    if (g >= n)
        return;
    int c = g % C, k = g / C % Lk, b0 = g / (C * Lk), h = c / (C / heads);
    __global const float *ac = A + A_off + ((size_t)b0 * heads + h) * Lq * Lk + k;
    __global const float *xc = x + x_off + (size_t)b0 * Lq * C + c;
    float acc = 0.0f;
    for (int i = 0; i < Lq; i++)
        acc += ac[(size_t)i * Lk] * xc[(size_t)i * C];
    out[out_off + g] = acc * scale;
}
