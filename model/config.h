/* The model configuration of docs/spec/unet.md and docs/spec/dit.md: field names are the ones
 * used in files and on the command line. */
#ifndef FMRT_CONFIG_H
#define FMRT_CONFIG_H

#include <stddef.h>

#include "status.h"

#define FM_MAX_LEVELS 4
#define FM_MAX_RES_BLOCKS 8
#define FM_MAX_DEPTH 32 /* DiT blocks */

/* The network family: the U-Net of docs/spec/unet.md or the DiT of docs/spec/dit.md. */
typedef enum fm_arch { FM_ARCH_UNET = 0, FM_ARCH_DIT = 1 } fm_arch;

/* X(field, slot, arch): the plain int fields of fm_config, the slot of a weights
 * file's config block that stores each (docs/weights-format.md) and the family that
 * uses it (ALL, UNET, DIT). A field of the other family must be 0. levels and
 * channel_mult (slots 3..7 of a U-Net) and arch (slot 13) are handled apart. */
#define FM_CONFIG_INTS(X)                                                                          \
    X(in_channels, 0, ALL)                                                                         \
    X(image, 1, ALL)                                                                               \
    X(base_channels, 2, UNET)                                                                      \
    X(res_blocks, 8, UNET)                                                                         \
    X(time_dim, 9, UNET)                                                                           \
    X(heads, 10, ALL)                                                                              \
    X(groups, 11, UNET)                                                                            \
    X(num_classes, 12, ALL)                                                                        \
    X(patch, 3, DIT)                                                                               \
    X(hidden, 2, DIT)                                                                              \
    X(depth, 4, DIT)                                                                               \
    X(mlp_ratio, 5, DIT)                                                                           \
    X(freq_dim, 6, DIT)

typedef struct fm_config {
    int arch;                         /* fm_arch; 0 (U-Net) in every older file */
    int in_channels;
    int image;                        /* H = W */
    /* U-Net */
    int base_channels;                /* C */
    int levels;                       /* entries used in channel_mult */
    int channel_mult[FM_MAX_LEVELS];
    int res_blocks;
    int time_dim;                     /* T */
    int groups;
    /* both */
    int heads;
    int num_classes;                  /* K; 0 = unconditional */
    /* DiT */
    int patch;                        /* p: tokens (image/p)^2 */
    int hidden;                       /* D: token width */
    int depth;                        /* transformer blocks */
    int mlp_ratio;                    /* MLP hidden = mlp_ratio * D */
    int freq_dim;                     /* F: sinusoidal time-embedding width */
} fm_config;

/* "mnist" or "tiny" (U-Nets), "dit" or "dit-tiny" (DiTs); all unconditional: set
 * num_classes for a conditional model. */
fm_status fm_config_preset(fm_config *c, const char *name);
/* Every field in range and consistent (groups divide channels, image divisible by
 * 2^(levels-1), heads divide the middle width, ...), and the U-Net fits its
 * tables (FM_MAX_MODULES, FM_MAX_PARAMS). Message names the field. */
fm_status fm_config_validate(const fm_config *c, char *msg, size_t len);
/* Set one field from text ("channel_mult" takes "1,2,2"). "arch" takes unet or dit; a
 * change of family starts from that family's default preset (mnist or dit), so it
 * comes before the other fields ("arch=dit patch=4 ..."). */
fm_status fm_config_set(fm_config *c, const char *key, const char *value, char *msg, size_t len);
/* "in_channels=1 image=28 base_channels=64 channel_mult=1,2,2 ..." (a DiT's starts
 * with "arch=dit" and lists its own fields). */
int fm_config_format(const fm_config *c, char *buf, size_t len);
int fm_config_equal(const fm_config *a, const fm_config *b);

#endif
