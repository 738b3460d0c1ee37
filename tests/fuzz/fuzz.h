/* What every libFuzzer harness here shares. A property that must hold for every
 * input is CHECKed: a failure aborts, which libFuzzer (and tests/fuzz/replay.c)
 * report as a finding with the input that caused it. */
#ifndef FMRT_FUZZ_H
#define FMRT_FUZZ_H

#include <stdlib.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

#endif
