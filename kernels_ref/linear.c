/* Fully connected layer, weights stored [O,I] as in PyTorch:
 *
 *   out[n,o] = b[o] + sum_i in[n,i] w[o,i]                   out = in w^T + b
 *   din[n,i] = sum_o dout[n,o] w[o,i]                        din = dout w      (=)
 *   dw[o,i] += sum_n dout[n,o] in[n,i]                       dw += dout^T in
 *   db[o]   += sum_n dout[n,o]
 *
 * Used on small matrices (the time-embedding MLP, per-block time projections), so
 * every reduction is a plain double-accumulated dot product. */
#include "ref.h"

/* out[N,O] from in[N,I], w[O,I], b[O] (NULL = no bias). */
static void linear_forward(float *out, const float *in, const float *w, const float *b, int64_t N,
                           int64_t I, int64_t O)
{
    for (int64_t n = 0; n < N; n++) {
        const float *x = in + n * I;
        for (int64_t o = 0; o < O; o++) {
            const float *wr = w + o * I;
            double acc = b ? b[o] : 0.0;
            for (int64_t i = 0; i < I; i++)
                acc += (double)x[i] * wr[i];
            out[n * O + o] = (float)acc;
        }
    }
}

/* din[N,I] = (NULL = skip), dw[O,I] +=, db[O] += (NULL = skip) from dout[N,O], in, w. */
static void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, int64_t N, int64_t I, int64_t O)
{
    if (din) {
        for (int64_t n = 0; n < N; n++) {
            for (int64_t i = 0; i < I; i++) {
                double acc = 0.0;
                for (int64_t o = 0; o < O; o++)
                    acc += (double)dout[n * O + o] * w[o * I + i];
                din[n * I + i] = (float)acc;
            }
        }
    }
    for (int64_t o = 0; o < O; o++) {
        for (int64_t i = 0; i < I; i++) {
            double acc = 0.0;
            for (int64_t n = 0; n < N; n++)
                acc += (double)dout[n * O + o] * in[n * I + i];
            dw[o * I + i] += (float)acc;
        }
    }
    if (db) {
        for (int64_t o = 0; o < O; o++) {
            double acc = 0.0;
            for (int64_t n = 0; n < N; n++)
                acc += dout[n * O + o];
            db[o] += (float)acc;
        }
    }
}

/* t: out, in, w, b? */
fm_status fm_ref_linear_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *in = &c->t[1], *w = &c->t[2], *b = &c->t[3];
    linear_forward(fm_f32(&c->t[0]), fm_f32(in), fm_f32(w), fm_tensor_present(b) ? fm_f32(b) : NULL,
                   in->shape[0], w->shape[1], w->shape[0]);
    return FM_OK;
}

/* t: din?, dw, db?, dout, in, w */
fm_status fm_ref_linear_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *din = &c->t[0], *db = &c->t[2], *in = &c->t[4], *w = &c->t[5];
    linear_backward(fm_tensor_present(din) ? fm_f32(din) : NULL, fm_f32(&c->t[1]),
                    fm_tensor_present(db) ? fm_f32(db) : NULL, fm_f32(&c->t[3]), fm_f32(in),
                    fm_f32(w), in->shape[0], w->shape[1], w->shape[0]);
    return FM_OK;
}
