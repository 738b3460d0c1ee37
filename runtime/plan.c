/* The "plan" backend: every op succeeds without computing anything, memory moves
 * are no-ops, and its arena is a device-style arena of unlimited size. Running a
 * model on it checks every shape and leaves the exact bytes that model needs in
 * arena.high (ggml's reserve pass, with no second code path to keep in sync).
 * It is not part of "auto". */
#include "backend.h"

#include <stdint.h>

static fm_status plan_op(fm_backend *be, const fm_call *c)
{
    (void)be;
    (void)c;
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
    return FM_OK;
}

static void plan_close(fm_backend *be) { (void)be; }
static fm_status plan_upload(fm_backend *be, const fm_tensor *d, const void *s)
{
    (void)be, (void)d, (void)s;
    return FM_OK;
}
static fm_status plan_download(fm_backend *be, void *d, const fm_tensor *s)
{
    (void)be, (void)s;
    /* Callers read back scalars (a loss); give them zeros, not garbage. */
    for (size_t i = 0; i < fm_tensor_bytes(s); i++)
        ((unsigned char *)d)[i] = 0;
    return FM_OK;
}
static fm_status plan_copy(fm_backend *be, const fm_tensor *d, const fm_tensor *s)
{
    (void)be, (void)d, (void)s;
    return FM_OK;
}
static fm_status plan_fill(fm_backend *be, const fm_tensor *d, float v)
{
    (void)be, (void)d, (void)v;
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
};
