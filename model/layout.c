/* The layout builder's helpers (layout.h). */
#include "layout.h"

#include <stdio.h>
#include <string.h>

void fm_lay_param(fm_layout *b, const char *prefix, const char *name, int ndim, int64_t d0,
                  int64_t d1, int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    fm_tensor t = fm_tensor_desc(FM_F32, ndim, shape);
    if (!b->params) {
        b->np++;
        b->nfloats += fm_tensor_numel(&t);
        return;
    }
    if (b->np >= b->maxp) {
        b->overflow = 1;
        return;
    }
    fm_param *p = &b->params[b->np++];
    snprintf(p->name, sizeof p->name, "%s%s", prefix, name);
    p->t = t;
    p->offset = b->nfloats;
    b->nfloats += fm_tensor_numel(&p->t);
}

void fm_lay_conv(fm_layout *b, const char *prefix, const char *name, int cout, int cin, int k)
{
    char full[FM_PARAM_NAME];
    snprintf(full, sizeof full, "%s%s.weight", prefix, name);
    fm_lay_param(b, full, "", 4, cout, cin, k, k);
    snprintf(full, sizeof full, "%s%s.bias", prefix, name);
    fm_lay_param(b, full, "", 1, cout, 1, 1, 1);
}

void fm_lay_linear(fm_layout *b, const char *prefix, const char *name, int out, int in)
{
    char full[FM_PARAM_NAME];
    snprintf(full, sizeof full, "%s%s.weight", prefix, name);
    fm_lay_param(b, full, "", 2, out, in, 1, 1);
    snprintf(full, sizeof full, "%s%s.bias", prefix, name);
    fm_lay_param(b, full, "", 1, out, 1, 1, 1);
}

void fm_lay_norm(fm_layout *b, const char *prefix, const char *name, int c)
{
    char full[FM_PARAM_NAME];
    snprintf(full, sizeof full, "%s%s.weight", prefix, name);
    fm_lay_param(b, full, "", 1, c, 1, 1, 1);
    snprintf(full, sizeof full, "%s%s.bias", prefix, name);
    fm_lay_param(b, full, "", 1, c, 1, 1, 1);
}
