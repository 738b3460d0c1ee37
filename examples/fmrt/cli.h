/* Shared helpers of the fmrt commands: errors, files, opening a backend. The
 * tool owns its memory (it may use malloc; the library may not). */
#ifndef FMRT_CLI_H
#define FMRT_CLI_H

#include <stddef.h>

#include "fmrt.h"

/* "fmrt: <message>" on stderr; returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "fmrt <cmd>: <message>" plus a --help hint on stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whole file into malloc'd memory; prints the error and returns 1 on failure. */
int cli_read_file(const char *path, unsigned char **data, size_t *len);

typedef struct cli_mem {
    void *ptr;
    size_t bytes;
} cli_mem;

/* Open backend `name` with an arena of `arena_bytes` (host block for ref, device
 * allocation otherwise). Prints the backend's message and what this build has on
 * failure. */
int cli_open_backend(fm_backend *be, const char *name, size_t arena_bytes, cli_mem *mem);
void cli_mem_free(cli_mem *mem);

/* Parse a decimal integer / float flag value; prints an error naming the flag. */
int cli_int(const char *flag, const char *s, long long lo, long long hi, long long *out);
int cli_float(const char *flag, const char *s, double lo, double hi, double *out);

int cmd_golden(int argc, char **argv);

#endif
