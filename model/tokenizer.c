/* Tokenizers: byte level and CLIP's BPE (see tokenizer.h for what each does and
 * what the CLIP clean-up covers). No allocation: tables live in the caller's block,
 * working text on the stack (bounded by FM_BPE_MAX_TEXT). */
#include "tokenizer.h"

#include <stdbool.h>
#include <string.h>

#define TOK_DEL 0x7fffffff /* tok_fix: the character is removed */

typedef struct tok_entity {
    const char *name;  /* without '&'; with ';' where the entity has one */
    const char *value; /* UTF-8 */
    int flags;         /* 1: html.entities.html5; 2: ftfy's upper-case variant only */
} tok_entity;

#include "tokenizer_tables.inc"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAXT FM_BPE_MAX_TEXT

/* ---- byte level -------------------------------------------------------------------- */
static bool ascii_space(unsigned c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

fm_status fm_tok_bytes_encode(const char *text, int32_t *ids, int ctx, int *len, char *msg,
                              size_t msglen)
{
    if (!text || !ids)
        return fm_errorf(msg, msglen, FM_ERR_ARG, "tokenizer (bytes): NULL %s",
                         text ? "ids" : "text");
    if (ctx < 2)
        return fm_errorf(msg, msglen, FM_ERR_ARG,
                         "tokenizer (bytes): context length %d is below 2 (BOS and EOS)", ctx);
    int n = 0;
    ids[n++] = FM_TOK_BYTES_BOS;
    const unsigned char *p = (const unsigned char *)text;
    while (ascii_space(*p))
        p++;
    while (*p && n < ctx - 1) {
        if (ascii_space(*p)) {
            while (ascii_space(*p))
                p++;
            if (!*p)
                break;
            ids[n++] = ' ';
            continue;
        }
        ids[n++] = *p++;
    }
    ids[n++] = FM_TOK_BYTES_EOS;
    if (len)
        *len = n;
    for (int i = n; i < ctx; i++)
        ids[i] = FM_TOK_BYTES_PAD;
    return FM_OK;
}

/* ---- Unicode helpers --------------------------------------------------------------- */
static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < r[mid][0])
            hi = mid;
        else if (c > r[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

static bool is_letter(uint32_t c)
{
    if (c < 0x80)
        return (c | 32) >= 'a' && (c | 32) <= 'z';
    return in_ranges(tok_letter, NELEM(tok_letter), c);
}

static bool is_number(uint32_t c)
{
    if (c < 0x80)
        return c >= '0' && c <= '9';
    return in_ranges(tok_number, NELEM(tok_number), c);
}

/* Matched by no alternative of the pattern: findall skips it. */
static bool is_skipped(uint32_t c)
{
    return c >= 0x300 && in_ranges(tok_skipped, NELEM(tok_skipped), c);
}

/* Python's str.isspace. */
static bool is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

static uint32_t to_lower(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    size_t lo = 0, hi = NELEM(tok_lower);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < (uint32_t)tok_lower[mid][0])
            hi = mid;
        else if (c > (uint32_t)tok_lower[mid][1])
            lo = mid + 1;
        else
            return (c - (uint32_t)tok_lower[mid][0]) % (uint32_t)tok_lower[mid][3] == 0
                       ? (uint32_t)((int32_t)c + tok_lower[mid][2])
                       : c;
    }
    return c;
}

/* UTF-8 of c into out (4 bytes room); returns the byte count. */
static int utf8_put(uint32_t c, uint8_t *out)
{
    if (c < 0x80) {
        out[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (uint8_t)(0xc0 | (c >> 6));
        out[1] = (uint8_t)(0x80 | (c & 63));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (c >> 12));
        out[1] = (uint8_t)(0x80 | ((c >> 6) & 63));
        out[2] = (uint8_t)(0x80 | (c & 63));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (c >> 18));
    out[1] = (uint8_t)(0x80 | ((c >> 12) & 63));
    out[2] = (uint8_t)(0x80 | ((c >> 6) & 63));
    out[3] = (uint8_t)(0x80 | (c & 63));
    return 4;
}

/* One code point from s (n bytes left, n > 0); *used receives its bytes. A malformed
 * sequence gives U+FFFD for its first byte. */
static uint32_t utf8_get(const uint8_t *s, size_t n, size_t *used)
{
    uint32_t c = s[0];
    *used = 1;
    if (c < 0x80)
        return c;
    int k;
    uint32_t min;
    if (c >= 0xc2 && c <= 0xdf)
        k = 1, c &= 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        k = 2, c &= 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 3, c &= 0x07, min = 0x10000;
    else
        return 0xfffd;
    if ((size_t)k >= n)
        return 0xfffd;
    for (int i = 1; i <= k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0xfffd;
        c = (c << 6) | (s[i] & 63);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0xfffd;
    *used = (size_t)k + 1;
    return c;
}

/* A growable-in-place code point buffer of capacity MAXT (appends past it are dropped). */
typedef struct cpbuf {
    uint32_t *c;
    int n;
} cpbuf;

static void put(cpbuf *b, uint32_t c)
{
    if (b->n < MAXT)
        b->c[b->n++] = c;
}

static void put_utf8(cpbuf *b, const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strlen(s);
    while (n) {
        size_t used;
        put(b, utf8_get(p, n, &used));
        p += used;
        n -= used;
    }
}

/* ---- HTML entities ----------------------------------------------------------------- */
static const tok_entity *entity_find(const char *name)
{
    size_t lo = 0, hi = NELEM(tok_entities);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int d = strcmp(name, tok_entities[mid].name);
        if (d == 0)
            return &tok_entities[mid];
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool is_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}
static bool is_hex(uint32_t c)
{
    return is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'f');
}
static bool is_alnum_ascii(uint32_t c)
{
    return is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

/* Python's html._replace_charref for a numeric reference: the value of digits
 * s[0..n) (base 10 or 16) appended to out. */
static void numeric_ref(cpbuf *out, const uint32_t *s, int n, int base)
{
    static const uint16_t cp1252[32] = {
        0x20ac, 0x81,   0x201a, 0x192,  0x201e, 0x2026, 0x2020, 0x2021, 0x2c6,  0x2030, 0x160,
        0x2039, 0x152,  0x8d,   0x17d,  0x8f,   0x90,   0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
        0x2013, 0x2014, 0x2dc,  0x2122, 0x161,  0x203a, 0x153,  0x9d,   0x17e,  0x178};
    uint32_t v = 0;
    bool big = false;
    for (int i = 0; i < n; i++) {
        uint32_t d = is_digit(s[i]) ? s[i] - '0' : (s[i] | 32) - 'a' + 10;
        if (v > 0x10ffff)
            big = true;
        else
            v = v * (uint32_t)base + d;
    }
    if (big || v > 0x10ffff)
        v = 0x110000;
    if (v == 0) {
        put(out, 0xfffd);
    } else if (v == 0x0d) {
        put(out, 0x0d);
    } else if (v >= 0x80 && v <= 0x9f) {
        put(out, cp1252[v - 0x80]);
    } else if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) {
        put(out, 0xfffd);
    } else if ((v >= 0x1 && v <= 0x8) || (v >= 0xe && v <= 0x1f) || (v >= 0x7f && v <= 0x9f) ||
               (v >= 0xfdd0 && v <= 0xfdef) || v == 0xb || (v & 0xfffe) == 0xfffe) {
        /* invalid code point: dropped */
    } else {
        put(out, v);
    }
}

/* Python's html.unescape of in into out. */
static void html_unescape(const cpbuf *in, cpbuf *out)
{
    const uint32_t *s = in->c;
    int n = in->n;
    out->n = 0;
    for (int i = 0; i < n;) {
        if (s[i] != '&' || i + 1 >= n) {
            put(out, s[i++]);
            continue;
        }
        int j = i + 1;
        if (s[j] == '#') {
            int base = 10, k = j + 1;
            if (k < n && (s[k] | 32) == 'x')
                base = 16, k++;
            int d0 = k;
            while (k < n && (base == 10 ? is_digit(s[k]) : is_hex(s[k])))
                k++;
            if (k == d0) { /* no digits: not a reference */
                put(out, s[i++]);
                continue;
            }
            numeric_ref(out, s + d0, k - d0, base);
            if (k < n && s[k] == ';')
                k++;
            i = k;
            continue;
        }
        /* named: [^\t\n\f <&#;]{1,32};? */
        int k = j;
        while (k < n && k - j < 32 && s[k] != '\t' && s[k] != '\n' && s[k] != '\f' && s[k] != ' ' &&
               s[k] != '<' && s[k] != '&' && s[k] != '#' && s[k] != ';')
            k++;
        if (k == j) {
            put(out, s[i++]);
            continue;
        }
        int end = k < n && s[k] == ';' ? k + 1 : k;
        char name[40];
        bool ascii = true;
        for (int q = j; q < end; q++) {
            if (s[q] >= 0x80)
                ascii = false;
            name[q - j] = (char)s[q];
        }
        name[end - j] = 0;
        const tok_entity *e = NULL;
        int keep = end; /* first character after the entity's name */
        if (ascii) {
            e = entity_find(name);
            if (e && !(e->flags & 1))
                e = NULL;
            /* the longest prefix (at least 2 characters) that is an html5 name */
            for (int x = end - j - 1; !e && x > 1; x--) {
                char c = name[x];
                name[x] = 0;
                e = entity_find(name);
                if (e && !(e->flags & 1))
                    e = NULL;
                name[x] = c;
                keep = j + x;
            }
        } else {
            /* a prefix of only ASCII characters may still match */
            int a = j;
            while (a < end && s[a] < 0x80)
                a++;
            for (int x = a - j; !e && x > 1; x--) {
                name[x] = 0;
                e = entity_find(name);
                if (e && !(e->flags & 1))
                    e = NULL;
                keep = j + x;
            }
        }
        if (!e) { /* "&" + the name, unchanged */
            for (int q = i; q < end; q++)
                put(out, s[q]);
            i = end;
            continue;
        }
        put_utf8(out, e->value);
        for (int q = keep; q < end; q++)
            put(out, s[q]);
        i = end;
    }
}

/* ftfy's unescape_html: &#?[0-9A-Za-z]{1,24}; that is an html5 name with ';' or one
 * of ftfy's upper-case variants; "&#..." through html.unescape. */
static void ftfy_unescape(const cpbuf *in, cpbuf *out)
{
    const uint32_t *s = in->c;
    int n = in->n;
    out->n = 0;
    for (int i = 0; i < n;) {
        if (s[i] == '&') {
            int j = i + 1, k = j;
            if (k < n && s[k] == '#')
                k++;
            int a = k;
            while (k < n && k - a < 25 && is_alnum_ascii(s[k]))
                k++;
            if (k > a && k - a <= 24 && k < n && s[k] == ';') {
                char name[32];
                for (int q = j; q <= k; q++)
                    name[q - j] = (char)s[q];
                name[k + 1 - j] = 0;
                if (name[0] == '#') {
                    uint32_t tmp_in[32], tmp_out[32];
                    cpbuf ti = {tmp_in, 0}, to = {tmp_out, 0};
                    for (int q = i; q <= k; q++)
                        tmp_in[ti.n++] = s[q];
                    html_unescape(&ti, &to);
                    for (int q = 0; q < to.n; q++)
                        put(out, to.c[q]);
                    i = k + 1;
                    continue;
                }
                const tok_entity *e = entity_find(name);
                if (e) {
                    put_utf8(out, e->value);
                    i = k + 1;
                    continue;
                }
            }
        }
        put(out, s[i++]);
    }
}

/* ---- ftfy's character fixes and NFC ------------------------------------------------ */
static void char_fixes(const cpbuf *in, cpbuf *out)
{
    const uint32_t *s = in->c;
    int n = in->n;
    out->n = 0;
    for (int i = 0; i < n; i++) {
        uint32_t c = s[i];
        /* remove_terminal_escapes: ESC [ (digit|;)* letter */
        if (c == 0x1b && i + 1 < n && s[i + 1] == '[') {
            int k = i + 2;
            while (k < n && (is_digit(s[k]) || s[k] == ';'))
                k++;
            if (k < n && s[k] < 0x80 && ((s[k] | 32) >= 'a' && (s[k] | 32) <= 'z')) {
                i = k;
                continue;
            }
        }
        if (c >= 0x20 && c < 0x7f) {
            put(out, c);
            continue;
        }
        /* multi-character replacements */
        size_t lo = 0, hi = NELEM(tok_fix_multi);
        bool done = false;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (c < tok_fix_multi[mid][0]) {
                hi = mid;
            } else if (c > tok_fix_multi[mid][0]) {
                lo = mid + 1;
            } else {
                for (int q = 1; q < 4 && tok_fix_multi[mid][q]; q++)
                    put(out, tok_fix_multi[mid][q]);
                done = true;
                break;
            }
        }
        if (done)
            continue;
        lo = 0, hi = NELEM(tok_fix);
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (c < (uint32_t)tok_fix[mid][0]) {
                hi = mid;
            } else if (c > (uint32_t)tok_fix[mid][1]) {
                lo = mid + 1;
            } else {
                if (tok_fix[mid][2] != TOK_DEL)
                    put(out, (uint32_t)((int32_t)c + tok_fix[mid][2]));
                done = true;
                break;
            }
        }
        if (!done)
            put(out, c);
    }
}

static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a > 0xffff || b > 0xffff)
        return 0;
    size_t lo = 0, hi = NELEM(tok_compose);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t ma = tok_compose[mid][0], mb = tok_compose[mid][1];
        if (a < ma || (a == ma && b < mb))
            hi = mid;
        else if (a > ma || b > mb)
            lo = mid + 1;
        else
            return tok_compose[mid][2];
    }
    return 0;
}

static int ccc(uint32_t c)
{
    return c >= 0x300 && c < 0x370 ? tok_ccc[c - 0x300] : 0;
}

/* The canonical decomposition of c by the composition table into out (recursively on
 * the first part). */
static void decompose(uint32_t c, cpbuf *out)
{
    for (size_t k = 0; k < NELEM(tok_compose); k++)
        if (tok_compose[k][2] == c) {
            decompose(tok_compose[k][0], out);
            put(out, tok_compose[k][1]);
            return;
        }
    put(out, c);
}

/* NFC of in into out, within the tables (see tokenizer.h): a character of the table
 * followed by a combining mark is decomposed, each run of marks of U+0300..U+036F is
 * put in canonical order (stable, by combining class), then a starter composes with
 * each following mark not blocked by an uncomposed mark of the same or higher class. */
static void nfc(const cpbuf *in, cpbuf *out)
{
    out->n = 0;
    for (int i = 0; i < in->n; i++) {
        uint32_t c = in->c[i];
        if (c >= 0xc0 && i + 1 < in->n && ccc(in->c[i + 1]))
            decompose(c, out);
        else
            put(out, c);
    }
    uint32_t *s = out->c;
    int n = out->n, w = 0;
    for (int i = 0; i < n; i++) /* canonical order: insertion sort of each run of marks */
        for (int j = i; j > 0 && ccc(s[j]) && ccc(s[j - 1]) > ccc(s[j]); j--) {
            uint32_t x = s[j];
            s[j] = s[j - 1];
            s[j - 1] = x;
        }
    for (int i = 0; i < n;) {
        int st = w, last = 0;
        s[w++] = s[i++];
        while (i < n && ccc(s[i])) {
            int cc = ccc(s[i]);
            uint32_t comp = last < cc ? compose(s[st], s[i]) : 0;
            if (comp) {
                s[st] = comp;
            } else {
                s[w++] = s[i];
                last = cc;
            }
            i++;
        }
    }
    out->n = w;
}

static bool same(const cpbuf *a, const cpbuf *b)
{
    return a->n == b->n && memcmp(a->c, b->c, (size_t)a->n * sizeof(uint32_t)) == 0;
}

/* ftfy.fix_text of in into out, line by line; t1, t2, t3 are scratch. */
static void ftfy_fix(const cpbuf *in, cpbuf *out, cpbuf *t1, cpbuf *t2, cpbuf *t3)
{
    out->n = 0;
    bool html = true; /* "auto": off from the first line with '<' on */
    for (int pos = 0; pos < in->n;) {
        int end = pos;
        while (end < in->n && in->c[end] != '\n')
            end++;
        if (end < in->n)
            end++; /* the line keeps its '\n' */
        t1->n = 0;
        for (int i = pos; i < end; i++) {
            if (in->c[i] == '<')
                html = false;
            put(t1, in->c[i]);
        }
        /* passes until nothing changes: t1 -> (t2) -> t3, compared with t1 */
        for (int iter = 0; iter < 8; iter++) {
            if (html) {
                ftfy_unescape(t1, t2);
                char_fixes(t2, t3);
            } else {
                char_fixes(t1, t3);
            }
            nfc(t3, t2);
            bool stable = same(t1, t2);
            memcpy(t1->c, t2->c, (size_t)t2->n * sizeof(uint32_t));
            t1->n = t2->n;
            if (stable)
                break;
        }
        for (int i = 0; i < t1->n; i++)
            put(out, t1->c[i]);
        pos = end;
    }
}

/* " ".join(s.split()) */
static void collapse_space(const cpbuf *in, cpbuf *out)
{
    out->n = 0;
    bool pending = false;
    for (int i = 0; i < in->n; i++) {
        if (is_space(in->c[i])) {
            pending = out->n > 0;
            continue;
        }
        if (pending)
            put(out, ' ');
        pending = false;
        put(out, in->c[i]);
    }
}

/* Approximations of Unicode's Cased and Case_Ignorable, for Python's final-sigma rule:
 * letters of the scripts with case (and Roman numerals, circled letters); combining marks, U+0345,
 * the apostrophes, '.', ':', middle dot, soft hyphen, zero-width characters and the modifier
 * symbols ^ ` ¨ ¯ ´ ¸. */
static bool is_cased(uint32_t c)
{
    if ((c >= 0x2160 && c <= 0x217f) || (c >= 0x24b6 && c <= 0x24e9))
        return true;
    return is_letter(c) && (c < 0x0590 || (c >= 0x10a0 && c <= 0x10ff) ||
                            (c >= 0x13a0 && c <= 0x13ff) || (c >= 0x1c80 && c <= 0x1cbf) ||
                            (c >= 0x1d00 && c <= 0x1fff) || (c >= 0x2c00 && c <= 0x2d2f) ||
                            (c >= 0xa640 && c <= 0xa7ff) || (c >= 0xab30 && c <= 0xabbf) ||
                            (c >= 0xff21 && c <= 0xff5a) || (c >= 0x10400 && c <= 0x104ff) ||
                            (c >= 0x1d400 && c <= 0x1d7ff) || (c >= 0x1e900 && c <= 0x1e94f));
}

static bool is_case_ignorable(uint32_t c)
{
    return ccc(c) || c == 0x345 || c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' ||
           c == 0xa8 || c == 0xaf || c == 0xb4 || c == 0xb7 || c == 0xb8 || c == 0xad ||
           c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027 || c == 0x387 ||
           (c >= 0x200b && c <= 0x200f) || (c >= 0x2b0 && c <= 0x2ff);
}

/* Python's str.lower: the table, U+0130 -> "i\u0307", and capital sigma -> final sigma
 * after a cased letter and not before one (case-ignorable characters skipped). */
static void lower_all(const cpbuf *in, cpbuf *out)
{
    out->n = 0;
    for (int i = 0; i < in->n; i++) {
        uint32_t c = in->c[i];
        if (c == 0x130) {
            put(out, 'i');
            put(out, 0x307);
        } else if (c == 0x3a3) {
            int j = i - 1;
            while (j >= 0 && is_case_ignorable(in->c[j]))
                j--;
            bool fin = j >= 0 && is_cased(in->c[j]);
            if (fin) {
                j = i + 1;
                while (j < in->n && is_case_ignorable(in->c[j]))
                    j++;
                fin = j == in->n || !is_cased(in->c[j]);
            }
            put(out, fin ? 0x3c2 : 0x3c3);
        } else {
            put(out, to_lower(c));
        }
    }
}

/* ---- BPE tables -------------------------------------------------------------------- */
/* bytes_to_unicode: byte b's character and its index (token id) in the vocabulary. */
static uint32_t byte_char(int b, int *id)
{
    /* the 188 printable bytes 0x21..0x7e, 0xa1..0xac, 0xae..0xff keep their value and
     * come first, in order; the other 68 map to 256 + n, n their rank in byte order */
    if (b >= 0x21 && b <= 0x7e) {
        *id = b - 0x21;
        return (uint32_t)b;
    }
    if (b >= 0xa1 && b <= 0xac) {
        *id = 94 + (b - 0xa1);
        return (uint32_t)b;
    }
    if (b >= 0xae) {
        *id = 106 + (b - 0xae);
        return (uint32_t)b;
    }
    int n = b < 0x21 ? b : b <= 0xa0 ? 33 + (b - 0x7f) : 67; /* 0xad: the last */
    *id = 188 + n;
    return (uint32_t)(256 + n);
}

static uint32_t hash_bytes(const uint8_t *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

static uint32_t hash_pair(int32_t a, int32_t b)
{
    uint64_t x = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint32_t)x;
}

static uint32_t pow2_at_least(uint64_t n)
{
    uint32_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

/* The shape of a merges text: merge lines taken, bytes of their two fields. */
typedef struct merges_shape {
    int32_t lines;
    size_t field_bytes;
} merges_shape;

static bool hspace(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Split line [p, e) into fields; returns their count (up to 3 recorded). */
static int fields(const char *p, const char *e, const char **f, size_t *fl)
{
    int k = 0;
    while (p < e) {
        while (p < e && hspace(*p))
            p++;
        if (p >= e)
            break;
        const char *s = p;
        while (p < e && !hspace(*p))
            p++;
        if (k < 3) {
            f[k] = s;
            fl[k] = (size_t)(p - s);
        }
        k++;
    }
    return k;
}

static fm_status shape_of(const char *m, size_t n, merges_shape *sh, char *msg, size_t msglen)
{
    if (!m)
        return fm_errorf(msg, msglen, FM_ERR_ARG, "BPE merges: NULL text");
    const char *p = m, *e = m + n;
    const char *nl = memchr(p, '\n', n);
    const char *h_end = nl ? nl : e;
    bool ver = false;
    for (const char *q = p; q + 8 <= h_end; q++)
        if (memcmp(q, "#version", 8) == 0)
            ver = true;
    if (!ver)
        return fm_errorf(msg, msglen, FM_ERR_FORMAT,
                         "not a CLIP BPE merges file: its first line has no '#version' header "
                         "(expected bpe_simple_vocab_16e6.txt or merges.txt)");
    sh->lines = 0;
    sh->field_bytes = 0;
    if (!nl)
        return FM_OK;
    p = nl + 1;
    /* Python: text.split('\n')[1:48895]: after the header, every piece up to the next
     * '\n' (or the end) is a line, the empty one after a final '\n' included. */
    for (;;) {
        if (sh->lines == FM_CLIP_MAX_MERGES)
            break;
        const char *le = memchr(p, '\n', (size_t)(e - p));
        if (!le)
            le = e;
        const char *f[3];
        size_t fl[3];
        int k = fields(p, le, f, fl);
        if (k == 1 || k > 2)
            return fm_errorf(msg, msglen, FM_ERR_FORMAT,
                             "not a CLIP BPE merges file: line %d has %d field%s (a merge is "
                             "two tokens, \"a b\")",
                             (int)(sh->lines + 2), k, k == 1 ? "" : "s");
        if (k == 2)
            sh->field_bytes += fl[0] + fl[1];
        sh->lines++;
        if (le == e)
            break;
        p = le + 1;
    }
    return FM_OK;
}

#define SPECIAL_SOT "<start_of_text>"
#define SPECIAL_EOT "<end_of_text>"

typedef struct bpe_layout {
    size_t pairs, str_slot, str_off, pool, total;
    uint32_t pair_cap, str_cap;
    int32_t vocab;
    size_t pool_bytes;
} bpe_layout;

static size_t align8(size_t x)
{
    return (x + 7) & ~(size_t)7;
}

static void layout(const merges_shape *sh, bpe_layout *l)
{
    l->vocab = 512 + sh->lines + 2;
    l->pair_cap = pow2_at_least((uint64_t)sh->lines * 4 / 3 + 1);
    l->str_cap = pow2_at_least((uint64_t)l->vocab * 4 / 3 + 1);
    /* 256 characters of one or two UTF-8 bytes, the same with "</w>", merges, specials */
    size_t base = 0;
    for (int b = 0; b < 256; b++) {
        int id;
        base += byte_char(b, &id) < 0x80 ? 1 : 2;
    }
    l->pool_bytes = base * 2 + 256 * 4 + sh->field_bytes + sizeof SPECIAL_SOT + sizeof SPECIAL_EOT;
    size_t o = 8; /* room to align the block */
    l->pairs = o;
    o = align8(o + (size_t)l->pair_cap * sizeof(fm_bpe_pair));
    l->str_slot = o;
    o = align8(o + (size_t)l->str_cap * sizeof(int32_t));
    l->str_off = o;
    o = align8(o + ((size_t)l->vocab + 1) * sizeof(uint32_t));
    l->pool = o;
    o += l->pool_bytes;
    l->total = o;
}

fm_status fm_bpe_need(const char *merges, size_t n, size_t *bytes, char *msg, size_t msglen)
{
    if (!bytes)
        return fm_errorf(msg, msglen, FM_ERR_ARG, "fm_bpe_need: NULL bytes");
    merges_shape sh;
    FM_TRY(shape_of(merges, n, &sh, msg, msglen));
    bpe_layout l;
    layout(&sh, &l);
    *bytes = l.total;
    return FM_OK;
}

static int32_t str_find(const fm_bpe *t, const uint8_t *s, size_t n)
{
    for (uint32_t h = hash_bytes(s, n) & t->str_mask;; h = (h + 1) & t->str_mask) {
        int32_t id = t->str_slot[h];
        if (id < 0)
            return -1;
        size_t len = t->str_off[id + 1] - t->str_off[id];
        if (len == n && memcmp(t->pool + t->str_off[id], s, n) == 0)
            return id;
    }
}

static void str_insert(fm_bpe *t, int32_t id)
{
    const uint8_t *s = t->pool + t->str_off[id];
    size_t n = t->str_off[id + 1] - t->str_off[id];
    uint32_t h = hash_bytes(s, n) & t->str_mask;
    while (t->str_slot[h] >= 0)
        h = (h + 1) & t->str_mask;
    t->str_slot[h] = id;
}

static const fm_bpe_pair *pair_find(const fm_bpe *t, int32_t a, int32_t b)
{
    for (uint32_t h = hash_pair(a, b) & t->pair_mask;; h = (h + 1) & t->pair_mask) {
        const fm_bpe_pair *p = &t->pairs[h];
        if (p->a < 0)
            return NULL;
        if (p->a == a && p->b == b)
            return p;
    }
}

fm_status fm_bpe_load(fm_bpe *t, void *mem, size_t bytes, const char *merges, size_t n, char *msg,
                      size_t msglen)
{
    if (!t || !mem)
        return fm_errorf(msg, msglen, FM_ERR_ARG, "fm_bpe_load: NULL %s", t ? "memory" : "table");
    merges_shape sh;
    FM_TRY(shape_of(merges, n, &sh, msg, msglen));
    bpe_layout l;
    layout(&sh, &l);
    if (bytes < l.total)
        return fm_errorf(msg, msglen, FM_ERR_ARENA,
                         "BPE tables need %zu bytes, %zu given (fm_bpe_need)", l.total, bytes);
    uint8_t *base = (uint8_t *)mem;
    base += (8 - ((uintptr_t)base & 7)) & 7;
    memset(t, 0, sizeof *t);
    t->n_merges = sh.lines;
    t->vocab = l.vocab;
    t->sot = l.vocab - 2;
    t->eot = l.vocab - 1;
    t->pad = FM_CLIP_PAD;
    t->pair_mask = l.pair_cap - 1;
    t->str_mask = l.str_cap - 1;
    t->pairs = (fm_bpe_pair *)(void *)(base + l.pairs - 8);
    t->str_slot = (int32_t *)(void *)(base + l.str_slot - 8);
    t->str_off = (uint32_t *)(void *)(base + l.str_off - 8);
    t->pool = base + l.pool - 8;
    for (uint32_t i = 0; i < l.pair_cap; i++)
        t->pairs[i] = (fm_bpe_pair){-1, -1, -1, -1};
    for (uint32_t i = 0; i < l.str_cap; i++)
        t->str_slot[i] = -1;

    /* ids 0..511: the byte characters, then the same with "</w>" */
    uint32_t o = 0;
    uint8_t chr[256][2];
    int clen[256];
    for (int b = 0; b < 256; b++) {
        int id;
        uint32_t c = byte_char(b, &id);
        uint8_t u[4];
        int k = utf8_put(c, u);
        memcpy(chr[id], u, (size_t)k);
        clen[id] = k;
    }
    for (int id = 0; id < 512; id++) {
        t->str_off[id] = o;
        memcpy(t->pool + o, chr[id & 255], (size_t)clen[id & 255]);
        o += (uint32_t)clen[id & 255];
        if (id >= 256) {
            memcpy(t->pool + o, "</w>", 4);
            o += 4;
        }
        t->str_off[id + 1] = o;
        str_insert(t, id);
    }
    /* the merges */
    const char *p = memchr(merges, '\n', n);
    const char *e = merges + n;
    p = p ? p + 1 : e;
    for (int32_t k = 0; k < sh.lines; k++) {
        const char *le = memchr(p, '\n', (size_t)(e - p));
        if (!le)
            le = e;
        const char *f[3];
        size_t fl[3];
        int nf = fields(p, le, f, fl);
        int32_t id = 512 + k;
        t->str_off[id] = o;
        if (nf == 2) {
            int32_t a = str_find(t, (const uint8_t *)f[0], fl[0]);
            int32_t b = str_find(t, (const uint8_t *)f[1], fl[1]);
            if (a < 0 || b < 0)
                return fm_errorf(msg, msglen, FM_ERR_FORMAT,
                                 "not a CLIP BPE merges file: line %d: '%.*s' is not a token "
                                 "defined above it",
                                 (int)(k + 2), (int)(a < 0 ? fl[0] : fl[1]), a < 0 ? f[0] : f[1]);
            memcpy(t->pool + o, f[0], fl[0]);
            memcpy(t->pool + o + fl[0], f[1], fl[1]);
            o += (uint32_t)(fl[0] + fl[1]);
            t->str_off[id + 1] = o;
            int32_t dup = str_find(t, t->pool + t->str_off[id], fl[0] + fl[1]);
            if (dup >= 0)
                return fm_errorf(msg, msglen, FM_ERR_FORMAT,
                                 "not a CLIP BPE merges file: line %d: token '%.*s%.*s' is "
                                 "already defined (id %d)",
                                 (int)(k + 2), (int)fl[0], f[0], (int)fl[1], f[1], (int)dup);
            str_insert(t, id);
            fm_bpe_pair *slot = NULL;
            for (uint32_t h = hash_pair(a, b) & t->pair_mask;; h = (h + 1) & t->pair_mask) {
                slot = &t->pairs[h];
                if (slot->a < 0 || (slot->a == a && slot->b == b))
                    break;
            }
            *slot = (fm_bpe_pair){a, b, k, id};
        } else {
            t->str_off[id + 1] = o; /* an empty line: an id with the empty string */
        }
        p = le + 1;
    }
    /* SOT, EOT: their names, for fm_bpe_token (never looked up as strings) */
    for (int s = 0; s < 2; s++) {
        const char *name = s ? SPECIAL_EOT : SPECIAL_SOT;
        size_t len = strlen(name);
        int32_t id = t->sot + s;
        t->str_off[id] = o;
        memcpy(t->pool + o, name, len);
        o += (uint32_t)len;
        t->str_off[id + 1] = o;
    }
    return FM_OK;
}

fm_status fm_bpe_token(const fm_bpe *t, int32_t id, const char **s, size_t *n, char *msg,
                       size_t msglen)
{
    if (!t || !s || !n)
        return fm_errorf(msg, msglen, FM_ERR_ARG, "fm_bpe_token: NULL argument");
    if (id < 0 || id >= t->vocab)
        return fm_errorf(msg, msglen, FM_ERR_ARG, "token id %d is outside the vocabulary (0..%d)",
                         (int)id, (int)(t->vocab - 1));
    *s = (const char *)t->pool + t->str_off[id];
    *n = t->str_off[id + 1] - t->str_off[id];
    return FM_OK;
}

/* ---- encoding ---------------------------------------------------------------------- */
typedef struct emitter {
    int32_t *ids;
    int n, max; /* max: ids before EOT (ctx - 1); more are dropped */
} emitter;

static void emit(emitter *em, int32_t id)
{
    if (em->n < em->max)
        em->ids[em->n++] = id;
}

/* BPE of one pre-token (its UTF-8 bytes) into ids. */
static void bpe_word(const fm_bpe *t, const uint8_t *u, int n, int32_t *sym, emitter *em)
{
    for (int i = 0; i < n; i++) {
        int id;
        byte_char(u[i], &id);
        sym[i] = id;
    }
    sym[n - 1] += 256; /* the word's last character carries "</w>" */
    int m = n;
    while (m > 1) {
        int32_t best = INT32_MAX, ba = -1, bb = -1, bm = -1;
        for (int i = 0; i + 1 < m; i++) {
            const fm_bpe_pair *p = pair_find(t, sym[i], sym[i + 1]);
            if (p && p->rank < best)
                best = p->rank, ba = p->a, bb = p->b, bm = p->merged;
        }
        if (bm < 0)
            break;
        int w = 0;
        for (int i = 0; i < m;) {
            if (i + 1 < m && sym[i] == ba && sym[i + 1] == bb) {
                sym[w++] = bm;
                i += 2;
            } else {
                sym[w++] = sym[i++];
            }
        }
        m = w;
    }
    for (int i = 0; i < m; i++)
        emit(em, sym[i]);
}

static bool match_ascii_ci(const uint32_t *s, int n, const char *lit)
{
    int k = (int)strlen(lit);
    if (k > n)
        return false;
    for (int i = 0; i < k; i++) {
        uint32_t c = s[i];
        if (c == 0x17f) /* ſ folds to s */
            c = 's';
        if (c == 0x212a) /* KELVIN SIGN folds to k */
            c = 'k';
        if (c < 0x80 && c >= 'A' && c <= 'Z')
            c += 32;
        if (c != (uint32_t)(unsigned char)lit[i])
            return false;
    }
    return true;
}

fm_status fm_bpe_encode(const fm_bpe *t, const char *text, int32_t *ids, int ctx, int *len,
                        char *msg, size_t msglen)
{
    if (!t || !text || !ids)
        return fm_errorf(msg, msglen, FM_ERR_ARG, "tokenizer (clip-bpe): NULL %s",
                         !t      ? "tables"
                         : !text ? "text"
                                 : "ids");
    if (ctx < 2)
        return fm_errorf(msg, msglen, FM_ERR_ARG,
                         "tokenizer (clip-bpe): context length %d is below 2 (SOT and EOT)", ctx);
    /* work[0..3]: the clean-up's buffers, then the symbols of a pre-token (4 * MAXT,
     * room for the UTF-8 of MAXT code points); work[4]: the cleaned text. */
    uint32_t work[5][MAXT];
    uint8_t u[4 * MAXT];
    cpbuf A = {work[0], 0}, B = {work[1], 0}, C = {work[2], 0}, D = {work[3], 0};
    cpbuf E = {work[4], 0};
    const uint8_t *p = (const uint8_t *)text;
    size_t left = strlen(text);
    while (left && A.n < MAXT) {
        size_t used;
        A.c[A.n++] = utf8_get(p, left, &used);
        p += used;
        left -= used;
    }
    ftfy_fix(&A, &B, &C, &D, &E); /* A -> B */
    html_unescape(&B, &A);        /* B -> A */
    html_unescape(&A, &B);        /* A -> B */
    collapse_space(&B, &A);       /* B -> A */
    lower_all(&A, &E);            /* A -> E */
    int32_t *sym = (int32_t *)(void *)work[0];

    emitter em = {ids, 0, ctx - 1};
    emit(&em, t->sot);
    const uint32_t *s = E.c;
    int n = E.n;
    for (int i = 0; i < n && em.n < em.max;) {
        uint32_t c = s[i];
        if (is_space(c) || is_skipped(c)) {
            i++;
            continue;
        }
        int j;
        if (c == '<' && match_ascii_ci(s + i, n - i, SPECIAL_SOT)) {
            emit(&em, t->sot);
            i += (int)strlen(SPECIAL_SOT);
            continue;
        }
        if (c == '<' && match_ascii_ci(s + i, n - i, SPECIAL_EOT)) {
            emit(&em, t->eot);
            i += (int)strlen(SPECIAL_EOT);
            continue;
        }
        if (c == '\'' &&
            (match_ascii_ci(s + i, n - i, "'s") || match_ascii_ci(s + i, n - i, "'t") ||
             match_ascii_ci(s + i, n - i, "'m") || match_ascii_ci(s + i, n - i, "'d")))
            j = i + 2;
        else if (c == '\'' &&
                 (match_ascii_ci(s + i, n - i, "'re") || match_ascii_ci(s + i, n - i, "'ve") ||
                  match_ascii_ci(s + i, n - i, "'ll")))
            j = i + 3;
        else if (is_letter(c))
            for (j = i + 1; j < n && is_letter(s[j]); j++)
                ;
        else if (is_number(c))
            j = i + 1;
        else
            for (j = i + 1; j < n && !is_space(s[j]) && !is_letter(s[j]) && !is_number(s[j]) &&
                            !is_skipped(s[j]);
                 j++)
                ;
        int nb = 0;
        for (int q = i; q < j; q++)
            nb += utf8_put(s[q], u + nb);
        bpe_word(t, u, nb, sym, &em);
        i = j;
    }
    ids[em.n++] = t->eot;
    if (len)
        *len = em.n;
    for (int i = em.n; i < ctx; i++)
        ids[i] = t->pad;
    return FM_OK;
}

/* ---- either ------------------------------------------------------------------------ */
fm_status fm_tokenizer_encode(const fm_tokenizer *t, const char *text, int32_t *ids, int ctx,
                              int *len, char *msg, size_t msglen)
{
    if (!t)
        return fm_errorf(msg, msglen, FM_ERR_ARG, "tokenizer: NULL");
    switch (t->kind) {
    case FM_TOK_BYTES: return fm_tok_bytes_encode(text, ids, ctx, len, msg, msglen);
    case FM_TOK_CLIP_BPE:
        if (!t->bpe)
            return fm_errorf(msg, msglen, FM_ERR_ARG, "tokenizer clip-bpe: no tables loaded");
        return fm_bpe_encode(t->bpe, text, ids, ctx, len, msg, msglen);
    case FM_TOK_NONE:
        return fm_errorf(msg, msglen, FM_ERR_ARG, "tokenizer: the model has none (kind 0)");
    }
    return fm_errorf(msg, msglen, FM_ERR_ARG, "tokenizer: unknown kind %d", (int)t->kind);
}

int32_t fm_tokenizer_vocab(const fm_tokenizer *t)
{
    if (!t)
        return 0;
    if (t->kind == FM_TOK_BYTES)
        return FM_TOK_BYTES_VOCAB;
    if (t->kind == FM_TOK_CLIP_BPE && t->bpe)
        return t->bpe->vocab;
    return 0;
}

int32_t fm_tokenizer_pad(const fm_tokenizer *t)
{
    if (!t)
        return 0;
    if (t->kind == FM_TOK_BYTES)
        return FM_TOK_BYTES_PAD;
    if (t->kind == FM_TOK_CLIP_BPE && t->bpe)
        return t->bpe->pad;
    return 0;
}

const char *fm_tok_kind_name(fm_tok_kind k)
{
    switch (k) {
    case FM_TOK_NONE: return "none";
    case FM_TOK_BYTES: return "bytes";
    case FM_TOK_CLIP_BPE: return "clip-bpe";
    }
    return NULL;
}
