/* The CUDA backend (CUDA kernels + cuBLAS). Skeleton: it links against the CUDA
 * runtime and reports what it finds, but has no kernels yet; opening it says so.
 * The kernels land with the CUDA issue. */
#include <cuda_runtime.h>

extern "C" {
#include "../runtime/backend.h"
}

static fm_status cuda_open(fm_backend *be, const fm_backend_config *cfg)
{
    (void)cfg;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess)
        return fm_fail(be, FM_ERR_NO_DEVICE, "backend cuda: no usable device (%s: %s)",
                       cudaGetErrorName(err), cudaGetErrorString(err));
    if (n == 0)
        return fm_fail(be, FM_ERR_NO_DEVICE, "backend cuda: no CUDA device present");
    return fm_fail(be, FM_ERR_NOT_IMPLEMENTED,
                   "backend cuda: not implemented yet (%d device(s) present; kernels land with the "
                   "CUDA issue)",
                   n);
}

static void cuda_close(fm_backend *be) { (void)be; }

static const fm_kernel_fn kernels[FM_OP_COUNT] = {};

static fm_backend_iface make_iface()
{
    fm_backend_iface f = {};
    f.name = "cuda";
    f.open = cuda_open;
    f.close = cuda_close;
    f.kernels = kernels;
    return f;
}

extern "C" const fm_backend_iface fm_backend_cuda = make_iface();
