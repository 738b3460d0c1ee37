/* The "plan" backend: every op succeeds without computing anything, memory moves
 * are no-ops, and its arena is a device-style arena of unlimited size. Running a
 * model on it checks every shape and leaves the exact bytes that model needs in
 * arena.high (ggml's reserve pass, with no second code path to keep in sync).
 * It is not part of "auto".
 *
 * Live-set tracker (only when the caller hands plan_open host memory in
 * fm_backend_config.mem): every allocation is recorded (offset, rounded bytes), and
 * every op and memory move stamps the allocations its tensors touch with a clock
 * value. An allocation is live from its first to its last stamp; the largest sum of
 * live bytes at one clock value is a lower bound for any placement of the same
 * calls, so arena.high / bound says how much the arena's placement wastes.
 *
 * A tensor touches the most recent record whose [off, off + bytes) holds its offset:
 * the arena hands a freed range out again before any view of the new tensor exists,
 * so a newer record shadows every older one at the same offsets, and a view (a
 * parameter inside the flat block, a batch slice) finds the allocation it lies in. */
#include "backend_impl.h"

#include <stdint.h>

typedef struct plan_alloc {
    size_t off, bytes;   /* arena offset, bytes the arena consumed (rounded) */
    size_t first, last;  /* clock of the first and last use; first 0: never used */
} plan_alloc;

typedef struct plan_state {
    plan_alloc *rec; /* in the caller's host block */
    size_t n, cap;   /* records kept, room for */
    size_t seen;     /* allocations seen; > cap: the tracker overflowed */
    size_t clock;    /* uses so far (ops and memory moves) */
} plan_state;

size_t fm_plan_track_bytes(size_t allocs)
{
    /* The state, the records, and the alignment the host arena may take from each. */
    return sizeof(plan_state) + allocs * sizeof(plan_alloc) + 2 * FM_ARENA_MIN_ALIGN;
}

static void touch(fm_backend *be, const fm_tensor *t)
{
    plan_state *st = be->impl;
    if (!st || !fm_tensor_present(t) || t->base != be->buffer)
        return;
    for (size_t i = st->n; i-- > 0;) {
        plan_alloc *a = &st->rec[i];
        if (t->off >= a->off && t->off - a->off < a->bytes) {
            if (!a->first)
                a->first = st->clock;
            a->last = st->clock;
            return;
        }
    }
}

static void plan_on_alloc(fm_backend *be, const fm_tensor *t)
{
    plan_state *st = be->impl;
    if (!st)
        return;
    if (st->seen++ >= st->cap)
        return;
    st->rec[st->n++] = (plan_alloc){t->off, fm_arena_round(&be->arena, fm_tensor_bytes(t)), 0, 0};
}

static fm_status plan_op(fm_backend *be, const fm_call *c)
{
    plan_state *st = be->impl;
    if (st) {
        st->clock++;
        int n = fm_op_get_info(c->op)->ntensors;
        for (int i = 0; i < n; i++)
            touch(be, &c->t[i]);
    }
    return FM_OK;
}

/* A memory move is one use of the tensors it names. */
static void use(fm_backend *be, const fm_tensor *a, const fm_tensor *b)
{
    plan_state *st = be->impl;
    if (!st)
        return;
    st->clock++;
    touch(be, a);
    if (b)
        touch(be, b);
}

int fm_backend_keeps_data(const fm_backend *be) { return be->iface != &fm_backend_plan; }

fm_status fm_plan_live_bytes(fm_backend *be, size_t *bytes)
{
    *bytes = 0;
    if (!be || be->iface != &fm_backend_plan)
        return fm_fail(be, FM_ERR_ARG, "live bytes: backend %s is not the plan backend",
                       fm_backend_name(be));
    plan_state *st = be->impl;
    if (!st)
        return fm_fail(be, FM_ERR_ARG, "live bytes: the plan backend was opened without host "
                                       "memory (fm_backend_config.mem) for its tracker");
    if (st->seen > st->cap)
        return fm_fail(be, FM_ERR_ARENA,
                       "live bytes: %zu allocations, the tracker had room for %zu; give the plan "
                       "backend %zu bytes of host memory",
                       st->seen, st->cap, fm_plan_track_bytes(st->seen));
    /* The live sum only rises when an allocation starts, so its maximum is at some
     * record's first use: n^2 comparisons, a few million for a U-Net's ~2000. */
    size_t best = 0;
    for (size_t i = 0; i < st->n; i++) {
        size_t t = st->rec[i].first, sum = 0;
        if (!t)
            continue;
        for (size_t j = 0; j < st->n; j++)
            if (st->rec[j].first && st->rec[j].first <= t && t <= st->rec[j].last)
                sum += st->rec[j].bytes;
        if (sum > best)
            best = sum;
    }
    *bytes = best;
    return FM_OK;
}

static const fm_kernel_fn kernels[FM_OP_COUNT] = {
#define FM_X(id, name, slots) [FM_OP_##id] = plan_op,
    FM_OP_LIST(FM_X)
#undef FM_X
};

/* Tensors need a non-NULL base to pass the shape check; nothing dereferences it. */
static char plan_base;

static fm_status plan_open(fm_backend *be, const fm_backend_config *cfg)
{
    (void)cfg;
    fm_arena_init(&be->arena, NULL, SIZE_MAX / 2, 0);
    be->buffer = &plan_base;
    be->impl = NULL;
    /* open_one made be->host from cfg->mem: the tracker lives there, or is off. */
    size_t off;
    if (be->host.base && fm_arena_alloc(&be->host, sizeof(plan_state), &off) == FM_OK) {
        plan_state *st = fm_arena_ptr(&be->host, off);
        size_t free_bytes = fm_arena_free_bytes(&be->host);
        *st = (plan_state){0};
        if (free_bytes >= sizeof(plan_alloc) &&
            fm_arena_alloc(&be->host, free_bytes - free_bytes % FM_ARENA_MIN_ALIGN, &off) == FM_OK) {
            st->rec = fm_arena_ptr(&be->host, off);
            st->cap = (free_bytes - free_bytes % FM_ARENA_MIN_ALIGN) / sizeof(plan_alloc);
        }
        be->impl = st;
    }
    return FM_OK;
}

static void plan_close(fm_backend *be) { be->impl = NULL; }
static fm_status plan_upload(fm_backend *be, const fm_tensor *d, const void *s)
{
    (void)s;
    use(be, d, NULL);
    return FM_OK;
}
static fm_status plan_download(fm_backend *be, void *d, const fm_tensor *s)
{
    use(be, s, NULL);
    /* Callers read back scalars (a loss); give them zeros, not garbage. */
    for (size_t i = 0; i < fm_tensor_bytes(s); i++)
        ((unsigned char *)d)[i] = 0;
    return FM_OK;
}
static fm_status plan_copy(fm_backend *be, const fm_tensor *d, const fm_tensor *s)
{
    use(be, d, s);
    return FM_OK;
}
static fm_status plan_fill(fm_backend *be, const fm_tensor *d, float v)
{
    (void)v;
    use(be, d, NULL);
    return FM_OK;
}
static fm_status plan_sync(fm_backend *be)
{
    (void)be;
    return FM_OK;
}
static const char *plan_describe(fm_backend *be)
{
    (void)be;
    return "plan (shape check and memory count only)";
}

const fm_backend_iface fm_backend_plan = {
    .name = "plan",
    .open = plan_open,
    .close = plan_close,
    .upload = plan_upload,
    .download = plan_download,
    .copy = plan_copy,
    .fill = plan_fill,
    .sync = plan_sync,
    .kernels = kernels,
    .describe = plan_describe,
    .on_alloc = plan_on_alloc,
};
