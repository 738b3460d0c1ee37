/* libFuzzer harness: the tokenizers of model/tokenizer.h on any bytes.
 *
 * The first byte picks what the rest is: 0 mod 3, a text for the byte-level encoder;
 * 1, a text for the CLIP BPE of a small built-in merges list; 2, a merges file
 * (fm_bpe_need, then fm_bpe_load into exactly that many bytes, then one prompt). The
 * context length comes from the second byte (2..129). What must hold: every call
 * returns FM_OK or an error with a message, a row is [start, ..., end, pad...] with
 * every id inside the vocabulary, and a load never writes past the bytes it asked
 * for (ASan sees the exact-size block). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenizer.h"

static const char k_merges[] = "#version: 0.2\ni n\nt h\na n\nr e\nth e</w>\nin g</w>\no n\n"
                               "e r\na t\ne n\n\xc3\x83 \xc2\xa9</w>\n";
static fm_bpe g_small;
static unsigned char g_small_mem[1 << 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    size_t need;
    CHECK(fm_bpe_need(k_merges, sizeof k_merges - 1, &need, NULL, 0) == FM_OK);
    CHECK(need <= sizeof g_small_mem);
    CHECK(fm_bpe_load(&g_small, g_small_mem, need, k_merges, sizeof k_merges - 1, NULL, 0) ==
          FM_OK);
    return 0;
}

static void check_row(const int32_t *ids, int ctx, int len, int32_t start, int32_t end, int32_t pad,
                      int32_t vocab)
{
    CHECK(len >= 2 && len <= ctx);
    CHECK(ids[0] == start && ids[len - 1] == end);
    for (int i = 0; i < ctx; i++)
        CHECK(ids[i] >= 0 && ids[i] < vocab);
    for (int i = len; i < ctx; i++)
        CHECK(ids[i] == pad);
}

static void encode(const fm_bpe *t, const char *text, int ctx)
{
    int32_t ids[130];
    int len = -1;
    char msg[256];
    CHECK(fm_bpe_encode(t, text, ids, ctx, &len, msg, sizeof msg) == FM_OK);
    check_row(ids, ctx, len, t->sot, t->eot, t->pad, t->vocab);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int mode = data[0] % 3, ctx = 2 + data[1] % 128;
    size_t n = size - 2;
    char *text = malloc(n + 1); /* exact size: ASan sees a read past it */
    CHECK(text);
    memcpy(text, data + 2, n);
    text[n] = 0;
    if (mode == 0) {
        int32_t ids[130];
        int len = -1;
        CHECK(fm_tok_bytes_encode(text, ids, ctx, &len, NULL, 0) == FM_OK);
        check_row(ids, ctx, len, FM_TOK_BYTES_BOS, FM_TOK_BYTES_EOS, FM_TOK_BYTES_PAD,
                  FM_TOK_BYTES_VOCAB);
    } else if (mode == 1) {
        encode(&g_small, text, ctx);
    } else {
        size_t need;
        char msg[256] = "";
        fm_status s = fm_bpe_need(text, n, &need, msg, sizeof msg);
        if (s == FM_OK) {
            void *mem = malloc(need);
            CHECK(mem);
            fm_bpe t;
            s = fm_bpe_load(&t, mem, need, text, n, msg, sizeof msg);
            CHECK(s == FM_OK || s == FM_ERR_FORMAT);
            if (s == FM_OK) {
                CHECK(t.vocab == 512 + t.n_merges + 2);
                encode(&t, "a photo of the thing, \xc3\xa9t\xc3\xa9 &amp; 123 \xf0\x9f\x98\x80",
                       ctx);
            }
            free(mem);
        }
        CHECK(s == FM_OK || msg[0]);
    }
    free(text);
    return 0;
}
