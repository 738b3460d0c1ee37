/* The OpenCL backend's launch helpers, shared by every per-op host file: error
 * names and checks, kernels by name, argument setters, 1-D and 2-D launches, and
 * GEMM through CLBlast. */
#include <string.h>

#include "cl.h"

/* ---- errors -------------------------------------------------------------------------- */

/* clang-format off */
const char *fm_cl_err_name(cl_int e)
{
    switch (e) {
#define C(x) case x: return #x;
        C(CL_DEVICE_NOT_FOUND) C(CL_DEVICE_NOT_AVAILABLE) C(CL_COMPILER_NOT_AVAILABLE)
        C(CL_MEM_OBJECT_ALLOCATION_FAILURE) C(CL_OUT_OF_RESOURCES) C(CL_OUT_OF_HOST_MEMORY)
        C(CL_BUILD_PROGRAM_FAILURE) C(CL_INVALID_VALUE) C(CL_INVALID_DEVICE) C(CL_INVALID_BINARY)
        C(CL_INVALID_BUFFER_SIZE) C(CL_INVALID_MEM_OBJECT) C(CL_INVALID_KERNEL_NAME)
        C(CL_INVALID_KERNEL_ARGS) C(CL_INVALID_ARG_INDEX) C(CL_INVALID_ARG_VALUE)
        C(CL_INVALID_ARG_SIZE) C(CL_INVALID_WORK_GROUP_SIZE) C(CL_INVALID_WORK_ITEM_SIZE)
        C(CL_INVALID_GLOBAL_OFFSET) C(CL_INVALID_COMMAND_QUEUE) C(CL_INVALID_CONTEXT)
        C(CL_INVALID_PROGRAM_EXECUTABLE) C(CL_INVALID_OPERATION) C(CL_PLATFORM_NOT_FOUND_KHR)
        C(CL_MISALIGNED_SUB_BUFFER_OFFSET) C(CL_INVALID_PLATFORM)
#undef C
    default: return "CL error";
    }
}
/* clang-format on */

fm_status fm_cl_check(fm_backend *be, cl_int err, const char *what)
{
    if (err == CL_SUCCESS)
        return FM_OK;
    return fm_fail(be, FM_ERR_DRIVER, "opencl: %s: %s (%d)", what, fm_cl_err_name(err), (int)err);
}

fm_status fm_cl_blast_check(fm_backend *be, CLBlastStatusCode st, const char *what)
{
    if (st == CLBlastSuccess)
        return FM_OK;
    return fm_fail(be, FM_ERR_DRIVER, "opencl: CLBlast %s failed with status %d", what, (int)st);
}

/* ---- kernels and launches ------------------------------------------------------------ */

fm_status fm_cl_kernel(fm_backend *be, const char *name, cl_kernel *k)
{
    fm_cl *cl = fm_cl_of(be);
    for (int i = 0; i < cl->nkernels; i++)
        if (cl->kernel_names[i] == name || strcmp(cl->kernel_names[i], name) == 0) {
            *k = cl->kernels[i];
            return FM_OK;
        }
    if (cl->nkernels == FM_CL_MAX_KERNELS)
        return fm_fail(be, FM_ERR_DRIVER, "opencl: more than %d kernels", FM_CL_MAX_KERNELS);
    cl_int err;
    cl_kernel nk = clCreateKernel(cl->program, name, &err);
    if (err != CL_SUCCESS)
        return fm_fail(be, FM_ERR_DRIVER, "opencl: kernel %s: %s (%d)", name, fm_cl_err_name(err),
                       (int)err);
    cl->kernel_names[cl->nkernels] = name; /* callers pass string literals */
    cl->kernels[cl->nkernels++] = nk;
    *k = nk;
    return FM_OK;
}

fm_status fm_cl_arg_tensor(fm_backend *be, cl_kernel k, cl_uint *arg, const fm_tensor *t)
{
    /* Absent optional tensors pass the arena and offset 0; kernels get a flag. */
    cl_mem m = t->ndim ? (cl_mem)t->base : fm_cl_of(be)->arena;
    cl_uint off = t->ndim ? (cl_uint)fm_cl_elem(t) : 0;
    FM_CL_TRY(clSetKernelArg(k, (*arg)++, sizeof m, &m), "set tensor argument");
    FM_CL_TRY(clSetKernelArg(k, (*arg)++, sizeof off, &off), "set offset argument");
    return FM_OK;
}

fm_status fm_cl_arg_int(fm_backend *be, cl_kernel k, cl_uint *arg, int v)
{
    FM_CL_TRY(clSetKernelArg(k, (*arg)++, sizeof v, &v), "set int argument");
    return FM_OK;
}

fm_status fm_cl_arg_float(fm_backend *be, cl_kernel k, cl_uint *arg, float v)
{
    FM_CL_TRY(clSetKernelArg(k, (*arg)++, sizeof v, &v), "set float argument");
    return FM_OK;
}

fm_status fm_cl_arg_scratch(fm_backend *be, cl_kernel k, cl_uint *arg, size_t byte_off)
{
    fm_cl *cl = fm_cl_of(be);
    cl_uint off = (cl_uint)fm_cl_scratch_elem(be, byte_off);
    FM_CL_TRY(clSetKernelArg(k, (*arg)++, sizeof cl->arena, &cl->arena), "set scratch argument");
    FM_CL_TRY(clSetKernelArg(k, (*arg)++, sizeof off, &off), "set scratch offset");
    return FM_OK;
}

fm_status fm_cl_run1d(fm_backend *be, cl_kernel k, size_t n)
{
    if (n == 0)
        return FM_OK;
    size_t local = fm_cl_of(be)->elem_wg;
    size_t global = (n + local - 1) / local * local;
    FM_CL_TRY(
        clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 1, NULL, &global, &local, 0, NULL, NULL),
        "launch 1-D kernel");
    return FM_OK;
}

fm_status fm_cl_run2d(fm_backend *be, cl_kernel k, size_t n0, size_t n1, size_t local0)
{
    if (n0 == 0 || n1 == 0)
        return FM_OK;
    if (local0 == 0) { /* elem_wg, or the row rounded up to 16 when shorter */
        local0 = (n0 + 15) / 16 * 16;
        if (local0 > fm_cl_of(be)->elem_wg)
            local0 = fm_cl_of(be)->elem_wg;
    }
    if (local0 > fm_cl_of(be)->max_wg)
        local0 = fm_cl_of(be)->max_wg;
    size_t local[2] = {local0, 1};
    size_t global[2] = {(n0 + local0 - 1) / local0 * local0, n1};
    FM_CL_TRY(clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 2, NULL, global, local, 0, NULL, NULL),
              "launch 2-D kernel");
    return FM_OK;
}

/* ---- GEMM ---------------------------------------------------------------------------- */

/* One row of C (a conv with one output channel: conv_out): C[1,n] = a[1,k] op(B) is
 * y = op(B)^T x, a GEMV. Xgemm would pad the single row to a whole tile (64 rows with
 * the PoCL parameters of device.c: 64x the work). Xgemv computes alpha A x + beta y
 * and reads y even for beta = 0, so y is zeroed first. */
static fm_status gemv_row(fm_backend *be, size_t n, size_t k, float alpha, fm_cl_mat a, fm_cl_mat b,
                          float beta, fm_cl_mat c)
{
    fm_cl *cl = fm_cl_of(be);
    if (beta == 0.0f) {
        float zero = 0.0f;
        FM_CL_TRY(clEnqueueFillBuffer(cl->queue, cl->arena, &zero, sizeof zero,
                                      c.off * sizeof(float), n * sizeof(float), 0, NULL, NULL),
                  "zero GEMV output");
    }
    size_t rows = b.trans ? n : k, cols = b.trans ? k : n; /* B as stored */
    CLBlastTranspose tv = b.trans ? CLBlastTransposeNo : CLBlastTransposeYes;
    CLBlastStatusCode st = CLBlastSgemv(CLBlastLayoutRowMajor, tv, rows, cols, alpha, cl->arena,
                                        b.off, b.ld, cl->arena, a.off, a.trans ? a.ld : 1, beta,
                                        cl->arena, c.off, 1, &cl->queue, NULL);
    return fm_cl_blast_check(be, st, "Sgemv");
}

fm_status fm_cl_gemm(fm_backend *be, size_t m, size_t n, size_t k, float alpha, fm_cl_mat a,
                     fm_cl_mat b, float beta, fm_cl_mat c)
{
    fm_cl *cl = fm_cl_of(be);
    if (m == 1)
        return gemv_row(be, n, k, alpha, a, b, beta, c);
    CLBlastTranspose ta = a.trans ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = b.trans ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t need = 0;
    FM_TRY(fm_cl_blast_check(be,
                             CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, m, n, k,
                                                        a.off, a.ld, b.off, b.ld, c.off, c.ld,
                                                        &cl->queue, &need),
                             "temp buffer size"));
    if (need > cl->gemm_temp_bytes)
        return fm_fail(be, FM_ERR_ARENA,
                       "opencl: GEMM %zux%zux%zu needs %zu bytes of CLBlast temp, %zu reserved", m,
                       n, k, need, cl->gemm_temp_bytes);
    return fm_cl_blast_check(be,
                             CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, m, n, k,
                                                        alpha, cl->arena, a.off, a.ld, cl->arena,
                                                        b.off, b.ld, beta, cl->arena, c.off, c.ld,
                                                        &cl->queue, NULL, cl->gemm_temp),
                             "SgemmWithTempBuffer");
}
