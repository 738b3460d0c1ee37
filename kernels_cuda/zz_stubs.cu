/* TEMPORARY while the CUDA ops land: weak entries that report "unsupported". */
#include "cuda.h"
#define FM_X(id, name, slots)                                                                      \
    extern "C" __attribute__((weak)) fm_status fm_cuda_##name(fm_backend *be, const fm_call *c)    \
    {                                                                                              \
        (void)c;                                                                                   \
        return fm_fail(be, FM_ERR_UNSUPPORTED, "cuda: %s not implemented yet", #name);            \
    }
FM_OP_LIST(FM_X)
#undef FM_X
