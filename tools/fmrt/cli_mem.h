/* Host memory the fmrt tool owns: the blocks behind backends, weights and data sets
 * (cli_backend.h, cli_data.h). */
#ifndef FMRT_CLI_MEM_H
#define FMRT_CLI_MEM_H

#include <stddef.h>

#include "arena.h"

typedef struct cli_mem {
    void *ptr;
    size_t bytes;
} cli_mem;

/* A host arena over a fresh 64-aligned block of `bytes` (freed with cli_mem_free). */
int cli_host_arena(fm_arena *a, size_t bytes, cli_mem *mem);
void cli_mem_free(cli_mem *mem);

#endif
