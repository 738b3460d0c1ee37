/* Shared helpers for the Criterion suites: a ref backend over a test-owned block,
 * tensors with deterministic contents, closeness checks and a generic gradient
 * check (central differences, accumulated in double). Tests may use malloc; the
 * library may not. */
#ifndef FMRT_TESTUTIL_H
#define FMRT_TESTUTIL_H

#include <stdint.h>

#include "fmrt.h"

/* A ref backend over a 64 MiB block, opened once per process, arena reset to
 * empty on every call. */
fm_backend *tu_ref(void);

/* A float32 (or other dtype) tensor in be's arena, zero-filled. Unused dims: pass 1
 * and the right ndim. */
fm_tensor tu_tensor(fm_backend *be, fm_dtype d, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* Copy host floats in / out (ref backend: plain memcpy via fm_upload/fm_download). */
void tu_set(fm_backend *be, const fm_tensor *t, const float *v);
void tu_set_i32(fm_backend *be, const fm_tensor *t, const int32_t *v);
void tu_get(fm_backend *be, const fm_tensor *t, float *v);
/* Uniform in [lo, hi) from a small deterministic generator keyed by seed. */
void tu_rand(fm_backend *be, const fm_tensor *t, uint32_t seed, float lo, float hi);

/* Run a call through the dispatch table and assert it returned FM_OK (prints
 * be->err when not). */
void tu_run(fm_backend *be, const fm_call *c);

/* Assert |got - want| <= atol + rtol |want| element by element. */
void tu_expect_close(const float *got, const float *want, int64_t n, double atol, double rtol, const char *what);

/* Gradient check of one backward op against central differences of its forward.
 *
 *   L = sum_k sum_e out_k[e] * r_k[e]    (r_k fixed random weights)
 *
 * For every checked input x of the forward call, dL/dx is estimated as
 *   (L(x + h) - L(x - h)) / ((x + h) - (x - h))   per element, L in double,
 * where the denominator uses the float values actually stored. The analytic
 * gradient comes from running `bwd` with its dout slots holding r_k and its
 * gradient slots zeroed first (so "+=" and "=" conventions both work).
 * `bwd` must already name tensors for its saved inputs (the forward's outputs and
 * inputs, usually the same tensors); the forward is re-run on the unperturbed
 * inputs before the backward.
 * Returns the worst relative L2 error ||g - g_num|| / max(||g_num||, 1e-12) over
 * the checked inputs and prints one "gradcheck <label> slot <k>: rel <e>" line each. */
typedef struct tu_grad_case {
    fm_call fwd;
    fm_call bwd;
    int n_out;           /* forward outputs that enter L (1 or 2) */
    int out_slot[2];     /* their slots in fwd */
    int dout_slot[2];    /* slots in bwd receiving dL/dout_k = r_k */
    int n_wrt;           /* inputs checked (1..4) */
    int in_slot[4];      /* their slots in fwd */
    int grad_slot[4];    /* slots in bwd holding their gradients */
    double h;            /* step (0 = 1e-2) */
} tu_grad_case;

double tu_gradcheck(fm_backend *be, tu_grad_case *gc, const char *label);

#endif
