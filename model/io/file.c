/* Whole-file reads, output checks and crash-safe writes; see file.h.
 *
 * Reads go through open/read, never stdio, so nothing allocates on our behalf. */
#define _POSIX_C_SOURCE 200809L

#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* ---- whole files ----------------------------------------------------------------- */

/* path opened for reading, a regular file whose size fits size_t: *fd and *size. */
static fm_status open_regular(const char *path, int *fd, size_t *size, char *err, size_t errlen)
{
    struct stat st;
    fm_status s = FM_OK;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return fm_errorf(err, errlen, FM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(*fd, &st) != 0)
        s = fm_errorf(err, errlen, FM_ERR_IO, "%s: fstat failed: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s = fm_errorf(err, errlen, FM_ERR_IO, "%s: not a regular file", path);
    else if ((uintmax_t)st.st_size > SIZE_MAX)
        s = fm_errorf(err, errlen, FM_ERR_IO, "%s: too large for this address space", path);
    if (s != FM_OK)
        close(*fd);
    else
        *size = (size_t)st.st_size;
    return s;
}

/* Up to n bytes of fd into p, in pieces of at most 1 GiB; *got stops short at the end
 * of the file. */
static fm_status read_upto(int fd, const char *path, uint8_t *p, size_t n, size_t *got, char *err,
                           size_t errlen)
{
    *got = 0;
    while (*got < n) {
        size_t want = n - *got > ((size_t)1 << 30) ? (size_t)1 << 30 : n - *got;
        ssize_t r = read(fd, p + *got, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return fm_errorf(err, errlen, FM_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return FM_OK;
}

fm_status fm_file_head(const char *path, void *buf, size_t n, size_t *got, size_t *size, char *err,
                       size_t errlen)
{
    int fd;
    if (!path || (!buf && n) || !got || !size)
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_file_head: NULL argument");
    FM_TRY(open_regular(path, &fd, size, err, errlen));
    fm_status s = read_upto(fd, path, buf, n, got, err, errlen);
    close(fd);
    return s;
}

fm_status fm_file_read(const char *path, fm_arena *host, const uint8_t **data, size_t *len,
                       char *err, size_t errlen)
{
    int fd;
    size_t n, off, got = 0;
    if (!path || !host || !host->base || !data || !len)
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_file_read: NULL argument");
    FM_TRY(open_regular(path, &fd, &n, err, errlen));
    fm_arena_mark mark = fm_arena_get_mark(host, "file");
    fm_status s = fm_arena_alloc(host, n, &off);
    if (s != FM_OK)
        s = fm_errorf(err, errlen, FM_ERR_ARENA, "%s: %zu bytes, arena has %zu free", path, n,
                      fm_arena_free_bytes(host));
    if (s == FM_OK)
        s = read_upto(fd, path, fm_arena_ptr(host, off), n, &got, err, errlen);
    if (s == FM_OK && got < n)
        s = fm_errorf(err, errlen, FM_ERR_IO, "%s: shrank while reading (%zu of %zu bytes)", path,
                      got, n);
    close(fd);
    if (s != FM_OK) {
        fm_arena_reset(host, mark);
        return s;
    }
    *data = fm_arena_ptr(host, off);
    *len = n;
    return FM_OK;
}

/* ---- crash-safe writes ---------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        size_t want = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        ssize_t w = write(fd, p, want);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) { /* no progress and no error: treat as a full device */
            errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void fm_path_folder(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

fm_status fm_file_check_output(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    struct stat st;
    if (!path || !*path)
        return fm_errorf(err, errlen, FM_ERR_ARG, "an output file name is empty");
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    if (blen == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return fm_errorf(err, errlen, FM_ERR_ARG, "%s names a folder, not a file", path);
    if (strlen(path) + sizeof FM_TMP_SUFFIX > PATH_MAX)
        return fm_errorf(err, errlen, FM_ERR_ARG,
                         "%s: path longer than %d characters with the "
                         "temporary suffix '%s'",
                         path, PATH_MAX - 1, FM_TMP_SUFFIX);
    fm_path_folder(path, dir, sizeof dir);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fm_errorf(err, errlen, FM_ERR_IO, "%s: folder %s does not exist", path, dir);
    if (access(dir, W_OK) != 0)
        return fm_errorf(err, errlen, FM_ERR_IO, "%s: folder %s is not writable (%s)", path, dir,
                         strerror(errno));
    long name_max = pathconf(dir, _PC_NAME_MAX);
    if (name_max < 0)
        name_max = NAME_MAX;
    if (blen + sizeof FM_TMP_SUFFIX - 1 > (size_t)name_max)
        return fm_errorf(err, errlen, FM_ERR_ARG,
                         "%s: file name of %zu characters; with the temporary "
                         "suffix '%s' it must fit in %ld",
                         path, blen, FM_TMP_SUFFIX, name_max);
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? FM_OK
                               : fm_errorf(err, errlen, FM_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return fm_errorf(err, errlen, FM_ERR_ARG,
                         "%s is a symbolic link: fmrt replaces files by "
                         "renaming, which would replace the link; name the file it points to",
                         path);
    if (S_ISDIR(st.st_mode))
        return fm_errorf(err, errlen, FM_ERR_ARG, "%s is a folder", path);
    if (!S_ISREG(st.st_mode))
        return fm_errorf(err, errlen, FM_ERR_ARG,
                         "%s is not a regular file (a device, FIFO or "
                         "socket); fmrt writes only regular files",
                         path);
    return FM_OK;
}

/* Open path's temporary file, "<path>.tmp", for writing: created, or reused and
 * emptied when a killed save left it behind. A write lock (released by the kernel
 * when its owner exits) keeps two live writers of the same path apart; O_NOFOLLOW
 * keeps a link planted at the temporary name from redirecting the write. */
static int open_tmp(const char *tmp, char *err, size_t errlen, const char *path)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) {
        fm_errorf(err, errlen, FM_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        return -1;
    }
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    struct stat st;
    const char *why = NULL;
    if (fcntl(fd, F_SETLK, &lk) != 0)
        why = "another process is writing it";
    else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        why = "it is not a regular file";
    else if (ftruncate(fd, 0) != 0)
        why = strerror(errno);
    if (why) {
        close(fd);
        fm_errorf(err, errlen, FM_ERR_IO, "%s: cannot use %s: %s", path, tmp, why);
        return -1;
    }
    return fd;
}

fm_status fm_file_write_atomic(const char *path, const void *const *chunks, const size_t *sizes,
                               int nchunks, char *err, size_t errlen)
{
    if (nchunks < 0 || (nchunks > 0 && (!chunks || !sizes)))
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_file_write_atomic: bad chunk list");
    for (int i = 0; i < nchunks; i++)
        if (sizes[i] && !chunks[i])
            return fm_errorf(err, errlen, FM_ERR_ARG, "%s: chunk %d is NULL with %zu bytes", path,
                             i, sizes[i]);
    fm_status s = fm_file_check_output(path, err, errlen);
    if (s != FM_OK)
        return s;
    char tmp[PATH_MAX], dir[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s" FM_TMP_SUFFIX, path); /* fits: checked above */
    int fd = open_tmp(tmp, err, errlen, path);
    if (fd < 0)
        return FM_ERR_IO;
    const char *what = "write";
    for (int i = 0; i < nchunks; i++)
        if (sizes[i] && write_all(fd, chunks[i], sizes[i]) != 0)
            goto fail_open;
    what = "fsync";
    if (fsync(fd) != 0)
        goto fail_open;
    /* Renamed while still open and locked: a second writer cannot slip in between. */
    what = "rename";
    if (rename(tmp, path) != 0)
        goto fail_open;
    what = "close";
    if (close(fd) != 0) {
        fd = -1;
        goto fail_renamed;
    }

    /* Make the rename itself durable. Some file systems cannot fsync a folder
     * (EINVAL); that is not worth failing for. */
    fm_path_folder(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        int rc = fsync(dfd), e = errno;
        close(dfd);
        if (rc != 0 && e != EINVAL && e != EROFS)
            return fm_errorf(err, errlen, FM_ERR_IO,
                             "%s: written, but fsync of folder %s failed: %s", path, dir,
                             strerror(e));
    }
    return FM_OK;

fail_renamed:
    return fm_errorf(err, errlen, FM_ERR_IO, "%s: written, but close failed: %s", path,
                     strerror(errno));
fail_open : {
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return fm_errorf(err, errlen, FM_ERR_IO, "%s: %s of %s failed: %s", path, what, tmp,
                     strerror(e));
}
}
