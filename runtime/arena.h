/* Bump allocator over memory the caller owns.
 *
 * The arena hands out byte offsets, not pointers, so the same code serves host
 * memory (base = the caller's block) and a device allocation (base = NULL; the
 * backend turns an offset into a cl_mem offset or a device pointer). Requests are
 * rounded up to the arena's alignment (>= 64 bytes, a power of two), so every
 * offset is aligned when the base is.
 *
 *   [ used ............................ | free ........................ ]
 *   0                                  used                             size
 *
 * A mark remembers `used`; resetting to it frees everything allocated after it
 * (stack discipline, as in TensorFlow Lite Micro's temp allocations). `high` is the
 * high-water mark: the most the arena ever held, which is what a planner must
 * reserve.
 *
 * fm_arena_free gives one allocation back before its mark is reset, so that code
 * which knows when a tensor dies (the sampling forward) need not pin dead tensors
 * under live ones. Freeing the top allocation lowers `used`; any other becomes a
 * hole, and later requests take the smallest hole they fit in (best fit, as
 * ggml-alloc's free-block list) before growing `used`:
 *
 *   [ live | hole | live ... | live | free ............................ ]
 *   0                               used                                size
 *
 * The holes live in a small fixed table (no metadata in the arena itself). When it
 * is full the smallest hole is forgotten: that memory stays unused until a reset
 * below it, which wastes bytes the planner counts but never corrupts anything. A
 * reset drops the holes above its mark; memory taken from a hole below the mark
 * stays taken until a reset below it, so code that frees should free all it takes.
 * Every offset is a pure function of the sequence of calls, so a plan backend run
 * places (and counts) exactly what the real backend will. */
#ifndef FMRT_ARENA_H
#define FMRT_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define FM_ARENA_MIN_ALIGN 64

#define FM_ARENA_HOLES 32

typedef struct fm_arena_hole {
    size_t off, bytes;
} fm_arena_hole;

typedef struct fm_arena {
    uint8_t *base; /* host memory, or NULL for a device arena */
    size_t size;   /* bytes available */
    size_t used;   /* bytes handed out (next offset) */
    size_t high;   /* high-water mark of used */
    size_t align;  /* alignment of every offset, power of two >= 64 */
    int nholes;    /* freed ranges below used: sorted by offset, disjoint, none adjacent */
    fm_arena_hole holes[FM_ARENA_HOLES];
} fm_arena;

typedef struct fm_arena_mark {
    const char *name; /* for messages only; not copied */
    size_t used;
} fm_arena_mark;

/* base may be NULL (device arena). align 0 means FM_ARENA_MIN_ALIGN.
 * FM_ERR_ARG when align is not a power of two >= 64 or host base is misaligned. */
fm_status fm_arena_init(fm_arena *a, void *base, size_t size, size_t align);

/* Reserve `bytes` (rounded up to the alignment); *off receives the offset.
 * FM_ERR_ARENA, leaving the arena unchanged, when it does not fit. */
fm_status fm_arena_alloc(fm_arena *a, size_t bytes, size_t *off);

/* Give back the allocation of `bytes` at `off` (exactly as fm_arena_alloc returned
 * it). FM_ERR_ARG, leaving the arena unchanged, when the range is misaligned, not
 * below `used` or overlaps a hole (a double free). */
fm_status fm_arena_free(fm_arena *a, size_t off, size_t bytes);

/* Host arenas only: pointer at an offset returned by fm_arena_alloc. */
void *fm_arena_ptr(const fm_arena *a, size_t off);

/* Bytes an allocation of `bytes` consumes (request rounded to the alignment). */
size_t fm_arena_round(const fm_arena *a, size_t bytes);

fm_arena_mark fm_arena_get_mark(const fm_arena *a, const char *name);
void fm_arena_reset(fm_arena *a, fm_arena_mark m);
size_t fm_arena_free_bytes(const fm_arena *a);

#endif
