/* Conformance of a backend against the reference: the descriptor table, the op
 * runner and the whole-model rows. See conformance.h for the contract.
 *
 * Inputs come from Philox on the host (key = a per-descriptor seed, stream = the
 * slot), so both backends receive the same bytes, and so does every run. */
#include "conformance.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "flow.h"
#include "philox.h"

/* ---- tolerances --------------------------------------------------------------------- */

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
 * (conv2d, linear, attention) 1e-5, whole-model forward 1e-4, after a step or 10
 * sampler steps 1e-3. */
#define TOL_TF32_GEMM 1e-5
#define TOL_TF32_FWD 1e-4
#define TOL_TF32_STEP 1e-3

/* The tolerance a row gets on `be`: the float32 one unless `be` runs TF32 GEMMs. */
static double tol_on(const fm_backend *be, const char *op, double tol)
{
    if (!(be->flags & FM_BACKEND_TF32))
        return tol;
    if (tol == TOL_FWD && (strncmp(op, "unet", 4) == 0 || strncmp(op, "train_loss", 10) == 0))
        return TOL_TF32_FWD;
    if (tol == TOL_STEP)
        return TOL_TF32_STEP;
    if (strncmp(op, "conv2d", 6) == 0 || strncmp(op, "linear", 6) == 0 ||
        strncmp(op, "attention", 9) == 0)
        return tol > TOL_TF32_GEMM ? tol : TOL_TF32_GEMM;
    return tol;
}

/* ---- the descriptor table ----------------------------------------------------------- */

typedef struct slot_desc {
    int ndim; /* 0: the optional tensor is absent */
    int64_t s[4];
    char gen; /* 'u' uniform [lo, hi); 'x' i32 index in [0, hi); 'q' quantize
                 input (uniform, first elements pinned); 'p' written by prep */
    float lo, hi;
} slot_desc;

enum { PREP_NONE = 0, PREP_GN_STATS, PREP_ATT };

typedef struct op_desc {
    fm_op op;
    const char *shape; /* the row's shape column */
    slot_desc t[FM_CALL_TENSORS];
    int32_t i[4];
    float f[8];
    uint64_t u[2];
    double tol;
    unsigned nocmp; /* bit k: slot k is scratch, not compared */
    int prep;       /* inputs that must be consistent: computed by the reference */
} op_desc;

/* The table is laid out by hand, one case to a few lines. */
/* clang-format off */
#define T1(a) {1, {a, 1, 1, 1}, 'u', -1.0f, 1.0f}
#define T2(a, b) {2, {a, b, 1, 1}, 'u', -1.0f, 1.0f}
#define T3(a, b, c) {3, {a, b, c, 1}, 'u', -1.0f, 1.0f}
#define T4(a, b, c, d) {4, {a, b, c, d}, 'u', -1.0f, 1.0f}
#define T1R(a, lo, hi) {1, {a, 1, 1, 1}, 'u', lo, hi}
#define T2R(a, b, lo, hi) {2, {a, b, 1, 1}, 'u', lo, hi}
#define T4R(a, b, c, d, lo, hi) {4, {a, b, c, d}, 'u', lo, hi}
#define IDX(n, r) {1, {n, 1, 1, 1}, 'x', 0.0f, (float)(r)}
#define PREP2(a, b) {2, {a, b, 1, 1}, 'p', 0.0f, 0.0f}
#define PREP4(a, b, c, d) {4, {a, b, c, d}, 'p', 0.0f, 0.0f}
#define NONE {0, {0, 0, 0, 0}, 0, 0.0f, 0.0f}

#define OP(id) .op = FM_OP_##id

/* AdamW at step 3 with the default betas: bc1 = 1 - 0.9^3, bc2 = 1 - 0.999^3. */
#define ADAMW_F {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.271f, 0.002997001f}

/* At least two cases per op, one of them odd (7x7, 3 channels, batch 3). */
static const op_desc descs[] = {
    /* conv2d: out, in, w, b?   i0 stride, i1 pad */
    {OP(CONV2D_FWD), "3x3x7x7 K3 s1 p1 Co5 +b",
     {T4(3, 5, 7, 7), T4(3, 3, 7, 7), T4(5, 3, 3, 3), T1(5)}, {1, 1}, .tol = TOL_R},
    {OP(CONV2D_FWD), "3x3x7x7 K3 s2 p1 Co4 +b",
     {T4(3, 4, 4, 4), T4(3, 3, 7, 7), T4(4, 3, 3, 3), T1(4)}, {2, 1}, .tol = TOL_R},
    {OP(CONV2D_FWD), "2x6x8x8 K1 s1 p0 Co3",
     {T4(2, 3, 8, 8), T4(2, 6, 8, 8), T4(3, 6, 1, 1), NONE}, {1, 0}, .tol = TOL_R},
    {OP(CONV2D_FWD), "2x8x14x14 K3 s2 p1 Co16 +b",
     {T4(2, 16, 7, 7), T4(2, 8, 14, 14), T4(16, 8, 3, 3), T1(16)}, {2, 1}, .tol = TOL_R},
    {OP(CONV2D_FWD), "1x1x28x28 K3 s1 p1 Co32 +b",
     {T4(1, 32, 28, 28), T4(1, 1, 28, 28), T4(32, 1, 3, 3), T1(32)}, {1, 1}, .tol = TOL_R},
    /* one output channel (conv_out): GEMMs with a single row (opencl: a GEMV) */
    {OP(CONV2D_FWD), "2x32x28x28 K3 s1 p1 Co1 +b",
     {T4(2, 1, 28, 28), T4(2, 32, 28, 28), T4(1, 32, 3, 3), T1(1)}, {1, 1}, .tol = TOL_R},
    /* 64 channels at 28x28: Winograd F(4x4, 3x3) on the cpu backend (its larger
     * transform rounding summed over 64 x 9 terms) */
    {OP(CONV2D_FWD), "2x64x28x28 K3 s1 p1 Co64 +b",
     {T4(2, 64, 28, 28), T4(2, 64, 28, 28), T4(64, 64, 3, 3), T1(64)}, {1, 1}, .tol = TOL_R},
    /* din?, dw +=, db? +=, dout, in, w */
    {OP(CONV2D_BWD), "3x3x7x7 K3 s1 p1 Co5 +b",
     {T4(3, 3, 7, 7), T4(5, 3, 3, 3), T1(5), T4(3, 5, 7, 7), T4(3, 3, 7, 7), T4(5, 3, 3, 3)},
     {1, 1}, .tol = TOL_R},
    {OP(CONV2D_BWD), "3x3x7x7 K3 s2 p1 Co4 +b",
     {T4(3, 3, 7, 7), T4(4, 3, 3, 3), T1(4), T4(3, 4, 4, 4), T4(3, 3, 7, 7), T4(4, 3, 3, 3)},
     {2, 1}, .tol = TOL_R},
    {OP(CONV2D_BWD), "2x6x8x8 K1 s1 p0 Co3 no din/db",
     {NONE, T4(3, 6, 1, 1), NONE, T4(2, 3, 8, 8), T4(2, 6, 8, 8), T4(3, 6, 1, 1)},
     {1, 0}, .tol = TOL_R},
    {OP(CONV2D_BWD), "2x8x14x14 K3 s2 p1 Co16 +b",
     {T4(2, 8, 14, 14), T4(16, 8, 3, 3), T1(16), T4(2, 16, 7, 7), T4(2, 8, 14, 14),
      T4(16, 8, 3, 3)},
     {2, 1}, .tol = TOL_R},
    {OP(CONV2D_BWD), "1x1x28x28 K3 s1 p1 Co32 no din",
     {NONE, T4(32, 1, 3, 3), T1(32), T4(1, 32, 28, 28), T4(1, 1, 28, 28), T4(32, 1, 3, 3)},
     {1, 1}, .tol = TOL_R},
    {OP(CONV2D_BWD), "2x32x28x28 K3 s1 p1 Co1 +b",
     {T4(2, 32, 28, 28), T4(1, 32, 3, 3), T1(1), T4(2, 1, 28, 28), T4(2, 32, 28, 28),
      T4(1, 32, 3, 3)},
     {1, 1}, .tol = TOL_R},
    {OP(CONV2D_BWD), "2x64x28x28 K3 s1 p1 Co64 +b",
     {T4(2, 64, 28, 28), T4(64, 64, 3, 3), T1(64), T4(2, 64, 28, 28), T4(2, 64, 28, 28),
      T4(64, 64, 3, 3)},
     {1, 1}, .tol = TOL_R},

    /* groupnorm: out, mean, rstd, in, gamma, beta   i0 groups, f0 eps. Inputs off
     * centre (mean ~1) so the variance is a difference of large terms. */
    {OP(GROUPNORM_FWD), "3x6x7x7 G3",
     {T4(3, 6, 7, 7), T2(3, 3), T2(3, 3), T4R(3, 6, 7, 7, -1.0f, 3.0f), T1R(6, 0.5f, 1.5f),
      T1(6)},
     {3}, {1e-5f}, .tol = TOL_R},
    {OP(GROUPNORM_FWD), "2x32x8x8 G8",
     {T4(2, 32, 8, 8), T2(2, 8), T2(2, 8), T4R(2, 32, 8, 8, -1.0f, 3.0f), T1R(32, 0.5f, 1.5f),
      T1(32)},
     {8}, {1e-5f}, .tol = TOL_R},
    {OP(GROUPNORM_FWD), "2x64x14x14 G8",
     {T4(2, 64, 14, 14), T2(2, 8), T2(2, 8), T4R(2, 64, 14, 14, -1.0f, 3.0f),
      T1R(64, 0.5f, 1.5f), T1(64)},
     {8}, {1e-5f}, .tol = TOL_R},
    /* i1 = FM_GN_ACT_SILU: out = silu(norm(in)), the sampler's fused pair; gamma and
     * beta put the normalised values on both sides of SiLU's minimum (y = -1.28). */
    {OP(GROUPNORM_FWD), "3x6x7x7 G3 +silu",
     {T4(3, 6, 7, 7), T2(3, 3), T2(3, 3), T4R(3, 6, 7, 7, -1.0f, 3.0f), T1R(6, 0.5f, 1.5f),
      T1(6)},
     {3, FM_GN_ACT_SILU}, {1e-5f}, .tol = TOL_R},
    {OP(GROUPNORM_FWD), "2x64x14x14 G8 +silu",
     {T4(2, 64, 14, 14), T2(2, 8), T2(2, 8), T4R(2, 64, 14, 14, -1.0f, 3.0f),
      T1R(64, 0.5f, 1.5f), T1(64)},
     {8, FM_GN_ACT_SILU}, {1e-5f}, .tol = TOL_R},
    /* din, dgamma +=, dbeta +=, dout, in, mean, rstd, gamma: the statistics are the
     * reference forward's (a real backward never sees others). */
    {OP(GROUPNORM_BWD), "3x6x7x7 G3",
     {T4(3, 6, 7, 7), T1(6), T1(6), T4(3, 6, 7, 7), T4R(3, 6, 7, 7, -1.0f, 3.0f), PREP2(3, 3),
      PREP2(3, 3), T1R(6, 0.5f, 1.5f)},
     {3}, {1e-5f}, .tol = TOL_R, .prep = PREP_GN_STATS},
    {OP(GROUPNORM_BWD), "2x32x8x8 G8",
     {T4(2, 32, 8, 8), T1(32), T1(32), T4(2, 32, 8, 8), T4R(2, 32, 8, 8, -1.0f, 3.0f),
      PREP2(2, 8), PREP2(2, 8), T1R(32, 0.5f, 1.5f)},
     {8}, {1e-5f}, .tol = TOL_R, .prep = PREP_GN_STATS},
    {OP(GROUPNORM_BWD), "2x64x14x14 G8",
     {T4(2, 64, 14, 14), T1(64), T1(64), T4(2, 64, 14, 14), T4R(2, 64, 14, 14, -1.0f, 3.0f),
      PREP2(2, 8), PREP2(2, 8), T1R(64, 0.5f, 1.5f)},
     {8}, {1e-5f}, .tol = TOL_R, .prep = PREP_GN_STATS},

    /* silu: out, in / din, dout, in. Wide ranges reach the saturated exp. */
    {OP(SILU_FWD), "3x3x7x7", {T4(3, 3, 7, 7), T4R(3, 3, 7, 7, -6.0f, 6.0f)}, .tol = TOL_E},
    {OP(SILU_FWD), "1001", {T1(1001), T1R(1001, -20.0f, 20.0f)}, .tol = TOL_E},
    {OP(SILU_BWD), "3x3x7x7", {T4(3, 3, 7, 7), T4(3, 3, 7, 7), T4R(3, 3, 7, 7, -6.0f, 6.0f)},
     .tol = TOL_E},
    {OP(SILU_BWD), "1001", {T1(1001), T1(1001), T1R(1001, -20.0f, 20.0f)}, .tol = TOL_E},

    /* linear: out[N,O], in[N,I], w[O,I], b?[O] */
    {OP(LINEAR_FWD), "3x5->3 +b", {T2(3, 3), T2(3, 5), T2(3, 5), T1(3)}, .tol = TOL_R},
    {OP(LINEAR_FWD), "2x64->256 +b", {T2(2, 256), T2(2, 64), T2(256, 64), T1(256)}, .tol = TOL_R},
    {OP(LINEAR_FWD), "5x33->17", {T2(5, 17), T2(5, 33), T2(17, 33), NONE}, .tol = TOL_R},
    /* din?, dw +=, db? +=, dout, in, w */
    {OP(LINEAR_BWD), "3x5->3 +b", {T2(3, 5), T2(3, 5), T1(3), T2(3, 3), T2(3, 5), T2(3, 5)},
     .tol = TOL_R},
    {OP(LINEAR_BWD), "2x64->256 +b no din",
     {NONE, T2(256, 64), T1(256), T2(2, 256), T2(2, 64), T2(256, 64)}, .tol = TOL_R},
    {OP(LINEAR_BWD), "5x33->17", {T2(5, 33), T2(17, 33), NONE, T2(5, 17), T2(5, 33), T2(17, 33)},
     .tol = TOL_R},

    /* bias_add: out, in, bias[N,C] / dbias[N,C], dout */
    {OP(BIAS_ADD_FWD), "3x3x7x7", {T4(3, 3, 7, 7), T4(3, 3, 7, 7), T2(3, 3)}, .tol = TOL_E},
    {OP(BIAS_ADD_FWD), "2x32x14x14", {T4(2, 32, 14, 14), T4(2, 32, 14, 14), T2(2, 32)},
     .tol = TOL_E},
    {OP(BIAS_ADD_BWD), "3x3x7x7", {T2(3, 3), T4(3, 3, 7, 7)}, .tol = TOL_R},
    {OP(BIAS_ADD_BWD), "2x32x14x14", {T2(2, 32), T4(2, 32, 14, 14)}, .tol = TOL_R},

    /* add: out, a, b / da?, db?, dout */
    {OP(ADD_FWD), "3x3x7x7", {T4(3, 3, 7, 7), T4(3, 3, 7, 7), T4(3, 3, 7, 7)}, .tol = TOL_E},
    {OP(ADD_FWD), "1001", {T1(1001), T1(1001), T1(1001)}, .tol = TOL_E},
    {OP(ADD_BWD), "3x3x7x7", {T4(3, 3, 7, 7), T4(3, 3, 7, 7), T4(3, 3, 7, 7)}, .tol = TOL_E},
    {OP(ADD_BWD), "1001 no db", {T1(1001), NONE, T1(1001)}, .tol = TOL_E},

    /* upsample2x: out[N,C,2H,2W], in / din, dout (the backward sums 2x2 blocks) */
    {OP(UPSAMPLE2X_FWD), "3x3x7x7", {T4(3, 3, 14, 14), T4(3, 3, 7, 7)}, .tol = TOL_E},
    {OP(UPSAMPLE2X_FWD), "2x16x4x4", {T4(2, 16, 8, 8), T4(2, 16, 4, 4)}, .tol = TOL_E},
    {OP(UPSAMPLE2X_BWD), "3x3x7x7", {T4(3, 3, 7, 7), T4(3, 3, 14, 14)}, .tol = TOL_R},
    {OP(UPSAMPLE2X_BWD), "2x16x4x4", {T4(2, 16, 4, 4), T4(2, 16, 8, 8)}, .tol = TOL_R},

    /* concat: out, a, b / da, db, dout */
    {OP(CONCAT_FWD), "3x(3+2)x7x7", {T4(3, 5, 7, 7), T4(3, 3, 7, 7), T4(3, 2, 7, 7)},
     .tol = TOL_E},
    {OP(CONCAT_FWD), "2x(32+16)x4x4", {T4(2, 48, 4, 4), T4(2, 32, 4, 4), T4(2, 16, 4, 4)},
     .tol = TOL_E},
    {OP(CONCAT_BWD), "3x(3+2)x7x7", {T4(3, 3, 7, 7), T4(3, 2, 7, 7), T4(3, 5, 7, 7)},
     .tol = TOL_E},
    {OP(CONCAT_BWD), "2x(32+16)x4x4", {T4(2, 32, 4, 4), T4(2, 16, 4, 4), T4(2, 48, 4, 4)},
     .tol = TOL_E},

    /* attention: out, att, qkv   i0 heads. qkv in [-2, 2] so the softmax is neither
     * flat nor one-hot. */
    {OP(ATTENTION_FWD), "3x8x3x3 h2 L9",
     {T4(3, 8, 3, 3), T4(3, 2, 9, 9), T4R(3, 24, 3, 3, -2.0f, 2.0f)}, {2}, .tol = TOL_R},
    {OP(ATTENTION_FWD), "2x32x7x7 h4 L49",
     {T4(2, 32, 7, 7), T4(2, 4, 49, 49), T4R(2, 96, 7, 7, -2.0f, 2.0f)}, {4}, .tol = TOL_R},
    {OP(ATTENTION_FWD), "1x64x7x7 h4 L49",
     {T4(1, 64, 7, 7), T4(1, 4, 49, 49), T4R(1, 192, 7, 7, -2.0f, 2.0f)}, {4}, .tol = TOL_R},
    /* dqkv, ws (scratch, not compared), dout, qkv, att (the reference forward's) */
    {OP(ATTENTION_BWD), "3x8x3x3 h2 L9",
     {T4(3, 24, 3, 3), T3(2, 9, 9), T4(3, 8, 3, 3), T4R(3, 24, 3, 3, -2.0f, 2.0f),
      PREP4(3, 2, 9, 9)},
     {2}, .tol = TOL_R, .nocmp = 1u << 1, .prep = PREP_ATT},
    {OP(ATTENTION_BWD), "2x32x7x7 h4 L49",
     {T4(2, 96, 7, 7), T3(2, 49, 49), T4(2, 32, 7, 7), T4R(2, 96, 7, 7, -2.0f, 2.0f),
      PREP4(2, 4, 49, 49)},
     {4}, .tol = TOL_R, .nocmp = 1u << 1, .prep = PREP_ATT},
    {OP(ATTENTION_BWD), "1x64x7x7 h4 L49",
     {T4(1, 192, 7, 7), T3(2, 49, 49), T4(1, 64, 7, 7), T4R(1, 192, 7, 7, -2.0f, 2.0f),
      PREP4(1, 4, 49, 49)},
     {4}, .tol = TOL_R, .nocmp = 1u << 1, .prep = PREP_ATT},

    /* timeemb: out[N,D], t[N] / dt, dout, t. t in [0, 1) as in training. */
    {OP(TIMEEMB_FWD), "3 D8", {T2(3, 8), T1R(3, 0.0f, 1.0f)}, .tol = TOL_TIMEEMB_FWD},
    {OP(TIMEEMB_FWD), "5 D32", {T2(5, 32), T1R(5, 0.0f, 1.0f)}, .tol = TOL_TIMEEMB_FWD},
    {OP(TIMEEMB_FWD), "2 D64", {T2(2, 64), T1R(2, 0.0f, 1.0f)}, .tol = TOL_TIMEEMB_FWD},
    {OP(TIMEEMB_BWD), "3 D8", {T1(3), T2(3, 8), T1R(3, 0.0f, 1.0f)}, .tol = TOL_TIMEEMB_BWD},
    {OP(TIMEEMB_BWD), "5 D32", {T1(5), T2(5, 32), T1R(5, 0.0f, 1.0f)}, .tol = TOL_TIMEEMB_BWD},
    {OP(TIMEEMB_BWD), "2 D64", {T1(2), T2(2, 64), T1R(2, 0.0f, 1.0f)}, .tol = TOL_TIMEEMB_BWD},

    /* embed: out[N,D], table[R,D], idx[N] / dtable[R,D] +=, dout, idx. N > R forces
     * repeated indices (the backward's scatter-add must not lose updates). */
    {OP(EMBED_FWD), "7 R3 D5", {T2(7, 5), T2(3, 5), IDX(7, 3)}, .tol = TOL_E},
    {OP(EMBED_FWD), "4 R11 D64", {T2(4, 64), T2(11, 64), IDX(4, 11)}, .tol = TOL_E},
    {OP(EMBED_BWD), "7 R3 D5", {T2(3, 5), T2(7, 5), IDX(7, 3)}, .tol = TOL_R},
    {OP(EMBED_BWD), "16 R11 D64", {T2(11, 64), T2(16, 64), IDX(16, 11)}, .tol = TOL_R},

    /* mse: loss[1], a, b / da?, db?, a, b   f0 dloss */
    {OP(MSE_FWD), "3x1x7x7", {T1(1), T4(3, 1, 7, 7), T4(3, 1, 7, 7)}, .tol = TOL_R},
    {OP(MSE_FWD), "2x3x16x16", {T1(1), T4(2, 3, 16, 16), T4(2, 3, 16, 16)}, .tol = TOL_R},
    {OP(MSE_BWD), "3x1x7x7", {T4(3, 1, 7, 7), T4(3, 1, 7, 7), T4(3, 1, 7, 7), T4(3, 1, 7, 7)},
     .f = {1.0f}, .tol = TOL_E},
    {OP(MSE_BWD), "2x3x16x16 no db",
     {T4(2, 3, 16, 16), NONE, T4(2, 3, 16, 16), T4(2, 3, 16, 16)}, .f = {0.5f}, .tol = TOL_E},

    /* fm_interp: xt, v, x0, x1, t[N] / dx0?, dx1?, dxt?, dv?, t */
    {OP(FM_INTERP_FWD), "3x1x7x7",
     {T4(3, 1, 7, 7), T4(3, 1, 7, 7), T4(3, 1, 7, 7), T4(3, 1, 7, 7), T1R(3, 0.0f, 1.0f)},
     .tol = TOL_E},
    {OP(FM_INTERP_FWD), "2x3x8x8",
     {T4(2, 3, 8, 8), T4(2, 3, 8, 8), T4(2, 3, 8, 8), T4(2, 3, 8, 8), T1R(2, 0.0f, 1.0f)},
     .tol = TOL_E},
    {OP(FM_INTERP_BWD), "3x1x7x7",
     {T4(3, 1, 7, 7), T4(3, 1, 7, 7), T4(3, 1, 7, 7), T4(3, 1, 7, 7), T1R(3, 0.0f, 1.0f)},
     .tol = TOL_E},
    {OP(FM_INTERP_BWD), "2x3x8x8 no dx1/dv",
     {T4(2, 3, 8, 8), NONE, T4(2, 3, 8, 8), NONE, T1R(2, 0.0f, 1.0f)}, .tol = TOL_E},

    /* axpby: out, x, y   f0 a, f1 b / dx?, dy?, dout */
    {OP(AXPBY_FWD), "3x3x7x7", {T4(3, 3, 7, 7), T4(3, 3, 7, 7), T4(3, 3, 7, 7)},
     .f = {0.7f, -1.3f}, .tol = TOL_E},
    {OP(AXPBY_FWD), "1001", {T1(1001), T1(1001), T1(1001)}, .f = {-0.1f, 1.0f}, .tol = TOL_E},
    {OP(AXPBY_BWD), "3x3x7x7", {T4(3, 3, 7, 7), T4(3, 3, 7, 7), T4(3, 3, 7, 7)},
     .f = {0.7f, -1.3f}, .tol = TOL_E},
    {OP(AXPBY_BWD), "1001 no dy", {T1(1001), NONE, T1(1001)}, .f = {-0.1f, 1.0f}, .tol = TOL_E},

    /* sum: out[1], in / din, dout[1] */
    {OP(SUM_FWD), "3x3x7x7", {T1(1), T4(3, 3, 7, 7)}, .tol = TOL_R},
    {OP(SUM_FWD), "100003", {T1(1), T1R(100003, 0.0f, 1.0f)}, .tol = TOL_R},
    {OP(SUM_BWD), "3x3x7x7", {T4(3, 3, 7, 7), T1(1)}, .tol = TOL_E},
    {OP(SUM_BWD), "1001", {T1(1001), T1(1)}, .tol = TOL_E},

    /* adamw: param, m, v (>= 0), grad   f0..f6 */
    {OP(ADAMW), "3x3x7x7",
     {T4(3, 3, 7, 7), T4R(3, 3, 7, 7, -0.1f, 0.1f), T4R(3, 3, 7, 7, 0.0f, 0.01f),
      T4(3, 3, 7, 7)},
     .f = ADAMW_F, .tol = TOL_E},
    {OP(ADAMW), "10007",
     {T1(10007), T1R(10007, -0.1f, 0.1f), T1R(10007, 0.0f, 0.01f), T1(10007)},
     .f = ADAMW_F, .tol = TOL_E},
    /* ema: ema, param   f0 decay */
    {OP(EMA), "3x3x7x7", {T4(3, 3, 7, 7), T4(3, 3, 7, 7)}, .f = {0.999f}, .tol = TOL_E},
    {OP(EMA), "10007", {T1(10007), T1(10007)}, .f = {0.9f}, .tol = TOL_E},

    /* quantize_u8: out (u8), in in [-1.5, 1.5): a third of the values clamp; the
     * first few are pinned to -1, 1, 0 (-> 127.5, a tie), -2, 2. */
    {OP(QUANTIZE_U8), "3x1x7x7", {T4(3, 1, 7, 7), {4, {3, 1, 7, 7}, 'q', -1.5f, 1.5f}},
     .tol = TOL_E},
    {OP(QUANTIZE_U8), "1001", {T1(1001), {1, {1001, 1, 1, 1}, 'q', -1.5f, 1.5f}},
     .tol = TOL_E},

    /* rng: out   i0 distribution, u0 seed, u1 stream (seed above 2^32, stream above
     * 2^31, element counts past one work-group) */
    {OP(RNG), "1001 uniform", {T1(1001)}, {FM_RNG_UNIFORM}, .u = {42, 7}, .tol = TOL_E},
    {OP(RNG), "3x1x7x7 normal", {T4(3, 1, 7, 7)}, {FM_RNG_NORMAL},
     .u = {0x123456789abcULL, 3}, .tol = TOL_E},
    {OP(RNG), "65537 normal", {T1(65537)}, {FM_RNG_NORMAL}, .u = {7, 0x80000001u},
     .tol = TOL_E},
    {OP(RNG), "65537 uniform", {T1(65537)}, {FM_RNG_UNIFORM}, .u = {1ULL << 40, 4},
     .tol = TOL_E},
};
/* clang-format on */
#define NDESC (sizeof descs / sizeof descs[0])

/* ---- rows and comparison ---------------------------------------------------------- */

const char *fm_conf_status_name(int status)
{
    switch (status) {
    case FM_CONF_PASS: return "pass";
    case FM_CONF_FAIL: return "FAIL";
    case FM_CONF_UNSUPPORTED: return "unsupported";
    default: return "ERROR";
    }
}

static void emit(fm_conf_report cb, void *user, fm_conf_summary *sum, fm_conf_row *row)
{
    /* "worst: <first tensor>" would mislead when nothing differs at all. */
    if (row->status == FM_CONF_PASS && row->nmse == 0 && row->max_abs == 0 &&
        strncmp(row->note, "worst", 5) == 0)
        snprintf(row->note, sizeof row->note, "identical");
    if (sum) {
        switch (row->status) {
        case FM_CONF_PASS: sum->pass++; break;
        case FM_CONF_FAIL: sum->fail++; break;
        case FM_CONF_UNSUPPORTED: sum->unsupported++; break;
        default: sum->error++; break;
        }
    }
    if (cb)
        cb(user, row);
}

static void row_init(fm_conf_row *row, const char *op, const char *shape, double tol)
{
    memset(row, 0, sizeof *row);
    snprintf(row->op, sizeof row->op, "%s", op);
    snprintf(row->shape, sizeof row->shape, "%s", shape);
    row->tol = tol;
    row->status = FM_CONF_PASS;
}

/* A failed call on one side: unsupported (the backend lacks an op) or an error. */
static void row_call_failed(fm_conf_row *row, fm_status s, const char *who, const char *msg)
{
    row->status = s == FM_ERR_UNSUPPORTED ? FM_CONF_UNSUPPORTED : FM_CONF_ERROR;
    row->max_abs = row->nmse = NAN;
    /* "who: message", cut to the column (snprintf would warn about the truncation we
     * want). */
    const char *text = msg && msg[0] ? msg : fm_strerror(s);
    int named = strncmp(text, who, strlen(who)) == 0; /* "opencl: ..." already says who */
    const char *parts[3] = {named ? "" : who, named ? "" : ": ", text};
    size_t k = 0;
    for (int p = 0; p < 3; p++)
        for (const char *c = parts[p]; *c && k + 1 < sizeof row->note; c++)
            row->note[k++] = *c;
    row->note[k] = 0;
}

/* Errors of one tensor: x the backend's, r the reference's. */
typedef struct cmp {
    double se, sr, max_abs;
    int nonfinite;
} cmp;

static double as_double(const void *p, fm_dtype d, int64_t e)
{
    switch (d) {
    case FM_I32: return (double)((const int32_t *)p)[e];
    case FM_U8: return (double)((const uint8_t *)p)[e];
    default: return (double)((const float *)p)[e];
    }
}

static cmp compare(const void *x, const void *r, fm_dtype d, int64_t off, int64_t n)
{
    cmp c = {0, 0, 0, 0};
    for (int64_t e = off; e < off + n; e++) {
        double a = as_double(x, d, e), b = as_double(r, d, e);
        if (!isfinite(a) || !isfinite(b)) {
            c.nonfinite++;
            continue;
        }
        double diff = a - b;
        c.se += diff * diff;
        c.sr += b * b;
        if (fabs(diff) > c.max_abs)
            c.max_abs = fabs(diff);
    }
    return c;
}

static double nmse(const cmp *c)
{
    return c->sr > 0 ? c->se / c->sr : c->se;
}

/* Fold one tensor's errors into the row: the worst NMSE and its tensor's name in the
 * note; a non-finite value fails the row and keeps its note. */
static void row_add(fm_conf_row *row, const cmp *c, const char *what, int *first)
{
    double e = nmse(c);
    int sticky = strncmp(row->note, "non-finite", 10) == 0;
    if (c->max_abs > row->max_abs)
        row->max_abs = c->max_abs;
    if (c->nonfinite && !sticky)
        snprintf(row->note, sizeof row->note, "non-finite values in %s (%d)", what, c->nonfinite);
    else if (!sticky && (*first || e > row->nmse))
        snprintf(row->note, sizeof row->note, "worst: %s", what);
    if (*first || e > row->nmse)
        row->nmse = e;
    *first = 0;
    if (c->nonfinite || !(e <= row->tol))
        row->status = FM_CONF_FAIL;
}

/* ---- the op runner ------------------------------------------------------------------ */

static int desc_selected(const op_desc *d, const char *only)
{
    if (!only)
        return 1;
    const char *name = fm_op_get_info(d->op)->name;
    size_t n = strlen(only);
    return strcmp(name, only) == 0 ||
           (strncmp(name, only, n) == 0 &&
            (strcmp(name + n, "_fwd") == 0 || strcmp(name + n, "_bwd") == 0));
}

int fm_conformance_has_op(const char *name)
{
    for (size_t k = 0; k < NDESC; k++)
        if (desc_selected(&descs[k], name))
            return 1;
    return 0;
}

static fm_status host_alloc(fm_arena *host, size_t bytes, void **p)
{
    size_t off;
    fm_status s = fm_arena_alloc(host, bytes, &off);
    *p = s == FM_OK ? fm_arena_ptr(host, off) : NULL;
    return s;
}

/* Deterministic contents of one slot. */
static void generate(const slot_desc *sd, fm_dtype dt, void *buf, int64_t n, uint64_t seed, int k)
{
    for (int64_t e = 0; e < n; e++) {
        float u = fm_philox_uniform(seed, (uint64_t)e, (uint32_t)k);
        if (dt == FM_U8) {
            ((uint8_t *)buf)[e] = (uint8_t)(u * 256.0f);
        } else if (dt == FM_I32) {
            int32_t r = sd->gen == 'x' ? (int32_t)sd->hi : 1 << 20;
            int32_t v = (int32_t)(u * (float)r);
            ((int32_t *)buf)[e] = v < r ? v : r - 1;
        } else {
            ((float *)buf)[e] = sd->lo + (sd->hi - sd->lo) * u;
        }
    }
    if (sd->gen == 'q' && dt == FM_F32) {
        static const float pinned[] = {-1.0f, 1.0f, 0.0f, -2.0f, 2.0f, 0.5f, -0.999f};
        for (int64_t e = 0; e < n && e < (int64_t)(sizeof pinned / sizeof pinned[0]); e++)
            ((float *)buf)[e] = pinned[e];
    }
}

/* Inputs the op's contract ties to others, computed on the reference backend from
 * the call's own tensors: groupnorm's saved statistics, attention's probabilities. */
static fm_status prep_on_ref(fm_backend *ref, const op_desc *d, const fm_call *c)
{
    if (d->prep == PREP_GN_STATS) {
        /* groupnorm_bwd: din, dgamma, dbeta, dout, in, mean, rstd, gamma */
        fm_tensor out = c->t[4], beta = c->t[7];
        fm_status s = fm_tensor_alloc(ref, &out);
        if (s == FM_OK)
            s = fm_tensor_alloc(ref, &beta);
        if (s == FM_OK)
            s = fm_fill(ref, &beta, 0.0f);
        if (s != FM_OK)
            return s;
        fm_call f = {.op = FM_OP_GROUPNORM_FWD,
                     .t = {out, c->t[5], c->t[6], c->t[4], c->t[7], beta},
                     .i = {d->i[0]},
                     .f = {d->f[0]}};
        return fm_run(ref, &f);
    }
    if (d->prep == PREP_ATT) {
        /* attention_bwd: dqkv, ws, dout, qkv, att */
        fm_tensor out = c->t[2];
        fm_status s = fm_tensor_alloc(ref, &out);
        if (s != FM_OK)
            return s;
        fm_call f = {.op = FM_OP_ATTENTION_FWD, .t = {out, c->t[4], c->t[3]}, .i = {d->i[0]}};
        return fm_run(ref, &f);
    }
    return FM_OK;
}

/* One descriptor into *row. Device-side problems become the row's status; the
 * return value is non-OK only when the host arena is too small. */
static fm_status run_desc(fm_backend *ref, fm_backend *be, fm_arena *host, const op_desc *d,
                          uint64_t seed, fm_conf_row *row)
{
    const fm_op_info *info = fm_op_get_info(d->op);
    row_init(row, info->name, d->shape, tol_on(be, info->name, d->tol));
    if (!fm_backend_supports(be, d->op)) {
        row_call_failed(row, FM_ERR_UNSUPPORTED, fm_backend_name(be), "no kernel for this op");
        return FM_OK;
    }
    fm_arena_mark mh = fm_arena_get_mark(host, "conf op");
    fm_arena_mark mr = fm_arena_get_mark(&ref->arena, "conf op");
    fm_arena_mark mb = fm_arena_get_mark(&be->arena, "conf op");
    fm_call cr = {.op = d->op}, cb = {.op = d->op};
    memcpy(cr.i, d->i, sizeof cr.i);
    memcpy(cr.f, d->f, sizeof cr.f);
    memcpy(cr.u, d->u, sizeof cr.u);
    memcpy(cb.i, d->i, sizeof cb.i);
    memcpy(cb.f, d->f, sizeof cb.f);
    memcpy(cb.u, d->u, sizeof cb.u);
    void *hbuf[FM_CALL_TENSORS] = {0};
    void *got = NULL;
    size_t maxbytes = 0;
    fm_status hs = FM_OK, s = FM_OK;
    const char *who = "ref";

    for (int k = 0; k < info->ntensors && s == FM_OK && hs == FM_OK; k++) {
        const slot_desc *sd = &d->t[k];
        if (sd->ndim == 0)
            continue;
        fm_tensor t = fm_tensor_desc(fm_op_slot_dtype(d->op, k), sd->ndim, sd->s);
        size_t bytes = fm_tensor_bytes(&t);
        if (bytes > maxbytes)
            maxbytes = bytes;
        hs = host_alloc(host, bytes, &hbuf[k]);
        if (hs != FM_OK)
            break;
        generate(sd, t.dtype, hbuf[k], fm_tensor_numel(&t), seed, k);
        cr.t[k] = cb.t[k] = t;
        who = "ref";
        s = fm_tensor_alloc(ref, &cr.t[k]);
        if (s == FM_OK)
            s = fm_upload(ref, &cr.t[k], hbuf[k]);
        if (s != FM_OK)
            break;
        who = fm_backend_name(be);
        s = fm_tensor_alloc(be, &cb.t[k]);
    }
    if (hs == FM_OK && s == FM_OK)
        hs = host_alloc(host, maxbytes, &got);
    if (hs == FM_OK && s == FM_OK && d->prep) {
        who = "ref (preparing inputs)";
        s = prep_on_ref(ref, d, &cr);
        for (int k = 0; k < info->ntensors && s == FM_OK; k++)
            if (d->t[k].gen == 'p')
                s = fm_download(ref, hbuf[k], &cr.t[k]);
    }
    /* The same bytes, prepared ones included, into the backend under test. */
    for (int k = 0; k < info->ntensors && hs == FM_OK && s == FM_OK; k++)
        if (d->t[k].ndim) {
            who = fm_backend_name(be);
            s = fm_upload(be, &cb.t[k], hbuf[k]);
        }
    if (hs == FM_OK && s == FM_OK) {
        who = "ref";
        s = fm_run(ref, &cr);
    }
    if (hs == FM_OK && s == FM_OK) {
        who = fm_backend_name(be);
        s = fm_run(be, &cb);
        if (s == FM_OK)
            s = fm_sync(be);
    }
    int first = 1;
    for (int k = 0; k < info->ntensors && hs == FM_OK && s == FM_OK; k++) {
        char lower = info->slots[k] | 0x20;
        if (!d->t[k].ndim || (lower != 'o' && lower != 'a') || (d->nocmp >> k & 1))
            continue;
        who = "ref";
        s = fm_download(ref, hbuf[k], &cr.t[k]);
        if (s != FM_OK)
            break;
        who = fm_backend_name(be);
        s = fm_download(be, got, &cb.t[k]);
        if (s != FM_OK)
            break;
        cmp c = compare(got, hbuf[k], cr.t[k].dtype, 0, fm_tensor_numel(&cr.t[k]));
        char name[24];
        row_add(row, &c, fm_op_slot_name(d->op, k, name, sizeof name), &first);
    }
    if (hs != FM_OK)
        row_call_failed(row, hs, "host", "staging arena exhausted");
    else if (s != FM_OK)
        row_call_failed(row, s, who,
                        strcmp(who, "ref") == 0 || strncmp(who, "ref ", 4) == 0 ? ref->err
                                                                                : be->err);
    fm_arena_reset(host, mh);
    fm_arena_reset(&ref->arena, mr);
    fm_arena_reset(&be->arena, mb);
    return hs;
}

size_t fm_conformance_ops_bytes(void)
{
    /* The largest descriptor's tensors plus the staging copy, with alignment slack
     * for 8 slots and the prep temporaries (device alignments reach 4 KiB). */
    size_t most = 0;
    for (size_t k = 0; k < NDESC; k++) {
        size_t total = 0, big = 0;
        for (int j = 0; j < FM_CALL_TENSORS; j++)
            if (descs[k].t[j].ndim) {
                fm_tensor t =
                    fm_tensor_desc(fm_op_slot_dtype(descs[k].op, j), descs[k].t[j].ndim, descs[k].t[j].s);
                total += fm_tensor_bytes(&t);
                if (fm_tensor_bytes(&t) > big)
                    big = fm_tensor_bytes(&t);
            }
        total += 2 * big; /* prep temporaries or the host's second copy */
        if (total > most)
            most = total;
    }
    return most + 16 * 4096;
}

fm_status fm_conformance_ops(fm_backend *ref, fm_backend *be, fm_arena *host, const char *only_op,
                             fm_conf_report cb, void *user, fm_conf_summary *sum)
{
    if (!ref || !be || !host)
        return FM_ERR_ARG;
    if (only_op && !fm_conformance_has_op(only_op))
        return FM_ERR_ARG;
    for (size_t k = 0; k < NDESC; k++) {
        if (!desc_selected(&descs[k], only_op))
            continue;
        fm_conf_row row;
        /* One seed per descriptor: a row's inputs do not depend on which rows ran. */
        fm_status s = run_desc(ref, be, host, &descs[k], 0x5eed0000u + k, &row);
        emit(cb, user, sum, &row);
        if (s != FM_OK)
            return s;
    }
    return FM_OK;
}

/* ---- whole-model rows ------------------------------------------------------------- */

#define MODEL_SEED 20240601u
#define NOISE_SEED 777u
#define NOISE_STREAM 11u
#define TRAIN_SEED 4242u
#define SAMPLE_STEPS 10
#define CFG_SCALE 2.0f

typedef struct model_ctx {
    fm_backend *ref, *be;
    fm_unet *mr, *mb;
    float *ha, *hb; /* P floats each: host staging */
    fm_conf_report cb;
    void *user;
    fm_conf_summary *sum;
    char shape[64];
} model_ctx;

/* Report a failed stage (one row) and clean both models up. */
static void stage_failed(model_ctx *x, const char *op, double tol, fm_status s, int on_ref)
{
    fm_conf_row row;
    row_init(&row, op, x->shape, tol_on(x->be, op, tol));
    row_call_failed(&row, s, on_ref ? "ref" : fm_backend_name(x->be),
                    on_ref ? x->ref->err : x->be->err);
    emit(x->cb, x->user, x->sum, &row);
    fm_unet_release(x->mr);
    fm_unet_release(x->mb);
}

/* Run `expr_be` then `expr_ref`; on failure report the stage and go to `fail`. The
 * backend under test goes first: when it lacks an op, the (slow) reference run of
 * the same stage is skipped. */
#define BOTH(x, op, tol, expr_ref, expr_be, fail)                                                  \
    do {                                                                                           \
        fm_status s_ = (expr_be);                                                                  \
        if (s_ != FM_OK) {                                                                         \
            stage_failed(x, op, tol, s_, 0);                                                       \
            goto fail;                                                                             \
        }                                                                                          \
        s_ = (expr_ref);                                                                           \
        if (s_ != FM_OK) {                                                                         \
            stage_failed(x, op, tol, s_, 1);                                                       \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* Download t from both backends into ha (ref) / hb (be); compare whole. */
static fm_status compare_tensor(model_ctx *x, const char *op, double tol, const fm_tensor *tr,
                                const fm_tensor *tb)
{
    fm_conf_row row;
    row_init(&row, op, x->shape, tol_on(x->be, op, tol));
    fm_status s = fm_download(x->ref, x->ha, tr);
    if (s != FM_OK) {
        stage_failed(x, op, tol, s, 1);
        return s;
    }
    s = fm_download(x->be, x->hb, tb);
    if (s != FM_OK) {
        stage_failed(x, op, tol, s, 0);
        return s;
    }
    int first = 1;
    cmp c = compare(x->hb, x->ha, FM_F32, 0, fm_tensor_numel(tr));
    char what[48];
    fm_tensor_shape_str(tr, what, sizeof what);
    row_add(&row, &c, what, &first);
    emit(x->cb, x->user, x->sum, &row);
    return FM_OK;
}

/* A [P] block (grads, params, ema) of both models. per_param: the row's NMSE is the
 * worst parameter's (gradients: a small tensor's gradient must be right even when
 * large ones dominate the block); else the block's, naming the worst parameter. */
static fm_status compare_block(model_ctx *x, const char *op, double tol, const fm_tensor *br,
                               const fm_tensor *bb, int per_param)
{
    fm_conf_row row;
    row_init(&row, op, x->shape, tol_on(x->be, op, tol));
    fm_status s = fm_download(x->ref, x->ha, br);
    if (s != FM_OK) {
        stage_failed(x, op, tol, s, 1);
        return s;
    }
    s = fm_download(x->be, x->hb, bb);
    if (s != FM_OK) {
        stage_failed(x, op, tol, s, 0);
        return s;
    }
    const fm_unet *m = x->mr;
    double worst = -1;
    int wi = 0, nonfinite = 0;
    cmp all = {0, 0, 0, 0};
    for (int i = 0; i < m->nparams; i++) {
        cmp c =
            compare(x->hb, x->ha, FM_F32, m->params[i].offset, fm_tensor_numel(&m->params[i].t));
        all.se += c.se;
        all.sr += c.sr;
        all.nonfinite += c.nonfinite;
        if (c.max_abs > all.max_abs)
            all.max_abs = c.max_abs;
        if (c.nonfinite && !nonfinite) {
            nonfinite = 1;
            wi = i;
            worst = INFINITY;
        }
        if (!nonfinite && nmse(&c) > worst) {
            worst = nmse(&c);
            wi = i;
        }
    }
    row.max_abs = all.max_abs;
    row.nmse = per_param ? worst : nmse(&all);
    if (all.nonfinite)
        snprintf(row.note, sizeof row.note, "non-finite values in %s (%d in all)",
                 m->params[wi].name, all.nonfinite);
    else if (per_param)
        snprintf(row.note, sizeof row.note, "worst: %s", m->params[wi].name);
    else
        snprintf(row.note, sizeof row.note, "worst: %s (%.1e)", m->params[wi].name, worst);
    if (all.nonfinite || !(row.nmse <= tol))
        row.status = FM_CONF_FAIL;
    emit(x->cb, x->user, x->sum, &row);
    return FM_OK;
}

static fm_status alloc_both(model_ctx *x, fm_tensor desc, fm_tensor *tr, fm_tensor *tb, int *on_ref)
{
    *tr = *tb = desc;
    *on_ref = 1;
    fm_status s = fm_tensor_alloc(x->ref, tr);
    if (s != FM_OK)
        return s;
    *on_ref = 0;
    return fm_tensor_alloc(x->be, tb);
}

/* Upload the same host data to both. */
static fm_status upload_both(model_ctx *x, const fm_tensor *tr, const fm_tensor *tb, const void *h,
                             int *on_ref)
{
    *on_ref = 1;
    fm_status s = fm_upload(x->ref, tr, h);
    if (s != FM_OK)
        return s;
    *on_ref = 0;
    return fm_upload(x->be, tb, h);
}

/* Identical parameters on both: the seeded init, then every all-zero tensor (the
 * output conv, norm betas) filled with small random values. With conv_out at zero
 * the network's output and every gradient but conv_out's would be exactly zero, and
 * the rows would test nothing. */
static fm_status setup_params(model_ctx *x, int *on_ref)
{
    fm_unet *mr = x->mr, *mb = x->mb;
    *on_ref = 1;
    fm_status s = fm_unet_init_params(mr, MODEL_SEED);
    if (s == FM_OK)
        s = fm_download(x->ref, x->ha, &mr->flat);
    if (s != FM_OK)
        return s;
    for (int i = 0; i < mr->nparams; i++) {
        const fm_param *p = &mr->params[i];
        int64_t n = fm_tensor_numel(&p->t);
        float *v = x->ha + p->offset;
        int zero = 1;
        for (int64_t e = 0; e < n && zero; e++)
            zero = v[e] == 0.0f;
        if (!zero)
            continue;
        float bound = p->t.ndim >= 2 ? 1.0f / sqrtf((float)(n / p->t.shape[0])) : 0.1f;
        for (int64_t e = 0; e < n; e++)
            v[e] =
                bound * (2.0f * fm_philox_uniform(MODEL_SEED + 1, (uint64_t)e, (uint32_t)i) - 1.0f);
    }
    s = upload_both(x, &mr->flat, &mb->flat, x->ha, on_ref);
    fm_unet *ms[2] = {mr, mb};
    for (int k = 0; k < 2 && s == FM_OK; k++) {
        fm_backend *b = k ? x->be : x->ref;
        *on_ref = !k;
        s = fm_copy(b, &ms[k]->ema, &ms[k]->flat);
        if (s == FM_OK)
            s = fm_fill(b, &ms[k]->grad, 0.0f);
        if (s == FM_OK)
            s = fm_fill(b, &ms[k]->adam_m, 0.0f);
        if (s == FM_OK)
            s = fm_fill(b, &ms[k]->adam_v, 0.0f);
    }
    return s;
}

static int64_t image_numel(const fm_config *cfg, int batch)
{
    return (int64_t)batch * cfg->in_channels * cfg->image * cfg->image;
}

static fm_status model_config(const char *preset, int conditional, fm_config *cfg)
{
    if (!preset || fm_config_preset(cfg, preset) != FM_OK)
        return FM_ERR_ARG;
    cfg->num_classes = conditional ? 10 : 0;
    char msg[128];
    return fm_config_validate(cfg, msg, sizeof msg);
}

fm_status fm_conformance_model_bytes(const char *preset, int batch, int conditional,
                                     fm_unet *scratch, size_t *device, size_t *host, char *err,
                                     size_t errlen)
{
    fm_config cfg;
    if (batch < 1 || batch > 1024 || model_config(preset, conditional, &cfg) != FM_OK) {
        snprintf(err, errlen, "conformance: bad preset '%s' or batch %d",
                 preset ? preset : "(null)", batch);
        return FM_ERR_ARG;
    }
    fm_plan tp, sp;
    fm_status s = fm_unet_plan(&cfg, FM_MODE_TRAIN, batch, scratch, &tp, err, errlen);
    if (s == FM_OK)
        s = fm_unet_plan(&cfg, FM_MODE_SAMPLE, batch, scratch, &sp, err, errlen);
    if (s != FM_OK)
        return s;
    /* Sampling a train-mode model: its persistent state plus the sampler's
     * activations. The planner aligns to 64 bytes, a device arena to its base
     * alignment (up to a few KiB): 1/16 slack covers the difference for the few
     * hundred tensors of a step. Our own inputs: at most 4 images and 4 vectors. */
    size_t need = tp.total_bytes;
    size_t sampling = tp.state_bytes + (sp.total_bytes - sp.state_bytes);
    if (sampling > need)
        need = sampling;
    size_t img = (size_t)image_numel(&cfg, batch) * sizeof(float);
    *device = need + need / 16 + 4 * (img + 4096) + 4 * 8192 + (1u << 20);
    *host = 2 * (sizeof(fm_unet) + 4096) + 2 * ((size_t)tp.nparams * sizeof(float) + 4096) +
            4 * (img + 4096) + 8192;
    return FM_OK;
}

/* The stages; each reports its rows and leaves both arenas at `base`. */
static void stage_forward(model_ctx *x, const fm_config *cfg, int batch)
{
    int K = cfg->num_classes, on_ref = 1;
    fm_tensor xr, xb, tr, tb, yr = {0}, yb = {0}, vr, vb;
    fm_tensor img = fm_tensor_4d(FM_F32, batch, cfg->in_channels, cfg->image, cfg->image);
    fm_status s = alloc_both(x, img, &xr, &xb, &on_ref);
    if (s == FM_OK)
        s = alloc_both(x, img, &vr, &vb, &on_ref);
    if (s == FM_OK)
        s = alloc_both(x, fm_tensor_1d(FM_F32, batch), &tr, &tb, &on_ref);
    if (s == FM_OK && K > 0)
        s = alloc_both(x, fm_tensor_1d(FM_I32, batch), &yr, &yb, &on_ref);
    /* x uniform in [-1, 1), t in (0, 1), labels cycling, the last one "no label" K. */
    int64_t n = image_numel(cfg, batch);
    for (int64_t e = 0; e < n; e++)
        x->ha[e] = 2.0f * fm_philox_uniform(MODEL_SEED, (uint64_t)e, 100) - 1.0f;
    if (s == FM_OK)
        s = upload_both(x, &xr, &xb, x->ha, &on_ref);
    float tv[1024];
    int32_t yv[1024];
    for (int i = 0; i < batch; i++) {
        tv[i] = 0.05f + 0.9f * fm_philox_uniform(MODEL_SEED, (uint64_t)i, 101);
        yv[i] = K > 0 ? (i == batch - 1 && batch > 1 ? K : (3 * i + 1) % K) : 0;
    }
    if (s == FM_OK)
        s = upload_both(x, &tr, &tb, tv, &on_ref);
    if (s == FM_OK && K > 0)
        s = upload_both(x, &yr, &yb, yv, &on_ref);
    if (s != FM_OK) {
        stage_failed(x, "unet_fwd", TOL_FWD, s, on_ref);
        return;
    }
    BOTH(x, "unet_fwd", TOL_FWD,
         fm_unet_forward(x->mr, &x->mr->flat, &vr, &xr, &tr, K ? &yr : NULL),
         fm_unet_forward(x->mb, &x->mb->flat, &vb, &xb, &tb, K ? &yb : NULL), done);
    fm_unet_release(x->mr);
    fm_unet_release(x->mb);
    compare_tensor(x, "unet_fwd", TOL_FWD, &vr, &vb);
done:
    return;
}

static void stage_sample(model_ctx *x, const fm_config *cfg, int batch, int heun)
{
    const char *op = heun ? "sample_heun10" : "sample_euler10";
    int K = cfg->num_classes, on_ref = 1;
    fm_tensor xr, xb, yr = {0}, yb = {0};
    fm_tensor img = fm_tensor_4d(FM_F32, batch, cfg->in_channels, cfg->image, cfg->image);
    fm_status s = alloc_both(x, img, &xr, &xb, &on_ref);
    if (s == FM_OK && K > 0)
        s = alloc_both(x, fm_tensor_1d(FM_I32, batch), &yr, &yb, &on_ref);
    int32_t yv[1024];
    for (int i = 0; i < batch; i++)
        yv[i] = K > 0 ? (7 * i + 2) % K : 0;
    if (s == FM_OK && K > 0)
        s = upload_both(x, &yr, &yb, yv, &on_ref);
    if (s != FM_OK) {
        stage_failed(x, op, TOL_STEP, s, on_ref);
        return;
    }
    /* The noise comes from each backend's own RNG op: same Philox bits. */
    BOTH(x, op, TOL_STEP, fm_noise(x->ref, &xr, NOISE_SEED, NOISE_STREAM),
         fm_noise(x->be, &xb, NOISE_SEED, NOISE_STREAM), done);
    fm_sample_opts so = {
        .steps = SAMPLE_STEPS, .heun = heun, .guidance = K > 0, .cfg_scale = CFG_SCALE};
    BOTH(x, op, TOL_STEP, fm_sample(x->mr, &x->mr->flat, &xr, K ? &yr : NULL, &so),
         fm_sample(x->mb, &x->mb->flat, &xb, K ? &yb : NULL, &so), done);
    compare_tensor(x, op, TOL_STEP, &xr, &xb);
done:
    return;
}

static void stage_train(model_ctx *x, const fm_config *cfg, int batch)
{
    int K = cfg->num_classes, on_ref = 1;
    fm_tensor xr, xb;
    fm_tensor img = fm_tensor_4d(FM_F32, batch, cfg->in_channels, cfg->image, cfg->image);
    fm_status s = alloc_both(x, img, &xr, &xb, &on_ref);
    int64_t n = image_numel(cfg, batch);
    for (int64_t e = 0; e < n; e++)
        x->ha[e] = 2.0f * fm_philox_uniform(MODEL_SEED, (uint64_t)e, 102) - 1.0f;
    if (s == FM_OK)
        s = upload_both(x, &xr, &xb, x->ha, &on_ref);
    if (s != FM_OK) {
        stage_failed(x, "train_loss", TOL_FWD, s, on_ref);
        return;
    }
    int32_t yv[1024];
    for (int i = 0; i < batch; i++)
        yv[i] = K > 0 ? (5 * i + 3) % K : 0;
    fm_train_opts o = fm_train_defaults();
    o.seed = TRAIN_SEED;
    float lr = 0, lb = 0;
    BOTH(x, "train_loss", TOL_FWD, fm_train_step(x->mr, &o, &xr, K ? yv : NULL, 1, &lr),
         fm_train_step(x->mb, &o, &xb, K ? yv : NULL, 1, &lb), done);
    fm_conf_row row;
    row_init(&row, "train_loss", x->shape, tol_on(x->be, "train_loss", TOL_FWD));
    cmp c = compare(&lb, &lr, FM_F32, 0, 1);
    int first = 1;
    char what[64];
    snprintf(what, sizeof what, "loss ref %.7g", (double)lr);
    row_add(&row, &c, what, &first);
    emit(x->cb, x->user, x->sum, &row);
    if (compare_block(x, "train_grads", TOL_STEP, &x->mr->grad, &x->mb->grad, 1) != FM_OK ||
        compare_block(x, "train_params", TOL_STEP, &x->mr->flat, &x->mb->flat, 0) != FM_OK)
        goto done;
    compare_block(x, "train_ema", TOL_STEP, &x->mr->ema, &x->mb->ema, 0);
done:
    return;
}

/* One ERROR row for a host arena too small for the staging buffers; releases what
 * the model rows took from the three arenas. */
static fm_status host_exhausted(model_ctx *x, fm_arena *host, const fm_arena_mark marks[3])
{
    fm_conf_row row;
    row_init(&row, "unet_create", x->shape, 0);
    row_call_failed(&row, FM_ERR_ARENA, "host",
                    "staging arena exhausted (size it with fm_conformance_model_bytes)");
    emit(x->cb, x->user, x->sum, &row);
    fm_arena_reset(host, marks[0]);
    fm_arena_reset(&x->ref->arena, marks[1]);
    fm_arena_reset(&x->be->arena, marks[2]);
    return FM_ERR_ARENA;
}

fm_status fm_conformance_model(fm_backend *ref, fm_backend *be, fm_arena *host, const char *preset,
                               int batch, int conditional, fm_conf_report cb, void *user,
                               fm_conf_summary *sum)
{
    fm_config cfg;
    if (!ref || !be || !host || batch < 1 || batch > 1024 ||
        model_config(preset, conditional, &cfg) != FM_OK)
        return FM_ERR_ARG;
    model_ctx x = {.ref = ref, .be = be, .cb = cb, .user = user, .sum = sum};
    snprintf(x.shape, sizeof x.shape, "%s b%d %s", preset, batch, conditional ? "cond" : "uncond");
    const fm_arena_mark marks[3] = {fm_arena_get_mark(host, "conf model"),
                                    fm_arena_get_mark(&ref->arena, "conf model"),
                                    fm_arena_get_mark(&be->arena, "conf model")};

    /* The two model descriptions are large (~200 KiB each): host arena, not stack. */
    void *pr = NULL, *pb = NULL, *ha = NULL, *hb = NULL;
    fm_status s = host_alloc(host, sizeof(fm_unet), &pr);
    if (s == FM_OK)
        s = host_alloc(host, sizeof(fm_unet), &pb);
    if (s != FM_OK)
        return host_exhausted(&x, host, marks);
    x.mr = pr;
    x.mb = pb;

    int on_ref = 1;
    s = fm_unet_create(x.mr, ref, &cfg, FM_MODE_TRAIN, batch);
    if (s == FM_OK) {
        on_ref = 0;
        s = fm_unet_create(x.mb, be, &cfg, FM_MODE_TRAIN, batch);
    }
    if (s == FM_OK) {
        size_t img = (size_t)image_numel(&cfg, batch) * sizeof(float);
        size_t bytes = (size_t)x.mr->nfloats * sizeof(float);
        if (img > bytes)
            bytes = img;
        if (host_alloc(host, bytes, &ha) != FM_OK || host_alloc(host, bytes, &hb) != FM_OK)
            return host_exhausted(&x, host, marks);
        x.ha = ha;
        x.hb = hb;
        s = setup_params(&x, &on_ref);
    }
    if (s != FM_OK) {
        fm_conf_row row;
        row_init(&row, "unet_create", x.shape, 0);
        row_call_failed(&row, s, on_ref ? "ref" : fm_backend_name(be), on_ref ? ref->err : be->err);
        emit(cb, user, sum, &row);
    } else {
        /* Each stage starts from the state after setup: same weights, same arenas. */
        fm_arena_mark br = fm_arena_get_mark(&ref->arena, "conf stage");
        fm_arena_mark bb = fm_arena_get_mark(&be->arena, "conf stage");
        for (int st = 0; st < 4; st++) {
            switch (st) {
            case 0: stage_forward(&x, &cfg, batch); break;
            case 1: stage_sample(&x, &cfg, batch, 0); break;
            case 2: stage_sample(&x, &cfg, batch, 1); break;
            default: stage_train(&x, &cfg, batch); break;
            }
            fm_unet_release(x.mr);
            fm_unet_release(x.mb);
            fm_arena_reset(&ref->arena, br);
            fm_arena_reset(&be->arena, bb);
        }
    }
    fm_arena_reset(host, marks[0]);
    fm_arena_reset(&ref->arena, marks[1]);
    fm_arena_reset(&be->arena, marks[2]);
    return FM_OK;
}
