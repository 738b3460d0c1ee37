/* fmrt tokenize [--bytes | --vocab FILE] [--ctx L] TEXT...
 *
 * Each TEXT's row of L token ids (padding included) on one line, as the model would
 * get it (model/tokenizer.h): byte level (the default, vocabulary 259) or CLIP's BPE
 * from a vocabulary file, bpe_simple_vocab_16e6.txt.gz (OpenAI CLIP / open_clip;
 * gzip'd or not) or Hugging Face's merges.txt. The file is read and gunzipped here
 * (the tool may allocate); the library parses the text in memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cli.h"
#include "commands.h"
#include "tokenizer.h"

#define MAX_CTX 8192
#define MAX_VOCAB_BYTES ((size_t)64 << 20) /* the real file inflates to 1.6 MB */

static int usage(FILE *f)
{
    fprintf(f,
            "usage: fmrt tokenize [--bytes | --vocab FILE] [--ctx L] TEXT...\n\n"
            "Prints each TEXT's L token ids (default L 77), one line per text.\n"
            "  --bytes       byte level: 0..255 the bytes, BOS 256, EOS 257, PAD 258\n"
            "                (the default)\n"
            "  --vocab FILE  CLIP's BPE as open_clip tokenizes: FILE is\n"
            "                bpe_simple_vocab_16e6.txt[.gz] or Hugging Face's merges.txt;\n"
            "                SOT, EOT 49406, 49407 with the full file, pad 0\n"
            "  --ctx L       context length, 2..%d\n",
            MAX_CTX);
    return f == stdout ? 0 : 2;
}

/* gzip'd data at in into a malloc'd buffer. */
static int gunzip(const char *path, const unsigned char *in, size_t n, char **out, size_t *len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return cli_error("%s: zlib initialisation failed", path);
    size_t cap = n * 4 + 1024, got = 0;
    char *b = malloc(cap + 1);
    int rc = Z_OK;
    zs.next_in = (unsigned char *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    while (b && rc != Z_STREAM_END) {
        if (got == cap) {
            if (cap >= MAX_VOCAB_BYTES)
                break;
            cap *= 2;
            char *nb = realloc(b, cap + 1);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
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
        return cli_error("out of memory reading %s", path);
    if (rc != Z_STREAM_END) {
        free(b);
        return cli_error("%s: corrupt or truncated gzip data%s", path,
                         got >= MAX_VOCAB_BYTES ? " (over 64 MiB inflated)" : "");
    }
    *out = b;
    *len = got;
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *vocab = NULL;
    int bytes_flag = 0;
    long long ctx = FM_CLIP_CTX;
    int first_text = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(stdout);
        if (strcmp(a, "--bytes") == 0) {
            bytes_flag = 1;
        } else if (strcmp(a, "--vocab") == 0 || strcmp(a, "--ctx") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("tokenize", "%s needs a value", a);
            if (a[2] == 'v')
                vocab = argv[++i];
            else if (cli_int("--ctx", argv[++i], 2, MAX_CTX, &ctx))
                return 2;
        } else if (strcmp(a, "--") == 0) {
            first_text = i + 1;
            break;
        } else if (a[0] == '-' && a[1] == '-') {
            return cli_usage_error("tokenize", "unknown option %s", a);
        } else {
            first_text = i;
            break;
        }
    }
    if (bytes_flag && vocab)
        return cli_usage_error("tokenize", "--bytes and --vocab exclude each other");
    if (first_text >= argc)
        return cli_usage_error("tokenize", "no TEXT to tokenize");
    fm_tokenizer tk = {FM_TOK_BYTES, NULL};
    fm_bpe bpe;
    void *mem = NULL;
    char msg[512];
    if (vocab) {
        unsigned char *raw = NULL;
        size_t rawlen = 0;
        if (cli_read_file(vocab, &raw, &rawlen))
            return 1;
        char *text = (char *)raw;
        size_t n = rawlen;
        if (rawlen >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
            int rc = gunzip(vocab, raw, rawlen, &text, &n);
            free(raw);
            if (rc)
                return 1;
        }
        size_t need;
        fm_status s = fm_bpe_need(text, n, &need, msg, sizeof msg);
        if (s == FM_OK) {
            mem = malloc(need);
            s = mem ? fm_bpe_load(&bpe, mem, need, text, n, msg, sizeof msg) : FM_ERR_ARENA;
            if (!mem)
                snprintf(msg, sizeof msg, "out of memory (%zu bytes)", need);
        }
        free(text);
        if (s != FM_OK) {
            free(mem);
            return cli_error("%s: %s", vocab, msg);
        }
        tk = (fm_tokenizer){FM_TOK_CLIP_BPE, &bpe};
    }
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    if (!ids) {
        free(mem);
        return cli_error("out of memory");
    }
    int rc = 0;
    for (int i = first_text; i < argc && !rc; i++) {
        int len;
        if (fm_tokenizer_encode(&tk, argv[i], ids, (int)ctx, &len, msg, sizeof msg) != FM_OK) {
            rc = cli_error("%s", msg);
            break;
        }
        for (int k = 0; k < ctx; k++)
            printf(k ? " %d" : "%d", ids[k]);
        printf("\n");
    }
    free(ids);
    free(mem);
    if (!rc && fflush(stdout) != 0)
        rc = cli_error("cannot write the ids");
    return rc;
}
