/* The cpu backend's table and its share of the caller's host block.
 *
 * Memory: the caller's block (cfg.mem) is laid out as
 *
 *   [ fm_cpu state | GEMM packing x threads | shared scratch | threads x scratch |
 *     tensor arena ................................................................ ]
 *
 * The tensor arena gets exactly cfg.arena_bytes when the caller names it (the planner's
 * figure; fm_backend_host_bytes says how large the block must then be), else what is
 * left after a scratch of at most half the block. Tensors are host pointers, so memory
 * movement is memcpy, exactly as in kernels_ref/backend.c. The state itself (threads,
 * scratch, forced paths) is pool.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* Per-thread scratch: enough for the im2col and weight-gradient tiles of every conv of
 * the mnist preset at a tile width of ~1024 columns (conv2d.c sizes its tiles to what
 * is there). */
#define FM_CPU_SCRATCH_BYTES ((size_t)16 << 20)
/* Shared by all threads: Winograd's transformed weights, 16 x Co x Ci floats (2 MiB for
 * the largest conv of the mnist preset). */
#define FM_CPU_SHARED_BYTES ((size_t)8 << 20)

/* One entry per op of FM_OP_LIST (cpu.h declares them all: a missing one fails the
 * link, naming it). */
static const fm_kernel_fn kernels[FM_OP_COUNT] = {
#define FM_X(id, name, slots) [FM_OP_##id] = fm_cpu_##name,
    FM_OP_LIST(FM_X)
#undef FM_X
};

/* The host block beyond the tensor arena: state + alignment slack + scratch. */
static size_t host_overhead(int threads)
{
    size_t nt = (size_t)fm_cpu_resolve_threads(threads);
    return fm_cpu_state_bytes() + 4 * FM_ARENA_MIN_ALIGN + FM_CPU_SHARED_BYTES +
           nt * (FM_CPU_SCRATCH_BYTES + fm_cpu_gemm_pack_floats() * sizeof(float) +
                 FM_ARENA_MIN_ALIGN);
}

static fm_status cpu_host_bytes(size_t arena_bytes, int threads, size_t *bytes)
{
    return fm_host_arena_bytes(arena_bytes, host_overhead(threads), bytes);
}

/* The description: threads, GEMM, scratch, precision and what is forced. */
static void describe(fm_cpu *cpu, int want16)
{
    const fm_cpu_force *f = fm_cpu_forced(cpu);
    int nt = fm_cpu_threads(cpu);
    /* bf16 without a bf16 GEMM: float32, said here (a clean fallback: the same results
     * as without the flag) */
    const char *kernel = fm_cpu_bf16_kernel(f);
    char prec[64] = "";
    if (want16 && kernel)
        snprintf(prec, sizeof prec, ", bf16 3x3 convs (%s)", kernel);
    else if (want16)
        snprintf(prec, sizeof prec, ", bf16 asked: no AVX512-BF16 in this build, float32");
    char forced[96];
    fm_cpu_force_describe(f, forced, sizeof forced);
    snprintf(fm_cpu_desc(cpu), FM_CPU_DESC, "cpu (%d thread%s, %s, %zu MiB scratch/thread%s%s%s)",
             nt, nt == 1 ? "" : "s", fm_cpu_gemm_name(),
             fm_cpu_scratch_floats(cpu) * sizeof(float) >> 20, prec,
             forced[0] ? ", FMRT_CPU_FORCE=" : "", forced);
}

static fm_status cpu_open(fm_backend *be, const fm_backend_config *cfg)
{
    if (!cfg->mem || cfg->mem_bytes == 0 || be->host.size == 0)
        return fm_fail(be, FM_ERR_ARG, "backend cpu: no host memory given for its arena");
    fm_cpu_force force;
    char err[160];
    if (!fm_cpu_force_parse(getenv("FMRT_CPU_FORCE"), &force, err, sizeof err))
        return fm_fail(be, FM_ERR_ARG, "backend cpu: %s", err);
    size_t off;
    if (fm_arena_alloc(&be->host, fm_cpu_state_bytes(), &off) != FM_OK)
        return fm_fail(be, FM_ERR_ARENA, "backend cpu: host block of %zu bytes is too small",
                       cfg->mem_bytes);
    fm_cpu *cpu = fm_arena_ptr(&be->host, off);
    if (cfg->arena_bytes && fm_arena_free_bytes(&be->host) < cfg->arena_bytes)
        return fm_fail(be, FM_ERR_ARENA,
                       "backend cpu: host block of %zu bytes cannot hold a %zu-byte arena and "
                       "the backend's state (fm_backend_host_bytes gives the size)",
                       cfg->mem_bytes, cfg->arena_bytes);
    /* Scratch: what the caller left beyond the tensor arena it asked for (capped), or at
     * most half the block when it asked for none. */
    size_t left = fm_arena_free_bytes(&be->host);
    size_t budget = cfg->arena_bytes ? (left > cfg->arena_bytes + FM_ARENA_MIN_ALIGN
                                            ? left - cfg->arena_bytes - FM_ARENA_MIN_ALIGN
                                            : 0)
                                     : left / 2;
    fm_cpu_sizes sz = {FM_CPU_SHARED_BYTES, FM_CPU_SCRATCH_BYTES, fm_cpu_gemm_pack_floats()};
    int want16 = (cfg->flags & FM_BACKEND_BF16) != 0;
    fm_cpu_gemm_init();
    int started = fm_cpu_start(cpu, fm_cpu_resolve_threads(cfg->threads), &be->host, budget, &sz,
                               &force, want16 && fm_cpu_bf16_kernel(&force));
    be->impl = cpu;
    if (!started)
        return fm_fail(be, FM_ERR_DRIVER, "backend cpu: cannot create the pool's locks");
    /* The tensor arena: the rest of the block. */
    size_t used = be->host.used;
    if (fm_arena_init(&be->arena, be->host.base + used, be->host.size - used, 0) != FM_OK)
        return fm_fail(be, FM_ERR_ARG, "backend cpu: bad host memory block");
    be->buffer = be->arena.base;
    describe(cpu, want16);
    return FM_OK;
}

static void cpu_close(fm_backend *be)
{
    if (be->impl)
        fm_cpu_stop(be->impl);
    be->impl = NULL;
}

static const char *cpu_describe(fm_backend *be)
{
    return fm_cpu_desc(be->impl);
}

const fm_backend_iface fm_backend_cpu = {
    .name = "cpu",
    .open = cpu_open,
    .close = cpu_close,
    .upload = fm_ref_host_upload, /* host memory, as ref */
    .download = fm_ref_host_download,
    .copy = fm_ref_host_copy,
    .fill = fm_ref_host_fill,
    .sync = fm_ref_host_sync,
    .kernels = kernels,
    .describe = cpu_describe,
    .host_bytes = cpu_host_bytes,
};
