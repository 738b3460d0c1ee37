/* The reference backend's table. Its arena is the caller's host block, so a
 * tensor's base is a host pointer and memory movement is memcpy. */
#include <string.h>

#include "ref.h"

static const fm_kernel_fn kernels[FM_OP_COUNT] = {
#define FM_X(id, name, slots) [FM_OP_##id] = fm_ref_##name,
    FM_OP_LIST(FM_X)
#undef FM_X
};

/* Host memory movement, shared with every backend whose tensors live in host memory
 * (ref, cpu): base + off is a plain pointer. */

static fm_status ref_open(fm_backend *be, const fm_backend_config *cfg)
{
    if (!cfg->mem || cfg->mem_bytes == 0)
        return fm_fail(be, FM_ERR_ARG, "backend ref: no host memory given for its arena");
    /* The whole caller block is the tensor arena; nothing is kept on the side. */
    be->host.size = 0;
    if (fm_arena_init(&be->arena, cfg->mem, cfg->mem_bytes, 0) != FM_OK)
        return fm_fail(be, FM_ERR_ARG, "backend ref: bad host memory block");
    be->buffer = be->arena.base;
    return FM_OK;
}

static void ref_close(fm_backend *be) { (void)be; }

fm_status fm_ref_host_upload(fm_backend *be, const fm_tensor *dst, const void *src)
{
    (void)be;
    memmove((char *)dst->base + dst->off, src, fm_tensor_bytes(dst));
    return FM_OK;
}

fm_status fm_ref_host_download(fm_backend *be, void *dst, const fm_tensor *src)
{
    (void)be;
    memmove(dst, (const char *)src->base + src->off, fm_tensor_bytes(src));
    return FM_OK;
}

fm_status fm_ref_host_copy(fm_backend *be, const fm_tensor *dst, const fm_tensor *src)
{
    (void)be;
    memmove((char *)dst->base + dst->off, (const char *)src->base + src->off, fm_tensor_bytes(dst));
    return FM_OK;
}

fm_status fm_ref_host_fill(fm_backend *be, const fm_tensor *dst, float value)
{
    int64_t n = fm_tensor_numel(dst);
    switch (dst->dtype) {
    case FM_F32:
        for (int64_t i = 0; i < n; i++)
            fm_f32(dst)[i] = value;
        return FM_OK;
    case FM_I32:
        for (int64_t i = 0; i < n; i++)
            fm_i32(dst)[i] = (int32_t)value;
        return FM_OK;
    case FM_U8:
        memset(fm_u8(dst), (int)value, (size_t)n);
        return FM_OK;
    default: return fm_fail(be, FM_ERR_ARG, "fill: dtype %s unsupported", fm_dtype_name(dst->dtype));
    }
}

fm_status fm_ref_host_sync(fm_backend *be)
{
    (void)be;
    return FM_OK;
}

/* The whole host block is the arena, plus alignment slack. */
static fm_status ref_host_bytes(size_t arena_bytes, int threads, size_t *bytes)
{
    (void)threads;
    return fm_host_arena_bytes(arena_bytes, 0, bytes);
}

static const char *ref_describe(fm_backend *be)
{
    (void)be;
    return "ref (plain C, single thread)";
}

const fm_backend_iface fm_backend_ref = {
    .name = "ref",
    .open = ref_open,
    .close = ref_close,
    .upload = fm_ref_host_upload,
    .download = fm_ref_host_download,
    .copy = fm_ref_host_copy,
    .fill = fm_ref_host_fill,
    .sync = fm_ref_host_sync,
    .kernels = kernels,
    .describe = ref_describe,
    .host_bytes = ref_host_bytes,
};
