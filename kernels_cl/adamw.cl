/* AdamW (PyTorch semantics), per element with gradient g:
 *   p = p - lr wd p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p = p - lr (m / bc1) / (sqrt(v / bc2) + eps)
 * bc1 = 1 - b1^step, bc2 = 1 - b2^step come from the host. In place. */
__kernel void adamw_update(__global float *p, uint p_off, __global float *m, uint m_off,
                           __global float *v, uint v_off, __global const float *g, uint g_off,
                           int n, float lr, float b1, float b2, float eps, float wd, float bc1,
                           float bc2)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float gi = g[g_off + i], pi = p[p_off + i];
    pi = pi - lr * wd * pi;
    float mi = b1 * m[m_off + i] + (1.0f - b1) * gi;
    float vi = b2 * v[v_off + i] + (1.0f - b2) * gi * gi;
    float mhat = mi / bc1, vhat = vi / bc2;
    p[p_off + i] = pi - lr * mhat / (sqrt(vhat) + eps);
    m[m_off + i] = mi;
    v[v_off + i] = vi;
}
