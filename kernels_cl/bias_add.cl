/* Per-sample per-channel bias over N*C planes of L = H*W floats:
 *   out[p, i] = in[p, i] + bias[p]            one work-item per element (may alias)
 *   dbias[p]  = sum_i dout[p, i]              one work-group per plane: compensated
 *                                             strided sums per work-item, then a tree
 * The work-group size is a power of two <= 128 (the local array). */
#define BIAS_ADD_WG_MAX 128

__kernel void bias_add_fwd(__global float *out, uint out_off, __global const float *in,
                           uint in_off, __global const float *bias, uint bias_off, int n, int L)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    out[out_off + i] = in[in_off + i] + bias[bias_off + i / L];
}

__kernel void bias_add_bwd(__global float *dbias, uint dbias_off, __global const float *dout,
                           uint dout_off, int L)
{
    __local float s[BIAS_ADD_WG_MAX];
    int p = get_group_id(0), l = get_local_id(0);
    __global const float *x = dout + dout_off + (size_t)p * L;
    float acc = 0.0f, comp = 0.0f;
    for (int i = l; i < L; i += get_local_size(0)) {
        float y = x[i] - comp;
        float t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    s[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = get_local_size(0) / 2; h > 0; h >>= 1) {
        if (l < h)
            s[l] += s[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0)
        dbias[dbias_off + p] = s[0];
}
