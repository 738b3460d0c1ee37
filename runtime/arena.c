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
    return FM_OK;
}

size_t fm_arena_round(const fm_arena *a, size_t bytes)
{
    size_t m = a->align - 1;
    if (bytes > SIZE_MAX - m)
        return SIZE_MAX;
    return (bytes + m) & ~m;
}

fm_status fm_arena_alloc(fm_arena *a, size_t bytes, size_t *off)
{
    size_t r = fm_arena_round(a, bytes);
    if (r == SIZE_MAX || r > a->size - a->used)
        return FM_ERR_ARENA;
    *off = a->used;
    a->used += r;
    if (a->used > a->high)
        a->high = a->used;
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
    if (m.used <= a->used)
        a->used = m.used;
}

size_t fm_arena_free_bytes(const fm_arena *a) { return a->size - a->used; }
