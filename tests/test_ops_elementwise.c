/* Reference kernels of the elementwise, reshaping, loss, optimiser and RNG ops:
 * silu, gelu (both forms), bias_add, add, upsample2x, concat, mse, fm_interp, axpby,
 * sum, reparam, adamw, ema, quantize_u8, rng.
 *
 * Each op gets (1) small forward cases whose expected values are worked out by hand
 * in the comments (including in-place calls where ops.h allows aliasing) and
 * (2) for ops with a backward, a gradient check against central differences on
 * odd-sized random inputs (batch 3, 3 channels, 7x7 images).
 *
 * Gradient-check tolerances. tu_gradcheck reports ||g - g_num|| / ||g_num||. Every
 * op here except SiLU is linear or quadratic in its inputs, so the central
 * difference has no truncation error at all; what remains is the float rounding
 * of the forward outputs, about 6e-8 |out| / (2h) = 3e-6 |out| per element with
 * h = 1e-2, i.e. ~1e-5 relative. SiLU adds the truncation term h^2/6 f''' ~ 2e-5,
 * GELU one of the same order.
 * A wrong index or a missing factor shows up as an error of order 1, so the
 * tolerance is set at 1e-3: well above the noise (measured worst: 2.4e-5, sum; the
 * values are printed on every run) and still far below any real bug. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define GRAD_TOL 1e-3

static fm_tensor t4(fm_backend *be, int64_t n, int64_t c, int64_t h, int64_t w)
{
    return tu_tensor(be, FM_F32, 4, n, c, h, w);
}

static fm_tensor t1(fm_backend *be, int64_t n) { return tu_tensor(be, FM_F32, 1, n, 1, 1, 1); }

/* An absent optional argument. */
static const fm_tensor NONE = {0};

static void check_grad(fm_backend *be, tu_grad_case *gc, const char *label)
{
    double e = tu_gradcheck(be, gc, label);
    cr_assert(e < GRAD_TOL, "%s: gradcheck relative error %g >= %g", label, e, GRAD_TOL);
}

/* ------------------------------------------------------------------ silu */

/* silu(x) = x / (1 + e^-x); silu'(x) = s (1 + x (1 - s)), s = sigmoid(x):
 *   x = 0:    0,                  0.5 (1 + 0)                       = 0.5
 *   x = 1:    1/(1 + 1/e)       = 0.7310586, 0.7310586 * 1.2689414 = 0.9276705
 *   x = -1:   -1/(1 + e)        = -0.2689414, 0.2689414 * 0.2689414 = 0.0723295
 *   x = 2:    2 * 0.8807971     = 1.7615942, 0.8807971 * 1.2384058 = 1.0907842
 *   x = -3:   -3 * 0.0474259    = -0.1422776, 0.0474259 * (1 - 3*0.9525741) = -0.0881041
 *   x = 100:  100 (s rounds to 1 in float),   1
 *   x = -100: e^100 overflows float to inf, so s = 0 and silu = -100/inf = -0;
 *             the derivative is 0 too (true values ~ -3.7e-42, below float). */
static const float silu_x[7] = {0.0f, 1.0f, -1.0f, 2.0f, -3.0f, 100.0f, -100.0f};
static const float silu_y[7] = {0.0f, 0.7310586f, -0.2689414f, 1.7615942f, -0.1422776f, 100.0f,
                                0.0f};
static const float silu_d[7] = {0.5f, 0.9276705f, 0.0723295f, 1.0907842f, -0.0881041f, 1.0f,
                                0.0f};

Test(silu, forward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t1(be, 7), y = t1(be, 7);
    tu_set(be, &x, silu_x);
    tu_run(be, &(fm_call){.op = FM_OP_SILU_FWD, .t = {y, x}});
    float got[7];
    tu_get(be, &y, got);
    tu_expect_close(got, silu_y, 7, 1e-6, 1e-6, "silu fwd");
}

Test(silu, forward_in_place)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t1(be, 7);
    tu_set(be, &x, silu_x);
    tu_run(be, &(fm_call){.op = FM_OP_SILU_FWD, .t = {x, x}});
    float got[7];
    tu_get(be, &x, got);
    tu_expect_close(got, silu_y, 7, 1e-6, 1e-6, "silu fwd in place");
}

/* With dout = 2 everywhere the gradient is twice the derivatives above. */
Test(silu, backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t1(be, 7), dy = t1(be, 7), dx = t1(be, 7);
    float two[7] = {2, 2, 2, 2, 2, 2, 2}, want[7], got[7];
    for (int i = 0; i < 7; i++) {
        want[i] = 2.0f * silu_d[i];
    }
    tu_set(be, &x, silu_x);
    tu_set(be, &dy, two);
    tu_run(be, &(fm_call){.op = FM_OP_SILU_BWD, .t = {dx, dy, x}});
    tu_get(be, &dx, got);
    tu_expect_close(got, want, 7, 1e-6, 1e-6, "silu bwd");
}

Test(silu, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 3, 3, 7, 7), y = t4(be, 3, 3, 7, 7);
    fm_tensor dy = t4(be, 3, 3, 7, 7), dx = t4(be, 3, 3, 7, 7);
    tu_rand(be, &x, 11, -4.0f, 4.0f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_SILU_FWD, .t = {y, x}},
        .bwd = {.op = FM_OP_SILU_BWD, .t = {dx, dy, x}},
        .n_out = 1, .out_slot = {0}, .dout_slot = {1},
        .n_wrt = 1, .in_slot = {1}, .grad_slot = {0},
    };
    check_grad(be, &gc, "silu");
}

/* ------------------------------------------------------------------ gelu */

/* gelu(x) = 0.5 x (1 + tanh(a)), a = sqrt(2/pi) (x + 0.044715 x^3); worked in double:
 *   x = 1: a = 0.7978846 * 1.044715 = 0.8335620, tanh = 0.6823839, gelu = 0.8411920
 *   x = 2: a = 0.7978846 * 2.35772 = 1.8811868, tanh = 0.9545977 (gelu = x (1+th)/2)
 *   x = -1, -3: gelu(-x) = gelu(x) - x: -0.158808, and 0.5 (-3)(1 - 0.9975751)
 *   x = +-10: tanh saturates: 10 and -0 (sign of 0.5 x 0).
 * gelu'(x) = 0.5 (1 + th) + 0.5 x (1 - th^2) a',  a' = sqrt(2/pi) (1 + 0.134145 x^2):
 *   gelu'(0) = 0.5; gelu'(1) = 0.8411920 + 0.5 (1 - 0.4656479) 0.7978846 * 1.134145
 *   = 1.0829641; gelu'(-x) = 1 - gelu'(x). */
static const float gelu_x[7] = {0.0f, 1.0f, -1.0f, 2.0f, -3.0f, 10.0f, -10.0f};
static const float gelu_y[7] = {0.0f, 0.841192f, -0.158808f, 1.9545977f, -0.0036374f, 10.0f, 0.0f};
static const float gelu_d[7] = {0.5f, 1.0829641f, -0.0829641f, 1.0860993f, -0.0115842f, 1.0f,
                                0.0f};

Test(gelu, forward_hand_in_place)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t1(be, 7);
    float got[7];
    tu_set(be, &x, gelu_x);
    tu_run(be, &(fm_call){.op = FM_OP_GELU_FWD, .t = {x, x}});
    tu_get(be, &x, got);
    tu_expect_close(got, gelu_y, 7, 1e-6, 1e-6, "gelu fwd in place");
}

Test(gelu, backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t1(be, 7), dy = t1(be, 7), dx = t1(be, 7);
    float got[7], want[7], two[7];
    for (int i = 0; i < 7; i++)
        want[i] = 2.0f * gelu_d[i], two[i] = 2.0f;
    tu_set(be, &x, gelu_x);
    tu_set(be, &dy, two);
    tu_run(be, &(fm_call){.op = FM_OP_GELU_BWD, .t = {dx, dy, x}});
    tu_get(be, &dx, got);
    tu_expect_close(got, want, 7, 1e-6, 1e-6, "gelu bwd");
}

Test(gelu, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 3, 3, 7, 7), y = t4(be, 3, 3, 7, 7);
    fm_tensor dy = t4(be, 3, 3, 7, 7), dx = t4(be, 3, 3, 7, 7);
    tu_rand(be, &x, 12, -4.0f, 4.0f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_GELU_FWD, .t = {y, x}},
        .bwd = {.op = FM_OP_GELU_BWD, .t = {dx, dy, x}},
        .n_out = 1, .out_slot = {0}, .dout_slot = {1},
        .n_wrt = 1, .in_slot = {1}, .grad_slot = {0},
    };
    check_grad(be, &gc, "gelu");
}

/* Quick form (i0 1): out = x s, s = sigmoid(1.702 x); d/dx = s + 1.702 x s (1 - s).
 *   x = 1: s = 1 / (1 + e^-1.702) = 0.8457958, out = 0.8457958,
 *          d = 0.8457958 + 1.702 * 0.8457958 * 0.1542042 = 1.0677796
 *   x = -1: s = 0.1542042, out = -0.1542042, d = 0.1542042 - 0.2219838 = -0.0677796
 *   x = 2: s = 0.9678293, out = 1.9356586, d = 1.073815
 *   x = -3: s = 0.0060238, out = -0.0180713, d = -0.0245483
 *   x = +-60: e^(-+102) saturates to 0 and inf: s = 1 (out 60, d 1) and s = 0 (out -0,
 *          d 0), the limits, no NaN. */
static const float qgelu_x[7] = {0.0f, 1.0f, -1.0f, 2.0f, -3.0f, 60.0f, -60.0f};
static const float qgelu_y[7] = {0.0f, 0.8457958f, -0.1542042f, 1.935659f, -0.01807131f, 60.0f,
                                 0.0f};
static const float qgelu_d[7] = {0.5f, 1.06778f, -0.06777961f, 1.073815f, -0.02454832f, 1.0f,
                                 0.0f};

Test(gelu, quick_forward_hand_in_place)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t1(be, 7);
    float got[7];
    tu_set(be, &x, qgelu_x);
    tu_run(be, &(fm_call){.op = FM_OP_GELU_FWD, .t = {x, x}, .i = {FM_GELU_QUICK}});
    tu_get(be, &x, got);
    tu_expect_close(got, qgelu_y, 7, 1e-6, 1e-6, "quick gelu fwd in place");
}

Test(gelu, quick_backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t1(be, 7), dy = t1(be, 7), dx = t1(be, 7);
    float got[7], want[7], two[7];
    for (int i = 0; i < 7; i++)
        want[i] = 2.0f * qgelu_d[i], two[i] = 2.0f;
    tu_set(be, &x, qgelu_x);
    tu_set(be, &dy, two);
    tu_run(be, &(fm_call){.op = FM_OP_GELU_BWD, .t = {dx, dy, x}, .i = {FM_GELU_QUICK}});
    tu_get(be, &dx, got);
    tu_expect_close(got, want, 7, 1e-6, 1e-6, "quick gelu bwd");
}

Test(gelu, quick_gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 3, 3, 7, 7), y = t4(be, 3, 3, 7, 7);
    fm_tensor dy = t4(be, 3, 3, 7, 7), dx = t4(be, 3, 3, 7, 7);
    tu_rand(be, &x, 13, -4.0f, 4.0f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_GELU_FWD, .t = {y, x}, .i = {FM_GELU_QUICK}},
        .bwd = {.op = FM_OP_GELU_BWD, .t = {dx, dy, x}, .i = {FM_GELU_QUICK}},
        .n_out = 1, .out_slot = {0}, .dout_slot = {1},
        .n_wrt = 1, .in_slot = {1}, .grad_slot = {0},
    };
    check_grad(be, &gc, "quick gelu");
}

Test(gelu, unknown_form_refused)
{
    fm_backend *be = tu_ref();
    char msg[256];
    fm_tensor x = t1(be, 7), y = t1(be, 7);
    fm_call c = {.op = FM_OP_GELU_FWD, .t = {y, x}, .i = {2}};
    cr_expect_eq(fm_op_check(&c, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "form") != NULL, "message: %s", msg);
}

/* -------------------------------------------------------------- bias_add */

/* in [N=2, C=2, H=1, W=2] = 1..8, bias [2,2] = {10, 20, 30, 40}:
 * planes (n,c) = (0,0) {1,2}, (0,1) {3,4}, (1,0) {5,6}, (1,1) {7,8}, each gets its
 * own bias: {11,12, 23,24, 35,36, 47,48}. */
static const float ba_in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static const float ba_bias[4] = {10, 20, 30, 40};
static const float ba_out[8] = {11, 12, 23, 24, 35, 36, 47, 48};

Test(bias_add, forward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 2, 2, 1, 2), y = t4(be, 2, 2, 1, 2);
    fm_tensor b = tu_tensor(be, FM_F32, 2, 2, 2, 1, 1);
    tu_set(be, &x, ba_in);
    tu_set(be, &b, ba_bias);
    tu_run(be, &(fm_call){.op = FM_OP_BIAS_ADD_FWD, .t = {y, x, b}});
    float got[8];
    tu_get(be, &y, got);
    tu_expect_close(got, ba_out, 8, 0, 0, "bias_add fwd");
}

Test(bias_add, forward_in_place)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 2, 2, 1, 2), b = tu_tensor(be, FM_F32, 2, 2, 2, 1, 1);
    tu_set(be, &x, ba_in);
    tu_set(be, &b, ba_bias);
    tu_run(be, &(fm_call){.op = FM_OP_BIAS_ADD_FWD, .t = {x, x, b}});
    float got[8];
    tu_get(be, &x, got);
    tu_expect_close(got, ba_out, 8, 0, 0, "bias_add fwd in place");
}

/* dout = 1..8 as above: dbias[n,c] = plane sum = {1+2, 3+4, 5+6, 7+8}. dbias is
 * written, not accumulated: it starts full of 99s that must disappear. */
Test(bias_add, backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor dy = t4(be, 2, 2, 1, 2), db = tu_tensor(be, FM_F32, 2, 2, 2, 1, 1);
    const float junk[4] = {99, 99, 99, 99}, want[4] = {3, 7, 11, 15};
    tu_set(be, &dy, ba_in);
    tu_set(be, &db, junk);
    tu_run(be, &(fm_call){.op = FM_OP_BIAS_ADD_BWD, .t = {db, dy}});
    float got[4];
    tu_get(be, &db, got);
    tu_expect_close(got, want, 4, 0, 0, "bias_add bwd");
}

/* Only the bias has a gradient slot (din = dout is the caller's identity). */
Test(bias_add, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 3, 3, 7, 7), y = t4(be, 3, 3, 7, 7), dy = t4(be, 3, 3, 7, 7);
    fm_tensor b = tu_tensor(be, FM_F32, 2, 3, 3, 1, 1), db = tu_tensor(be, FM_F32, 2, 3, 3, 1, 1);
    tu_rand(be, &x, 21, -2.0f, 2.0f);
    tu_rand(be, &b, 22, -2.0f, 2.0f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_BIAS_ADD_FWD, .t = {y, x, b}},
        .bwd = {.op = FM_OP_BIAS_ADD_BWD, .t = {db, dy}},
        .n_out = 1, .out_slot = {0}, .dout_slot = {1},
        .n_wrt = 1, .in_slot = {2}, .grad_slot = {0},
    };
    check_grad(be, &gc, "bias_add");
}

/* ------------------------------------------------------------------- add */

/* {1, 2, 3} + {10, 20, 30} = {11, 22, 33}; a + a = {2, 4, 6}. */
Test(add, forward_hand_and_aliases)
{
    fm_backend *be = tu_ref();
    fm_tensor a = t1(be, 3), b = t1(be, 3), y = t1(be, 3);
    const float av[3] = {1, 2, 3}, bv[3] = {10, 20, 30};
    const float sum[3] = {11, 22, 33}, twice[3] = {2, 4, 6};
    float got[3];

    tu_set(be, &a, av);
    tu_set(be, &b, bv);
    tu_run(be, &(fm_call){.op = FM_OP_ADD_FWD, .t = {y, a, b}});
    tu_get(be, &y, got);
    tu_expect_close(got, sum, 3, 0, 0, "add fwd");

    tu_run(be, &(fm_call){.op = FM_OP_ADD_FWD, .t = {a, a, b}}); /* out aliases a */
    tu_get(be, &a, got);
    tu_expect_close(got, sum, 3, 0, 0, "add fwd out=a");

    tu_set(be, &a, av);
    tu_run(be, &(fm_call){.op = FM_OP_ADD_FWD, .t = {b, a, b}}); /* out aliases b */
    tu_get(be, &b, got);
    tu_expect_close(got, sum, 3, 0, 0, "add fwd out=b");

    tu_run(be, &(fm_call){.op = FM_OP_ADD_FWD, .t = {a, a, a}}); /* all three the same */
    tu_get(be, &a, got);
    tu_expect_close(got, twice, 3, 0, 0, "add fwd out=a=b");
}

/* da = db = dout; an absent gradient is skipped and the other is still written. */
Test(add, backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor da = t1(be, 3), db = t1(be, 3), dy = t1(be, 3);
    const float g[3] = {1.5f, -2.0f, 4.0f}, junk[3] = {9, 9, 9};
    float got[3];
    tu_set(be, &dy, g);
    tu_run(be, &(fm_call){.op = FM_OP_ADD_BWD, .t = {da, db, dy}});
    tu_get(be, &da, got);
    tu_expect_close(got, g, 3, 0, 0, "add bwd da");
    tu_get(be, &db, got);
    tu_expect_close(got, g, 3, 0, 0, "add bwd db");

    tu_set(be, &db, junk);
    tu_run(be, &(fm_call){.op = FM_OP_ADD_BWD, .t = {NONE, db, dy}});
    tu_get(be, &db, got);
    tu_expect_close(got, g, 3, 0, 0, "add bwd db only");
}

Test(add, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor a = t4(be, 3, 3, 7, 7), b = t4(be, 3, 3, 7, 7), y = t4(be, 3, 3, 7, 7);
    fm_tensor da = t4(be, 3, 3, 7, 7), db = t4(be, 3, 3, 7, 7), dy = t4(be, 3, 3, 7, 7);
    tu_rand(be, &a, 31, -2.0f, 2.0f);
    tu_rand(be, &b, 32, -2.0f, 2.0f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_ADD_FWD, .t = {y, a, b}},
        .bwd = {.op = FM_OP_ADD_BWD, .t = {da, db, dy}},
        .n_out = 1, .out_slot = {0}, .dout_slot = {2},
        .n_wrt = 2, .in_slot = {1, 2}, .grad_slot = {0, 1},
    };
    check_grad(be, &gc, "add");
}

/* ------------------------------------------------------------ upsample2x */

/* in [1,1,2,2] = [[1,2],[3,4]] -> each pixel becomes a 2x2 block:
 *   [[1,1,2,2],[1,1,2,2],[3,3,4,4],[3,3,4,4]]
 * Backward with dout = 0..15 (row-major 4x4): each input pixel sums its block,
 *   (0,0): 0+1+4+5 = 10, (0,1): 2+3+6+7 = 18, (1,0): 8+9+12+13 = 42, (1,1): 50. */
Test(upsample2x, forward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 1, 1, 2, 2), y = t4(be, 1, 1, 4, 4);
    const float xv[4] = {1, 2, 3, 4};
    const float want[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    float got[16];
    tu_set(be, &x, xv);
    tu_run(be, &(fm_call){.op = FM_OP_UPSAMPLE2X_FWD, .t = {y, x}});
    tu_get(be, &y, got);
    tu_expect_close(got, want, 16, 0, 0, "upsample2x fwd");
}

/* Non-square, two planes: in [1,2,1,3]: plane 0 = {1,2,3}, plane 1 = {4,5,6}
 * -> out [1,2,2,6]: plane 0 rows {1,1,2,2,3,3} twice, plane 1 rows {4,4,5,5,6,6} twice. */
Test(upsample2x, forward_planes)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 1, 2, 1, 3), y = t4(be, 1, 2, 2, 6);
    const float xv[6] = {1, 2, 3, 4, 5, 6};
    const float want[24] = {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3,
                            4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6};
    float got[24];
    tu_set(be, &x, xv);
    tu_run(be, &(fm_call){.op = FM_OP_UPSAMPLE2X_FWD, .t = {y, x}});
    tu_get(be, &y, got);
    tu_expect_close(got, want, 24, 0, 0, "upsample2x fwd planes");
}

Test(upsample2x, backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor dx = t4(be, 1, 1, 2, 2), dy = t4(be, 1, 1, 4, 4);
    float g[16], got[4];
    const float want[4] = {10, 18, 42, 50};
    for (int i = 0; i < 16; i++) {
        g[i] = (float)i;
    }
    tu_set(be, &dy, g);
    tu_run(be, &(fm_call){.op = FM_OP_UPSAMPLE2X_BWD, .t = {dx, dy}});
    tu_get(be, &dx, got);
    tu_expect_close(got, want, 4, 0, 0, "upsample2x bwd");
}

Test(upsample2x, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 3, 3, 7, 7), y = t4(be, 3, 3, 14, 14);
    fm_tensor dx = t4(be, 3, 3, 7, 7), dy = t4(be, 3, 3, 14, 14);
    tu_rand(be, &x, 41, -2.0f, 2.0f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_UPSAMPLE2X_FWD, .t = {y, x}},
        .bwd = {.op = FM_OP_UPSAMPLE2X_BWD, .t = {dx, dy}},
        .n_out = 1, .out_slot = {0}, .dout_slot = {1},
        .n_wrt = 1, .in_slot = {1}, .grad_slot = {0},
    };
    check_grad(be, &gc, "upsample2x");
}

/* ---------------------------------------------------------------- concat */

/* N = 2, H = 1, W = 2, a has 1 channel, b has 2:
 *   a = n0 {1,2}        n1 {3,4}
 *   b = n0 {10,11 | 12,13}   n1 {14,15 | 16,17}
 * out [2,3,1,2] per sample = a's channel then b's two:
 *   n0 {1,2, 10,11, 12,13}, n1 {3,4, 14,15, 16,17}.
 * The backward of that out is the split back into a and b. */
static const float cat_a[4] = {1, 2, 3, 4};
static const float cat_b[8] = {10, 11, 12, 13, 14, 15, 16, 17};
static const float cat_out[12] = {1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17};

Test(concat, forward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor a = t4(be, 2, 1, 1, 2), b = t4(be, 2, 2, 1, 2), y = t4(be, 2, 3, 1, 2);
    float got[12];
    tu_set(be, &a, cat_a);
    tu_set(be, &b, cat_b);
    tu_run(be, &(fm_call){.op = FM_OP_CONCAT_FWD, .t = {y, a, b}});
    tu_get(be, &y, got);
    tu_expect_close(got, cat_out, 12, 0, 0, "concat fwd");
}

Test(concat, backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor da = t4(be, 2, 1, 1, 2), db = t4(be, 2, 2, 1, 2), dy = t4(be, 2, 3, 1, 2);
    float got[8];
    tu_set(be, &dy, cat_out);
    tu_run(be, &(fm_call){.op = FM_OP_CONCAT_BWD, .t = {da, db, dy}});
    tu_get(be, &da, got);
    tu_expect_close(got, cat_a, 4, 0, 0, "concat bwd da");
    tu_get(be, &db, got);
    tu_expect_close(got, cat_b, 8, 0, 0, "concat bwd db");

    /* ops.c requires both da and db (it needs both channel counts for the split
     * point), although ops.h marks them optional; so no one-sided call here. */
}

/* Unequal, odd channel counts (3 + 5) so a swapped split would be caught. */
Test(concat, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor a = t4(be, 3, 3, 7, 7), b = t4(be, 3, 5, 7, 7), y = t4(be, 3, 8, 7, 7);
    fm_tensor da = t4(be, 3, 3, 7, 7), db = t4(be, 3, 5, 7, 7), dy = t4(be, 3, 8, 7, 7);
    tu_rand(be, &a, 51, -2.0f, 2.0f);
    tu_rand(be, &b, 52, -2.0f, 2.0f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_CONCAT_FWD, .t = {y, a, b}},
        .bwd = {.op = FM_OP_CONCAT_BWD, .t = {da, db, dy}},
        .n_out = 1, .out_slot = {0}, .dout_slot = {2},
        .n_wrt = 2, .in_slot = {1, 2}, .grad_slot = {0, 1},
    };
    check_grad(be, &gc, "concat");
}

/* ------------------------------------------------------------------- mse */

/* a = {1,2,3,4}, b = {0,2,5,1}: a - b = {1,0,-2,3}, squares {1,0,4,9}, sum 14,
 * mean 14/4 = 3.5. Backward with dloss = 2: da = 2 (a-b) 2 / 4 = a - b = {1,0,-2,3},
 * db = -da. */
Test(mse, forward_backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor a = t1(be, 4), b = t1(be, 4), loss = t1(be, 1), da = t1(be, 4), db = t1(be, 4);
    const float av[4] = {1, 2, 3, 4}, bv[4] = {0, 2, 5, 1};
    const float want_da[4] = {1, 0, -2, 3}, want_db[4] = {-1, 0, 2, -3}, want_loss = 3.5f;
    float got[4];
    tu_set(be, &a, av);
    tu_set(be, &b, bv);
    tu_run(be, &(fm_call){.op = FM_OP_MSE_FWD, .t = {loss, a, b}});
    tu_get(be, &loss, got);
    tu_expect_close(got, &want_loss, 1, 0, 0, "mse fwd");

    tu_run(be, &(fm_call){.op = FM_OP_MSE_BWD, .t = {da, db, a, b}, .f = {2.0f}});
    tu_get(be, &da, got);
    tu_expect_close(got, want_da, 4, 0, 0, "mse bwd da");
    tu_get(be, &db, got);
    tu_expect_close(got, want_db, 4, 0, 0, "mse bwd db");

    const float junk[4] = {7, 7, 7, 7};
    tu_set(be, &db, junk);
    tu_run(be, &(fm_call){.op = FM_OP_MSE_BWD, .t = {NONE, db, a, b}, .f = {2.0f}});
    tu_get(be, &db, got);
    tu_expect_close(got, want_db, 4, 0, 0, "mse bwd db only");
}

/* The forward sum runs in double. Differences {4096, 1, 1, 1, 1}: squares
 * {2^24, 1, 1, 1, 1}, sum 2^24 + 4 = 16777220, mean 16777220 / 5 = 3355444 exactly.
 * A float running sum would stay at 2^24 (2^24 + 1 is a tie that rounds back to the
 * even 2^24) and give 16777216 / 5 = 3355443.2. */
Test(mse, forward_double_accumulation)
{
    fm_backend *be = tu_ref();
    fm_tensor a = t1(be, 5), b = t1(be, 5), loss = t1(be, 1);
    const float av[5] = {4096, 1, 1, 1, 1}, bv[5] = {0}, want = 3355444.0f;
    float got;
    tu_set(be, &a, av);
    tu_set(be, &b, bv);
    tu_run(be, &(fm_call){.op = FM_OP_MSE_FWD, .t = {loss, a, b}});
    tu_get(be, &loss, &got);
    tu_expect_close(&got, &want, 1, 0, 0, "mse fwd double sum");
}

/* MSE_BWD takes dloss as a scalar (f0), not a dout tensor, so tu_gradcheck's
 * "dout slot receives r" does not apply. The same check by hand: the loss is
 * quadratic, so central differences are exact up to rounding for any step; with
 * h = 0.25 the float rounding of the loss (~6e-8 * 1.3) over 2h is ~2e-7 against
 * gradients of ~2 * 1.3 / 441 ~ 6e-3, so ~1e-4 relative at worst. */
Test(mse, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor a = t4(be, 3, 3, 7, 7), b = t4(be, 3, 3, 7, 7), loss = t1(be, 1);
    fm_tensor da = t4(be, 3, 3, 7, 7), db = t4(be, 3, 3, 7, 7);
    const int64_t n = 3 * 3 * 7 * 7;
    const float dloss = 0.7f, h = 0.25f;
    tu_rand(be, &a, 61, -2.0f, 2.0f);
    tu_rand(be, &b, 62, -2.0f, 2.0f);
    tu_run(be, &(fm_call){.op = FM_OP_MSE_BWD, .t = {da, db, a, b}, .f = {dloss}});

    float *x = malloc((size_t)n * sizeof(float)), *g = malloc((size_t)n * sizeof(float));
    cr_assert(x && g);
    double worst = 0.0;
    const fm_tensor *wrt[2] = {&a, &b}, *grad[2] = {&da, &db};
    for (int k = 0; k < 2; k++) {
        tu_get(be, wrt[k], x);
        tu_get(be, grad[k], g);
        double num2 = 0.0, err2 = 0.0;
        for (int64_t i = 0; i < n; i++) {
            float x0 = x[i], lp, lm;
            float xp = x0 + h, xm = x0 - h;
            x[i] = xp;
            tu_set(be, wrt[k], x);
            tu_run(be, &(fm_call){.op = FM_OP_MSE_FWD, .t = {loss, a, b}});
            tu_get(be, &loss, &lp);
            x[i] = xm;
            tu_set(be, wrt[k], x);
            tu_run(be, &(fm_call){.op = FM_OP_MSE_FWD, .t = {loss, a, b}});
            tu_get(be, &loss, &lm);
            x[i] = x0;
            double gnum = (double)dloss * ((double)lp - (double)lm) / ((double)xp - (double)xm);
            num2 += gnum * gnum;
            err2 += ((double)g[i] - gnum) * ((double)g[i] - gnum);
        }
        tu_set(be, wrt[k], x);
        double rel = sqrt(err2) / fmax(sqrt(num2), 1e-12);
        printf("gradcheck mse slot %d: rel %.3e\n", k + 1, rel);
        worst = fmax(worst, rel);
    }
    free(x);
    free(g);
    cr_assert(worst < GRAD_TOL, "mse: gradcheck relative error %g", worst);
}

/* ------------------------------------------------------------- fm_interp */

/* N = 2, two values per sample, t = {0.25, 1}:
 *   x0 = {1,2 | 3,4}, x1 = {5,6 | 7,8}
 *   xt n0 = 0.75 {1,2} + 0.25 {5,6} = {2, 3};  n1 (t = 1) = x1 = {7, 8}
 *   v = x1 - x0 = {4,4,4,4}
 * Backward with dxt = {1,2,3,4}, dv = {10,20,30,40}:
 *   dx0 = (1-t) dxt - dv: n0 {0.75-10, 1.5-20} = {-9.25,-18.5}; n1 {-30,-40}
 *   dx1 = t dxt + dv:     n0 {0.25+10, 0.5+20} = {10.25,20.5}; n1 {33, 44}
 * Without dv: dx0 = (1-t) dxt = {0.75, 1.5, 0, 0}; without dxt: dx1 = dv. */
Test(fm_interp, forward_backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor x0 = t4(be, 2, 2, 1, 1), x1 = t4(be, 2, 2, 1, 1), t = t1(be, 2);
    fm_tensor xt = t4(be, 2, 2, 1, 1), v = t4(be, 2, 2, 1, 1);
    fm_tensor dx0 = t4(be, 2, 2, 1, 1), dx1 = t4(be, 2, 2, 1, 1);
    fm_tensor dxt = t4(be, 2, 2, 1, 1), dv = t4(be, 2, 2, 1, 1);
    const float x0v[4] = {1, 2, 3, 4}, x1v[4] = {5, 6, 7, 8}, tv[2] = {0.25f, 1.0f};
    const float want_xt[4] = {2, 3, 7, 8}, want_v[4] = {4, 4, 4, 4};
    const float dxtv[4] = {1, 2, 3, 4}, dvv[4] = {10, 20, 30, 40};
    const float want_dx0[4] = {-9.25f, -18.5f, -30, -40}, want_dx1[4] = {10.25f, 20.5f, 33, 44};
    const float want_dx0_nodv[4] = {0.75f, 1.5f, 0, 0};
    float got[4];

    tu_set(be, &x0, x0v);
    tu_set(be, &x1, x1v);
    tu_set(be, &t, tv);
    tu_run(be, &(fm_call){.op = FM_OP_FM_INTERP_FWD, .t = {xt, v, x0, x1, t}});
    tu_get(be, &xt, got);
    tu_expect_close(got, want_xt, 4, 0, 0, "fm_interp xt");
    tu_get(be, &v, got);
    tu_expect_close(got, want_v, 4, 0, 0, "fm_interp v");

    tu_set(be, &dxt, dxtv);
    tu_set(be, &dv, dvv);
    tu_run(be, &(fm_call){.op = FM_OP_FM_INTERP_BWD, .t = {dx0, dx1, dxt, dv, t}});
    tu_get(be, &dx0, got);
    tu_expect_close(got, want_dx0, 4, 0, 0, "fm_interp dx0");
    tu_get(be, &dx1, got);
    tu_expect_close(got, want_dx1, 4, 0, 0, "fm_interp dx1");

    tu_run(be, &(fm_call){.op = FM_OP_FM_INTERP_BWD, .t = {dx0, NONE, dxt, NONE, t}});
    tu_get(be, &dx0, got);
    tu_expect_close(got, want_dx0_nodv, 4, 0, 0, "fm_interp dx0 without dv");
    tu_run(be, &(fm_call){.op = FM_OP_FM_INTERP_BWD, .t = {NONE, dx1, NONE, dv, t}});
    tu_get(be, &dx1, got);
    tu_expect_close(got, dvv, 4, 0, 0, "fm_interp dx1 without dxt");
}

Test(fm_interp, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor x0 = t4(be, 3, 3, 7, 7), x1 = t4(be, 3, 3, 7, 7), t = t1(be, 3);
    fm_tensor xt = t4(be, 3, 3, 7, 7), v = t4(be, 3, 3, 7, 7);
    fm_tensor dx0 = t4(be, 3, 3, 7, 7), dx1 = t4(be, 3, 3, 7, 7);
    fm_tensor dxt = t4(be, 3, 3, 7, 7), dv = t4(be, 3, 3, 7, 7);
    tu_rand(be, &x0, 71, -1.0f, 1.0f);
    tu_rand(be, &x1, 72, -2.0f, 2.0f);
    tu_rand(be, &t, 73, 0.0f, 1.0f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_FM_INTERP_FWD, .t = {xt, v, x0, x1, t}},
        .bwd = {.op = FM_OP_FM_INTERP_BWD, .t = {dx0, dx1, dxt, dv, t}},
        .n_out = 2, .out_slot = {0, 1}, .dout_slot = {2, 3},
        .n_wrt = 2, .in_slot = {2, 3}, .grad_slot = {0, 1},
    };
    check_grad(be, &gc, "fm_interp");
}

/* ----------------------------------------------------------------- axpby */

/* a = 2, b = -0.5, x = {1,2,3}, y = {4,8,-2}: 2x = {2,4,6}, -0.5y = {-2,-4,1},
 * out = {0, 0, 7}. Backward with dout = {1,-2,4}: dx = 2 dout = {2,-4,8},
 * dy = -0.5 dout = {-0.5, 1, -2}. */
Test(axpby, forward_hand_and_aliases)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t1(be, 3), y = t1(be, 3), out = t1(be, 3);
    const float xv[3] = {1, 2, 3}, yv[3] = {4, 8, -2}, want[3] = {0, 0, 7};
    float got[3];
    tu_set(be, &x, xv);
    tu_set(be, &y, yv);
    tu_run(be, &(fm_call){.op = FM_OP_AXPBY_FWD, .t = {out, x, y}, .f = {2.0f, -0.5f}});
    tu_get(be, &out, got);
    tu_expect_close(got, want, 3, 0, 0, "axpby fwd");

    tu_run(be, &(fm_call){.op = FM_OP_AXPBY_FWD, .t = {x, x, y}, .f = {2.0f, -0.5f}});
    tu_get(be, &x, got);
    tu_expect_close(got, want, 3, 0, 0, "axpby fwd out=x");

    tu_set(be, &x, xv);
    tu_run(be, &(fm_call){.op = FM_OP_AXPBY_FWD, .t = {y, x, y}, .f = {2.0f, -0.5f}});
    tu_get(be, &y, got);
    tu_expect_close(got, want, 3, 0, 0, "axpby fwd out=y");

    /* out = x = y: 2x - 0.5x = 1.5x = {1.5, 3, 4.5} */
    const float want_self[3] = {1.5f, 3.0f, 4.5f};
    tu_run(be, &(fm_call){.op = FM_OP_AXPBY_FWD, .t = {x, x, x}, .f = {2.0f, -0.5f}});
    tu_get(be, &x, got);
    tu_expect_close(got, want_self, 3, 0, 0, "axpby fwd out=x=y");
}

Test(axpby, backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor dx = t1(be, 3), dy = t1(be, 3), dout = t1(be, 3);
    const float g[3] = {1, -2, 4}, want_dx[3] = {2, -4, 8}, want_dy[3] = {-0.5f, 1, -2};
    float got[3];
    tu_set(be, &dout, g);
    tu_run(be, &(fm_call){.op = FM_OP_AXPBY_BWD, .t = {dx, dy, dout}, .f = {2.0f, -0.5f}});
    tu_get(be, &dx, got);
    tu_expect_close(got, want_dx, 3, 0, 0, "axpby dx");
    tu_get(be, &dy, got);
    tu_expect_close(got, want_dy, 3, 0, 0, "axpby dy");

    const float zeros[3] = {0};
    tu_set(be, &dy, zeros);
    tu_run(be, &(fm_call){.op = FM_OP_AXPBY_BWD, .t = {NONE, dy, dout}, .f = {2.0f, -0.5f}});
    tu_get(be, &dy, got);
    tu_expect_close(got, want_dy, 3, 0, 0, "axpby dy only");
}

Test(axpby, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 3, 3, 7, 7), y = t4(be, 3, 3, 7, 7), out = t4(be, 3, 3, 7, 7);
    fm_tensor dx = t4(be, 3, 3, 7, 7), dy = t4(be, 3, 3, 7, 7), dout = t4(be, 3, 3, 7, 7);
    tu_rand(be, &x, 81, -2.0f, 2.0f);
    tu_rand(be, &y, 82, -2.0f, 2.0f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_AXPBY_FWD, .t = {out, x, y}, .f = {0.75f, -1.25f}},
        .bwd = {.op = FM_OP_AXPBY_BWD, .t = {dx, dy, dout}, .f = {0.75f, -1.25f}},
        .n_out = 1, .out_slot = {0}, .dout_slot = {2},
        .n_wrt = 2, .in_slot = {1, 2}, .grad_slot = {0, 1},
    };
    check_grad(be, &gc, "axpby");
}

/* ------------------------------------------------------------------- sum */

/* {1, 2, 3, 4.5} sums to 10.5. {2^24, 1, 1, 1, 1}: in double 2^24 + 4 = 16777220,
 * which is a float (even); a float running sum stays at 2^24 because each
 * 2^24 + 1 rounds back to even. Backward: din = dout[0] everywhere. */
Test(sum, forward_backward_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t1(be, 4), big = t1(be, 5), out = t1(be, 1), dx = t1(be, 4), dout = t1(be, 1);
    const float xv[4] = {1, 2, 3, 4.5f}, want = 10.5f;
    const float bigv[5] = {16777216.0f, 1, 1, 1, 1}, want_big = 16777220.0f;
    const float g = 3.0f, want_dx[4] = {3, 3, 3, 3};
    float got[4];
    tu_set(be, &x, xv);
    tu_run(be, &(fm_call){.op = FM_OP_SUM_FWD, .t = {out, x}});
    tu_get(be, &out, got);
    tu_expect_close(got, &want, 1, 0, 0, "sum fwd");

    tu_set(be, &big, bigv);
    tu_run(be, &(fm_call){.op = FM_OP_SUM_FWD, .t = {out, big}});
    tu_get(be, &out, got);
    tu_expect_close(got, &want_big, 1, 0, 0, "sum fwd double accumulation");

    tu_set(be, &dout, &g);
    tu_run(be, &(fm_call){.op = FM_OP_SUM_BWD, .t = {dx, dout}});
    tu_get(be, &dx, got);
    tu_expect_close(got, want_dx, 4, 0, 0, "sum bwd");
}

Test(sum, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor x = t4(be, 3, 3, 7, 7), dx = t4(be, 3, 3, 7, 7);
    fm_tensor out = t1(be, 1), dout = t1(be, 1);
    tu_rand(be, &x, 91, -2.0f, 2.0f);
    tu_grad_case gc = {
        .fwd = {.op = FM_OP_SUM_FWD, .t = {out, x}},
        .bwd = {.op = FM_OP_SUM_BWD, .t = {dx, dout}},
        .n_out = 1, .out_slot = {0}, .dout_slot = {1},
        .n_wrt = 1, .in_slot = {1}, .grad_slot = {0},
    };
    check_grad(be, &gc, "sum");
}

/* --------------------------------------------------------------- reparam */

/* N = 1, Z = 1, 1x4: mu = {1, -2, 0.5, 3}, lv = {-35, -31, 25, 0} (two below -30, one
 * above 20), eps = {1, 1, 1, 2}, dz = {1, 2, 3, 4}, dkl = 2, so k = dkl / N = 2.
 * Forward with lv' = clamp(lv, -30, 20) = {-30, -30, 20, 0}:
 *   z  = mu + e^(lv'/2) eps = {1 + e^-15, -2 + e^-15, 0.5 + e^10, 3 + 2}   (no eps: mu)
 *   kl = 0.5 sum (mu^2 + e^lv' - 1 - lv') = 0.5 (14.25 + 2 (e^-30 + 29) + e^20 - 21)
 * Backward: dmu = dz + k mu = {3, -2, 4, 10}; dlv is 0 where lv is outside [-30, 20]
 * (the clamp's derivative), and at lv = 0: 0.5 (dz eps e^0 + k (e^0 - 1)) = 4. */
Test(reparam, clamp_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor mom = t4(be, 1, 2, 1, 4), dmom = t4(be, 1, 2, 1, 4), kl = t1(be, 1);
    fm_tensor z = t4(be, 1, 1, 1, 4), eps = t4(be, 1, 1, 1, 4), dz = t4(be, 1, 1, 1, 4);
    const float momv[8] = {1, -2, 0.5f, 3, -35, -31, 25, 0}, epsv[4] = {1, 1, 1, 2};
    const float dzv[4] = {1, 2, 3, 4}, want_dmom[8] = {3, -2, 4, 10, 0, 0, 0, 4};
    const float want_z[4] = {(float)(1 + exp(-15.0)), (float)(-2 + exp(-15.0)),
                             (float)(0.5 + exp(10.0)), 5};
    const float want_kl = (float)(0.5 * (14.25 + 2 * (exp(-30.0) + 29) + exp(20.0) - 21));
    float got[8];
    tu_set(be, &mom, momv);
    tu_set(be, &eps, epsv);
    tu_set(be, &dz, dzv);
    tu_run(be, &(fm_call){.op = FM_OP_REPARAM_FWD, .t = {z, kl, mom, eps}});
    tu_get(be, &z, got);
    tu_expect_close(got, want_z, 4, 0, 1e-6, "reparam fwd z");
    tu_get(be, &kl, got);
    tu_expect_close(got, &want_kl, 1, 0, 1e-6, "reparam fwd kl");
    tu_run(be, &(fm_call){.op = FM_OP_REPARAM_FWD, .t = {z, kl, mom, NONE}});
    tu_get(be, &z, got);
    tu_expect_close(got, momv, 4, 0, 0, "reparam fwd z without eps");
    tu_get(be, &kl, got);
    tu_expect_close(got, &want_kl, 1, 0, 1e-6, "reparam fwd kl without eps");

    tu_run(be, &(fm_call){.op = FM_OP_REPARAM_BWD, .t = {dmom, dz, mom, eps}, .f = {2.0f}});
    tu_get(be, &dmom, got);
    tu_expect_close(got, want_dmom, 8, 0, 0, "reparam bwd");
}

/* L = sum_e z_e g_e + beta kl, from REPARAM_FWD's z and kl on the current mom (on the
 * host, in double); zbuf receives z. */
static double reparam_loss(fm_backend *be, const fm_call *fwd, const float *g, float beta,
                           float *zbuf)
{
    float kl;
    tu_run(be, fwd);
    tu_get(be, &fwd->t[0], zbuf);
    tu_get(be, &fwd->t[1], &kl);
    double L = (double)beta * kl;
    for (int64_t e = 0; e < fm_tensor_numel(&fwd->t[0]); e++)
        L += (double)zbuf[e] * g[e];
    return L;
}

/* REPARAM_BWD with dz = g and dkl = beta is dL/dmom for L above; dkl is a scalar (f0),
 * so the check is by hand, as mse's. N = 3, Z = 2, 5x5, mom in [-1, 1]: kl ~ 6, whose
 * float rounding (2.4e-7) over 2h = 0.04 is ~1e-5 against gradients of ~0.1; the
 * central difference's truncation, h^2/6 times the ratio of third to first derivative
 * (at most 1, for exp(lv)), is 7e-5. The means' and the log-variances' halves of dmom
 * get a relative error each. */
Test(reparam, gradcheck)
{
    fm_backend *be = tu_ref();
    fm_tensor mom = t4(be, 3, 4, 5, 5), dmom = t4(be, 3, 4, 5, 5), kl = t1(be, 1);
    fm_tensor z = t4(be, 3, 2, 5, 5), eps = t4(be, 3, 2, 5, 5), g = t4(be, 3, 2, 5, 5);
    const int64_t n = 3 * 4 * 25, zl = 2 * 25;
    const float beta = 0.7f, h = 0.02f;
    tu_rand(be, &mom, 111, -1.0f, 1.0f);
    tu_rand(be, &eps, 112, -2.0f, 2.0f);
    tu_rand(be, &g, 113, -1.0f, 1.0f);
    const fm_call fwd = {.op = FM_OP_REPARAM_FWD, .t = {z, kl, mom, eps}};
    tu_run(be, &(fm_call){.op = FM_OP_REPARAM_BWD, .t = {dmom, g, mom, eps}, .f = {beta}});

    float *x = malloc((size_t)n * sizeof(float)), *d = malloc((size_t)n * sizeof(float));
    float *gv = malloc((size_t)n / 2 * sizeof(float));
    float *zbuf = malloc((size_t)n / 2 * sizeof(float));
    cr_assert(x && d && gv && zbuf);
    tu_get(be, &mom, x);
    tu_get(be, &dmom, d);
    tu_get(be, &g, gv);
    double num2[2] = {0, 0}, err2[2] = {0, 0};
    for (int64_t i = 0; i < n; i++) {
        const float x0 = x[i], xp = x0 + h, xm = x0 - h;
        x[i] = xp;
        tu_set(be, &mom, x);
        double lp = reparam_loss(be, &fwd, gv, beta, zbuf);
        x[i] = xm;
        tu_set(be, &mom, x);
        double lm = reparam_loss(be, &fwd, gv, beta, zbuf);
        x[i] = x0;
        double gnum = (lp - lm) / ((double)xp - (double)xm);
        int lv = i % (2 * zl) >= zl;
        num2[lv] += gnum * gnum;
        err2[lv] += ((double)d[i] - gnum) * ((double)d[i] - gnum);
    }
    for (int k = 0; k < 2; k++) {
        double rel = sqrt(err2[k]) / fmax(sqrt(num2[k]), 1e-12);
        printf("gradcheck reparam %s: rel %.3e (|g| %.3e)\n", k ? "lv" : "mu", rel, sqrt(num2[k]));
        cr_assert(rel < GRAD_TOL, "reparam %s: gradcheck relative error %g", k ? "lv" : "mu", rel);
    }
    free(x);
    free(d);
    free(gv);
    free(zbuf);
}

/* ----------------------------------------------------------------- adamw */

/* First step from m = v = 0 (bc1 = 1 - b1, bc2 = 1 - b2), lr 0.1, wd 0.1, eps 1e-8,
 * and betas 0.5 / 0.75 (exact in binary, so m and v can be checked tightly; 0.999f
 * is not 0.999 and 1 - 0.999f is off by 1.3e-5 relative):
 *   m = 0.5 g, v = 0.25 g^2, m/bc1 = g, v/bc2 = g^2, so the step is
 *   lr g / (|g| + eps) ~ lr sign(g), after the decay p (1 - lr wd) = 0.99 p.
 *   p = 1,  g = 0.5:  p = 0.99 - 0.1 * 0.5/0.50000001 = 0.89;  m = 0.25, v = 0.0625
 *   p = -2, g = -4:   p = -1.98 + 0.1 = -1.88;                m = -2,   v = 4
 *   p = 3,  g = 0:    p = 2.97 (decay only: 0 / (0 + eps) = 0); m = v = 0 */
Test(adamw, first_step_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor p = t1(be, 3), m = t1(be, 3), v = t1(be, 3), g = t1(be, 3);
    const float pv[3] = {1, -2, 3}, gv[3] = {0.5f, -4, 0};
    const float want_p[3] = {0.89f, -1.88f, 2.97f}, want_m[3] = {0.25f, -2, 0};
    const float want_v[3] = {0.0625f, 4, 0};
    float got[3];
    tu_set(be, &p, pv);
    tu_set(be, &g, gv);
    tu_run(be, &(fm_call){.op = FM_OP_ADAMW,
                          .t = {p, m, v, g},
                          .f = {0.1f, 0.5f, 0.75f, 1e-8f, 0.1f, 0.5f, 0.25f}});
    tu_get(be, &p, got);
    tu_expect_close(got, want_p, 3, 1e-6, 1e-6, "adamw p");
    tu_get(be, &m, got);
    tu_expect_close(got, want_m, 3, 0, 0, "adamw m");
    tu_get(be, &v, got);
    tu_expect_close(got, want_v, 3, 0, 0, "adamw v");
}

/* Ten steps with changing random gradients against the same rule in double, at the
 * training betas. The double loop uses the very hyper-parameters the kernel gets
 * (the float values, widened), so the two differ by the kernel's float rounding
 * only: ~1e-7 relative per operation, a few dozen operations: 1e-5 is ample. */
Test(adamw, ten_steps_vs_double)
{
    fm_backend *be = tu_ref();
    enum { N = 37, STEPS = 10 };
    fm_tensor p = t1(be, N), m = t1(be, N), v = t1(be, N), g = t1(be, N);
    const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
    double dp[N], dm[N] = {0}, dv[N] = {0};
    float fp[N], fg[N];
    tu_rand(be, &p, 101, -1.0f, 1.0f);
    tu_get(be, &p, fp);
    for (int i = 0; i < N; i++) {
        dp[i] = fp[i];
    }
    for (int step = 1; step <= STEPS; step++) {
        tu_rand(be, &g, 200 + (uint32_t)step, -1.0f, 1.0f);
        tu_get(be, &g, fg);
        /* the caller's side of the contract: powers in double, passed as float */
        float bc1 = (float)(1.0 - pow(b1, step)), bc2 = (float)(1.0 - pow(b2, step));
        tu_run(be, &(fm_call){.op = FM_OP_ADAMW,
                              .t = {p, m, v, g},
                              .f = {lr, b1, b2, eps, wd, bc1, bc2}});
        for (int i = 0; i < N; i++) {
            double gi = fg[i];
            dp[i] -= lr * wd * dp[i];
            dm[i] = b1 * dm[i] + (1 - b1) * gi;
            dv[i] = b2 * dv[i] + (1 - b2) * gi * gi;
            dp[i] -= lr * (dm[i] / bc1) / (sqrt(dv[i] / bc2) + eps);
        }
    }
    float got[N], want[N];
    tu_get(be, &p, got);
    for (int i = 0; i < N; i++) {
        want[i] = (float)dp[i];
    }
    tu_expect_close(got, want, N, 1e-5, 1e-5, "adamw p after 10 steps");
    tu_get(be, &m, got);
    for (int i = 0; i < N; i++) {
        want[i] = (float)dm[i];
    }
    tu_expect_close(got, want, N, 1e-6, 1e-5, "adamw m after 10 steps");
    tu_get(be, &v, got);
    for (int i = 0; i < N; i++) {
        want[i] = (float)dv[i];
    }
    tu_expect_close(got, want, N, 1e-8, 1e-5, "adamw v after 10 steps");
}

/* ------------------------------------------------------------------- ema */

/* decay 0.9: ema = 0.9 ema + 0.1 param; {1, -2} with param {3, 0} -> {0.9 + 0.3,
 * -1.8 + 0} = {1.2, -1.8}. */
Test(ema, first_step_hand)
{
    fm_backend *be = tu_ref();
    fm_tensor e = t1(be, 2), p = t1(be, 2);
    const float ev[2] = {1, -2}, pv[2] = {3, 0}, want[2] = {1.2f, -1.8f};
    float got[2];
    tu_set(be, &e, ev);
    tu_set(be, &p, pv);
    tu_run(be, &(fm_call){.op = FM_OP_EMA, .t = {e, p}, .f = {0.9f}});
    tu_get(be, &e, got);
    tu_expect_close(got, want, 2, 1e-7, 1e-6, "ema step");
}

/* Twenty steps at the training decay 0.999 with the parameter changing every step,
 * against a double loop. Rounding per step ~6e-8 relative, 20 steps: 1e-5. */
Test(ema, twenty_steps_vs_double)
{
    fm_backend *be = tu_ref();
    enum { N = 29, STEPS = 20 };
    const float decay = 0.999f; /* widened as is in the double loop */
    fm_tensor e = t1(be, N), p = t1(be, N);
    float fe[N], fp[N];
    double de[N];
    tu_rand(be, &e, 301, -1.0f, 1.0f);
    tu_get(be, &e, fe);
    for (int i = 0; i < N; i++) {
        de[i] = fe[i];
    }
    for (int step = 0; step < STEPS; step++) {
        tu_rand(be, &p, 400 + (uint32_t)step, -3.0f, 3.0f);
        tu_get(be, &p, fp);
        tu_run(be, &(fm_call){.op = FM_OP_EMA, .t = {e, p}, .f = {decay}});
        for (int i = 0; i < N; i++) {
            de[i] = (double)decay * de[i] + (1.0 - (double)decay) * fp[i];
        }
    }
    float got[N], want[N];
    tu_get(be, &e, got);
    for (int i = 0; i < N; i++) {
        want[i] = (float)de[i];
    }
    tu_expect_close(got, want, N, 1e-5, 1e-5, "ema after 20 steps");
}

/* ----------------------------------------------------------- quantize_u8 */

static void quantize(fm_backend *be, const float *x, uint8_t *out, int64_t n)
{
    fm_tensor in = t1(be, n), q = tu_tensor(be, FM_U8, 1, n, 1, 1, 1);
    tu_set(be, &in, x);
    tu_run(be, &(fm_call){.op = FM_OP_QUANTIZE_U8, .t = {q, in}});
    cr_assert(fm_download(be, out, &q) == FM_OK);
}

/* y = (x + 1) * 127.5, clamped to [0, 255], rounded half away from zero:
 *   -1 -> 0, 1 -> 255, -2 -> -127.5 -> 0, 2 -> 382.5 -> 255, -inf -> 0, inf -> 255,
 *   0 -> 127.5 -> 128 (exact half, rounds up), -0.5 -> 63.75 -> 64,
 *   0.5 -> 191.25 -> 191, NaN -> 0 (documented in quantize_u8.c). */
Test(quantize_u8, hand_cases_and_clamps)
{
    fm_backend *be = tu_ref();
    const float x[10] = {-1, 1, -2, 2, -INFINITY, INFINITY, 0, -0.5f, 0.5f, NAN};
    const uint8_t want[10] = {0, 255, 0, 255, 0, 255, 128, 64, 191, 0};
    uint8_t got[10];
    quantize(be, x, got, 10);
    for (int i = 0; i < 10; i++) {
        cr_expect(got[i] == want[i], "quantize(%g) = %u, want %u", (double)x[i], got[i], want[i]);
    }
}

/* Exact halves: for every k in 0..254 look for a float x with (x + 1) * 127.5 == k +
 * 0.5 exactly in float arithmetic (the kernel's own expression), trying the nearest
 * floats to (k + 0.5) / 127.5 - 1. Each one found must give k + 1 and its neighbours
 * just below the half must give k. x = 0 (k = 127) is always exact, and more turn up. */
Test(quantize_u8, exact_halves_round_up)
{
    fm_backend *be = tu_ref();
    float xs[255 * 2];
    uint8_t want[255 * 2], got[255 * 2];
    int n = 0, halves = 0;
    for (int k = 0; k < 255; k++) {
        float x = (float)(((double)k + 0.5) / 127.5 - 1.0);
        float cand[3] = {nextafterf(x, -2.0f), x, nextafterf(x, 2.0f)};
        for (int j = 0; j < 3; j++) {
            if ((cand[j] + 1.0f) * 127.5f == (float)k + 0.5f) {
                xs[n] = cand[j];
                want[n++] = (uint8_t)(k + 1);
                halves++;
                /* the largest float below it lands below the half */
                float below = nextafterf(cand[j], -2.0f);
                if ((below + 1.0f) * 127.5f < (float)k + 0.5f) {
                    xs[n] = below;
                    want[n++] = (uint8_t)k;
                }
                break;
            }
        }
    }
    cr_assert(halves >= 1, "found %d exact halves", halves);
    quantize(be, xs, got, n);
    for (int i = 0; i < n; i++) {
        cr_expect(got[i] == want[i], "quantize(%.9g) = %u, want %u", (double)xs[i], got[i],
                  want[i]);
    }
    printf("quantize_u8: %d exact-half inputs checked\n", halves);
}

/* ------------------------------------------------------------------- rng */

#define TWO_PI_F 6.28318530717958647692f

/* The contract of philox.h, recomputed here independently of the kernel. */
static float ref_uniform(uint64_t seed, uint64_t e, uint32_t s)
{
    fm_philox4 r = fm_philox_element(seed, e, s);
    return (float)(r.v[0] >> 8) * (1.0f / 16777216.0f);
}

/* float arithmetic in the same order as the contract (philox.h) */
static float ref_normal(uint64_t seed, uint64_t e, uint32_t s)
{
    fm_philox4 r = fm_philox_element(seed, e, s);
    float u1 = (float)((r.v[0] >> 8) + 1u) * (1.0f / 16777216.0f);
    float u2 = (float)(r.v[1] >> 8) * (1.0f / 16777216.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(TWO_PI_F * u2);
}

static void rng(fm_backend *be, const fm_tensor *t, int dist, uint64_t seed, uint32_t stream)
{
    tu_run(be, &(fm_call){.op = FM_OP_RNG, .t = {*t}, .i = {dist}, .u = {seed, stream}});
}

/* Seed 0, stream 0, element 0 is Philox on counter 0 and key 0, the first
 * Random123 known answer: r0 = 0x6627e8d5, r1 = 0xe169c58d. So
 *   uniform = 0x6627e8 / 2^24 = 6694888 / 16777216 = 0.39904642105102539
 *   normal: u1 = 6694889 / 2^24 = 0.39904648, u2 = 0xe169c5 / 2^24 = 0.88052016,
 *           z = sqrt(-2 ln u1) cos(2 pi u2) = 1.3554906 * 0.7312020 = 0.9911375
 * (the normal's expected value is computed in double below; float logf/cosf and
 * the float product 2 pi u2 leave ~5e-7 of difference). */
Test(rng, known_first_element)
{
    fm_backend *be = tu_ref();
    fm_tensor t = t1(be, 1);
    float got;
    rng(be, &t, FM_RNG_UNIFORM, 0, 0);
    tu_get(be, &t, &got);
    cr_assert(got == 6694888.0f / 16777216.0f, "uniform(0,0,0) = %.9g", (double)got);

    double u1 = 6694889.0 / 16777216.0, u2 = 14772677.0 / 16777216.0;
    float want = (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2));
    rng(be, &t, FM_RNG_NORMAL, 0, 0);
    tu_get(be, &t, &got);
    tu_expect_close(&got, &want, 1, 1e-6, 1e-6, "normal(0,0,0)");
}

/* Element e is the flat index: a [2,3,4,5] tensor holds the same values as a flat
 * one of 120, each equal to the contract recomputed here, and the float path of
 * the normals agrees to float rounding with the same formula (same libm). */
Test(rng, exact_values_flat_index)
{
    fm_backend *be = tu_ref();
    fm_tensor t = t4(be, 2, 3, 4, 5), flat = t1(be, 120);
    const uint64_t seed = 0x0123456789abcdefull;
    const uint32_t stream = 7;
    float got[120], got_flat[120], want[120];

    rng(be, &t, FM_RNG_UNIFORM, seed, stream);
    rng(be, &flat, FM_RNG_UNIFORM, seed, stream);
    tu_get(be, &t, got);
    tu_get(be, &flat, got_flat);
    for (int e = 0; e < 120; e++) {
        want[e] = ref_uniform(seed, (uint64_t)e, stream);
    }
    tu_expect_close(got, want, 120, 0, 0, "uniform vs philox");
    tu_expect_close(got_flat, want, 120, 0, 0, "uniform flat vs 4-D");

    rng(be, &t, FM_RNG_NORMAL, seed, stream);
    tu_get(be, &t, got);
    for (int e = 0; e < 120; e++) {
        want[e] = ref_normal(seed, (uint64_t)e, stream);
    }
    tu_expect_close(got, want, 120, 1e-6, 1e-6, "normal vs philox");
}

/* u2, the first counter: R slices of n elements drawn with first = r n are the one
 * draw of R n elements (what each data-parallel rank relies on). */
Test(rng, slices_from_first_counter_are_the_whole_draw)
{
    fm_backend *be = tu_ref();
    enum { R = 3, N = 50 };
    fm_tensor whole = t1(be, R * N), part = t1(be, N);
    float w[R * N], p[N];
    for (int dist = FM_RNG_UNIFORM; dist <= FM_RNG_NORMAL; dist++) {
        rng(be, &whole, dist, 5, 9);
        tu_get(be, &whole, w);
        for (int r = 0; r < R; r++) {
            tu_run(be, &(fm_call){.op = FM_OP_RNG, .t = {part}, .i = {dist},
                                  .u = {5, 9, (uint64_t)r * N}});
            tu_get(be, &part, p);
            tu_expect_close(p, w + r * N, N, 0, 0, "slice r of the whole draw");
        }
    }
}

/* Same seed and stream: identical. Another stream, or a seed differing only in its
 * high 32 bits (the second key word): different in (almost) every element. */
Test(rng, determinism_and_independence)
{
    fm_backend *be = tu_ref();
    enum { N = 1000 };
    fm_tensor t = t1(be, N);
    static float a[N], b[N], c[N], d[N];
    const uint64_t seed = 42;
    rng(be, &t, FM_RNG_UNIFORM, seed, 3);
    tu_get(be, &t, a);
    rng(be, &t, FM_RNG_UNIFORM, seed, 3);
    tu_get(be, &t, b);
    rng(be, &t, FM_RNG_UNIFORM, seed, 4);
    tu_get(be, &t, c);
    rng(be, &t, FM_RNG_UNIFORM, seed | (1ull << 32), 3);
    tu_get(be, &t, d);
    cr_assert(memcmp(a, b, sizeof a) == 0, "same seed and stream must repeat");
    int same_stream = 0, same_seed = 0;
    for (int i = 0; i < N; i++) {
        same_stream += a[i] == c[i];
        same_seed += a[i] == d[i];
    }
    /* two independent 24-bit values collide with probability 2^-24 */
    cr_assert(same_stream <= 1, "%d of %d equal across streams", same_stream, N);
    cr_assert(same_seed <= 1, "%d of %d equal across seed high words", same_seed, N);
}

/* 1e5 samples. Uniform: all in [0, 1); mean 1/2 +- 5 sigma with sigma =
 * sqrt(1/12 / 1e5) = 9.1e-4; variance 1/12 +- 5 * sqrt((1/80 - 1/144) / 1e5) = 3.7e-4.
 * Normal: finite, |z| <= 5.77 (u1 >= 2^-24); mean 0 +- 5 / sqrt(1e5) = 0.016;
 * variance 1 +- 5 sqrt(2 / 1e5) = 0.022. Deterministic, so these either always pass
 * or always fail; the 5-sigma bounds only say the generator is not badly broken. */
Test(rng, moments)
{
    fm_backend *be = tu_ref();
    enum { N = 100000 };
    fm_tensor t = t1(be, N);
    float *x = malloc(N * sizeof(float));
    cr_assert(x);

    rng(be, &t, FM_RNG_UNIFORM, 1234, 0);
    tu_get(be, &t, x);
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(x[i] >= 0.0f && x[i] < 1.0f, "uniform[%d] = %g", i, (double)x[i]);
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    double mean = s / N, var = s2 / N - mean * mean;
    printf("rng uniform: mean %.5f var %.5f\n", mean, var);
    cr_assert(fabs(mean - 0.5) < 5 * 9.1e-4, "uniform mean %g", mean);
    cr_assert(fabs(var - 1.0 / 12.0) < 5 * 3.7e-4, "uniform var %g", var);

    rng(be, &t, FM_RNG_NORMAL, 1234, 1);
    tu_get(be, &t, x);
    s = s2 = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(isfinite(x[i]) && fabsf(x[i]) <= 5.78f, "normal[%d] = %g", i, (double)x[i]);
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    mean = s / N;
    var = s2 / N - mean * mean;
    printf("rng normal: mean %.5f var %.5f\n", mean, var);
    cr_assert(fabs(mean) < 0.016, "normal mean %g", mean);
    cr_assert(fabs(var - 1.0) < 0.022, "normal var %g", var);
    free(x);
}
