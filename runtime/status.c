#include "status.h"

#include <stdarg.h>
#include <stdio.h>

fm_status fm_errorf(char *err, size_t errlen, fm_status s, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return s;
}

const char *fm_strerror(fm_status s)
{
    switch (s) {
    case FM_OK: return "ok";
    case FM_ERR_ARG: return "invalid argument";
    case FM_ERR_ARENA: return "arena exhausted";
    case FM_ERR_UNSUPPORTED: return "op not supported by backend";
    case FM_ERR_NOT_COMPILED: return "backend not compiled in";
    case FM_ERR_NO_DEVICE: return "no device";
    case FM_ERR_DRIVER: return "driver error";
    case FM_ERR_NOT_IMPLEMENTED: return "not implemented";
    case FM_ERR_IO: return "i/o error";
    case FM_ERR_FORMAT: return "malformed file";
    case FM_ERR_NUMERIC: return "non-finite value";
    case FM_STATUS_COUNT: break;
    }
    return "unknown status";
}
