/* SiLU: out = x sigmoid(x);  backward: din = dout s (1 + x (1 - s)), s = sigmoid(x).
 * Elementwise, one work-item per element; out may alias in. */

/* SiLU of one value, x / (1 + e^-x): also GROUPNORM_FWD's SiLU post-op (groupnorm.cl,
 * which declares it; the .cl files form one program). */
float fm_cl_silu(float x) { return x / (1.0f + exp(-x)); }
__kernel void silu_fwd(__global float *out, uint out_off, __global const float *in, uint in_off, int n)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    out[out_off + i] = fm_cl_silu(in[in_off + i]);
}

__kernel void silu_bwd(__global float *din, uint din_off, __global const float *dout, uint dout_off,
                       __global const float *in, uint in_off, int n)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float x = in[in_off + i];
    float s = 1.0f / (1.0f + exp(-x));
    din[din_off + i] = dout[dout_off + i] * s * (1.0f + x * (1.0f - s));
}
