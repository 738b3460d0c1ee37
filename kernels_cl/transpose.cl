/* Batched transpose: out[b,c,r] = in[b,r,c], in[B,R,C]. One work-item per output
 * element (writes contiguous, reads strided by C). */
__kernel void transpose(__global float *out, uint out_off, __global const float *in, uint in_off,
                        int n, int R, int C)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int r = i % R, bc = i / R, c = bc % C, b = bc / C;
    out[out_off + i] = in[in_off + ((size_t)b * R + r) * C + c];
}
