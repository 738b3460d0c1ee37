#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static _Alignas(256) uint8_t block[4096];

Test(arena, offsets_are_aligned)
{
    fm_arena a;
    cr_assert_eq(fm_arena_init(&a, block, sizeof block, 0), FM_OK);
    size_t off[5];
    const size_t req[5] = {1, 63, 64, 65, 200};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(fm_arena_alloc(&a, req[i], &off[i]), FM_OK);
        cr_expect_eq(off[i] % 64, 0, "offset %zu not 64-aligned", off[i]);
        cr_expect_eq((uintptr_t)fm_arena_ptr(&a, off[i]) % 64, 0);
    }
    /* 1, 63, 64 -> 64 each; 65 -> 128; 200 -> 256 */
    cr_expect_eq(off[1], 64);
    cr_expect_eq(off[3], 192);
    cr_expect_eq(off[4], 320);
    cr_expect_eq(a.used, 576);
}

Test(arena, larger_alignment_and_misaligned_base)
{
    fm_arena a;
    cr_assert_eq(fm_arena_init(&a, block + 8, 1024, 256), FM_OK);
    cr_expect_eq((uintptr_t)a.base % 256, 0, "base re-aligned");
    cr_expect_eq(a.size, 1024 - 248);
    size_t off;
    cr_assert_eq(fm_arena_alloc(&a, 10, &off), FM_OK);
    cr_assert_eq(fm_arena_alloc(&a, 10, &off), FM_OK);
    cr_expect_eq(off, 256);
    cr_expect_eq(fm_arena_init(&a, block, 1024, 96), FM_ERR_ARG, "not a power of two");
    cr_expect_eq(fm_arena_init(&a, block, 1024, 32), FM_ERR_ARG, "below 64");
}

Test(arena, marks_reset_and_high_water)
{
    fm_arena a;
    size_t off;
    fm_arena_init(&a, block, sizeof block, 0);
    fm_arena_alloc(&a, 100, &off);
    fm_arena_mark m = fm_arena_get_mark(&a, "activations");
    cr_expect_str_eq(m.name, "activations");
    cr_expect_eq(m.used, 128);
    fm_arena_alloc(&a, 1000, &off);
    fm_arena_alloc(&a, 1000, &off);
    cr_expect_eq(a.high, 128 + 1024 + 1024);
    fm_arena_reset(&a, m);
    cr_expect_eq(a.used, 128);
    cr_assert_eq(fm_arena_alloc(&a, 10, &off), FM_OK);
    cr_expect_eq(off, 128, "memory after the mark is reused");
    cr_expect_eq(a.high, 128 + 2048, "high-water mark survives reset");
}

Test(arena, exhaustion_is_an_error_not_a_crash)
{
    fm_arena a;
    size_t off = 12345;
    fm_arena_init(&a, block, 256, 0);
    cr_assert_eq(fm_arena_alloc(&a, 100, &off), FM_OK); /* rounds to 128 */
    size_t used = a.used;
    cr_expect_eq(fm_arena_alloc(&a, 200, &off), FM_ERR_ARENA);
    cr_expect_eq(a.used, used, "failed request leaves the arena unchanged");
    cr_expect_eq(fm_arena_alloc(&a, SIZE_MAX, &off), FM_ERR_ARENA, "overflowing request");
    cr_expect_eq(fm_arena_alloc(&a, SIZE_MAX - 10, &off), FM_ERR_ARENA);
    cr_expect_eq(fm_arena_alloc(&a, 128, &off), FM_OK, "exact fit still works");
    cr_expect_eq(off, 128);
    cr_expect_eq(fm_arena_free_bytes(&a), 0);
}

Test(arena, device_arena_hands_out_offsets)
{
    fm_arena a;
    size_t off;
    cr_assert_eq(fm_arena_init(&a, NULL, 1 << 20, 256), FM_OK);
    cr_assert_eq(fm_arena_alloc(&a, 1, &off), FM_OK);
    cr_assert_eq(fm_arena_alloc(&a, 1, &off), FM_OK);
    cr_expect_eq(off, 256);
    cr_expect_null(fm_arena_ptr(&a, off));
}

Test(arena, backend_tensor_alloc_reports_bytes)
{
    fm_backend *be = tu_ref();
    fm_tensor t = fm_tensor_4d(FM_F32, 1024, 1024, 32, 1); /* 128 MiB > 64 MiB arena */
    cr_expect_eq(fm_tensor_alloc(be, &t), FM_ERR_ARENA);
    cr_expect(strstr(be->err, "134217728") != NULL, "message names the request: %s", be->err);
    cr_expect(strstr(be->err, "free") != NULL, "message names what is free: %s", be->err);
}
