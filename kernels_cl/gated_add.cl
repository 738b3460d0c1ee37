/* Gated residual over tokens [B,T,D], gate g[B,D] broadcast over the T tokens:
 *   out = x + g[b,j] h                  one work-item per element (out may alias x)
 *   dh  = g[b,j] dout,  dg[b,j] = sum_t h dout
 * The backward runs one work-item per column (b, j), looping over the T tokens:
 * neighbouring items read neighbouring columns, and dg needs no reduction tree. */
__kernel void gated_add_fwd(__global float *out, uint out_off, __global const float *x,
                            uint x_off, __global const float *g, uint g_off,
                            __global const float *h, uint h_off, int n, int T, int D)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int b = i / (T * D), j = i % D;
    out[out_off + i] = x[x_off + i] + g[g_off + b * D + j] * h[h_off + i];
}

__kernel void gated_add_bwd(__global float *dh, uint dh_off, __global float *dg, uint dg_off,
                            __global const float *dout, uint dout_off, __global const float *g,
                            uint g_off, __global const float *h, uint h_off, int B, int T, int D,
                            int has_dh, int has_dg)
{
    int col = get_global_id(0);
    if (col >= B * D)
        return;
    int b = col / D, j = col % D;
    float gv = g[g_off + col], acc = 0.0f, comp = 0.0f;
    for (int t = 0; t < T; t++) {
        size_t e = ((size_t)b * T + t) * D + j;
        float dy = dout[dout_off + e];
        if (has_dh)
            dh[dh_off + e] = gv * dy;
        float y = h[h_off + e] * dy - comp, s = acc + y;
        comp = (s - acc) - y;
        acc = s;
    }
    if (has_dg)
        dg[dg_off + col] = acc;
}
