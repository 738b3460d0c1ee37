/* The parameter table of a model (names, shapes, offsets in the flat block) and its
 * module list, built by one walk per architecture (unet.c, dit.c) that these helpers
 * append to. Internal to model/. */
#ifndef FMRT_LAYOUT_H
#define FMRT_LAYOUT_H

#include "unet.h"

/* The one walk of the layout (build below). With params and mods NULL it only
 * counts: fm_unet_count, which config validation uses, runs the same code. */
typedef struct fm_layout {
    fm_param *params;
    int maxp, np;
    fm_module *mods;
    int maxm, nm;
    int64_t nfloats;
    int overflow;
    fm_module dummy; /* what add_module hands out when it only counts or is full */
} fm_layout;

/* One parameter "<prefix><name>" of shape d0..d(ndim-1), at the end of the flat block. */
void fm_lay_param(fm_layout *b, const char *prefix, const char *name, int ndim, int64_t d0,
                  int64_t d1, int64_t d2, int64_t d3);
/* "<prefix><name>.weight" [cout, cin, k, k] and ".bias" [cout]. */
void fm_lay_conv(fm_layout *b, const char *prefix, const char *name, int cout, int cin, int k);
/* "<prefix><name>.weight" [out, in] and ".bias" [out]. */
void fm_lay_linear(fm_layout *b, const char *prefix, const char *name, int out, int in);
/* "<prefix><name>.weight" and ".bias", [c] each. */
void fm_lay_norm(fm_layout *b, const char *prefix, const char *name, int c);
/* A module whose first parameter is the next one added. */
fm_module *fm_lay_module(fm_layout *b, fm_mod_kind kind, fm_mod_part part, int cin, int cout,
                         int res);

/* The walk of cfg's architecture (unet.c; dit.c for arch = dit). */
void fm_unet_build(const fm_config *cfg, fm_layout *b);
void fm_dit_build(const fm_config *cfg, fm_layout *b);

#endif
