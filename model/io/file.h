/* Files without a heap: whole-file reads into an arena, crash-safe writes, the
 * check every output gets before work starts, and a path helper.
 *
 * Memory: fm_file_read draws exactly the returned bytes from the caller's host
 * arena; on failure the arena is left as it was. Nothing else here allocates.
 *
 * Messages: on failure a one-line message naming the file and what was wrong goes
 * into err (errlen bytes, may be 0). */
#ifndef FMRT_FILE_H
#define FMRT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "status.h"

/* The folder part of path into dir (len bytes): "." for a bare name, "/" for "/x". */
void fm_path_folder(const char *path, char *dir, size_t len);

/* Suffix of the temporary file of a save (see fm_file_write_atomic). */
#define FM_TMP_SUFFIX ".tmp"

/* Whether path can be written by fm_file_write_atomic; callers run it on every
 * output before starting work, so that a bad name fails at once, not after hours:
 * a non-empty file name (not "", "dir/", "." or ".."); an existing, writable folder;
 * room for the temporary suffix within the file system's name limit and PATH_MAX;
 * and, when path exists, a regular file. A symbolic link is refused (a rename
 * would replace the link itself, not the file it points to), and so are folders,
 * device nodes, FIFOs and sockets. FM_ERR_ARG or FM_ERR_IO with a message naming
 * the path and what is wrong. */
fm_status fm_file_check_output(const char *path, char *err, size_t errlen);

/* Replace `path` with the concatenation of nchunks chunks, crash-safely: check path
 * (fm_file_check_output), write "<path>.tmp" in the same folder under a write lock,
 * fsync it, rename it over path and fsync the folder. A temporary file that a
 * killed save left behind is reused (emptied first), so none accumulate; one that
 * a live process holds locked fails with a message. On any failure before the
 * rename (open, short write, ENOSPC, EFBIG, EACCES, ...) the temporary file is
 * removed, an existing `path` is left untouched and FM_ERR_IO comes back with the
 * strerror text. A failure of the final folder fsync is reported too, but path is
 * already replaced then.
 * A process with RLIMIT_FSIZE set should ignore SIGXFSZ so that an over-long file
 * shows up as EFBIG here instead of killing the process. Chunks of size 0 may have
 * a NULL pointer. */
fm_status fm_file_write_atomic(const char *path, const void *const *chunks, const size_t *sizes,
                               int nchunks, char *err, size_t errlen);

/* The first n bytes of regular file path into buf (fewer when the file is shorter:
 * *got says how many) and its size in *size: what a caller reads to size the memory
 * of a whole read (a weights file's header holds its config). */
fm_status fm_file_head(const char *path, void *buf, size_t n, size_t *got, size_t *size, char *err,
                       size_t errlen);
/* Whole regular file into the host arena (64-byte aligned, as every arena
 * allocation); *len receives its size. */
fm_status fm_file_read(const char *path, fm_arena *host, const uint8_t **data, size_t *len,
                       char *err, size_t errlen);

#endif
