/* The OpenCL backend's program: every kernels_cl/<op>.cl file as one OpenCL C 1.2
 * program, built once per process, its binary cached on disk so that later processes
 * skip the compiler (PoCL takes minutes). The cache key covers everything that
 * changes the binary: platform, device, driver, device version, build options and
 * the source. FMRT_CACHE_DIR picks the folder (else $XDG_CACHE_HOME/fmrt, else
 * $HOME/.cache/fmrt); FMRT_NO_CL_CACHE=1 turns the cache off. */
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

/* FNV-1a 64: the cache key over everything that changes the binary. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static const char build_options[] = "-cl-std=CL1.2";

static uint64_t cache_key(const fm_cl *cl)
{
    char dev_version[128] = "";
    clGetDeviceInfo(cl->device, CL_DEVICE_VERSION, sizeof dev_version, dev_version, NULL);
    uint64_t key = 1469598103934665603ull;
    key = fnv(key, cl->platform_name, strlen(cl->platform_name));
    key = fnv(key, cl->device_name, strlen(cl->device_name));
    key = fnv(key, cl->driver, strlen(cl->driver));
    key = fnv(key, dev_version, strlen(dev_version));
    key = fnv(key, build_options, sizeof build_options);
    return fnv(key, fm_cl_program_source, strlen(fm_cl_program_source));
}

static int cache_dir(char *dir, size_t len)
{
    const char *env = getenv("FMRT_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
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

/* The program from a binary; 1 when it built. */
static int build_binary(fm_cl *cl, const unsigned char *bin, size_t size)
{
    cl_int err, bstat;
    const unsigned char *bins[1] = {bin};
    size_t sizes[1] = {size};
    cl->program = clCreateProgramWithBinary(cl->ctx, 1, &cl->device, sizes, bins, &bstat, &err);
    int ok = err == CL_SUCCESS && bstat == CL_SUCCESS &&
             clBuildProgram(cl->program, 1, &cl->device, build_options, NULL, NULL) == CL_SUCCESS;
    if (!ok && cl->program) {
        clReleaseProgram(cl->program);
        cl->program = NULL;
    }
    return ok;
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
    uint32_t crc = (uint32_t)hdr[24] | (uint32_t)hdr[25] << 8 | (uint32_t)hdr[26] << 16 |
                   (uint32_t)hdr[27] << 24;
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
    ok = ok && build_binary(cl, bin, (size_t)size);
    fm_arena_reset(&be->host, mark);
    return ok;
}

/* Temp file + rename: a reader sees the old entry or the whole new one. */
static void write_atomic(const char *path, const unsigned char *buf, size_t len)
{
    char tmp[560];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    ssize_t w = write(fd, buf, len);
    int ok = w == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
}

static void store_cached(fm_backend *be, fm_cl *cl, uint64_t key)
{
    size_t size = 0;
    if (clGetProgramInfo(cl->program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
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
        write_atomic(cl->cache_path, buf, size + CACHE_HEADER);
    }
    fm_arena_reset(&be->host, mark);
}

static fm_status build_source(fm_backend *be, fm_cl *cl)
{
    cl_int err;
    const char *src = fm_cl_program_source;
    cl->program = clCreateProgramWithSource(cl->ctx, 1, &src, NULL, &err);
    FM_CL_TRY(err, "create program");
    err = clBuildProgram(cl->program, 1, &cl->device, build_options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[FM_ERR_LEN - 64] = "";
        clGetProgramBuildInfo(cl->program, cl->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log,
                              NULL);
        log[sizeof log - 1] = 0;
        return fm_fail(be, FM_ERR_DRIVER, "opencl: program build failed: %s", log);
    }
    return FM_OK;
}

fm_status fm_cl_build_program(fm_backend *be, fm_cl *cl)
{
    uint64_t key = cache_key(cl);
    char dir[400];
    cl->cache_path[0] = 0;
    if (!getenv("FMRT_NO_CL_CACHE") && cache_dir(dir, sizeof dir))
        snprintf(cl->cache_path, sizeof cl->cache_path, "%s/cl-%016llx.bin", dir,
                 (unsigned long long)key);
    if (cl->cache_path[0] && load_cached(be, cl, key)) {
        cl->cache_hit = 1;
        return FM_OK;
    }
    FM_TRY(build_source(be, cl));
    if (cl->cache_path[0])
        store_cached(be, cl, key);
    return FM_OK;
}
