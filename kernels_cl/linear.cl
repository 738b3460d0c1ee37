/* Linear layer helpers; the products themselves are CLBlast GEMMs (see linear.c).
 *
 * linear_bias_rows: out[n,o] = b[o] for n < N, o < O (2-D: dim 0 = o, dim 1 = n), so
 *                   that the forward GEMM can add in w^T with beta = 1.
 * linear_db:        db[o] += sum_n dout[n,o] (one work-item per o; N is a batch). */
__kernel void linear_bias_rows(__global float *out, uint out_off, __global const float *b,
                               uint b_off, int O, int N)
{
    int o = get_global_id(0);
    int n = get_global_id(1);
    if (o >= O || n >= N)
        return;
    out[out_off + n * O + o] = b[b_off + o];
}

__kernel void linear_db(__global float *db, uint db_off, __global const float *dout,
                        uint dout_off, int O, int N)
{
    int o = get_global_id(0);
    if (o >= O)
        return;
    float acc = 0.0f;
    for (int n = 0; n < N; n++)
        acc += dout[dout_off + n * O + o];
    db[db_off + o] += acc;
}
