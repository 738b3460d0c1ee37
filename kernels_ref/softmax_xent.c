/* Softmax cross-entropy, the classifier loss (logits[N,K], labels[N] i32):
 *
 *   m_n = max_k logits[n,k],   lse_n = m_n + log sum_k exp(logits[n,k] - m_n)
 *   probs[n,k] = exp(logits[n,k] - lse_n)
 *   loss = (1/N) sum_n (lse_n - logits[n,labels[n]])     = -mean_n log probs[n,labels[n]]
 *   dlogits[n,k] = dloss (probs[n,k] - [k == labels[n]]) / N     (f0 dloss)
 *
 * Subtracting the row maximum keeps every exp in (0, 1], so no logit overflows it;
 * the loss uses lse rather than log(probs), which would be -inf for a probability
 * that underflows. Row sums and the loss run in double (the oracle's margin over a
 * float device kernel); probs are rounded to float once. As MSE's, dloss is a scalar
 * argument: the loss is always the graph's root. */
#include "ref.h"

/* log sum_k exp(x[k]) of one row, stably, in double. */
static double row_lse(const float *x, int64_t K)
{
    float m = x[0];
    for (int64_t k = 1; k < K; k++)
        m = x[k] > m ? x[k] : m;
    double s = 0.0;
    for (int64_t k = 0; k < K; k++)
        s += exp((double)x[k] - (double)m);
    return (double)m + log(s);
}

static void xent_forward(float *loss, float *probs, const float *logits, const int32_t *labels,
                         int64_t N, int64_t K)
{
    double acc = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *x = logits + n * K;
        double lse = row_lse(x, K);
        for (int64_t k = 0; k < K; k++)
            probs[n * K + k] = (float)exp((double)x[k] - lse);
        acc += lse - (double)x[labels[n]];
    }
    loss[0] = (float)(acc / (double)N);
}

/* scale = dloss / N, rounded to float as the device backends do on their host. */
static void xent_backward(float *dlogits, const float *probs, const int32_t *labels, float scale,
                          int64_t N, int64_t K)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) {
            float onehot = k == labels[n] ? 1.0f : 0.0f;
            dlogits[n * K + k] = scale * (probs[n * K + k] - onehot);
        }
}

/* Labels are data, not shapes, so fm_op_check cannot see them; the oracle refuses
 * one outside 0..K-1 rather than reading outside its row. */
static fm_status check_labels(fm_backend *be, const fm_tensor *labels, int64_t K)
{
    const int32_t *v = fm_i32(labels);
    for (int64_t n = 0; n < fm_tensor_numel(labels); n++)
        if (v[n] < 0 || v[n] >= K)
            return fm_fail(be, FM_ERR_ARG, "softmax_xent: label %d at row %lld outside 0..%lld",
                           (int)v[n], (long long)n, (long long)K - 1);
    return FM_OK;
}

/* t: loss[1], probs[N,K], logits[N,K], labels[N] */
fm_status fm_ref_softmax_xent_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *logits = &c->t[2];
    int64_t N = logits->shape[0], K = logits->shape[1];
    FM_TRY(check_labels(be, &c->t[3], K));
    xent_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(logits), fm_i32(&c->t[3]), N, K);
    return FM_OK;
}

/* t: dlogits[N,K], probs[N,K], labels[N]   f0 dloss */
fm_status fm_ref_softmax_xent_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *probs = &c->t[1];
    int64_t N = probs->shape[0], K = probs->shape[1];
    FM_TRY(check_labels(be, &c->t[2], K));
    xent_backward(fm_f32(&c->t[0]), fm_f32(probs), fm_i32(&c->t[2]), c->f[0] / (float)N, N, K);
    return FM_OK;
}
