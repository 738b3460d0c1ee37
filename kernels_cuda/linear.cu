/* Fully connected layer, weights [O,I] (PyTorch); every product is one row-major cuBLAS
 * GEMM on the tensors themselves (twin of kernels_cl/linear.{c,cl}):
 *
 *   forward   out[N,O] = in[N,I] w[O,I]^T (+ b)   m = N, n = O, k = I, lda = I,
 *             ldb = I (B transposed), ldc = O; with a bias, out is first filled with
 *             b rows (linear_bias_rows) and the GEMM uses beta = 1
 *   backward  din[N,I] = dout[N,O] w[O,I]         m = N, n = I, k = O, lda = O, ldb = I,
 *             ldc = I                                                      (=)
 *             dw[O,I] += dout[N,O]^T in[N,I]      m = O, n = I, k = N, lda = O
 *             (A transposed), ldb = I, ldc = I, beta = 1                   (+=)
 *             db[O]   += column sums of dout      (linear_db: one thread per o, serial
 *             over the batch n: coalesced across o, deterministic) */
#include "cuda.h"

/* out[n, o] = b[o] for e = n O + o < N O. */
static __global__ void linear_bias_rows_kernel(float *out, const float *b, long long O,
                                               long long total)
{
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total)
        return;
    out[e] = b[e % O];
}

/* db[o] += sum_n dout[n, o], o < O. */
static __global__ void linear_db_kernel(float *db, const float *dout, long long O, long long N)
{
    long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= O)
        return;
    float acc = 0.0f;
    for (long long n = 0; n < N; n++)
        acc += dout[n * O + o];
    db[o] += acc;
}

/* t: out, in, w, b? */
extern "C" fm_status fm_cuda_linear_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0], *in = &c->t[1], *w = &c->t[2], *b = &c->t[3];
    int N = (int)in->shape[0], O = (int)w->shape[0], I = (int)w->shape[1];
    float beta = 0.0f;
    if (fm_tensor_present(b)) {
        long long total = (long long)N * O;
        FM_CUDA_LAUNCH(linear_bias_rows_kernel, fm_cuda_blocks(total), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(fm_cuda_f32(out), fm_cuda_f32(b), O,
                                                            total);
        FM_TRY(fm_cuda_launched(be, "linear_bias_rows"));
        beta = 1.0f;
    }
    /* out[N,O] (+)= in[N,I] w[O,I]^T */
    return fm_cuda_gemm(be, N, O, I, 1.0f, fm_cuda_f32(in), I, 0, fm_cuda_f32(w), I, 1, beta,
                        fm_cuda_f32(out), O);
}

/* t: din?, dw, db?, dout, in, w */
extern "C" fm_status fm_cuda_linear_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *din = &c->t[0], *dw = &c->t[1], *db = &c->t[2];
    const fm_tensor *dout = &c->t[3], *in = &c->t[4], *w = &c->t[5];
    int N = (int)in->shape[0], O = (int)w->shape[0], I = (int)w->shape[1];
    const float *pg = fm_cuda_f32(dout);
    /* din[N,I] = dout[N,O] w[O,I] */
    if (fm_tensor_present(din))
        FM_TRY(fm_cuda_gemm(be, N, I, O, 1.0f, pg, O, 0, fm_cuda_f32(w), I, 0, 0.0f, fm_cuda_f32(din),
                         I));
    /* dw[O,I] += dout[N,O]^T in[N,I] */
    FM_TRY(fm_cuda_gemm(be, O, I, N, 1.0f, pg, O, 1, fm_cuda_f32(in), I, 0, 1.0f, fm_cuda_f32(dw), I));
    if (fm_tensor_present(db)) {
        FM_CUDA_LAUNCH(linear_db_kernel, fm_cuda_blocks(O), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
            fm_cuda_f32(db), pg, O, N);
        FM_TRY(fm_cuda_launched(be, "linear_db"));
    }
    return FM_OK;
}
