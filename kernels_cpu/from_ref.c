/* The cpu backend's entries for the ops of FM_CPU_FROM_REF (cpu.h): the reference
 * kernel itself, on the same host memory. */
#include "cpu.h"

#define FM_X(name)                                                                                 \
    fm_status fm_cpu_##name(fm_backend *be, const fm_call *c)                                      \
    {                                                                                              \
        return fm_ref_##name(be, c);                                                               \
    }
FM_CPU_FROM_REF(FM_X)
#undef FM_X
