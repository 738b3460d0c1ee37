/* The OpenCL backend (OpenCL C 1.2 kernels + CLBlast GEMMs). Skeleton: it links
 * against the OpenCL loader and reports what it finds, but has no kernels yet;
 * opening it says so. The kernels land with the OpenCL issue. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>

#include "../runtime/backend.h"

static fm_status cl_open(fm_backend *be, const fm_backend_config *cfg)
{
    (void)cfg;
    cl_uint nplat = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &nplat);
    if (err != CL_SUCCESS || nplat == 0)
        return fm_fail(be, FM_ERR_NO_DEVICE, "backend opencl: no OpenCL platform found (clGetPlatformIDs: %d)",
                       (int)err);
    return fm_fail(be, FM_ERR_NOT_IMPLEMENTED,
                   "backend opencl: not implemented yet (%u platform(s) present; kernels land with the "
                   "OpenCL issue)",
                   (unsigned)nplat);
}

static void cl_close(fm_backend *be) { (void)be; }

static const fm_kernel_fn kernels[FM_OP_COUNT] = {0};

const fm_backend_iface fm_backend_opencl = {
    .name = "opencl",
    .open = cl_open,
    .close = cl_close,
    .kernels = kernels,
};
