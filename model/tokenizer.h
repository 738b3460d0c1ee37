/* Tokenizers for text conditioning: prompts to fixed-length rows of token ids.
 * No allocation: the caller hands every buffer (the BPE's tables are carved from one
 * block whose size fm_bpe_need says). Public functions return fm_status and, on
 * failure, write a one-line message naming what was wrong into msg (msglen bytes;
 * msg may be NULL).
 *
 * 1. Byte level (FM_TOK_BYTES), for small models trained from scratch.
 *    Vocabulary 259: ids 0..255 are the bytes, then BOS 256, EOS 257, PAD 258.
 *    Text is taken as given (no lower-casing, no Unicode processing), except that
 *    ASCII whitespace (space, \t \n \v \f \r) is trimmed at both ends and each run of it
 *    inside becomes one space. A row of ctx ids is
 *        [BOS, bytes..., EOS, PAD...]
 *    and a text of more than ctx-2 bytes keeps its first ctx-2 bytes (a UTF-8
 *    sequence may be cut) with EOS still last, as CLIP truncates.
 *
 * 2. CLIP's byte-pair encoding (FM_TOK_CLIP_BPE), matching open_clip's SimpleTokenizer
 *    (open_clip/tokenizer.py, clean='lower': the tokenizer of open_clip.tokenize and
 *    of OpenAI's CLIP package), checked against it by tests/test_tokenizer.c with the
 *    fixtures of scripts/reference/tokenizer_fixture.py.
 *    Vocabulary files: the text of bpe_simple_vocab_16e6.txt(.gz) (OpenAI CLIP /
 *    open_clip; gunzipped by the caller) or Hugging Face's merges.txt (the same lines;
 *    the ids of HF's vocab.json are the ones built here from the merges, so vocab.json
 *    is not needed). As open_clip reads it: line 1 is a header (required here to hold
 *    "#version"), then lines 2 .. 48895 (at most FM_CLIP_MAX_MERGES) are merges "a b",
 *    fields split on ASCII whitespace; an empty line (the final newline of a shorter
 *    file, for one) still takes an id, as it does in open_clip. Ids: 0..255 the byte
 *    characters of bytes_to_unicode, 256..511 the same with "</w>", 512 + k the
 *    k-th merge, then SOT "<start_of_text>" and EOT "<end_of_text>" (49406 and 49407
 *    with the full file). Refused (FM_ERR_FORMAT, naming the line): no header, a line
 *    of one or of three or more fields, a field that is not a token defined above it,
 *    a merge whose token was already defined (open_clip would take such files; the
 *    real ones have none).
 *    A row of ctx ids is [SOT, tokens..., EOT, pad...]; more than ctx-2 tokens keep the
 *    first ctx-1 and put EOT last, as open_clip does. The pad id is fm_bpe.pad:
 *    FM_CLIP_PAD (0, open_clip's) after fm_bpe_load; set it to fm_bpe.eot to pad the
 *    way Hugging Face's CLIPTokenizer does.
 *
 *    The clean-up before the pre-tokenizer, in open_clip's order
 *    (ftfy.fix_text, html.unescape twice, whitespace collapse and strip, str.lower):
 *    Covered
 *    - ftfy's per-line passes (repeated until nothing changes), with its "auto" HTML
 *      rule (no entity decoding in a line with '<', nor in any line after it);
 *      its entity decoding (only "&name;" and "&#...;" forms, plus its upper-case
 *      variants such as &EACUTE;); ANSI terminal escapes (ESC [ digits/; letter)
 *      removed; every one-character fix at ftfy's defaults, from a generated table:
 *      C1 controls read as Windows-1252, Latin ligatures (fi, fl, ff, ij, dz, ...),
 *      full- and half-width forms (ＡＢＣ１ -> ABC1, U+3000 -> space), curly quotes
 *      (U+2018..U+201B, U+02BC -> ', U+201C..U+201F -> "), line breaks, control
 *      characters removed (C0 but \t \n \f \r, DEL, U+206A..206F, U+FEFF, U+FFF9..FFFC),
 *      and the NFC of single characters (U+212B -> U+00C5, U+2126 -> U+03A9, ...);
 *    - NFC within the composition table (the primary composites of U+00C0..U+04FF and
 *      U+1E00..U+1EFF: Latin, Greek, Cyrillic, Vietnamese): a character of the table
 *      followed by a combining mark is decomposed, each run of marks of U+0300..U+036F
 *      is put in canonical order, then a starter composes with each mark not blocked
 *      by an uncomposed mark of the same or higher class ("e\u0301" -> "é",
 *      "e\u0302\u0323" and "ê\u0323" -> "ệ", "a\u0301\u0323" -> "ạ\u0301");
 *    - html.unescape (Python's rules: numeric references with or without ';', invalid
 *      numbers as Python maps them, named ones with ';', the legacy names without it
 *      and their longest-prefix rule: "&copy2024" -> "©2024"), twice;
 *    - whitespace: every character of Python's str.isspace collapsed, ends stripped;
 *    - lower-casing: Python's str.lower for every code point (generated table),
 *      U+0130 "İ" -> "i" + U+0307 and the final sigma ("ΣΑΣ" -> "σας") as Python does,
 *      the final-sigma context judged by approximations of Unicode's Cased and
 *      Case_Ignorable (letters of the cased scripts; combining marks, apostrophes, ...);
 *    - pre-tokenizer: <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|
 *      [^\s\p{L}\p{N}]+ (case-insensitive: "'ſ" is taken as "'s", and U+0345, which no
 *      alternative matches then, is skipped as findall skips it), letters and numbers
 *      from the `regex` module's own tables (generated).
 *    Not covered (the ids then differ from open_clip's)
 *    - ftfy's mojibake repair (fix_encoding: "cafÃ©" stays as it is), and text that is
 *      not valid UTF-8 (each bad byte becomes U+FFFD);
 *    - named HTML entities outside a common subset (every one whose value is a single
 *      Latin-1 character, typographic punctuation, arrows, a few maths and Greek
 *      names: model/tokenizer_tables.inc lists them); others are left as text;
 *    - NFC beyond the above: no Hangul jamo composition, no polytonic Greek
 *      ("Ω\u0345" stays two characters, NFC gives U+1FFC), Indic or other compositions,
 *      no canonical order for marks outside U+0300..U+036F, no CJK compatibility
 *      ideographs (U+F900..U+FAFF, U+2F800..U+2FA1F are left as they are);
 *    - text longer than FM_BPE_MAX_TEXT code points: only its first FM_BPE_MAX_TEXT
 *      are cleaned and tokenized (at ctx 77 this changes ids only when those make
 *      fewer than 75 tokens, e.g. after thousands of spaces). */
#ifndef FMRT_TOKENIZER_H
#define FMRT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum fm_tok_kind {
    FM_TOK_NONE = 0,     /* no text conditioning */
    FM_TOK_BYTES = 1,    /* byte level, vocabulary 259 */
    FM_TOK_CLIP_BPE = 2, /* CLIP's BPE (an fm_bpe) */
} fm_tok_kind;

/* ---- byte level -------------------------------------------------------------------- */
#define FM_TOK_BYTES_VOCAB 259
#define FM_TOK_BYTES_BOS 256
#define FM_TOK_BYTES_EOS 257
#define FM_TOK_BYTES_PAD 258

/* text (NUL-terminated) into ids[0..ctx-1]; *len (may be NULL) receives the ids
 * before the padding (BOS and EOS included). FM_ERR_ARG for a NULL text or ids, or
 * ctx < 2. */
fm_status fm_tok_bytes_encode(const char *text, int32_t *ids, int ctx, int *len, char *msg,
                              size_t msglen);

/* ---- CLIP BPE ---------------------------------------------------------------------- */
#define FM_CLIP_CTX 77           /* CLIP's context length */
#define FM_CLIP_PAD 0            /* open_clip's pad id */
#define FM_CLIP_MAX_MERGES 48894 /* 49152 - 256 - 2: the merges open_clip takes */
#define FM_CLIP_SOT_FULL 49406   /* SOT and EOT with the full vocabulary file */
#define FM_CLIP_EOT_FULL 49407
#define FM_BPE_MAX_TEXT 2048 /* code points of a text that are tokenized (see above) */

typedef struct fm_bpe_pair {
    int32_t a, b;   /* the two tokens (-1: empty slot) */
    int32_t rank;   /* merge order: lower merges first */
    int32_t merged; /* the token they make */
} fm_bpe_pair;

typedef struct fm_bpe {
    int32_t n_merges;             /* merge lines taken (empty ones included) */
    int32_t vocab;                /* 512 + n_merges + 2 */
    int32_t sot, eot;             /* vocab - 2, vocab - 1 */
    int32_t pad;                  /* FM_CLIP_PAD after fm_bpe_load; the caller may change it */
    uint32_t pair_mask, str_mask; /* hash table sizes - 1 (powers of two) */
    fm_bpe_pair *pairs;           /* pair -> rank, merged token */
    int32_t *str_slot;            /* token string -> id (-1: empty) */
    uint32_t *str_off;            /* [vocab + 1]: token id's bytes are pool[off[id] .. off[id+1]) */
    uint8_t *pool;                /* the tokens' strings (bytes_to_unicode characters, UTF-8) */
} fm_bpe;

/* The bytes of memory fm_bpe_load needs for this merges text (n bytes; not
 * NUL-terminated), after the same checks as fm_bpe_load (FM_ERR_FORMAT). About
 * 2.2 MB for the full bpe_simple_vocab_16e6.txt (loaded in about 20 ms). */
fm_status fm_bpe_need(const char *merges, size_t n, size_t *bytes, char *msg, size_t msglen);

/* Build the tables in mem (bytes from fm_bpe_need; any alignment). The merges text
 * is not referenced afterwards; t points into mem. FM_ERR_ARENA when bytes is short. */
fm_status fm_bpe_load(fm_bpe *t, void *mem, size_t bytes, const char *merges, size_t n, char *msg,
                      size_t msglen);

/* text (NUL-terminated UTF-8) into ids[0..ctx-1]; *len (may be NULL) receives the ids
 * before the padding (SOT and EOT included). FM_ERR_ARG for NULL pointers or ctx < 2.
 * Uses about 50 KiB of stack (about 7 us for a 20-token prompt on one Zen 3 core); t
 * is only read (threads may share it). */
fm_status fm_bpe_encode(const fm_bpe *t, const char *text, int32_t *ids, int ctx, int *len,
                        char *msg, size_t msglen);

/* The string of token id (bytes_to_unicode characters, UTF-8, "</w>" ends a word) in
 * *s and *n; FM_ERR_ARG for an id outside the vocabulary. SOT and EOT give their
 * names. */
fm_status fm_bpe_token(const fm_bpe *t, int32_t id, const char **s, size_t *n, char *msg,
                       size_t msglen);

/* ---- either ------------------------------------------------------------------------ */
typedef struct fm_tokenizer {
    fm_tok_kind kind;
    const fm_bpe *bpe; /* FM_TOK_CLIP_BPE: the loaded tables */
} fm_tokenizer;

/* The kind's encoder; FM_ERR_ARG for FM_TOK_NONE, an unknown kind or a missing bpe. */
fm_status fm_tokenizer_encode(const fm_tokenizer *t, const char *text, int32_t *ids, int ctx,
                              int *len, char *msg, size_t msglen);
/* Vocabulary size and pad id of the kind (0 for FM_TOK_NONE or a missing bpe). */
int32_t fm_tokenizer_vocab(const fm_tokenizer *t);
int32_t fm_tokenizer_pad(const fm_tokenizer *t);
/* "none", "bytes", "clip-bpe", or NULL for an unknown kind. */
const char *fm_tok_kind_name(fm_tok_kind k);

#endif
