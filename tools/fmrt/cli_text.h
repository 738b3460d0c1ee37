/* Text conditioning in the tool (docs/spec/text.md): the default text encoder a
 * --captions run adds, config flags that name text_* fields, the tokenizer of a text
 * model (byte level, or CLIP's BPE from a vocabulary file), files of one text per line
 * (captions, prompts) and their rows of token ids. Used by fmrt train (--captions,
 * --text, --vocab), sample (--prompt, --prompts), plan and info (prompt.c). */
#ifndef FMRT_CLI_TEXT_H
#define FMRT_CLI_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "cli_config.h"
#include "model.h"
#include "tokenizer.h"

/* The encoder `fmrt train --captions` adds to a model that has none (docs/spec/text.md):
 * text_tokenizer=1 text_vocab=259 text_ctx=32 text_width=64 text_depth=2 text_heads=4
 * text_ff=256. */
void cli_text_default(fm_config *c);
/* 1 when some --config setting names a text_* field. */
int cli_config_sets_text(const cli_config_opts *o);
/* A velocity model's config as cli_build_config builds it, but when `text` is set or a
 * --config names a text_* field, the preset's model gets the default encoder
 * (cli_text_default) before the --config settings apply (so that --config text_ctx=16
 * alone describes a valid text model); text_depth=0 then removes the encoder again. */
int cli_text_build_config(const cli_config_opts *o, int text, fm_config *cfg);

/* The tokenizer of a text model's config: byte level, or CLIP's BPE read from the
 * vocabulary file `vocab` (bpe_simple_vocab_16e6.txt[.gz] or merges.txt; required for
 * a CLIP-BPE model, refused for a byte-level one), whose size must be the config's
 * text_vocab (text_vocab 0: any; the caller takes t->bpe.vocab). One error line, 1, on
 * failure. */
typedef struct cli_tok {
    fm_tokenizer t;
    fm_bpe bpe;
    void *mem; /* the BPE's tables */
} cli_tok;
int cli_tok_open(cli_tok *t, const fm_config *c, const char *vocab);
void cli_tok_close(cli_tok *t);
/* "bytes" or "CLIP BPE" for messages. */
const char *cli_tok_name(int text_tokenizer);

/* A text file of one entry per line (captions, prompts): lines end at '\n' (a final
 * line without one counts; a trailing '\r' is dropped); an empty line is an entry (the
 * empty prompt). At most max lines; a NUL byte or a file of no line is one error line
 * naming `flag` and the file. */
typedef struct cli_lines {
    char *buf;    /* the file, each line NUL-ended in place */
    char **line;  /* [n] */
    int n;
    uint32_t crc; /* CRC-32 of the file's bytes */
} cli_lines;
int cli_lines_read(const char *flag, const char *path, int max, cli_lines *l);
void cli_lines_free(cli_lines *l);

/* n texts into ids [n, text_ctx] with c's tokenizer; *cut (may be NULL) counts the
 * texts longer than the context (kept: their first ids and the end token, as CLIP
 * truncates) and *first_cut (may be NULL) is the first such text's index (-1: none). */
int cli_tok_rows(const cli_tok *t, const fm_config *c, char *const *texts, int n, int32_t *ids,
                 int *cut, int *first_cut);

/* The value of line "key=value" of a recorded text (text.data) into buf; 0 when absent. */
int cli_text_value(const fm_text *x, const char *key, char *buf, size_t len);

/* The text encoder's parameter count (text.* tensors, without text_proj) of c. */
int64_t cli_text_encoder_params(const fm_config *c);

#endif
