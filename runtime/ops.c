/* The op table's names and the shape rules of ops.h, checked once here for every
 * backend (TensorFlow Lite Micro's "prepare"): a kernel never sees a call whose
 * shapes disagree. No maths lives here. */
#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "size.h"

static const fm_op_info infos[FM_OP_COUNT] = {
#define FM_X(id, nm, sl) [FM_OP_##id] = {#nm, sl, (int)sizeof(sl) - 1},
    FM_OP_LIST(FM_X)
#undef FM_X
};

const fm_op_info *fm_op_get_info(fm_op op) { return (unsigned)op < FM_OP_COUNT ? &infos[op] : NULL; }

fm_op fm_op_from_name(const char *name)
{
    for (int i = 0; i < FM_OP_COUNT; i++)
        if (strcmp(infos[i].name, name) == 0)
            return (fm_op)i;
    return FM_OP_COUNT;
}

typedef struct chk {
    const fm_call *c;
    char *msg;
    size_t len;
    fm_status s;
} chk;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(chk *k, const char *fmt, ...)
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

static const fm_tensor *T(chk *k, int i) { return &k->c->t[i]; }
static int64_t D(chk *k, int i, int d) { return k->c->t[i].shape[d]; }
static int has(chk *k, int i) { return k->c->t[i].ndim > 0; }
static int64_t numel(chk *k, int i) { return fm_tensor_numel(&k->c->t[i]); }

/* Tensor i has exactly the dims given (-1 = any). */
static void dims(chk *k, int i, int nd, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t want[4] = {a, b, c, d};
    char got[64];
    if (!has(k, i))
        return;
    if (T(k, i)->ndim != nd) {
        fail(k, "tensor %d has shape %s, expected %d dimensions", i,
             fm_tensor_shape_str(T(k, i), got, sizeof got), nd);
        return;
    }
    for (int j = 0; j < nd; j++)
        if (want[j] >= 0 && D(k, i, j) != want[j]) {
            fail(k, "tensor %d has shape %s, dimension %d should be %lld", i,
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
        fail(k, "tensor %d has %lld elements, tensor %d has %lld", i, (long long)numel(k, i), j,
             (long long)numel(k, j));
}

static void want_numel(chk *k, int i, int64_t n)
{
    if (has(k, i) && numel(k, i) != n)
        fail(k, "tensor %d has %lld elements, expected %lld", i, (long long)numel(k, i), (long long)n);
}

static void same_shape(chk *k, int i, int j)
{
    char a[64], b[64];
    if (has(k, i) && has(k, j) && !fm_tensor_same_shape(T(k, i), T(k, j)))
        fail(k, "tensor %d has shape %s, tensor %d has %s", i, fm_tensor_shape_str(T(k, i), a, sizeof a),
             j, fm_tensor_shape_str(T(k, j), b, sizeof b));
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
        fail(k, "qkv has %lld channels: not 3 x a multiple of %d heads", (long long)D(k, qkv, 1), heads);
        return;
    }
    dims(k, o, 4, D(k, qkv, 0), C, D(k, qkv, 2), D(k, qkv, 3));
    int64_t natt = mul(k, mul(k, mul(k, D(k, qkv, 0), heads), L), L);
    if (k->s == FM_OK)
        want_numel(k, att, natt);
}

static void check_shapes(chk *k)
{
    const fm_call *c = k->c;
    switch (c->op) {
    case FM_OP_CONV2D_FWD: conv_shapes(k, 0, 1, 2, 3); break;
    case FM_OP_CONV2D_BWD:
        conv_shapes(k, 3, 4, 5, 2);
        same_shape(k, 0, 4);
        same_shape(k, 1, 5);
        break;
    case FM_OP_GROUPNORM_FWD:
        groupnorm_shapes(k, 3, 1, 2, 4, 5);
        same_shape(k, 0, 3);
        if (!(c->f[0] > 0))
            fail(k, "eps must be > 0");
        if (c->i[1] != FM_GN_ACT_NONE && c->i[1] != FM_GN_ACT_SILU)
            fail(k, "activation i1 = %d unknown (0 none, 1 SiLU)", (int)c->i[1]);
        break;
    case FM_OP_GROUPNORM_BWD:
        groupnorm_shapes(k, 4, 5, 6, 7, 1);
        dims(k, 2, 1, D(k, 4, 1), -1, -1, -1);
        same_shape(k, 0, 4);
        same_shape(k, 3, 4);
        break;
    case FM_OP_SILU_FWD: same_numel(k, 0, 1); break;
    case FM_OP_SILU_BWD:
        same_numel(k, 0, 2);
        same_numel(k, 1, 2);
        break;
    case FM_OP_LINEAR_FWD: linear_shapes(k, 0, 1, 2, 3); break;
    case FM_OP_LINEAR_BWD:
        linear_shapes(k, 3, 4, 5, 2);
        same_shape(k, 0, 4);
        same_shape(k, 1, 5);
        break;
    case FM_OP_BIAS_ADD_FWD:
        dims(k, 1, 4, -1, -1, -1, -1);
        same_shape(k, 0, 1);
        want_numel(k, 2, D(k, 1, 0) * D(k, 1, 1));
        break;
    case FM_OP_BIAS_ADD_BWD:
        dims(k, 1, 4, -1, -1, -1, -1);
        want_numel(k, 0, D(k, 1, 0) * D(k, 1, 1));
        break;
    case FM_OP_ADD_FWD:
    case FM_OP_AXPBY_FWD:
        same_numel(k, 0, 1);
        same_numel(k, 0, 2);
        break;
    case FM_OP_ADD_BWD:
    case FM_OP_AXPBY_BWD:
        same_numel(k, 0, 2);
        same_numel(k, 1, 2);
        break;
    case FM_OP_UPSAMPLE2X_FWD:
        dims(k, 1, 4, -1, -1, -1, -1);
        dims(k, 0, 4, D(k, 1, 0), D(k, 1, 1), 2 * D(k, 1, 2), 2 * D(k, 1, 3));
        break;
    case FM_OP_UPSAMPLE2X_BWD:
        dims(k, 0, 4, -1, -1, -1, -1);
        dims(k, 1, 4, D(k, 0, 0), D(k, 0, 1), 2 * D(k, 0, 2), 2 * D(k, 0, 3));
        break;
    case FM_OP_CONCAT_FWD:
    case FM_OP_CONCAT_BWD: {
        int o = c->op == FM_OP_CONCAT_FWD ? 0 : 2, a = o == 0 ? 1 : 0, b = o == 0 ? 2 : 1;
        dims(k, o, 4, -1, -1, -1, -1);
        dims(k, a, 4, D(k, o, 0), -1, D(k, o, 2), D(k, o, 3));
        dims(k, b, 4, D(k, o, 0), D(k, o, 1) - D(k, a, 1), D(k, o, 2), D(k, o, 3));
        break;
    }
    case FM_OP_ATTENTION_FWD: attention_shapes(k, 0, 1, 2); break;
    case FM_OP_ATTENTION_BWD:
        attention_shapes(k, 2, 4, 3);
        same_shape(k, 0, 3);
        if (k->s == FM_OK) {
            /* fm_attention_ws_floats(L) = 2 L^2, spelled out with checked products. */
            int64_t L = mul(k, D(k, 3, 2), D(k, 3, 3)), ws = mul(k, 2, mul(k, L, L));
            if (k->s == FM_OK && numel(k, 1) < ws)
                fail(k, "workspace has %lld floats, needs %lld", (long long)numel(k, 1),
                     (long long)ws);
        }
        break;
    case FM_OP_TIMEEMB_FWD:
    case FM_OP_TIMEEMB_BWD: {
        int o = c->op == FM_OP_TIMEEMB_FWD ? 0 : 1, t = o == 0 ? 1 : 2;
        dims(k, o, 2, -1, -1, -1, -1);
        if (k->s == FM_OK && (D(k, o, 1) < 4 || D(k, o, 1) % 2))
            fail(k, "embedding width %lld must be even and >= 4", (long long)D(k, o, 1));
        want_numel(k, t, D(k, o, 0));
        if (o == 1)
            want_numel(k, 0, D(k, o, 0));
        break;
    }
    case FM_OP_EMBED_FWD:
    case FM_OP_EMBED_BWD: {
        int o = c->op == FM_OP_EMBED_FWD ? 0 : 1, tab = o == 0 ? 1 : 0;
        dims(k, tab, 2, -1, -1, -1, -1);
        dims(k, o, 2, -1, D(k, tab, 1), -1, -1);
        want_numel(k, 2, D(k, o, 0));
        break;
    }
    case FM_OP_MSE_FWD:
        want_numel(k, 0, 1);
        same_numel(k, 1, 2);
        break;
    case FM_OP_MSE_BWD:
        same_numel(k, 2, 3);
        same_numel(k, 0, 2);
        same_numel(k, 1, 2);
        break;
    case FM_OP_FM_INTERP_FWD:
    case FM_OP_FM_INTERP_BWD: {
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
        break;
    }
    case FM_OP_SUM_FWD:
        want_numel(k, 0, 1);
        break;
    case FM_OP_SUM_BWD:
        want_numel(k, 1, 1);
        break;
    case FM_OP_ADAMW:
        for (int i = 1; i < 4; i++)
            same_numel(k, i, 0);
        /* A beta outside [0, 1) is what makes a bias correction 1 - beta^step <= 0
         * (or the moments diverge): name it before the corrections. fail() keeps the
         * first message; the comparisons are written so that NaN fails. */
        for (int b = 1; b <= 2; b++)
            if (!(c->f[b] >= 0 && c->f[b] < 1))
                fail(k, "beta%d %g is outside [0, 1)", b, (double)c->f[b]);
        if (!(c->f[5] > 0 && c->f[6] > 0))
            fail(k, "bias corrections f5 = 1 - beta1^step = %g and f6 = 1 - beta2^step = %g "
                    "must be > 0 (step >= 1)", (double)c->f[5], (double)c->f[6]);
        break;
    case FM_OP_EMA:
    case FM_OP_QUANTIZE_U8: same_numel(k, 0, 1); break;
    case FM_OP_RNG:
        if (c->i[0] != FM_RNG_UNIFORM && c->i[0] != FM_RNG_NORMAL)
            fail(k, "distribution %d unknown", (int)c->i[0]);
        break;
    case FM_OP_COUNT: break;
    }
}

static fm_dtype slot_dtype(fm_op op, int i)
{
    if ((op == FM_OP_EMBED_FWD || op == FM_OP_EMBED_BWD) && i == 2)
        return FM_I32;
    if (op == FM_OP_QUANTIZE_U8 && i == 0)
        return FM_U8;
    return FM_F32;
}

fm_status fm_op_check(const fm_call *c, char *msg, size_t len)
{
    chk k = {c, msg, len, FM_OK};
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
                fail(&k, "required tensor %d (slot '%c') is missing", i, s);
            continue;
        }
        if (c->t[i].base == NULL)
            fail(&k, "tensor %d has no memory", i);
        if (fm_tensor_numel(&c->t[i]) < 0)
            fail(&k, "tensor %d: its element count overflows or is negative", i);
        if (c->t[i].dtype != slot_dtype(c->op, i))
            fail(&k, "tensor %d is %s, expected %s", i, fm_dtype_name(c->t[i].dtype),
                 fm_dtype_name(slot_dtype(c->op, i)));
    }
    if (k.s == FM_OK)
        check_shapes(&k);
    return k.s;
}
