/* The cpu backend's table, its thread pool and its share of the caller's host block.
 *
 * Memory: the caller's block (cfg.mem) is laid out as
 *
 *   [ fm_cpu state | shared scratch | threads x scratch | tensor arena ................ ]
 *
 * The tensor arena gets exactly cfg.arena_bytes when the caller names it (the planner's
 * figure; fm_backend_host_bytes says how large the block must then be), else what is
 * left after a scratch of at most half the block. Tensors are host pointers, so memory
 * movement is memcpy, exactly as in kernels_ref/backend.c.
 *
 * Threads: nthreads - 1 pthreads started at open (the caller's thread is tid 0);
 * pthread_create's stacks and thread records are the C library's, like OpenBLAS's
 * buffers are OpenBLAS's. A parallel region is: publish (fn, ctx, n), bump the
 * generation, broadcast; every thread takes items from one atomic counter, a few at a
 * time; the last worker to finish signals. One region at a time: the backend is not re-entrant (no
 * backend is: a context belongs to one thread). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu.h"

#define FM_CPU_MAX_THREADS 64
/* Per-thread scratch: enough for the im2col and weight-gradient tiles of every conv of
 * the mnist preset at a tile width of ~1024 columns (conv2d.c sizes its tiles to what
 * is there). */
#define FM_CPU_SCRATCH_BYTES ((size_t)16 << 20)
/* Shared by all threads: Winograd's transformed weights, 16 x Co x Ci floats (2 MiB for
 * the largest conv of the mnist preset). */
#define FM_CPU_SHARED_BYTES ((size_t)8 << 20)

typedef struct worker {
    struct fm_cpu *cpu;
    int tid;
} worker;

struct fm_cpu {
    int nthreads, started;
    pthread_t th[FM_CPU_MAX_THREADS];
    worker args[FM_CPU_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    atomic_ulong gen;  /* bumped per parallel region (under mu; also read while spinning) */
    atomic_int active; /* workers not yet done with the current region */
    int quit;
    int fixed; /* the current region assigns items statically */
    fm_cpu_task fn;
    void *ctx;
    int64_t n;
    atomic_llong next; /* next item to hand out */
    float *scratch, *shared;
    size_t scratch_floats; /* per thread */
    size_t shared_floats;
    int bf16;           /* FM_BACKEND_BF16 asked, and a bfloat16 path runs */
    fm_cpu_force force; /* FMRT_CPU_FORCE, read at open */
    char desc[256];
};

/* One entry per op of FM_OP_LIST (cpu.h declares them all: a missing one fails the
 * link, naming it). */
static const fm_kernel_fn kernels[FM_OP_COUNT] = {
#define FM_X(id, name, slots) [FM_OP_##id] = fm_cpu_##name,
    FM_OP_LIST(FM_X)
#undef FM_X
};

int fm_cpu_bf16(const fm_cpu *cpu)
{
    return cpu->bf16;
}

const fm_cpu_force *fm_cpu_forced(const fm_cpu *cpu)
{
    return &cpu->force;
}

fm_cpu *fm_cpu_of(fm_backend *be)
{
    return be->impl;
}
int fm_cpu_threads(const fm_cpu *cpu)
{
    return cpu->nthreads;
}
float *fm_cpu_scratch(fm_cpu *cpu, int tid)
{
    return cpu->scratch + (size_t)tid * cpu->scratch_floats;
}
size_t fm_cpu_scratch_floats(const fm_cpu *cpu)
{
    return cpu->scratch_floats;
}
float *fm_cpu_shared(fm_cpu *cpu)
{
    return cpu->shared;
}
size_t fm_cpu_shared_floats(const fm_cpu *cpu)
{
    return cpu->shared_floats;
}

void fm_cpu_range(int64_t n, int64_t parts, int64_t k, int64_t *lo, int64_t *hi)
{
    *lo = n * k / parts;
    *hi = n * (k + 1) / parts;
}

static void run_items(fm_cpu *cpu, int tid)
{
    if (cpu->fixed) { /* item i on thread i mod nthreads, in order: reproducible partials */
        for (int64_t i = tid; i < cpu->n; i += cpu->nthreads)
            cpu->fn(cpu->ctx, i, tid);
        return;
    }
    /* Items are claimed a few at a time: one atomic add per item, on a counter both
     * cores write, cost as much as a small item (a 7x7 group norm pair) itself. About
     * 16 claims per thread keep the ends of the threads' runs within 1/16 of each
     * other. */
    int64_t grain = cpu->n / (16 * cpu->nthreads);
    grain = grain > 0 ? grain : 1;
    for (;;) {
        int64_t i0 = atomic_fetch_add(&cpu->next, grain);
        if (i0 >= cpu->n)
            return;
        int64_t i1 = i0 + grain < cpu->n ? i0 + grain : cpu->n;
        for (int64_t i = i0; i < i1; i++)
            cpu->fn(cpu->ctx, i, tid);
    }
}

/* Between regions a thread spins a while (2000 pauses: ~60 us on Zen 4) before it
 * sleeps on a condition variable: the ops of a sampling step open a region every
 * ~0.1-2 ms, and a futex wake-up costs tens of microseconds, which both the workers'
 * start and the caller's wait would otherwise pay (OpenMP runtimes do the same:
 * KMP_BLOCKTIME). Measured on the mnist preset's sampling, 5 interleaved pairs: step
 * wall time -4% (median), -2% (minimum). The spin only shortens the wait: the
 * condition variable's protocol under mu is unchanged. */
#define FM_CPU_SPINS 2000

static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *p)
{
    worker *w = p;
    fm_cpu *cpu = w->cpu;
    unsigned long seen = 0;
    for (;;) {
        for (int k = 0; k < FM_CPU_SPINS && atomic_load(&cpu->gen) == seen; k++)
            spin_pause();
        pthread_mutex_lock(&cpu->mu);
        while (cpu->gen == seen && !cpu->quit)
            pthread_cond_wait(&cpu->go, &cpu->mu);
        if (cpu->quit) {
            pthread_mutex_unlock(&cpu->mu);
            return NULL;
        }
        seen = cpu->gen;
        pthread_mutex_unlock(&cpu->mu);
        run_items(cpu, w->tid);
        pthread_mutex_lock(&cpu->mu);
        if (atomic_fetch_sub(&cpu->active, 1) == 1)
            pthread_cond_signal(&cpu->done);
        pthread_mutex_unlock(&cpu->mu);
    }
}

static void parallel(fm_cpu *cpu, int64_t n, fm_cpu_task fn, void *ctx, int fixed)
{
    if (n <= 0)
        return;
    if (n == 1 || cpu->started == 0) { /* nothing to share: no wake-up cost */
        for (int64_t i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&cpu->mu);
    cpu->fn = fn;
    cpu->ctx = ctx;
    cpu->n = n;
    cpu->fixed = fixed;
    atomic_store(&cpu->next, 0);
    cpu->active = cpu->started;
    cpu->gen++;
    pthread_cond_broadcast(&cpu->go);
    pthread_mutex_unlock(&cpu->mu);
    run_items(cpu, 0);
    for (int k = 0; k < FM_CPU_SPINS && atomic_load(&cpu->active) > 0; k++)
        spin_pause();
    pthread_mutex_lock(&cpu->mu);
    while (atomic_load(&cpu->active) > 0)
        pthread_cond_wait(&cpu->done, &cpu->mu);
    pthread_mutex_unlock(&cpu->mu);
}

void fm_cpu_parallel(fm_cpu *cpu, int64_t n, fm_cpu_task fn, void *ctx)
{
    parallel(cpu, n, fn, ctx, 0);
}

void fm_cpu_parallel_fixed(fm_cpu *cpu, int64_t n, fm_cpu_task fn, void *ctx)
{
    parallel(cpu, n, fn, ctx, 1);
}

/* Cores this process may run on (its affinity mask), at least 1. */
static int cores_available(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int resolve_threads(int threads)
{
    int t = threads > 0 ? threads : cores_available();
    return t > FM_CPU_MAX_THREADS ? FM_CPU_MAX_THREADS : t;
}

/* The host block beyond the tensor arena: state + alignment slack + scratch. */
static size_t host_overhead(int threads)
{
    return sizeof(fm_cpu) + 3 * FM_ARENA_MIN_ALIGN + FM_CPU_SHARED_BYTES +
           (size_t)resolve_threads(threads) * FM_CPU_SCRATCH_BYTES;
}

static fm_status cpu_host_bytes(size_t arena_bytes, int threads, size_t *bytes)
{
    return fm_host_arena_bytes(arena_bytes, host_overhead(threads), bytes);
}

static void stop_workers(fm_cpu *cpu)
{
    pthread_mutex_lock(&cpu->mu);
    cpu->quit = 1;
    pthread_cond_broadcast(&cpu->go);
    pthread_mutex_unlock(&cpu->mu);
    for (int i = 0; i < cpu->started; i++)
        pthread_join(cpu->th[i], NULL);
    cpu->started = 0;
    pthread_cond_destroy(&cpu->go);
    pthread_cond_destroy(&cpu->done);
    pthread_mutex_destroy(&cpu->mu);
}

static fm_status cpu_open(fm_backend *be, const fm_backend_config *cfg)
{
    if (!cfg->mem || cfg->mem_bytes == 0 || be->host.size == 0)
        return fm_fail(be, FM_ERR_ARG, "backend cpu: no host memory given for its arena");
    int nt = resolve_threads(cfg->threads);
    size_t off;
    if (fm_arena_alloc(&be->host, sizeof(fm_cpu), &off) != FM_OK)
        return fm_fail(be, FM_ERR_ARENA, "backend cpu: host block of %zu bytes is too small",
                       cfg->mem_bytes);
    fm_cpu *cpu = fm_arena_ptr(&be->host, off);
    memset(cpu, 0, sizeof *cpu);
    cpu->nthreads = nt;
    char err[160];
    if (!fm_cpu_force_parse(getenv("FMRT_CPU_FORCE"), &cpu->force, err, sizeof err))
        return fm_fail(be, FM_ERR_ARG, "backend cpu: %s", err);
    /* Scratch: what the caller left beyond the tensor arena it asked for (capped), or at
     * most half the block when it asked for none. */
    size_t left = fm_arena_free_bytes(&be->host);
    size_t want = FM_CPU_SHARED_BYTES + (size_t)nt * FM_CPU_SCRATCH_BYTES;
    size_t avail = cfg->arena_bytes ? (left > cfg->arena_bytes + FM_ARENA_MIN_ALIGN
                                           ? left - cfg->arena_bytes - FM_ARENA_MIN_ALIGN
                                           : 0)
                                    : left / 2;
    if (cfg->arena_bytes && left < cfg->arena_bytes)
        return fm_fail(be, FM_ERR_ARENA,
                       "backend cpu: host block of %zu bytes cannot hold a %zu-byte arena and "
                       "the backend's state (fm_backend_host_bytes gives the size)",
                       cfg->mem_bytes, cfg->arena_bytes);
    /* the shared buffer takes the same fraction of its size as the per-thread ones */
    size_t total = avail < want ? avail : want;
    size_t shbytes = (size_t)((double)total * FM_CPU_SHARED_BYTES / want) / FM_ARENA_MIN_ALIGN *
                     FM_ARENA_MIN_ALIGN;
    if (shbytes > 0 && fm_arena_alloc(&be->host, shbytes, &off) == FM_OK) {
        cpu->shared = fm_arena_ptr(&be->host, off);
        cpu->shared_floats = shbytes / sizeof(float);
        total -= shbytes;
    }
    size_t sbytes = total / (size_t)nt / FM_ARENA_MIN_ALIGN * FM_ARENA_MIN_ALIGN;
    if (sbytes > 0 && fm_arena_alloc(&be->host, sbytes * (size_t)nt, &off) == FM_OK) {
        cpu->scratch = fm_arena_ptr(&be->host, off);
        cpu->scratch_floats = sbytes / sizeof(float);
    }
    /* The tensor arena: the rest of the block. */
    size_t used = be->host.used;
    if (fm_arena_init(&be->arena, be->host.base + used, be->host.size - used, 0) != FM_OK)
        return fm_fail(be, FM_ERR_ARG, "backend cpu: bad host memory block");
    be->buffer = be->arena.base;
    be->impl = cpu;
    fm_cpu_gemm_init();
    if (pthread_mutex_init(&cpu->mu, NULL) || pthread_cond_init(&cpu->go, NULL) ||
        pthread_cond_init(&cpu->done, NULL))
        return fm_fail(be, FM_ERR_DRIVER, "backend cpu: cannot create the pool's locks");
    for (int i = 1; i < nt; i++) {
        cpu->args[i - 1] = (worker){cpu, i};
        if (pthread_create(&cpu->th[i - 1], NULL, worker_main, &cpu->args[i - 1]) != 0)
            break; /* fewer threads than asked: still correct */
        cpu->started++;
    }
    cpu->nthreads = cpu->started + 1;
    /* bf16 without the instructions: float32, said in the description (a clean fallback:
     * same results as without the flag), unless the portable loops are forced */
    int want16 = (cfg->flags & FM_BACKEND_BF16) != 0;
    cpu->bf16 = want16 && (fm_cpu_bf16_native() || cpu->force.bf16_portable);
    const char *prec = !want16      ? ""
                       : !cpu->bf16 ? ", bf16 asked: no AVX512-BF16 in this build, float32"
                       : fm_cpu_bf16_native() && !cpu->force.bf16_portable
                           ? ", bf16 3x3 convs (AVX512-BF16)"
                           : ", bf16 3x3 convs (portable C)";
    char forced[96];
    fm_cpu_force_describe(&cpu->force, forced, sizeof forced);
    snprintf(cpu->desc, sizeof cpu->desc, "cpu (%d thread%s, %s, %zu MiB scratch/thread%s%s%s)",
             cpu->nthreads, cpu->nthreads == 1 ? "" : "s", fm_cpu_gemm_name(),
             cpu->scratch_floats * sizeof(float) >> 20, prec, forced[0] ? ", FMRT_CPU_FORCE=" : "",
             forced);
    return FM_OK;
}

static void cpu_close(fm_backend *be)
{
    if (be->impl)
        stop_workers(be->impl);
    be->impl = NULL;
}

static const char *cpu_describe(fm_backend *be)
{
    return ((fm_cpu *)be->impl)->desc;
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
