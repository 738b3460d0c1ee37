/* Attention helpers; the products are CLBlast GEMMs (see attention.c).
 *
 * attention_softmax:  att[r, :] = softmax(att[r, :]) in place, for the `rows` rows of
 *                     length L starting at att_off (one work-item per row, max-shifted).
 * attention_softmax_bwd: for the rows r < rows of a chunk of images n0 .. of head h,
 *                     n = n0 + r / L, i = r % L, A = att[n, h, i, :] and the row r of buf
 *                     holding dA on entry:
 *                       buf[r, k] = A[k] (dA[r, k] - sum_k' A[k'] dA[r, k'])   (dS, in place) */
__kernel void attention_softmax(__global float *att, uint att_off, int rows, int L)
{
    int r = get_global_id(0);
    if (r >= rows)
        return;
    __global float *a = att + att_off + (size_t)r * L;
    float mx = a[0];
    for (int k = 1; k < L; k++)
        mx = fmax(mx, a[k]);
    float sum = 0.0f;
    for (int k = 0; k < L; k++) {
        float e = exp(a[k] - mx);
        a[k] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (int k = 0; k < L; k++)
        a[k] *= inv;
}

__kernel void attention_softmax_bwd(__global float *buf, uint buf_off, __global const float *att,
                                    uint att_off, int rows, int L, int heads, int h, int n0)
{
    int r = get_global_id(0);
    if (r >= rows)
        return;
    int n = n0 + r / L, i = r % L;
    __global const float *a = att + att_off + ((size_t)(n * heads + h) * L + i) * L;
    __global float *g = buf + buf_off + (size_t)r * L;
    float dot = 0.0f;
    for (int k = 0; k < L; k++)
        dot += a[k] * g[k];
    for (int k = 0; k < L; k++)
        g[k] = a[k] * (g[k] - dot);
}
