/* fmrt tokenize [--bytes | --vocab FILE] [--ctx L] TEXT...
 *
 * Each TEXT's row of L token ids (padding included) on one line, as the model would
 * get it (model/tokenizer.h): byte level (the default, vocabulary 259) or CLIP's BPE
 * from a vocabulary file, bpe_simple_vocab_16e6.txt.gz (OpenAI CLIP / open_clip;
 * gzip'd or not) or Hugging Face's merges.txt, read as a text model reads it
 * (cli_tok_open). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_text.h"
#include "commands.h"
#include "tokenizer.h"

#define MAX_CTX 8192

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
    /* the tokenizer a text model of this kind would use (cli_tok_open reads and checks
     * the vocabulary, gzip'd or not) */
    fm_config c = {.text_depth = 1, .text_tokenizer = vocab ? FM_TOK_CLIP_BPE : FM_TOK_BYTES,
                   .text_vocab = vocab ? 0 : FM_TOK_BYTES_VOCAB};
    cli_tok tok;
    char msg[512];
    if (cli_tok_open(&tok, &c, vocab))
        return 1;
    const fm_tokenizer tk = tok.t;
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    if (!ids) {
        cli_tok_close(&tok);
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
    cli_tok_close(&tok);
    if (!rc && fflush(stdout) != 0)
        rc = cli_error("cannot write the ids");
    return rc;
}
