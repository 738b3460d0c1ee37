/* safetensors reader and writer (see safetensors.h). The JSON header goes through
 * cJSON; everything the format adds on top of JSON (field types, integer ranges,
 * byte counts, bounds, overlaps, holes, duplicates) is checked here, each with its
 * own one-line message naming the tensor and the field. */
#include "safetensors.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_NDTYPES] = {
    [ST_BOOL] = {"BOOL", 1},       [ST_U8] = {"U8", 1},           [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_I16] = {"I16", 2},
    [ST_U16] = {"U16", 2},         [ST_F16] = {"F16", 2},         [ST_BF16] = {"BF16", 2},
    [ST_I32] = {"I32", 4},         [ST_U32] = {"U32", 4},         [ST_F32] = {"F32", 4},
    [ST_F64] = {"F64", 8},         [ST_I64] = {"I64", 8},         [ST_U64] = {"U64", 8},
};

const char *st_dtype_name(st_dtype d)
{
    return d < ST_NDTYPES ? dtypes[d].name : "?";
}
size_t st_dtype_size(st_dtype d)
{
    return d < ST_NDTYPES ? dtypes[d].size : 0;
}

static void msg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void msg(char *err, size_t errlen, const char *fmt, ...)
{
    if (!errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Names in messages: at most 80 bytes of them (a name may be megabytes long). */
#define NAME_MAX_SHOWN 80
static const char *shown(const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    if (n < len) {
        memcpy(buf, name, n + 1);
        return buf;
    }
    snprintf(buf, len, "%.*s...", (int)(len - 4), name);
    return buf;
}

static void shape_str(const uint64_t *shape, int ndim, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = 0;
    if (ndim == 0)
        snprintf(buf, len, "[] (a scalar)");
    for (int d = 0; d < ndim && k < len; d++) {
        int n = snprintf(buf + k, len - k, d ? "x%" PRIu64 : "%" PRIu64, shape[d]);
        if (n < 0)
            break;
        k += (size_t)n;
    }
}

static const char *json_type(const cJSON *j)
{
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsArray(j))
        return "an array";
    if (cJSON_IsObject(j))
        return "an object";
    if (cJSON_IsBool(j))
        return "a boolean";
    if (cJSON_IsNull(j))
        return "null";
    return "not a JSON value";
}

/* Offset of the first byte of s[0..n) that is not UTF-8 or is a control character
 * JSON does not allow raw (all below 0x20 but tab, newline, return), or n. */
static size_t bad_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return i;
            i++;
            continue;
        }
        size_t more;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            more = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            if (c == 0xe0)
                lo = 0xa0;
            if (c == 0xed)
                hi = 0x9f; /* no UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            if (c == 0xf0)
                lo = 0x90;
            if (c == 0xf4)
                hi = 0x8f;
        } else
            return i;
        if (n - i <= more)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= more; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return i;
        i += more + 1;
    }
    return n;
}

/* What one pass over the header text finds before cJSON builds its tree: cJSON keeps
 * neither how a number was spelled nor a NUL inside a string (its strings are C
 * strings, so "conv_in.weight\u0000evil" would read as conv_in.weight), and its tree
 * costs about 64 bytes a value (a 60 MB header of a million empty tensors took
 * 873 MB), so the counts bound it first. */
typedef struct st_scan {
    size_t entries; /* keys of the top-level object (tensors, __metadata__) */
    size_t values;  /* strings (keys included), numbers, literals, objects, arrays */
    size_t nul_at;  /* header byte of the first \u0000, or SIZE_MAX */
    size_t num_at, num_len; /* the first number not spelled 0|[1-9][0-9]*, or SIZE_MAX */
    size_t key_at, key_len; /* the top-level key before that number (its tensor) */
} st_scan;

static int is_num_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* The string whose opening quote is h[*i]; *i ends on its closing quote. */
static void scan_string(const char *h, size_t n, size_t *i, st_scan *s)
{
    for ((*i)++; *i < n && h[*i] != '"'; (*i)++)
        if (h[*i] == '\\' && *i + 1 < n) {
            if (h[*i + 1] == 'u' && n - *i >= 6 && memcmp(h + *i + 2, "0000", 4) == 0 &&
                s->nul_at == SIZE_MAX)
                s->nul_at = *i;
            (*i)++; /* the escaped character: \" does not end the string */
        }
}

static void scan_header(const char *h, size_t n, st_scan *s)
{
    size_t key_at = 0, key_len = 0;
    int depth = 0;
    memset(s, 0, sizeof *s);
    s->nul_at = s->num_at = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        const char c = h[i];
        if (c == '"') {
            const size_t at = i + 1;
            scan_string(h, n, &i, s);
            s->values++;
            if (depth == 1) {
                key_at = at;
                key_len = i - at;
            }
        } else if (c == '{' || c == '[') {
            s->values++;
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ':' && depth == 1) {
            s->entries++;
        } else if (is_num_char(c) || c == 't' || c == 'f' || c == 'n') {
            size_t j = i;
            while (j < n && (is_num_char(h[j]) || (h[j] >= 'a' && h[j] <= 'z')))
                j++;
            int digits = c >= '1' && c <= '9';
            for (size_t k = i + 1; digits && k < j; k++)
                digits = h[k] >= '0' && h[k] <= '9';
            if (!digits && is_num_char(c) && !(c == '0' && j == i + 1) && s->num_at == SIZE_MAX) {
                s->num_at = i;
                s->num_len = j - i;
                s->key_at = key_at;
                s->key_len = key_len;
            }
            s->values++;
            i = j - 1;
        }
    }
}

/* The counts and the NUL of the scan, before cJSON runs. */
static int check_scan(const st_scan *s, char *err, size_t errlen)
{
    if (s->entries > ST_MAX_ENTRIES) {
        msg(err, errlen,
            "header has %zu entries; fmrt reads at most %d (tensors and __metadata__: %d "
            "parameters, raw copies, and a few more)",
            s->entries, ST_MAX_ENTRIES, FM_MAX_PARAMS);
        return 1;
    }
    if (s->values > ST_MAX_VALUES) {
        msg(err, errlen, "header holds %zu JSON values; fmrt reads at most %d (%d per entry)",
            s->values, ST_MAX_VALUES, ST_MAX_VALUES / ST_MAX_ENTRIES);
        return 1;
    }
    if (s->nul_at != SIZE_MAX) {
        msg(err, errlen,
            "header byte %zu: \\u0000 (a NUL byte) inside a string: names and values are "
            "compared as the bytes they decode to, and a NUL would cut them short",
            s->nul_at);
        return 1;
    }
    return 0;
}

/* The first number not written as plain digits (512.0, 512e0, -0, 0512): sizes and
 * offsets are integers, written as integers. Checked after the entries, so that a
 * value that is no integer at all (1.5, -1) gets get_uint's message with its field. */
static int check_spelling(const char *hdr, const st_scan *s, char *err, size_t errlen)
{
    char kb[NAME_MAX_SHOWN + 4];
    if (s->num_at == SIZE_MAX)
        return 0;
    const int kl = (int)(s->key_len < NAME_MAX_SHOWN ? s->key_len : NAME_MAX_SHOWN);
    const int nl = (int)(s->num_len < 40 ? s->num_len : 40);
    snprintf(kb, sizeof kb, "%.*s%s", kl, hdr + s->key_at, s->key_len > NAME_MAX_SHOWN ? "..." : "");
    msg(err, errlen,
        "tensor '%s': number '%.*s' (header byte %zu) is not written as an integer: sizes and "
        "offsets are plain digits (no sign, point, exponent or leading zero)",
        kb, nl, hdr + s->num_at, s->num_at);
    return 1;
}

/* An integer in 0..ST_MAX_INT: 0, or 1 with the message "<what> is ..." in err. */
static int get_uint(const cJSON *j, const char *tname, const char *what, uint64_t *v, char *err,
                    size_t errlen)
{
    char nb[NAME_MAX_SHOWN + 4];
    if (!cJSON_IsNumber(j)) {
        msg(err, errlen, "tensor '%s': %s is %s, not an integer", shown(tname, nb, sizeof nb), what,
            json_type(j));
        return 1;
    }
    double d = j->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < 0 || d > (double)ST_MAX_INT) {
        msg(err, errlen, "tensor '%s': %s is %.17g, not an integer in 0..2^53-1",
            shown(tname, nb, sizeof nb), what, d);
        return 1;
    }
    *v = (uint64_t)d;
    return 0;
}

static int dtype_of(const char *s, st_dtype *d)
{
    for (int i = 0; i < ST_NDTYPES; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *d = (st_dtype)i;
            return 1;
        }
    return 0;
}

/* One tensor entry: dtype, shape, data_offsets, and the bytes they must agree on. */
/* "shape": t->shape, t->ndim and t->numel; *bytes = numel x the dtype's size, every
 * product checked against 2^64. */
static int parse_shape(const cJSON *sh, st_tensor *t, const char *name, uint64_t *bytes, char *err,
                       size_t errlen)
{
    char sb[160];
    if (!cJSON_IsArray(sh)) {
        msg(err, errlen, "tensor '%s': shape is %s, not an array", name, json_type(sh));
        return 1;
    }
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS) {
        msg(err, errlen, "tensor '%s': shape has %d dimensions, more than the %d fmrt reads", name,
            nd, ST_MAX_DIMS);
        return 1;
    }
    t->ndim = 0;
    int zero = 0;
    for (const cJSON *d = sh->child; d; d = d->next) {
        char what[32];
        snprintf(what, sizeof what, "shape[%d]", t->ndim);
        if (get_uint(d, t->name, what, &t->shape[t->ndim], err, errlen))
            return 1;
        zero |= t->shape[t->ndim++] == 0;
    }
    /* Elements and bytes, refusing any product beyond 2^64. */
    uint64_t numel = 1;
    for (int d = 0; d < t->ndim && !zero; d++) {
        if (numel > UINT64_MAX / t->shape[d]) {
            shape_str(t->shape, t->ndim, sb, sizeof sb);
            msg(err, errlen, "tensor '%s': shape %s overflows (more than 2^64 elements)", name, sb);
            return 1;
        }
        numel *= t->shape[d];
    }
    t->numel = zero ? 0 : numel;
    size_t esz = st_dtype_size(t->dtype);
    if (t->numel > UINT64_MAX / esz) {
        shape_str(t->shape, t->ndim, sb, sizeof sb);
        msg(err, errlen, "tensor '%s': shape %s of %s overflows (more than 2^64 bytes)", name, sb,
            st_dtype_name(t->dtype));
        return 1;
    }
    *bytes = t->numel * esz;
    return 0;
}

/* "data_offsets": [begin, end) within the data_bytes after the header, holding exactly
 * `bytes`, aligned to the dtype's size. */
static int parse_offsets(const cJSON *of, st_tensor *t, const char *name, uint64_t bytes,
                         size_t data_bytes, char *err, size_t errlen)
{
    char sb[160];
    size_t esz = st_dtype_size(t->dtype);
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2) {
        msg(err, errlen, "tensor '%s': data_offsets is %s, not [begin, end]", name,
            cJSON_IsArray(of) ? "an array of another length" : json_type(of));
        return 1;
    }
    if (get_uint(of->child, t->name, "data_offsets[0]", &t->begin, err, errlen) ||
        get_uint(of->child->next, t->name, "data_offsets[1]", &t->end, err, errlen))
        return 1;
    if (t->end < t->begin) {
        msg(err, errlen,
            "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", name,
            t->begin, t->end);
        return 1;
    }
    if (t->end > data_bytes) {
        msg(err, errlen,
            "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
            "] run past the end of the data (%zu bytes after the header)",
            name, t->begin, t->end, data_bytes);
        return 1;
    }
    if (t->end - t->begin != bytes) {
        shape_str(t->shape, t->ndim, sb, sizeof sb);
        msg(err, errlen,
            "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
            " bytes, but %s %s needs %" PRIu64,
            name, t->begin, t->end, t->end - t->begin, st_dtype_name(t->dtype), sb, bytes);
        return 1;
    }
    if (t->begin % esz) {
        msg(err, errlen,
            "tensor '%s': data_offsets begin %" PRIu64 " is not a multiple of %s's %zu bytes "
            "(unaligned)",
            name, t->begin, st_dtype_name(t->dtype), esz);
        return 1;
    }
    return 0;
}

static int parse_tensor(const cJSON *e, st_tensor *t, size_t data_bytes, char *err, size_t errlen)
{
    char nb[NAME_MAX_SHOWN + 4];
    const char *name = shown(t->name, nb, sizeof nb);
    if (!cJSON_IsObject(e)) {
        msg(err, errlen, "tensor '%s': its entry is %s, not an object", name, json_type(e));
        return 1;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    const char *missing = !dt ? "dtype" : !sh ? "shape" : !of ? "data_offsets" : NULL;
    if (missing) {
        msg(err, errlen, "tensor '%s': field %s is missing", name, missing);
        return 1;
    }
    /* cJSON finds the first of two same-named fields: refuse the second. */
    for (const cJSON *a = e->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (strcmp(a->string, b->string) == 0) {
                char fb[NAME_MAX_SHOWN + 4];
                msg(err, errlen, "tensor '%s': field %s appears twice", name,
                    shown(a->string, fb, sizeof fb));
                return 1;
            }
    if (!cJSON_IsString(dt)) {
        msg(err, errlen, "tensor '%s': dtype is %s, not a string", name, json_type(dt));
        return 1;
    }
    if (!dtype_of(dt->valuestring, &t->dtype)) {
        char db[NAME_MAX_SHOWN + 4];
        msg(err, errlen, "tensor '%s': unknown dtype '%s'", name,
            shown(dt->valuestring, db, sizeof db));
        return 1;
    }
    uint64_t bytes;
    if (parse_shape(sh, t, name, &bytes, err, errlen))
        return 1;
    return parse_offsets(of, t, name, bytes, data_bytes, err, errlen);
}

static const st_tensor *g_sort_t; /* qsort has no context argument */
static int by_name(const void *a, const void *b)
{
    return strcmp(g_sort_t[*(const int *)a].name, g_sort_t[*(const int *)b].name);
}
static int by_offset(const void *a, const void *b)
{
    const st_tensor *x = &g_sort_t[*(const int *)a], *y = &g_sort_t[*(const int *)b];
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}
static int meta_by_key(const void *a, const void *b)
{
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

/* Names unique; the tensors tile the data buffer exactly. */
static int check_layout(st_file *f, int *order, char *err, size_t errlen)
{
    char nb[NAME_MAX_SHOWN + 4], nb2[NAME_MAX_SHOWN + 4];
    for (int i = 0; i < f->n; i++)
        order[i] = f->by_name[i] = i;
    g_sort_t = f->t;
    qsort(f->by_name, (size_t)f->n, sizeof(int), by_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->t[f->by_name[i]].name, f->t[f->by_name[i - 1]].name) == 0) {
            msg(err, errlen, "tensor '%s' appears twice in the header",
                shown(f->t[f->by_name[i]].name, nb, sizeof nb));
            return 1;
        }
    qsort(order, (size_t)f->n, sizeof(int), by_offset);
    uint64_t pos = 0;
    int last = -1; /* the tensor that reaches pos */
    for (int i = 0; i < f->n; i++) {
        const st_tensor *t = &f->t[order[i]];
        if (t->begin < pos) {
            msg(err, errlen,
                "tensors '%s' [%" PRIu64 ", %" PRIu64 "] and '%s' [%" PRIu64 ", %" PRIu64
                "]: data_offsets overlap",
                shown(f->t[last].name, nb, sizeof nb), f->t[last].begin, f->t[last].end,
                shown(t->name, nb2, sizeof nb2), t->begin, t->end);
            return 1;
        }
        if (t->begin > pos) {
            msg(err, errlen,
                "bytes [%" PRIu64 ", %" PRIu64 ") of the data belong to no tensor (a hole "
                "before '%s')",
                pos, t->begin, shown(t->name, nb, sizeof nb));
            return 1;
        }
        if (t->end > pos || last < 0) {
            pos = t->end;
            last = order[i];
        }
    }
    if (pos != f->data_bytes) {
        msg(err, errlen,
            "bytes [%" PRIu64 ", %zu) of the data belong to no tensor (trailing bytes after the "
            "last tensor)",
            pos, f->data_bytes);
        return 1;
    }
    if (f->nmeta > 1) {
        st_meta *m = malloc(sizeof *m * (size_t)f->nmeta);
        if (!m) {
            msg(err, errlen, "out of memory checking the metadata");
            return 1;
        }
        memcpy(m, f->meta, sizeof *m * (size_t)f->nmeta);
        qsort(m, (size_t)f->nmeta, sizeof *m, meta_by_key);
        for (int i = 1; i < f->nmeta; i++)
            if (strcmp(m[i].key, m[i - 1].key) == 0) {
                msg(err, errlen, "__metadata__ key '%s' appears twice",
                    shown(m[i].key, nb, sizeof nb));
                free(m);
                return 1;
            }
        free(m);
    }
    return 0;
}

static int parse_meta(st_file *f, const cJSON *md, char *err, size_t errlen)
{
    char nb[NAME_MAX_SHOWN + 4];
    if (!cJSON_IsObject(md)) {
        msg(err, errlen, "__metadata__ is %s, not an object of strings", json_type(md));
        return 1;
    }
    int n = cJSON_GetArraySize(md);
    f->meta = calloc((size_t)(n ? n : 1), sizeof *f->meta);
    if (!f->meta) {
        msg(err, errlen, "out of memory for %d metadata entries", n);
        return 1;
    }
    for (const cJSON *e = md->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            msg(err, errlen, "__metadata__ key '%s': its value is %s, not a string",
                shown(e->string, nb, sizeof nb), json_type(e));
            return 1;
        }
        f->meta[f->nmeta].key = e->string;
        f->meta[f->nmeta++].value = e->valuestring;
    }
    return 0;
}

void st_free(st_file *f)
{
    cJSON_Delete(f->json);
    free(f->t);
    free(f->meta);
    free(f->by_name);
    memset(f, 0, sizeof *f);
}

int st_header_length(const uint8_t first[8], uint64_t file_bytes, uint64_t *n, char *err,
                     size_t errlen)
{
    *n = 0;
    for (int i = 7; i >= 0; i--)
        *n = *n << 8 | first[i];
    if (*n > file_bytes - 8) {
        msg(err, errlen,
            "header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes after "
            "the 8-byte length)",
            *n, file_bytes - 8);
        return 1;
    }
    if (*n > ST_MAX_HEADER) {
        msg(err, errlen, "header length %" PRIu64 " is over the 100 MB limit of safetensors", *n);
        return 1;
    }
    if (*n > ST_MAX_HEADER_FMRT) {
        msg(err, errlen,
            "header length %" PRIu64 " is over the %d MiB fmrt reads (the header of a model's "
            "%d tensors is well under 1 MiB)",
            *n, (int)(ST_MAX_HEADER_FMRT >> 20), FM_MAX_PARAMS);
        return 1;
    }
    return 0;
}

int st_parse(const void *data, size_t len, st_file *f, char *err, size_t errlen)
{
    const uint8_t *p = data;
    memset(f, 0, sizeof *f);
    if (len < 8) {
        msg(err, errlen, "%zu bytes: shorter than the 8-byte header length of a safetensors file",
            len);
        return 1;
    }
    uint64_t n;
    if (st_header_length(p, len, &n, err, errlen))
        return 1;
    const char *hdr = (const char *)p + 8;
    f->header_bytes = (size_t)n;
    f->data_bytes = len - 8 - (size_t)n;
    size_t bad = bad_utf8(p + 8, (size_t)n);
    if (bad < n) {
        msg(err, errlen, "header byte %zu (0x%02x) is %s: the header is not UTF-8 JSON text", bad,
            p[8 + bad], p[8 + bad] < 0x20 ? "a control character" : "not UTF-8");
        return 1;
    }
    st_scan scan;
    scan_header(hdr, (size_t)n, &scan);
    if (check_scan(&scan, err, errlen))
        return 1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)n, &end, 0);
    if (!root) {
        size_t at = end && end >= hdr ? (size_t)(end - hdr) : 0;
        msg(err, errlen, "header is not JSON (%s at header byte %zu)",
            n == 0 ? "empty" : "a syntax error", at);
        return 1;
    }
    f->json = root;
    if (!cJSON_IsObject(root)) {
        msg(err, errlen, "header is %s, not a JSON object", json_type(root));
        goto fail;
    }
    if (hdr[0] != '{') {
        msg(err, errlen, "header does not begin with '{' (byte 0 is 0x%02x)", (uint8_t)hdr[0]);
        goto fail;
    }
    for (size_t k = (size_t)(end - hdr); k < n; k++)
        if (!strchr(" \t\r\n", hdr[k])) {
            msg(err, errlen, "header byte %zu: text after the JSON object (only spaces may pad it)",
                k);
            goto fail;
        }
    int count = cJSON_GetArraySize(root), seen_meta = 0, bad_entry = 0;
    f->t = calloc((size_t)(count ? count : 1), sizeof *f->t);
    f->by_name = calloc((size_t)(count ? count : 1), sizeof *f->by_name);
    int *order = calloc((size_t)(count ? count : 1), sizeof *order);
    if (!f->t || !f->by_name || !order) {
        free(order);
        msg(err, errlen, "out of memory for %d header entries", count);
        goto fail;
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta++) {
                msg(err, errlen, "__metadata__ appears twice in the header");
                bad_entry = 1;
            } else
                bad_entry = parse_meta(f, e, err, errlen);
        } else {
            st_tensor *t = &f->t[f->n++];
            t->name = e->string;
            bad_entry = parse_tensor(e, t, f->data_bytes, err, errlen);
            if (!bad_entry)
                t->data = p + 8 + n + t->begin;
        }
        if (bad_entry)
            break;
    }
    if (bad_entry || check_spelling(hdr, &scan, err, errlen) ||
        check_layout(f, order, err, errlen)) {
        free(order);
        goto fail;
    }
    free(order);
    return 0;
fail:
    st_free(f);
    return 1;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const st_tensor *t = &f->t[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0)
            return t;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *st_meta_get(const st_file *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0) {
        float v = ldexpf((float)m, -24); /* zero and subnormals, exact */
        return s ? -v : v;
    }
    if (e == 31)
        bits = s | 0x7f800000u | m << 13;
    else
        bits = s | (e + 112) << 23 | m << 13;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t st_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t s = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf, NaN (kept quiet) */
        return (uint16_t)(s | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) /* 65520 and above round to inf */
        return (uint16_t)(s | 0x7c00);
    if (ax < 0x38800000u) { /* below 2^-14: a subnormal (or zero) */
        float v;
        memcpy(&v, &ax, sizeof v);
        return (uint16_t)(s | (uint16_t)nearbyintf(v * 16777216.0f)); /* ties to even */
    }
    uint32_t h = ((ax >> 23) - 112) << 10 | (ax & 0x7fffffu) >> 13, rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
        h++; /* a carry into the exponent is still right */
    return (uint16_t)(s | h);
}

int st_to_f32(const st_tensor *t, float *out, char *err, size_t errlen)
{
    const uint8_t *d = t->data;
    char nb[NAME_MAX_SHOWN + 4];
    switch (t->dtype) {
    case ST_F32: memcpy(out, d, (size_t)t->numel * 4); return 0;
    case ST_F16:
        for (uint64_t i = 0; i < t->numel; i++)
            out[i] = st_f16_to_f32((uint16_t)(d[2 * i] | d[2 * i + 1] << 8));
        return 0;
    case ST_BF16:
        for (uint64_t i = 0; i < t->numel; i++) {
            uint32_t bits = (uint32_t)(d[2 * i] | d[2 * i + 1] << 8) << 16;
            memcpy(&out[i], &bits, sizeof bits);
        }
        return 0;
    default:
        msg(err, errlen, "tensor '%s': dtype %s, fmrt reads F32, F16 and BF16",
            shown(t->name, nb, sizeof nb), st_dtype_name(t->dtype));
        return 1;
    }
}

/* Integers written as their digits (cJSON would print 1e+15 for some doubles). */
static cJSON *uint_item(uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, v);
    return cJSON_CreateRaw(b);
}

int st_header(st_tensor *t, int n, const st_meta *meta, int nmeta, uint8_t **hdr, size_t *len,
              char *err, size_t errlen)
{
    *hdr = NULL;
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && nmeta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (int i = 0; ok && i < nmeta; i++)
            ok = cJSON_AddStringToObject(m, meta[i].key, meta[i].value) != NULL;
    }
    uint64_t pos = 0;
    for (int i = 0; ok && i < n; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++)
            numel = t[i].shape[d] ? numel * t[i].shape[d] : 0;
        for (int d = 0; d < t[i].ndim; d++)
            numel = t[i].shape[d] ? numel : 0; /* a zero anywhere: no elements */
        t[i].numel = numel;
        t[i].begin = pos;
        t[i].end = pos += numel * st_dtype_size(t[i].dtype);
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *dt = e ? cJSON_AddStringToObject(e, "dtype", st_dtype_name(t[i].dtype)) : NULL;
        cJSON *sh = dt ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *of = sh ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        ok = of != NULL;
        for (int d = 0; ok && d < t[i].ndim; d++)
            ok = cJSON_AddItemToArray(sh, uint_item(t[i].shape[d]));
        ok = ok && cJSON_AddItemToArray(of, uint_item(t[i].begin)) &&
             cJSON_AddItemToArray(of, uint_item(t[i].end));
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) {
        msg(err, errlen, "out of memory writing the safetensors header");
        return 1;
    }
    size_t jl = strlen(json), padded = (jl + 7) & ~(size_t)7;
    *hdr = malloc(8 + padded);
    if (!*hdr) {
        free(json);
        msg(err, errlen, "out of memory writing the safetensors header");
        return 1;
    }
    for (int i = 0; i < 8; i++)
        (*hdr)[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(*hdr + 8, json, jl);
    memset(*hdr + 8 + jl, ' ', padded - jl);
    *len = 8 + padded;
    free(json);
    return 0;
}

/* ---- fmrt's model contract ------------------------------------------------------------ */

/* One key=value of fmrt.config against the nk keys before it: the last of two would
 * silently win, and an empty list item ("1,2,") would be a level nobody wrote. */
static int config_item_bad(const char **keys, const size_t *klen, const int *nk, const char *key,
                           const char *value, char *err, size_t errlen)
{
    const size_t kl = strlen(key), vl = strlen(value);
    if (*nk == ST_CONFIG_ITEMS) {
        msg(err, errlen, "__metadata__ %s: more than %d key=value items", ST_META_CONFIG,
            ST_CONFIG_ITEMS);
        return 1;
    }
    for (int i = 0; i < *nk; i++)
        if (klen[i] == kl && memcmp(keys[i], key, kl) == 0) {
            msg(err, errlen, "__metadata__ %s: key %s appears twice", ST_META_CONFIG, key);
            return 1;
        }
    if (vl && (value[0] == ',' || value[vl - 1] == ',' || strstr(value, ",,"))) {
        msg(err, errlen, "__metadata__ %s: %s: '%s' has an empty list item", ST_META_CONFIG, key,
            value);
        return 1;
    }
    return 0;
}

int st_fmrt_config(const st_file *f, fm_config *cfg, char *err, size_t errlen)
{
    const char *v = st_meta_get(f, ST_META_CONFIG);
    if (!v)
        return -1;
    fm_config_preset(cfg, "mnist");
    char m[256], tb[NAME_MAX_SHOWN + 4];
    const char *keys[ST_CONFIG_ITEMS];
    size_t klen[ST_CONFIG_ITEMS];
    int nk = 0;
    for (const char *p = v; *p;) {
        p += strspn(p, " ");
        size_t k = strcspn(p, " ");
        if (!k)
            break;
        char tok[128];
        const char *eq = memchr(p, '=', k);
        if (k >= sizeof tok || !eq || eq == p) {
            snprintf(tok, sizeof tok, "%.*s", (int)(k < sizeof tok ? k : sizeof tok - 1), p);
            msg(err, errlen, "__metadata__ %s: '%s' is not key=value", ST_META_CONFIG,
                shown(tok, tb, sizeof tb));
            return 1;
        }
        memcpy(tok, p, k);
        tok[k] = 0;
        tok[eq - p] = 0;
        if (config_item_bad(keys, klen, &nk, tok, tok + (eq - p) + 1, err, errlen))
            return 1;
        keys[nk] = p;
        klen[nk++] = (size_t)(eq - p);
        if (fm_config_set(cfg, tok, tok + (eq - p) + 1, m, sizeof m) != FM_OK) {
            msg(err, errlen, "__metadata__ %s: %s", ST_META_CONFIG, m);
            return 1;
        }
        p += k;
    }
    if (fm_config_validate(cfg, m, sizeof m) != FM_OK) {
        msg(err, errlen, "__metadata__ %s: %s", ST_META_CONFIG, m);
        return 1;
    }
    return 0;
}

static void pshape(const fm_param *p, char *buf, size_t len)
{
    uint64_t s[ST_MAX_DIMS];
    for (int d = 0; d < p->t.ndim; d++)
        s[d] = (uint64_t)p->t.shape[d];
    shape_str(s, p->t.ndim, buf, len);
}

int st_fmrt_check(const st_file *f, const fm_config *cfg, char *err, size_t errlen)
{
    fm_param *params = malloc(sizeof *params * FM_MAX_PARAMS);
    char nb[NAME_MAX_SHOWN + 4], have[160], want[160];
    if (!params) {
        msg(err, errlen, "out of memory for the parameter layout");
        return 1;
    }
    int64_t P;
    int np = fm_model_layout(cfg, params, FM_MAX_PARAMS, &P), rc = 1;
    if (np < 0) {
        msg(err, errlen, "the config needs more than %d parameter tensors", FM_MAX_PARAMS);
        goto out;
    }
    for (int i = 0; i < np; i++) {
        const fm_param *p = &params[i];
        const st_tensor *t = st_find(f, p->name);
        pshape(p, want, sizeof want);
        if (!t) {
            /* A wrapper's prefix ("module." from DataParallel, "_orig_mod." from
             * torch.compile, "model.") is the usual reason: name it. */
            size_t pl = strlen(p->name);
            for (int k = 0; k < f->n; k++) {
                size_t l = strlen(f->t[k].name);
                if (l > pl && f->t[k].name[l - pl - 1] == '.' &&
                    strcmp(f->t[k].name + l - pl, p->name) == 0) {
                    msg(err, errlen,
                        "missing tensor %s (shape %s); the file has '%s': save the state "
                        "dict of the network itself, without the wrapper's prefix",
                        p->name, want, shown(f->t[k].name, nb, sizeof nb));
                    goto out;
                }
            }
            msg(err, errlen, "missing tensor %s (shape %s)", p->name, want);
            goto out;
        }
        int same = t->ndim == p->t.ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = t->shape[d] == (uint64_t)p->t.shape[d];
        if (!same) {
            shape_str(t->shape, t->ndim, have, sizeof have);
            msg(err, errlen, "%s: shape %s, the config needs %s", p->name, have, want);
            goto out;
        }
        if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
            msg(err, errlen, "%s: dtype %s, fmrt reads F32, F16 and BF16", p->name,
                st_dtype_name(t->dtype));
            goto out;
        }
    }
    if (f->n > np) /* every parameter was found once: the rest are strangers */
        for (int k = 0; k < f->n; k++) {
            int known = 0;
            for (int i = 0; i < np && !known; i++)
                known = strcmp(f->t[k].name, params[i].name) == 0;
            if (!known) {
                shape_str(f->t[k].shape, f->t[k].ndim, have, sizeof have);
                msg(err, errlen, "unexpected tensor %s (%s %s): not a parameter of this config",
                    shown(f->t[k].name, nb, sizeof nb), st_dtype_name(f->t[k].dtype), have);
                goto out;
            }
        }
    rc = 0;
out:
    free(params);
    return rc;
}
