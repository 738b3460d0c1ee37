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

/* ---- checked size arithmetic (runtime/size.h) and the sizes built on it ---------- */

#include "size.h"

Test(size, helpers_detect_overflow)
{
    size_t r = 7;
    cr_expect(fm_mul_size(0, SIZE_MAX, &r) && r == 0);
    cr_expect(fm_mul_size(SIZE_MAX, 1, &r) && r == SIZE_MAX);
    r = 7;
    cr_expect(!fm_mul_size(SIZE_MAX / 2 + 1, 2, &r), "2^63 * 2 wraps to 0");
    cr_expect(!fm_mul_size((size_t)1 << (4 * sizeof(size_t)), (size_t)1 << (4 * sizeof(size_t)),
                           &r));
    cr_expect_eq(r, 7, "the result is untouched on overflow");
    cr_expect(fm_add_size(SIZE_MAX - 1, 1, &r) && r == SIZE_MAX);
    cr_expect(!fm_add_size(SIZE_MAX, 1, &r));
    cr_expect(!fm_add_size(1, SIZE_MAX, &r));
    cr_expect(fm_mul_add_size(3, 4, 5, &r) && r == 17);
    cr_expect(!fm_mul_add_size(SIZE_MAX / 4 + 1, 4, 0, &r));
    cr_expect(!fm_mul_add_size(SIZE_MAX / 4, 4, 4, &r), "the sum overflows");
    int64_t q = 7;
    cr_expect(fm_mul_i64(-3, 4, &q) && q == -12);
    cr_expect(fm_mul_i64(INT64_MAX, 1, &q) && q == INT64_MAX);
    cr_expect(!fm_mul_i64(INT64_MAX / 2 + 1, 2, &q));
    cr_expect(!fm_mul_i64(INT64_MIN, -1, &q));
    cr_expect(!fm_mul_i64((int64_t)1 << 32, (int64_t)1 << 31, &q));
    cr_expect(fm_mul_i64(-((int64_t)1 << 32), (int64_t)1 << 31, &q) && q == INT64_MIN);
}

Test(size, tensor_numel_and_bytes_refuse_overflow)
{
    /* [1, 262144, 2^24, 2^24]: the attention matrix of a 4096x4096 image with 262144
     * heads, which a file's config may describe; the product is 2^66. */
    fm_tensor t = fm_tensor_4d(FM_F32, 1, 262144, 1 << 24, 1 << 24);
    cr_expect_eq(fm_tensor_numel(&t), -1);
    cr_expect_eq(fm_tensor_bytes(&t), 0);
    /* numel fits in int64, numel * 4 does not fit in size_t (on 64-bit hosts). */
    fm_tensor u = fm_tensor_2d(FM_F32, INT64_MAX, 1);
    cr_expect_eq(fm_tensor_numel(&u), INT64_MAX);
    if (sizeof(size_t) <= sizeof(int64_t))
        cr_expect_eq(fm_tensor_bytes(&u), 0);
    fm_tensor v = fm_tensor_2d(FM_U8, 3, 5);
    cr_expect_eq(fm_tensor_bytes(&v), 15);
}

Test(size, tensor_alloc_reports_an_overflowing_shape)
{
    fm_backend *be = tu_ref();
    size_t used = be->arena.used;
    fm_tensor t = fm_tensor_4d(FM_F32, 1, 262144, 1 << 24, 1 << 24);
    cr_expect_eq(fm_tensor_alloc(be, &t), FM_ERR_ARENA);
    cr_expect(strstr(be->err, "overflows") != NULL, "message: %s", be->err);
    cr_expect_eq(be->arena.used, used);
    fm_tensor w = fm_tensor_2d(FM_F32, INT64_MAX, 1);
    cr_expect_eq(fm_tensor_alloc(be, &w), FM_ERR_ARENA);
}

Test(size, op_check_refuses_overflowing_products)
{
    /* The attention check multiplies dims of different tensors (N heads L L); with
     * L = 2^24 that used to overflow int64 inside the shape check itself. */
    static char base;
    fm_tensor qkv = fm_tensor_4d(FM_F32, 1, 3 * 4, 1 << 12, 1 << 12);
    fm_tensor o = fm_tensor_4d(FM_F32, 1, 4, 1 << 12, 1 << 12);
    fm_tensor att = fm_tensor_4d(FM_F32, 1, 4, 1 << 24, 1 << 24); /* 2^50: fits */
    qkv.base = o.base = att.base = &base;
    char msg[256];
    fm_call c = {.op = FM_OP_ATTENTION_FWD, .t = {o, att, qkv}, .i = {4}};
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_OK, "%s", msg);
    fm_tensor qkv2 = fm_tensor_4d(FM_F32, 1, 3 * 65536, 1 << 12, 1 << 12);
    fm_tensor o2 = fm_tensor_4d(FM_F32, 1, 65536, 1 << 12, 1 << 12);
    qkv2.base = o2.base = &base;
    fm_call c2 = {.op = FM_OP_ATTENTION_FWD, .t = {o2, att, qkv2}, .i = {65536}};
    cr_expect_eq(fm_op_check(&c2, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "overflows") != NULL, "message: %s", msg);
    /* A tensor whose own element count overflows is refused before any rule. */
    fm_tensor big = fm_tensor_4d(FM_F32, 1 << 20, 1 << 20, 1 << 20, 1 << 20);
    big.base = &base;
    fm_call c3 = {.op = FM_OP_SILU_FWD, .t = {big, big}};
    cr_expect_eq(fm_op_check(&c3, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "overflows") != NULL, "message: %s", msg);
}

/* fm_arena_free: the top allocation lowers `used`; others become holes that later
 * requests fill best-fit; neighbours merge; a reset drops the holes above its mark. */
Test(arena, free_reuses_holes_best_fit)
{
    fm_arena a;
    size_t o[4], off;
    fm_arena_init(&a, block, sizeof block, 0);
    const size_t req[4] = {256, 128, 512, 64};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(fm_arena_alloc(&a, req[i], &o[i]), FM_OK);
    cr_expect_eq(a.used, 960);
    cr_expect_eq(fm_arena_free(&a, o[3], 64), FM_OK);
    cr_expect_eq(a.used, 896, "the top allocation goes back to the free top");
    cr_expect_eq(fm_arena_free(&a, o[0], 256), FM_OK);
    cr_expect_eq(fm_arena_free(&a, o[2], 512), FM_OK);
    cr_expect_eq(a.used, 384, "freeing the new top also swallows nothing below a live one");
    cr_expect_eq(a.nholes, 1);
    /* Holes: [0, 256). 100 bytes fit there; 300 do not and grow the top. */
    cr_assert_eq(fm_arena_alloc(&a, 100, &off), FM_OK);
    cr_expect_eq(off, 0);
    cr_assert_eq(fm_arena_alloc(&a, 300, &off), FM_OK);
    cr_expect_eq(off, 384);
    cr_expect_eq(fm_arena_free(&a, 0, 100), FM_OK);
    cr_expect_eq(fm_arena_free(&a, 0, 100), FM_ERR_ARG, "a double free is refused");
    cr_expect_eq(fm_arena_free(&a, 4000, 64), FM_ERR_ARG, "above used");
    cr_expect_eq(fm_arena_free(&a, 130, 64), FM_ERR_ARG, "misaligned");
    /* [0,128) hole, [128,256) hole merge with the freed o[1] at 256: one hole [0, 384). */
    cr_expect_eq(fm_arena_free(&a, o[1], 128), FM_OK);
    cr_expect_eq(a.nholes, 1);
    cr_expect_eq(a.holes[0].off, 0);
    cr_expect_eq(a.holes[0].bytes, 384);
    fm_arena_mark m = {"start", 0};
    fm_arena_reset(&a, m);
    cr_expect_eq(a.nholes, 0);
    cr_expect_eq(a.used, 0);
    cr_expect_eq(a.high, 960, "high-water mark survives frees and resets");
}

Test(arena, a_full_hole_table_forgets_the_smallest)
{
    enum { H = FM_ARENA_HOLES };
    fm_arena a;
    size_t off[2 * H + 2], o;
    static _Alignas(64) uint8_t big[64 * (2 * H + 3)];
    fm_arena_init(&a, big, sizeof big, 0);
    /* Blocks of 64 bytes but block 2H (128); freeing the even ones wants H + 1 holes
     * (the odd ones keep them apart). */
    for (int i = 0; i < 2 * H + 2; i++)
        cr_assert_eq(fm_arena_alloc(&a, i == 2 * H ? 128 : 64, &off[i]), FM_OK);
    for (int i = 0; i <= 2 * H; i += 2)
        cr_assert_eq(fm_arena_free(&a, off[i], i == 2 * H ? 128 : 64), FM_OK);
    cr_expect_eq(a.nholes, H, "the table holds %d holes", H);
    cr_assert_eq(fm_arena_alloc(&a, 128, &o), FM_OK);
    cr_expect_eq(o, off[2 * H], "the largest hole is kept and fits 128 bytes");
}
