/* TEMPORARY while the OpenCL ops land: weak entries that report "unsupported". */
#include "cl.h"
#define FM_X(id, name, slots)                                                                      \
    __attribute__((weak)) fm_status fm_cl_##name(fm_backend *be, const fm_call *c)                 \
    {                                                                                              \
        (void)c;                                                                                   \
        return fm_fail(be, FM_ERR_UNSUPPORTED, "opencl: %s not implemented yet", #name);          \
    }
FM_OP_LIST(FM_X)
#undef FM_X
