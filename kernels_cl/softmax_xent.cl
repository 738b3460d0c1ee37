/* Softmax cross-entropy (ops.h SOFTMAX_XENT_*, kernels_ref/softmax_xent.c):
 *
 *   m_n = max_k x[n,k],  lse_n = m_n + log sum_k exp(x[n,k] - m_n)
 *   probs[n,k] = exp(x[n,k] - lse_n),   loss = (1/N) sum_n (lse_n - x[n,labels[n]])
 *   dlogits[n,k] = scale (probs[n,k] - [k == labels[n]]),  scale = dloss / N (host, float)
 *
 * Forward: one work-item per row (K is a class count, ~10) writes its probs and its
 * loss term lse_n - x[n,label] into the scratch; then sum.cl's sum_final (one
 * work-group: Kahan within a work-item, a fixed tree across them) divides their sum
 * by N, so the loss does not depend on scheduling (kernels_cl/softmax_xent.c).
 * Labels are trusted (0 <= label < K): device backends clamp nothing. */
__kernel void softmax_xent_rows(__global float *probs, uint probs_off, __global float *term,
                                uint term_off, __global const float *logits, uint logits_off,
                                __global const int *labels, uint labels_off, int N, int K)
{
    int n = get_global_id(0);
    if (n >= N)
        return;
    uint row = logits_off + (uint)(n * K), prow = probs_off + (uint)(n * K);
    float m = logits[row];
    for (int k = 1; k < K; k++)
        m = logits[row + k] > m ? logits[row + k] : m;
    float s = 0.0f;
    for (int k = 0; k < K; k++)
        s += exp(logits[row + k] - m);
    float lse = m + log(s);
    for (int k = 0; k < K; k++)
        probs[prow + k] = exp(logits[row + k] - lse);
    term[term_off + n] = lse - logits[row + labels[labels_off + n]];
}

/* One work-item per element of dlogits[N,K]. */
__kernel void softmax_xent_bwd(__global float *dlogits, uint dlogits_off,
                               __global const float *probs, uint probs_off,
                               __global const int *labels, uint labels_off, int N, int K,
                               float scale)
{
    int i = get_global_id(0);
    if (i >= N * K)
        return;
    int n = i / K, k = i - n * K;
    float onehot = k == labels[labels_off + n] ? 1.0f : 0.0f;
    dlogits[dlogits_off + i] = scale * (probs[probs_off + i] - onehot);
}
