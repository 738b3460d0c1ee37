/* MSE: loss = (1/n) sum_i (a_i - b_i)^2;  da_i = 2 (a_i - b_i) dloss / n, db_i = -da_i.
 *
 * The forward is sum.cl's two-pass reduction over the squared differences, divided
 * by n (kernels_cl/sum.c). */
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
