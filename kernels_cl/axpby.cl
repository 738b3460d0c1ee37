/* AXPBY: out = a x + b y (out may alias x or y);  backward: dx = a dout, dy = b dout
 * (either absent: flag 0). Elementwise, one work-item per element. */
__kernel void axpby_fwd(__global float *out, uint out_off, __global const float *x, uint x_off,
                        __global const float *y, uint y_off, int n, float a, float b)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    out[out_off + i] = a * x[x_off + i] + b * y[y_off + i];
}

__kernel void axpby_bwd(__global float *dx, uint dx_off, __global float *dy, uint dy_off,
                        __global const float *dout, uint dout_off, int n, float a, float b,
                        int has_dx, int has_dy)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float g = dout[dout_off + i];
    if (has_dx)
        dx[dx_off + i] = a * g;
    if (has_dy)
        dy[dy_off + i] = b * g;
}
