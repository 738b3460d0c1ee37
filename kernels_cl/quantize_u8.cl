/* QUANTIZE_U8: out = round(clamp((in + 1) * 127.5, 0, 255)), halves away from zero
 * (OpenCL round(), like C roundf). fmax/fmin return the non-NaN argument, so a NaN
 * input becomes 0 (as in the reference); clamp() would leave NaN undefined. */
__kernel void quantize_u8_fwd(__global uchar *out, uint out_off, __global const float *in,
                              uint in_off, int n)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float y = (in[in_off + i] + 1.0f) * 127.5f;
    y = fmin(fmax(y, 0.0f), 255.0f);
    out[out_off + i] = convert_uchar(round(y));
}
