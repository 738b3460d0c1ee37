#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fmrt: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fmrt %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see fmrt %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

int cli_read_file(const char *path, unsigned char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return cli_error("cannot seek in %s", path);
    }
    long n = ftell(f);
    rewind(f);
    if (n < 0) {
        fclose(f);
        return cli_error("cannot size %s", path);
    }
    *data = malloc((size_t)n + 1);
    if (!*data || fread(*data, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(*data);
        *data = NULL;
        return cli_error("cannot read %s", path);
    }
    fclose(f);
    *len = (size_t)n;
    return 0;
}

int cli_open_backend(fm_backend *be, const char *name, size_t arena_bytes, cli_mem *mem)
{
    /* Device backends keep only small state on the host; ref's arena is this block. */
    size_t host = strcmp(name, "ref") == 0 || strcmp(name, "auto") == 0 ? arena_bytes + 4096 : 1 << 20;
    host = (host + 63) & ~(size_t)63;
    mem->ptr = aligned_alloc(64, host);
    mem->bytes = host;
    if (!mem->ptr)
        return cli_error("cannot allocate %zu bytes of host memory for the arena", host);
    fm_backend_config cfg = {.name = name, .mem = mem->ptr, .mem_bytes = host,
                             .arena_bytes = arena_bytes, .device_index = -1};
    if (fm_backend_open(be, &cfg) != FM_OK) {
        char have[128] = "";
        for (const char *const *n = fm_backend_compiled(); *n; n++) {
            strncat(have, *n, sizeof have - strlen(have) - 2);
            if (n[1])
                strncat(have, ", ", sizeof have - strlen(have) - 1);
        }
        cli_error("%s (this build has: %s)", be->err, have);
        cli_mem_free(mem);
        return 1;
    }
    return 0;
}

void cli_mem_free(cli_mem *mem)
{
    free(mem->ptr);
    mem->ptr = NULL;
}

int cli_int(const char *flag, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return cli_error("%s: '%s' is not an integer in %lld..%lld", flag, s, lo, hi);
    *out = v;
    return 0;
}

int cli_float(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return cli_error("%s: '%s' is not a number in %g..%g", flag, s, lo, hi);
    *out = v;
    return 0;
}
