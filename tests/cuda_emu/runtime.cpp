/* cuda-emu: the runtime API and the cuBLAS calls of kernels_cuda/ (see cuda_runtime.h
 * and cublas_v2.h). Work runs at the call: one stream, in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "cublas_v2.h"
#include "emu_internal.h"

#if defined(FMRT_HAVE_OPENBLAS)
#include <cblas.h>
#endif

/* ---- runtime API ----------------------------------------------------------------------- */

using fm_emu::on_device;
using fm_emu::set_error;
using fm_emu::sticky_error;

struct fm_emu_stream {
    int live;
};

/* Device allocations, for the checks a driver makes (free, copy directions). */
static std::vector<std::pair<char *, size_t>> g_allocs;

bool fm_emu::on_device(const void *p, size_t bytes)
{
    for (auto &a : g_allocs)
        if ((const char *)p >= a.first && bytes <= a.second &&
            (size_t)((const char *)p - a.first) <= a.second - bytes)
            return true;
    return false;
}

cudaError_t cudaGetDeviceCount(int *n)
{
    *n = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device)
{
    if (device != 0)
        return set_error(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "cuda-emu (host)");
    p->totalGlobalMem = (size_t)16 << 30;
    p->sharedMemPerBlock = 48 << 10;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647;
    p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return set_error(device == 0 ? cudaSuccess : cudaErrorInvalidDevice); }

cudaError_t cudaMalloc(void **p, size_t bytes)
{
    /* FMRT_CUDA_EMU_MEM_BYTES: a device this small (tests of the allocation error). */
    const char *cap = getenv("FMRT_CUDA_EMU_MEM_BYTES");
    if (cap && *cap && bytes > strtoull(cap, nullptr, 10))
        return set_error(cudaErrorMemoryAllocation);
    char *m = bytes ? (char *)aligned_alloc(256, (bytes + 255) / 256 * 256) : nullptr;
    if (bytes && !m)
        return set_error(cudaErrorMemoryAllocation);
    if (m)
        g_allocs.push_back({m, bytes});
    *p = m;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    if (!p)
        return cudaSuccess;
    for (size_t i = 0; i < g_allocs.size(); i++)
        if (g_allocs[i].first == p) {
            free(p);
            g_allocs.erase(g_allocs.begin() + (long)i);
            return cudaSuccess;
        }
    return set_error(cudaErrorInvalidValue);
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    *total_bytes = (size_t)16 << 30;
    size_t used = 0;
    for (auto &a : g_allocs)
        used += a.second;
    *free_bytes = used < *total_bytes ? *total_bytes - used : 0;
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t s)
{
    (void)s;
    if (sticky_error != cudaSuccess)
        return set_error(sticky_error);
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind == cudaMemcpyDefault) {
        dst_dev = on_device(dst, bytes);
        src_dev = on_device(src, bytes);
    }
    if ((dst_dev && !on_device(dst, bytes)) || (src_dev && !on_device(src, bytes)) ||
        (!dst_dev && bytes && on_device(dst, 1)) || (!src_dev && bytes && on_device(src, 1)))
        return set_error(cudaErrorInvalidValue);
    if (bytes)
        memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t s)
{
    (void)s;
    if (sticky_error != cudaSuccess)
        return set_error(sticky_error);
    if (bytes && !on_device(dst, bytes))
        return set_error(cudaErrorInvalidValue);
    memset(dst, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags)
{
    (void)flags;
    *s = new fm_emu_stream{1};
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    if (s && !s->live)
        return set_error(cudaErrorInvalidResourceHandle);
    return set_error(sticky_error);
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    delete s;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = fm_emu::last_error;
    fm_emu::last_error = sticky_error;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return fm_emu::last_error; }

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    }
    return "unknown error";
}

/* ---- cuBLAS ----------------------------------------------------------------------------- */

struct fm_emu_blas {
    cudaStream_t stream;
    void *ws;
    size_t ws_bytes;
    cublasMath_t math;
};

cublasStatus_t cublasCreate(cublasHandle_t *h)
{
#if defined(FMRT_HAVE_OPENBLAS)
    /* One thread: OpenBLAS's own pool would spin beside the caller (as the cpu
     * backend, which sets the same). */
    openblas_set_num_threads(1);
#endif
    *h = new fm_emu_blas{nullptr, nullptr, 0, CUBLAS_DEFAULT_MATH};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    if (!h)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
    if (!h)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *ws, size_t bytes)
{
    if (!h)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (bytes && (!on_device(ws, bytes) || (uintptr_t)ws % 256 != 0))
        return CUBLAS_STATUS_INVALID_VALUE;
    h->ws = ws;
    h->ws_bytes = bytes;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode)
{
    if (!h)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode < CUBLAS_DEFAULT_MATH || mode > CUBLAS_TF32_TENSOR_OP_MATH)
        return CUBLAS_STATUS_INVALID_VALUE;
    h->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    }
    return "unknown status";
}

/* Element (i, j) of column-major X with leading dimension ld, through op. */
static inline float at(const float *x, int ld, int trans, long long i, long long j)
{
    return trans ? x[j + i * ld] : x[i + j * ld];
}

/* One column-major GEMM: C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C. */
static void gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc)
{
    /* beta = 0: C is written, never read (it may hold NaN), as cuBLAS. */
    for (long long j = 0; j < n; j++)
        for (long long i = 0; i < m; i++)
            c[i + j * ldc] = beta == 0.0f ? 0.0f : beta * c[i + j * ldc];
    if (k == 0 || alpha == 0.0f)
        return;
#if defined(FMRT_HAVE_OPENBLAS)
    cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, alpha, a, lda, b, ldb, 1.0f, c, ldc);
#else
    for (long long j = 0; j < n; j++)
        for (long long i = 0; i < m; i++) {
            float s = 0;
            for (long long p = 0; p < k; p++)
                s += at(a, lda, ta, i, p) * at(b, ldb, tb, p, j);
            c[i + j * ldc] += alpha * s;
        }
#endif
}

/* cuBLAS's argument checks of a GEMM (column-major; op(A) is m x k). */
static cublasStatus_t gemm_args(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                int m, int n, int k, int lda, int ldb, int ldc)
{
    if (!h)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (ta == CUBLAS_OP_C || tb == CUBLAS_OP_C || m < 0 || n < 0 || k < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    int rows_a = ta == CUBLAS_OP_N ? m : k, rows_b = tb == CUBLAS_OP_N ? k : n;
    if (lda < (rows_a > 1 ? rows_a : 1) || ldb < (rows_b > 1 ? rows_b : 1) ||
        ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    return sticky_error != cudaSuccess ? CUBLAS_STATUS_EXECUTION_FAILED : CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *a, int lda,
                           const float *b, int ldb, const float *beta, float *c, int ldc)
{
    cublasStatus_t s = gemm_args(h, ta, tb, m, n, k, lda, ldb, ldc);
    if (s == CUBLAS_STATUS_SUCCESS && m > 0 && n > 0)
        gemm(ta != CUBLAS_OP_N, tb != CUBLAS_OP_N, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc);
    return s;
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float *alpha, const float *a, int lda,
                                         long long sa, const float *b, int ldb, long long sb,
                                         const float *beta, float *c, int ldc, long long sc,
                                         int batch)
{
    cublasStatus_t s = gemm_args(h, ta, tb, m, n, k, lda, ldb, ldc);
    if (s == CUBLAS_STATUS_SUCCESS && batch < 0)
        s = CUBLAS_STATUS_INVALID_VALUE;
    for (int i = 0; s == CUBLAS_STATUS_SUCCESS && i < batch && m > 0 && n > 0; i++)
        gemm(ta != CUBLAS_OP_N, tb != CUBLAS_OP_N, m, n, k, *alpha, a + i * sa, lda, b + i * sb,
             ldb, *beta, c + i * sc, ldc);
    return s;
}
