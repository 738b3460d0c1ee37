/* conv2d as im2col + CLBlast GEMM (see conv2d.c). Work is done on a chunk of
 * `cols` output columns g in [g0, g0 + cols) of the flattened (n, y, x) space,
 * g = n Ho Wo + y Wo + x, so that a chunk may hold several images or part of one.
 * Matrices in scratch are row-major with `cols` columns:
 *
 *   col[r, g - g0]  r = (c K + ky) K + kx:  in[n, c, y s - p + ky, x s - p + kx] (0 outside)
 *   tmp[o, g - g0]  = (w col)[o, g - g0]    (forward GEMM result, Co rows)
 *   dT[o, g - g0]   = dout[n, o, y, x]      (backward: dout of the chunk, channel-major)
 *
 * Launches run dim 0 along the columns (contiguous in scratch), so neighbouring work-
 * items touch neighbouring addresses; each work-item loops over rows (taps, channels). */

/* One work-item per (column j, input channel c) writes the K*K rows of c: the index
 * arithmetic of the column (n, y, x from g: two divisions) is done once for K*K
 * stores instead of per element (on a CPU device such as PoCL, integer division does
 * not vectorise and it dominated the kernel), and work-items along j still store to
 * consecutive addresses of each row. */
__kernel void conv2d_im2col(__global float *col, uint col_off, __global const float *in,
                            uint in_off, int Ci, int H, int W, int K, int s, int p, int Ho,
                            int Wo, int g0, int cols)
{
    int j = get_global_id(0);
    int c = get_global_id(1);
    if (j >= cols || c >= Ci)
        return;
    int g = g0 + j, hw = Ho * Wo;
    int n = g / hw, q = g - n * hw;
    int y = q / Wo, x = q - y * Wo;
    __global const float *plane = in + in_off + (size_t)(n * Ci + c) * H * W;
    __global float *dst = col + col_off + (size_t)c * K * K * cols + j;
    for (int ky = 0; ky < K; ky++) {
        int iy = y * s - p + ky;
        int row_ok = iy >= 0 && iy < H;
        for (int kx = 0; kx < K; kx++) {
            int ix = x * s - p + kx;
            *dst = row_ok && ix >= 0 && ix < W ? plane[iy * W + ix] : 0.0f;
            dst += cols;
        }
    }
}

/* out[n, o, y, x] = tmp[o, g - g0] (+ b[o]) (+ bn[n, o]) (+ res[n, o, y, x]): one
 * work-item per column j, looping over the Co rows (the column's n, q computed once). */
__kernel void conv2d_store_out(__global float *out, uint out_off, __global const float *tmp,
                               uint tmp_off, __global const float *b, uint b_off, int has_b,
                               __global const float *bn, uint bn_off, int has_bn,
                               __global const float *res, uint res_off, int has_res, int Co,
                               int hw, int g0, int cols)
{
    int j = get_global_id(0);
    if (j >= cols)
        return;
    int g = g0 + j, n = g / hw, q = g - n * hw;
    size_t at = (size_t)n * Co * hw + q;
    __global float *dst = out + out_off + at;
    __global const float *src = tmp + tmp_off + j;
    for (int o = 0; o < Co; o++) {
        float v = src[(size_t)o * cols];
        if (has_b)
            v += b[b_off + o];
        if (has_bn)
            v += bn[bn_off + (size_t)n * Co + o];
        if (has_res)
            v += res[res_off + at + (size_t)o * hw];
        dst[(size_t)o * hw] = v;
    }
}

/* dT[o, g - g0] = dout[n, o, y, x]: one work-item per column j, as conv2d_store_out. */
__kernel void conv2d_load_dout(__global float *dT, uint dT_off, __global const float *dout,
                               uint dout_off, int Co, int hw, int g0, int cols)
{
    int j = get_global_id(0);
    if (j >= cols)
        return;
    int g = g0 + j, n = g / hw, q = g - n * hw;
    __global const float *src = dout + dout_off + (size_t)n * Co * hw + q;
    __global float *dst = dT + dT_off + j;
    for (int o = 0; o < Co; o++)
        dst[(size_t)o * cols] = src[(size_t)o * hw];
}

/* col2im as a gather, over the pixels of images n0 .. n0 + nimg - 1:
 *   din[n, c, iy, ix] (+)= sum over taps (ky, kx) with iy = y s - p + ky, ix = x s - p + kx,
 *                          0 <= y < Ho, 0 <= x < Wo and g0 <= g < g0 + cols, of dcol[r, g - g0]
 * acc = 0 writes (the chunk holds every tap of these images), acc = 1 adds (a chunk
 * that splits an image; din was zeroed first). */
__kernel void conv2d_col2im(__global float *din, uint din_off, __global const float *dcol,
                            uint dcol_off, int Ci, int H, int W, int K, int s, int p, int Ho,
                            int Wo, int g0, int cols, int n0, int nimg, int acc)
{
    int i = get_global_id(0);
    if (i >= nimg * Ci * H * W)
        return;
    int ix = i % W, t = i / W;
    int iy = t % H;
    t /= H;
    int c = t % Ci, n = n0 + t / Ci;
    int hw = Ho * Wo;
    float sum = 0.0f;
    for (int ky = 0; ky < K; ky++) {
        int ty = iy + p - ky;
        if (ty < 0 || ty % s != 0 || ty / s >= Ho)
            continue;
        int y = ty / s;
        for (int kx = 0; kx < K; kx++) {
            int tx = ix + p - kx;
            if (tx < 0 || tx % s != 0 || tx / s >= Wo)
                continue;
            int g = n * hw + y * Wo + tx / s - g0;
            if (g < 0 || g >= cols)
                continue;
            sum += dcol[dcol_off + ((c * K + ky) * K + kx) * cols + g];
        }
    }
    uint at = din_off + (uint)(n0 * Ci * H * W + i);
    if (acc)
        din[at] += sum;
    else
        din[at] = sum;
}

/* db[o] += sum_{n, q < hw} dout[n, o, q]: one work-group per o (dim 1), its work-items
 * striding over the N hw values, then a tree reduction in local memory. */
#define CONV2D_DB_WG 64
__kernel void conv2d_db(__global float *db, uint db_off, __global const float *dout,
                        uint dout_off, int N, int Co, int hw)
{
    __local float part[CONV2D_DB_WG];
    int lid = get_local_id(0), lsz = get_local_size(0);
    int o = get_global_id(1);
    float acc = 0.0f;
    for (int e = lid; e < N * hw; e += lsz) {
        int n = e / hw, q = e - n * hw;
        acc += dout[dout_off + (n * Co + o) * hw + q];
    }
    part[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = 1; h < lsz; h <<= 1) {
        if (lid % (2 * h) == 0 && lid + h < lsz)
            part[lid] += part[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        db[db_off + o] += part[0];
}
