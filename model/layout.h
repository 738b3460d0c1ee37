/* The parameter table of a model: names, shapes and offsets in the flat block, in
 * the canonical order that weights files store. Each architecture's layout walk
 * (fm_arch.layout) appends to it with these helpers; the same walk with params NULL
 * only counts, which is how an architecture checks that a config fits the table. */
#ifndef FMRT_LAYOUT_H
#define FMRT_LAYOUT_H

#include <stdint.h>

#include "tensor.h"

#define FM_MAX_PARAMS 512
#define FM_PARAM_NAME 48

typedef struct fm_param {
    char name[FM_PARAM_NAME]; /* canonical, e.g. "enc.0.conv1.weight" */
    fm_tensor t;              /* view into the model's flat block */
    int64_t offset;           /* in floats from the start of the flat block */
} fm_param;

typedef struct fm_layout {
    fm_param *params; /* NULL: count only */
    int maxp, np;
    int64_t nfloats;  /* P, the flat block's length */
    int overflow;     /* more than maxp parameters were added */
} fm_layout;

/* Parameter p's view inside a [P] block (the parameters, gradients, EMA, ...). */
static inline fm_tensor fm_param_view(const fm_param *p, const fm_tensor *block)
{
    fm_tensor t = p->t;
    t.base = block->base;
    t.off = block->off + (size_t)p->offset * sizeof(float);
    return t;
}

/* One parameter "<prefix><name>" of shape d0..d(ndim-1), at the end of the flat block. */
void fm_lay_param(fm_layout *b, const char *prefix, const char *name, int ndim, int64_t d0,
                  int64_t d1, int64_t d2, int64_t d3);
/* "<prefix><name>.weight" [cout, cin, k, k] and ".bias" [cout]. */
void fm_lay_conv(fm_layout *b, const char *prefix, const char *name, int cout, int cin, int k);
/* "<prefix><name>.weight" [out, in] and ".bias" [out]. */
void fm_lay_linear(fm_layout *b, const char *prefix, const char *name, int out, int in);
/* "<prefix><name>.weight" and ".bias", [c] each. */
void fm_lay_norm(fm_layout *b, const char *prefix, const char *name, int c);

#endif
