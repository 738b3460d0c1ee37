/* The OpenCL backend: device selection, the one device buffer, the program and its
 * on-disk binary cache, memory movement, GEMM through CLBlast, and the table. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cl.h"

/* Backend scratch behind the tensors: im2col columns and reductions. Ops chunk
 * their work to fit, so its size trades speed for memory, never correctness. */
#define FM_CL_SCRATCH_DEFAULT (32u << 20)
/* CLBlast's GEMM temp buffer (padded copies of the operands). */
#define FM_CL_GEMM_TEMP_DEFAULT (32u << 20)

/* ---- errors -------------------------------------------------------------------------- */

static const char *cl_err_name(cl_int e)
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

fm_status fm_cl_check(fm_backend *be, cl_int err, const char *what)
{
    if (err == CL_SUCCESS)
        return FM_OK;
    return fm_fail(be, FM_ERR_DRIVER, "opencl: %s: %s (%d)", what, cl_err_name(err), (int)err);
}

fm_status fm_cl_blast_check(fm_backend *be, CLBlastStatusCode st, const char *what)
{
    if (st == CLBlastSuccess)
        return FM_OK;
    return fm_fail(be, FM_ERR_DRIVER, "opencl: CLBlast %s failed with status %d", what, (int)st);
}

#define CLTRY(call, what) FM_TRY(fm_cl_check(be, (call), what))

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
        return fm_fail(be, FM_ERR_DRIVER, "opencl: kernel %s: %s (%d)", name, cl_err_name(err), (int)err);
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
    CLTRY(clSetKernelArg(k, (*arg)++, sizeof m, &m), "set tensor argument");
    CLTRY(clSetKernelArg(k, (*arg)++, sizeof off, &off), "set offset argument");
    return FM_OK;
}

fm_status fm_cl_arg_int(fm_backend *be, cl_kernel k, cl_uint *arg, int v)
{
    CLTRY(clSetKernelArg(k, (*arg)++, sizeof v, &v), "set int argument");
    return FM_OK;
}

fm_status fm_cl_arg_float(fm_backend *be, cl_kernel k, cl_uint *arg, float v)
{
    CLTRY(clSetKernelArg(k, (*arg)++, sizeof v, &v), "set float argument");
    return FM_OK;
}

fm_status fm_cl_arg_scratch(fm_backend *be, cl_kernel k, cl_uint *arg, size_t byte_off)
{
    fm_cl *cl = fm_cl_of(be);
    cl_uint off = (cl_uint)fm_cl_scratch_elem(be, byte_off);
    CLTRY(clSetKernelArg(k, (*arg)++, sizeof cl->arena, &cl->arena), "set scratch argument");
    CLTRY(clSetKernelArg(k, (*arg)++, sizeof off, &off), "set scratch offset");
    return FM_OK;
}

fm_status fm_cl_run1d(fm_backend *be, cl_kernel k, size_t n)
{
    if (n == 0)
        return FM_OK;
    size_t local = fm_cl_of(be)->elem_wg;
    size_t global = (n + local - 1) / local * local;
    CLTRY(clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 1, NULL, &global, &local, 0, NULL, NULL),
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
    CLTRY(clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 2, NULL, global, local, 0, NULL, NULL),
          "launch 2-D kernel");
    return FM_OK;
}

fm_status fm_cl_gemm(fm_backend *be, size_t m, size_t n, size_t k, float alpha, fm_cl_mat a,
                     fm_cl_mat b, float beta, fm_cl_mat c)
{
    fm_cl *cl = fm_cl_of(be);
    CLBlastTranspose ta = a.trans ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = b.trans ? CLBlastTransposeYes : CLBlastTransposeNo;
    if (m == 1) {
        /* One row of C (a conv with one output channel: conv_out): C[1,n] = a[1,k] op(B)
         * is y = op(B)^T x, a GEMV. Xgemm would pad the single row to a whole tile
         * (64 rows with the PoCL parameters above: 64x the work). Xgemv computes
         * alpha A x + beta y and reads y even for beta = 0, so y is zeroed first. */
        if (beta == 0.0f) {
            float zero = 0.0f;
            CLTRY(clEnqueueFillBuffer(cl->queue, cl->arena, &zero, sizeof zero, c.off * sizeof(float),
                                      n * sizeof(float), 0, NULL, NULL),
                  "zero GEMV output");
        }
        size_t rows = b.trans ? n : k, cols = b.trans ? k : n; /* B as stored */
        CLBlastTranspose tv = b.trans ? CLBlastTransposeNo : CLBlastTransposeYes;
        CLBlastStatusCode st = CLBlastSgemv(CLBlastLayoutRowMajor, tv, rows, cols, alpha, cl->arena,
                                            b.off, b.ld, cl->arena, a.off, a.trans ? a.ld : 1, beta,
                                            cl->arena, c.off, 1, &cl->queue, NULL);
        return fm_cl_blast_check(be, st, "Sgemv");
    }
    size_t need = 0;
    FM_TRY(fm_cl_blast_check(be,
                          CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, m, n, k, a.off, a.ld,
                                                     b.off, b.ld, c.off, c.ld, &cl->queue, &need),
                          "temp buffer size"));
    if (need > cl->gemm_temp_bytes)
        return fm_fail(be, FM_ERR_ARENA,
                       "opencl: GEMM %zux%zux%zu needs %zu bytes of CLBlast temp, %zu reserved", m, n, k,
                       need, cl->gemm_temp_bytes);
    return fm_cl_blast_check(be,
                             CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha,
                                                        cl->arena, a.off, a.ld, cl->arena, b.off, b.ld,
                                                        beta, cl->arena, c.off, c.ld, &cl->queue, NULL,
                                                        cl->gemm_temp),
                             "SgemmWithTempBuffer");
}

/* CLBlast picks GEMM kernel parameters from its database of tuned devices and falls
 * back to generic defaults for a device it does not know, such as PoCL's CPU device.
 * On PoCL (the items of a work-group run as one vectorised loop on a core) those
 * defaults are slow twice over: Xgemm without local memory ran 1024^3 at 18 GFLOP/s,
 * and every GEMM below a large size threshold goes to XgemmDirect, which ran the
 * conv shapes (64 x 3136 x 576 and the like) at 15-30. The parameters here came from
 * timing a small grid on PoCL (2-core x86-64, AVX-512; issue #7's closing note): 64 x 64
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
                                  "NDIMC", "NWG", "SA", "SB", "STRM", "STRN", "VWM", "VWN"};
    static const size_t xgemm_v[] = {0, 1, 32, 2, 8, 8, 64, 8, 8, 64, 1, 1, 1, 1, 8, 8};
    static const char *routine[] = {"XGEMM_MIN_INDIRECT_SIZE"};
    static const size_t routine_v[] = {128};
    cl->blast_tuned =
        CLBlastOverrideParameters(cl->device, "Xgemm", CLBlastPrecisionSingle, sizeof xgemm / sizeof xgemm[0],
                                  xgemm, xgemm_v) == CLBlastSuccess &&
        CLBlastOverrideParameters(cl->device, "GemmRoutine", CLBlastPrecisionSingle, 1, routine, routine_v) ==
            CLBlastSuccess;
}

/* ---- device selection ---------------------------------------------------------------- */

typedef struct seen {
    char text[FM_ERR_LEN - 128];
    size_t len;
} seen;

static void seen_add(seen *s, int idx, const char *plat, const char *dev)
{
    int w = snprintf(s->text + s->len, sizeof s->text - s->len, "%s[%d] %s / %s", s->len ? ", " : "",
                     idx, plat, dev);
    if (w > 0 && s->len + (size_t)w < sizeof s->text)
        s->len += (size_t)w;
}

/* Device `index` in platform-major order (-1: the first GPU, else the first device),
 * or the first whose name contains `match`. */
static fm_status pick_device(fm_backend *be, fm_cl *cl, const fm_backend_config *cfg)
{
    cl_platform_id plats[16];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(16, plats, &np);
    if (err != CL_SUCCESS || np == 0)
        return fm_fail(be, FM_ERR_NO_DEVICE,
                       "backend opencl: no OpenCL platform found (clGetPlatformIDs: %s); install a "
                       "driver (ICD), e.g. pocl-opencl-icd for CPUs",
                       cl_err_name(err));
    seen s = {.len = 0};
    int idx = 0, chosen = -1, first_gpu = -1;
    cl_platform_id cp[64];
    cl_device_id cd[64];
    cl_device_type ct[64];
    for (cl_uint p = 0; p < np && p < 16; p++) {
        cl_device_id devs[16];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd) != CL_SUCCESS)
            continue;
        char pname[128] = "?";
        clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
        for (cl_uint d = 0; d < nd && idx < 64; d++, idx++) {
            char dname[128] = "?";
            clGetDeviceInfo(devs[d], CL_DEVICE_NAME, sizeof dname, dname, NULL);
            clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof ct[idx], &ct[idx], NULL);
            cp[idx] = plats[p];
            cd[idx] = devs[d];
            seen_add(&s, idx, pname, dname);
            if (first_gpu < 0 && (ct[idx] & CL_DEVICE_TYPE_GPU))
                first_gpu = idx;
            if (chosen < 0 && cfg->device_match && cfg->device_match[0] && strstr(dname, cfg->device_match))
                chosen = idx;
            if (chosen < 0 && !(cfg->device_match && cfg->device_match[0]) && cfg->device_index == idx)
                chosen = idx;
        }
    }
    if (idx == 0)
        return fm_fail(be, FM_ERR_NO_DEVICE, "backend opencl: %u platform(s) but no device", (unsigned)np);
    int want_default = !(cfg->device_match && cfg->device_match[0]) && cfg->device_index < 0;
    if (want_default && cfg->gpu_only && first_gpu < 0)
        return fm_fail(be, FM_ERR_NO_DEVICE,
                       "backend opencl: no GPU (auto leaves CPU devices to the host backends); "
                       "devices seen: %s",
                       s.text);
    if (want_default)
        chosen = first_gpu >= 0 ? first_gpu : 0;
    if (chosen < 0) {
        if (cfg->device_match && cfg->device_match[0])
            return fm_fail(be, FM_ERR_NO_DEVICE, "backend opencl: no device matches '%s'; devices seen: %s",
                           cfg->device_match, s.text);
        return fm_fail(be, FM_ERR_NO_DEVICE, "backend opencl: no device %d; devices seen: %s",
                       cfg->device_index, s.text);
    }
    cl->platform = cp[chosen];
    cl->device = cd[chosen];
    return FM_OK;
}

/* ---- program binary cache ------------------------------------------------------------ */

/* FNV-1a 64: the cache key over everything that changes the binary. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static const char build_options[] = "-cl-std=CL1.2";

static int cache_dir(char *dir, size_t len)
{
    const char *env = getenv("FMRT_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (env && env[0])
        snprintf(dir, len, "%s", env);
    else if (xdg && xdg[0])
        snprintf(dir, len, "%s/fmrt", xdg);
    else if (home && home[0])
        snprintf(dir, len, "%s/.cache/fmrt", home);
    else
        return 0;
    /* mkdir -p of at most two levels ($HOME/.cache/fmrt). */
    char parent[512];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        mkdir(parent, 0755);
    }
    return mkdir(dir, 0755) == 0 || errno == EEXIST;
}

/* Cache file: "FMRTCLB1", u64 key, u64 size, u32 crc32(binary), binary. */
#define CACHE_MAGIC "FMRTCLB1"
#define CACHE_HEADER 28

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Try the cached binary; 1 when the program was built from it. A corrupt, stale
 * or rejected entry is ignored (and later overwritten), never trusted. */
static int load_cached(fm_backend *be, fm_cl *cl, uint64_t key)
{
    FILE *f = fopen(cl->cache_path, "rb");
    if (!f)
        return 0;
    unsigned char hdr[CACHE_HEADER];
    int ok = fread(hdr, 1, CACHE_HEADER, f) == CACHE_HEADER && memcmp(hdr, CACHE_MAGIC, 8) == 0 &&
             get64(hdr + 8) == key;
    uint64_t size = ok ? get64(hdr + 16) : 0;
    uint32_t crc = (uint32_t)hdr[24] | (uint32_t)hdr[25] << 8 | (uint32_t)hdr[26] << 16 | (uint32_t)hdr[27] << 24;
    fm_arena_mark mark = fm_arena_get_mark(&be->host, "cache");
    size_t off;
    unsigned char *bin = NULL;
    if (ok && size > 0 && size < (256u << 20) && fm_arena_alloc(&be->host, size, &off) == FM_OK) {
        bin = fm_arena_ptr(&be->host, off);
        ok = fread(bin, 1, size, f) == size && fgetc(f) == EOF &&
             (uint32_t)crc32(0L, bin, (uInt)size) == crc;
    } else
        ok = 0;
    fclose(f);
    if (ok) {
        cl_int err, bstat;
        const unsigned char *bins[1] = {bin};
        size_t sizes[1] = {(size_t)size};
        cl->program = clCreateProgramWithBinary(cl->ctx, 1, &cl->device, sizes, bins, &bstat, &err);
        ok = err == CL_SUCCESS && bstat == CL_SUCCESS &&
             clBuildProgram(cl->program, 1, &cl->device, build_options, NULL, NULL) == CL_SUCCESS;
        if (!ok && cl->program) {
            clReleaseProgram(cl->program);
            cl->program = NULL;
        }
    }
    fm_arena_reset(&be->host, mark);
    return ok;
}

static void store_cached(fm_backend *be, fm_cl *cl, uint64_t key)
{
    size_t size = 0;
    if (clGetProgramInfo(cl->program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0)
        return;
    fm_arena_mark mark = fm_arena_get_mark(&be->host, "cache");
    size_t off;
    if (fm_arena_alloc(&be->host, size + CACHE_HEADER, &off) != FM_OK)
        return;
    unsigned char *buf = fm_arena_ptr(&be->host, off), *bin = buf + CACHE_HEADER;
    if (clGetProgramInfo(cl->program, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS) {
        uint32_t crc = (uint32_t)crc32(0L, bin, (uInt)size);
        memcpy(buf, CACHE_MAGIC, 8);
        put64(buf + 8, key);
        put64(buf + 16, size);
        for (int i = 0; i < 4; i++)
            buf[24 + i] = (unsigned char)(crc >> (8 * i));
        /* Temp file + rename: a reader sees the old entry or the whole new one. */
        char tmp[560];
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", cl->cache_path, (long)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ssize_t w = write(fd, buf, size + CACHE_HEADER);
            int ok = w == (ssize_t)(size + CACHE_HEADER) && fsync(fd) == 0;
            close(fd);
            if (!ok || rename(tmp, cl->cache_path) != 0)
                unlink(tmp);
        }
    }
    fm_arena_reset(&be->host, mark);
}

static fm_status build_program(fm_backend *be, fm_cl *cl)
{
    char dev_version[128] = "";
    clGetDeviceInfo(cl->device, CL_DEVICE_VERSION, sizeof dev_version, dev_version, NULL);
    uint64_t key = 1469598103934665603ull;
    key = fnv(key, cl->platform_name, strlen(cl->platform_name));
    key = fnv(key, cl->device_name, strlen(cl->device_name));
    key = fnv(key, cl->driver, strlen(cl->driver));
    key = fnv(key, dev_version, strlen(dev_version));
    key = fnv(key, build_options, sizeof build_options);
    key = fnv(key, fm_cl_program_source, strlen(fm_cl_program_source));
    char dir[400];
    cl->cache_path[0] = 0;
    if (!getenv("FMRT_NO_CL_CACHE") && cache_dir(dir, sizeof dir))
        snprintf(cl->cache_path, sizeof cl->cache_path, "%s/cl-%016llx.bin", dir, (unsigned long long)key);
    if (cl->cache_path[0] && load_cached(be, cl, key)) {
        cl->cache_hit = 1;
        return FM_OK;
    }
    cl_int err;
    const char *src = fm_cl_program_source;
    cl->program = clCreateProgramWithSource(cl->ctx, 1, &src, NULL, &err);
    CLTRY(err, "create program");
    err = clBuildProgram(cl->program, 1, &cl->device, build_options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[FM_ERR_LEN - 64] = "";
        clGetProgramBuildInfo(cl->program, cl->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        log[sizeof log - 1] = 0;
        return fm_fail(be, FM_ERR_DRIVER, "opencl: program build failed: %s", log);
    }
    if (cl->cache_path[0])
        store_cached(be, cl, key);
    return FM_OK;
}

/* ---- the table ----------------------------------------------------------------------- */

static void cl_close(fm_backend *be);

static fm_status cl_open_inner(fm_backend *be, const fm_backend_config *cfg)
{
    size_t off;
    if (fm_arena_alloc(&be->host, sizeof(fm_cl), &off) != FM_OK)
        return fm_fail(be, FM_ERR_ARG, "backend opencl: host memory block too small (%zu bytes needed)",
                       sizeof(fm_cl));
    fm_cl *cl = fm_arena_ptr(&be->host, off);
    memset(cl, 0, sizeof *cl);
    be->impl = cl;
    FM_TRY(pick_device(be, cl, cfg));
    clGetDeviceInfo(cl->device, CL_DEVICE_NAME, sizeof cl->device_name, cl->device_name, NULL);
    clGetPlatformInfo(cl->platform, CL_PLATFORM_NAME, sizeof cl->platform_name, cl->platform_name, NULL);
    clGetDeviceInfo(cl->device, CL_DRIVER_VERSION, sizeof cl->driver, cl->driver, NULL);
    clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof cl->max_wg, &cl->max_wg, NULL);
    if (cl->max_wg == 0)
        cl->max_wg = 1;
    cl_device_type type = 0;
    clGetDeviceInfo(cl->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    cl->cpu_device = (type & CL_DEVICE_TYPE_CPU) != 0;
    cl->reduce_wg = cl->cpu_device ? 16 : 128;
    cl->elem_wg = cl->cpu_device ? 1024 : 64;
    if (cl->elem_wg > cl->max_wg)
        cl->elem_wg = cl->max_wg;
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)cl->platform, 0};
    cl->ctx = clCreateContext(props, 1, &cl->device, NULL, NULL, &err);
    CLTRY(err, "create context");
    cl->queue = clCreateCommandQueue(cl->ctx, cl->device, 0, &err);
    CLTRY(err, "create command queue");
    tune_clblast(cl);

    /* The one allocation: tensors, then scratch, then the GEMM temp buffer, each
     * starting on the device's base-address alignment (sub-buffers require it). */
    cl_uint align_bits = 1024;
    clGetDeviceInfo(cl->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
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
        return fm_fail(be, FM_ERR_ARENA,
                       "backend opencl: %s allows one allocation of at most %llu bytes; the arena needs "
                       "%zu (%zu tensors + %zu scratch + %zu GEMM temp)",
                       cl->device_name, (unsigned long long)max_alloc, total, tensors, cl->scratch_bytes,
                       cl->gemm_temp_bytes);
    cl->arena = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE, total, NULL, &err);
    if (err != CL_SUCCESS)
        return fm_fail(be, FM_ERR_ARENA, "backend opencl: device allocation of %zu bytes failed: %s", total,
                       cl_err_name(err));
    cl_buffer_region region = {tensors + cl->scratch_bytes, cl->gemm_temp_bytes};
    cl->gemm_temp = clCreateSubBuffer(cl->arena, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    CLTRY(err, "create GEMM temp sub-buffer");
    FM_TRY(fm_arena_init(&be->arena, NULL, tensors, align));
    be->buffer = cl->arena;
    FM_TRY(build_program(be, cl));
    snprintf(cl->describe, sizeof cl->describe, "opencl: %s (%s, driver %s%s)", cl->device_name,
             cl->platform_name, cl->driver, cl->blast_tuned ? "; fmrt's CLBlast GEMM parameters" : "");
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
    CLTRY(clEnqueueWriteBuffer(fm_cl_of(be)->queue, (cl_mem)dst->base, CL_TRUE, dst->off,
                               fm_tensor_bytes(dst), src, 0, NULL, NULL),
          "upload");
    return FM_OK;
}

static fm_status cl_download(fm_backend *be, void *dst, const fm_tensor *src)
{
    CLTRY(clEnqueueReadBuffer(fm_cl_of(be)->queue, (cl_mem)src->base, CL_TRUE, src->off,
                              fm_tensor_bytes(src), dst, 0, NULL, NULL),
          "download");
    return FM_OK;
}

static fm_status cl_copy(fm_backend *be, const fm_tensor *dst, const fm_tensor *src)
{
    if (dst->base == src->base && dst->off == src->off)
        return FM_OK;
    CLTRY(clEnqueueCopyBuffer(fm_cl_of(be)->queue, (cl_mem)src->base, (cl_mem)dst->base, src->off,
                              dst->off, fm_tensor_bytes(dst), 0, NULL, NULL),
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
    default: return fm_fail(be, FM_ERR_ARG, "fill: dtype %s unsupported", fm_dtype_name(dst->dtype));
    }
    CLTRY(clEnqueueFillBuffer(fm_cl_of(be)->queue, (cl_mem)dst->base, &pat, psize, dst->off,
                              fm_tensor_bytes(dst), 0, NULL, NULL),
          "fill");
    return FM_OK;
}

static fm_status cl_sync(fm_backend *be)
{
    CLTRY(clFinish(fm_cl_of(be)->queue), "finish");
    return FM_OK;
}

static const char *cl_describe(fm_backend *be) { return fm_cl_of(be)->describe; }

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
