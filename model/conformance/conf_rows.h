/* Private to model/conformance: the rows, tolerances and comparison shared by the op
 * rows (ops.c, runtime only) and the whole-model rows (model.c). */
#ifndef FMRT_CONF_ROWS_H
#define FMRT_CONF_ROWS_H

#include "conformance.h"

/* NMSE limits for float32 (the table). Elementwise ops differ from the
 * reference by a few ulps per element (NMSE ~1e-14), so 1e-10 leaves room only for
 * libm differences (exp, sqrt, division in OpenCL are a few ulps, not correctly
 * rounded). Reductions and GEMMs sum in another order (tree, tiles): 1e-8. */
#define TOL_E 1e-10
#define TOL_R 1e-8
/* timeemb: the angle a_i = 1000 t f_i reaches 1000 rad. The reference forms it in
 * double; a float32 kernel rounds it to half an ulp of up to 1000 (3e-5 rad), and
 * sin/cos pass that error on unchanged. Simulated on the host (float angles, sinf,
 * cosf, t uniform in [0, 1), D = 32..128): NMSE 4e-11 forward, within 2.5x of TOL_E
 * before a device's looser sin/cos (4 ulp in OpenCL) add theirs; 2e-10 backward,
 * whose terms are weighted by 1000 f_i, i.e. by exactly the large, imprecise angles.
 * 1e-9 and 1e-8 keep a 25-50x margin and still catch a wrong frequency or swapped
 * sin/cos (NMSE ~1). */
#define TOL_TIMEEMB_FWD 1e-9
#define TOL_TIMEEMB_BWD 1e-8
/* Whole-model rows (the issue's): forward and loss 1e-8; after a training step and
 * after 10 sampler steps 1e-6 (errors of the forward grow through the backward and
 * compound over the steps). */
#define TOL_FWD 1e-8
#define TOL_STEP 1e-6
/* TF32 (opt-in on CUDA, FM_BACKEND_TF32): GEMM inputs are rounded to 10 mantissa
 * bits, a relative error of up to 2^-11 per operand, so a GEMM's NMSE lands near
 * 1e-7; ops that are not GEMMs are unaffected. Limits in TF32 mode: GEMM-shaped ops
 * (conv2d, linear, attention, xattn) 1e-5, whole-model forward 1e-4, after a step or 10
 * sampler steps 1e-3. */
#define TOL_TF32_GEMM 1e-5
#define TOL_TF32_FWD 1e-4
#define TOL_TF32_STEP 1e-3

/* bfloat16 (opt-in on cpu, FM_BACKEND_BF16: `--precision bf16`): the F(4x4) Winograd
 * GEMMs of the forward 3x3 convs take bfloat16 operands (8 mantissa bits, a relative
 * error of up to 2^-9 each) and sum in float32. The transforms around those GEMMs
 * amplify the rounding (as they do float32's: F(4x4) is ~30x F(2x2)'s NMSE): measured
 * on the conv rows NMSE 6.4e-4, whole-model forward 1.0e-3 to 4.5e-3, Euler/Heun 10
 * steps 7e-5 to 1.6e-4 (errors of the velocity average out over the steps), the
 * training loss 4e-8 to 3.5e-6. A training step's gradients under it are off by NMSE
 * up to 3e-2 (the backward runs in float32 on the bf16 forward's activations): bf16 is
 * a sampling path, and `fmrt train` does not offer it; its rows are reported with a
 * tolerance that only guards against a broken path. Limits: conv2d 2e-3, forward and
 * loss 2e-2, after a step or 10 sampler steps 1e-3, gradients 1e-1. */
#define TOL_BF16_CONV 2e-3
#define TOL_BF16_FWD 2e-2
#define TOL_BF16_STEP 1e-3
#define TOL_BF16_GRAD 1e-1

/* The tolerance a row gets on `be`: the float32 one unless `be` runs TF32 GEMMs or
 * bfloat16 convs. */
double fm_conf_tol(const fm_backend *be, const char *op, double tol);

/* Errors of one tensor: x the backend's, r the reference's. */
typedef struct fm_conf_cmp {
    double se, sr, max_abs;
    int nonfinite;
} fm_conf_cmp;

/* Errors of elements [off, off + n) of x (the backend's) against r (the reference's). */
fm_conf_cmp fm_conf_compare(const void *x, const void *r, fm_dtype d, int64_t off, int64_t n);
double fm_conf_nmse(const fm_conf_cmp *c);

/* A row: started, fed the errors of each compared tensor, failed by a call, emitted
 * (to the callback and the summary). */
void fm_conf_row_init(fm_conf_row *row, const char *op, const char *shape, double tol);
void fm_conf_row_add(fm_conf_row *row, const fm_conf_cmp *c, const char *what, int *first);
void fm_conf_row_failed(fm_conf_row *row, fm_status s, const char *who, const char *msg);
void fm_conf_emit(fm_conf_report cb, void *user, fm_conf_summary *sum, fm_conf_row *row);

/* bytes from the host staging arena. */
fm_status fm_conf_host_alloc(fm_arena *host, size_t bytes, void **p);

#endif
