/* cuda-emu: the execution engine (see cuda_runtime.h).
 *
 * A block's threads are run by fibers, contexts with their own stacks, which the host
 * thread that launched (the scheduler) switches into. A fiber takes the next thread
 * not yet started (in the configured order) and runs it; when that thread finishes,
 * the same fiber goes on with the next one, so a kernel without barriers runs a whole
 * block on one fiber with one switch. When a thread waits (block barrier, warp
 * exchange), its fiber switches back and the scheduler starts another fiber for the
 * next thread. Once every thread has started, the scheduler resumes the waiting
 * threads whose barrier has been released, in the configured order, until all have
 * finished; nothing runs ahead of a barrier, so an order dependence shows.
 *
 * The switch, on x86-64, is six register pushes and a stack swap (glibc's swapcontext
 * makes a system call per switch, 1.7 us here, which a whole-model run cannot
 * afford); elsewhere it is ucontext. Under ASan every switch is announced
 * (__sanitizer_start/finish_switch_fiber) so that the sanitizer follows the stacks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "emu_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define FM_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FM_EMU_ASAN 1
#endif
#endif
#ifdef FM_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace fm_emu {

thread_local thread_ctx *cur_thread;
thread_local block_ctx cur_block;

#if defined(__x86_64__)
/* fm_emu_switch(&save_sp, load_sp): push the callee-saved registers on this stack,
 * store rsp in *save_sp, load load_sp, pop that context's registers, return into it. */
extern "C" void fm_emu_switch(void **save_sp, void *load_sp);
__asm__(".text\n"
        ".p2align 4\n"
        "fm_emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n");
#endif

enum { STACK_BYTES = 256 << 10, MAX_THREADS = 1024 };

/* A saved execution context: the scheduler's, or a fiber's. */
struct context {
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t uc;
#endif
    const void *bottom; /* its stack, for ASan */
    size_t size;
    void *fake_stack;
};

struct fiber {
    context ctx;
    char *stack;
    int thread; /* the thread it runs now */
    int finished;
};

enum state { NEW, RUNNING, WAITING, DONE };
enum wait_kind { WAIT_BLOCK, WAIT_WARP };

struct thread_rec {
    thread_ctx ctx;
    state st;
    wait_kind wait;
    unsigned gen; /* the barrier generation it waits to see pass */
    fiber *fb;
};

struct warp {
    unsigned gen, arrived;
    int live; /* lanes not finished */
    const char *site;
    uint64_t val[32], res[32];
    int src[32];
};

/* One block being run on this host thread. */
struct block_run {
    void (*body)(void *);
    void *user;
    int n, live, next; /* threads; not finished; next to start (index into order) */
    int order_stale;    /* order[] was made for another block shape */
    int order[MAX_THREADS];
    thread_rec th[MAX_THREADS];
    unsigned bar_gen, bar_arrived;
    const char *bar_site;
    warp warps[MAX_THREADS / 32];
    int failed;
    char why[512];
    context sched;
    std::vector<fiber *> spare; /* fibers with a stack, not running */
};

static thread_local block_run *run_now;
static thread_local fiber *fiber_now;

static void fail(block_run *r, const char *fmt, const char *a, const char *b)
{
    if (!r->failed)
        snprintf(r->why, sizeof r->why, fmt, a, b);
    r->failed = 1;
}

/* ---- switching ---------------------------------------------------------------------- */

/* Save the running context in `from`, continue `to` (which runs on its own stack). */
static void switch_to(context *from, context *to, int from_is_done)
{
#ifdef FM_EMU_ASAN
    __sanitizer_start_switch_fiber(from_is_done ? nullptr : &from->fake_stack, to->bottom,
                                   to->size);
#else
    (void)from_is_done;
#endif
#if defined(__x86_64__)
    fm_emu_switch(&from->sp, to->sp);
#else
    swapcontext(&from->uc, &to->uc);
#endif
#ifdef FM_EMU_ASAN
    /* Back in `from`: learn where we came from (the scheduler's stack may move). */
    const void *b;
    size_t s;
    __sanitizer_finish_switch_fiber(from->fake_stack, &b, &s);
    if (from != &run_now->sched) {
        run_now->sched.bottom = b;
        run_now->sched.size = s;
    }
#endif
}

static void check_release(block_run *r, int w);

/* A fiber's life: run threads not yet started, one after another, until none is left. */
static void fiber_main()
{
    fiber *fb = fiber_now;
    block_run *r = run_now;
#ifdef FM_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &r->sched.bottom, &r->sched.size);
#endif
    while (r->next < r->n && !r->failed) {
        int t = r->order[r->next++];
        thread_rec *th = &r->th[t];
        th->st = RUNNING;
        th->fb = fb;
        fb->thread = t;
        cur_thread = &th->ctx;
        r->body(r->user);
        th->st = DONE;
        r->live--;
        r->warps[t / 32].live--;
        check_release(r, t / 32); /* an exited thread holds no barrier back */
    }
    fb->finished = 1;
    switch_to(&fb->ctx, &r->sched, 1);
    abort(); /* a finished fiber is never resumed */
}

static fiber *new_fiber(block_run *r)
{
    fiber *fb;
    if (!r->spare.empty()) {
        fb = r->spare.back();
        r->spare.pop_back();
    } else {
        fb = new fiber();
        fb->stack = (char *)aligned_alloc(64, STACK_BYTES);
        if (!fb->stack) {
            fprintf(stderr, "cuda-emu: cannot allocate a %d-byte fiber stack\n", STACK_BYTES);
            abort();
        }
    }
    fb->finished = 0;
    fb->ctx.bottom = fb->stack;
    fb->ctx.size = STACK_BYTES;
    fb->ctx.fake_stack = nullptr;
#if defined(__x86_64__)
    /* The frame fm_emu_switch pops: six registers, then the return address, placed
     * so that fiber_main starts with rsp = 8 mod 16, as after a call. */
    void **sp = (void **)(fb->stack + STACK_BYTES - 64);
    memset(sp, 0, 64);
    sp[6] = (void *)fiber_main;
    fb->ctx.sp = sp;
#else
    getcontext(&fb->ctx.uc);
    fb->ctx.uc.uc_stack.ss_sp = fb->stack;
    fb->ctx.uc.uc_stack.ss_size = STACK_BYTES;
    fb->ctx.uc.uc_link = nullptr;
    makecontext(&fb->ctx.uc, fiber_main, 0);
#endif
    return fb;
}

/* Continue fb until its thread waits or it runs out of threads. */
static void resume(block_run *r, fiber *fb)
{
    fiber_now = fb;
    if (fb->thread >= 0) {
        r->th[fb->thread].st = RUNNING;
        cur_thread = &r->th[fb->thread].ctx;
    }
    switch_to(&r->sched, &fb->ctx, 0);
    if (fb->finished)
        r->spare.push_back(fb);
}

/* ---- barriers ------------------------------------------------------------------------ */

/* Release the block barrier when every thread still running waits at it, and warp
 * w's exchange when all its running lanes have arrived. */
static void check_release(block_run *r, int w)
{
    if (r->bar_arrived > 0 && (int)r->bar_arrived == r->live) {
        r->bar_gen++;
        r->bar_arrived = 0;
    }
    warp *W = &r->warps[w];
    if (W->arrived == 0 || (int)W->arrived != W->live)
        return;
    const int lanes = r->n - 32 * w < 32 ? r->n - 32 * w : 32;
    for (int l = 0; l < lanes; l++) {
        int s = W->src[l];
        if (s == -2) { /* ballot: bit k is lane k's predicate */
            uint64_t m = 0;
            for (int k = 0; k < lanes; k++)
                m |= (W->val[k] != 0 ? 1ull : 0ull) << k;
            W->res[l] = m;
        } else {
            W->res[l] = s >= 0 && s < lanes ? W->val[s] : W->val[l];
        }
    }
    W->gen++;
    W->arrived = 0;
}

/* The running thread waits; returns once the scheduler resumes it. */
static void wait_here(wait_kind kind, unsigned gen)
{
    block_run *r = run_now;
    fiber *fb = fiber_now;
    thread_rec *th = &r->th[fb->thread];
    th->st = WAITING;
    th->wait = kind;
    th->gen = gen;
    check_release(r, fb->thread / 32);
    switch_to(&fb->ctx, &r->sched, 0);
}

void syncthreads(const char *site)
{
    block_run *r = run_now;
    if (r->bar_arrived == 0)
        r->bar_site = site;
    else if (strcmp(site, r->bar_site) != 0)
        fail(r, "threads of one block wait at different __syncthreads(): %s and %s", r->bar_site,
             site);
    r->bar_arrived++;
    wait_here(WAIT_BLOCK, r->bar_gen);
}

int lane_id() { return (int)(cur_thread->linear & 31); }

static uint64_t exchange(uint64_t mine, int src, const char *site)
{
    block_run *r = run_now;
    const int lane = lane_id();
    warp *W = &r->warps[cur_thread->linear / 32];
    if (W->arrived == 0)
        W->site = site;
    else if (strcmp(site, W->site) != 0)
        fail(r, "lanes of one warp are in different shuffles: %s and %s", W->site, site);
    W->val[lane] = mine;
    W->src[lane] = src;
    W->arrived++;
    wait_here(WAIT_WARP, W->gen);
    return W->res[lane];
}

uint64_t warp_exchange(uint64_t mine, int src_lane, const char *site)
{
    return exchange(mine, src_lane, site);
}

unsigned warp_ballot(int pred, const char *site) { return (unsigned)exchange(pred, -2, site); }

static int ready(const block_run *r, const thread_rec *th)
{
    if (th->st != WAITING)
        return 0;
    if (th->wait == WAIT_BLOCK)
        return r->bar_gen != th->gen;
    return r->warps[th->ctx.linear / 32].gen != th->gen;
}

/* ---- scheduling order ----------------------------------------------------------------- */

enum order_mode { ORDER_FORWARD, ORDER_REVERSE, ORDER_SHUFFLE };
static order_mode g_order = ORDER_FORWARD;
static uint64_t g_state = 1; /* the shuffled order's generator, seeded */
static int g_order_read;

static void read_order()
{
    if (g_order_read)
        return;
    g_order_read = 1;
    const char *o = getenv("FMRT_CUDA_EMU_ORDER");
    if (!o || !*o || strcmp(o, "forward") == 0)
        return;
    if (strcmp(o, "reverse") == 0) {
        g_order = ORDER_REVERSE;
    } else if (strncmp(o, "shuffle", 7) == 0 && (o[7] == 0 || o[7] == ':')) {
        g_order = ORDER_SHUFFLE;
        if (o[7] == ':')
            g_state = strtoull(o + 8, nullptr, 10);
    } else {
        fprintf(stderr, "cuda-emu: FMRT_CUDA_EMU_ORDER='%s' is not forward, reverse or "
                        "shuffle[:SEED]; using forward\n", o);
    }
}

/* splitmix64 */
static uint64_t next_rand()
{
    uint64_t z = (g_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void make_order(block_run *r)
{
    for (int i = 0; i < r->n; i++)
        r->order[i] = g_order == ORDER_REVERSE ? r->n - 1 - i : i;
    if (g_order == ORDER_SHUFFLE)
        for (int i = r->n - 1; i > 0; i--) {
            int j = (int)(next_rand() % (uint64_t)(i + 1));
            int t = r->order[i];
            r->order[i] = r->order[j];
            r->order[j] = t;
        }
}

/* ---- one block, one launch ------------------------------------------------------------ */

static int run_block(block_run *r)
{
    if (r->order_stale || g_order == ORDER_SHUFFLE)
        make_order(r); /* shuffled: a new order for every block */
    r->order_stale = 0;
    r->next = 0;
    r->live = r->n;
    r->bar_gen = r->bar_arrived = 0;
    r->failed = 0;
    for (int i = 0; i < r->n; i++)
        r->th[i].st = NEW;
    for (int w = 0; w * 32 < r->n; w++) {
        r->warps[w].gen = r->warps[w].arrived = 0;
        r->warps[w].live = r->n - 32 * w < 32 ? r->n - 32 * w : 32;
    }
    /* Start every thread: each fiber runs threads until one waits. */
    while (r->next < r->n && !r->failed) {
        fiber *fb = new_fiber(r);
        fb->thread = -1;
        resume(r, fb);
    }
    /* Then resume the released ones, in order, until all have finished. */
    while (!r->failed && r->live > 0) {
        int progressed = 0;
        for (int k = 0; k < r->n && !r->failed; k++) {
            thread_rec *th = &r->th[r->order[k]];
            if (!ready(r, th))
                continue;
            progressed = 1;
            resume(r, th->fb);
        }
        if (!progressed && !r->failed)
            fail(r, "deadlock: threads wait at %s that others never reach%s",
                 r->bar_arrived ? r->bar_site : "a warp shuffle", "");
    }
    /* An abandoned block's waiting fibers are dropped; their stacks are reused. */
    for (int i = 0; i < r->n; i++)
        if (r->th[i].st == WAITING || r->th[i].st == RUNNING) {
            fiber *fb = r->th[i].fb;
            r->th[i].st = DONE;
            if (fb && !fb->finished) {
                fb->finished = 1;
                r->spare.push_back(fb);
            }
        }
    return !r->failed;
}

thread_local cudaError_t last_error = cudaSuccess;
cudaError_t sticky_error = cudaSuccess;

cudaError_t set_error(cudaError_t e)
{
    if (e != cudaSuccess)
        last_error = e;
    return e;
}

static int bad_config(dim3 grid, dim3 block, size_t shmem)
{
    unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 ||
        block.z > 64 || threads > MAX_THREADS || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
        grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
        return set_error(cudaErrorInvalidConfiguration), 1;
    if (shmem > (48u << 10)) /* dynamic shared memory beyond the default limit */
        return set_error(cudaErrorInvalidValue), 1;
    return 0;
}

static void set_threads(block_run *r, dim3 block)
{
    r->n = (int)(block.x * block.y * block.z);
    for (int i = 0; i < r->n; i++) {
        thread_ctx *c = &r->th[i].ctx;
        c->tid = dim3((unsigned)i % block.x, (unsigned)i / block.x % block.y,
                      (unsigned)i / (block.x * block.y));
        c->linear = (unsigned)i;
        r->th[i].fb = nullptr;
    }
    r->order_stale = 1;
}

int launch(const char *kernel, dim3 grid, dim3 block, size_t shmem, cudaStream_t s,
           void (*body)(void *), void *user)
{
    (void)s; /* one stream, in order: work runs now */
    read_order();
    if (sticky_error != cudaSuccess)
        return set_error(sticky_error), 0;
    if (bad_config(grid, block, shmem))
        return 0;
    static thread_local block_run *r;
    if (!r)
        r = new block_run();
    if (run_now) {
        fprintf(stderr, "cuda-emu: kernel %s launched from inside a kernel\n", kernel);
        abort();
    }
    r->body = body;
    r->user = user;
    set_threads(r, block);
    run_now = r;
    cur_block.block_dim = block;
    cur_block.grid_dim = grid;
    int ok = 1;
    for (unsigned z = 0; z < grid.z && ok; z++)
        for (unsigned y = 0; y < grid.y && ok; y++)
            for (unsigned x = 0; x < grid.x && ok; x++) {
                cur_block.block_idx = dim3(x, y, z);
                ok = run_block(r);
            }
    run_now = nullptr;
    if (!ok) {
        fprintf(stderr, "cuda-emu: kernel %s, block (%u, %u, %u): %s\n", kernel,
                cur_block.block_idx.x, cur_block.block_idx.y, cur_block.block_idx.z, r->why);
        sticky_error = cudaErrorLaunchFailure;
        set_error(sticky_error);
    }
    return ok;
}

} // namespace fm_emu
