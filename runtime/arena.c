#include "arena.h"

static int is_pow2(size_t x) { return x && !(x & (x - 1)); }

fm_status fm_arena_init(fm_arena *a, void *base, size_t size, size_t align)
{
    if (!a)
        return FM_ERR_ARG;
    if (align == 0)
        align = FM_ARENA_MIN_ALIGN;
    if (!is_pow2(align) || align < FM_ARENA_MIN_ALIGN)
        return FM_ERR_ARG;
    /* A misaligned host block loses its head so that offset 0 is aligned. */
    size_t skip = 0;
    if (base) {
        uintptr_t p = (uintptr_t)base;
        skip = (align - (p & (align - 1))) & (align - 1);
        if (skip > size)
            skip = size;
    }
    a->base = base ? (uint8_t *)base + skip : NULL;
    a->size = size - skip;
    a->used = 0;
    a->high = 0;
    a->align = align;
    a->nholes = 0;
    return FM_OK;
}

size_t fm_arena_round(const fm_arena *a, size_t bytes)
{
    size_t m = a->align - 1;
    if (bytes > SIZE_MAX - m)
        return SIZE_MAX;
    return (bytes + m) & ~m;
}

static void drop_hole(fm_arena *a, int i)
{
    for (int k = i + 1; k < a->nholes; k++)
        a->holes[k - 1] = a->holes[k];
    a->nholes--;
}

fm_status fm_arena_alloc(fm_arena *a, size_t bytes, size_t *off)
{
    size_t r = fm_arena_round(a, bytes);
    if (r == SIZE_MAX)
        return FM_ERR_ARENA;
    /* Best fit: the smallest hole that holds r, the lowest such on a tie. */
    int best = -1;
    for (int i = 0; i < a->nholes; i++)
        if (a->holes[i].bytes >= r && (best < 0 || a->holes[i].bytes < a->holes[best].bytes))
            best = i;
    if (best >= 0) {
        fm_arena_hole *h = &a->holes[best];
        *off = h->off;
        h->off += r;
        h->bytes -= r;
        if (h->bytes == 0)
            drop_hole(a, best);
        return FM_OK;
    }
    if (r > a->size - a->used)
        return FM_ERR_ARENA;
    *off = a->used;
    a->used += r;
    if (a->used > a->high)
        a->high = a->used;
    return FM_OK;
}

fm_status fm_arena_free(fm_arena *a, size_t off, size_t bytes)
{
    size_t r = fm_arena_round(a, bytes);
    if (r == SIZE_MAX || (off & (a->align - 1)) || off > a->used || r > a->used - off)
        return FM_ERR_ARG;
    int i = 0; /* first hole above the range */
    while (i < a->nholes && a->holes[i].off < off)
        i++;
    if ((i > 0 && a->holes[i - 1].off + a->holes[i - 1].bytes > off) ||
        (i < a->nholes && a->holes[i].off < off + r))
        return FM_ERR_ARG;
    if (off + r == a->used) {
        /* The top allocation: `used` falls, and past a hole that now touches it. */
        a->used = off;
        if (a->nholes && a->holes[a->nholes - 1].off + a->holes[a->nholes - 1].bytes == a->used) {
            a->used = a->holes[a->nholes - 1].off;
            a->nholes--;
        }
        return FM_OK;
    }
    int below = i > 0 && a->holes[i - 1].off + a->holes[i - 1].bytes == off;
    int above = i < a->nholes && a->holes[i].off == off + r;
    if (below && above) {
        a->holes[i - 1].bytes += r + a->holes[i].bytes;
        drop_hole(a, i);
    } else if (below) {
        a->holes[i - 1].bytes += r;
    } else if (above) {
        a->holes[i].off = off;
        a->holes[i].bytes += r;
    } else {
        if (a->nholes == FM_ARENA_HOLES) {
            /* Full: forget the smallest hole, or this range if it is smaller still. */
            int s = 0;
            for (int k = 1; k < a->nholes; k++)
                if (a->holes[k].bytes < a->holes[s].bytes)
                    s = k;
            if (a->holes[s].bytes >= r)
                return FM_OK;
            drop_hole(a, s);
            if (s < i)
                i--;
        }
        for (int k = a->nholes; k > i; k--)
            a->holes[k] = a->holes[k - 1];
        a->holes[i] = (fm_arena_hole){off, r};
        a->nholes++;
    }
    return FM_OK;
}

void *fm_arena_ptr(const fm_arena *a, size_t off) { return a->base ? a->base + off : NULL; }

fm_arena_mark fm_arena_get_mark(const fm_arena *a, const char *name)
{
    fm_arena_mark m = {name, a->used};
    return m;
}

void fm_arena_reset(fm_arena *a, fm_arena_mark m)
{
    if (m.used > a->used)
        return;
    a->used = m.used;
    /* Holes above the mark are part of the free top now; one across it is cut. */
    while (a->nholes && a->holes[a->nholes - 1].off >= a->used)
        a->nholes--;
    if (a->nholes) {
        fm_arena_hole *h = &a->holes[a->nholes - 1];
        if (h->off + h->bytes > a->used)
            h->bytes = a->used - h->off;
    }
}

size_t fm_arena_free_bytes(const fm_arena *a) { return a->size - a->used; }
