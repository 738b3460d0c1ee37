/* Text conditioning in the tool (cli_text.h): the default encoder, text configs, the
 * tokenizer of a text model, caption and prompt files and their rows of token ids. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "cli_text.h"

#define MAX_VOCAB_BYTES ((size_t)64 << 20) /* the real CLIP file inflates to 1.6 MB */

void cli_text_default(fm_config *c)
{
    c->text_tokenizer = FM_TOK_BYTES;
    c->text_vocab = FM_TOK_BYTES_VOCAB;
    c->text_ctx = 32;
    c->text_width = 64;
    c->text_depth = 2;
    c->text_heads = 4;
    c->text_ff = 256;
}

int cli_config_sets_text(const cli_config_opts *o)
{
    for (int i = 0; i < o->nsets; i++)
        if (strncmp(o->sets[i], "text_", 5) == 0)
            return 1;
    return 0;
}

static void no_text(fm_config *c)
{
    c->text_tokenizer = c->text_vocab = c->text_ctx = c->text_width = c->text_depth =
        c->text_heads = c->text_ff = 0;
}

int cli_text_build_config(const cli_config_opts *o, int text, fm_config *cfg)
{
    if (!text && !cli_config_sets_text(o))
        return cli_build_config(o, cfg);
    /* The preset alone (checked as cli_build_config checks it), the encoder, then the
     * settings and --classes. */
    cli_config_opts base = *o;
    base.nsets = 0;
    base.have_classes = 0;
    int rc = cli_build_config(&base, cfg);
    if (rc != 0)
        return rc;
    if (cfg->text_depth == 0)
        cli_text_default(cfg);
    cli_config_opts rest = *o;
    rest.nsets = 0;
    for (int i = 0; i < o->nsets; i++)
        if (strncmp(o->sets[i], "text_depth=", 11) != 0 || strcmp(o->sets[i] + 11, "0") != 0)
            rest.sets[rest.nsets++] = o->sets[i];
    if (rest.nsets < o->nsets) /* text_depth=0: no encoder after all */
        no_text(cfg);
    return cli_config_sets(&rest, cfg);
}

const char *cli_tok_name(int text_tokenizer)
{
    return text_tokenizer == FM_TOK_BYTES  ? "bytes"
           : text_tokenizer == FM_TOK_CLIP_BPE ? "CLIP BPE"
                                                 : "none";
}

/* gzip'd data into a malloc'd buffer (at most MAX_VOCAB_BYTES). */
static int gunzip(const char *path, const unsigned char *in, size_t n, char **out, size_t *len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return cli_error("--vocab %s: zlib initialisation failed", path);
    size_t cap = n * 4 + 1024, got = 0;
    char *b = malloc(cap + 1);
    int rc = Z_OK;
    zs.next_in = (unsigned char *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    while (b && rc != Z_STREAM_END) {
        if (got == cap) {
            char *nb = cap >= MAX_VOCAB_BYTES ? NULL : realloc(b, 2 * cap + 1);
            if (!nb)
                break;
            b = nb;
            cap *= 2;
        }
        zs.next_out = (unsigned char *)b + got;
        zs.avail_out = (uInt)(cap - got);
        rc = inflate(&zs, Z_NO_FLUSH);
        got = cap - zs.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END)
            break;
        if (rc == Z_OK && zs.avail_in == 0 && got < cap)
            break; /* truncated */
    }
    inflateEnd(&zs);
    if (!b)
        return cli_error("--vocab %s: out of memory", path);
    if (rc != Z_STREAM_END) {
        free(b);
        return cli_error("--vocab %s: corrupt or truncated gzip data%s", path,
                         got >= MAX_VOCAB_BYTES ? " (over 64 MiB inflated)" : "");
    }
    *out = b;
    *len = got;
    return 0;
}

int cli_tok_open(cli_tok *t, const fm_config *c, const char *vocab)
{
    memset(t, 0, sizeof *t);
    if (c->text_depth == 0)
        return cli_error("the model has no text encoder (text_depth=0)");
    if (c->text_tokenizer == FM_TOK_BYTES) {
        if (vocab)
            return cli_error("--vocab %s: the model's tokenizer is byte level (text_tokenizer=1), "
                             "which reads no vocabulary",
                             vocab);
        if (c->text_vocab != FM_TOK_BYTES_VOCAB)
            return cli_error("the model's text_vocab is %d; the byte-level tokenizer has %d ids",
                             c->text_vocab, FM_TOK_BYTES_VOCAB);
        t->t = (fm_tokenizer){FM_TOK_BYTES, NULL};
        return 0;
    }
    if (!vocab)
        return cli_error("the model's tokenizer is CLIP BPE: give --vocab FILE "
                         "(bpe_simple_vocab_16e6.txt.gz or merges.txt)");
    unsigned char *raw = NULL;
    size_t n = 0, need = 0;
    char msg[512];
    if (cli_read_file(vocab, &raw, &n))
        return 1;
    char *text = (char *)raw;
    if (n >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
        int rc = gunzip(vocab, raw, n, &text, &n);
        free(raw);
        if (rc)
            return 1;
    }
    fm_status s = fm_bpe_need(text, n, &need, msg, sizeof msg);
    if (s == FM_OK && !(t->mem = malloc(need))) {
        s = FM_ERR_ARENA;
        snprintf(msg, sizeof msg, "out of memory (%zu bytes)", need);
    }
    if (s == FM_OK)
        s = fm_bpe_load(&t->bpe, t->mem, need, text, n, msg, sizeof msg);
    free(text);
    if (s != FM_OK) {
        cli_tok_close(t);
        return cli_error("--vocab %s: %s", vocab, msg);
    }
    if (c->text_vocab && t->bpe.vocab != c->text_vocab) {
        const int v = t->bpe.vocab;
        cli_tok_close(t);
        return cli_error("--vocab %s has %d tokens, the model's text_vocab is %d", vocab, v,
                         c->text_vocab);
    }
    t->t = (fm_tokenizer){FM_TOK_CLIP_BPE, &t->bpe};
    return 0;
}

void cli_tok_close(cli_tok *t)
{
    free(t->mem);
    t->mem = NULL;
}

int cli_lines_read(const char *flag, const char *path, int max, cli_lines *l)
{
    unsigned char *data = NULL;
    size_t len = 0;
    memset(l, 0, sizeof *l);
    if (access(path, R_OK) != 0)
        return cli_error("%s %s: %s", flag, path, strerror(errno));
    if (cli_read_file(path, &data, &len))
        return 1;
    if (memchr(data, 0, len)) {
        const size_t at = (size_t)((unsigned char *)memchr(data, 0, len) - data);
        size_t line = 1;
        for (size_t i = 0; i < at; i++)
            line += data[i] == '\n';
        free(data);
        return cli_error("%s %s: line %zu holds a NUL byte (not a text file)", flag, path, line);
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += data[i] == '\n';
    n += len > 0 && data[len - 1] != '\n'; /* a last line without its newline */
    if (n == 0) {
        free(data);
        return cli_error("%s %s: the file is empty (one text per line is expected)", flag, path);
    }
    if (n > (size_t)max) {
        free(data);
        return cli_error("%s %s: %zu lines, more than the %d this takes", flag, path, n, max);
    }
    l->line = malloc(n * sizeof *l->line);
    if (!l->line) {
        free(data);
        return cli_error("%s %s: cannot allocate %zu lines", flag, path, n);
    }
    l->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    for (size_t at = 0; at < len;) {
        const size_t chunk = len - at < (1u << 30) ? len - at : (1u << 30);
        l->crc = (uint32_t)crc32(l->crc, data + at, (uInt)chunk);
        at += chunk;
    }
    l->buf = (char *)data; /* cli_read_file allocates one byte more */
    data[len] = 0;
    char *p = l->buf;
    for (size_t k = 0; k < n; k++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        const size_t ll = strlen(p);
        if (ll && p[ll - 1] == '\r')
            p[ll - 1] = 0;
        l->line[k] = p;
        p = nl ? nl + 1 : p + ll;
    }
    l->n = (int)n;
    return 0;
}

void cli_lines_free(cli_lines *l)
{
    free(l->buf);
    free(l->line);
    memset(l, 0, sizeof *l);
}

int cli_tok_rows(const cli_tok *t, const fm_config *c, char *const *texts, int n, int32_t *ids,
                 int *cut, int *first_cut)
{
    const int L = c->text_ctx;
    char msg[256];
    if (cut)
        *cut = 0;
    if (first_cut)
        *first_cut = -1;
    for (int i = 0; i < n; i++) {
        int len = 0;
        int32_t *row = ids + (size_t)i * (size_t)L;
        if (fm_tokenizer_encode(&t->t, texts[i], row, L, &len, msg, sizeof msg) != FM_OK)
            return cli_error("text %d: %s", i + 1, msg);
        /* A text that filled the context to its end token may have been cut: said when
         * its tokens without the context's limit are more (encoded again, larger). */
        if (len == L) {
            int32_t big[FM_BPE_MAX_TEXT + 2];
            int full = 0;
            const int cap = FM_BPE_MAX_TEXT + 2;
            if (fm_tokenizer_encode(&t->t, texts[i], big, cap, &full, msg, sizeof msg) == FM_OK &&
                full > L) {
                if (cut)
                    ++*cut;
                if (first_cut && *first_cut < 0)
                    *first_cut = i;
            }
        }
    }
    return 0;
}

int cli_text_value(const fm_text *x, const char *key, char *buf, size_t len)
{
    const size_t kl = strlen(key);
    for (size_t at = 0; x->s && at < x->n;) {
        const char *nl = memchr(x->s + at, '\n', x->n - at);
        const size_t end = nl ? (size_t)(nl - x->s) : x->n;
        if (end - at > kl && memcmp(x->s + at, key, kl) == 0 && x->s[at + kl] == '=' &&
            end - at - kl - 1 < len) {
            snprintf(buf, len, "%.*s", (int)(end - at - kl - 1), x->s + at + kl + 1);
            return 1;
        }
        at = end + 1;
    }
    return 0;
}

int64_t cli_text_encoder_params(const fm_config *c)
{
    if (c->text_depth == 0)
        return 0;
    const int64_t Dt = c->text_width, F = c->text_ff;
    /* token and position embeddings; per layer: 2 LNs, q k v out, fc1 fc2; final LN */
    const int64_t layer = 4 * Dt + 4 * (Dt * Dt + Dt) + (F * Dt + F) + (Dt * F + Dt);
    return (int64_t)c->text_vocab * Dt + (int64_t)c->text_ctx * Dt + c->text_depth * layer +
           2 * Dt;
}
