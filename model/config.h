/* The model configuration: one struct for every architecture, whose field names are
 * the ones used in files and on the command line. Which fields an architecture uses,
 * its presets and its ranges belong to the architecture (model.h, fm_arch); this file
 * only stores and parses fields, and knows no architecture. */
#ifndef FMRT_CONFIG_H
#define FMRT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define FM_MAX_LEVELS 4
#define FM_MAX_RES_BLOCKS 8
#define FM_MAX_DEPTH 32 /* DiT blocks */

/* X(field, slot): the plain int fields of fm_config and the slot of a weights file's
 * config block that stores each (docs/weights-format.md). Slots are shared between
 * architectures (an architecture stores only the fields it uses). levels and
 * channel_mult (slots 3..7 of a U-Net) and arch (slot 13) are handled apart. */
#define FM_CONFIG_INTS(X)                                                                          \
    X(in_channels, 0)                                                                              \
    X(image, 1)                                                                                    \
    X(base_channels, 2)                                                                            \
    X(res_blocks, 8)                                                                               \
    X(time_dim, 9)                                                                                 \
    X(heads, 10)                                                                                   \
    X(groups, 11)                                                                                  \
    X(num_classes, 12)                                                                             \
    X(patch, 3)                                                                                    \
    X(hidden, 2)                                                                                   \
    X(depth, 4)                                                                                    \
    X(mlp_ratio, 5)                                                                                \
    X(freq_dim, 6)                                                                                 \
    X(latent_channels, 14)                                                                         \
    X(text_vocab, 16)                                                                              \
    X(text_ctx, 17)                                                                                \
    X(text_width, 18)                                                                              \
    X(text_depth, 19)                                                                              \
    X(text_heads, 20)                                                                              \
    X(text_ff, 21)                                                                                 \
    X(text_tokenizer, 22)

/* Slots of a weights file's config block: 16 in the fixed header, 16 more after it in
 * a version 3 file (docs/weights-format.md). */
#define FM_CONFIG_SLOTS 32

/* One bit per field, for the set of fields an architecture uses: FM_FIELD(patch). */
enum {
#define FM_CONFIG_BIT(f, slot) FM_CF_##f,
    FM_CONFIG_INTS(FM_CONFIG_BIT)
#undef FM_CONFIG_BIT
    FM_CF_channel_mult, /* levels and channel_mult[] */
    FM_CF_COUNT
};
#define FM_FIELD(f) (1u << FM_CF_##f)

typedef struct fm_config {
    int arch;                         /* the architecture's id (fm_arch.id); 0, the U-Net,
                                         in every older file */
    int in_channels;
    int image;                        /* H = W */
    /* U-Net */
    int base_channels;                /* C */
    int levels;                       /* entries used in channel_mult */
    int channel_mult[FM_MAX_LEVELS];
    int res_blocks;
    int time_dim;                     /* T */
    int groups;
    /* U-Net and DiT */
    int heads;
    int num_classes;                  /* K; 0 = unconditional */
    /* DiT */
    int patch;                        /* p: tokens (image/p)^2 */
    int hidden;                       /* D: token width */
    int depth;                        /* transformer blocks */
    int mlp_ratio;                    /* MLP hidden = mlp_ratio * D */
    int freq_dim;                     /* F: sinusoidal time-embedding width */
    /* autoencoder (also base_channels, channel_mult, res_blocks, heads, groups) */
    int latent_channels;              /* Z: channels of the latent */
    /* text conditioning (docs/spec/text.md): a CLIP-architecture text encoder; 0 = none */
    int text_vocab;                   /* V: token ids 0..V-1 */
    int text_ctx;                     /* L: tokens per prompt (context length) */
    int text_width;                   /* Dt: width of the token states */
    int text_depth;                   /* transformer layers; 0 = no text encoder */
    int text_heads;
    int text_ff;                      /* hidden width of each layer's MLP */
    int text_tokenizer;               /* FM_TOKENIZER_*: 1 bytes, 2 CLIP BPE */
} fm_config;

/* Set one field (not arch) from text; "channel_mult" takes "1,2,2". FM_ERR_ARG with
 * the message in msg for an unknown key or a value that is not an integer (list). */
fm_status fm_config_set_field(fm_config *c, const char *key, const char *value, char *msg,
                              size_t len);
/* The value of field bit k (FM_CF_*, not channel_mult) of c, and its name. */
int fm_config_field(const fm_config *c, int k);
const char *fm_config_field_name(int k);
int fm_config_equal(const fm_config *a, const fm_config *b);

#endif
