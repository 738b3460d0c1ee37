/* Reference-backend tests of the layer ops: conv2d, groupnorm, linear, attention,
 * xattn (attention between token sequences: padding bias, causal), timeemb, embed,
 * softmax cross-entropy, and the DiT's token ops: layernorm (adaLN and affine forms),
 * gated_add, transpose, unpatchify. For every op:
 *   - forward on small cases whose expected numbers are worked out by hand (the
 *     derivation is in the comment above each case);
 *   - backward against central differences of the forward (tu_gradcheck) on random
 *     inputs, including odd sizes, stride 2, 1x1 kernels and several groups/heads;
 *   - the backward convention: parameter gradients accumulate (two calls give twice
 *     one call), activation gradients are written (stale contents are ignored).
 *
 * Gradient tolerance. tu_gradcheck reports ||g - g_num|| / ||g_num||. The ops here are
 * smooth, inputs are O(1), L is summed in double, so the numerical gradient's error
 * is float rounding of the outputs (~6e-8 |out| per element, random sign) divided by
 * the 2h step, plus an O(h^2) truncation term that vanishes for the linear maps (conv,
 * linear, embed). With the default h = 1e-2 the checks print 1e-6 .. 2e-5, so
 * GRAD_TOL = 1e-4 leaves a 5x margin (other compilers, FMA contraction) and is still
 * far below the O(1e-1..1) error of a wrong index, sign or missing term. timeemb's
 * angles move 1000x faster than t: with its h = 2e-5 the truncation (1000 h)^2 / 6 is
 * ~7e-5 by itself (it prints 6.5e-5), hence TIMEEMB_TOL = 5e-4. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define GRAD_TOL 1e-4
#define TIMEEMB_TOL 5e-4

/* ---- helpers ------------------------------------------------------------------------ */

static fm_tensor t4(fm_backend *be, int64_t n, int64_t c, int64_t h, int64_t w)
{
    return tu_tensor(be, FM_F32, 4, n, c, h, w);
}
static fm_tensor t3(fm_backend *be, int64_t b, int64_t t, int64_t d)
{
    return tu_tensor(be, FM_F32, 3, b, t, d, 1);
}
static fm_tensor t2(fm_backend *be, int64_t r, int64_t c)
{
    return tu_tensor(be, FM_F32, 2, r, c, 1, 1);
}
static fm_tensor t1(fm_backend *be, int64_t n) { return tu_tensor(be, FM_F32, 1, n, 1, 1, 1); }

/* A tensor of be's arena holding v. */
static fm_tensor with(fm_backend *be, fm_tensor t, const float *v)
{
    tu_set(be, &t, v);
    return t;
}

static void expect_tensor(fm_backend *be, const fm_tensor *t, const float *want, double atol,
                          const char *what)
{
    int64_t n = fm_tensor_numel(t);
    float *got = malloc((size_t)n * sizeof *got);
    tu_get(be, t, got);
    tu_expect_close(got, want, n, atol, 1e-6, what);
    free(got);
}

static float *download(fm_backend *be, const fm_tensor *t)
{
    float *v = malloc((size_t)fm_tensor_numel(t) * sizeof *v);
    tu_get(be, t, v);
    return v;
}

/* The backward convention on one call. Slots in acc[] (parameter gradients) start at
 * zero and must hold twice the one-call value after two calls; slots in wr[]
 * (activation gradients) are filled with junk before each call and must come out
 * the same both times. All other slots of bwd must already hold valid inputs. */
static void check_convention(fm_backend *be, const fm_call *bwd, const int *acc, int nacc,
                             const int *wr, int nwr, const char *label)
{
    float *once[FM_CALL_TENSORS] = {0};
    for (int k = 0; k < nacc; k++)
        cr_assert_eq(fm_fill(be, &bwd->t[acc[k]], 0.0f), FM_OK);
    for (int k = 0; k < nwr; k++)
        cr_assert_eq(fm_fill(be, &bwd->t[wr[k]], 1234.5f), FM_OK);
    tu_run(be, bwd);
    for (int k = 0; k < nacc; k++)
        once[acc[k]] = download(be, &bwd->t[acc[k]]);
    for (int k = 0; k < nwr; k++) {
        once[wr[k]] = download(be, &bwd->t[wr[k]]);
        cr_assert_eq(fm_fill(be, &bwd->t[wr[k]], -777.0f), FM_OK);
    }
    tu_run(be, bwd);
    char what[96];
    for (int k = 0; k < nacc; k++) {
        int64_t n = fm_tensor_numel(&bwd->t[acc[k]]);
        for (int64_t e = 0; e < n; e++)
            once[acc[k]][e] *= 2.0f;
        snprintf(what, sizeof what, "%s: slot %d (+=) after two calls", label, acc[k]);
        expect_tensor(be, &bwd->t[acc[k]], once[acc[k]], 1e-6, what);
    }
    for (int k = 0; k < nwr; k++) {
        snprintf(what, sizeof what, "%s: slot %d (=) over stale contents", label, wr[k]);
        expect_tensor(be, &bwd->t[wr[k]], once[wr[k]], 0.0, what);
    }
    for (int k = 0; k < FM_CALL_TENSORS; k++)
        free(once[k]);
}

/* ---- conv2d ------------------------------------------------------------------------- */

/* in[y][x] = 4y + x + 1 (1..16), one channel. */
static const float in4x4[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

Test(conv2d, forward_3x3_valid_4x4)
{
    /* w[ky][kx] = 3ky + kx + 1 (1..9), stride 1, no pad: Ho = Wo = 2. Because in is
     * linear, in[y+ky][x+kx] = in[y][x] + 4ky + kx, so
     *   out[y][x] = (sum w) in[y][x] + sum w (4ky + kx) = 45 in[y][x] + 303,
     * sum w (4ky + kx): ky=0: 1*0 + 2*1 + 3*2 = 8; ky=1: 4*4 + 5*5 + 6*6 = 77;
     * ky=2: 7*8 + 8*9 + 9*10 = 218; total 303.
     * out = 45 [1, 2, 5, 6] + 303 = [348, 393, 528, 573]. */
    fm_backend *be = tu_ref();
    const float w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    fm_tensor in = with(be, t4(be, 1, 1, 4, 4), in4x4);
    fm_tensor wt = with(be, t4(be, 1, 1, 3, 3), w);
    fm_tensor out = t4(be, 1, 1, 2, 2);
    tu_run(be, &(fm_call){.op = FM_OP_CONV2D_FWD, .t = {out, in, wt}, .i = {1, 0}});
    expect_tensor(be, &out, (const float[]){348, 393, 528, 573}, 0, "conv 3x3 valid");
}

Test(conv2d, forward_3x3_stride2_pad1)
{
    /* 4x4 -> Ho = (4 + 2 - 3)/2 + 1 = 2; out[y][x] reads rows 2y-1..2y+1, cols
     * 2x-1..2x+1 (row/col -1 is padding).
     * Channel 0, w = ones: window sums of the valid part
     *   [0][0]: rows 0-1, cols 0-1: 1+2+5+6 = 14
     *   [0][1]: rows 0-1, cols 1-3: 2+3+4+6+7+8 = 30
     *   [1][0]: rows 1-3, cols 0-1: 5+6+9+10+13+14 = 57
     *   [1][1]: rows 1-3, cols 1-3: 6+7+8+10+11+12+14+15+16 = 99
     * Channel 1, w[0][0] = 1, w[2][2] = 10 (tells the corners apart):
     *   out = in[2y-1][2x-1] + 10 in[2y+1][2x+1]
     *   [0][0] = 0 + 10*6 = 60, [0][1] = 0 + 10*8 = 80, [1][0] = 0 + 10*14 = 140,
     *   [1][1] = in[1][1] + 10 in[3][3] = 6 + 160 = 166. */
    fm_backend *be = tu_ref();
    const float w[18] = {1, 1, 1, 1, 1, 1, 1, 1, 1, /**/ 1, 0, 0, 0, 0, 0, 0, 0, 10};
    fm_tensor in = with(be, t4(be, 1, 1, 4, 4), in4x4);
    fm_tensor wt = with(be, t4(be, 2, 1, 3, 3), w);
    fm_tensor out = t4(be, 1, 2, 2, 2);
    tu_run(be, &(fm_call){.op = FM_OP_CONV2D_FWD, .t = {out, in, wt}, .i = {2, 1}});
    expect_tensor(be, &out, (const float[]){14, 30, 57, 99, 60, 80, 140, 166}, 0,
                  "conv stride 2 pad 1");
}

Test(conv2d, forward_3x3_pad1_same)
{
    /* in = 1..9 on 3x3, w = ones, stride 1, pad 1: 3x3 box sums clipped to the image.
     *   corners: 1+2+4+5 = 12, 2+3+5+6 = 16, 4+5+7+8 = 24, 5+6+8+9 = 28
     *   edges:   1..6 = 21, rows 0-2 cols 0-1 = 1+2+4+5+7+8 = 27,
     *            2+3+5+6+8+9 = 33, 4..9 = 39;  centre: 45 */
    fm_backend *be = tu_ref();
    const float v[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    fm_tensor in = with(be, t4(be, 1, 1, 3, 3), v);
    fm_tensor wt = with(be, t4(be, 1, 1, 3, 3), w);
    fm_tensor out = t4(be, 1, 1, 3, 3);
    tu_run(be, &(fm_call){.op = FM_OP_CONV2D_FWD, .t = {out, in, wt}, .i = {1, 1}});
    expect_tensor(be, &out, (const float[]){12, 21, 16, 27, 45, 33, 24, 39, 28}, 0, "conv pad 1");
}

Test(conv2d, forward_1x1_bias_batch2_epilogue)
{
    /* 2 -> 3 channels on 2x2, w = [[1, 0], [0, 1], [2, -1]], b = [0.5, -1, 3]:
     *   out[o] = b[o] + w[o,0] in0 + w[o,1] in1
     * sample 0: in0 = [1, 2, 3, 4], in1 = [10, 20, 30, 40]
     *   o0 = in0 + 0.5 = [1.5, 2.5, 3.5, 4.5];  o1 = in1 - 1 = [9, 19, 29, 39]
     *   o2 = 2 in0 - in1 + 3 = [-5, -13, -21, -29]
     * sample 1 = -(sample 0), so out = 2b - out(sample 0):
     *   [-0.5, -1.5, -2.5, -3.5], [-11, -21, -31, -41], [11, 19, 27, 35] */
    fm_backend *be = tu_ref();
    const float x[16] = {1, 2, 3, 4, 10, 20, 30, 40, -1, -2, -3, -4, -10, -20, -30, -40};
    fm_tensor in = with(be, t4(be, 2, 2, 2, 2), x);
    fm_tensor wt = with(be, t4(be, 3, 2, 1, 1), (const float[]){1, 0, 0, 1, 2, -1});
    fm_tensor b = with(be, t1(be, 3), (const float[]){0.5f, -1, 3});
    fm_tensor out = t4(be, 2, 3, 2, 2);
    tu_run(be, &(fm_call){.op = FM_OP_CONV2D_FWD, .t = {out, in, wt, b}, .i = {1, 0}});
    const float want[24] = {1.5f,  2.5f,  3.5f,  4.5f,  9,   19,  29,  39,  -5, -13, -21, -29,
                            -0.5f, -1.5f, -2.5f, -3.5f, -11, -21, -31, -41, 11, 19,  27,  35};
    expect_tensor(be, &out, want, 0, "conv 1x1 + bias");

    /* The epilogue terms on the same conv: bn[n, o] = 10 n + o and res = 100 add to
     * every position of plane (n, o). */
    fm_tensor bn = with(be, t2(be, 2, 3), (const float[]){0, 1, 2, 10, 11, 12});
    float hundred[24], want2[24];
    for (int i = 0; i < 24; i++) {
        hundred[i] = 100;
        want2[i] = want[i] + (float)(10 * (i / 12) + i / 4 % 3) + 100;
    }
    fm_tensor res = with(be, t4(be, 2, 3, 2, 2), hundred);
    tu_run(be, &(fm_call){.op = FM_OP_CONV2D_FWD, .t = {out, in, wt, b, bn, res}, .i = {1, 0}});
    expect_tensor(be, &out, want2, 0, "conv 1x1 + bias + bn + res");
    /* bn must be [N, Co], res the shape of out: the rule names the tensor */
    char msg[200] = "";
    fm_call c = {.op = FM_OP_CONV2D_FWD, .t = {out, in, wt, b, t2(be, 3, 2)}, .i = {1, 0}};
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "bn") != NULL, "message: %s", msg);
    c.t[4] = bn, c.t[5] = t4(be, 2, 3, 2, 1);
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "res") != NULL, "message: %s", msg);
}

Test(conv2d, backward_hand_1x1)
{
    /* 1 -> 1 channel, 1x1 kernel w = 3 on in = [1, 2; 3, 4], dout = [1, 0; 0, 2]:
     *   din = w dout = [3, 0; 0, 6]
     *   dw  = sum dout in = 1*1 + 2*4 = 9,  db = sum dout = 3 */
    fm_backend *be = tu_ref();
    fm_tensor in = with(be, t4(be, 1, 1, 2, 2), (const float[]){1, 2, 3, 4});
    fm_tensor wt = with(be, t4(be, 1, 1, 1, 1), (const float[]){3});
    fm_tensor dout = with(be, t4(be, 1, 1, 2, 2), (const float[]){1, 0, 0, 2});
    fm_tensor din = t4(be, 1, 1, 2, 2), dw = t4(be, 1, 1, 1, 1), db = t1(be, 1);
    tu_run(be, &(fm_call){.op = FM_OP_CONV2D_BWD, .t = {din, dw, db, dout, in, wt}, .i = {1, 0}});
    expect_tensor(be, &din, (const float[]){3, 0, 0, 6}, 0, "din");
    expect_tensor(be, &dw, (const float[]){9}, 0, "dw");
    expect_tensor(be, &db, (const float[]){3}, 0, "db");
}

/* Gradient check of conv2d on random data: in [N,Ci,H,W], w [Co,Ci,K,K], optional bias. */
static double conv_grad(int64_t N, int64_t Ci, int64_t Co, int64_t H, int64_t W, int64_t K, int s,
                        int p, int bias, const char *label)
{
    fm_backend *be = tu_ref();
    int64_t Ho = (H + 2 * p - K) / s + 1, Wo = (W + 2 * p - K) / s + 1;
    fm_tensor in = t4(be, N, Ci, H, W), w = t4(be, Co, Ci, K, K), out = t4(be, N, Co, Ho, Wo);
    fm_tensor b = {0}, db = {0};
    if (bias) {
        b = t1(be, Co);
        db = t1(be, Co);
        tu_rand(be, &b, 3, -0.5f, 0.5f);
    }
    fm_tensor din = t4(be, N, Ci, H, W), dw = t4(be, Co, Ci, K, K), dout = t4(be, N, Co, Ho, Wo);
    tu_rand(be, &in, 1, -1, 1);
    tu_rand(be, &w, 2, -1, 1);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_CONV2D_FWD, .t = {out, in, w, b}, .i = {s, p}},
        .bwd = {.op = FM_OP_CONV2D_BWD, .t = {din, dw, db, dout, in, w}, .i = {s, p}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {3},
        .n_wrt = bias ? 3 : 2,
        .in_slot = {1, 2, 3},
        .grad_slot = {0, 1, 2},
    };
    return tu_gradcheck(be, &gc, label);
}

Test(conv2d, grad_7x7_odd)
{
    double e = conv_grad(2, 3, 2, 7, 7, 3, 1, 1, 1, "conv2d 3x3 s1 p1 7x7 3->2");
    cr_expect_lt(e, GRAD_TOL);
}

Test(conv2d, grad_7x7_stride2_pad1)
{
    double e = conv_grad(2, 3, 4, 7, 7, 3, 2, 1, 1, "conv2d 3x3 s2 p1 7x7 3->4");
    cr_expect_lt(e, GRAD_TOL);
}

Test(conv2d, grad_1x1)
{
    double e = conv_grad(3, 3, 5, 5, 3, 1, 1, 0, 1, "conv2d 1x1 5x3 3->5");
    cr_expect_lt(e, GRAD_TOL);
}

Test(conv2d, grad_nonsquare_stride2_nopad)
{
    /* 7x6 input, stride 2, no pad: Ho = 3, Wo = 2; the last input column is never read. */
    double e = conv_grad(1, 2, 3, 7, 6, 3, 2, 0, 1, "conv2d 3x3 s2 p0 7x6 2->3");
    cr_expect_lt(e, GRAD_TOL);
}

Test(conv2d, grad_no_bias_pad2)
{
    double e = conv_grad(2, 1, 2, 5, 5, 3, 1, 2, 0, "conv2d 3x3 s1 p2 5x5 no bias");
    cr_expect_lt(e, GRAD_TOL);
}

Test(conv2d, backward_convention)
{
    fm_backend *be = tu_ref();
    fm_tensor in = t4(be, 2, 3, 7, 7), w = t4(be, 4, 3, 3, 3), dout = t4(be, 2, 4, 4, 4);
    fm_tensor din = t4(be, 2, 3, 7, 7), dw = t4(be, 4, 3, 3, 3), db = t1(be, 4);
    tu_rand(be, &in, 11, -1, 1);
    tu_rand(be, &w, 12, -1, 1);
    tu_rand(be, &dout, 13, -1, 1);
    fm_call c = {.op = FM_OP_CONV2D_BWD, .t = {din, dw, db, dout, in, w}, .i = {2, 1}};
    check_convention(be, &c, (const int[]){1, 2}, 2, (const int[]){0}, 1, "conv2d_bwd");
}

Test(conv2d, backward_optional_din_db_absent)
{
    /* Without din and db the call still produces the same dw. */
    fm_backend *be = tu_ref();
    fm_tensor in = t4(be, 1, 2, 5, 5), w = t4(be, 3, 2, 3, 3), dout = t4(be, 1, 3, 5, 5);
    fm_tensor din = t4(be, 1, 2, 5, 5), dw = t4(be, 3, 2, 3, 3), db = t1(be, 3);
    fm_tensor dw2 = t4(be, 3, 2, 3, 3);
    tu_rand(be, &in, 21, -1, 1);
    tu_rand(be, &w, 22, -1, 1);
    tu_rand(be, &dout, 23, -1, 1);
    tu_run(be, &(fm_call){.op = FM_OP_CONV2D_BWD, .t = {din, dw, db, dout, in, w}, .i = {1, 1}});
    tu_run(be, &(fm_call){.op = FM_OP_CONV2D_BWD, .t = {{0}, dw2, {0}, dout, in, w}, .i = {1, 1}});
    float *want = download(be, &dw);
    expect_tensor(be, &dw2, want, 0, "dw without din/db");
    free(want);
}

/* ---- groupnorm ---------------------------------------------------------------------- */

/* in [1,2,1,2]: channel 0 = [1, 2], channel 1 = [3, 4]; gamma = [1, 2], beta = [0, 1]. */
static const float gn_in[4] = {1, 2, 3, 4}, gn_gamma[2] = {1, 2}, gn_beta[2] = {0, 1};

Test(groupnorm, forward_one_group)
{
    /* G = 1: one group of all 4 values. mean = 2.5, biased var = (2.25 + 0.25 + 0.25 +
     * 2.25)/4 = 1.25; eps = 0.75 makes var + eps = 2, rstd = 1/sqrt(2).
     * xhat = [-1.5, -0.5, 0.5, 1.5] / sqrt(2) = [-1.0606602, -0.3535534, 0.3535534, 1.0606602]
     * out = xhat gamma[c] + beta[c] = [-1.0606602, -0.3535534, 1.7071068, 3.1213203] */
    fm_backend *be = tu_ref();
    fm_tensor in = with(be, t4(be, 1, 2, 1, 2), gn_in);
    fm_tensor g = with(be, t1(be, 2), gn_gamma), b = with(be, t1(be, 2), gn_beta);
    fm_tensor out = t4(be, 1, 2, 1, 2), mean = t2(be, 1, 1), rstd = t2(be, 1, 1);
    tu_run(be, &(fm_call){.op = FM_OP_GROUPNORM_FWD,
                          .t = {out, mean, rstd, in, g, b},
                          .i = {1},
                          .f = {0.75f}});
    expect_tensor(be, &out, (const float[]){-1.0606602f, -0.3535534f, 1.7071068f, 3.1213203f}, 1e-6,
                  "groupnorm G=1");
    expect_tensor(be, &mean, (const float[]){2.5f}, 0, "mean");
    expect_tensor(be, &rstd, (const float[]){0.70710678f}, 1e-7, "rstd");
}

Test(groupnorm, forward_two_groups)
{
    /* G = 2: each channel its own group. [1, 2]: mean 1.5, var 0.25; [3, 4]: mean 3.5,
     * var 0.25; with eps = 0.75, rstd = 1 for both and xhat = [-0.5, 0.5] in each.
     * out = [-0.5, 0.5, 2*(-0.5) + 1, 2*0.5 + 1] = [-0.5, 0.5, 0, 2] */
    fm_backend *be = tu_ref();
    fm_tensor in = with(be, t4(be, 1, 2, 1, 2), gn_in);
    fm_tensor g = with(be, t1(be, 2), gn_gamma), b = with(be, t1(be, 2), gn_beta);
    fm_tensor out = t4(be, 1, 2, 1, 2), mean = t2(be, 1, 2), rstd = t2(be, 1, 2);
    tu_run(be, &(fm_call){.op = FM_OP_GROUPNORM_FWD,
                          .t = {out, mean, rstd, in, g, b},
                          .i = {2},
                          .f = {0.75f}});
    expect_tensor(be, &out, (const float[]){-0.5f, 0.5f, 0, 2}, 1e-7, "groupnorm G=2");
    expect_tensor(be, &mean, (const float[]){1.5f, 3.5f}, 0, "mean");
    expect_tensor(be, &rstd, (const float[]){1, 1}, 1e-7, "rstd");
}

/* The SiLU post-op (i1 = 1) on the G = 2 case above: y = [-0.5, 0.5, 0, 2] and
 * silu(y) = y / (1 + e^-y):
 *   -0.5 / (1 + e^0.5)  = -0.5 / 2.6487213 = -0.18877033
 *    0.5 / (1 + e^-0.5) =  0.5 / 1.6065307 =  0.31122967
 *    0 / 2 = 0,  2 / (1 + e^-2) = 2 / 1.1353353 = 1.7615942
 * mean and rstd are those of the input, untouched by the activation. */
Test(groupnorm, forward_silu_two_groups)
{
    fm_backend *be = tu_ref();
    fm_tensor in = with(be, t4(be, 1, 2, 1, 2), gn_in);
    fm_tensor g = with(be, t1(be, 2), gn_gamma), b = with(be, t1(be, 2), gn_beta);
    fm_tensor out = t4(be, 1, 2, 1, 2), mean = t2(be, 1, 2), rstd = t2(be, 1, 2);
    tu_run(be, &(fm_call){.op = FM_OP_GROUPNORM_FWD,
                          .t = {out, mean, rstd, in, g, b},
                          .i = {2, FM_GN_ACT_SILU},
                          .f = {0.75f}});
    expect_tensor(be, &out, (const float[]){-0.18877033f, 0.31122967f, 0, 1.7615942f}, 1e-7,
                  "groupnorm G=2 +silu");
    expect_tensor(be, &mean, (const float[]){1.5f, 3.5f}, 0, "mean");
    expect_tensor(be, &rstd, (const float[]){1, 1}, 1e-7, "rstd");
}

/* The fused op is the unfused pair bit for bit on ref (what keeps the sampler's bytes
 * unchanged): GROUPNORM_FWD act 1 == SILU_FWD(GROUPNORM_FWD act 0), outputs and
 * statistics, on random inputs whose normalised values cover both sides of 0. */
Test(groupnorm, forward_silu_equals_norm_then_silu)
{
    fm_backend *be = tu_ref();
    const int64_t N = 2, C = 6, H = 7, W = 5, G = 3, n = N * C * H * W;
    fm_tensor in = t4(be, N, C, H, W), g = t1(be, C), b = t1(be, C);
    fm_tensor y = t4(be, N, C, H, W), m0 = t2(be, N, G), r0 = t2(be, N, G);
    fm_tensor out = t4(be, N, C, H, W), m1 = t2(be, N, G), r1 = t2(be, N, G);
    tu_rand(be, &in, 51, -1, 3);
    tu_rand(be, &g, 52, 0.5f, 2.5f);
    tu_rand(be, &b, 53, -1, 1);
    tu_run(be, &(fm_call){.op = FM_OP_GROUPNORM_FWD,
                          .t = {y, m0, r0, in, g, b},
                          .i = {G},
                          .f = {1e-5f}});
    tu_run(be, &(fm_call){.op = FM_OP_SILU_FWD, .t = {y, y}});
    tu_run(be, &(fm_call){.op = FM_OP_GROUPNORM_FWD,
                          .t = {out, m1, r1, in, g, b},
                          .i = {G, FM_GN_ACT_SILU},
                          .f = {1e-5f}});
    float *want = download(be, &y), *got = download(be, &out);
    int neg = 0;
    for (int64_t e = 0; e < n; e++) {
        cr_expect_eq(memcmp(&got[e], &want[e], sizeof(float)), 0,
                     "element %lld: fused %.9g, norm then silu %.9g", (long long)e, got[e],
                     want[e]);
        neg += want[e] < 0;
    }
    cr_expect(neg > 0 && neg < n, "inputs reach both sides of 0 (%d negative of %lld)", neg,
              (long long)n);
    free(want);
    free(got);
    float *a = download(be, &m0), *c = download(be, &m1);
    cr_expect_eq(memcmp(a, c, (size_t)(N * G) * sizeof(float)), 0, "mean");
    free(a);
    free(c);
    a = download(be, &r0);
    c = download(be, &r1);
    cr_expect_eq(memcmp(a, c, (size_t)(N * G) * sizeof(float)), 0, "rstd");
    free(a);
    free(c);
}

/* i1 other than none / SiLU is refused by the shape rules, naming the argument. */
Test(groupnorm, unknown_activation_refused)
{
    fm_backend *be = tu_ref();
    fm_tensor in = t4(be, 1, 2, 1, 2), g = t1(be, 2), b = t1(be, 2);
    fm_tensor out = t4(be, 1, 2, 1, 2), mean = t2(be, 1, 1), rstd = t2(be, 1, 1);
    char msg[200] = "";
    fm_call c = {
        .op = FM_OP_GROUPNORM_FWD, .t = {out, mean, rstd, in, g, b}, .i = {1, 2}, .f = {1e-5f}};
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "activation") != NULL, "message: %s", msg);
    c.i[1] = -1;
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_ERR_ARG);
    c.i[1] = FM_GN_ACT_SILU;
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_OK, "%s", msg);
}

static double groupnorm_grad(int64_t N, int64_t C, int64_t H, int64_t W, int G, const char *label)
{
    fm_backend *be = tu_ref();
    fm_tensor in = t4(be, N, C, H, W), g = t1(be, C), b = t1(be, C);
    fm_tensor out = t4(be, N, C, H, W), mean = t2(be, N, G), rstd = t2(be, N, G);
    fm_tensor din = t4(be, N, C, H, W), dg = t1(be, C), dbeta = t1(be, C),
              dout = t4(be, N, C, H, W);
    tu_rand(be, &in, 31, -2, 2);
    tu_rand(be, &g, 32, 0.5f, 1.5f);
    tu_rand(be, &b, 33, -0.5f, 0.5f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_GROUPNORM_FWD,
                .t = {out, mean, rstd, in, g, b},
                .i = {G},
                .f = {1e-5f}},
        .bwd = {.op = FM_OP_GROUPNORM_BWD,
                .t = {din, dg, dbeta, dout, in, mean, rstd, g},
                .i = {G}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {3},
        .n_wrt = 3,
        .in_slot = {3, 4, 5},
        .grad_slot = {0, 1, 2},
    };
    return tu_gradcheck(be, &gc, label);
}

Test(groupnorm, grad_6ch_3groups_7x7)
{
    double e = groupnorm_grad(2, 6, 7, 7, 3, "groupnorm 2x6x7x7 G=3");
    cr_expect_lt(e, GRAD_TOL);
}

Test(groupnorm, grad_odd_3x5)
{
    double e = groupnorm_grad(1, 4, 3, 5, 2, "groupnorm 1x4x3x5 G=2");
    cr_expect_lt(e, GRAD_TOL);
}

Test(groupnorm, grad_one_channel_per_group)
{
    double e = groupnorm_grad(2, 3, 2, 3, 3, "groupnorm 2x3x2x3 G=3");
    cr_expect_lt(e, GRAD_TOL);
}

Test(groupnorm, backward_convention)
{
    fm_backend *be = tu_ref();
    fm_tensor in = t4(be, 2, 6, 3, 3), g = t1(be, 6), b = t1(be, 6);
    fm_tensor out = t4(be, 2, 6, 3, 3), mean = t2(be, 2, 3), rstd = t2(be, 2, 3);
    fm_tensor din = t4(be, 2, 6, 3, 3), dg = t1(be, 6), db = t1(be, 6), dout = t4(be, 2, 6, 3, 3);
    tu_rand(be, &in, 41, -1, 1);
    tu_rand(be, &g, 42, 0.5f, 1.5f);
    tu_rand(be, &dout, 43, -1, 1);
    tu_run(be, &(fm_call){.op = FM_OP_GROUPNORM_FWD,
                          .t = {out, mean, rstd, in, g, b},
                          .i = {3},
                          .f = {1e-5f}});
    fm_call c = {.op = FM_OP_GROUPNORM_BWD, .t = {din, dg, db, dout, in, mean, rstd, g}, .i = {3}};
    check_convention(be, &c, (const int[]){1, 2}, 2, (const int[]){0}, 1, "groupnorm_bwd");
}

/* ---- linear ------------------------------------------------------------------------- */

Test(linear, forward_2x3_bias)
{
    /* in = [[1, 2, 3], [4, 5, 6]], w = [[1, 0, -1], [0.5, 0.5, 0.5]], b = [1, -1]:
     *   row 0: [1 - 3, 0.5 (1 + 2 + 3)] + b = [-2, 3] + b = [-1, 2]
     *   row 1: [4 - 6, 0.5 (4 + 5 + 6)] + b = [-2, 7.5] + b = [-1, 6.5] */
    fm_backend *be = tu_ref();
    fm_tensor in = with(be, t2(be, 2, 3), (const float[]){1, 2, 3, 4, 5, 6});
    fm_tensor w = with(be, t2(be, 2, 3), (const float[]){1, 0, -1, 0.5f, 0.5f, 0.5f});
    fm_tensor b = with(be, t1(be, 2), (const float[]){1, -1});
    fm_tensor out = t2(be, 2, 2), out2 = t2(be, 2, 2);
    tu_run(be, &(fm_call){.op = FM_OP_LINEAR_FWD, .t = {out, in, w, b}});
    expect_tensor(be, &out, (const float[]){-1, 2, -1, 6.5f}, 0, "linear + bias");
    tu_run(be, &(fm_call){.op = FM_OP_LINEAR_FWD, .t = {out2, in, w}});
    expect_tensor(be, &out2, (const float[]){-2, 3, -2, 7.5f}, 0, "linear, no bias");
}

Test(linear, backward_hand)
{
    /* in = [[1, 2]], w = [[3, 4], [5, 6]] (2 -> 2), dout = [[1, -1]]:
     *   din = dout w = [3 - 5, 4 - 6] = [-2, -2]
     *   dw = dout^T in = [[1, 2], [-1, -2]],  db = [1, -1] */
    fm_backend *be = tu_ref();
    fm_tensor in = with(be, t2(be, 1, 2), (const float[]){1, 2});
    fm_tensor w = with(be, t2(be, 2, 2), (const float[]){3, 4, 5, 6});
    fm_tensor dout = with(be, t2(be, 1, 2), (const float[]){1, -1});
    fm_tensor din = t2(be, 1, 2), dw = t2(be, 2, 2), db = t1(be, 2);
    tu_run(be, &(fm_call){.op = FM_OP_LINEAR_BWD, .t = {din, dw, db, dout, in, w}});
    expect_tensor(be, &din, (const float[]){-2, -2}, 0, "din");
    expect_tensor(be, &dw, (const float[]){1, 2, -1, -2}, 0, "dw");
    expect_tensor(be, &db, (const float[]){1, -1}, 0, "db");
}

static double linear_grad(int64_t N, int64_t I, int64_t O, int bias, const char *label)
{
    fm_backend *be = tu_ref();
    fm_tensor in = t2(be, N, I), w = t2(be, O, I), out = t2(be, N, O);
    fm_tensor b = {0}, db = {0};
    if (bias) {
        b = t1(be, O);
        db = t1(be, O);
        tu_rand(be, &b, 53, -1, 1);
    }
    fm_tensor din = t2(be, N, I), dw = t2(be, O, I), dout = t2(be, N, O);
    tu_rand(be, &in, 51, -1, 1);
    tu_rand(be, &w, 52, -1, 1);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_LINEAR_FWD, .t = {out, in, w, b}},
        .bwd = {.op = FM_OP_LINEAR_BWD, .t = {din, dw, db, dout, in, w}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {3},
        .n_wrt = bias ? 3 : 2,
        .in_slot = {1, 2, 3},
        .grad_slot = {0, 1, 2},
    };
    return tu_gradcheck(be, &gc, label);
}

Test(linear, grad_5to3_batch3)
{
    double e = linear_grad(3, 5, 3, 1, "linear 5->3 batch 3");
    cr_expect_lt(e, GRAD_TOL);
}

Test(linear, grad_7to11_no_bias)
{
    double e = linear_grad(2, 7, 11, 0, "linear 7->11 batch 2 no bias");
    cr_expect_lt(e, GRAD_TOL);
}

Test(linear, backward_convention)
{
    fm_backend *be = tu_ref();
    fm_tensor in = t2(be, 3, 5), w = t2(be, 4, 5), dout = t2(be, 3, 4);
    fm_tensor din = t2(be, 3, 5), dw = t2(be, 4, 5), db = t1(be, 4);
    tu_rand(be, &in, 61, -1, 1);
    tu_rand(be, &w, 62, -1, 1);
    tu_rand(be, &dout, 63, -1, 1);
    fm_call c = {.op = FM_OP_LINEAR_BWD, .t = {din, dw, db, dout, in, w}};
    check_convention(be, &c, (const int[]){1, 2}, 2, (const int[]){0}, 1, "linear_bwd");
    /* din absent: dw still accumulates (dw now holds 2x, one more call makes 3x). */
    float *two = download(be, &dw);
    tu_run(be, &(fm_call){.op = FM_OP_LINEAR_BWD, .t = {{0}, dw, {0}, dout, in, w}});
    for (int i = 0; i < 20; i++)
        two[i] *= 1.5f;
    expect_tensor(be, &dw, two, 1e-6, "dw with din and db absent");
    free(two);
}

/* ---- attention ---------------------------------------------------------------------- */

Test(attention, forward_two_keys)
{
    /* C = 1, 1 head (d = 1), L = 2 (a 1x2 image); qkv channels: q, k, v.
     * q = [1, 0], k = [0, ln 3], v = [4, 8]; S[i,k] = q_i k_k / sqrt(1).
     *   row 0: S = [0, ln 3] -> att = [1, 3]/4 = [0.25, 0.75], out = 1 + 6 = 7
     *   row 1: S = [0, 0]    -> att = [0.5, 0.5],             out = 2 + 4 = 6 */
    fm_backend *be = tu_ref();
    const float qkv_v[6] = {1, 0, 0, logf(3.0f), 4, 8};
    fm_tensor qkv = with(be, t4(be, 1, 3, 1, 2), qkv_v);
    fm_tensor out = t4(be, 1, 1, 1, 2), att = t4(be, 1, 1, 2, 2);
    tu_run(be, &(fm_call){.op = FM_OP_ATTENTION_FWD, .t = {out, att, qkv}, .i = {1}});
    expect_tensor(be, &att, (const float[]){0.25f, 0.75f, 0.5f, 0.5f}, 1e-6, "att");
    expect_tensor(be, &out, (const float[]){7, 6}, 1e-5, "out");
}

Test(attention, forward_two_heads_layout)
{
    /* C = 2, 2 heads (d = 1), L = 2. Channel s*C + h*d + j: q0 q1 k0 k1 v0 v1.
     * Head 0 is the case above (q = [1, 0], k = [0, ln 3], v = [4, 8]) -> out ch 0 = [7, 6].
     * Head 1: q = [0, 0] -> uniform att; v = [2, 10] -> out ch 1 = [6, 6].
     * A head-major layout (q0 k0 v0 q1 ...) would give different numbers. */
    fm_backend *be = tu_ref();
    const float l3 = logf(3.0f);
    const float qkv_v[12] = {1,        0, /*q1*/ 0, 0, /*k0*/ 0, l3, /*k1*/ 5, -5,
                             /*v0*/ 4, 8, /*v1*/ 2, 10};
    fm_tensor qkv = with(be, t4(be, 1, 6, 1, 2), qkv_v);
    fm_tensor out = t4(be, 1, 2, 1, 2), att = t4(be, 1, 2, 2, 2);
    tu_run(be, &(fm_call){.op = FM_OP_ATTENTION_FWD, .t = {out, att, qkv}, .i = {2}});
    expect_tensor(be, &att, (const float[]){0.25f, 0.75f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, 1e-6,
                  "att");
    expect_tensor(be, &out, (const float[]){7, 6, 6, 6}, 1e-5, "out");
}

Test(attention, forward_scale_d2)
{
    /* C = 2, 1 head, d = 2: S = (q0 k0 + q1 k1) / sqrt(2). q rows = [1, 0] and [1, 0],
     * k rows = [0, a] and [0, a] with a = ln 3 / sqrt 2: S[0] = [0, 2a / sqrt 2] = [0, ln 3]
     * -> att[0] = [0.25, 0.75]; S[1] = [0, 0] -> att[1] = [0.5, 0.5].
     * v rows = [4, 8] and [0, -4]: out ch 0 = [7, 6], ch 1 = [-3, -2]. */
    fm_backend *be = tu_ref();
    const float a = logf(3.0f) / sqrtf(2.0f);
    const float qkv_v[12] = {1, 0, 1, 0, 0, a, 0, a, 4, 8, 0, -4};
    fm_tensor qkv = with(be, t4(be, 1, 6, 1, 2), qkv_v);
    fm_tensor out = t4(be, 1, 2, 1, 2), att = t4(be, 1, 1, 2, 2);
    tu_run(be, &(fm_call){.op = FM_OP_ATTENTION_FWD, .t = {out, att, qkv}, .i = {1}});
    expect_tensor(be, &att, (const float[]){0.25f, 0.75f, 0.5f, 0.5f}, 1e-6, "att");
    expect_tensor(be, &out, (const float[]){7, 6, -3, -2}, 1e-5, "out");
}

static double attention_grad(int64_t N, int64_t C, int heads, int64_t H, int64_t W,
                             const char *label)
{
    fm_backend *be = tu_ref();
    int64_t L = H * W;
    fm_tensor qkv = t4(be, N, 3 * C, H, W), out = t4(be, N, C, H, W);
    fm_tensor att = t4(be, N, heads, L, L), ws = t1(be, fm_attention_ws_floats(L));
    fm_tensor dqkv = t4(be, N, 3 * C, H, W), dout = t4(be, N, C, H, W);
    tu_rand(be, &qkv, 71, -1.5f, 1.5f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_ATTENTION_FWD, .t = {out, att, qkv}, .i = {heads}},
        .bwd = {.op = FM_OP_ATTENTION_BWD, .t = {dqkv, ws, dout, qkv, att}, .i = {heads}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {2},
        .n_wrt = 1,
        .in_slot = {2},
        .grad_slot = {0},
    };
    return tu_gradcheck(be, &gc, label);
}

Test(attention, grad_2heads_3x3)
{
    double e = attention_grad(2, 4, 2, 3, 3, "attention N=2 C=4 heads=2 3x3");
    cr_expect_lt(e, GRAD_TOL);
}

Test(attention, grad_1head_d3_2x3)
{
    double e = attention_grad(1, 3, 1, 2, 3, "attention N=1 C=3 heads=1 2x3");
    cr_expect_lt(e, GRAD_TOL);
}

Test(attention, grad_3heads_d2_1x5)
{
    double e = attention_grad(1, 6, 3, 1, 5, "attention N=1 C=6 heads=3 1x5");
    cr_expect_lt(e, GRAD_TOL);
}

Test(attention, backward_convention)
{
    /* dqkv is written; ws may hold anything on entry. */
    fm_backend *be = tu_ref();
    fm_tensor qkv = t4(be, 2, 12, 3, 3), out = t4(be, 2, 4, 3, 3), att = t4(be, 2, 2, 9, 9);
    fm_tensor ws = t1(be, fm_attention_ws_floats(9));
    fm_tensor dqkv = t4(be, 2, 12, 3, 3), dout = t4(be, 2, 4, 3, 3);
    tu_rand(be, &qkv, 81, -1, 1);
    tu_rand(be, &dout, 82, -1, 1);
    tu_run(be, &(fm_call){.op = FM_OP_ATTENTION_FWD, .t = {out, att, qkv}, .i = {2}});
    fm_call c = {.op = FM_OP_ATTENTION_BWD, .t = {dqkv, ws, dout, qkv, att}, .i = {2}};
    check_convention(be, &c, NULL, 0, (const int[]){0, 1}, 2, "attention_bwd");
}

/* ---- xattn -------------------------------------------------------------------------- */

static fm_tensor t3r(fm_backend *be, int64_t b, int64_t t, int64_t d, uint32_t seed)
{
    fm_tensor x = t3(be, b, t, d);
    tu_rand(be, &x, seed, -1.5f, 1.5f);
    return x;
}

Test(xattn, forward_hand_padding_mask)
{
    /* N = 1, C = 1, 1 head (d = 1), Lq = 1, Lk = 3: q = [1], k = [0, ln 3, 5],
     * v = [4, 8, 100], bias = [0, 0, -inf]: S = [0, ln 3, -inf] -> att = [0.25, 0.75, 0]
     * (the third exactly 0: its v = 100 must not leak), out = 1 + 6 = 7. */
    fm_backend *be = tu_ref();
    fm_tensor q = with(be, t3(be, 1, 1, 1), (const float[]){1});
    fm_tensor k = with(be, t3(be, 1, 3, 1), (const float[]){0, logf(3.0f), 5});
    fm_tensor v = with(be, t3(be, 1, 3, 1), (const float[]){4, 8, 100});
    fm_tensor bias = with(be, t2(be, 1, 3), (const float[]){0, 0, -INFINITY});
    fm_tensor out = t3(be, 1, 1, 1), att = t4(be, 1, 1, 1, 3);
    tu_run(be, &(fm_call){.op = FM_OP_XATTN_FWD, .t = {out, att, q, k, v, bias}, .i = {1, 0}});
    expect_tensor(be, &att, (const float[]){0.25f, 0.75f, 0.0f}, 1e-6, "att");
    expect_tensor(be, &out, (const float[]){7}, 1e-5, "out");
    float *a = download(be, &att);
    cr_expect(a[2] == 0.0f && !signbit(a[2]), "masked weight %g, not exactly 0", (double)a[2]);
    free(a);
}

Test(xattn, forward_hand_causal)
{
    /* Self-attention, L = 2, d = 1, causal: q = [1, 1], k = [0, ln 3], v = [4, 8].
     * Row 0 keeps key 0 only: att = [1, 0], out = 4; row 1: S = [0, ln 3] -> [0.25, 0.75],
     * out = 7. att[0,1] is exactly 0. */
    fm_backend *be = tu_ref();
    fm_tensor q = with(be, t3(be, 1, 2, 1), (const float[]){1, 1});
    fm_tensor k = with(be, t3(be, 1, 2, 1), (const float[]){0, logf(3.0f)});
    fm_tensor v = with(be, t3(be, 1, 2, 1), (const float[]){4, 8});
    fm_tensor out = t3(be, 1, 2, 1), att = t4(be, 1, 1, 2, 2);
    tu_run(be, &(fm_call){.op = FM_OP_XATTN_FWD, .t = {out, att, q, k, v}, .i = {1, 1}});
    expect_tensor(be, &att, (const float[]){1, 0, 0.25f, 0.75f}, 1e-6, "att");
    expect_tensor(be, &out, (const float[]){4, 7}, 1e-5, "out");
    float *a = download(be, &att);
    cr_expect(a[1] == 0.0f && !signbit(a[1]), "masked weight %g, not exactly 0", (double)a[1]);
    free(a);
}

Test(xattn, forward_two_heads_token_major)
{
    /* C = 2, 2 heads (d = 1), Lq = 1, Lk = 2; rows are tokens, head h reads column h.
     * q row [1, 0]; k rows [0, 5], [ln 3, -5]; v rows [4, 2], [8, 10].
     * Head 0: S = [0, ln 3] -> [0.25, 0.75], out col 0 = 1 + 6 = 7.
     * Head 1: q = 0 -> [0.5, 0.5], out col 1 = 1 + 5 = 6. */
    fm_backend *be = tu_ref();
    fm_tensor q = with(be, t3(be, 1, 1, 2), (const float[]){1, 0});
    fm_tensor k = with(be, t3(be, 1, 2, 2), (const float[]){0, 5, logf(3.0f), -5});
    fm_tensor v = with(be, t3(be, 1, 2, 2), (const float[]){4, 2, 8, 10});
    fm_tensor out = t3(be, 1, 1, 2), att = t4(be, 1, 2, 1, 2);
    tu_run(be, &(fm_call){.op = FM_OP_XATTN_FWD, .t = {out, att, q, k, v}, .i = {2, 0}});
    expect_tensor(be, &att, (const float[]){0.25f, 0.75f, 0.5f, 0.5f}, 1e-6, "att");
    expect_tensor(be, &out, (const float[]){7, 6}, 1e-5, "out");
}

/* Causal self-attention whose bias masks key 0: query 0 keeps no key. */
static fm_call all_masked_call(fm_backend *be)
{
    fm_tensor q = t3r(be, 1, 2, 2, 31), k = t3r(be, 1, 2, 2, 32), v = t3r(be, 1, 2, 2, 33);
    fm_tensor bias = with(be, t2(be, 1, 2), (const float[]){-INFINITY, 0});
    fm_tensor out = t3(be, 1, 2, 2), att = t4(be, 1, 1, 2, 2);
    return (fm_call){.op = FM_OP_XATTN_FWD, .t = {out, att, q, k, v, bias}, .i = {1, 1}};
}

Test(xattn, all_masked_row_refused_by_ref)
{
    fm_backend *be = tu_ref();
    fm_call c = all_masked_call(be);
    cr_expect_eq(fm_run(be, &c), FM_ERR_ARG);
    cr_expect(strstr(be->err, "keeps no key") != NULL, "message: %s", be->err);
}

Test(xattn, all_masked_row_is_zero_on_cpu)
{
    /* Elsewhere such a row must not crash or spread NaN: the cpu backend writes 0s. */
    size_t bytes = 0;
    if (fm_backend_host_bytes("cpu", 1u << 20, 1, &bytes) != FM_OK)
        cr_skip_test("no cpu backend in this build");
    void *mem = aligned_alloc(64, (bytes + 63) / 64 * 64);
    fm_backend be;
    fm_backend_config cfg = {.name = "cpu", .mem = mem, .mem_bytes = bytes, .threads = 1};
    cr_assert_eq(fm_backend_open(&be, &cfg), FM_OK, "%s", be.err);
    fm_call c = all_masked_call(&be);
    cr_expect_eq(fm_run(&be, &c), FM_OK, "%s", be.err);
    float *a = download(&be, &c.t[1]), *o = download(&be, &c.t[0]);
    cr_expect(a[0] == 0.0f && a[1] == 0.0f, "row 0: %g %g", (double)a[0], (double)a[1]);
    cr_expect(o[0] == 0.0f && o[1] == 0.0f, "out row 0: %g %g", (double)o[0], (double)o[1]);
    cr_expect(a[2] == 0.0f && a[3] == 1.0f, "row 1 keeps key 1 only: %g %g", (double)a[2],
              (double)a[3]);
    free(a);
    free(o);
    fm_backend_close(&be);
    free(mem);
}

/* Gradient check of xattn with q[N,Lq,C], k and v [N,Lk,C], an optional bias (a row per
 * sample of Lk values, -inf masking), causal or not. bias and the forward's att are
 * inputs of no gradient: L moves with q, k, v only. */
static double xattn_grad(int64_t N, int64_t Lq, int64_t Lk, int64_t C, int heads, int causal,
                         const float *bias_v, const char *label)
{
    fm_backend *be = tu_ref();
    fm_tensor none = {0};
    fm_tensor q = t3r(be, N, Lq, C, 41), k = t3r(be, N, Lk, C, 42), v = t3r(be, N, Lk, C, 43);
    fm_tensor bias = bias_v ? with(be, t2(be, N, Lk), bias_v) : none;
    fm_tensor out = t3(be, N, Lq, C), att = t4(be, N, heads, Lq, Lk);
    fm_tensor dq = t3(be, N, Lq, C), dk = t3(be, N, Lk, C), dv = t3(be, N, Lk, C);
    fm_tensor ds = t4(be, N, heads, Lq, Lk), dout = t3(be, N, Lq, C);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_XATTN_FWD, .t = {out, att, q, k, v, bias}, .i = {heads, causal}},
        .bwd = {.op = FM_OP_XATTN_BWD,
                .t = {dq, dk, dv, ds, dout, q, k, v, att},
                .i = {heads, causal}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {4},
        .n_wrt = 3,
        .in_slot = {2, 3, 4},
        .grad_slot = {0, 1, 2},
    };
    return tu_gradcheck(be, &gc, label);
}

/* Padding masks of 2 samples x 5 keys: -inf drops a key, finite values shift scores. */
static const float xa_pad5[10] = {0, -INFINITY, 0.3f, -INFINITY, -0.7f,
                                  0, 0.5f,      0,    -INFINITY, 0};

Test(xattn, grad_cross_padding_2heads)
{
    double e = xattn_grad(2, 3, 5, 4, 2, 0, xa_pad5, "xattn cross 2x3<-5 C4 h2 +pad");
    cr_expect_lt(e, GRAD_TOL);
}

Test(xattn, grad_cross_no_bias_3heads)
{
    double e = xattn_grad(1, 4, 3, 6, 3, 0, NULL, "xattn cross 1x4<-3 C6 h3");
    cr_expect_lt(e, GRAD_TOL);
}

Test(xattn, grad_self_causal)
{
    double e = xattn_grad(2, 5, 5, 4, 2, 1, NULL, "xattn self 2x5 C4 h2 causal");
    cr_expect_lt(e, GRAD_TOL);
}

Test(xattn, grad_self_causal_padding)
{
    double e = xattn_grad(2, 5, 5, 3, 1, 1, xa_pad5, "xattn self 2x5 C3 h1 causal +pad");
    cr_expect_lt(e, GRAD_TOL);
}

Test(xattn, backward_convention)
{
    /* dq, dk, dv and ds are all written. */
    fm_backend *be = tu_ref();
    fm_tensor q = t3r(be, 2, 3, 4, 51), k = t3r(be, 2, 5, 4, 52), v = t3r(be, 2, 5, 4, 53);
    fm_tensor bias = with(be, t2(be, 2, 5), xa_pad5);
    fm_tensor out = t3(be, 2, 3, 4), att = t4(be, 2, 2, 3, 5), ds = t4(be, 2, 2, 3, 5);
    fm_tensor dq = t3(be, 2, 3, 4), dk = t3(be, 2, 5, 4), dv = t3(be, 2, 5, 4);
    fm_tensor dout = t3r(be, 2, 3, 4, 54);
    tu_run(be, &(fm_call){.op = FM_OP_XATTN_FWD, .t = {out, att, q, k, v, bias}, .i = {2, 0}});
    fm_call c = {.op = FM_OP_XATTN_BWD, .t = {dq, dk, dv, ds, dout, q, k, v, att}, .i = {2, 0}};
    check_convention(be, &c, NULL, 0, (const int[]){0, 1, 2, 3}, 4, "xattn_bwd");
}

Test(xattn, masked_keys_get_no_gradient)
{
    /* A masked key's weight is 0 in every row, so its dk and dv rows are exactly 0. */
    fm_backend *be = tu_ref();
    fm_tensor q = t3r(be, 2, 3, 4, 61), k = t3r(be, 2, 5, 4, 62), v = t3r(be, 2, 5, 4, 63);
    fm_tensor bias = with(be, t2(be, 2, 5), xa_pad5);
    fm_tensor out = t3(be, 2, 3, 4), att = t4(be, 2, 2, 3, 5), ds = t4(be, 2, 2, 3, 5);
    fm_tensor dq = t3(be, 2, 3, 4), dk = t3(be, 2, 5, 4), dv = t3(be, 2, 5, 4);
    fm_tensor dout = t3r(be, 2, 3, 4, 64);
    tu_run(be, &(fm_call){.op = FM_OP_XATTN_FWD, .t = {out, att, q, k, v, bias}, .i = {2, 0}});
    tu_run(be, &(fm_call){.op = FM_OP_XATTN_BWD,
                          .t = {dq, dk, dv, ds, dout, q, k, v, att},
                          .i = {2, 0}});
    float *gk = download(be, &dk), *gv = download(be, &dv);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t kk = 0; kk < 5; kk++)
            for (int64_t j = 0; j < 4 && xa_pad5[n * 5 + kk] == -INFINITY; j++) {
                int64_t e = (n * 5 + kk) * 4 + j;
                cr_expect(gk[e] == 0.0f && gv[e] == 0.0f, "masked key %lld of sample %lld: "
                          "dk %g dv %g", (long long)kk, (long long)n, (double)gk[e],
                          (double)gv[e]);
            }
    free(gk);
    free(gv);
}

Test(xattn, heads_not_dividing_width_refused)
{
    fm_backend *be = tu_ref();
    char msg[256];
    fm_tensor q = t3(be, 1, 2, 6), k = t3(be, 1, 3, 6), v = t3(be, 1, 3, 6);
    fm_tensor out = t3(be, 1, 2, 6), att = t4(be, 1, 4, 2, 3);
    fm_call c = {.op = FM_OP_XATTN_FWD, .t = {out, att, q, k, v}, .i = {4, 0}};
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "heads") != NULL, "message: %s", msg);
}

/* ---- timeemb ------------------------------------------------------------------------ */

Test(timeemb, forward_D4_t0_t05)
{
    /* D = 4: half = 2, f_0 = exp(0) = 1, f_1 = exp(-ln 10000 * 1/1) = 1e-4.
     * t = 0:   a = [0, 0]             -> out = [0, 0, 1, 1]
     * t = 0.5: a = [500, 0.05]        -> out = [sin 500, sin 0.05, cos 500, cos 0.05]
     *   500 = 79 * 2 pi + 3.62839 rad, sin = -0.4677718, cos = -0.8838493;
     *   sin 0.05 = 0.05 - 0.05^3/6 = 0.0499792, cos 0.05 = 1 - 0.05^2/2 = 0.9987503 */
    fm_backend *be = tu_ref();
    fm_tensor t = with(be, t1(be, 2), (const float[]){0, 0.5f});
    fm_tensor out = t2(be, 2, 4);
    tu_run(be, &(fm_call){.op = FM_OP_TIMEEMB_FWD, .t = {out, t}});
    const float want[8] = {0, 0, 1, 1, -0.46777181f, 0.04997917f, -0.88384927f, 0.99875026f};
    expect_tensor(be, &out, want, 1e-6, "timeemb D=4");
}

Test(timeemb, forward_D6_t025)
{
    /* D = 6: half = 3, f = exp(-ln 10000 * [0, 1, 2] / 2) = [1, 1e-2, 1e-4].
     * t = 0.25: a = 250 f = [250, 2.5, 0.025]
     *   sin = [-0.9705280, 0.5984721, 0.0249974], cos = [0.2409883, -0.8011436, 0.9996875] */
    fm_backend *be = tu_ref();
    fm_tensor t = with(be, t1(be, 1), (const float[]){0.25f});
    fm_tensor out = t2(be, 1, 6);
    tu_run(be, &(fm_call){.op = FM_OP_TIMEEMB_FWD, .t = {out, t}});
    const float want[6] = {-0.97052802f, 0.59847214f,  0.02499740f,
                           0.24098831f,  -0.80114362f, 0.99968752f};
    expect_tensor(be, &out, want, 1e-6, "timeemb D=6");
}

Test(timeemb, backward_hand_t0)
{
    /* At t = 0 every a_i = 0: dt = sum_i 1000 f_i (1 * dout_sin_i - 0 * dout_cos_i).
     * D = 4, dout = [1, 2, 3, 4]: dt = 1000 (1 * 1 + 1e-4 * 2) = 1000.2 */
    fm_backend *be = tu_ref();
    fm_tensor t = t1(be, 1), dt = t1(be, 1);
    fm_tensor dout = with(be, t2(be, 1, 4), (const float[]){1, 2, 3, 4});
    tu_run(be, &(fm_call){.op = FM_OP_TIMEEMB_BWD, .t = {dt, dout, t}});
    expect_tensor(be, &dt, (const float[]){1000.2f}, 1e-4, "dt");
}

Test(timeemb, grad_D8_batch3)
{
    /* a_0 = 1000 t, so a step h in t moves the angle by 1000 h: h = 2e-5 keeps the
     * truncation error (1000 h)^2 / 6 ~ 7e-5 while the float rounding of L (~1e-6) over
     * 2h stays ~1e-5 of a gradient of size ~1000. */
    fm_backend *be = tu_ref();
    fm_tensor t = t1(be, 3), out = t2(be, 3, 8), dt = t1(be, 3), dout = t2(be, 3, 8);
    tu_rand(be, &t, 91, 0, 1);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_TIMEEMB_FWD, .t = {out, t}},
        .bwd = {.op = FM_OP_TIMEEMB_BWD, .t = {dt, dout, t}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {1},
        .n_wrt = 1,
        .in_slot = {1},
        .grad_slot = {0},
        .h = 2e-5,
    };
    double e = tu_gradcheck(be, &gc, "timeemb D=8 batch 3");
    cr_expect_lt(e, TIMEEMB_TOL);
}

Test(timeemb, backward_convention)
{
    fm_backend *be = tu_ref();
    fm_tensor t = t1(be, 4), dt = t1(be, 4), dout = t2(be, 4, 10);
    tu_rand(be, &t, 92, 0, 1);
    tu_rand(be, &dout, 93, -1, 1);
    fm_call c = {.op = FM_OP_TIMEEMB_BWD, .t = {dt, dout, t}};
    check_convention(be, &c, NULL, 0, (const int[]){0}, 1, "timeemb_bwd");
}

/* ---- embed -------------------------------------------------------------------------- */

Test(embed, forward_lookup)
{
    /* table rows [1, 2], [3, 4], [5, 6]; idx = [2, 0, 2] -> [5, 6], [1, 2], [5, 6] */
    fm_backend *be = tu_ref();
    fm_tensor table = with(be, t2(be, 3, 2), (const float[]){1, 2, 3, 4, 5, 6});
    fm_tensor idx = tu_tensor(be, FM_I32, 1, 3, 1, 1, 1);
    tu_set_i32(be, &idx, (const int32_t[]){2, 0, 2});
    fm_tensor out = t2(be, 3, 2);
    tu_run(be, &(fm_call){.op = FM_OP_EMBED_FWD, .t = {out, table, idx}});
    expect_tensor(be, &out, (const float[]){5, 6, 1, 2, 5, 6}, 0, "embed");
}

Test(embed, backward_repeated_indices)
{
    /* idx = [2, 0, 2], dout rows [1, 2], [10, 20], [100, 200]; dtable starts at
     * [0.5, 0.5], [1, 1], [0, 0] (+= keeps it):
     *   row 0 += [10, 20]            -> [10.5, 20.5]
     *   row 1 untouched              -> [1, 1]
     *   row 2 += [1 + 100, 2 + 200]  -> [101, 202] */
    fm_backend *be = tu_ref();
    fm_tensor dtable = with(be, t2(be, 3, 2), (const float[]){0.5f, 0.5f, 1, 1, 0, 0});
    fm_tensor dout = with(be, t2(be, 3, 2), (const float[]){1, 2, 10, 20, 100, 200});
    fm_tensor idx = tu_tensor(be, FM_I32, 1, 3, 1, 1, 1);
    tu_set_i32(be, &idx, (const int32_t[]){2, 0, 2});
    tu_run(be, &(fm_call){.op = FM_OP_EMBED_BWD, .t = {dtable, dout, idx}});
    expect_tensor(be, &dtable, (const float[]){10.5f, 20.5f, 1, 1, 101, 202}, 0, "dtable");
}

Test(embed, grad_repeated_indices)
{
    fm_backend *be = tu_ref();
    fm_tensor table = t2(be, 5, 3), out = t2(be, 7, 3), dtable = t2(be, 5, 3), dout = t2(be, 7, 3);
    fm_tensor idx = tu_tensor(be, FM_I32, 1, 7, 1, 1, 1);
    tu_set_i32(be, &idx, (const int32_t[]){4, 1, 1, 0, 4, 1, 2}); /* row 3 unused */
    tu_rand(be, &table, 101, -1, 1);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_EMBED_FWD, .t = {out, table, idx}},
        .bwd = {.op = FM_OP_EMBED_BWD, .t = {dtable, dout, idx}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {1},
        .n_wrt = 1,
        .in_slot = {1},
        .grad_slot = {0},
    };
    double e = tu_gradcheck(be, &gc, "embed R=5 D=3 N=7 repeated");
    cr_expect_lt(e, GRAD_TOL);
}

Test(embed, backward_convention)
{
    fm_backend *be = tu_ref();
    fm_tensor dtable = t2(be, 4, 5), dout = t2(be, 6, 5);
    fm_tensor idx = tu_tensor(be, FM_I32, 1, 6, 1, 1, 1);
    tu_set_i32(be, &idx, (const int32_t[]){3, 3, 0, 1, 3, 0});
    tu_rand(be, &dout, 111, -1, 1);
    fm_call c = {.op = FM_OP_EMBED_BWD, .t = {dtable, dout, idx}};
    check_convention(be, &c, (const int[]){0}, 1, NULL, 0, "embed_bwd");
}

Test(embed, out_of_range_index_is_refused)
{
    fm_backend *be = tu_ref();
    fm_tensor out = tu_tensor(be, FM_F32, 2, 2, 3, 1, 1);
    fm_tensor table = tu_tensor(be, FM_F32, 2, 4, 3, 1, 1);
    fm_tensor idx = tu_tensor(be, FM_I32, 1, 2, 1, 1, 1);
    const int32_t bad[2] = {1, 4};
    tu_set_i32(be, &idx, bad);
    fm_call c = {.op = FM_OP_EMBED_FWD, .t = {out, table, idx}};
    cr_expect_eq(fm_run(be, &c), FM_ERR_ARG);
    cr_expect(strstr(be->err, "index 4") != NULL, "%s", be->err);
    fm_call b = {.op = FM_OP_EMBED_BWD, .t = {table, out, idx}};
    cr_expect_eq(fm_run(be, &b), FM_ERR_ARG);
}

/* ---- softmax cross-entropy ---------------------------------------------------------- */

/* N = 2, K = 3. Row 0 = [0, 0, 0], label 1: probs 1/3 each, lse = ln 3, term ln 3.
 * Row 1 = [1000, 1000, -1000], label 2: exp(1000) overflows float (and double), so
 * only the max-subtracted form works: probs [1/2, 1/2, e^-2000 = 0], lse = 1000 + ln 2,
 * term = lse - (-1000) = 2000 + ln 2 (log(probs) would be -inf).
 * loss = (ln 3 + 2000 + ln 2) / 2 = 1000 + ln(6) / 2 = 1000.89587973...
 * Backward with dloss = 2: scale = 2 / N = 1, dlogits = probs - onehot:
 * row 0 [1/3, -2/3, 1/3], row 1 [1/2, 1/2, -1]. */
Test(softmax_xent, forward_backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor logits = with(be, t2(be, 2, 3), (const float[]){0, 0, 0, 1000, 1000, -1000});
    fm_tensor labels = tu_tensor(be, FM_I32, 1, 2, 1, 1, 1);
    tu_set_i32(be, &labels, (const int32_t[]){1, 2});
    fm_tensor loss = t1(be, 1), probs = t2(be, 2, 3), dlogits = t2(be, 2, 3);
    tu_run(be, &(fm_call){.op = FM_OP_SOFTMAX_XENT_FWD, .t = {loss, probs, logits, labels}});
    const float third = 1.0f / 3.0f;
    expect_tensor(be, &probs, (const float[]){third, third, third, 0.5f, 0.5f, 0}, 1e-7, "probs");
    expect_tensor(be, &loss, (const float[]){(float)(1000.0 + log(6.0) / 2.0)}, 0, "loss");

    tu_run(be,
           &(fm_call){.op = FM_OP_SOFTMAX_XENT_BWD, .t = {dlogits, probs, labels}, .f = {2.0f}});
    expect_tensor(be, &dlogits, (const float[]){third, -2 * third, third, 0.5f, 0.5f, -1}, 1e-7,
                  "dlogits");
}

Test(softmax_xent, out_of_range_label_is_refused)
{
    fm_backend *be = tu_ref();
    fm_tensor logits = t2(be, 2, 3), probs = t2(be, 2, 3), loss = t1(be, 1);
    fm_tensor labels = tu_tensor(be, FM_I32, 1, 2, 1, 1, 1);
    tu_set_i32(be, &labels, (const int32_t[]){1, 3});
    fm_call f = {.op = FM_OP_SOFTMAX_XENT_FWD, .t = {loss, probs, logits, labels}};
    cr_expect_eq(fm_run(be, &f), FM_ERR_ARG);
    cr_expect(strstr(be->err, "label 3 at row 1 outside 0..2") != NULL, "%s", be->err);
    tu_set_i32(be, &labels, (const int32_t[]){-1, 0});
    fm_call b = {.op = FM_OP_SOFTMAX_XENT_BWD, .t = {logits, probs, labels}, .f = {1.0f}};
    cr_expect_eq(fm_run(be, &b), FM_ERR_ARG);
    cr_expect(strstr(be->err, "label -1 at row 0") != NULL, "%s", be->err);
}

/* One class makes the loss identically zero: the shape rule refuses K < 2. */
Test(softmax_xent, one_class_is_refused)
{
    fm_backend *be = tu_ref();
    fm_tensor logits = t2(be, 2, 1), probs = t2(be, 2, 1), loss = t1(be, 1);
    fm_tensor labels = tu_tensor(be, FM_I32, 1, 2, 1, 1, 1);
    fm_call f = {.op = FM_OP_SOFTMAX_XENT_FWD, .t = {loss, probs, logits, labels}};
    cr_expect_eq(fm_run(be, &f), FM_ERR_ARG);
    cr_expect(strstr(be->err, "at least 2") != NULL, "%s", be->err);
}

/* Central differences of the loss over logits against SOFTMAX_XENT_BWD fed the
 * forward's probs. dloss is a scalar (f0), not a dout tensor, so tu_gradcheck does
 * not apply; the same check by hand, as mse's. The loss is rounded to float once
 * (~6e-8 relative, |loss| ~ 2), so with h = 1e-2 each numerical gradient carries
 * ~1e-7 / 2h = 5e-6 of noise against gradients of ~dloss p / N ~ 0.05: ~1e-4
 * relative at worst (the checks print 2e-5 and 5e-5: the noise is random across
 * elements); the h^2 truncation term adds ~1e-5. XENT_GRAD_TOL = 1e-3 keeps a 20x
 * margin and is far below the O(1) error of a wrong sign, label or 1/N. */
#define XENT_GRAD_TOL 1e-3

static double loss_at(fm_backend *be, const fm_call *fwd)
{
    float l;
    tu_run(be, fwd);
    tu_get(be, &fwd->t[0], &l);
    return (double)l;
}

static double xent_grad(int64_t N, int64_t K, float lo, float hi, const int32_t *lab,
                        const char *label)
{
    fm_backend *be = tu_ref();
    fm_tensor logits = t2(be, N, K), probs = t2(be, N, K), dlogits = t2(be, N, K), loss = t1(be, 1);
    fm_tensor labels = tu_tensor(be, FM_I32, 1, N, 1, 1, 1);
    const float dloss = 0.7f, h = 1e-2f;
    tu_set_i32(be, &labels, lab);
    tu_rand(be, &logits, 171, lo, hi);
    fm_call fwd = {.op = FM_OP_SOFTMAX_XENT_FWD, .t = {loss, probs, logits, labels}};
    loss_at(be, &fwd);
    tu_run(be,
           &(fm_call){.op = FM_OP_SOFTMAX_XENT_BWD, .t = {dlogits, probs, labels}, .f = {dloss}});
    float *x = download(be, &logits), *g = download(be, &dlogits);
    double num2 = 0.0, err2 = 0.0;
    for (int64_t i = 0; i < N * K; i++) {
        float x0 = x[i], xp = x0 + h, xm = x0 - h;
        x[i] = xp;
        tu_set(be, &logits, x);
        double lp = loss_at(be, &fwd);
        x[i] = xm;
        tu_set(be, &logits, x);
        double lm = loss_at(be, &fwd);
        x[i] = x0;
        tu_set(be, &logits, x);
        double gnum = (double)dloss * (lp - lm) / ((double)xp - (double)xm);
        num2 += gnum * gnum;
        err2 += ((double)g[i] - gnum) * ((double)g[i] - gnum);
    }
    free(x);
    free(g);
    double rel = sqrt(err2) / fmax(sqrt(num2), 1e-12);
    printf("gradcheck %s: rel %.3e\n", label, rel);
    return rel;
}

Test(softmax_xent, grad_3x5)
{
    cr_expect_lt(xent_grad(3, 5, -3.0f, 3.0f, (const int32_t[]){4, 0, 2}, "xent N=3 K=5"),
                 XENT_GRAD_TOL);
}

/* Logits near 100: e^100 overflows float (max ~e^88.7), so only the max-subtracted
 * form gives finite probs; the loss is shift-invariant per row, so its gradient must
 * match as well as near 0. */
Test(softmax_xent, grad_5x7_offset)
{
    cr_expect_lt(
        xent_grad(5, 7, 97.0f, 103.0f, (const int32_t[]){6, 1, 1, 0, 3}, "xent N=5 K=7 offset 100"),
        XENT_GRAD_TOL);
}

/* ---- layernorm (+ adaLN modulation) ------------------------------------------------- */

Test(layernorm, forward_hand_modulated)
{
    /* One row x = [1, 2, 3, 4]: mean 2.5, var (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25,
     * rstd = 1/sqrt(1.25 + 1e-6) = 0.8944268, xhat = [-1.5, -0.5, 0.5, 1.5] rstd.
     * scale = [1, 0, -1, 0.5], shift = [0, 1, 2, 3]: out = xhat (1 + scale) + shift
     *   = [-3 rstd, 1 - 0.5 rstd, 2, 3 + 2.25 rstd] = [-2.6832805, 0.5527866, 2, 5.0124604].
     * Row 2 (same sample) is row 1 + 10: same xhat, so the same out. */
    fm_backend *be = tu_ref();
    fm_tensor in = with(be, t3(be, 1, 2, 4),
                        (const float[]){1, 2, 3, 4, 11, 12, 13, 14});
    fm_tensor sh = with(be, t2(be, 1, 4), (const float[]){0, 1, 2, 3});
    fm_tensor sc = with(be, t2(be, 1, 4), (const float[]){1, 0, -1, 0.5f});
    fm_tensor out = t3(be, 1, 2, 4), mean = t2(be, 1, 2), rstd = t2(be, 1, 2);
    tu_run(be, &(fm_call){.op = FM_OP_LAYERNORM_FWD, .t = {out, mean, rstd, in, sh, sc},
                          .f = {1e-6f}});
    const float row[4] = {-2.6832805f, 0.5527866f, 2.0f, 5.0124604f};
    float want[8];
    memcpy(want, row, sizeof row);
    memcpy(want + 4, row, sizeof row);
    expect_tensor(be, &out, want, 1e-5, "layernorm out");
    expect_tensor(be, &mean, (const float[]){2.5f, 12.5f}, 1e-6, "mean");
    expect_tensor(be, &rstd, (const float[]){0.8944268f, 0.8944268f}, 1e-6, "rstd");
}

/* Gradient check of layernorm on x[B,T,D], with (mod) or without the modulation. */
static double layernorm_grad(int64_t B, int64_t T, int64_t D, int mod, const char *label)
{
    fm_backend *be = tu_ref();
    fm_tensor none = {0};
    fm_tensor in = t3(be, B, T, D), out = t3(be, B, T, D);
    fm_tensor din = t3(be, B, T, D), dout = t3(be, B, T, D);
    fm_tensor mean = t2(be, B, T), rstd = t2(be, B, T);
    fm_tensor sh = mod ? t2(be, B, D) : none, sc = mod ? t2(be, B, D) : none;
    fm_tensor dsh = mod ? t2(be, B, D) : none, dsc = mod ? t2(be, B, D) : none;
    tu_rand(be, &in, 91, -2, 2);
    if (mod) {
        tu_rand(be, &sh, 92, -0.5f, 0.5f);
        tu_rand(be, &sc, 93, -0.5f, 0.5f);
    }
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_LAYERNORM_FWD, .t = {out, mean, rstd, in, sh, sc}, .f = {1e-6f}},
        .bwd = {.op = FM_OP_LAYERNORM_BWD, .t = {din, dsh, dsc, dout, in, mean, rstd, sc}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {3},
        .n_wrt = mod ? 3 : 1,
        .in_slot = {3, 4, 5},
        .grad_slot = {0, 1, 2},
    };
    return tu_gradcheck(be, &gc, label);
}

Test(layernorm, grad_modulated_2x3x5)
{
    double e = layernorm_grad(2, 3, 5, 1, "layernorm 2x3x5 +shift+scale");
    cr_expect_lt(e, GRAD_TOL);
}

Test(layernorm, grad_plain_3x4x7)
{
    double e = layernorm_grad(3, 4, 7, 0, "layernorm 3x4x7");
    cr_expect_lt(e, GRAD_TOL);
}

Test(layernorm, backward_convention)
{
    /* din, dshift, dscale are all written. */
    fm_backend *be = tu_ref();
    fm_tensor in = t3(be, 2, 3, 5), out = t3(be, 2, 3, 5);
    fm_tensor din = t3(be, 2, 3, 5), dout = t3(be, 2, 3, 5);
    fm_tensor mean = t2(be, 2, 3), rstd = t2(be, 2, 3), sh = t2(be, 2, 5), sc = t2(be, 2, 5);
    fm_tensor dsh = t2(be, 2, 5), dsc = t2(be, 2, 5);
    tu_rand(be, &in, 94, -1, 1);
    tu_rand(be, &sc, 95, -0.5f, 0.5f);
    tu_rand(be, &dout, 96, -1, 1);
    tu_run(be, &(fm_call){.op = FM_OP_LAYERNORM_FWD, .t = {out, mean, rstd, in, sh, sc},
                          .f = {1e-6f}});
    fm_call c = {.op = FM_OP_LAYERNORM_BWD, .t = {din, dsh, dsc, dout, in, mean, rstd, sc}};
    check_convention(be, &c, NULL, 0, (const int[]){0, 1, 2}, 3, "layernorm_bwd");
}

Test(layernorm, forward_hand_affine)
{
    /* The row of forward_hand_modulated, x = [1, 2, 3, 4], xhat = [-1.5, -0.5, 0.5, 1.5]
     * rstd (rstd = 0.8944268), in the affine form: out = xhat gamma + beta with
     * gamma = [1, 0, -1, 0.5], beta = [0, 1, 2, 3]
     *   = [-1.5 rstd, 1, 2 - 0.5 rstd, 3 + 0.75 rstd] = [-1.3416402, 1, 1.5527866, 3.6708201].
     * Without gamma (absent = 1): out = xhat + beta = [-1.3416402, 0.5527866, 2.4472134,
     * 4.3416402]. */
    fm_backend *be = tu_ref();
    fm_tensor none = {0};
    fm_tensor in = with(be, t3(be, 1, 1, 4), (const float[]){1, 2, 3, 4});
    fm_tensor beta = with(be, t2(be, 1, 4), (const float[]){0, 1, 2, 3});
    fm_tensor gamma = with(be, t2(be, 1, 4), (const float[]){1, 0, -1, 0.5f});
    fm_tensor out = t3(be, 1, 1, 4), mean = t2(be, 1, 1), rstd = t2(be, 1, 1);
    tu_run(be, &(fm_call){.op = FM_OP_LAYERNORM_FWD, .t = {out, mean, rstd, in, beta, gamma},
                          .i = {FM_LN_AFFINE}, .f = {1e-6f}});
    expect_tensor(be, &out, (const float[]){-1.3416402f, 1.0f, 1.5527866f, 3.6708201f}, 1e-5,
                  "affine out");
    tu_run(be, &(fm_call){.op = FM_OP_LAYERNORM_FWD, .t = {out, mean, rstd, in, beta, none},
                          .i = {FM_LN_AFFINE}, .f = {1e-6f}});
    expect_tensor(be, &out, (const float[]){-1.3416402f, 0.5527866f, 2.4472134f, 4.3416402f}, 1e-5,
                  "affine out, no gamma");
}

/* Gradient check of the affine form on the [1, R, D] view: gamma, beta [1, D]. */
static double layernorm_affine_grad(int64_t R, int64_t D, const char *label)
{
    fm_backend *be = tu_ref();
    fm_tensor in = t3(be, 1, R, D), out = t3(be, 1, R, D);
    fm_tensor din = t3(be, 1, R, D), dout = t3(be, 1, R, D);
    fm_tensor mean = t2(be, 1, R), rstd = t2(be, 1, R);
    fm_tensor beta = t2(be, 1, D), gamma = t2(be, 1, D), dbeta = t2(be, 1, D), dgamma = t2(be, 1, D);
    tu_rand(be, &in, 97, -2, 2);
    tu_rand(be, &beta, 98, -0.5f, 0.5f);
    tu_rand(be, &gamma, 99, 0.5f, 1.5f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_LAYERNORM_FWD,
                .t = {out, mean, rstd, in, beta, gamma},
                .i = {FM_LN_AFFINE},
                .f = {1e-5f}},
        .bwd = {.op = FM_OP_LAYERNORM_BWD,
                .t = {din, dbeta, dgamma, dout, in, mean, rstd, gamma},
                .i = {FM_LN_AFFINE}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {3},
        .n_wrt = 3,
        .in_slot = {3, 4, 5},
        .grad_slot = {0, 1, 2},
    };
    return tu_gradcheck(be, &gc, label);
}

Test(layernorm, grad_affine_1x6x5)
{
    double e = layernorm_affine_grad(6, 5, "layernorm affine 1x6x5");
    cr_expect_lt(e, GRAD_TOL);
}

Test(layernorm, grad_affine_1x11x8)
{
    double e = layernorm_affine_grad(11, 8, "layernorm affine 1x11x8");
    cr_expect_lt(e, GRAD_TOL);
}

Test(layernorm, unknown_form_refused)
{
    fm_backend *be = tu_ref();
    char msg[256];
    fm_tensor in = t3(be, 1, 3, 5), out = t3(be, 1, 3, 5);
    fm_tensor mean = t2(be, 1, 3), rstd = t2(be, 1, 3);
    fm_call c = {.op = FM_OP_LAYERNORM_FWD, .t = {out, mean, rstd, in}, .i = {2}, .f = {1e-6f}};
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "form") != NULL, "message: %s", msg);
}

Test(layernorm, shift_of_the_wrong_batch_refused)
{
    fm_backend *be = tu_ref();
    char msg[256];
    fm_tensor in = t3(be, 2, 3, 5), out = t3(be, 2, 3, 5);
    fm_tensor mean = t2(be, 2, 3), rstd = t2(be, 2, 3), sh = t2(be, 3, 5);
    fm_call c = {.op = FM_OP_LAYERNORM_FWD, .t = {out, mean, rstd, in, sh}, .f = {1e-6f}};
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "shift") != NULL, "message: %s", msg);
}

/* ---- gated_add ---------------------------------------------------------------------- */

Test(gated_add, forward_hand_in_place)
{
    /* B = 2, T = 2, D = 2: out[b,t,j] = x + g[b,j] h, written over x.
     *   x = 1..8, h = 10 everywhere, g = [[1, 0], [-1, 0.5]]:
     *   sample 0: [1 + 10, 2, 3 + 10, 4] = [11, 2, 13, 4]
     *   sample 1: [5 - 10, 6 + 5, 7 - 10, 8 + 5] = [-5, 11, -3, 13] */
    fm_backend *be = tu_ref();
    fm_tensor x = with(be, t3(be, 2, 2, 2), (const float[]){1, 2, 3, 4, 5, 6, 7, 8});
    fm_tensor h = with(be, t3(be, 2, 2, 2),
                       (const float[]){10, 10, 10, 10, 10, 10, 10, 10});
    fm_tensor g = with(be, t2(be, 2, 2), (const float[]){1, 0, -1, 0.5f});
    tu_run(be, &(fm_call){.op = FM_OP_GATED_ADD_FWD, .t = {x, x, g, h}});
    expect_tensor(be, &x, (const float[]){11, 2, 13, 4, -5, 11, -3, 13}, 0, "gated_add");
}

Test(gated_add, grad_3x5x7)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t3(be, 3, 5, 7), h = t3(be, 3, 5, 7);
    fm_tensor out = t3(be, 3, 5, 7), g = t2(be, 3, 7);
    fm_tensor dh = t3(be, 3, 5, 7), dg = t2(be, 3, 7);
    fm_tensor dout = t3(be, 3, 5, 7);
    tu_rand(be, &x, 101, -1, 1);
    tu_rand(be, &h, 102, -1, 1);
    tu_rand(be, &g, 103, -1, 1);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_GATED_ADD_FWD, .t = {out, x, g, h}},
        .bwd = {.op = FM_OP_GATED_ADD_BWD, .t = {dh, dg, dout, g, h}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {2},
        .n_wrt = 2,
        .in_slot = {2, 3},
        .grad_slot = {1, 0},
    };
    cr_expect_lt(tu_gradcheck(be, &gc, "gated_add 3x5x7"), GRAD_TOL);
    check_convention(be, &gc.bwd, NULL, 0, (const int[]){0, 1}, 2, "gated_add_bwd");
}

/* ---- transpose ---------------------------------------------------------------------- */

Test(transpose, forward_hand)
{
    /* B = 2 of [2,3] -> [3,2]: [[1,2,3],[4,5,6]] -> [[1,4],[2,5],[3,6]], then +10. */
    fm_backend *be = tu_ref();
    fm_tensor in = with(be, t3(be, 2, 2, 3),
                        (const float[]){1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16});
    fm_tensor out = t3(be, 2, 3, 2);
    tu_run(be, &(fm_call){.op = FM_OP_TRANSPOSE, .t = {out, in}});
    expect_tensor(be, &out, (const float[]){1, 4, 2, 5, 3, 6, 11, 14, 12, 15, 13, 16}, 0,
                  "transpose");
}

Test(transpose, grad_is_itself_3x5x7)
{
    fm_backend *be = tu_ref();
    fm_tensor in = t3(be, 3, 5, 7), out = t3(be, 3, 7, 5);
    fm_tensor din = t3(be, 3, 5, 7), dout = t3(be, 3, 7, 5);
    tu_rand(be, &in, 111, -1, 1);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_TRANSPOSE, .t = {out, in}},
        .bwd = {.op = FM_OP_TRANSPOSE, .t = {din, dout}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {1},
        .n_wrt = 1,
        .in_slot = {1},
        .grad_slot = {0},
    };
    cr_expect_lt(tu_gradcheck(be, &gc, "transpose 3x5x7"), GRAD_TOL);
}

/* ---- unpatchify --------------------------------------------------------------------- */

Test(unpatchify, forward_hand_two_tokens)
{
    /* C = 1, p = 2, image 2x4: gw = 2, tokens t = 0 (columns 0-1), 1 (columns 2-3);
     * token t holds (pi*2 + pj): in = 0..7 gives
     *   row 0: [t0 (0,0), t0 (0,1), t1 (0,0), t1 (0,1)] = [0, 1, 4, 5]
     *   row 1: [t0 (1,0), t0 (1,1), t1 (1,0), t1 (1,1)] = [2, 3, 6, 7] */
    fm_backend *be = tu_ref();
    fm_tensor in = with(be, t3(be, 1, 2, 4), (const float[]){0, 1, 2, 3, 4, 5, 6, 7});
    fm_tensor out = t4(be, 1, 1, 2, 4);
    tu_run(be, &(fm_call){.op = FM_OP_UNPATCHIFY_FWD, .t = {out, in}, .i = {2}});
    expect_tensor(be, &out, (const float[]){0, 1, 4, 5, 2, 3, 6, 7}, 0, "unpatchify C1");
}

Test(unpatchify, forward_hand_channels_last)
{
    /* C = 2, p = 2, one token of 8 = (pi*2 + pj)*2 + c: in = 0..7 gives
     *   channel 0: [0, 2; 4, 6], channel 1: [1, 3; 5, 7] */
    fm_backend *be = tu_ref();
    fm_tensor in = with(be, t3(be, 1, 1, 8), (const float[]){0, 1, 2, 3, 4, 5, 6, 7});
    fm_tensor out = t4(be, 1, 2, 2, 2);
    tu_run(be, &(fm_call){.op = FM_OP_UNPATCHIFY_FWD, .t = {out, in}, .i = {2}});
    expect_tensor(be, &out, (const float[]){0, 2, 4, 6, 1, 3, 5, 7}, 0, "unpatchify C2");
}

Test(unpatchify, grad_3_C3_6x9_p3)
{
    fm_backend *be = tu_ref();
    fm_tensor in = t3(be, 3, 6, 27), out = t4(be, 3, 3, 6, 9);
    fm_tensor din = t3(be, 3, 6, 27), dout = t4(be, 3, 3, 6, 9);
    tu_rand(be, &in, 121, -1, 1);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_UNPATCHIFY_FWD, .t = {out, in}, .i = {3}},
        .bwd = {.op = FM_OP_UNPATCHIFY_BWD, .t = {din, dout}, .i = {3}},
        .n_out = 1,
        .out_slot = {0},
        .dout_slot = {1},
        .n_wrt = 1,
        .in_slot = {1},
        .grad_slot = {0},
    };
    cr_expect_lt(tu_gradcheck(be, &gc, "unpatchify 3 C3 6x9 p3"), GRAD_TOL);
}

Test(unpatchify, patch_not_dividing_refused)
{
    fm_backend *be = tu_ref();
    char msg[256];
    fm_tensor in = t3(be, 1, 4, 9), out = t4(be, 1, 1, 7, 7);
    fm_call c = {.op = FM_OP_UNPATCHIFY_FWD, .t = {out, in}, .i = {3}};
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "patch") != NULL, "message: %s", msg);
}
