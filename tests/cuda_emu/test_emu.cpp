/* The cuda-emu harness itself: the execution model (barriers, warps, orders, the checks
 * a device makes at launch), the runtime API's error paths and cuBLAS's column-major
 * semantics. The kernels of kernels_cuda/ are checked through it by the conformance
 * suite (conformance/cuda_emu). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cublas_v2.h"
#include "cuda_runtime.h"

#define LAUNCH FM_CUDA_EMU_LAUNCH

static float *dev_floats(size_t n)
{
    void *p = nullptr;
    cr_assert_eq(cudaMalloc(&p, n * sizeof(float)), cudaSuccess);
    return (float *)p;
}

/* out[block] = sum of threadIdx.x over the block, through shared memory. */
static __global__ void block_sum(float *out, int with_barrier)
{
    __shared__ float part[8];
    float v = (float)threadIdx.x;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0)
        part[threadIdx.x >> 5] = v;
    if (with_barrier)
        __syncthreads();
    if (threadIdx.x == 0) {
        float s = 0;
        for (int w = 0; w < 8; w++)
            s += part[w];
        out[blockIdx.x] = s;
    }
}

Test(cuda_emu, barrier_makes_shared_memory_visible)
{
    float *out = dev_floats(4);
    LAUNCH(block_sum, 4, 256, 0, 0)(out, 1);
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
    for (int b = 0; b < 4; b++)
        cr_expect_eq(out[b], 255.0f * 256 / 2, "block %d: %g", b, (double)out[b]);
    cudaFree(out);
}

/* Without the barrier thread 0 reads the other warps' slots before they write them:
 * the harness must give a wrong answer, not the right one by luck of scheduling. */
Test(cuda_emu, missing_barrier_gives_a_wrong_answer)
{
    float *out = dev_floats(1);
    LAUNCH(block_sum, 1, 256, 0, 0)(out, 0); /* a new process: the slots hold zeros */
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
    /* Forward order: thread 0 runs before warps 1..7 reach their writes. */
    cr_expect_neq(out[0], 255.0f * 256 / 2, "a missing __syncthreads went unnoticed");
    cudaFree(out);
}

static __global__ void shuffles(unsigned *out)
{
    const int l = threadIdx.x & 31;
    int x = __shfl_xor_sync(0xffffffffu, l, 5);
    int d = __shfl_down_sync(0xffffffffu, l, 3);
    int u = __shfl_up_sync(0xffffffffu, l, 2);
    int s = __shfl_sync(0xffffffffu, l * 10, 7);
    unsigned b = __ballot_sync(0xffffffffu, l % 3 == 0);
    out[threadIdx.x * 5 + 0] = (unsigned)x;
    out[threadIdx.x * 5 + 1] = (unsigned)d;
    out[threadIdx.x * 5 + 2] = (unsigned)u;
    out[threadIdx.x * 5 + 3] = (unsigned)s;
    out[threadIdx.x * 5 + 4] = b;
}

Test(cuda_emu, warp_intrinsics)
{
    unsigned *out;
    cr_assert_eq(cudaMalloc((void **)&out, 64 * 5 * sizeof(unsigned)), cudaSuccess);
    LAUNCH(shuffles, 1, 64, 0, 0)(out);
    unsigned ballot = 0;
    for (int l = 0; l < 32; l += 3)
        ballot |= 1u << l;
    for (int t = 0; t < 64; t++) {
        unsigned l = (unsigned)t & 31;
        cr_expect_eq(out[t * 5 + 0], l ^ 5);
        cr_expect_eq(out[t * 5 + 1], l + 3 < 32 ? l + 3 : l); /* out of range: own value */
        cr_expect_eq(out[t * 5 + 2], l >= 2 ? l - 2 : l);
        cr_expect_eq(out[t * 5 + 3], 70u);
        cr_expect_eq(out[t * 5 + 4], ballot);
    }
    cudaFree(out);
}

static __global__ void indices(unsigned *out)
{
    unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    out[b * blockDim.x * blockDim.y * blockDim.z + t] = b * 1000 + t;
}

Test(cuda_emu, three_dimensional_indices)
{
    unsigned *out;
    const int n = 2 * 3 * 2 * (4 * 2 * 3);
    cr_assert_eq(cudaMalloc((void **)&out, n * sizeof(unsigned)), cudaSuccess);
    LAUNCH(indices, dim3(2, 3, 2), dim3(4, 2, 3), 0, 0)(out);
    for (int i = 0; i < n; i++)
        cr_expect_eq(out[i], (unsigned)(i / 24 * 1000 + i % 24), "element %d", i);
    cudaFree(out);
}

static __global__ void nothing(int) {}

Test(cuda_emu, launch_checks_of_a_device)
{
    LAUNCH(nothing, 1, 1025, 0, 0)(0);
    cr_expect_eq(cudaGetLastError(), cudaErrorInvalidConfiguration);
    LAUNCH(nothing, 1, dim3(1, 1, 65), 0, 0)(0);
    cr_expect_eq(cudaGetLastError(), cudaErrorInvalidConfiguration);
    LAUNCH(nothing, dim3(1, 65536), 32, 0, 0)(0);
    cr_expect_eq(cudaGetLastError(), cudaErrorInvalidConfiguration);
    LAUNCH(nothing, 0, 32, 0, 0)(0);
    cr_expect_eq(cudaGetLastError(), cudaErrorInvalidConfiguration);
    LAUNCH(nothing, 1, 32, 48 * 1024 + 1, 0)(0);
    cr_expect_eq(cudaGetLastError(), cudaErrorInvalidValue);
    LAUNCH(nothing, 1, 1024, 48 * 1024, 0)(0);
    cr_expect_eq(cudaGetLastError(), cudaSuccess);
    cr_expect_eq(cudaGetLastError(), cudaSuccess, "the error is cleared once read");
}

static __global__ void divergent(int)
{
    if (threadIdx.x < 16)
        __syncthreads();
    else
        __syncthreads();
}

/* Threads at two different __syncthreads() calls: a fault, and a sticky one. */
Test(cuda_emu, divergent_barrier_fails_the_launch)
{
    LAUNCH(divergent, 1, 32, 0, 0)(0);
    cr_expect_eq(cudaGetLastError(), cudaErrorLaunchFailure);
    cr_expect_eq(cudaStreamSynchronize(0), cudaErrorLaunchFailure);
    LAUNCH(nothing, 1, 1, 0, 0)(0);
    cr_expect_eq(cudaGetLastError(), cudaErrorLaunchFailure, "the context stays poisoned");
}

static __global__ void half_waits(int)
{
    if (threadIdx.x < 40) /* lanes 32..39 leave warp 1 short for the shuffle */
        __shfl_xor_sync(0xffffffffu, 1, 1);
    else
        for (;;)
            __syncthreads(); /* never matched by the others */
}

Test(cuda_emu, deadlock_fails_the_launch)
{
    LAUNCH(half_waits, 1, 64, 0, 0)(0);
    cr_expect_eq(cudaGetLastError(), cudaErrorLaunchFailure);
}

Test(cuda_emu, runtime_error_paths)
{
    float *d = dev_floats(16), host[16] = {0};
    cr_expect_eq(cudaMemcpyAsync(d, host, sizeof host, cudaMemcpyHostToDevice, 0), cudaSuccess);
    cr_expect_eq(cudaMemcpyAsync(host, d, sizeof host, cudaMemcpyHostToDevice, 0),
                 cudaErrorInvalidValue, "a host pointer as the device side");
    cr_expect_eq(cudaMemcpyAsync(d + 8, host, sizeof host, cudaMemcpyHostToDevice, 0),
                 cudaErrorInvalidValue, "past the end of the allocation");
    cr_expect_eq(cudaMemsetAsync(host, 0, 4, 0), cudaErrorInvalidValue);
    cr_expect_eq(cudaFree(host), cudaErrorInvalidValue);
    int n = 0;
    cudaDeviceProp p;
    cr_expect_eq(cudaGetDeviceCount(&n), cudaSuccess);
    cr_expect_eq(n, 1);
    cr_expect_eq(cudaGetDeviceProperties(&p, 1), cudaErrorInvalidDevice);
    cr_expect_eq(cudaSetDevice(3), cudaErrorInvalidDevice);
    cudaGetLastError();
    cr_expect_eq(cudaFree(d), cudaSuccess);
}

/* Column-major C = alpha op(A) op(B) + beta C against loops, with padded leading
 * dimensions, every transpose pair and a strided batch; beta = 0 ignores NaN in C. */
Test(cuda_emu, cublas_column_major_semantics)
{
    const int m = 5, n = 4, k = 3, ld = 7, batch = 2;
    const long long sa = ld * 7, sb = ld * 7, sc = ld * 7;
    float *a = dev_floats(batch * sa), *b = dev_floats(batch * sb), *c = dev_floats(batch * sc);
    for (int i = 0; i < batch * sa; i++) {
        a[i] = (float)((i * 7) % 11) - 5;
        b[i] = (float)((i * 5) % 13) - 6;
    }
    cublasHandle_t h;
    cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (int i = 0; i < batch * sc; i++)
                c[i] = i % 2 ? NAN : 1.0f;
            const float alpha = 2.0f, beta = 0.0f;
            cr_assert_eq(cublasSgemmStridedBatched(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                   tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k,
                                                   &alpha, a, ld, sa, b, ld, sb, &beta, c, ld,
                                                   sc, batch),
                         CUBLAS_STATUS_SUCCESS);
            for (int q = 0; q < batch; q++)
                for (int j = 0; j < n; j++)
                    for (int i = 0; i < m; i++) {
                        float s = 0;
                        for (int p = 0; p < k; p++)
                            s += (ta ? a[q * sa + p + i * ld] : a[q * sa + i + p * ld]) *
                                 (tb ? b[q * sb + j + p * ld] : b[q * sb + p + j * ld]);
                        cr_expect_eq(c[q * sc + i + j * ld], 2.0f * s, "ta %d tb %d", ta, tb);
                    }
        }
    const float one = 1.0f;
    cr_expect_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, a, m - 1, b, ld, &one, c,
                             ld),
                 CUBLAS_STATUS_INVALID_VALUE, "lda below the rows of A");
    cr_expect_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, n, k, &one, a, ld, b, ld, &one, c,
                             ld),
                 CUBLAS_STATUS_INVALID_VALUE);
    float host[64];
    cr_expect_eq(cublasSetWorkspace(h, host, sizeof host), CUBLAS_STATUS_INVALID_VALUE,
                 "a workspace outside device memory");
    cr_expect_eq(cublasSetWorkspace(h, c, 64), CUBLAS_STATUS_SUCCESS);
    cr_expect_eq(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
}
