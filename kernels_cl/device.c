/* The OpenCL backend's device: which one (platform/device selection), what it is
 * (names, work-group sizes), its context and queue, and CLBlast's GEMM parameters
 * for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"

/* ---- device selection ---------------------------------------------------------------- */

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64 /* in all platforms together */

/* Every device of every platform in platform-major order (the order of
 * cfg->device_index), with the "[i] platform / device" list error messages show. */
typedef struct device_list {
    int n, first_gpu, matched; /* matched: the first whose name contains the match */
    cl_platform_id plat[MAX_DEVICES];
    cl_device_id dev[MAX_DEVICES];
    char seen[FM_ERR_LEN - 128];
    size_t seen_len;
} device_list;

static void seen_add(device_list *l, int idx, const char *plat, const char *dev)
{
    int w = snprintf(l->seen + l->seen_len, sizeof l->seen - l->seen_len, "%s[%d] %s / %s",
                     l->seen_len ? ", " : "", idx, plat, dev);
    if (w > 0 && l->seen_len + (size_t)w < sizeof l->seen)
        l->seen_len += (size_t)w;
}

static void list_platform(device_list *l, cl_platform_id plat, const char *match)
{
    cl_device_id devs[16];
    cl_uint nd = 0;
    if (clGetDeviceIDs(plat, CL_DEVICE_TYPE_ALL, 16, devs, &nd) != CL_SUCCESS)
        return;
    char pname[128] = "?";
    clGetPlatformInfo(plat, CL_PLATFORM_NAME, sizeof pname, pname, NULL);
    for (cl_uint d = 0; d < nd && l->n < MAX_DEVICES; d++, l->n++) {
        char dname[128] = "?";
        cl_device_type type = 0;
        clGetDeviceInfo(devs[d], CL_DEVICE_NAME, sizeof dname, dname, NULL);
        clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof type, &type, NULL);
        l->plat[l->n] = plat;
        l->dev[l->n] = devs[d];
        seen_add(l, l->n, pname, dname);
        if (l->first_gpu < 0 && (type & CL_DEVICE_TYPE_GPU))
            l->first_gpu = l->n;
        if (l->matched < 0 && match && strstr(dname, match))
            l->matched = l->n;
    }
}

static fm_status list_devices(fm_backend *be, device_list *l, const char *match)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (err != CL_SUCCESS || np == 0)
        return fm_fail(be, FM_ERR_NO_DEVICE,
                       "backend opencl: no OpenCL platform found (clGetPlatformIDs: %s); install a "
                       "driver (ICD), e.g. pocl-opencl-icd for CPUs",
                       fm_cl_err_name(err));
    l->n = l->seen_len = 0;
    l->first_gpu = l->matched = -1;
    l->seen[0] = 0;
    for (cl_uint p = 0; p < np && p < MAX_PLATFORMS; p++)
        list_platform(l, plats[p], match);
    if (l->n == 0)
        return fm_fail(be, FM_ERR_NO_DEVICE, "backend opencl: %u platform(s) but no device",
                       (unsigned)np);
    return FM_OK;
}

/* Device `index` in platform-major order (-1: the first GPU, else the first device),
 * or the first whose name contains `match`. */
static fm_status pick_device(fm_backend *be, fm_cl *cl, const fm_backend_config *cfg)
{
    const char *match = cfg->device_match && cfg->device_match[0] ? cfg->device_match : NULL;
    device_list l;
    FM_TRY(list_devices(be, &l, match));
    int chosen = -1;
    if (match)
        chosen = l.matched;
    else if (cfg->device_index >= 0)
        chosen = cfg->device_index < l.n ? cfg->device_index : -1;
    else if (cfg->gpu_only && l.first_gpu < 0)
        return fm_fail(be, FM_ERR_NO_DEVICE,
                       "backend opencl: no GPU (auto leaves CPU devices to the host backends); "
                       "devices seen: %s",
                       l.seen);
    else
        chosen = l.first_gpu >= 0 ? l.first_gpu : 0;
    if (chosen < 0 && match)
        return fm_fail(be, FM_ERR_NO_DEVICE,
                       "backend opencl: no device matches '%s'; devices seen: %s", match, l.seen);
    if (chosen < 0)
        return fm_fail(be, FM_ERR_NO_DEVICE, "backend opencl: no device %d; devices seen: %s",
                       cfg->device_index, l.seen);
    cl->platform = l.plat[chosen];
    cl->device = l.dev[chosen];
    return FM_OK;
}

/* ---- what the device is -------------------------------------------------------------- */

/* Names for describe and the cache key; launch sizes for the device type (cl.h). */
static void query_device(fm_cl *cl)
{
    clGetDeviceInfo(cl->device, CL_DEVICE_NAME, sizeof cl->device_name, cl->device_name, NULL);
    clGetPlatformInfo(cl->platform, CL_PLATFORM_NAME, sizeof cl->platform_name, cl->platform_name,
                      NULL);
    clGetDeviceInfo(cl->device, CL_DRIVER_VERSION, sizeof cl->driver, cl->driver, NULL);
    clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof cl->max_wg, &cl->max_wg,
                    NULL);
    if (cl->max_wg == 0)
        cl->max_wg = 1;
    cl_device_type type = 0;
    clGetDeviceInfo(cl->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    cl->cpu_device = (type & CL_DEVICE_TYPE_CPU) != 0;
    cl->reduce_wg = cl->cpu_device ? 16 : 128;
    cl->elem_wg = cl->cpu_device ? 1024 : 64;
    if (cl->elem_wg > cl->max_wg)
        cl->elem_wg = cl->max_wg;
}

/* CLBlast picks GEMM kernel parameters from its database of tuned devices and falls
 * back to generic defaults for a device it does not know, such as PoCL's CPU device.
 * On PoCL (the items of a work-group run as one vectorised loop on a core) those
 * defaults are slow twice over: Xgemm without local memory ran 1024^3 at 18 GFLOP/s,
 * and every GEMM below a large size threshold goes to XgemmDirect, which ran the
 * conv shapes (64 x 3136 x 576 and the like) at 15-30. The parameters here came from
 * timing a small grid on PoCL (2-core x86-64, AVX-512): 64 x 64
 * tiles per work-group of 8 x 8 items, K in steps of 32 through local memory for both
 * operands, float8 loads (1024^3: 66-80 GFLOP/s), and the indirect Xgemm from
 * 128^3 up (64 x 3136 x 576: about 88). They apply to PoCL CPU devices only;
 * FMRT_CLBLAST_DEFAULTS=1 keeps CLBlast's own choice, to compare. A refused
 * override (a CLBlast without these names) leaves its defaults in place. */
static void tune_clblast(fm_cl *cl)
{
    if (!cl->cpu_device || !strstr(cl->platform_name, "Portable Computing Language") ||
        getenv("FMRT_CLBLAST_DEFAULTS"))
        return;
    static const char *xgemm[] = {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
                                  "NDIMC", "NWG",  "SA",  "SB",  "STRM",  "STRN",  "VWM", "VWN"};
    static const size_t xgemm_v[] = {0, 1, 32, 2, 8, 8, 64, 8, 8, 64, 1, 1, 1, 1, 8, 8};
    static const char *routine[] = {"XGEMM_MIN_INDIRECT_SIZE"};
    static const size_t routine_v[] = {128};
    cl->blast_tuned = CLBlastOverrideParameters(cl->device, "Xgemm", CLBlastPrecisionSingle,
                                                sizeof xgemm / sizeof xgemm[0], xgemm,
                                                xgemm_v) == CLBlastSuccess &&
                      CLBlastOverrideParameters(cl->device, "GemmRoutine", CLBlastPrecisionSingle,
                                                1, routine, routine_v) == CLBlastSuccess;
}

fm_status fm_cl_open_device(fm_backend *be, fm_cl *cl, const fm_backend_config *cfg)
{
    FM_TRY(pick_device(be, cl, cfg));
    query_device(cl);
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)cl->platform, 0};
    cl->ctx = clCreateContext(props, 1, &cl->device, NULL, NULL, &err);
    FM_CL_TRY(err, "create context");
    cl->queue = clCreateCommandQueue(cl->ctx, cl->device, 0, &err);
    FM_CL_TRY(err, "create command queue");
    tune_clblast(cl);
    return FM_OK;
}
