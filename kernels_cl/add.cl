/* ADD: out = a + b (out may alias a or b);  backward: da = dout, db = dout (either
 * absent: flag 0). Elementwise, one work-item per element; a kernel rather than a
 * buffer copy so that a gradient may alias dout. */
__kernel void add_fwd(__global float *out, uint out_off, __global const float *a, uint a_off,
                      __global const float *b, uint b_off, int n)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    out[out_off + i] = a[a_off + i] + b[b_off + i];
}

__kernel void add_bwd(__global float *da, uint da_off, __global float *db, uint db_off,
                      __global const float *dout, uint dout_off, int n, int has_da, int has_db)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float g = dout[dout_off + i];
    if (has_da)
        da[da_off + i] = g;
    if (has_db)
        db[db_off + i] = g;
}
