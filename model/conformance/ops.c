/* Conformance of a backend against the reference, op by op: the descriptor table and
 * its runner. Needs the runtime only. See conformance.h for the contract.
 *
 * Inputs come from Philox on the host (key = a per-descriptor seed, stream = the
 * slot), so both backends receive the same bytes, and so does every run. */
#include "conf_rows.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "philox.h"

/* ---- the descriptor table ----------------------------------------------------------- */

typedef struct slot_desc {
    int ndim; /* 0: the optional tensor is absent */
    int64_t s[4];
    char gen; /* 'u' uniform [lo, hi); 'x' i32 index in [0, hi); 'q' quantize
                 input (uniform, first elements pinned); 'p' written by prep; 'm' an
                 additive mask over rows of s[1]: -inf with probability hi, else 0,
                 element 0 of each row always 0 (every row keeps one) */
    float lo, hi;
} slot_desc;

enum { PREP_NONE = 0, PREP_GN_STATS, PREP_ATT, PREP_LN_STATS, PREP_XATT };

typedef struct op_desc {
    fm_op op;
    const char *shape; /* the row's shape column */
    slot_desc t[FM_CALL_TENSORS];
    int32_t i[4];
    float f[8];
    uint64_t u[3];
    double tol;
    unsigned nocmp; /* bit k: slot k is scratch, not compared */
    int prep;       /* inputs that must be consistent: computed by the reference */
    slot_desc aux;  /* an input of the prep alone (xattn_bwd's bias: att's mask) */
} op_desc;

/* The table is laid out by hand, one case to a few lines. */
/* clang-format off */
#define T1(a) {1, {a, 1, 1, 1}, 'u', -1.0f, 1.0f}
#define T2(a, b) {2, {a, b, 1, 1}, 'u', -1.0f, 1.0f}
#define T3(a, b, c) {3, {a, b, c, 1}, 'u', -1.0f, 1.0f}
#define T4(a, b, c, d) {4, {a, b, c, d}, 'u', -1.0f, 1.0f}
#define T1R(a, lo, hi) {1, {a, 1, 1, 1}, 'u', lo, hi}
#define T2R(a, b, lo, hi) {2, {a, b, 1, 1}, 'u', lo, hi}
#define T3R(a, b, c, lo, hi) {3, {a, b, c, 1}, 'u', lo, hi}
#define T4R(a, b, c, d, lo, hi) {4, {a, b, c, d}, 'u', lo, hi}
#define IDX(n, r) {1, {n, 1, 1, 1}, 'x', 0.0f, (float)(r)}
#define PREP2(a, b) {2, {a, b, 1, 1}, 'p', 0.0f, 0.0f}
#define PREP4(a, b, c, d) {4, {a, b, c, d}, 'p', 0.0f, 0.0f}
#define MASK2(a, b, frac) {2, {a, b, 1, 1}, 'm', 0.0f, frac}
#define NONE {0, {0, 0, 0, 0}, 0, 0.0f, 0.0f}

#define OP(id) .op = FM_OP_##id

/* AdamW at step 3 with the default betas: bc1 = 1 - 0.9^3, bc2 = 1 - 0.999^3. */
#define ADAMW_F {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.271f, 0.002997001f}

/* At least two cases per op, one of them odd (7x7, 3 channels, batch 3). */
static const op_desc descs[] = {
    /* conv2d: out, in, w, b?, bn?, res?   i0 stride, i1 pad */
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
    /* the epilogue terms, per-sample bias and residual, on each forward path of the cpu
     * backend: Winograd, im2col over several images, a 1x1 GEMM, the direct small-Co one */
    {OP(CONV2D_FWD), "2x64x28x28 K3 s1 p1 Co64 +b +bn +res",
     {T4(2, 64, 28, 28), T4(2, 64, 28, 28), T4(64, 64, 3, 3), T1(64), T2(2, 64),
      T4(2, 64, 28, 28)}, {1, 1}, .tol = TOL_R},
    {OP(CONV2D_FWD), "3x3x7x7 K3 s2 p1 Co4 +bn +res",
     {T4(3, 4, 4, 4), T4(3, 3, 7, 7), T4(4, 3, 3, 3), NONE, T2(3, 4), T4(3, 4, 4, 4)}, {2, 1},
     .tol = TOL_R},
    {OP(CONV2D_FWD), "2x16x28x28 K1 s1 p0 Co16 +b +bn +res",
     {T4(2, 16, 28, 28), T4(2, 16, 28, 28), T4(16, 16, 1, 1), T1(16), T2(2, 16),
      T4(2, 16, 28, 28)}, {1, 0}, .tol = TOL_R},
    {OP(CONV2D_FWD), "2x6x8x8 K3 s1 p1 Co3 +b +bn +res",
     {T4(2, 3, 8, 8), T4(2, 6, 8, 8), T4(3, 6, 3, 3), T1(3), T2(2, 3), T4(2, 3, 8, 8)}, {1, 1},
     .tol = TOL_R},
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

    /* xattn: out, att, q[N,Lq,C], k, v [N,Lk,C], bias?[N,Lk]   i0 heads, i1 causal. q and
     * k in [-2, 2] as attention's; the padding masks drop a share of the keys (-inf),
     * never a row's first. */
    {OP(XATTN_FWD), "self 2x9x8 h2 causal",
     {T3(2, 9, 8), T4(2, 2, 9, 9), T3R(2, 9, 8, -2.0f, 2.0f), T3R(2, 9, 8, -2.0f, 2.0f),
      T3(2, 9, 8), NONE}, {2, 1}, .tol = TOL_R},
    {OP(XATTN_FWD), "cross 3x7<-5x12 h3 +pad",
     {T3(3, 7, 12), T4(3, 3, 7, 5), T3R(3, 7, 12, -2.0f, 2.0f), T3R(3, 5, 12, -2.0f, 2.0f),
      T3(3, 5, 12), MASK2(3, 5, 0.4f)}, {3, 0}, .tol = TOL_R},
    {OP(XATTN_FWD), "cross 2x49<-77x64 h4 +pad",
     {T3(2, 49, 64), T4(2, 4, 49, 77), T3R(2, 49, 64, -2.0f, 2.0f), T3R(2, 77, 64, -2.0f, 2.0f),
      T3(2, 77, 64), MASK2(2, 77, 0.3f)}, {4, 0}, .tol = TOL_R},
    {OP(XATTN_FWD), "self 2x77x32 h2 causal +pad",
     {T3(2, 77, 32), T4(2, 2, 77, 77), T3R(2, 77, 32, -2.0f, 2.0f), T3R(2, 77, 32, -2.0f, 2.0f),
      T3(2, 77, 32), MASK2(2, 77, 0.3f)}, {2, 1}, .tol = TOL_R},
    /* dq, dk, dv, ds (scratch, not compared), dout, q, k, v, att (the reference
     * forward's, with i1 and the aux bias) */
    {OP(XATTN_BWD), "self 2x9x8 h2 causal",
     {T3(2, 9, 8), T3(2, 9, 8), T3(2, 9, 8), T4(2, 2, 9, 9), T3(2, 9, 8),
      T3R(2, 9, 8, -2.0f, 2.0f), T3R(2, 9, 8, -2.0f, 2.0f), T3(2, 9, 8), PREP4(2, 2, 9, 9)},
     {2, 1}, .tol = TOL_R, .nocmp = 1u << 3, .prep = PREP_XATT},
    {OP(XATTN_BWD), "cross 3x7<-5x12 h3 +pad",
     {T3(3, 7, 12), T3(3, 5, 12), T3(3, 5, 12), T4(3, 3, 7, 5), T3(3, 7, 12),
      T3R(3, 7, 12, -2.0f, 2.0f), T3R(3, 5, 12, -2.0f, 2.0f), T3(3, 5, 12), PREP4(3, 3, 7, 5)},
     {3, 0}, .tol = TOL_R, .nocmp = 1u << 3, .prep = PREP_XATT, .aux = MASK2(3, 5, 0.4f)},
    {OP(XATTN_BWD), "cross 2x49<-77x64 h4 +pad",
     {T3(2, 49, 64), T3(2, 77, 64), T3(2, 77, 64), T4(2, 4, 49, 77), T3(2, 49, 64),
      T3R(2, 49, 64, -2.0f, 2.0f), T3R(2, 77, 64, -2.0f, 2.0f), T3(2, 77, 64),
      PREP4(2, 4, 49, 77)},
     {4, 0}, .tol = TOL_R, .nocmp = 1u << 3, .prep = PREP_XATT, .aux = MASK2(2, 77, 0.3f)},
    {OP(XATTN_BWD), "self 2x77x32 h2 causal +pad",
     {T3(2, 77, 32), T3(2, 77, 32), T3(2, 77, 32), T4(2, 2, 77, 77), T3(2, 77, 32),
      T3R(2, 77, 32, -2.0f, 2.0f), T3R(2, 77, 32, -2.0f, 2.0f), T3(2, 77, 32),
      PREP4(2, 2, 77, 77)},
     {2, 1}, .tol = TOL_R, .nocmp = 1u << 3, .prep = PREP_XATT, .aux = MASK2(2, 77, 0.3f)},

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

    /* softmax_xent: loss[1], probs[N,K], logits[N,K], labels[N] / dlogits, probs, labels
     * f0 dloss. Logits up to +-30 in the last forward case: probs down to ~e^-60 and
     * loss terms up to ~60, where a float lse's rounding weighs most, and 1000 terms
     * (several work-items in the loss reduction). The backward is elementwise in
     * probs and never assumes a row sums to 1, so independent uniform probs in [0, 1)
     * test its maths as well as real softmax outputs would, with no prep step; its
     * expression is the reference's, float for float: TOL_E. */
    {OP(SOFTMAX_XENT_FWD), "3 K7", {T1(1), T2(3, 7), T2R(3, 7, -4.0f, 4.0f), IDX(3, 7)},
     .tol = TOL_R},
    {OP(SOFTMAX_XENT_FWD), "64 K10", {T1(1), T2(64, 10), T2R(64, 10, -4.0f, 4.0f), IDX(64, 10)},
     .tol = TOL_R},
    {OP(SOFTMAX_XENT_FWD), "1000 K10 +-30",
     {T1(1), T2(1000, 10), T2R(1000, 10, -30.0f, 30.0f), IDX(1000, 10)}, .tol = TOL_R},
    {OP(SOFTMAX_XENT_BWD), "3 K7", {T2(3, 7), T2R(3, 7, 0.0f, 1.0f), IDX(3, 7)}, .f = {1.0f},
     .tol = TOL_E},
    {OP(SOFTMAX_XENT_BWD), "64 K10", {T2(64, 10), T2R(64, 10, 0.0f, 1.0f), IDX(64, 10)},
     .f = {0.5f}, .tol = TOL_E},

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
    /* u2 first counter: a data-parallel rank's slice, counters past 2^32 */
    {OP(RNG), "3x784 normal from 2^32+5", {T2(3, 784)}, {FM_RNG_NORMAL},
     .u = {9, 12, (1ULL << 32) + 5}, .tol = TOL_E},

    /* layernorm: out, mean, rstd, in[B,T,D], shift?, scale?   f0 eps (the DiT's 1e-6).
     * Inputs off centre as groupnorm's. */
    {OP(LAYERNORM_FWD), "3x7x5 +shift+scale",
     {T3(3, 7, 5), T2(3, 7), T2(3, 7), T3R(3, 7, 5, -1.0f, 3.0f), T2(3, 5), T2(3, 5)},
     .f = {1e-6f}, .tol = TOL_R},
    {OP(LAYERNORM_FWD), "2x49x128", {T3(2, 49, 128), T2(2, 49), T2(2, 49),
      T3R(2, 49, 128, -1.0f, 3.0f), NONE, NONE}, .f = {1e-6f}, .tol = TOL_R},
    {OP(LAYERNORM_FWD), "2x196x192 +scale", {T3(2, 196, 192), T2(2, 196), T2(2, 196),
      T3R(2, 196, 192, -1.0f, 3.0f), NONE, T2(2, 192)}, .f = {1e-6f}, .tol = TOL_R},
    /* din, dshift?, dscale?, dout, in, mean, rstd (the reference forward's), scale? */
    {OP(LAYERNORM_BWD), "3x7x5 +shift+scale",
     {T3(3, 7, 5), T2(3, 5), T2(3, 5), T3(3, 7, 5), T3R(3, 7, 5, -1.0f, 3.0f), PREP2(3, 7),
      PREP2(3, 7), T2(3, 5)},
     .f = {1e-6f}, .tol = TOL_R, .prep = PREP_LN_STATS},
    {OP(LAYERNORM_BWD), "2x49x128", {T3(2, 49, 128), NONE, NONE, T3(2, 49, 128),
      T3R(2, 49, 128, -1.0f, 3.0f), PREP2(2, 49), PREP2(2, 49), NONE},
     .f = {1e-6f}, .tol = TOL_R, .prep = PREP_LN_STATS},
    {OP(LAYERNORM_BWD), "2x196x192 +dscale", {T3(2, 196, 192), NONE, T2(2, 192),
      T3(2, 196, 192), T3R(2, 196, 192, -1.0f, 3.0f), PREP2(2, 196), PREP2(2, 196), T2(2, 192)},
     .f = {1e-6f}, .tol = TOL_R, .prep = PREP_LN_STATS},
    /* i0 affine: nn.LayerNorm's gamma (scale) and beta (shift) [1,D] over the [1,R,D]
     * view, eps 1e-5 */
    {OP(LAYERNORM_FWD), "affine 1x21x5 +shift+scale",
     {T3(1, 21, 5), T2(1, 21), T2(1, 21), T3R(1, 21, 5, -1.0f, 3.0f), T2(1, 5), T2(1, 5)},
     {FM_LN_AFFINE}, .f = {1e-5f}, .tol = TOL_R},
    {OP(LAYERNORM_FWD), "affine 1x154x64 +scale", {T3(1, 154, 64), T2(1, 154), T2(1, 154),
      T3R(1, 154, 64, -1.0f, 3.0f), NONE, T2(1, 64)}, {FM_LN_AFFINE}, .f = {1e-5f}, .tol = TOL_R},
    {OP(LAYERNORM_BWD), "affine 1x21x5 +shift+scale",
     {T3(1, 21, 5), T2(1, 5), T2(1, 5), T3(1, 21, 5), T3R(1, 21, 5, -1.0f, 3.0f), PREP2(1, 21),
      PREP2(1, 21), T2(1, 5)},
     {FM_LN_AFFINE}, .f = {1e-5f}, .tol = TOL_R, .prep = PREP_LN_STATS},
    {OP(LAYERNORM_BWD), "affine 1x154x64 +shift+scale",
     {T3(1, 154, 64), T2(1, 64), T2(1, 64), T3(1, 154, 64), T3R(1, 154, 64, -1.0f, 3.0f),
      PREP2(1, 154), PREP2(1, 154), T2(1, 64)},
     {FM_LN_AFFINE}, .f = {1e-5f}, .tol = TOL_R, .prep = PREP_LN_STATS},

    /* gelu: out, in / din, dout, in. Wide ranges reach tanh's saturation. */
    {OP(GELU_FWD), "3x7x5", {T3(3, 7, 5), T3R(3, 7, 5, -6.0f, 6.0f)}, .tol = TOL_E},
    {OP(GELU_FWD), "1001", {T1(1001), T1R(1001, -20.0f, 20.0f)}, .tol = TOL_E},
    {OP(GELU_BWD), "3x7x5", {T3(3, 7, 5), T3(3, 7, 5), T3R(3, 7, 5, -6.0f, 6.0f)},
     .tol = TOL_E},
    {OP(GELU_BWD), "1001", {T1(1001), T1(1001), T1R(1001, -20.0f, 20.0f)}, .tol = TOL_E},
    /* i0 quick: x in [-60, 60] reaches the sigmoid's saturation (e^(1.702 * 60) = inf) */
    {OP(GELU_FWD), "3x7x5 quick", {T3(3, 7, 5), T3R(3, 7, 5, -6.0f, 6.0f)}, {FM_GELU_QUICK},
     .tol = TOL_E},
    {OP(GELU_FWD), "1001 quick", {T1(1001), T1R(1001, -60.0f, 60.0f)}, {FM_GELU_QUICK},
     .tol = TOL_E},
    {OP(GELU_BWD), "3x7x5 quick", {T3(3, 7, 5), T3(3, 7, 5), T3R(3, 7, 5, -6.0f, 6.0f)},
     {FM_GELU_QUICK}, .tol = TOL_E},
    {OP(GELU_BWD), "1001 quick", {T1(1001), T1(1001), T1R(1001, -60.0f, 60.0f)},
     {FM_GELU_QUICK}, .tol = TOL_E},

    /* gated_add: out, x[B,T,D], g[B,D], h / dh?, dg?, dout, g, h */
    {OP(GATED_ADD_FWD), "3x7x5", {T3(3, 7, 5), T3(3, 7, 5), T2(3, 5), T3(3, 7, 5)},
     .tol = TOL_E},
    {OP(GATED_ADD_FWD), "2x49x128",
     {T3(2, 49, 128), T3(2, 49, 128), T2(2, 128), T3(2, 49, 128)}, .tol = TOL_E},
    {OP(GATED_ADD_BWD), "3x7x5", {T3(3, 7, 5), T2(3, 5), T3(3, 7, 5), T2(3, 5), T3(3, 7, 5)},
     .tol = TOL_R},
    {OP(GATED_ADD_BWD), "2x196x192 no dh",
     {NONE, T2(2, 192), T3(2, 196, 192), T2(2, 192), T3(2, 196, 192)}, .tol = TOL_R},

    /* transpose: out[B,C,R], in[B,R,C] (several 32x32 tiles, ragged edges) */
    {OP(TRANSPOSE), "3x7x5", {T3(3, 5, 7), T3(3, 7, 5)}, .tol = TOL_E},
    {OP(TRANSPOSE), "2x49x96", {T3(2, 96, 49), T3(2, 49, 96)}, .tol = TOL_E},

    /* unpatchify: out[B,C,H,W], in[B,T,p*p*C]   i0 p / din, dout */
    {OP(UNPATCHIFY_FWD), "3 C3 6x9 p3", {T4(3, 3, 6, 9), T3(3, 6, 27)}, {3}, .tol = TOL_E},
    {OP(UNPATCHIFY_FWD), "2 C1 28x28 p4", {T4(2, 1, 28, 28), T3(2, 49, 16)}, {4}, .tol = TOL_E},
    {OP(UNPATCHIFY_BWD), "3 C3 6x9 p3", {T3(3, 6, 27), T4(3, 3, 6, 9)}, {3}, .tol = TOL_E},
    {OP(UNPATCHIFY_BWD), "2 C1 28x28 p2", {T3(2, 196, 4), T4(2, 1, 28, 28)}, {2}, .tol = TOL_E},

    /* reparam: z, kl[1], mom[N,2Z,h,w], eps? / dmom, dz?, mom, eps?   f0 dkl. mom in
     * [-3, 3], or [-36, 26] in the last case of each: a tenth of the log-variances
     * below -30 and a tenth above 20 (clamped forward, zero gradient backward), KL
     * terms up to 2.4e8. */
    {OP(REPARAM_FWD), "3x4x7x7 Z2 +eps",
     {T4(3, 2, 7, 7), T1(1), T4R(3, 4, 7, 7, -3.0f, 3.0f), T4(3, 2, 7, 7)}, .tol = TOL_R},
    {OP(REPARAM_FWD), "2x8x8x8 Z4", {T4(2, 4, 8, 8), T1(1), T4R(2, 8, 8, 8, -3.0f, 3.0f), NONE},
     .tol = TOL_R},
    {OP(REPARAM_FWD), "2x8x8x8 Z4 +eps lv -36..26",
     {T4(2, 4, 8, 8), T1(1), T4R(2, 8, 8, 8, -36.0f, 26.0f), T4(2, 4, 8, 8)}, .tol = TOL_R},
    {OP(REPARAM_BWD), "3x4x7x7 Z2",
     {T4(3, 4, 7, 7), T4(3, 2, 7, 7), T4R(3, 4, 7, 7, -3.0f, 3.0f), T4(3, 2, 7, 7)},
     .f = {0.5f}, .tol = TOL_E},
    {OP(REPARAM_BWD), "2x8x8x8 Z4 no dz/eps",
     {T4(2, 8, 8, 8), NONE, T4R(2, 8, 8, 8, -3.0f, 3.0f), NONE}, .f = {0.25f}, .tol = TOL_E},
    {OP(REPARAM_BWD), "2x8x8x8 Z4 no eps lv -36..26",
     {T4(2, 8, 8, 8), T4(2, 4, 8, 8), T4R(2, 8, 8, 8, -36.0f, 26.0f), NONE}, .f = {1e-3f},
     .tol = TOL_E},
    {OP(REPARAM_BWD), "2x8x8x8 Z4 lv -36..26",
     {T4(2, 8, 8, 8), T4(2, 4, 8, 8), T4R(2, 8, 8, 8, -36.0f, 26.0f), T4(2, 4, 8, 8)},
     .f = {1.0f}, .tol = TOL_E},
};
/* clang-format on */
#define NDESC (sizeof descs / sizeof descs[0])

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
        } else if (sd->gen == 'm') {
            ((float *)buf)[e] = e % sd->s[1] != 0 && u < sd->hi ? -INFINITY : 0.0f;
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

/* xattn_bwd's att: the reference forward of its q, k, v with the desc's i1 (causal) and
 * aux bias (generated on the host as a slot's contents, stream FM_CALL_TENSORS). */
static fm_status prep_xattn(fm_backend *ref, fm_arena *host, const op_desc *d, const fm_call *c,
                            uint64_t seed)
{
    /* xattn_bwd: dq, dk, dv, ds, dout, q, k, v, att */
    fm_tensor out = c->t[4], bias = {.ndim = 0};
    fm_status s = fm_tensor_alloc(ref, &out);
    if (s == FM_OK && d->aux.ndim) {
        void *hb = NULL;
        bias = fm_tensor_desc(FM_F32, d->aux.ndim, d->aux.s);
        fm_status hs = fm_conf_host_alloc(host, fm_tensor_bytes(&bias), &hb);
        if (hs != FM_OK)
            return hs;
        generate(&d->aux, FM_F32, hb, fm_tensor_numel(&bias), seed, FM_CALL_TENSORS);
        s = fm_tensor_alloc(ref, &bias);
        if (s == FM_OK)
            s = fm_upload(ref, &bias, hb);
    }
    if (s != FM_OK)
        return s;
    fm_call f = {.op = FM_OP_XATTN_FWD,
                 .t = {out, c->t[8], c->t[5], c->t[6], c->t[7], bias},
                 .i = {d->i[0], d->i[1]}};
    return fm_run(ref, &f);
}

/* Inputs the op's contract ties to others, computed on the reference backend from
 * the call's own tensors: groupnorm's and layernorm's saved statistics, attention's
 * probabilities. */
static fm_status prep_on_ref(fm_backend *ref, fm_arena *host, const op_desc *d, const fm_call *c,
                             uint64_t seed)
{
    if (d->prep == PREP_XATT)
        return prep_xattn(ref, host, d, c, seed);
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
    if (d->prep == PREP_LN_STATS) {
        /* layernorm_bwd: din, dshift, dscale, dout, in, mean, rstd, scale */
        fm_tensor out = c->t[4];
        fm_status s = fm_tensor_alloc(ref, &out);
        if (s != FM_OK)
            return s;
        fm_call f = {.op = FM_OP_LAYERNORM_FWD,
                     .t = {out, c->t[5], c->t[6], c->t[4]},
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
    fm_conf_row_init(row, info->name, d->shape, fm_conf_tol(be, info->name, d->tol));
    if (!fm_backend_supports(be, d->op)) {
        fm_conf_row_failed(row, FM_ERR_UNSUPPORTED, fm_backend_name(be), "no kernel for this op");
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
        hs = fm_conf_host_alloc(host, bytes, &hbuf[k]);
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
        hs = fm_conf_host_alloc(host, maxbytes, &got);
    if (hs == FM_OK && s == FM_OK && d->prep) {
        who = "ref (preparing inputs)";
        s = prep_on_ref(ref, host, d, &cr, seed);
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
        fm_conf_cmp c = fm_conf_compare(got, hbuf[k], cr.t[k].dtype, 0, fm_tensor_numel(&cr.t[k]));
        char name[24];
        fm_conf_row_add(row, &c, fm_op_slot_name(d->op, k, name, sizeof name), &first);
    }
    if (hs != FM_OK)
        fm_conf_row_failed(row, hs, "host", "staging arena exhausted");
    else if (s != FM_OK)
        fm_conf_row_failed(row, s, who,
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
     * for every slot and the prep temporaries (device alignments reach 4 KiB). */
    size_t most = 0;
    for (size_t k = 0; k < NDESC; k++) {
        size_t total = 0, big = 0;
        for (int j = 0; j < FM_CALL_TENSORS; j++)
            if (descs[k].t[j].ndim) {
                fm_tensor t = fm_tensor_desc(fm_op_slot_dtype(descs[k].op, j), descs[k].t[j].ndim,
                                             descs[k].t[j].s);
                total += fm_tensor_bytes(&t);
                if (fm_tensor_bytes(&t) > big)
                    big = fm_tensor_bytes(&t);
            }
        total += 2 * big; /* prep temporaries or the host's second copy */
        if (descs[k].aux.ndim) /* the prep's input, on the host and the reference */
            total += 2 * (size_t)(descs[k].aux.s[0] * descs[k].aux.s[1]) * sizeof(float);
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
        fm_conf_emit(cb, user, sum, &row);
        if (s != FM_OK)
            return s;
    }
    return FM_OK;
}
