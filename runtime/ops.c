/* The op table's names and the shape rules of ops.h, checked once here for every
 * backend (TensorFlow Lite Micro's "prepare"): a kernel never sees a call whose
 * shapes disagree. No maths lives here. */
#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "size.h"

/* The slot facts of FM_OP_LIST as three strings per op, one pass each (FM_S is
 * redefined per pass; every string is a compile-time literal). */
#define FM_ROW(id, nm, sl) [FM_OP_##id] = sl,
#define FM_S(role, name, dtype) #role
static const char op_roles[FM_OP_COUNT][FM_CALL_TENSORS + 1] = {FM_OP_LIST(FM_ROW)};
#undef FM_S
#define FM_S(role, name, dtype) #name " "
static const char op_names[FM_OP_COUNT][FM_CALL_TENSORS * 12] = {FM_OP_LIST(FM_ROW)};
#undef FM_S
#define FM_DTYPE_f32 "f"
#define FM_DTYPE_i32 "i"
#define FM_DTYPE_u8 "u"
#define FM_S(role, name, dtype) FM_DTYPE_##dtype
static const char op_dtypes[FM_OP_COUNT][FM_CALL_TENSORS + 1] = {FM_OP_LIST(FM_ROW)};
#undef FM_S
#undef FM_ROW

#define FM_S(role, name, dtype) #role
static const fm_op_info infos[FM_OP_COUNT] = {
#define FM_X(id, nm, sl)                                                                           \
    [FM_OP_##id] = {#nm, op_roles[FM_OP_##id], op_dtypes[FM_OP_##id], op_names[FM_OP_##id],        \
                    (int)sizeof(sl) - 1},
    FM_OP_LIST(FM_X)
#undef FM_X
};
#undef FM_S

const fm_op_info *fm_op_get_info(fm_op op)
{
    return (unsigned)op < FM_OP_COUNT ? &infos[op] : NULL;
}

fm_op fm_op_from_name(const char *name)
{
    for (int i = 0; i < FM_OP_COUNT; i++)
        if (strcmp(infos[i].name, name) == 0)
            return (fm_op)i;
    return FM_OP_COUNT;
}

fm_dtype fm_op_slot_dtype(fm_op op, int k)
{
    const fm_op_info *info = fm_op_get_info(op);
    if (!info || k < 0 || k >= info->ntensors)
        return FM_F32;
    return info->dtypes[k] == 'i' ? FM_I32 : info->dtypes[k] == 'u' ? FM_U8 : FM_F32;
}

const char *fm_op_slot_name(fm_op op, int k, char *buf, size_t len)
{
    const fm_op_info *info = fm_op_get_info(op);
    snprintf(buf, len, "t%d", k);
    if (!info || k < 0 || k >= info->ntensors)
        return buf;
    const char *s = info->names;
    for (int j = 0; j < k; j++)
        s = strchr(s, ' ') + 1;
    snprintf(buf, len, "%.*s", (int)strcspn(s, " "), s);
    return buf;
}

typedef struct chk {
    const fm_call *c;
    char *msg;
    size_t len;
    fm_status s;
    char names[FM_CALL_TENSORS][16]; /* slot names, written only for a message */
} chk;

/* The name of tensor i of the call ("w", "dout"): messages say which tensor. */
static const char *NM(chk *k, int i)
{
    return fm_op_slot_name(k->c->op, i, k->names[i], sizeof k->names[i]);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(chk *k, const char *fmt, ...)
{
    if (k->s != FM_OK)
        return 0;
    int n = snprintf(k->msg, k->len, "%s: ", infos[k->c->op].name);
    if (n > 0 && (size_t)n < k->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(k->msg + n, k->len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    k->s = FM_ERR_ARG;
    return 0;
}

static const fm_tensor *T(chk *k, int i)
{
    return &k->c->t[i];
}
static int64_t D(chk *k, int i, int d)
{
    return k->c->t[i].shape[d];
}
static int has(chk *k, int i)
{
    return k->c->t[i].ndim > 0;
}
static int64_t numel(chk *k, int i)
{
    return fm_tensor_numel(&k->c->t[i]);
}

/* Tensor i has exactly the dims given (-1 = any). */
static void dims(chk *k, int i, int nd, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t want[4] = {a, b, c, d};
    char got[64];
    if (!has(k, i))
        return;
    if (T(k, i)->ndim != nd) {
        fail(k, "tensor %d (%s) has shape %s, expected %d dimensions", i, NM(k, i),
             fm_tensor_shape_str(T(k, i), got, sizeof got), nd);
        return;
    }
    for (int j = 0; j < nd; j++)
        if (want[j] >= 0 && D(k, i, j) != want[j]) {
            fail(k, "tensor %d (%s) has shape %s, dimension %d should be %lld", i, NM(k, i),
                 fm_tensor_shape_str(T(k, i), got, sizeof got), j, (long long)want[j]);
            return;
        }
}

/* a * b, or a failed check when the product overflows: shapes can come from a
 * file's config, so products of dims taken from different tensors (which no
 * single allocation has bounded) must not wrap. */
static int64_t mul(chk *k, int64_t a, int64_t b)
{
    int64_t r;
    if (!fm_mul_i64(a, b, &r)) {
        fail(k, "size %lld x %lld overflows", (long long)a, (long long)b);
        return -1;
    }
    return r;
}

static void same_numel(chk *k, int i, int j)
{
    if (has(k, i) && has(k, j) && numel(k, i) != numel(k, j))
        fail(k, "tensor %d (%s) has %lld elements, tensor %d (%s) has %lld", i, NM(k, i),
             (long long)numel(k, i), j, NM(k, j), (long long)numel(k, j));
}

static void want_numel(chk *k, int i, int64_t n)
{
    if (has(k, i) && numel(k, i) != n)
        fail(k, "tensor %d (%s) has %lld elements, expected %lld", i, NM(k, i),
             (long long)numel(k, i), (long long)n);
}

static void same_shape(chk *k, int i, int j)
{
    char a[64], b[64];
    if (has(k, i) && has(k, j) && !fm_tensor_same_shape(T(k, i), T(k, j)))
        fail(k, "tensor %d (%s) has shape %s, tensor %d (%s) has %s", i, NM(k, i),
             fm_tensor_shape_str(T(k, i), a, sizeof a), j, NM(k, j),
             fm_tensor_shape_str(T(k, j), b, sizeof b));
}

/* conv2d: tensors out/dout (o), in (x), w; bias / bias-grad (b) optional. */
static void conv_shapes(chk *k, int o, int x, int w, int b)
{
    int s = k->c->i[0], p = k->c->i[1];
    if (s < 1 || p < 0) {
        fail(k, "stride %d / pad %d invalid", s, p);
        return;
    }
    dims(k, x, 4, -1, -1, -1, -1);
    dims(k, w, 4, -1, D(k, x, 1), -1, D(k, w, 2));
    if (k->s != FM_OK)
        return;
    int64_t K = D(k, w, 2), H = D(k, x, 2), W = D(k, x, 3);
    if (H + 2 * p < K || W + 2 * p < K) {
        fail(k, "kernel %lld larger than padded input %lldx%lld", (long long)K, (long long)H,
             (long long)W);
        return;
    }
    dims(k, o, 4, D(k, x, 0), D(k, w, 0), (H + 2 * p - K) / s + 1, (W + 2 * p - K) / s + 1);
    dims(k, b, 1, D(k, w, 0), -1, -1, -1);
}

static void groupnorm_shapes(chk *k, int x, int mean, int rstd, int gamma, int beta)
{
    int G = k->c->i[0];
    dims(k, x, 4, -1, -1, -1, -1);
    if (k->s != FM_OK)
        return;
    if (G < 1 || D(k, x, 1) % G != 0) {
        fail(k, "%lld channels do not split into %d groups", (long long)D(k, x, 1), G);
        return;
    }
    int64_t nG = mul(k, D(k, x, 0), G);
    if (k->s != FM_OK)
        return;
    want_numel(k, mean, nG);
    want_numel(k, rstd, nG);
    dims(k, gamma, 1, D(k, x, 1), -1, -1, -1);
    dims(k, beta, 1, D(k, x, 1), -1, -1, -1);
}

static void linear_shapes(chk *k, int o, int x, int w, int b)
{
    dims(k, x, 2, -1, -1, -1, -1);
    dims(k, w, 2, -1, D(k, x, 1), -1, -1);
    dims(k, o, 2, D(k, x, 0), D(k, w, 0), -1, -1);
    dims(k, b, 1, D(k, w, 0), -1, -1, -1);
}

static void attention_shapes(chk *k, int o, int att, int qkv)
{
    int heads = k->c->i[0];
    dims(k, qkv, 4, -1, -1, -1, -1);
    if (k->s != FM_OK)
        return;
    int64_t C = D(k, qkv, 1) / 3, L = D(k, qkv, 2) * D(k, qkv, 3);
    if (D(k, qkv, 1) % 3 != 0 || heads < 1 || C % heads != 0) {
        fail(k, "qkv has %lld channels: not 3 x a multiple of %d heads", (long long)D(k, qkv, 1),
             heads);
        return;
    }
    dims(k, o, 4, D(k, qkv, 0), C, D(k, qkv, 2), D(k, qkv, 3));
    int64_t natt = mul(k, mul(k, mul(k, D(k, qkv, 0), heads), L), L);
    if (k->s == FM_OK)
        want_numel(k, att, natt);
}

/* ---- the shape rules, one per op (ops.h gives the shapes) ----------------------- */

static void rule_conv2d_fwd(chk *k)
{
    conv_shapes(k, 0, 1, 2, 3);
    if (k->s == FM_OK)
        dims(k, 4, 2, D(k, 0, 0), D(k, 0, 1), -1, -1);
    same_shape(k, 5, 0);
}

static void rule_conv2d_bwd(chk *k)
{
    conv_shapes(k, 3, 4, 5, 2);
    same_shape(k, 0, 4);
    same_shape(k, 1, 5);
}

static void rule_groupnorm_fwd(chk *k)
{
    groupnorm_shapes(k, 3, 1, 2, 4, 5);
    same_shape(k, 0, 3);
    if (!(k->c->f[0] > 0))
        fail(k, "eps must be > 0");
    if (k->c->i[1] != FM_GN_ACT_NONE && k->c->i[1] != FM_GN_ACT_SILU)
        fail(k, "activation i1 = %d unknown (0 none, 1 SiLU)", (int)k->c->i[1]);
}

static void rule_groupnorm_bwd(chk *k)
{
    groupnorm_shapes(k, 4, 5, 6, 7, 1);
    dims(k, 2, 1, D(k, 4, 1), -1, -1, -1);
    same_shape(k, 0, 4);
    same_shape(k, 3, 4);
}

static void rule_silu_fwd(chk *k)
{
    same_numel(k, 0, 1);
}

/* Tensors 0 and 1 (either absent where optional) have tensor 2's element count: an
 * elementwise backward (din, dout, in; da?, db?, dout). */
static void two_like_third(chk *k)
{
    same_numel(k, 0, 2);
    same_numel(k, 1, 2);
}

static void rule_silu_bwd(chk *k)
{
    two_like_third(k);
}

static void rule_linear_fwd(chk *k)
{
    linear_shapes(k, 0, 1, 2, 3);
}

static void rule_linear_bwd(chk *k)
{
    linear_shapes(k, 3, 4, 5, 2);
    same_shape(k, 0, 4);
    same_shape(k, 1, 5);
}

static void rule_bias_add_fwd(chk *k)
{
    dims(k, 1, 4, -1, -1, -1, -1);
    same_shape(k, 0, 1);
    want_numel(k, 2, D(k, 1, 0) * D(k, 1, 1));
}

static void rule_bias_add_bwd(chk *k)
{
    dims(k, 1, 4, -1, -1, -1, -1);
    want_numel(k, 0, D(k, 1, 0) * D(k, 1, 1));
}

/* out = f(a, b) elementwise, and its backward (da?, db?, dout). */
static void rule_add_fwd(chk *k)
{
    same_numel(k, 0, 1);
    same_numel(k, 0, 2);
}

static void rule_add_bwd(chk *k)
{
    two_like_third(k);
}

static void rule_axpby_fwd(chk *k)
{
    rule_add_fwd(k);
}
static void rule_axpby_bwd(chk *k)
{
    rule_add_bwd(k);
}

static void rule_upsample2x_fwd(chk *k)
{
    dims(k, 1, 4, -1, -1, -1, -1);
    dims(k, 0, 4, D(k, 1, 0), D(k, 1, 1), 2 * D(k, 1, 2), 2 * D(k, 1, 3));
}

static void rule_upsample2x_bwd(chk *k)
{
    dims(k, 0, 4, -1, -1, -1, -1);
    dims(k, 1, 4, D(k, 0, 0), D(k, 0, 1), 2 * D(k, 0, 2), 2 * D(k, 0, 3));
}

/* out[N,Ca+Cb,H,W] and its parts a, b (tensor indices o, a, b). */
static void concat_shapes(chk *k, int o, int a, int b)
{
    dims(k, o, 4, -1, -1, -1, -1);
    dims(k, a, 4, D(k, o, 0), -1, D(k, o, 2), D(k, o, 3));
    dims(k, b, 4, D(k, o, 0), D(k, o, 1) - D(k, a, 1), D(k, o, 2), D(k, o, 3));
}

static void rule_concat_fwd(chk *k)
{
    concat_shapes(k, 0, 1, 2);
}
static void rule_concat_bwd(chk *k)
{
    concat_shapes(k, 2, 0, 1);
}

static void rule_attention_fwd(chk *k)
{
    attention_shapes(k, 0, 1, 2);
}

static void rule_attention_bwd(chk *k)
{
    attention_shapes(k, 2, 4, 3);
    same_shape(k, 0, 3);
    if (k->s != FM_OK)
        return;
    /* fm_attention_ws_floats(L) = 2 L^2, spelled out with checked products. */
    int64_t L = mul(k, D(k, 3, 2), D(k, 3, 3)), ws = mul(k, 2, mul(k, L, L));
    if (k->s == FM_OK && numel(k, 1) < ws)
        fail(k, "workspace has %lld floats, needs %lld", (long long)numel(k, 1), (long long)ws);
}

/* emb[N,D] (tensor o) and t[N] (tensor t). */
static void timeemb_shapes(chk *k, int o, int t)
{
    dims(k, o, 2, -1, -1, -1, -1);
    if (k->s == FM_OK && (D(k, o, 1) < 4 || D(k, o, 1) % 2))
        fail(k, "embedding width %lld must be even and >= 4", (long long)D(k, o, 1));
    want_numel(k, t, D(k, o, 0));
}

static void rule_timeemb_fwd(chk *k)
{
    timeemb_shapes(k, 0, 1);
}

static void rule_timeemb_bwd(chk *k)
{
    timeemb_shapes(k, 1, 2);
    want_numel(k, 0, D(k, 1, 0));
}

/* out[N,D] (tensor o), table[R,D] (tensor tab), idx[N] (tensor 2). */
static void embed_shapes(chk *k, int o, int tab)
{
    dims(k, tab, 2, -1, -1, -1, -1);
    dims(k, o, 2, -1, D(k, tab, 1), -1, -1);
    want_numel(k, 2, D(k, o, 0));
}

static void rule_embed_fwd(chk *k)
{
    embed_shapes(k, 0, 1);
}
static void rule_embed_bwd(chk *k)
{
    embed_shapes(k, 1, 0);
}

/* Tensor p: the [N,K] input (logits, or probs in the backward); tensor x: the [N,K]
 * output of the same shape (probs, or dlogits); tensor lab: labels[N]. K >= 2: with
 * one class the loss is identically zero. */
static void xent_shapes(chk *k, int p, int x, int lab)
{
    dims(k, p, 2, -1, -1, -1, -1);
    if (k->s == FM_OK && D(k, p, 1) < 2)
        fail(k, "tensor %d (%s) has %lld classes, expected at least 2", p, NM(k, p),
             (long long)D(k, p, 1));
    same_shape(k, x, p);
    if (k->s == FM_OK)
        want_numel(k, lab, D(k, p, 0));
}

static void rule_softmax_xent_fwd(chk *k)
{
    want_numel(k, 0, 1);
    xent_shapes(k, 2, 1, 3);
}
static void rule_softmax_xent_bwd(chk *k)
{
    xent_shapes(k, 1, 0, 2);
}

static void rule_mse_fwd(chk *k)
{
    want_numel(k, 0, 1);
    same_numel(k, 1, 2);
}

static void rule_mse_bwd(chk *k)
{
    same_numel(k, 2, 3);
    same_numel(k, 0, 2);
    same_numel(k, 1, 2);
}

/* Four same-sized tensors (any absent) and t[N] in slot 4, N their batch. */
static void interp_shapes(chk *k)
{
    int t = 4, ref = -1;
    for (int i = 0; i < 4; i++)
        if (has(k, i)) {
            if (ref < 0)
                ref = i;
            same_numel(k, i, ref);
        }
    if (ref >= 0 && k->s == FM_OK &&
        (numel(k, t) < 1 || numel(k, ref) % numel(k, t) != 0 || D(k, ref, 0) != numel(k, t)))
        fail(k, "t has %lld elements, the batch is %lld", (long long)numel(k, t),
             (long long)D(k, ref, 0));
}

static void rule_fm_interp_fwd(chk *k)
{
    interp_shapes(k);
}
static void rule_fm_interp_bwd(chk *k)
{
    interp_shapes(k);
}

/* mom [N,2Z,h,w]; z, dz, eps [N,Z,h,w] (any absent); kl [1]. */
static void reparam_shapes(chk *k, int mom, int z, int eps)
{
    dims(k, mom, 4, -1, -1, -1, -1);
    if (k->s == FM_OK && D(k, mom, 1) % 2 != 0)
        fail(k, "tensor %d (%s) has %lld channels, expected 2Z (mean and log-variance)", mom,
             NM(k, mom), (long long)D(k, mom, 1));
    dims(k, z, 4, D(k, mom, 0), D(k, mom, 1) / 2, D(k, mom, 2), D(k, mom, 3));
    dims(k, eps, 4, D(k, mom, 0), D(k, mom, 1) / 2, D(k, mom, 2), D(k, mom, 3));
}

static void rule_reparam_fwd(chk *k)
{
    want_numel(k, 1, 1);
    reparam_shapes(k, 2, 0, 3);
}
static void rule_reparam_bwd(chk *k)
{
    reparam_shapes(k, 2, 1, 3);
    same_shape(k, 0, 2);
}

static void rule_sum_fwd(chk *k)
{
    want_numel(k, 0, 1);
}
static void rule_sum_bwd(chk *k)
{
    want_numel(k, 1, 1);
}

static void rule_adamw(chk *k)
{
    const float *f = k->c->f;
    for (int i = 1; i < 4; i++)
        same_numel(k, i, 0);
    /* A beta outside [0, 1) is what makes a bias correction 1 - beta^step <= 0 (or the
     * moments diverge): name it before the corrections. fail() keeps the first
     * message; the comparisons are written so that NaN fails. */
    for (int b = 1; b <= 2; b++)
        if (!(f[b] >= 0 && f[b] < 1))
            fail(k, "beta%d %g is outside [0, 1)", b, (double)f[b]);
    if (!(f[5] > 0 && f[6] > 0))
        fail(k,
             "bias corrections f5 = 1 - beta1^step = %g and f6 = 1 - beta2^step = %g "
             "must be > 0 (step >= 1)",
             (double)f[5], (double)f[6]);
}

static void rule_ema(chk *k)
{
    same_numel(k, 0, 1);
}
static void rule_quantize_u8(chk *k)
{
    same_numel(k, 0, 1);
}

static void rule_rng(chk *k)
{
    if (k->c->i[0] != FM_RNG_UNIFORM && k->c->i[0] != FM_RNG_NORMAL)
        fail(k, "distribution %d unknown", (int)k->c->i[0]);
}

/* ---- token ops: x[B,T,D] rows, per-sample vectors [B,D] ---------------------------- */

/* Tensor x is [B,T,D]; tensors s1, s2 (either absent, or -1) are [B,D]. */
static void token_shapes(chk *k, int x, int s1, int s2)
{
    dims(k, x, 3, -1, -1, -1, -1);
    if (k->s != FM_OK)
        return;
    if (s1 >= 0)
        dims(k, s1, 2, D(k, x, 0), D(k, x, 2), -1, -1);
    if (s2 >= 0)
        dims(k, s2, 2, D(k, x, 0), D(k, x, 2), -1, -1);
}

/* Layer norm: x (in), its statistics mean, rstd [B,T]. */
static void layernorm_shapes(chk *k, int x, int mean, int rstd)
{
    dims(k, x, 3, -1, -1, -1, -1);
    if (k->s != FM_OK)
        return;
    want_numel(k, mean, D(k, x, 0) * D(k, x, 1));
    want_numel(k, rstd, D(k, x, 0) * D(k, x, 1));
}

static void layernorm_form(chk *k)
{
    if (k->c->i[0] != FM_LN_ADALN && k->c->i[0] != FM_LN_AFFINE)
        fail(k, "form %d is not 0 (adaLN) or 1 (affine)", (int)k->c->i[0]);
}

static void rule_layernorm_fwd(chk *k)
{
    layernorm_form(k);
    layernorm_shapes(k, 3, 1, 2);
    token_shapes(k, 3, 4, 5);
    same_shape(k, 0, 3);
    if (!(k->c->f[0] > 0))
        fail(k, "eps must be > 0");
}

static void rule_layernorm_bwd(chk *k)
{
    layernorm_form(k);
    layernorm_shapes(k, 4, 5, 6);
    token_shapes(k, 4, 1, 2);
    token_shapes(k, 4, 7, -1);
    same_shape(k, 0, 4);
    same_shape(k, 3, 4);
}

static void gelu_form(chk *k)
{
    if (k->c->i[0] != FM_GELU_TANH && k->c->i[0] != FM_GELU_QUICK)
        fail(k, "form %d is not 0 (tanh) or 1 (quick)", (int)k->c->i[0]);
}

static void rule_gelu_fwd(chk *k)
{
    gelu_form(k);
    same_numel(k, 0, 1);
}
static void rule_gelu_bwd(chk *k)
{
    gelu_form(k);
    two_like_third(k);
}

/* Attention between sequences: q[N,Lq,C] (tensor q), k and v [N,Lk,C], out (or dout)
 * like q, att[N,heads,Lq,Lk], i0 heads. */
static void xattn_shapes(chk *k, int o, int att, int q, int kk, int v)
{
    int heads = k->c->i[0];
    dims(k, q, 3, -1, -1, -1, -1);
    if (k->s != FM_OK)
        return;
    int64_t N = D(k, q, 0), Lq = D(k, q, 1), C = D(k, q, 2);
    if (heads < 1 || C % heads != 0) {
        fail(k, "q has width %lld: not a multiple of %d heads", (long long)C, heads);
        return;
    }
    if (k->c->i[1] != 0 && k->c->i[1] != 1) {
        fail(k, "causal is %d, not 0 or 1", (int)k->c->i[1]);
        return;
    }
    dims(k, kk, 3, N, -1, C, -1);
    dims(k, v, 3, N, has(k, kk) ? D(k, kk, 1) : -1, C, -1);
    dims(k, o, 3, N, Lq, C, -1);
    if (k->s == FM_OK)
        dims(k, att, 4, N, heads, Lq, D(k, kk, 1));
}

static void rule_xattn_fwd(chk *k)
{
    xattn_shapes(k, 0, 1, 2, 3, 4);
    if (k->s == FM_OK)
        dims(k, 5, 2, D(k, 2, 0), D(k, 3, 1), -1, -1);
}

static void rule_xattn_bwd(chk *k)
{
    xattn_shapes(k, 4, 8, 5, 6, 7);
    same_shape(k, 0, 5);
    same_shape(k, 1, 6);
    same_shape(k, 2, 7);
    same_shape(k, 3, 8);
}

static void rule_gated_add_fwd(chk *k)
{
    token_shapes(k, 1, 2, -1);
    same_shape(k, 0, 1);
    same_shape(k, 3, 1);
}

static void rule_gated_add_bwd(chk *k)
{
    token_shapes(k, 2, 3, 1);
    same_shape(k, 4, 2);
    same_shape(k, 0, 2);
}

static void rule_transpose(chk *k)
{
    dims(k, 1, 3, -1, -1, -1, -1);
    dims(k, 0, 3, D(k, 1, 0), D(k, 1, 2), D(k, 1, 1), -1);
}

/* Unpatchify: image [B,C,H,W] (tensor img), tokens [B,T,p*p*C] (tensor tok), i0 p. */
static void unpatchify_shapes(chk *k, int img, int tok)
{
    int64_t p = k->c->i[0];
    dims(k, img, 4, -1, -1, -1, -1);
    if (k->s != FM_OK)
        return;
    if (p < 1 || D(k, img, 2) % p || D(k, img, 3) % p) {
        fail(k, "patch %lld does not divide the image %lldx%lld", (long long)p,
             (long long)D(k, img, 2), (long long)D(k, img, 3));
        return;
    }
    int64_t T = mul(k, D(k, img, 2) / p, D(k, img, 3) / p), P = mul(k, mul(k, p, p), D(k, img, 1));
    if (k->s == FM_OK)
        dims(k, tok, 3, D(k, img, 0), T, P, -1);
}

static void rule_unpatchify_fwd(chk *k)
{
    unpatchify_shapes(k, 0, 1);
}
static void rule_unpatchify_bwd(chk *k)
{
    unpatchify_shapes(k, 1, 0);
}

static void (*const rules[FM_OP_COUNT])(chk *k) = {
#define FM_X(id, name, slots) [FM_OP_##id] = rule_##name,
    FM_OP_LIST(FM_X)
#undef FM_X
};

fm_status fm_op_check(const fm_call *c, char *msg, size_t len)
{
    /* names stay unset: fm_run calls this for every op, and a name is written only for
     * a message. */
    chk k;
    k.c = c, k.msg = msg, k.len = len, k.s = FM_OK;
    const fm_op_info *info = fm_op_get_info(c->op);
    if (!info) {
        snprintf(msg, len, "unknown op %d", (int)c->op);
        return FM_ERR_ARG;
    }
    for (int i = 0; i < info->ntensors; i++) {
        char s = info->slots[i];
        int optional = s >= 'A' && s <= 'Z';
        if (!has(&k, i)) {
            if (!optional)
                fail(&k, "required tensor %d (%s, slot '%c') is missing", i, NM(&k, i), s);
            continue;
        }
        if (c->t[i].base == NULL)
            fail(&k, "tensor %d (%s) has no memory", i, NM(&k, i));
        if (fm_tensor_numel(&c->t[i]) < 0)
            fail(&k, "tensor %d (%s): its element count overflows or is negative", i, NM(&k, i));
        if (c->t[i].dtype != fm_op_slot_dtype(c->op, i))
            fail(&k, "tensor %d (%s) is %s, expected %s", i, NM(&k, i),
                 fm_dtype_name(c->t[i].dtype), fm_dtype_name(fm_op_slot_dtype(c->op, i)));
    }
    if (k.s == FM_OK)
        rules[c->op](&k);
    return k.s;
}
