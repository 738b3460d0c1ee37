/* The OpenCL backend: open and close, the one device buffer, memory movement, describe
 * and the table. The device is chosen in device.c, the program built (or loaded from
 * its on-disk cache) in cache.c; the per-op host files launch through launch.c. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cl.h"

/* Backend scratch behind the tensors: im2col columns and reductions. Ops chunk
 * their work to fit, so its size trades speed for memory, never correctness. */
#define FM_CL_SCRATCH_DEFAULT (32u << 20)
/* CLBlast's GEMM temp buffer (padded copies of the operands). */
#define FM_CL_GEMM_TEMP_DEFAULT (32u << 20)

/* The one allocation: tensors, then scratch, then the GEMM temp buffer, each
 * starting on the device's base-address alignment (sub-buffers require it). */
static fm_status alloc_arena(fm_backend *be, fm_cl *cl, const fm_backend_config *cfg)
{
    cl_uint align_bits = 1024;
    clGetDeviceInfo(cl->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits,
                    NULL);
    size_t align = align_bits / 8 < 64 ? 64 : align_bits / 8;
    size_t tensors = (cfg->arena_bytes + align - 1) / align * align;
    if (tensors == 0)
        return fm_fail(be, FM_ERR_ARG, "backend opencl: arena_bytes is 0");
    cl->tensor_bytes = tensors;
    cl->scratch_off = tensors;
    cl->scratch_bytes = FM_CL_SCRATCH_DEFAULT;
    cl->gemm_temp_bytes = FM_CL_GEMM_TEMP_DEFAULT;
    size_t total = tensors + cl->scratch_bytes + cl->gemm_temp_bytes;
    cl_ulong max_alloc = 0;
    clGetDeviceInfo(cl->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    if (max_alloc && total > max_alloc)
        return fm_fail(
            be, FM_ERR_ARENA,
            "backend opencl: %s allows one allocation of at most %llu bytes; the arena needs "
            "%zu (%zu tensors + %zu scratch + %zu GEMM temp)",
            cl->device_name, (unsigned long long)max_alloc, total, tensors, cl->scratch_bytes,
            cl->gemm_temp_bytes);
    cl_int err;
    cl->arena = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE, total, NULL, &err);
    if (err != CL_SUCCESS)
        return fm_fail(be, FM_ERR_ARENA,
                       "backend opencl: device allocation of %zu bytes failed: %s", total,
                       fm_cl_err_name(err));
    cl_buffer_region region = {tensors + cl->scratch_bytes, cl->gemm_temp_bytes};
    cl->gemm_temp = clCreateSubBuffer(cl->arena, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                                      &region, &err);
    FM_CL_TRY(err, "create GEMM temp sub-buffer");
    FM_TRY(fm_arena_init(&be->arena, NULL, tensors, align));
    be->buffer = cl->arena;
    return FM_OK;
}

/* ---- open and close ------------------------------------------------------------------ */

static void cl_close(fm_backend *be);

static fm_status cl_open_inner(fm_backend *be, const fm_backend_config *cfg)
{
    size_t off;
    if (fm_arena_alloc(&be->host, sizeof(fm_cl), &off) != FM_OK)
        return fm_fail(be, FM_ERR_ARG,
                       "backend opencl: host memory block too small (%zu bytes needed)",
                       sizeof(fm_cl));
    fm_cl *cl = fm_arena_ptr(&be->host, off);
    memset(cl, 0, sizeof *cl);
    be->impl = cl;
    FM_TRY(fm_cl_open_device(be, cl, cfg));
    FM_TRY(alloc_arena(be, cl, cfg));
    FM_TRY(fm_cl_build_program(be, cl));
    snprintf(cl->describe, sizeof cl->describe, "opencl: %s (%s, driver %s%s)", cl->device_name,
             cl->platform_name, cl->driver,
             cl->blast_tuned ? "; fmrt's CLBlast GEMM parameters" : "");
    return FM_OK;
}

/* A failed open releases what it created: the registry never calls close then. */
static fm_status cl_open(fm_backend *be, const fm_backend_config *cfg)
{
    fm_status s = cl_open_inner(be, cfg);
    if (s != FM_OK)
        cl_close(be);
    return s;
}

static void cl_close(fm_backend *be)
{
    fm_cl *cl = fm_cl_of(be);
    if (!cl)
        return;
    if (cl->queue)
        clFinish(cl->queue);
    for (int i = 0; i < cl->nkernels; i++)
        clReleaseKernel(cl->kernels[i]);
    if (cl->program)
        clReleaseProgram(cl->program);
    if (cl->gemm_temp)
        clReleaseMemObject(cl->gemm_temp);
    if (cl->arena)
        clReleaseMemObject(cl->arena);
    if (cl->queue)
        clReleaseCommandQueue(cl->queue);
    if (cl->ctx)
        clReleaseContext(cl->ctx);
    memset(cl, 0, sizeof *cl);
}

static fm_status cl_upload(fm_backend *be, const fm_tensor *dst, const void *src)
{
    FM_CL_TRY(clEnqueueWriteBuffer(fm_cl_of(be)->queue, (cl_mem)dst->base, CL_TRUE, dst->off,
                                   fm_tensor_bytes(dst), src, 0, NULL, NULL),
              "upload");
    return FM_OK;
}

static fm_status cl_download(fm_backend *be, void *dst, const fm_tensor *src)
{
    FM_CL_TRY(clEnqueueReadBuffer(fm_cl_of(be)->queue, (cl_mem)src->base, CL_TRUE, src->off,
                                  fm_tensor_bytes(src), dst, 0, NULL, NULL),
              "download");
    return FM_OK;
}

static fm_status cl_copy(fm_backend *be, const fm_tensor *dst, const fm_tensor *src)
{
    if (dst->base == src->base && dst->off == src->off)
        return FM_OK;
    FM_CL_TRY(clEnqueueCopyBuffer(fm_cl_of(be)->queue, (cl_mem)src->base, (cl_mem)dst->base,
                                  src->off, dst->off, fm_tensor_bytes(dst), 0, NULL, NULL),
              "copy");
    return FM_OK;
}

static fm_status cl_fill(fm_backend *be, const fm_tensor *dst, float value)
{
    union {
        float f;
        int32_t i;
        uint8_t u;
    } pat;
    size_t psize = fm_dtype_size(dst->dtype);
    switch (dst->dtype) {
    case FM_F32: pat.f = value; break;
    case FM_I32: pat.i = (int32_t)value; break;
    case FM_U8: pat.u = (uint8_t)value; break;
    default:
        return fm_fail(be, FM_ERR_ARG, "fill: dtype %s unsupported", fm_dtype_name(dst->dtype));
    }
    FM_CL_TRY(clEnqueueFillBuffer(fm_cl_of(be)->queue, (cl_mem)dst->base, &pat, psize, dst->off,
                                  fm_tensor_bytes(dst), 0, NULL, NULL),
              "fill");
    return FM_OK;
}

static fm_status cl_sync(fm_backend *be)
{
    FM_CL_TRY(clFinish(fm_cl_of(be)->queue), "finish");
    return FM_OK;
}

static const char *cl_describe(fm_backend *be)
{
    return fm_cl_of(be)->describe;
}

/* ---- the table ----------------------------------------------------------------------- */

static const fm_kernel_fn kernels[FM_OP_COUNT] = {
#define FM_X(id, name, slots) [FM_OP_##id] = fm_cl_##name,
    FM_OP_LIST(FM_X)
#undef FM_X
};

const fm_backend_iface fm_backend_opencl = {
    .name = "opencl",
    .open = cl_open,
    .close = cl_close,
    .upload = cl_upload,
    .download = cl_download,
    .copy = cl_copy,
    .fill = cl_fill,
    .sync = cl_sync,
    .kernels = kernels,
    .describe = cl_describe,
};
