#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"

Test(backend, ref_is_always_compiled)
{
    cr_expect(fm_backend_is_compiled("ref"));
    const char *const *names = fm_backend_compiled();
    int n = 0;
    while (names[n])
        n++;
    cr_expect_str_eq(names[n - 1], "ref", "ref is the last resort of auto");
}

Test(backend, unknown_and_missing_backends_are_named)
{
    fm_backend be;
    static char mem[4096];
    fm_backend_config cfg = {.name = "tpu", .mem = mem, .mem_bytes = sizeof mem};
    cr_expect_eq(fm_backend_open(&be, &cfg), FM_ERR_ARG);
    cr_expect(strstr(be.err, "tpu") != NULL, "%s", be.err);
    const char *gpu[] = {"opencl", "cuda"};
    for (int i = 0; i < 2; i++) {
        cfg.name = gpu[i];
        fm_status s = fm_backend_open(&be, &cfg);
        if (!fm_backend_is_compiled(gpu[i])) {
            cr_expect_eq(s, FM_ERR_NOT_COMPILED);
            cr_expect(strstr(be.err, "not compiled") != NULL, "%s", be.err);
        } else if (s != FM_OK) {
            /* Compiled in: the message names the backend and why (no device, driver, ...). */
            cr_expect(strstr(be.err, gpu[i]) != NULL, "%s", be.err);
        } else {
            fm_backend_close(&be);
        }
    }
}

Test(backend, auto_falls_back_to_ref)
{
    fm_backend be;
    static _Alignas(64) char mem[1 << 16];
    fm_backend_config cfg = {.name = "auto", .mem = mem, .mem_bytes = sizeof mem};
    cr_assert_eq(fm_backend_open(&be, &cfg), FM_OK, "%s", be.err);
    cr_expect(fm_backend_supports(&be, FM_OP_CONV2D_FWD));
    fm_backend_close(&be);
}

Test(backend, ref_without_memory_is_an_error)
{
    fm_backend be;
    fm_backend_config cfg = {.name = "ref"};
    cr_expect_eq(fm_backend_open(&be, &cfg), FM_ERR_ARG);
    cr_expect(strstr(be.err, "memory") != NULL, "%s", be.err);
}

Test(backend, every_op_has_a_ref_kernel_and_a_name)
{
    fm_backend *be = tu_ref();
    for (int op = 0; op < FM_OP_COUNT; op++) {
        const fm_op_info *info = fm_op_get_info((fm_op)op);
        cr_expect(fm_backend_supports(be, (fm_op)op), "ref lacks %s", info->name);
        cr_expect_eq(fm_op_from_name(info->name), (fm_op)op);
        cr_expect_eq((int)strlen(info->slots), info->ntensors);
        cr_expect_eq((int)strlen(info->dtypes), info->ntensors, "%s", info->name);
    }
    /* The slot facts come from FM_OP_LIST: names, dtypes, and "t<k>" past the end. */
    char name[16];
    cr_expect_str_eq(fm_op_slot_name(FM_OP_CONV2D_BWD, 3, name, sizeof name), "dout");
    cr_expect_str_eq(fm_op_slot_name(FM_OP_RNG, 0, name, sizeof name), "out");
    cr_expect_str_eq(fm_op_slot_name(FM_OP_RNG, 1, name, sizeof name), "t1");
    cr_expect_eq(fm_op_slot_dtype(FM_OP_EMBED_FWD, 2), FM_I32);
    cr_expect_eq(fm_op_slot_dtype(FM_OP_QUANTIZE_U8, 0), FM_U8);
    cr_expect_eq(fm_op_slot_dtype(FM_OP_QUANTIZE_U8, 1), FM_F32);
    cr_expect_eq(fm_op_from_name("nope"), FM_OP_COUNT);
}

Test(backend, shape_errors_name_the_op_and_tensor)
{
    fm_backend *be = tu_ref();
    fm_tensor in = tu_tensor(be, FM_F32, 4, 1, 3, 8, 8);
    fm_tensor w = tu_tensor(be, FM_F32, 4, 4, 2, 3, 3); /* 2 input channels, input has 3 */
    fm_tensor out = tu_tensor(be, FM_F32, 4, 1, 4, 8, 8);
    fm_call c = {.op = FM_OP_CONV2D_FWD, .t = {out, in, w}, .i = {1, 1}};
    cr_expect_eq(fm_run(be, &c), FM_ERR_ARG);
    cr_expect(strstr(be->err, "conv2d_fwd") != NULL, "%s", be->err);
    cr_expect(strstr(be->err, "tensor 2 (w)") != NULL, "%s", be->err);

    fm_call missing = {.op = FM_OP_SILU_FWD, .t = {out}};
    cr_expect_eq(fm_run(be, &missing), FM_ERR_ARG);
    cr_expect(strstr(be->err, "missing") != NULL, "%s", be->err);

    fm_tensor i32 = tu_tensor(be, FM_I32, 1, 4, 1, 1, 1);
    fm_call dtype = {.op = FM_OP_SILU_FWD, .t = {i32, i32}};
    cr_expect_eq(fm_run(be, &dtype), FM_ERR_ARG);
    cr_expect(strstr(be->err, "i32") != NULL, "%s", be->err);
}

/* The op observer (fmrt bench's profiler) sees every dispatched call twice, before and
 * after its kernel with the kernel's status, and calls refused by the shape check not
 * at all; with no observer nothing is called. */
typedef struct seen_calls {
    int before, after, last_op;
    fm_status last_status;
} seen_calls;

static void count_calls(void *user, fm_backend *be, const fm_call *c, int after, fm_status s)
{
    (void)be;
    seen_calls *n = user;
    if (after) {
        n->after++;
        n->last_status = s;
    } else {
        n->before++;
        cr_expect_eq(s, FM_OK);
    }
    n->last_op = c->op;
}

Test(backend, observer_sees_each_dispatched_call)
{
    fm_backend *be = tu_ref();
    fm_tensor x = tu_tensor(be, FM_F32, 1, 16, 1, 1, 1), y = tu_tensor(be, FM_F32, 1, 16, 1, 1, 1);
    seen_calls n = {0};
    be->observer = count_calls;
    be->observer_user = &n;
    fm_call silu = {.op = FM_OP_SILU_FWD, .t = {y, x}};
    cr_expect_eq(fm_run(be, &silu), FM_OK);
    cr_expect_eq(fm_run(be, &silu), FM_OK);
    cr_expect_eq(n.before, 2);
    cr_expect_eq(n.after, 2);
    cr_expect_eq(n.last_op, FM_OP_SILU_FWD);
    cr_expect_eq(n.last_status, FM_OK);
    fm_call bad = {.op = FM_OP_SILU_FWD, .t = {y}}; /* refused before dispatch */
    cr_expect_eq(fm_run(be, &bad), FM_ERR_ARG);
    cr_expect_eq(n.before, 2, "a call refused by the shape check is not observed");
    be->observer = NULL;
    cr_expect_eq(fm_run(be, &silu), FM_OK);
    cr_expect_eq(n.after, 2);
}

Test(backend, strerror_covers_every_status)
{
    for (int s = 0; s < FM_STATUS_COUNT; s++)
        cr_expect_str_neq(fm_strerror((fm_status)s), "unknown status");
    cr_expect_str_eq(fm_strerror(FM_STATUS_COUNT), "unknown status");
}

Test(tensor, shapes_strides_views)
{
    fm_tensor t = fm_tensor_4d(FM_F32, 2, 3, 4, 5);
    cr_expect_eq(fm_tensor_numel(&t), 120);
    cr_expect_eq(fm_tensor_bytes(&t), 480);
    cr_expect_eq(fm_tensor_stride(&t, 0), 60);
    cr_expect_eq(fm_tensor_stride(&t, 1), 20);
    cr_expect_eq(fm_tensor_stride(&t, 3), 1);
    fm_tensor s = fm_tensor_slice(t, 1, 1);
    cr_expect_eq(s.off, 240);
    cr_expect_eq(s.shape[0], 1);
    cr_expect_eq(fm_tensor_slice(t, 1, 2).ndim, 0, "slice past the end is absent");
    int64_t flat[2] = {6, 20};
    fm_tensor r = fm_tensor_reshape(t, 2, flat);
    cr_expect_eq(r.ndim, 2);
    int64_t wrong[1] = {7};
    cr_expect_eq(fm_tensor_reshape(t, 1, wrong).ndim, 0);
    char buf[32];
    cr_expect_str_eq(fm_tensor_shape_str(&t, buf, sizeof buf), "2x3x4x5");
    cr_expect_eq(fm_dtype_size(FM_F16), 2);
    cr_expect_str_eq(fm_dtype_name(FM_U8), "u8");
}

/* The plan backend's live-set bound: an allocation is live from its first to its last
 * use; a view counts for the allocation it lies in; an offset reused after a reset
 * belongs to the newer allocation. */
Test(backend, plan_measures_the_live_set)
{
    static _Alignas(64) char mem[1 << 16];
    fm_backend be;
    fm_backend_config cfg = {.name = "plan", .mem = mem, .mem_bytes = sizeof mem};
    cr_assert_eq(fm_backend_open(&be, &cfg), FM_OK);
    fm_tensor a = fm_tensor_1d(FM_F32, 64), b = a, c = fm_tensor_1d(FM_F32, 256), d = a;
    cr_assert_eq(fm_tensor_alloc(&be, &a), FM_OK);   /* 256 bytes */
    fm_arena_mark m = fm_arena_get_mark(&be.arena, "tmp");
    cr_assert_eq(fm_tensor_alloc(&be, &b), FM_OK);   /* 256 */
    cr_assert_eq(fm_tensor_alloc(&be, &c), FM_OK);   /* 1024, never used */
    fm_call silu = {.op = FM_OP_SILU_FWD, .t = {b, a}};
    cr_assert_eq(fm_run(&be, &silu), FM_OK);         /* a, b live: 512 */
    fm_arena_reset(&be.arena, m);
    cr_assert_eq(fm_tensor_alloc(&be, &d), FM_OK);   /* b's offset again */
    cr_expect_eq(d.off, b.off);
    fm_tensor view = fm_tensor_slice(fm_tensor_reshape(d, 2, (int64_t[]){2, 32}), 1, 1);
    fm_call add = {.op = FM_OP_ADD_FWD, .t = {view, view, view}};
    cr_assert_eq(fm_run(&be, &add), FM_OK);          /* d only: a is dead by now */
    size_t live;
    cr_assert_eq(fm_plan_live_bytes(&be, &live), FM_OK, "%s", be.err);
    cr_expect_eq(live, 512);
    cr_expect_eq(be.arena.high, 256 + 256 + 1024);
    fm_backend_close(&be);

    cfg.mem = NULL;
    cfg.mem_bytes = 0;
    cr_assert_eq(fm_backend_open(&be, &cfg), FM_OK);
    cr_expect_eq(fm_plan_live_bytes(&be, &live), FM_ERR_ARG, "no memory, no tracker");
    cr_expect(strstr(be.err, "fm_backend_config.mem") != NULL, "%s", be.err);
    fm_backend_close(&be);
}
