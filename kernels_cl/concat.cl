/* Channel concatenation: per sample, out holds the a block (asz = Ca*H*W floats) then
 * the b block (bsz = Cb*H*W). One work-item per element of out / dout:
 *   forward   out[s, r] = r < asz ? a[s, r] : b[s, r - asz]
 *   backward  the split into da / db (either may be absent: has_* flags). */
__kernel void concat_fwd(__global float *out, uint out_off, __global const float *a, uint a_off,
                         __global const float *b, uint b_off, int n, int asz, int bsz)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int s = i / (asz + bsz), r = i % (asz + bsz);
    out[out_off + i] = r < asz ? a[a_off + s * asz + r] : b[b_off + s * bsz + (r - asz)];
}

__kernel void concat_bwd(__global float *da, uint da_off, __global float *db, uint db_off,
                         __global const float *dout, uint dout_off, int n, int asz, int bsz,
                         int has_da, int has_db)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int s = i / (asz + bsz), r = i % (asz + bsz);
    float g = dout[dout_off + i];
    if (r < asz) {
        if (has_da)
            da[da_off + s * asz + r] = g;
    } else if (has_db) {
        db[db_off + s * bsz + (r - asz)] = g;
    }
}
