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
 * reserve. */
#ifndef FMRT_ARENA_H
#define FMRT_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define FM_ARENA_MIN_ALIGN 64

typedef struct fm_arena {
    uint8_t *base; /* host memory, or NULL for a device arena */
    size_t size;   /* bytes available */
    size_t used;   /* bytes handed out (next offset) */
    size_t high;   /* high-water mark of used */
    size_t align;  /* alignment of every offset, power of two >= 64 */
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

/* Host arenas only: pointer at an offset returned by fm_arena_alloc. */
void *fm_arena_ptr(const fm_arena *a, size_t off);

/* Bytes an allocation of `bytes` consumes (request rounded to the alignment). */
size_t fm_arena_round(const fm_arena *a, size_t bytes);

fm_arena_mark fm_arena_get_mark(const fm_arena *a, const char *name);
void fm_arena_reset(fm_arena *a, fm_arena_mark m);
size_t fm_arena_free_bytes(const fm_arena *a);

#endif
