/* cuda-emu: the cuBLAS calls of kernels_cuda/, on the host (see cuda_runtime.h).
 * Column-major, as cuBLAS: C = alpha op(A) op(B) + beta C with op(A) m x k, op(B)
 * k x n, C m x n, leading dimensions in elements, strided batches. The argument
 * checks are cuBLAS's (CUBLAS_STATUS_INVALID_VALUE for a negative size, a leading
 * dimension below the rows it must hold, a batch below 0; NOT_INITIALIZED for a NULL
 * handle); the arithmetic is a float32 GEMM (OpenBLAS when the build has it, else
 * loops); beta = 0 never reads C, as cuBLAS. The workspace must lie inside a device
 * allocation; TF32 math mode is accepted and computed in float32. */
#ifndef FMRT_CUDA_EMU_CUBLAS_H
#define FMRT_CUDA_EMU_CUBLAS_H

#include "cuda_runtime.h"

typedef struct fm_emu_blas *cublasHandle_t;
typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;
typedef enum {
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TENSOR_OP_MATH = 1,
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3
} cublasMath_t;

cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *ws, size_t bytes);
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode);
const char *cublasGetStatusString(cublasStatus_t s);
cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *a, int lda,
                           const float *b, int ldb, const float *beta, float *c, int ldc);
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float *alpha, const float *a, int lda,
                                         long long sa, const float *b, int ldb, long long sb,
                                         const float *beta, float *c, int ldc, long long sc,
                                         int batch);

#endif
