/* Checked size arithmetic for every size that comes from a file or a flag
 * (weights shapes and offsets, IDX dims, config fields, CLI counts).
 *
 * Each helper returns 1 and stores the result, or returns 0 and leaves *out
 * untouched when the exact result does not fit. Unsigned wrap-around is defined
 * behaviour in C, which is exactly why it is dangerous: a wrapped product passes
 * every later "does it fit" test and then under-allocates. Signed overflow is
 * undefined behaviour outright. So a caller must test the return value, never
 * the result. */
#ifndef FMRT_SIZE_H
#define FMRT_SIZE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__has_builtin)
#if __has_builtin(__builtin_mul_overflow) && __has_builtin(__builtin_add_overflow)
#define FM_HAVE_OVERFLOW_BUILTINS 1
#endif
#elif defined(__GNUC__) && __GNUC__ >= 5
#define FM_HAVE_OVERFLOW_BUILTINS 1
#endif

static inline int fm_mul_size(size_t a, size_t b, size_t *out)
{
#ifdef FM_HAVE_OVERFLOW_BUILTINS
    size_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return 0;
    *out = r;
#else
    if (a && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
#endif
    return 1;
}

static inline int fm_add_size(size_t a, size_t b, size_t *out)
{
#ifdef FM_HAVE_OVERFLOW_BUILTINS
    size_t r;
    if (__builtin_add_overflow(a, b, &r))
        return 0;
    *out = r;
#else
    if (b > SIZE_MAX - a)
        return 0;
    *out = a + b;
#endif
    return 1;
}

/* Signed element counts (tensor shapes are int64_t). */
static inline int fm_mul_i64(int64_t a, int64_t b, int64_t *out)
{
#ifdef FM_HAVE_OVERFLOW_BUILTINS
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return 0;
    *out = r;
#else
    if (a > 0 ? (b > 0 ? a > INT64_MAX / b : b < INT64_MIN / a)
              : (b > 0 ? a < INT64_MIN / b : a != 0 && b < INT64_MAX / a))
        return 0;
    *out = a * b;
#endif
    return 1;
}

/* a * b + c, all sizes; the common "count * item + header" shape of a request. */
static inline int fm_mul_add_size(size_t a, size_t b, size_t c, size_t *out)
{
    size_t p;
    return fm_mul_size(a, b, &p) && fm_add_size(p, c, out);
}

#endif
