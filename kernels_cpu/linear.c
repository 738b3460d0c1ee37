/* Fully connected layer through SGEMM, weights [O,I] as in PyTorch:
 *
 *   out[N,O] = in[N,I] w^T + b          GEMM (no-trans, trans)
 *   din[N,I] = dout[N,O] w[O,I]         GEMM (no-trans, no-trans)
 *   dw[O,I] += dout^T in                GEMM (trans, no-trans), beta 1
 *   db[O]   += column sums of dout
 *
 * Each GEMM is split over the pool by rows or columns of its result (gemm.c). In the
 * model these are small (time MLP, per-block projections); LINEAR_FWD is also the
 * SGEMM the bench measures. */
#include "cpu.h"

/* t: out, in, w, b? */
fm_status fm_cpu_linear_fwd(fm_backend *be, const fm_call *c)
{
    fm_cpu *cpu = fm_cpu_of(be);
    const fm_tensor *in = &c->t[1], *w = &c->t[2], *b = &c->t[3];
    int64_t N = in->shape[0], I = w->shape[1], O = w->shape[0];
    float *out = fm_f32(&c->t[0]);
    fm_cpu_sgemm_par(cpu, 0, 1, N, O, I, 1.0f, fm_f32(in), I, fm_f32(w), I, 0.0f, out, O);
    if (fm_tensor_present(b)) {
        const float *bp = fm_f32(b);
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < O; o++)
                out[n * O + o] += bp[o];
    }
    return FM_OK;
}

/* t: din?, dw, db?, dout, in, w */
fm_status fm_cpu_linear_bwd(fm_backend *be, const fm_call *c)
{
    fm_cpu *cpu = fm_cpu_of(be);
    const fm_tensor *din = &c->t[0], *db = &c->t[2], *in = &c->t[4], *w = &c->t[5];
    int64_t N = in->shape[0], I = w->shape[1], O = w->shape[0];
    const float *dout = fm_f32(&c->t[3]);
    if (fm_tensor_present(din))
        fm_cpu_sgemm_par(cpu, 0, 0, N, I, O, 1.0f, dout, O, fm_f32(w), I, 0.0f, fm_f32(din), I);
    fm_cpu_sgemm_par(cpu, 1, 0, O, I, N, 1.0f, dout, O, fm_f32(in), I, 1.0f, fm_f32(&c->t[1]), I);
    if (fm_tensor_present(db)) {
        float *dbp = fm_f32(db);
        for (int64_t o = 0; o < O; o++) {
            double acc = 0.0;
            for (int64_t n = 0; n < N; n++)
                acc += dout[n * O + o];
            dbp[o] += (float)acc;
        }
    }
    return FM_OK;
}
