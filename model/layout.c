/* The layout builder's helpers (layout.h). */
#include "layout.h"

#include <stdio.h>
#include <string.h>


void fm_lay_param(fm_layout *b, const char *prefix, const char *name, int ndim, int64_t d0,
                      int64_t d1, int64_t d2, int64_t d3)
{
    if (!b->params) {
        b->np++;
        return;
    }
    if (b->np >= b->maxp) {
        b->overflow = 1;
        return;
    }
    int64_t shape[4] = {d0, d1, d2, d3};
    fm_param *p = &b->params[b->np++];
    snprintf(p->name, sizeof p->name, "%s%s", prefix, name);
    p->t = fm_tensor_desc(FM_F32, ndim, shape);
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

fm_module *fm_lay_module(fm_layout *b, fm_mod_kind kind, fm_mod_part part, int cin, int cout, int res)
{
    if (!b->mods || b->nm >= b->maxm) {
        b->overflow |= b->mods != NULL;
        b->nm += b->mods == NULL;
        return &b->dummy;
    }
    fm_module *m = &b->mods[b->nm++];
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->part = part;
    m->cin = cin;
    m->cout = cout;
    m->res = res;
    m->p = b->np;
    return m;
}

