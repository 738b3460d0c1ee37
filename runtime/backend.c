/* The registry and the thin layer between callers and a backend's table. It knows
 * no op maths: it checks shapes (ops.c), moves bytes through the backend and
 * formats messages. */
#include "backend.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* "auto" preference order: fastest first. */
static const fm_backend_iface *const registry[] = {
#ifdef FMRT_HAVE_CUDA
    &fm_backend_cuda,
#endif
#ifdef FMRT_HAVE_OPENCL
    &fm_backend_opencl,
#endif
#ifdef FMRT_HAVE_CPU
    &fm_backend_cpu,
#endif
    &fm_backend_ref, /* last: always opens */
};
#define NREG (sizeof registry / sizeof registry[0])

/* Backends opened by name only: test harnesses, never a choice of "auto". */
static const fm_backend_iface *const named_only[] = {
#ifdef FMRT_HAVE_CUDA_EMU
    &fm_backend_cuda_emu,
#endif
    NULL,
};

/* The backend called name, or NULL. */
static const fm_backend_iface *lookup(const char *name)
{
    for (size_t i = 0; i < NREG; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    for (size_t i = 0; named_only[i]; i++)
        if (strcmp(named_only[i]->name, name) == 0)
            return named_only[i];
    return NULL;
}

static const char *const compiled[] = {
#ifdef FMRT_HAVE_CUDA
    "cuda",
#endif
#ifdef FMRT_HAVE_OPENCL
    "opencl",
#endif
#ifdef FMRT_HAVE_CPU
    "cpu",
#endif
    "ref",
    NULL,
};

static const char *const harnesses[] = {
#ifdef FMRT_HAVE_CUDA_EMU
    "cuda-emu",
#endif
    NULL,
};

/* Names the project knows, compiled in or not, with the CMake switch for each. */
static const char *const known[][2] = {
    {"ref", NULL},
    {"cpu", "-DFMRT_CPU=ON (pthreads; OpenBLAS optional: apt-get install libopenblas-dev)"},
    {"opencl", "-DFMRT_OPENCL=ON (needs an OpenCL ICD loader and CLBlast)"},
    {"cuda", "-DFMRT_CUDA=ON (needs the CUDA toolkit)"},
    {"cuda-emu", "-DFMRT_CUDA_EMU=ON (a test build: the CUDA kernels run on the host)"},
};

const char *const *fm_backend_compiled(void) { return compiled; }

const char *const *fm_backend_test_harnesses(void) { return harnesses; }

int fm_backend_is_compiled(const char *name) { return lookup(name) != NULL; }

fm_status fm_fail(fm_backend *be, fm_status s, const char *fmt, ...)
{
    if (be) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(be->err, sizeof be->err, fmt, ap);
        va_end(ap);
    }
    return s;
}

fm_status fm_backend_host_bytes(const char *name, size_t arena_bytes, int threads, size_t *bytes)
{
    *bytes = 0;
    int is_ref = strcmp(name, "ref") == 0, is_cpu = strcmp(name, "cpu") == 0;
    int is_auto = strcmp(name, "auto") == 0;
    if (!is_ref && !is_cpu && !is_auto)
        return FM_OK;
    size_t extra = 4096; /* alignment of the block and of the arena's first offset */
#ifdef FMRT_HAVE_CPU
    if (is_cpu || is_auto)
        extra += fm_cpu_host_overhead(threads);
#else
    (void)threads;
#endif
    if (arena_bytes > SIZE_MAX - extra)
        return FM_ERR_ARG;
    *bytes = arena_bytes + extra;
    return FM_OK;
}

/* strncat with the bound given as the buffer size. */
static void append(char *dst, size_t size, const char *src)
{
    size_t k = strlen(dst);
    while (*src && k + 1 < size)
        dst[k++] = *src++;
    dst[k] = 0;
}

static fm_status open_one(fm_backend *be, const fm_backend_iface *iface, const fm_backend_config *cfg)
{
    fm_status s;
    memset(be, 0, sizeof *be);
    be->iface = iface;
    if (cfg->mem && cfg->mem_bytes) {
        s = fm_arena_init(&be->host, cfg->mem, cfg->mem_bytes, 0);
        if (s != FM_OK)
            return fm_fail(be, s, "backend %s: bad host memory block", iface->name);
    }
    be->flags = cfg->flags;
    s = iface->open(be, cfg);
    if (s != FM_OK)
        be->iface = NULL;
    return s;
}

fm_status fm_backend_open(fm_backend *be, const fm_backend_config *cfg)
{
    if (!be || !cfg)
        return FM_ERR_ARG;
    const char *name = cfg->name ? cfg->name : "auto";
    if (strcmp(name, "auto") == 0) {
        /* First backend that opens wins; ref always does when given memory. The
         * reasons the others failed stay in the message if all fail. */
        char why[FM_ERR_LEN] = "";
        fm_status s = FM_ERR_NO_DEVICE;
        fm_backend_config ac = *cfg;
        ac.gpu_only = 1;
        for (size_t i = 0; i < NREG; i++) {
            s = open_one(be, registry[i], &ac);
            if (s == FM_OK)
                return FM_OK;
            append(why, sizeof why, why[0] ? "; " : "");
            append(why, sizeof why, be->err);
        }
        return fm_fail(be, s, "no backend could be opened: %s", why);
    }
    const fm_backend_iface *iface = lookup(name);
    if (iface)
        return open_one(be, iface, cfg);
    if (strcmp(name, "plan") == 0)
        return open_one(be, &fm_backend_plan, cfg);
    memset(be, 0, sizeof *be);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i][0], name) == 0)
            return fm_fail(be, FM_ERR_NOT_COMPILED,
                           "backend '%s' is not compiled into this build (configure with %s)", name,
                           known[i][1]);
    return fm_fail(be, FM_ERR_ARG, "unknown backend '%s' (known: auto, ref, cpu, opencl, cuda)", name);
}

void fm_backend_close(fm_backend *be)
{
    if (be && be->iface) {
        if (be->iface->close)
            be->iface->close(be);
        be->iface = NULL;
    }
}

const char *fm_backend_name(const fm_backend *be) { return be && be->iface ? be->iface->name : "none"; }

const char *fm_backend_describe(fm_backend *be)
{
    if (be && be->iface && be->iface->describe)
        return be->iface->describe(be);
    return fm_backend_name(be);
}

const char *fm_backend_error(const fm_backend *be) { return be ? be->err : ""; }

int fm_backend_supports(const fm_backend *be, fm_op op)
{
    return be && be->iface && (unsigned)op < FM_OP_COUNT && be->iface->kernels &&
           be->iface->kernels[op] != NULL;
}

fm_status fm_tensor_alloc(fm_backend *be, fm_tensor *t)
{
    size_t off, bytes;
    if (t->ndim < 1 || t->ndim > FM_MAX_DIMS)
        return fm_fail(be, FM_ERR_ARG, "tensor alloc: bad shape (ndim %d)", t->ndim);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 1)
            return fm_fail(be, FM_ERR_ARG, "tensor alloc: dimension %d is %lld", i,
                           (long long)t->shape[i]);
    /* Shapes may come from a file's config: a size that overflows is an error of
     * its own, not a small allocation. */
    if ((bytes = fm_tensor_bytes(t)) == 0) {
        char sh[96];
        return fm_fail(be, FM_ERR_ARENA, "tensor alloc: %s %s overflows the address space",
                       fm_dtype_name(t->dtype), fm_tensor_shape_str(t, sh, sizeof sh));
    }
    if (fm_arena_alloc(&be->arena, bytes, &off) != FM_OK)
        return fm_fail(be, FM_ERR_ARENA,
                       "%s arena exhausted: tensor of %zu bytes needs %zu, %zu of %zu bytes free",
                       fm_backend_name(be), bytes, fm_arena_round(&be->arena, bytes),
                       fm_arena_free_bytes(&be->arena), be->arena.size);
    t->base = be->buffer;
    t->off = off;
    if (be->iface && be->iface->on_alloc)
        be->iface->on_alloc(be, t);
    return FM_OK;
}

fm_status fm_tensor_free(fm_backend *be, const fm_tensor *t)
{
    size_t bytes = fm_tensor_bytes(t);
    if (!be || t->base != be->buffer || bytes == 0 ||
        fm_arena_free(&be->arena, t->off, bytes) != FM_OK) {
        char sh[96];
        return fm_fail(be, FM_ERR_ARG,
                       "tensor free: %s %s at offset %zu is not a live allocation of this arena "
                       "(%zu bytes used; freed twice?)",
                       fm_dtype_name(t->dtype), fm_tensor_shape_str(t, sh, sizeof sh), t->off,
                       be ? be->arena.used : 0);
    }
    return FM_OK;
}

#define NEED(fn)                                                                                   \
    do {                                                                                           \
        if (!be || !be->iface)                                                                     \
            return fm_fail(be, FM_ERR_ARG, "backend is not open");                                \
        if (!be->iface->fn)                                                                        \
            return fm_fail(be, FM_ERR_NOT_IMPLEMENTED, "backend %s: " #fn " not implemented",     \
                           be->iface->name);                                                       \
    } while (0)

fm_status fm_upload(fm_backend *be, const fm_tensor *dst, const void *src)
{
    NEED(upload);
    return be->iface->upload(be, dst, src);
}

fm_status fm_download(fm_backend *be, void *dst, const fm_tensor *src)
{
    NEED(download);
    return be->iface->download(be, dst, src);
}

fm_status fm_copy(fm_backend *be, const fm_tensor *dst, const fm_tensor *src)
{
    NEED(copy);
    if (fm_tensor_bytes(dst) != fm_tensor_bytes(src))
        return fm_fail(be, FM_ERR_ARG, "copy: %zu bytes into %zu", fm_tensor_bytes(src),
                       fm_tensor_bytes(dst));
    return be->iface->copy(be, dst, src);
}

fm_status fm_fill(fm_backend *be, const fm_tensor *dst, float value)
{
    NEED(fill);
    return be->iface->fill(be, dst, value);
}

fm_status fm_sync(fm_backend *be)
{
    NEED(sync);
    return be->iface->sync(be);
}

fm_status fm_run(fm_backend *be, const fm_call *c)
{
    if (!be || !be->iface)
        return fm_fail(be, FM_ERR_ARG, "backend is not open");
    if (!c || (unsigned)c->op >= FM_OP_COUNT)
        return fm_fail(be, FM_ERR_ARG, "unknown op");
    fm_status s = fm_op_check(c, be->err, sizeof be->err);
    if (s != FM_OK)
        return s;
    if (!fm_backend_supports(be, c->op))
        return fm_fail(be, FM_ERR_UNSUPPORTED, "backend %s does not support op %s", be->iface->name,
                       fm_op_get_info(c->op)->name);
    if (!be->observer)
        return be->iface->kernels[c->op](be, c);
    be->observer(be->observer_user, be, c, 0, FM_OK);
    s = be->iface->kernels[c->op](be, c);
    be->observer(be->observer_user, be, c, 1, s);
    return s;
}
