/* The thin layer between callers and a backend's table. It knows no op maths and
 * no backend: it checks shapes (ops.c), moves bytes through the table and formats
 * messages. Which backends exist is registry.c's business. */
#include "backend_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

fm_status fm_host_arena_bytes(size_t arena_bytes, size_t extra, size_t *bytes)
{
    extra += 4096; /* alignment of the block and of the arena's first offset */
    *bytes = 0;
    if (arena_bytes > SIZE_MAX - extra)
        return FM_ERR_ARG;
    *bytes = arena_bytes + extra;
    return FM_OK;
}

fm_status fm_fail(fm_backend *be, fm_status s, const char *fmt, ...)
{
    if (be) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(be->err, sizeof be->err, fmt, ap);
        va_end(ap);
    }
    return s;
}

void fm_backend_close(fm_backend *be)
{
    if (be && be->iface) {
        if (be->iface->close)
            be->iface->close(be);
        be->iface = NULL;
    }
}

const char *fm_backend_name(const fm_backend *be)
{
    return be && be->iface ? be->iface->name : "none";
}

const char *fm_backend_describe(fm_backend *be)
{
    if (be && be->iface && be->iface->describe)
        return be->iface->describe(be);
    return fm_backend_name(be);
}

const char *fm_backend_error(const fm_backend *be)
{
    return be ? be->err : "";
}

int fm_backend_supports(const fm_backend *be, fm_op op)
{
    return be && be->iface && (unsigned)op < FM_OP_COUNT && be->iface->kernels &&
           be->iface->kernels[op] != NULL;
}

fm_status fm_tensor_alloc(fm_backend *be, fm_tensor *t)
{
    size_t off, bytes;
    if (t->ndim < 1 || t->ndim > FM_MAX_DIMS)
        return fm_fail(be, FM_ERR_ARG, "tensor alloc: bad shape (ndim %d)", t->ndim);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 1)
            return fm_fail(be, FM_ERR_ARG, "tensor alloc: dimension %d is %lld", i,
                           (long long)t->shape[i]);
    /* Shapes may come from a file's config: a size that overflows is an error of
     * its own, not a small allocation. */
    if ((bytes = fm_tensor_bytes(t)) == 0) {
        char sh[96];
        return fm_fail(be, FM_ERR_ARENA, "tensor alloc: %s %s overflows the address space",
                       fm_dtype_name(t->dtype), fm_tensor_shape_str(t, sh, sizeof sh));
    }
    if (fm_arena_alloc(&be->arena, bytes, &off) != FM_OK)
        return fm_fail(be, FM_ERR_ARENA,
                       "%s arena exhausted: tensor of %zu bytes needs %zu, %zu of %zu bytes free",
                       fm_backend_name(be), bytes, fm_arena_round(&be->arena, bytes),
                       fm_arena_free_bytes(&be->arena), be->arena.size);
    t->base = be->buffer;
    t->off = off;
    if (be->iface && be->iface->on_alloc)
        be->iface->on_alloc(be, t);
    return FM_OK;
}

fm_status fm_tensor_free(fm_backend *be, const fm_tensor *t)
{
    size_t bytes = fm_tensor_bytes(t);
    if (!be || t->base != be->buffer || bytes == 0 ||
        fm_arena_free(&be->arena, t->off, bytes) != FM_OK) {
        char sh[96];
        return fm_fail(be, FM_ERR_ARG,
                       "tensor free: %s %s at offset %zu is not a live allocation of this arena "
                       "(%zu bytes used; freed twice?)",
                       fm_dtype_name(t->dtype), fm_tensor_shape_str(t, sh, sizeof sh), t->off,
                       be ? be->arena.used : 0);
    }
    return FM_OK;
}

#define NEED(fn)                                                                                   \
    do {                                                                                           \
        if (!be || !be->iface)                                                                     \
            return fm_fail(be, FM_ERR_ARG, "backend is not open");                                 \
        if (!be->iface->fn)                                                                        \
            return fm_fail(be, FM_ERR_NOT_IMPLEMENTED, "backend %s: " #fn " not implemented",      \
                           be->iface->name);                                                       \
    } while (0)

fm_status fm_upload(fm_backend *be, const fm_tensor *dst, const void *src)
{
    NEED(upload);
    return be->iface->upload(be, dst, src);
}

fm_status fm_download(fm_backend *be, void *dst, const fm_tensor *src)
{
    NEED(download);
    return be->iface->download(be, dst, src);
}

fm_status fm_copy(fm_backend *be, const fm_tensor *dst, const fm_tensor *src)
{
    NEED(copy);
    if (fm_tensor_bytes(dst) != fm_tensor_bytes(src))
        return fm_fail(be, FM_ERR_ARG, "copy: %zu bytes into %zu", fm_tensor_bytes(src),
                       fm_tensor_bytes(dst));
    return be->iface->copy(be, dst, src);
}

fm_status fm_fill(fm_backend *be, const fm_tensor *dst, float value)
{
    NEED(fill);
    return be->iface->fill(be, dst, value);
}

fm_status fm_sync(fm_backend *be)
{
    NEED(sync);
    return be->iface->sync(be);
}

fm_status fm_run(fm_backend *be, const fm_call *c)
{
    if (!be || !be->iface)
        return fm_fail(be, FM_ERR_ARG, "backend is not open");
    if (!c || (unsigned)c->op >= FM_OP_COUNT)
        return fm_fail(be, FM_ERR_ARG, "unknown op");
    fm_status s = fm_op_check(c, be->err, sizeof be->err);
    if (s != FM_OK)
        return s;
    if (!fm_backend_supports(be, c->op))
        return fm_fail(be, FM_ERR_UNSUPPORTED, "backend %s does not support op %s", be->iface->name,
                       fm_op_get_info(c->op)->name);
    if (!be->observer)
        return be->iface->kernels[c->op](be, c);
    be->observer(be->observer_user, be, c, 0, FM_OK);
    s = be->iface->kernels[c->op](be, c);
    be->observer(be->observer_user, be, c, 1, s);
    return s;
}
