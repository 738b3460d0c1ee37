/* Embedding: out[n, j] = table[idx[n], j] (one work-item per output);
 * backward, scatter-add without atomics: one work-item per table entry (r, j) adds
 * dout[n, j] for each of the N positions with idx[n] == r, in order n = 0..N-1 (the
 * reference's order; N is the batch, small):
 *   dtable[r, j] += sum_{n : idx[n] = r} dout[n, j]
 * Indices are trusted (0 <= idx < R); an out-of-range row is never read or written
 * by the backward, and the forward reads whatever the caller points it at. */
__kernel void embed_fwd(__global float *out, uint out_off, __global const float *table,
                        uint table_off, __global const int *idx, uint idx_off, int N, int D)
{
    int i = get_global_id(0);
    if (i >= N * D)
        return;
    int n = i / D, j = i % D;
    out[out_off + i] = table[table_off + idx[idx_off + n] * D + j];
}

__kernel void embed_bwd(__global float *dtable, uint dtable_off, __global const float *dout,
                        uint dout_off, __global const int *idx, uint idx_off, int R, int N,
                        int D)
{
    int i = get_global_id(0);
    if (i >= R * D)
        return;
    int r = i / D, j = i % D;
    float acc = dtable[dtable_off + i];
    int hit = 0;
    for (int n = 0; n < N; n++)
        if (idx[idx_off + n] == r) {
            acc += dout[dout_off + n * D + j];
            hit = 1;
        }
    if (hit)
        dtable[dtable_off + i] = acc;
}
