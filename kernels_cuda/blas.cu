/* What every op of the CUDA backend calls: the checks that turn a CUDA or cuBLAS
 * error into the backend's message, and the row-major GEMM wrappers over cuBLAS. */
#include "cuda.h"

fm_status fm_cuda_check(fm_backend *be, cudaError_t err, const char *what)
{
    if (err == cudaSuccess)
        return FM_OK;
    return fm_fail(be, FM_ERR_DRIVER, "cuda: %s: %s: %s", what, cudaGetErrorName(err),
                   cudaGetErrorString(err));
}

fm_status fm_cuda_launched(fm_backend *be, const char *what)
{
    return fm_cuda_check(be, cudaGetLastError(), what);
}

fm_status fm_cuda_blas_check(fm_backend *be, cublasStatus_t st, const char *what)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return FM_OK;
    return fm_fail(be, FM_ERR_DRIVER, "cuda: cuBLAS %s: %s (%d)", what, cublasGetStatusString(st),
                   (int)st);
}

static cublasOperation_t op(int t) { return t ? CUBLAS_OP_T : CUBLAS_OP_N; }

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the
 * operands and the m/n roles; leading dimensions stay as given. */
fm_status fm_cuda_gemm(fm_backend *be, int m, int n, int k, float alpha, const float *a, int lda,
                       int ta, const float *b, int ldb, int tb, float beta, float *c, int ldc)
{
    return fm_cuda_blas_check(be,
                              cublasSgemm(fm_cuda_of(be)->blas, op(tb), op(ta), n, m, k, &alpha, b, ldb,
                                          a, lda, &beta, c, ldc),
                              "Sgemm");
}

fm_status fm_cuda_gemm_batched(fm_backend *be, int m, int n, int k, float alpha, const float *a,
                               int lda, long long sa, int ta, const float *b, int ldb, long long sb,
                               int tb, float beta, float *c, int ldc, long long sc, int batch)
{
    return fm_cuda_blas_check(be,
                              cublasSgemmStridedBatched(fm_cuda_of(be)->blas, op(tb), op(ta), n, m, k,
                                                        &alpha, b, ldb, sb, a, lda, sa, &beta, c, ldc,
                                                        sc, batch),
                              "SgemmStridedBatched");
}
