/* Backends as a user of the library sees them: open one by name, give it memory,
 * allocate tensors from its arena, move bytes and run ops (fm_run checks shapes,
 * then dispatches). How a backend is built -- its table of kernels -- is in
 * backend_impl.h, which only backends include.
 *
 * Memory: a backend takes ONE allocation when it opens (the caller's host block for
 * `ref`/`cpu`, one device allocation of cfg.arena_bytes for `opencl`/`cuda`) and
 * carves every tensor from it with an fm_arena. Nothing is allocated afterwards. */
#ifndef FMRT_BACKEND_H
#define FMRT_BACKEND_H

#include <stdarg.h>
#include <stddef.h>

#include "arena.h"
#include "ops.h"
#include "status.h"
#include "tensor.h"

typedef struct fm_backend fm_backend;
/* The table a backend fills (backend_impl.h); opaque to users of the library. */
typedef struct fm_backend_iface fm_backend_iface;

typedef struct fm_backend_config {
    const char *name; /* "ref", "cpu", "opencl", "cuda" or "auto" (NULL = "auto") */
    void *mem;        /* host memory the caller owns; ref: the tensor arena; cpu:
                         its state and scratch, then the tensor arena (see
                         fm_backend_host_bytes); device backends: small state */
    size_t mem_bytes;
    size_t arena_bytes;       /* device backends: size of the one device allocation; cpu:
                                 the tensor arena's share of mem (0: all but the scratch) */
    int device_index;         /* device backends: -1 = first usable device */
    const char *device_match; /* device backends: substring of the device name, or NULL */
    unsigned flags;           /* FM_BACKEND_* */
    int gpu_only;             /* device backends: refuse CPU devices (set by "auto", which
                                 prefers the host backends to an OpenCL CPU device) */
    int threads;              /* cpu backend: worker threads, 0 = the cores available */
} fm_backend_config;

#define FM_ERR_LEN 512

/* An observer of every op fm_run dispatches (TensorFlow Lite Micro's MicroProfiler
 * shape): called with after = 0 just before the kernel and after = 1 just after it
 * returned (s is its status; FM_OK when after = 0). The runtime keeps no clock and
 * computes nothing here: a profiler (fmrt bench --ops) times calls, a debugger could
 * dump tensors. A device backend's kernels are asynchronous: an observer that times
 * them calls fm_sync first. NULL (the default after open) costs one branch per op. */
typedef void (*fm_op_observer)(void *user, fm_backend *be, const fm_call *c, int after,
                               fm_status s);

/* Host memory a device backend wants in fm_backend_config.mem: its state plus
 * staging for the compiled-program cache (an OpenCL program binary is ~2 MiB on
 * PoCL). With less, it still works but rebuilds its program on every open. */
#define FM_DEVICE_HOST_BYTES ((size_t)16 << 20)

/* fm_backend_config.flags */
#define FM_BACKEND_TF32 1u /* cuda: TF32 tensor-core GEMMs (opt-in; see docs/conformance.md) */
#define FM_BACKEND_BF16 2u /* cpu: bfloat16 operands in the 3x3 convs' GEMMs, float32 sums (opt-in) */

struct fm_backend {
    const fm_backend_iface *iface;
    fm_arena arena;          /* tensor memory; offsets into `buffer` */
    void *buffer;            /* what tensors carry as base (host ptr, cl_mem, device ptr) */
    void *impl;              /* backend-private state */
    fm_arena host;           /* the caller's host block (device backends keep state here) */
    unsigned flags;          /* fm_backend_config.flags it was opened with */
    char err[FM_ERR_LEN];    /* last error message of this context */
    fm_op_observer observer; /* see fm_op_observer; set after open, NULL = none */
    void *observer_user;
};

/* Open a backend by name ("plan" opens the memory-counting backend). "auto" tries cuda,
 * then opencl (GPU devices only), then cpu, then ref. Asking for a
 * backend that is not compiled in, has no device or fails in the driver returns
 * that status with a message naming what is missing. */
fm_status fm_backend_open(fm_backend *be, const fm_backend_config *cfg);
void fm_backend_close(fm_backend *be);
const char *fm_backend_name(const fm_backend *be);
const char *fm_backend_describe(fm_backend *be);
/* The last error message of this context ("" when none). */
const char *fm_backend_error(const fm_backend *be);

/* Host bytes (cfg.mem_bytes) backend `name` needs for a tensor arena of `arena_bytes`
 * with `threads` (0 = the cores available): the host backends carve the arena from the
 * host block (ref: the arena plus alignment slack; cpu: plus its pool state and
 * per-thread scratch; "auto": the larger, as it may open either); device backends
 * (opencl, cuda) keep only small state there and get 0, the caller's choice. FM_ERR_ARG
 * when the sum overflows. */
fm_status fm_backend_host_bytes(const char *name, size_t arena_bytes, int threads, size_t *bytes);

/* Names compiled into this build, in "auto" preference order; NULL-terminated. */
const char *const *fm_backend_compiled(void);
/* Test-harness backends of this build, opened by name only (never by "auto", and not
 * in fm_backend_compiled): "cuda-emu" in test builds. NULL-terminated. */
const char *const *fm_backend_test_harnesses(void);
int fm_backend_is_compiled(const char *name);
/* 0 for the plan backend, which counts memory and keeps no data (its uploads are
 * dropped): model code skips host-side work that only fills tensors, so that planning
 * a configuration costs arithmetic, not work that scales with its sizes. 1 otherwise. */
int fm_backend_keeps_data(const fm_backend *be);
/* Is `op` supported by this backend? */
int fm_backend_supports(const fm_backend *be, fm_op op);

/* Tensor memory from the backend's arena (shape taken from *t, base/off set). */
fm_status fm_tensor_alloc(fm_backend *be, fm_tensor *t);
/* Give back the memory of a tensor fm_tensor_alloc returned (same shape and offset),
 * for later allocations to reuse (fm_arena_free); ops queued on it before still see
 * it, as every backend runs its calls in order. */
fm_status fm_tensor_free(fm_backend *be, const fm_tensor *t);
fm_status fm_upload(fm_backend *be, const fm_tensor *dst, const void *src);
fm_status fm_download(fm_backend *be, void *dst, const fm_tensor *src);
fm_status fm_copy(fm_backend *be, const fm_tensor *dst, const fm_tensor *src);
fm_status fm_fill(fm_backend *be, const fm_tensor *dst, float value);
fm_status fm_sync(fm_backend *be);

/* Check shapes, then dispatch. */
fm_status fm_run(fm_backend *be, const fm_call *c);

/* Record a message in be->err and return s (printf-style; never allocates). */
fm_status fm_fail(fm_backend *be, fm_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Host bytes (fm_backend_config.mem) the plan backend's allocation tracker needs to
 * follow `allocs` tensor allocations. */
size_t fm_plan_track_bytes(size_t allocs);
/* The plan backend's live-set lower bound so far: the most bytes that were live at
 * one time, where an allocation is live from the first to the last op or memory move
 * that touches it (a tensor touches the most recent allocation that contains its
 * offset, so views and reused offsets count right). Parameters and any other
 * persistent state count like every allocation. No allocator can run the same calls
 * in less. FM_ERR_ARG when be is not a plan backend opened with host memory;
 * FM_ERR_ARENA, naming the bytes needed, when the tracker ran out of room. */
fm_status fm_plan_live_bytes(fm_backend *be, size_t *bytes);

#endif
