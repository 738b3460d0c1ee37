/* The model configuration of ../shared/spec/model.md: field names are the ones
 * used in files and on the command line. */
#ifndef FMRT_CONFIG_H
#define FMRT_CONFIG_H

#include <stddef.h>

#include "status.h"

#define FM_MAX_LEVELS 4
#define FM_MAX_RES_BLOCKS 8

typedef struct fm_config {
    int in_channels;
    int image;                        /* H = W */
    int base_channels;                /* C */
    int levels;                       /* entries used in channel_mult */
    int channel_mult[FM_MAX_LEVELS];
    int res_blocks;
    int time_dim;                     /* T */
    int heads;
    int groups;
    int num_classes;                  /* K; 0 = unconditional */
} fm_config;

/* "mnist" or "tiny" (unconditional; set num_classes for a conditional model). */
fm_status fm_config_preset(fm_config *c, const char *name);
/* Every field in range and consistent (groups divide channels, image divisible by
 * 2^(levels-1), heads divide the middle width, ...), and the U-Net fits its
 * tables (FM_MAX_MODULES, FM_MAX_PARAMS). Message names the field. */
fm_status fm_config_validate(const fm_config *c, char *msg, size_t len);
/* Set one field from text ("channel_mult" takes "1,2,2"). */
fm_status fm_config_set(fm_config *c, const char *key, const char *value, char *msg, size_t len);
/* "in_channels=1 image=28 base_channels=64 channel_mult=1,2,2 ..." */
int fm_config_format(const fm_config *c, char *buf, size_t len);
int fm_config_equal(const fm_config *a, const fm_config *b);

#endif
