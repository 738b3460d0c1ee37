/* fmrt status codes. Every public function returns one; the message that
 * explains it lives in the context that failed (fm_backend.err). */
#ifndef FMRT_STATUS_H
#define FMRT_STATUS_H

typedef enum fm_status {
    FM_OK = 0,
    FM_ERR_ARG,             /* a caller passed a bad argument or shape */
    FM_ERR_ARENA,           /* an arena request did not fit */
    FM_ERR_UNSUPPORTED,     /* the backend has no kernel for this op */
    FM_ERR_NOT_COMPILED,    /* the backend was not compiled into this build */
    FM_ERR_NO_DEVICE,       /* the backend is compiled in but found no device */
    FM_ERR_DRIVER,          /* the driver or runtime library reported an error */
    FM_ERR_NOT_IMPLEMENTED, /* the backend exists only as a skeleton */
    FM_ERR_IO,              /* a file could not be read or written */
    FM_ERR_FORMAT,          /* a file is malformed (magic, version, size, checksum) */
    FM_ERR_NUMERIC,         /* a non-finite value appeared */
    FM_STATUS_COUNT
} fm_status;

/* Return the status of `expr` from the enclosing function unless it is FM_OK. */
#define FM_TRY(expr)                                                                               \
    do {                                                                                           \
        fm_status fm_try_ = (expr);                                                                \
        if (fm_try_ != FM_OK)                                                                      \
            return fm_try_;                                                                        \
    } while (0)

/* A short, static description of a status code ("arena exhausted", ...). */
const char *fm_strerror(fm_status s);

#include <stddef.h>

/* Write a message into err (printf-style, cut to errlen; err may be NULL) and return
 * s: the one error helper of the layers whose functions take (char *err, size_t
 * errlen) instead of a backend (files, weights, checkpoints, images). Never allocates. */
fm_status fm_errorf(char *err, size_t errlen, fm_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif
