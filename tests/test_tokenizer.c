/* model/tokenizer.h: the byte-level tokenizer's rows and truncation; CLIP's BPE
 * against ids written by open_clip's own tokenizer (scripts/reference/
 * tokenizer_fixture.py): tests/data/tokenizer/clip-cases.txt with the first 300 merges
 * of the real vocabulary (clip-merges-300.txt, committed) and, when the real
 * bpe_simple_vocab_16e6.txt.gz is at hand (environment FMRT_CLIP_VOCAB, or the
 * CMake cache variable of the same name), with the full one; without it that test
 * says so and skips. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tokenizer.h"

#ifndef FMRT_TEST_DATA_DIR
#define FMRT_TEST_DATA_DIR "tests/data"
#endif
#ifndef FMRT_CLIP_VOCAB_DEFAULT
#define FMRT_CLIP_VOCAB_DEFAULT ""
#endif

/* ---- byte level -------------------------------------------------------------------- */
static void bytes_row(const char *text, int ctx, int32_t *ids, int *len)
{
    char msg[200];
    fm_status s = fm_tok_bytes_encode(text, ids, ctx, len, msg, sizeof msg);
    cr_assert_eq(s, FM_OK, "%s", msg);
}

Test(tokenizer_bytes, round_trip)
{
    const char *texts[] = {"a photo of a cat", "Ünïcödé bytes: 日本 😀", "x", "",
                           "punct!?;:'\"<>&#"};
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        int32_t ids[128];
        int len;
        bytes_row(texts[k], 128, ids, &len);
        size_t n = strlen(texts[k]);
        cr_assert_eq(len, (int)n + 2, "'%s': len %d", texts[k], len);
        cr_expect_eq(ids[0], FM_TOK_BYTES_BOS);
        cr_expect_eq(ids[len - 1], FM_TOK_BYTES_EOS);
        char back[128];
        for (int i = 1; i < len - 1; i++) {
            cr_assert(ids[i] >= 0 && ids[i] < 256);
            back[i - 1] = (char)ids[i];
        }
        back[len - 2] = 0;
        cr_expect_str_eq(back, texts[k]);
        for (int i = len; i < 128; i++)
            cr_expect_eq(ids[i], FM_TOK_BYTES_PAD);
    }
}

Test(tokenizer_bytes, whitespace)
{
    int32_t ids[32];
    int len;
    bytes_row(" \t a \n\n  b\r\nc  ", 32, ids, &len);
    const int32_t want[] = {FM_TOK_BYTES_BOS, 'a', ' ', 'b', ' ', 'c', FM_TOK_BYTES_EOS};
    cr_assert_eq(len, 7);
    for (int i = 0; i < len; i++)
        cr_expect_eq(ids[i], want[i], "id %d", i);
    bytes_row(" \t\n ", 32, ids, &len);
    cr_expect_eq(len, 2);
    cr_expect_eq(ids[1], FM_TOK_BYTES_EOS);
    cr_expect_eq(ids[2], FM_TOK_BYTES_PAD);
}

Test(tokenizer_bytes, truncation_keeps_eos)
{
    int32_t ids[8];
    int len;
    bytes_row("abcdefghijklmnop", 8, ids, &len);
    cr_assert_eq(len, 8);
    cr_expect_eq(ids[0], FM_TOK_BYTES_BOS);
    for (int i = 1; i < 7; i++)
        cr_expect_eq(ids[i], 'a' + i - 1);
    cr_expect_eq(ids[7], FM_TOK_BYTES_EOS);
    bytes_row("abcdef", 8, ids, &len); /* exactly ctx - 2 bytes */
    cr_expect_eq(len, 8);
    cr_expect_eq(ids[6], 'f');
    cr_expect_eq(ids[7], FM_TOK_BYTES_EOS);
    bytes_row("abcdefg     ", 2, ids, &len);
    cr_expect_eq(len, 2);
    cr_expect_eq(ids[1], FM_TOK_BYTES_EOS);
}

Test(tokenizer_bytes, bad_arguments)
{
    int32_t ids[4];
    char msg[200] = "";
    cr_expect_eq(fm_tok_bytes_encode("a", ids, 1, NULL, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "context length 1") != NULL, "%s", msg);
    cr_expect_eq(fm_tok_bytes_encode(NULL, ids, 4, NULL, msg, sizeof msg), FM_ERR_ARG);
    fm_tokenizer none = {FM_TOK_NONE, NULL};
    cr_expect_eq(fm_tokenizer_encode(&none, "a", ids, 4, NULL, msg, sizeof msg), FM_ERR_ARG);
    fm_tokenizer by = {FM_TOK_BYTES, NULL};
    cr_expect_eq(fm_tokenizer_encode(&by, "a", ids, 4, NULL, msg, sizeof msg), FM_OK);
    cr_expect_eq(fm_tokenizer_vocab(&by), 259);
    cr_expect_eq(fm_tokenizer_pad(&by), 258);
}

/* ---- CLIP BPE ---------------------------------------------------------------------- */
static char *read_all(const char *path, size_t *n)
{
    gzFile f = gzopen(path, "rb"); /* gzip'd or plain */
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    for (;;) {
        if (len == cap)
            b = realloc(b, cap *= 2);
        int got = gzread(f, b + len, (unsigned)(cap - len));
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    gzclose(f);
    *n = len;
    return b;
}

static fm_bpe *load_bpe(const char *path, void **mem)
{
    size_t n = 0;
    char *text = read_all(path, &n);
    cr_assert(text, "cannot read %s", path);
    size_t need;
    char msg[300];
    cr_assert_eq(fm_bpe_need(text, n, &need, msg, sizeof msg), FM_OK, "%s", msg);
    *mem = malloc(need);
    static fm_bpe t;
    /* one byte short is refused */
    cr_assert_eq(fm_bpe_load(&t, *mem, need - 1, text, n, msg, sizeof msg), FM_ERR_ARENA);
    cr_assert_eq(fm_bpe_load(&t, *mem, need, text, n, msg, sizeof msg), FM_OK, "%s", msg);
    free(text); /* the tables do not refer to the text */
    return &t;
}

/* C escapes of the fixture (\n \t \\ \xHH) into out. */
static void unescape(const char *s, char *out)
{
    while (*s) {
        if (*s == '\\' && s[1]) {
            s++;
            if (*s == 'n')
                *out++ = '\n', s++;
            else if (*s == 't')
                *out++ = '\t', s++;
            else if (*s == 'x') {
                unsigned v;
                sscanf(s + 1, "%2x", &v);
                *out++ = (char)v;
                s += 3;
            } else
                *out++ = *s++;
        } else {
            *out++ = *s++;
        }
    }
    *out = 0;
}

/* Every case of clip-cases.txt with the ids of line tag ('S' or 'F'). */
static void check_cases(const fm_bpe *t, char tag)
{
    FILE *f = fopen(FMRT_TEST_DATA_DIR "/tokenizer/clip-cases.txt", "r");
    cr_assert(f, "cannot open the fixture");
    static char line[1 << 16], text[1 << 16];
    int ctx = 0, cases = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == 'T') {
            char *sp = strchr(line + 2, ' ');
            ctx = atoi(line + 2);
            unescape(sp ? sp + 1 : "", text);
            continue;
        }
        if (line[0] != tag)
            continue;
        int32_t want[128], got[128];
        int nw = 0;
        for (char *p = line + 1; *p;) {
            char *e;
            long v = strtol(p, &e, 10);
            if (e == p)
                break;
            want[nw++] = (int32_t)v;
            p = e;
        }
        for (int i = nw; i < ctx; i++)
            want[i] = 0;
        int len;
        char msg[200];
        cr_assert_eq(fm_bpe_encode(t, text, got, ctx, &len, msg, sizeof msg), FM_OK, "%s", msg);
        cases++;
        int same = len == nw && memcmp(got, want, (size_t)ctx * sizeof(int32_t)) == 0;
        if (!same) {
            bad++;
            fprintf(stderr, "MISMATCH (%c) '%s'\n  want:", tag, text);
            for (int i = 0; i < nw; i++)
                fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n  got: ");
            for (int i = 0; i < len; i++)
                fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n");
        }
    }
    fclose(f);
    cr_expect_gt(cases, 20);
    cr_expect_eq(bad, 0, "%d of %d cases differ from open_clip (see stderr)", bad, cases);
}

Test(tokenizer_clip, small_vocab_matches_open_clip)
{
    void *mem;
    fm_bpe *t = load_bpe(FMRT_TEST_DATA_DIR "/tokenizer/clip-merges-300.txt", &mem);
    /* 300 merges and the empty line of the final newline */
    cr_expect_eq(t->n_merges, 301);
    cr_expect_eq(t->sot, 813);
    cr_expect_eq(t->eot, 814);
    const char *s;
    size_t n;
    cr_assert_eq(fm_bpe_token(t, 0, &s, &n, NULL, 0), FM_OK);
    cr_expect(n == 1 && s[0] == '!');
    cr_assert_eq(fm_bpe_token(t, 256 + 'a' - 0x21, &s, &n, NULL, 0), FM_OK);
    cr_expect(n == 5 && memcmp(s, "a</w>", 5) == 0);
    cr_assert_eq(fm_bpe_token(t, 187 + 256, &s, &n, NULL, 0), FM_OK); /* byte 0xff */
    cr_expect(n == 6 && memcmp(s, "\xc3\xbf</w>", 6) == 0);
    cr_assert_eq(fm_bpe_token(t, 188, &s, &n, NULL, 0), FM_OK); /* byte 0x00 -> U+0100 */
    cr_expect(n == 2 && memcmp(s, "\xc4\x80", 2) == 0);
    cr_expect_eq(fm_bpe_token(t, 815, &s, &n, NULL, 0), FM_ERR_ARG);
    check_cases(t, 'S');
    fm_tokenizer tk = {FM_TOK_CLIP_BPE, t};
    cr_expect_eq(fm_tokenizer_vocab(&tk), 815);
    cr_expect_eq(fm_tokenizer_pad(&tk), 0);
    free(mem);
}

Test(tokenizer_clip, pad_is_a_parameter)
{
    void *mem;
    fm_bpe *t = load_bpe(FMRT_TEST_DATA_DIR "/tokenizer/clip-merges-300.txt", &mem);
    t->pad = t->eot; /* Hugging Face's way */
    int32_t ids[10];
    int len;
    cr_assert_eq(fm_bpe_encode(t, "a", ids, 10, &len, NULL, 0), FM_OK);
    cr_expect_eq(len, 3);
    for (int i = 2; i < 10; i++)
        cr_expect_eq(ids[i], t->eot);
    free(mem);
}

Test(tokenizer_clip, not_a_vocabulary)
{
    char msg[300];
    size_t need;
    const char *texts[] = {
        "hello world\n",                 /* no header */
        "#version: 0.2\na b c\n",        /* three fields */
        "#version: 0.2\ni n\nzz q\n",    /* unknown token */
        "#version: 0.2\ni n\ni n\n",     /* defined twice */
        "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", /* a binary file */
    };
    fm_status want[] = {FM_ERR_FORMAT, FM_ERR_FORMAT, FM_OK, FM_OK, FM_ERR_FORMAT};
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        size_t n = k == 4 ? 16 : strlen(texts[k]);
        msg[0] = 0;
        fm_status s = fm_bpe_need(texts[k], n, &need, msg, sizeof msg);
        cr_expect_eq(s, want[k], "case %zu: %d %s", k, s, msg);
        if (s != FM_OK) {
            cr_expect(strstr(msg, "not a CLIP BPE merges file") != NULL, "%s", msg);
            continue;
        }
        void *mem = malloc(need);
        fm_bpe t;
        s = fm_bpe_load(&t, mem, need, texts[k], n, msg, sizeof msg);
        cr_expect_eq(s, FM_ERR_FORMAT, "case %zu", k);
        cr_expect(strstr(msg, "line 3") != NULL, "%s", msg);
        free(mem);
    }
}

Test(tokenizer_full, clip_matches_open_clip)
{
    const char *path = getenv("FMRT_CLIP_VOCAB");
    if (!path || !*path)
        path = FMRT_CLIP_VOCAB_DEFAULT;
    FILE *f = *path ? fopen(path, "rb") : NULL;
    if (!f) {
        fprintf(stderr,
                "SKIPPED: no CLIP vocabulary (set FMRT_CLIP_VOCAB to "
                "bpe_simple_vocab_16e6.txt.gz, e.g. from the open_clip package%s%s)\n",
                *path ? "; not found: " : "", path);
        cr_skip_test("no CLIP vocabulary file (FMRT_CLIP_VOCAB)");
    }
    fclose(f);
    void *mem;
    fm_bpe *t = load_bpe(path, &mem);
    cr_expect_eq(t->n_merges, FM_CLIP_MAX_MERGES);
    cr_expect_eq(t->sot, FM_CLIP_SOT_FULL);
    cr_expect_eq(t->eot, FM_CLIP_EOT_FULL);
    check_cases(t, 'F');
    free(mem);
}
