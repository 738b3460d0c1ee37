/* The CUDA backend's internals, shared by backend.cu and the per-op files.
 *
 * Memory: ONE cudaMalloc holds everything; a tensor is (that base pointer, byte
 * offset). Behind the tensors the backend keeps its scratch (im2col columns,
 * partial sums) and cuBLAS's workspace (cublasSetWorkspace), so cuBLAS never
 * allocates behind our back:
 *
 *   [ tensors: fm_arena, arena_bytes | scratch: scratch_bytes | cuBLAS workspace ]
 *
 * One stream; every CUDA and cuBLAS call is checked and turned into an fm_status
 * carrying the driver's message. Launch geometry lives here (fm_cuda_blocks), so
 * every kernel is launched the same way. */
#ifndef FMRT_KERNELS_CUDA_H
#define FMRT_KERNELS_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "backend_impl.h"
}

typedef struct fm_cuda {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    char *base;            /* the one device allocation */
    size_t tensor_bytes;
    size_t scratch_off;    /* bytes from base */
    size_t scratch_bytes;
    size_t workspace_off;  /* cuBLAS workspace */
    size_t workspace_bytes;
    int tf32;              /* opt-in TF32 GEMMs (FM_BACKEND_TF32); strict float32 by default */
    char describe[320];
} fm_cuda;

static inline fm_cuda *fm_cuda_of(fm_backend *be) { return (fm_cuda *)be->impl; }

/* Typed device pointers of a tensor / of the scratch region. */
static inline float *fm_cuda_f32(const fm_tensor *t) { return (float *)((char *)t->base + t->off); }
static inline int *fm_cuda_i32(const fm_tensor *t) { return (int *)((char *)t->base + t->off); }
static inline unsigned char *fm_cuda_u8(const fm_tensor *t)
{
    return (unsigned char *)t->base + t->off;
}
static inline float *fm_cuda_scratch(fm_backend *be, size_t byte_off)
{
    return (float *)(fm_cuda_of(be)->base + fm_cuda_of(be)->scratch_off + byte_off);
}

/* Every launch goes through this macro: k<<<grid, block, shmem, stream>>> under nvcc,
 * and the host execution harness's launcher when these files are built as the
 * "cuda-emu" test backend (tests/cuda_emu/cuda_runtime.h defines FM_CUDA_EMU_LAUNCH). */
#ifdef FM_CUDA_EMU_LAUNCH
#define FM_CUDA_LAUNCH FM_CUDA_EMU_LAUNCH
#else
#define FM_CUDA_LAUNCH(k, grid, block, shmem, stream) k<<<(grid), (block), (shmem), (stream)>>>
#endif

/* Launch geometry, in one place: 256 threads per block, enough blocks for n. */
#define FM_CUDA_THREADS 256
static inline unsigned fm_cuda_blocks(long long n)
{
    return (unsigned)((n + FM_CUDA_THREADS - 1) / FM_CUDA_THREADS);
}

/* Sum of v over the block (float or double), returned to every thread: a fixed
 * butterfly within each warp, then across the warp sums, so every lane gets the same
 * bits and the result does not depend on timing (no atomics). Every thread of the
 * block must call it; sh holds FM_CUDA_THREADS / 32 values. */
/* SiLU of one value, x / (1 + e^-x): SILU_FWD and GROUPNORM_FWD's SiLU post-op. */
static __device__ inline float fm_cuda_silu(float x) { return x / (1.0f + expf(-x)); }

template <typename T> static __device__ T fm_cuda_block_sum(T v, T *sh)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0)
        sh[warp] = v;
    __syncthreads();
    v = lane < FM_CUDA_THREADS / 32 ? sh[lane] : (T)0;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    return v;
}

/* FM_ERR_DRIVER with "cuda: <what>: <name>: <message>" unless err == cudaSuccess.
 * Also checks cudaGetLastError after a launch when err is cudaSuccess and
 * `after_launch` is set. */
fm_status fm_cuda_check(fm_backend *be, cudaError_t err, const char *what);
fm_status fm_cuda_launched(fm_backend *be, const char *what); /* cudaGetLastError */
fm_status fm_cuda_blas_check(fm_backend *be, cublasStatus_t st, const char *what);

/* Row-major C[m,n] = alpha op(A) op(B) + beta C (lda etc. are row-major leading
 * dimensions), through cublasSgemm on the transposed problem (cuBLAS is
 * column-major: C^T = op(B)^T op(A)^T). */
fm_status fm_cuda_gemm(fm_backend *be, int m, int n, int k, float alpha, const float *a, int lda,
                       int ta, const float *b, int ldb, int tb, float beta, float *c, int ldc);
/* The same for `batch` problems at fixed strides (elements). */
fm_status fm_cuda_gemm_batched(fm_backend *be, int m, int n, int k, float alpha, const float *a,
                               int lda, long long sa, int ta, const float *b, int ldb, long long sb,
                               int tb, float beta, float *c, int ldc, long long sc, int batch);

/* out[0] = sum_i term_i (divided by n when mean), term_i = a_i or (a_i - b_i)^2 when
 * b is not NULL: sum.cu's two-pass reduction, shared by SUM_FWD and MSE_FWD. */
fm_status fm_cuda_reduce_sum(fm_backend *be, float *out, const float *a, const float *b, long long n,
                             int mean, const char *what);
/* Its second pass alone: out[0] = (sum of part[0..np)) / div, one block, Kahan within a
 * thread and a fixed tree across (np <= 2^31; SOFTMAX_XENT_FWD's per-row terms). */
fm_status fm_cuda_sum_final(fm_backend *be, float *out, const float *part, long long np,
                            double div, const char *what);

/* Table entries, one pair per op, defined in kernels_cuda/<op>.cu. */
extern "C" {
#define FM_X(id, name, slots) fm_status fm_cuda_##name(fm_backend *be, const fm_call *c);
FM_OP_LIST(FM_X)
#undef FM_X
}

#endif
