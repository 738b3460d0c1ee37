/* Host glue for linear.cl. Weights are [O,I] (PyTorch); every product is one
 * row-major CLBlast GEMM on the arena buffer:
 *
 *   forward   out[N,O] = in[N,I] w[O,I]^T (+ b)   m = N, n = O, k = I, transB;
 *             with a bias, out is first filled with b rows and the GEMM uses beta = 1
 *   backward  din[N,I] = dout[N,O] w[O,I]         m = N, n = I, k = O      (=)
 *             dw[O,I] += dout[N,O]^T in[N,I]      m = O, n = I, k = N, transA, beta 1
 *             db[O]   += column sums of dout      (linear_db) */
#include "cl.h"

static fm_cl_mat mat(const fm_tensor *t, size_t ld, int trans)
{
    fm_cl_mat m = {fm_cl_elem(t), ld, trans};
    return m;
}

/* t: out, in, w, b? */
fm_status fm_cl_linear_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0], *in = &c->t[1], *w = &c->t[2], *b = &c->t[3];
    size_t N = (size_t)in->shape[0], O = (size_t)w->shape[0], I = (size_t)w->shape[1];
    float beta = 0.0f;
    if (fm_tensor_present(b)) {
        cl_kernel k;
        cl_uint a = 0;
        FM_TRY(fm_cl_kernel(be, "linear_bias_rows", &k));
        FM_TRY(fm_cl_arg_tensor(be, k, &a, out));
        FM_TRY(fm_cl_arg_tensor(be, k, &a, b));
        FM_TRY(fm_cl_arg_int(be, k, &a, (int)O));
        FM_TRY(fm_cl_arg_int(be, k, &a, (int)N));
        FM_TRY(fm_cl_run2d(be, k, O, N, 0));
        beta = 1.0f;
    }
    return fm_cl_gemm(be, N, O, I, 1.0f, mat(in, I, 0), mat(w, I, 1), beta, mat(out, O, 0));
}

/* t: din?, dw, db?, dout, in, w */
fm_status fm_cl_linear_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *din = &c->t[0], *dw = &c->t[1], *db = &c->t[2];
    const fm_tensor *dout = &c->t[3], *in = &c->t[4], *w = &c->t[5];
    size_t N = (size_t)in->shape[0], O = (size_t)w->shape[0], I = (size_t)w->shape[1];
    if (fm_tensor_present(din))
        FM_TRY(fm_cl_gemm(be, N, I, O, 1.0f, mat(dout, O, 0), mat(w, I, 0), 0.0f, mat(din, I, 0)));
    FM_TRY(fm_cl_gemm(be, O, I, N, 1.0f, mat(dout, O, 1), mat(in, I, 0), 1.0f, mat(dw, I, 0)));
    if (fm_tensor_present(db)) {
        cl_kernel k;
        cl_uint a = 0;
        FM_TRY(fm_cl_kernel(be, "linear_db", &k));
        FM_TRY(fm_cl_arg_tensor(be, k, &a, db));
        FM_TRY(fm_cl_arg_tensor(be, k, &a, dout));
        FM_TRY(fm_cl_arg_int(be, k, &a, (int)O));
        FM_TRY(fm_cl_arg_int(be, k, &a, (int)N));
        FM_TRY(fm_cl_run1d(be, k, O));
    }
    return FM_OK;
}
