/* The cpu backend's working state: its thread pool, its scratch buffers and what
 * FMRT_CPU_FORCE forced, all inside the caller's host block (backend.c lays the block
 * out and fills the op table; every kernel reaches this state through cpu.h).
 *
 * Threads: nthreads - 1 pthreads started at open (the caller's thread is tid 0);
 * pthread_create's stacks and thread records are the C library's, like OpenBLAS's
 * buffers are OpenBLAS's. A parallel region is: publish (fn, ctx, n), bump the
 * generation, broadcast; every thread takes items from one atomic counter, a few at a
 * time; the last worker to finish signals. One region at a time: the backend is not
 * re-entrant (no backend is: a context belongs to one thread). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "cpu.h"

#define FM_CPU_MAX_THREADS 64
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
    float *scratch, *shared, *pack;
    size_t scratch_floats; /* per thread */
    size_t shared_floats;
    size_t pack_floats; /* per thread (0: the GEMM packs nothing of ours) */
    int bf16;           /* FM_BACKEND_BF16 asked, and a bfloat16 path runs */
    fm_cpu_force force; /* FMRT_CPU_FORCE, read at open */
    char desc[FM_CPU_DESC];
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
float *fm_cpu_pack(fm_cpu *cpu, int tid)
{
    return cpu->pack ? cpu->pack + (size_t)tid * cpu->pack_floats : NULL;
}
char *fm_cpu_desc(fm_cpu *cpu)
{
    return cpu->desc;
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

int fm_cpu_resolve_threads(int threads)
{
    int t = threads > 0 ? threads : cores_available();
    return t > FM_CPU_MAX_THREADS ? FM_CPU_MAX_THREADS : t;
}

size_t fm_cpu_state_bytes(void)
{
    return sizeof(fm_cpu);
}

/* Carves the buffers from host within `budget` bytes: the GEMM's packing first (without
 * it the GEMM runs unpacked, slowly), then the shared and per-thread scratch, the shared
 * buffer taking the same fraction of its wish as the per-thread ones. */
static void carve(fm_cpu *cpu, fm_arena *host, size_t budget, const fm_cpu_sizes *sz)
{
    size_t off, nt = (size_t)cpu->nthreads, a = FM_ARENA_MIN_ALIGN;
    size_t pbytes = (sz->pack_floats * sizeof(float) + a - 1) / a * a;
    if (pbytes && pbytes * nt <= budget && fm_arena_alloc(host, pbytes * nt, &off) == FM_OK) {
        cpu->pack = fm_arena_ptr(host, off);
        cpu->pack_floats = pbytes / sizeof(float);
        budget -= pbytes * nt;
    }
    size_t want = sz->shared_bytes + nt * sz->scratch_bytes;
    size_t total = budget < want ? budget : want;
    size_t shbytes = (size_t)((double)total * (double)sz->shared_bytes / (double)want) / a * a;
    if (shbytes > 0 && fm_arena_alloc(host, shbytes, &off) == FM_OK) {
        cpu->shared = fm_arena_ptr(host, off);
        cpu->shared_floats = shbytes / sizeof(float);
        total -= shbytes;
    }
    size_t sbytes = total / nt / a * a;
    if (sbytes > 0 && fm_arena_alloc(host, sbytes * nt, &off) == FM_OK) {
        cpu->scratch = fm_arena_ptr(host, off);
        cpu->scratch_floats = sbytes / sizeof(float);
    }
}

int fm_cpu_start(fm_cpu *cpu, int nthreads, fm_arena *host, size_t budget, const fm_cpu_sizes *sz,
                 const fm_cpu_force *force, int bf16)
{
    memset(cpu, 0, sizeof *cpu);
    cpu->nthreads = nthreads;
    cpu->force = *force;
    cpu->bf16 = bf16;
    carve(cpu, host, budget, sz);
    if (pthread_mutex_init(&cpu->mu, NULL) || pthread_cond_init(&cpu->go, NULL) ||
        pthread_cond_init(&cpu->done, NULL))
        return 0;
    for (int i = 1; i < nthreads; i++) {
        cpu->args[i - 1] = (worker){cpu, i};
        if (pthread_create(&cpu->th[i - 1], NULL, worker_main, &cpu->args[i - 1]) != 0)
            break; /* fewer threads than asked: still correct */
        cpu->started++;
    }
    cpu->nthreads = cpu->started + 1;
    return cpu->nthreads;
}

void fm_cpu_stop(fm_cpu *cpu)
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
