/* The implementer's header: what a backend fills in and may call. Users of the
 * library include fmrt.h instead; only kernels_<backend>/ and runtime/ see this.
 *
 * A backend is a table of function pointers (ggml's shape, made flat): memory
 * movement (upload, download, copy, fill, sync) plus one kernel per op, indexed by
 * fm_op and generated from FM_OP_LIST (ops.h), so that a missing kernel is a link
 * error naming it. A backend without a kernel for an op writes that entry as NULL
 * on purpose: fm_run then says "unsupported" and conformance reports it.
 *
 * Per-backend facts the runtime needs (how much host memory for a given arena)
 * come through the table too (ggml's get_alloc_size), never through a backend's
 * own headers: the runtime knows no backend's internals. */
#ifndef FMRT_BACKEND_IMPL_H
#define FMRT_BACKEND_IMPL_H

#include "backend.h"

typedef fm_status (*fm_kernel_fn)(fm_backend *be, const fm_call *c);

struct fm_backend_iface {
    const char *name;
    /* Fill be->arena, be->buffer and be->impl; on failure leave a message in be->err. */
    fm_status (*open)(fm_backend *be, const fm_backend_config *cfg);
    void (*close)(fm_backend *be);
    fm_status (*upload)(fm_backend *be, const fm_tensor *dst, const void *src);
    fm_status (*download)(fm_backend *be, void *dst, const fm_tensor *src);
    fm_status (*copy)(fm_backend *be, const fm_tensor *dst, const fm_tensor *src);
    fm_status (*fill)(fm_backend *be, const fm_tensor *dst, float value);
    fm_status (*sync)(fm_backend *be);
    const fm_kernel_fn *kernels; /* [FM_OP_COUNT] */
    /* Text for the one-line device description (may be NULL). */
    const char *(*describe)(fm_backend *be);
    /* Optional: told of every tensor fm_tensor_alloc placed (t->off, its bytes). The
     * plan backend records allocations here to measure live sets; others leave it NULL. */
    void (*on_alloc)(fm_backend *be, const fm_tensor *t);
    /* Optional: host bytes (fm_backend_config.mem_bytes) this backend needs for a
     * tensor arena of arena_bytes with `threads` (see fm_backend_host_bytes); FM_ERR_ARG
     * when the sum overflows. NULL: the backend keeps only small state in host memory
     * (device backends), and the caller chooses the size. */
    fm_status (*host_bytes)(size_t arena_bytes, int threads, size_t *bytes);
};

/* The tables of the backend folders (each defined only when compiled in), collected
 * by registry.c, the one file that names them all. */
extern const fm_backend_iface fm_backend_ref;
extern const fm_backend_iface fm_backend_cpu;
extern const fm_backend_iface fm_backend_opencl;
extern const fm_backend_iface fm_backend_cuda;
/* kernels_cuda/ built for the host by the test harness tests/cuda_emu (FMRT_CUDA_EMU):
 * opened by name only, never by "auto". */
extern const fm_backend_iface fm_backend_cuda_emu;
/* Always present, never chosen by "auto": see plan.c. */
extern const fm_backend_iface fm_backend_plan;

/* Host bytes of a backend whose tensor arena is carved from the host block (ref):
 * the arena plus the alignment slack of the block and of its first offset. */
fm_status fm_host_arena_bytes(size_t arena_bytes, size_t extra, size_t *bytes);

#endif
