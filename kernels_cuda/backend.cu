/* The CUDA backend: device choice, the one cudaMalloc, stream, cuBLAS with its
 * workspace carved from that allocation, memory movement, the op table. The error
 * checks and GEMM wrappers every op uses are in blas.cu (below this file: the ops call
 * them, the table here names the ops). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda.h"

/* Scratch behind the tensors (im2col columns, partial sums); ops chunk to fit. */
#define FM_CUDA_SCRATCH_DEFAULT (64u << 20)
/* cuBLAS workspace: NVIDIA recommends 32 MiB on Hopper, 4 MiB elsewhere. */
#define FM_CUDA_WORKSPACE_DEFAULT (32u << 20)

static void cuda_close(fm_backend *be);

static fm_status cuda_open_inner(fm_backend *be, const fm_backend_config *cfg)
{
    size_t off;
    if (fm_arena_alloc(&be->host, sizeof(fm_cuda), &off) != FM_OK)
        return fm_fail(be, FM_ERR_ARG, "backend cuda: host memory block too small (%zu bytes needed)",
                       sizeof(fm_cuda));
    fm_cuda *cu = (fm_cuda *)fm_arena_ptr(&be->host, off);
    memset(cu, 0, sizeof *cu);
    be->impl = cu;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess)
        return fm_fail(be, FM_ERR_NO_DEVICE, "backend cuda: no usable device (%s: %s)",
                       cudaGetErrorName(err), cudaGetErrorString(err));
    if (n == 0)
        return fm_fail(be, FM_ERR_NO_DEVICE, "backend cuda: no CUDA device present");
    /* By index, or the first whose name contains device_match; else device 0. */
    cu->device = cfg->device_index >= 0 ? cfg->device_index : 0;
    char seen[FM_ERR_LEN - 96] = "";
    size_t len = 0;
    int found = cfg->device_match && cfg->device_match[0] ? -1 : cu->device;
    for (int i = 0; i < n; i++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess)
            continue;
        int w = snprintf(seen + len, sizeof seen - len, "%s[%d] %s", len ? ", " : "", i, p.name);
        if (w > 0 && len + (size_t)w < sizeof seen)
            len += (size_t)w;
        if (found < 0 && strstr(p.name, cfg->device_match))
            found = i;
    }
    if (found < 0 || found >= n)
        return fm_fail(be, FM_ERR_NO_DEVICE, "backend cuda: no device %s%s; devices seen: %s",
                       found < 0 ? "matches " : "index ",
                       found < 0 ? cfg->device_match : "out of range", seen);
    cu->device = found;
    cudaDeviceProp prop;
    FM_TRY(fm_cuda_check(be, cudaSetDevice(cu->device), "set device"));
    FM_TRY(fm_cuda_check(be, cudaGetDeviceProperties(&prop, cu->device), "device properties"));
    FM_TRY(fm_cuda_check(be, cudaStreamCreateWithFlags(&cu->stream, cudaStreamNonBlocking), "create stream"));
    FM_TRY(fm_cuda_blas_check(be, cublasCreate(&cu->blas), "create handle"));
    FM_TRY(fm_cuda_blas_check(be, cublasSetStream(cu->blas, cu->stream), "set stream"));

    const size_t align = 256; /* cudaMalloc's alignment; keeps every region aligned */
    cu->tensor_bytes = (cfg->arena_bytes + align - 1) / align * align;
    if (cu->tensor_bytes == 0)
        return fm_fail(be, FM_ERR_ARG, "backend cuda: arena_bytes is 0");
    cu->scratch_off = cu->tensor_bytes;
    cu->scratch_bytes = FM_CUDA_SCRATCH_DEFAULT;
    cu->workspace_off = cu->scratch_off + cu->scratch_bytes;
    cu->workspace_bytes = FM_CUDA_WORKSPACE_DEFAULT;
    size_t total = cu->workspace_off + cu->workspace_bytes;
    err = cudaMalloc((void **)&cu->base, total);
    if (err != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        return fm_fail(be, FM_ERR_ARENA,
                       "backend cuda: cudaMalloc of %zu bytes failed (%s); %zu of %zu bytes free on %s",
                       total, cudaGetErrorString(err), free_b, total_b, prop.name);
    }
    FM_TRY(fm_cuda_blas_check(be, cublasSetWorkspace(cu->blas, cu->base + cu->workspace_off, cu->workspace_bytes),
                           "set workspace"));
    cu->tf32 = (cfg->flags & FM_BACKEND_TF32) != 0;
    FM_TRY(fm_cuda_blas_check(be, cublasSetMathMode(cu->blas, cu->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                     : CUBLAS_PEDANTIC_MATH),
                           "set math mode"));
    FM_TRY(fm_arena_init(&be->arena, NULL, cu->tensor_bytes, align));
    be->buffer = cu->base;
    snprintf(cu->describe, sizeof cu->describe, "cuda: %s (sm_%d%d, %.1f GiB, %s GEMMs)", prop.name,
             prop.major, prop.minor, (double)prop.totalGlobalMem / (1 << 30),
             cu->tf32 ? "TF32" : "strict float32");
    return FM_OK;
}

/* A failed open releases what it created: the registry never calls close then. */
static fm_status cuda_open(fm_backend *be, const fm_backend_config *cfg)
{
    fm_status s = cuda_open_inner(be, cfg);
    if (s != FM_OK)
        cuda_close(be);
    return s;
}

static void cuda_close(fm_backend *be)
{
    fm_cuda *cu = fm_cuda_of(be);
    if (!cu)
        return;
    if (cu->stream)
        cudaStreamSynchronize(cu->stream);
    if (cu->blas)
        cublasDestroy(cu->blas);
    if (cu->base)
        cudaFree(cu->base);
    if (cu->stream)
        cudaStreamDestroy(cu->stream);
    memset(cu, 0, sizeof *cu);
}

static fm_status cuda_upload(fm_backend *be, const fm_tensor *dst, const void *src)
{
    fm_cuda *cu = fm_cuda_of(be);
    FM_TRY(fm_cuda_check(be, cudaMemcpyAsync((char *)dst->base + dst->off, src, fm_tensor_bytes(dst),
                                          cudaMemcpyHostToDevice, cu->stream),
                      "upload"));
    /* The caller may reuse its host buffer as soon as we return. */
    return fm_cuda_check(be, cudaStreamSynchronize(cu->stream), "upload sync");
}

static fm_status cuda_download(fm_backend *be, void *dst, const fm_tensor *src)
{
    fm_cuda *cu = fm_cuda_of(be);
    FM_TRY(fm_cuda_check(be, cudaMemcpyAsync(dst, (char *)src->base + src->off, fm_tensor_bytes(src),
                                          cudaMemcpyDeviceToHost, cu->stream),
                      "download"));
    return fm_cuda_check(be, cudaStreamSynchronize(cu->stream), "download sync");
}

static fm_status cuda_copy(fm_backend *be, const fm_tensor *dst, const fm_tensor *src)
{
    if (dst->base == src->base && dst->off == src->off)
        return FM_OK;
    return fm_cuda_check(be, cudaMemcpyAsync((char *)dst->base + dst->off, (char *)src->base + src->off,
                                             fm_tensor_bytes(dst), cudaMemcpyDeviceToDevice,
                                             fm_cuda_of(be)->stream),
                         "copy");
}

__global__ void fill_f32(float *p, long long n, float v)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = v;
}

__global__ void fill_i32(int *p, long long n, int v)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = v;
}

static fm_status cuda_fill(fm_backend *be, const fm_tensor *dst, float value)
{
    fm_cuda *cu = fm_cuda_of(be);
    long long n = fm_tensor_numel(dst);
    if (n == 0)
        return FM_OK;
    switch (dst->dtype) {
    case FM_F32:
        FM_CUDA_LAUNCH(fill_f32, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, cu->stream)(fm_cuda_f32(dst), n, value);
        break;
    case FM_I32:
        FM_CUDA_LAUNCH(fill_i32, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, cu->stream)(fm_cuda_i32(dst), n, (int)value);
        break;
    case FM_U8:
        return fm_cuda_check(be, cudaMemsetAsync(fm_cuda_u8(dst), (int)value, (size_t)n, cu->stream),
                             "fill");
    default: return fm_fail(be, FM_ERR_ARG, "fill: dtype %s unsupported", fm_dtype_name(dst->dtype));
    }
    return fm_cuda_launched(be, "fill");
}

static fm_status cuda_sync(fm_backend *be)
{
    return fm_cuda_check(be, cudaStreamSynchronize(fm_cuda_of(be)->stream), "synchronize");
}

static const char *cuda_describe(fm_backend *be) { return fm_cuda_of(be)->describe; }

static const fm_kernel_fn kernels[FM_OP_COUNT] = {
#define FM_X(id, name, slots) fm_cuda_##name,
    FM_OP_LIST(FM_X)
#undef FM_X
};

/* The table's name and symbol: "cuda", or "cuda-emu" when the test harness builds
 * these same files for the host (tests/cuda_emu). */
#ifndef FM_CUDA_IFACE
#define FM_CUDA_IFACE fm_backend_cuda
#define FM_CUDA_NAME "cuda"
#endif

static fm_backend_iface make_iface()
{
    fm_backend_iface f = {};
    f.name = FM_CUDA_NAME;
    f.open = cuda_open;
    f.close = cuda_close;
    f.upload = cuda_upload;
    f.download = cuda_download;
    f.copy = cuda_copy;
    f.fill = cuda_fill;
    f.sync = cuda_sync;
    f.kernels = kernels;
    f.describe = cuda_describe;
    return f;
}

extern "C" const fm_backend_iface FM_CUDA_IFACE = make_iface();
