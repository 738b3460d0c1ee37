/* Nearest 2x upsampling over p = N*C planes of h x w:
 *   out[p, y, x] = in[p, y/2, x/2]                          one work-item per output
 *   din[p, y, x] = (d[2y,2x] + d[2y,2x+1]) + (d[2y+1,2x] + d[2y+1,2x+1])   per input
 * (the reference's summation order). */
__kernel void upsample2x_fwd(__global float *out, uint out_off, __global const float *in,
                             uint in_off, int n, int h, int w)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int wo = 2 * w, x = i % wo, r = i / wo; /* r = p * 2h + y */
    int y = r % (2 * h), p = r / (2 * h);
    out[out_off + i] = in[in_off + (p * h + y / 2) * w + x / 2];
}

__kernel void upsample2x_bwd(__global float *din, uint din_off, __global const float *dout,
                             uint dout_off, int n, int h, int w)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int x = i % w, r = i / w; /* r = p * h + y; output row 2y of plane p is 2r */
    int wo = 2 * w;
    __global const float *b = dout + dout_off + (2 * r) * wo + 2 * x;
    din[din_off + i] = (b[0] + b[1]) + (b[wo] + b[wo + 1]);
}
