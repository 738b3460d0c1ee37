/* The registry: the one file that names every backend table (backend_impl.h), so
 * that the rest of the runtime knows none. It is built into the top library (fmrt),
 * above the backends, not into the runtime core they all link against. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "backend_impl.h"

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
    "ref",    NULL,
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

const char *const *fm_backend_compiled(void)
{
    return compiled;
}

const char *const *fm_backend_test_harnesses(void)
{
    return harnesses;
}

int fm_backend_is_compiled(const char *name)
{
    return lookup(name) != NULL;
}

fm_status fm_backend_host_bytes(const char *name, size_t arena_bytes, int threads, size_t *bytes)
{
    *bytes = 0;
    int is_auto = strcmp(name, "auto") == 0;
    for (size_t i = 0; i < NREG; i++) {
        size_t b = 0;
        if (!is_auto && strcmp(registry[i]->name, name) != 0)
            continue;
        /* "auto" may open any of them: the most any needs. */
        if (registry[i]->host_bytes && registry[i]->host_bytes(arena_bytes, threads, &b) != FM_OK)
            return FM_ERR_ARG;
        if (b > *bytes)
            *bytes = b;
    }
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

static fm_status open_one(fm_backend *be, const fm_backend_iface *iface,
                          const fm_backend_config *cfg)
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
    return fm_fail(be, FM_ERR_ARG, "unknown backend '%s' (known: auto, ref, cpu, opencl, cuda)",
                   name);
}
