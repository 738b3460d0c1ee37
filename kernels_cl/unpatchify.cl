/* Tokens to image, p x p patches of C channels on a gh x gw grid (gw = W/p):
 *   img[b, c, i*p + pi, j*p + pj] = tok[b, i*gw + j, (pi*p + pj)*C + c]
 * Forward: one work-item per image element; backward: one per token element (the
 * inverse gather). Both write contiguously. */

/* Offset within one sample of the token element of image element (c, y, x). */
static int unpatchify_tok(int c, int y, int x, int C, int W, int p)
{
    return ((y / p) * (W / p) + x / p) * p * p * C + ((y % p) * p + x % p) * C + c;
}

__kernel void unpatchify_fwd(__global float *out, uint out_off, __global const float *in,
                             uint in_off, int n, int C, int H, int W, int p)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int per = C * H * W, b = i / per, e = i % per;
    int x = e % W, y = e / W % H, c = e / (W * H);
    out[out_off + i] = in[in_off + (size_t)b * per + unpatchify_tok(c, y, x, C, W, p)];
}

__kernel void unpatchify_bwd(__global float *din, uint din_off, __global const float *dout,
                             uint dout_off, int n, int C, int H, int W, int p)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int per = C * H * W, b = i / per, e = i % per, P = p * p * C;
    int t = e / P, q = e % P, c = q % C, pi = q / C / p, pj = q / C % p;
    int y = t / (W / p) * p + pi, x = t % (W / p) * p + pj;
    din[din_off + i] = dout[dout_off + (size_t)b * per + ((size_t)c * H + y) * W + x];
}
