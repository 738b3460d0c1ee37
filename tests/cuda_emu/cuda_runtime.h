/* cuda-emu: the CUDA execution model and runtime API that kernels_cuda/ uses, on the
 * host. A test harness, not a product backend: CMake builds the real kernels_cuda/<op>.cu
 * files as C++ with this folder first on the include path, so `#include
 * <cuda_runtime.h>` lands here, and registers the result as the backend "cuda-emu"
 * (FMRT_CUDA_EMU, test builds only). What it models:
 *
 *   - a launch runs every block of the grid; the threads of a block are cooperatively
 *     scheduled contexts (fibers) on one host thread: each runs until it finishes or
 *     waits at a barrier (__syncthreads, or a warp shuffle's exchange), so a missing
 *     barrier or a read of shared memory before another thread's write gives a wrong
 *     answer instead of a silent pass. FMRT_CUDA_EMU_ORDER=forward|reverse|shuffle[:SEED]
 *     sets the order in which a block's threads are started and resumed;
 *   - threadIdx, blockIdx, blockDim, gridDim; __shared__ memory per block (static
 *     thread-local storage: one block runs at a time on a host thread); warps of 32
 *     lanes in linear thread order with __shfl_xor_sync / __shfl_down_sync /
 *     __shfl_sync / __ballot_sync, which wait for every lane of the warp; atomics;
 *   - the checks a GPU makes at launch: block size over 1024 (x, y <= 1024, z <= 64),
 *     grid dimensions over 2^31-1 / 65535, dynamic shared memory over 48 KiB: each an
 *     error from cudaGetLastError, as on a device; threads waiting at different
 *     __syncthreads() calls, or a barrier that some threads never reach, also fail the
 *     launch (cudaErrorLaunchFailure) with a message on stderr;
 *   - the runtime calls the backend makes (device count and properties, malloc/free,
 *     async copies and memsets, streams, errors). Work runs at the call: a stream is
 *     in order, so synchronising is a no-op. Device memory is host memory from the
 *     allocator, so ASan (the sanitizer stage) catches an access outside it.
 *
 * Not modelled: real concurrency between blocks or warps, the memory model, timing,
 * texture/constant memory, events and graphs (the backend uses none of them). */
#ifndef FMRT_CUDA_EMU_RUNTIME_H
#define FMRT_CUDA_EMU_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <utility>

/* ---- qualifiers ------------------------------------------------------------------- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define __restrict__

/* ---- index builtins --------------------------------------------------------------- */
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
typedef dim3 uint3;

namespace fm_emu {
/* The running thread's coordinates: set by the scheduler at every switch. */
struct thread_ctx {
    dim3 tid;
    unsigned linear; /* x + y Bx + z Bx By: the lane order of warps */
};
struct block_ctx {
    dim3 block_idx, block_dim, grid_dim;
};
extern thread_local thread_ctx *cur_thread;
extern thread_local block_ctx cur_block;

/* Barriers and warp exchanges; `site` names the call for the divergence check. */
void syncthreads(const char *site);
uint64_t warp_exchange(uint64_t mine, int src_lane, const char *site);
unsigned warp_ballot(int pred, const char *site);
int lane_id();
} // namespace fm_emu

#define threadIdx (fm_emu::cur_thread->tid)
#define blockIdx (fm_emu::cur_block.block_idx)
#define blockDim (fm_emu::cur_block.block_dim)
#define gridDim (fm_emu::cur_block.grid_dim)

#define FM_EMU_STR2(x) #x
#define FM_EMU_STR(x) FM_EMU_STR2(x)
#define FM_EMU_SITE __FILE__ ":" FM_EMU_STR(__LINE__)
#define __syncthreads() fm_emu::syncthreads(FM_EMU_SITE)

/* ---- warp intrinsics: every lane of the warp must take part (full mask) ---------- */
namespace fm_emu {
template <typename T> static inline uint64_t to_bits(T v)
{
    static_assert(sizeof(T) <= 8, "shuffle of a value wider than 64 bits");
    uint64_t u = 0;
    memcpy(&u, &v, sizeof v);
    return u;
}
template <typename T> static inline T from_bits(uint64_t u)
{
    T v;
    memcpy(&v, &u, sizeof v);
    return v;
}
template <typename T> static inline T shfl(T v, int src, const char *site)
{
    return from_bits<T>(warp_exchange(to_bits(v), src, site));
}
} // namespace fm_emu

#define __shfl_xor_sync(mask, v, m)                                                               \
    fm_emu::shfl((v), fm_emu::lane_id() ^ (int)(m), ((void)(mask), FM_EMU_SITE))
#define __shfl_down_sync(mask, v, d)                                                              \
    fm_emu::shfl((v), fm_emu::lane_id() + (int)(d) < 32 ? fm_emu::lane_id() + (int)(d)            \
                                                         : fm_emu::lane_id(),                     \
                 ((void)(mask), FM_EMU_SITE))
#define __shfl_up_sync(mask, v, d)                                                                \
    fm_emu::shfl((v), fm_emu::lane_id() >= (int)(d) ? fm_emu::lane_id() - (int)(d)                \
                                                     : fm_emu::lane_id(),                         \
                 ((void)(mask), FM_EMU_SITE))
#define __shfl_sync(mask, v, l) fm_emu::shfl((v), (int)(l)&31, ((void)(mask), FM_EMU_SITE))
#define __ballot_sync(mask, p) fm_emu::warp_ballot((p) != 0, ((void)(mask), FM_EMU_SITE))

/* ---- atomics: the threads of a block are fibers on one host thread and blocks run
 * one after another, so a read-modify-write is never interleaved. --------------------- */
template <typename T> static inline T atomicAdd(T *p, T v)
{
    T old = *p;
    *p = old + v;
    return old;
}
template <typename T> static inline T atomicMax(T *p, T v)
{
    T old = *p;
    *p = old > v ? old : v;
    return old;
}
template <typename T> static inline T atomicExch(T *p, T v)
{
    T old = *p;
    *p = v;
    return old;
}

/* ---- math intrinsics (the fast ones as their accurate twins) --------------------- */
#define __expf expf
#define __logf logf
#define __fdividef(a, b) ((a) / (b))
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
#define __fmaf_rn fmaf

/* ---- runtime API ---------------------------------------------------------------- */
typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorLaunchFailure = 719,
    cudaErrorLaunchOutOfResources = 701,
} cudaError_t;

typedef struct fm_emu_stream *cudaStream_t;
enum { cudaStreamDefault = 0, cudaStreamNonBlocking = 1 };
enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem, sharedMemPerBlock;
    int warpSize, maxThreadsPerBlock, maxThreadsDim[3], maxGridSize[3];
    int major, minor, multiProcessorCount;
};

cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t s = 0);
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t s = 0);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorName(cudaError_t e);
const char *cudaGetErrorString(cudaError_t e);

/* ---- launches ------------------------------------------------------------------- */
namespace fm_emu {
/* Checks the configuration (a failure sets the launch error and returns 0), then
 * runs body(user) once per thread of every block, as described at the top. */
int launch(const char *kernel, dim3 grid, dim3 block, size_t shmem, cudaStream_t s,
           void (*body)(void *), void *user);

template <typename... P> struct launcher {
    void (*kernel)(P...);
    const char *name;
    dim3 grid, block;
    size_t shmem;
    cudaStream_t stream;
    template <typename... A> void operator()(A &&...a) const
    {
        struct call {
            void (*kernel)(P...);
            std::tuple<P...> args;
        } c{kernel, std::tuple<P...>(std::forward<A>(a)...)};
        launch(name, grid, block, shmem, stream,
               [](void *u) {
                   call *c = (call *)u;
                   std::apply(c->kernel, c->args);
               },
               &c);
    }
};
template <typename... P>
static inline launcher<P...> make_launcher(void (*k)(P...), const char *name, dim3 grid,
                                           dim3 block, size_t shmem, cudaStream_t s)
{
    return launcher<P...>{k, name, grid, block, shmem, s};
}
} // namespace fm_emu

/* kernels_cuda/cuda.h launches through this macro; with nvcc it is <<< >>>. */
#define FM_CUDA_EMU_LAUNCH(k, grid, block, shmem, stream)                                         \
    fm_emu::make_launcher((k), #k, (grid), (block), (shmem), (stream))

#endif
