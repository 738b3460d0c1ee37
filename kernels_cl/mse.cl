/* MSE: loss = (1/n) sum_i (a_i - b_i)^2;  da_i = 2 (a_i - b_i) dloss / n, db_i = -da_i.
 *
 * Forward in two passes as in sum.cl: P work-groups write partial sums of squares to
 * scratch (compensated per work-item, tree across it), one work-group adds the P
 * partials and divides by n. Work-group size: a power of two <= 128. */
#define MSE_WG_MAX 128

static float mse_tree(__local float *s, float v)
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

__kernel void mse_partial(__global float *part, uint part_off, __global const float *a,
                          uint a_off, __global const float *b, uint b_off, int n)
{
    __local float s[MSE_WG_MAX];
    float acc = 0.0f, comp = 0.0f;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        float d = a[a_off + i] - b[b_off + i];
        float y = d * d - comp;
        float t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    float r = mse_tree(s, acc);
    if (get_local_id(0) == 0)
        part[part_off + get_group_id(0)] = r;
}

/* loss[0] = (sum of part[0..np)) / n; one work-group. */
__kernel void mse_final(__global float *loss, uint loss_off, __global const float *part,
                        uint part_off, int np, float n)
{
    __local float s[MSE_WG_MAX];
    float acc = 0.0f, comp = 0.0f;
    for (int i = get_local_id(0); i < np; i += get_local_size(0)) {
        float y = part[part_off + i] - comp;
        float t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    float r = mse_tree(s, acc);
    if (get_local_id(0) == 0)
        loss[loss_off] = r / n;
}

/* g = scale (a - b), scale = 2 dloss / n (host, in float as the reference);
 * da = g and db = -g where present (has_da, has_db). */
__kernel void mse_bwd(__global float *da, uint da_off, __global float *db, uint db_off,
                      __global const float *a, uint a_off, __global const float *b, uint b_off,
                      int n, float scale, int has_da, int has_db)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float g = scale * (a[a_off + i] - b[b_off + i]);
    if (has_da)
        da[da_off + i] = g;
    if (has_db)
        db[db_off + i] = -g;
}
