/* SUM: out[0] = sum_i in_i;  backward: din_i = dout[0]. The same two passes serve
 * MSE's forward: with b, the terms are (in_i - b_i)^2 and the total is divided by n;
 * sum_final also closes REPARAM_FWD's KL, whose first pass is reparam.cl's.
 *
 * Forward in two passes: P work-groups each reduce a grid-strided share of in into
 * one partial (scratch), then one work-group reduces the P partials. Within a
 * work-item the running sum is compensated (Kahan); across work-items the order is
 * a tree in local memory. The work-group size is a power of two <= 128. */
#define SUM_WG_MAX 128

/* Tree reduction of s[0..get_local_size(0)) into s[0]; every item must call it. */
static float sum_tree(__local float *s, float v)
{
    int l = get_local_id(0);
    s[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = get_local_size(0) / 2; h > 0; h >>= 1) {
        if (l < h)
            s[l] += s[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return s[0];
}

/* part[group] = sum of term(i) for i = global id, global id + global size, ... < n,
 * term(i) = in[i], or (in[i] - b[i])^2 when has_b. */
__kernel void sum_partial(__global float *part, uint part_off, __global const float *in,
                          uint in_off, __global const float *b, uint b_off, int has_b, int n)
{
    __local float s[SUM_WG_MAX];
    float acc = 0.0f, comp = 0.0f;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        float x = in[in_off + i];
        if (has_b) {
            float d = x - b[b_off + i];
            x = d * d;
        }
        float y = x - comp;
        float t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    float r = sum_tree(s, acc);
    if (get_local_id(0) == 0)
        part[part_off + get_group_id(0)] = r;
}

/* out[0] = (sum of part[0..np)) / div; one work-group. */
__kernel void sum_final(__global float *out, uint out_off, __global const float *part,
                        uint part_off, int np, float div)
{
    __local float s[SUM_WG_MAX];
    float acc = 0.0f, comp = 0.0f;
    for (int i = get_local_id(0); i < np; i += get_local_size(0)) {
        float y = part[part_off + i] - comp;
        float t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    float r = sum_tree(s, acc);
    if (get_local_id(0) == 0)
        out[out_off] = r / div;
}

__kernel void sum_bwd(__global float *din, uint din_off, __global const float *dout,
                      uint dout_off, int n)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    din[din_off + i] = dout[dout_off];
}
