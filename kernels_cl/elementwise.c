/* Host glue of the plain elementwise ops: one table line each instead of one file.
 *
 * A plain elementwise op's kernel (kernels_cl/<op>.cl) takes, in this order:
 *   every tensor of the call in slot order (ops.h), each as (buffer, element offset);
 *   int n: the element count of its first present written tensor;
 *   the scalars of its line below;
 *   int has_<slot> for each optional (upper-case) slot, in slot order;
 * and runs one work-item per element (fm_cl_run1d over n). When every written slot is
 * optional and absent there is nothing to write: no launch.
 *
 * Scalars (k: an index into c->f or c->t):
 *   F(k)            float  c->f[k]
 *   ONE_MINUS_F(k)  float  1 - c->f[k]
 *   TWICE_F_N(k)    float  2 c->f[k] / n      (the gradient of a mean of squares)
 *   PER_SAMPLE(k)   int    n / numel(t[k])    (t[k] holds one value per sample)
 *   H(k), W(k)      int    t[k]'s shape[2], shape[3]
 *   HW(k)           int    shape[2] * shape[3] of t[k]
 *   DIM1(k), DIM2(k) int   t[k]'s shape[1], shape[2] (T and D of tokens [B,T,D])
 *   PARAM_I(k)      int    c->i[k]
 *
 * A new elementwise op: its kernel in kernels_cl/<op>.cl and a line here. Ops with
 * their own launch geometry, reductions or other host logic keep a file <op>.c. */
#include <ctype.h>

#include "cl.h"

enum { END, S_F, S_ONE_MINUS_F, S_TWICE_F_N, S_PER_SAMPLE, S_H, S_W, S_HW, S_DIM1, S_DIM2, S_I };
#define NONE END
#define F(k) (S_F << 4 | (k))
#define ONE_MINUS_F(k) (S_ONE_MINUS_F << 4 | (k))
#define TWICE_F_N(k) (S_TWICE_F_N << 4 | (k))
#define PER_SAMPLE(k) (S_PER_SAMPLE << 4 | (k))
#define H(k) (S_H << 4 | (k))
#define W(k) (S_W << 4 | (k))
#define HW(k) (S_HW << 4 | (k))
#define DIM1(k) (S_DIM1 << 4 | (k))
#define DIM2(k) (S_DIM2 << 4 | (k))
#define PARAM_I(k) (S_I << 4 | (k))

/* X(op name, kernel name, scalars or NONE) */
#define FM_CL_ELEMENTWISE(X)                                                                       \
    X(silu_fwd, "silu_fwd", NONE)                                                                  \
    X(silu_bwd, "silu_bwd", NONE)                                                                  \
    X(bias_add_fwd, "bias_add_fwd", HW(0))                                                         \
    X(add_fwd, "add_fwd", NONE)                                                                    \
    X(add_bwd, "add_bwd", NONE)                                                                    \
    X(upsample2x_fwd, "upsample2x_fwd", H(1), W(1))                                                \
    X(upsample2x_bwd, "upsample2x_bwd", H(0), W(0))                                                \
    X(mse_bwd, "mse_bwd", TWICE_F_N(0))                                                            \
    X(fm_interp_fwd, "fm_interp_fwd", PER_SAMPLE(4))                                               \
    X(fm_interp_bwd, "fm_interp_bwd", PER_SAMPLE(4))                                               \
    X(axpby_fwd, "axpby_fwd", F(0), F(1))                                                          \
    X(axpby_bwd, "axpby_bwd", F(0), F(1))                                                          \
    X(sum_bwd, "sum_bwd", NONE)                                                                    \
    X(adamw, "adamw_update", F(0), F(1), F(2), F(3), F(4), F(5), F(6))                             \
    X(ema, "ema_update", F(0), ONE_MINUS_F(0))                                                     \
    X(quantize_u8, "quantize_u8_fwd", NONE)                                                        \
    X(gelu_fwd, "gelu_fwd", PARAM_I(0))                                                            \
    X(gelu_bwd, "gelu_bwd", PARAM_I(0))                                                            \
    X(gated_add_fwd, "gated_add_fwd", DIM1(1), DIM2(1))                                            \
    X(transpose, "transpose", DIM1(1), DIM2(1))                                                    \
    X(unpatchify_fwd, "unpatchify_fwd", DIM1(0), H(0), W(0), PARAM_I(0))                           \
    X(unpatchify_bwd, "unpatchify_bwd", DIM1(1), H(1), W(1), PARAM_I(0))                           \
    X(reparam_bwd, "reparam_bwd", DIM1(2), HW(2), F(0))

#define MAX_SCALARS 8

typedef struct ew_line {
    const char *kernel;
    unsigned char scalars[MAX_SCALARS]; /* up to the first END */
} ew_line;

static fm_status arg_scalar(fm_backend *be, cl_kernel k, cl_uint *a, const fm_call *c, int code,
                            int n)
{
    int i = code & 15;
    switch (code >> 4) {
    case S_F: return fm_cl_arg_float(be, k, a, c->f[i]);
    case S_ONE_MINUS_F: return fm_cl_arg_float(be, k, a, 1.0f - c->f[i]);
    case S_TWICE_F_N: return fm_cl_arg_float(be, k, a, 2.0f * c->f[i] / (float)n);
    case S_PER_SAMPLE:
        return fm_cl_arg_int(be, k, a, (int)((int64_t)n / fm_tensor_numel(&c->t[i])));
    case S_H: return fm_cl_arg_int(be, k, a, (int)c->t[i].shape[2]);
    case S_W: return fm_cl_arg_int(be, k, a, (int)c->t[i].shape[3]);
    case S_HW: return fm_cl_arg_int(be, k, a, (int)(c->t[i].shape[2] * c->t[i].shape[3]));
    case S_DIM1: return fm_cl_arg_int(be, k, a, (int)c->t[i].shape[1]);
    case S_DIM2: return fm_cl_arg_int(be, k, a, (int)c->t[i].shape[2]);
    case S_I: return fm_cl_arg_int(be, k, a, (int)c->i[i]);
    default: return fm_fail(be, FM_ERR_ARG, "opencl: scalar code %d", code);
    }
}

/* The first present written ('o', 'a', either case) tensor; NULL when none is. */
static const fm_tensor *first_output(const fm_call *c, const fm_op_info *info)
{
    for (int i = 0; i < info->ntensors; i++)
        if (tolower((unsigned char)info->slots[i]) != 'i' && fm_tensor_present(&c->t[i]))
            return &c->t[i];
    return NULL;
}

static fm_status elementwise(fm_backend *be, const fm_call *c, const ew_line *line)
{
    const fm_op_info *info = fm_op_get_info(c->op);
    const fm_tensor *out = first_output(c, info);
    if (!out)
        return FM_OK;
    int n = (int)fm_tensor_numel(out);
    cl_kernel k;
    cl_uint a = 0;
    FM_TRY(fm_cl_kernel(be, line->kernel, &k));
    for (int i = 0; i < info->ntensors; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    for (int s = 0; s < MAX_SCALARS && line->scalars[s] != END; s++)
        FM_TRY(arg_scalar(be, k, &a, c, line->scalars[s], n));
    for (int i = 0; i < info->ntensors; i++)
        if (isupper((unsigned char)info->slots[i]))
            FM_TRY(fm_cl_arg_int(be, k, &a, fm_tensor_present(&c->t[i])));
    return fm_cl_run1d(be, k, (size_t)n);
}

/* fm_cl_<op> for each line: its table entry (backend.c), a call of elementwise. */
#define FM_X(name, kernel_name, ...)                                                               \
    fm_status fm_cl_##name(fm_backend *be, const fm_call *c)                                       \
    {                                                                                              \
        static const ew_line line = {.kernel = kernel_name, .scalars = {__VA_ARGS__}};             \
        return elementwise(be, c, &line);                                                          \
    }
FM_CL_ELEMENTWISE(FM_X)
#undef FM_X
