#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"
#include "cli_backend.h"
#include "cli_config.h"
#include "cli_data.h"
#include "cli_mem.h"
#include "philox.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "io.h"
#include "size.h"

int cli_quiet;

/* One message line on stderr. Messages quote names read from files (tensor names,
 * metadata keys, paths): control bytes are written as \xNN so that a file cannot
 * drive the terminal with escape sequences; UTF-8 passes through. The line goes out
 * in one call: the ranks of a --dist run share a terminal, and an unbuffered stderr
 * would interleave their characters. */
static void print_line(const char *prefix, const char *msg, const char *suffix)
{
    char line[4 * 2048 + 256];
    size_t k = (size_t)snprintf(line, sizeof line, "%s", prefix);
    for (const unsigned char *p = (const unsigned char *)msg; *p && k + 8 < sizeof line; p++) {
        if (*p < 0x20 || *p == 0x7f)
            k += (size_t)snprintf(line + k, sizeof line - k, "\\x%02x", *p);
        else
            line[k++] = (char)*p;
    }
    snprintf(line + k, sizeof line - k, "%s", suffix);
    fputs(line, stderr);
}

char cli_prefix[32] = "fmrt: ";

int cli_error(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!cli_quiet)
        print_line(cli_prefix, msg, "\n");
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char prefix[64], suffix[64];
    snprintf(prefix, sizeof prefix, "fmrt %s: ", cmd);
    snprintf(suffix, sizeof suffix, " (see fmrt %s --help)\n", cmd);
    if (!cli_quiet)
        print_line(prefix, msg, suffix);
    return 2;
}

int cli_write_file(const char *path, const void *data, size_t len)
{
    char err[768];
    if (fm_file_write_atomic(path, &data, &len, 1, err, sizeof err) != FM_OK)
        return cli_error("%s", err);
    return 0;
}

/* What a pipe may bring at most: IDX's own limit (FM_IDX_MAX_BYTES), so that
 * /dev/zero or an endless writer ends in one line, not in an out-of-memory kill. */
#define PIPE_MAX_BYTES ((size_t)INT32_MAX)

/* fd's bytes to its end into *data (cap bytes allocated, grown by doubling). */
static int read_all(const char *path, int fd, size_t cap, unsigned char **data, size_t *len)
{
    unsigned char *buf = malloc(cap + 1);
    size_t n = 0;
    for (;;) {
        if (!buf)
            return cli_error("cannot allocate %zu bytes to read %s", cap + 1, path);
        if (n == cap) {
            if (cap >= PIPE_MAX_BYTES) {
                free(buf);
                return cli_error("%s: more than %zu bytes; give a regular file", path, cap);
            }
            cap *= 2;
            unsigned char *grown = realloc(buf, cap + 1);
            if (!grown)
                free(buf);
            buf = grown;
            continue;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            free(buf);
            return cli_error("cannot read %s: %s", path, strerror(errno));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    *data = buf;
    *len = n;
    return 0;
}

/* Read once from the start, never seeked nor reopened, so that a FIFO or a pipe (a
 * shell's <(...), /dev/fd/N) reads as a regular file does. The open does not wait
 * for a FIFO's writer (O_NONBLOCK, cleared once open): one with none reads as empty
 * instead of blocking forever. */
int cli_read_file(const char *path, unsigned char **data, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 || fstat(fd, &st) != 0) {
        close(fd);
        return cli_error("cannot read %s: %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return cli_error("%s is a folder, not a file", path);
    }
    /* A regular file's size plus one byte, so that its end is seen without growing. */
    size_t cap = 1 << 16;
    if (S_ISREG(st.st_mode))
        cap = (uintmax_t)st.st_size < SIZE_MAX / 2 ? (size_t)st.st_size + 1 : SIZE_MAX / 2;
    int rc = read_all(path, fd, cap, data, len);
    close(fd);
    return rc;
}

int cli_is_pipe(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

unsigned cli_backend_flags;
int cli_threads;

/* An arena larger than the machine's memory would be granted by an overcommitting
 * kernel and then fail as an out-of-memory kill midway: refuse it with its size. */
static int host_too_large(size_t bytes)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0 || (uint64_t)bytes <= (uint64_t)pages * (uint64_t)page)
        return 0;
    return cli_error("the arena needs %.2f GiB of host memory, more than this machine's %.2f GiB "
                     "(a smaller --n or --batch, or a smaller model, needs less; see fmrt plan)",
                     (double)bytes / (1u << 30), (double)pages * (double)page / (1u << 30));
}

/* NAME or NAME:DEVICE, where DEVICE is an index ("opencl:1") or a substring of the
 * device name ("opencl:Radeon", "cuda:H200"). */
int cli_open_backend(fm_backend *be, const char *spec, size_t arena_bytes, cli_mem *mem)
{
    char name[32];
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (nlen == 0 || nlen >= sizeof name)
        return cli_error("--backend: '%s' is not NAME or NAME:DEVICE", spec);
    memcpy(name, spec, nlen);
    name[nlen] = 0;
    if (strcmp(name, "plan") == 0)
        return cli_error("--backend plan: the plan backend counts bytes and computes nothing; "
                         "it is not a backend to run on (see fmrt plan)");
    /* The host backends have no device to choose: cpu:99 would run on cpu as if the
     * suffix meant something. */
    if (colon && (strcmp(name, "ref") == 0 || strcmp(name, "cpu") == 0))
        return cli_error("--backend %s: %s has no devices to choose (NAME:DEVICE is for opencl "
                         "and cuda); give --backend %s",
                         spec, name, name);
    int index = -1;
    const char *match = NULL;
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (colon[1] && !*end && v >= 0 && v < 1024)
            index = (int)v;
        else if (colon[1])
            match = colon + 1;
        else
            return cli_error("--backend: '%s' names no device after ':'", spec);
    }
    /* The tensor arena of ref and cpu is this host block (cpu also keeps its pool state
     * and scratch here); device backends keep their state and the program-binary cache
     * buffer here. */
    size_t extra = 0; /* ref, cpu, auto: the host block holds the arena plus this much */
    if (fm_backend_host_bytes(name, 0, cli_threads, &extra) != FM_OK)
        return cli_error("--threads %d: the cpu backend's scratch does not fit", cli_threads);
    int host_arena = extra > 0;
    size_t host = 0;
    /* Test hook: FMRT_ARENA_BYTES replaces the planned arena size, so that tests can
     * reach the "arena too small" and "allocation failed" paths (tests/faults.sh).
     * The ref arena then gets exactly that many bytes, without the floor below. */
    const char *forced = getenv("FMRT_ARENA_BYTES");
    if (forced && *forced) {
        long long v = 0;
        if (cli_int("FMRT_ARENA_BYTES", forced, 1, (long long)(SIZE_MAX / 4 < LLONG_MAX
                                                              ? SIZE_MAX / 4 : LLONG_MAX), &v))
            return 1;
        /* A note, not an error: cli_error for the command's prefix. */
        cli_error("FMRT_ARENA_BYTES: an arena of %lld bytes instead of the planned %zu", v,
                  arena_bytes);
        arena_bytes = (size_t)v;
    } else {
        forced = NULL;
    }
    /* arena_bytes comes from the planner, i.e. from a config a file or a flag gave. */
    if (host_arena && (!fm_add_size(arena_bytes, (forced ? extra - 4096 : extra) + 63, &host)))
        return cli_error("an arena of %zu bytes does not fit in this address space", arena_bytes);
    if (host < (32u << 20) && !(forced && host_arena))
        host = 32u << 20;
    host &= ~(size_t)63;
    if (host_arena && host_too_large(host))
        return 1;
    mem->ptr = aligned_alloc(64, host);
    mem->bytes = host;
    if (!mem->ptr)
        return cli_error("cannot allocate %zu bytes of host memory for the arena", host);
    fm_backend_config cfg = {.name = name, .mem = mem->ptr, .mem_bytes = host,
                             .arena_bytes = arena_bytes, .device_index = index,
                             .device_match = match, .flags = cli_backend_flags,
                             .threads = cli_threads};
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
    if (cli_precision_check(fm_backend_name(be))) {
        fm_backend_close(be);
        cli_mem_free(mem);
        return 1;
    }
    return 0;
}

const char *cli_precision_backend(const char *asked)
{
    if ((cli_backend_flags & FM_BACKEND_BF16) && (!asked || strcmp(asked, "all") == 0))
        return "cpu";
    return asked;
}

int cli_precision_check(const char *name)
{
    if (!(cli_backend_flags & FM_BACKEND_BF16) || strcmp(name, "cpu") == 0)
        return 0;
    cli_error("--precision bf16: only the cpu backend has a bfloat16 path (this is %s)", name);
    return 1;
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
    if (lo <= -DBL_MAX && hi >= DBL_MAX && (errno || end == s || *end || !isfinite(v)))
        return cli_error("%s: '%s' is not a finite number", flag, s);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return cli_error("%s: '%s' is not a number in %g..%g", flag, s, lo, hi);
    *out = v;
    return 0;
}

int cli_parse_list(const char *flag, const char *s, long long lo, long long hi, int *v, int max)
{
    int n = 0;
    char buf[32];
    while (*s) {
        const char *c = strchr(s, ',');
        size_t l = c ? (size_t)(c - s) : strlen(s);
        long long x = 0;
        if (n == max || l == 0 || l >= sizeof buf) {
            cli_error("%s: '%s' is not a list of at most %d integers", flag, s, max);
            return -1;
        }
        memcpy(buf, s, l);
        buf[l] = 0;
        if (cli_int(flag, buf, lo, hi, &x))
            return -1;
        v[n++] = (int)x;
        s += l + (c ? 1 : 0);
        if (c && !*s) {
            cli_error("%s: trailing comma", flag);
            return -1;
        }
    }
    if (n == 0)
        cli_error("%s: empty list", flag);
    return n ? n : -1;
}

/* ---- helpers of train / sample / info / plan -------------------------------------- */

int cli_host_arena(fm_arena *a, size_t bytes, cli_mem *mem)
{
    mem->ptr = NULL;
    if (!fm_add_size(bytes, 63, &bytes))
        return cli_error("cannot allocate a host arena larger than the address space");
    bytes &= ~(size_t)63;
    mem->ptr = aligned_alloc(64, bytes ? bytes : 64);
    mem->bytes = bytes;
    if (!mem->ptr)
        return cli_error("cannot allocate %zu bytes of host memory", bytes);
    if (fm_arena_init(a, mem->ptr, bytes, 0) != FM_OK) {
        cli_mem_free(mem);
        return cli_error("cannot set up a host arena of %zu bytes", bytes);
    }
    return 0;
}

/* <prefix>/share/fmrt/name into buf, prefix being the folder above bin/ of this
 * executable (/proc/self/exe is the resolved path: P/bin/fmrt -> P); 0 where there is
 * no /proc or the path does not fit. */
static int installed_path(const char *name, char *buf, size_t len)
{
    char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0 || (size_t)n >= sizeof dir - 1)
        return 0;
    dir[n] = 0;
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash)
            return 0;
        *slash = 0;
    }
    int k = snprintf(buf, len, "%s/share/fmrt/%s", dir, name);
    return k > 0 && (size_t)k < len;
}

const char *cli_shipped_path(const char *name, char *buf, size_t len)
{
    char places[2][PATH_MAX + 256];
    int n = installed_path(name, places[0], sizeof places[0]);
#ifdef FMRT_MODEL_DIR
    int k = snprintf(places[n], sizeof places[n], "%s/%s", FMRT_MODEL_DIR, name);
    n += k > 0 && (size_t)k < sizeof places[n];
#endif
    struct stat st;
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (stat(places[i], &st) == 0) {
            snprintf(buf, len, "%s", places[i]);
            return buf;
        }
        /* The places tried, for the caller's message. */
        if (used < len)
            used += (size_t)snprintf(buf + used, len - used, i ? ", nor %s" : "%s", places[i]);
    }
    return NULL;
}

const char *cli_weights_path(const char *arg, char *buf, size_t len)
{
    struct stat st;
    buf[0] = 0;
    if (!*arg || strchr(arg, '/') || stat(arg, &st) == 0 || errno != ENOENT)
        return arg;
    const char *p = cli_shipped_path(arg, buf, len);
    return p ? p : arg;
}

int cli_find_input(const char *arg, char *buf, size_t len, const char **path)
{
    *path = cli_weights_path(arg, buf, len);
    if (*path != arg || !buf[0])
        return 0;
    return cli_error("cannot open %s: %s (nor %s)", arg, strerror(ENOENT), buf);
}

int cli_load_weights(const char *path, fm_weights *w, size_t *file_bytes, cli_mem *mem)
{
    struct stat st;
    char err[512], found[CLI_WEIGHTS_PATH];
    if (cli_find_input(path, found, sizeof found, &path))
        return 1;
    if (stat(path, &st) != 0)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cli_error("%s is not a regular file", path);
    fm_arena a;
    size_t need;
    if ((uintmax_t)st.st_size > SIZE_MAX || !fm_add_size((size_t)st.st_size, 256, &need))
        return cli_error("%s: %jd bytes do not fit in this address space", path,
                         (intmax_t)st.st_size);
    if (cli_host_arena(&a, need, mem))
        return 1;
    const uint8_t *data;
    size_t len;
    if (fm_file_read(path, &a, &data, &len, err, sizeof err) != FM_OK ||
        fm_weights_parse(data, len, w, err, sizeof err) != FM_OK) {
        cli_mem_free(mem);
        /* Messages from the parser may or may not name the file already. */
        return strstr(err, path) ? cli_error("%s", err) : cli_error("%s: %s", path, err);
    }
    if (file_bytes)
        *file_bytes = len;
    return 0;
}

int cli_check_weights(const char *path, const fm_weights *w, fm_mode mode, int use_raw)
{
    /* The layout table lives in a whole fm_model: too large for the stack. */
    fm_model *scratch = malloc(sizeof *scratch);
    char err[512];
    if (!scratch)
        return cli_error("cannot allocate %zu bytes for the layout check", sizeof *scratch);
    fm_status s = fm_model_check_weights(w, mode, use_raw, scratch, err, sizeof err);
    free(scratch);
    return s == FM_OK ? 0 : cli_error("%s: %s", path, err);
}

int cli_check_ext(const char *flag, const char *path, const char *ext, const char *what)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base || strcasecmp(dot, ext) == 0)
        return 0;
    cli_error("%s %s: %s; name the file %s", flag, path, what, ext);
    return 2;
}

int cli_force;

void cli_files_add(cli_files *f, const char *flag, const char *path)
{
    if (path && f->n < (int)(sizeof f->paths / sizeof f->paths[0])) {
        f->flags[f->n] = flag;
        f->own[f->n] = 0;
        f->paths[f->n++] = path;
    }
}

void cli_files_add_own(cli_files *f, const char *flag, const char *path)
{
    cli_files_add(f, flag, path);
    if (path && f->n > 0 && f->paths[f->n - 1] == path)
        f->own[f->n - 1] = 1;
}

void cli_files_add_data(cli_files *f, const char *flag, const char *path)
{
    struct stat st;
    char err[512];
    cli_files_add(f, flag, path);
    if (!path || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    for (int k = 0; k < 2 && f->nheld + 2 <= 8; k++) {
        char *im = f->held[f->nheld], *lb = f->held[f->nheld + 1];
        if (fm_mnist_find(path, k ? "t10k" : "train", im, lb, sizeof f->held[0], err,
                          sizeof err) != FM_OK)
            continue;
        f->nheld += 2;
        cli_files_add(f, flag, im);
        cli_files_add(f, flag, lb);
    }
}

/* path with its folder resolved ("x" and "./x" agree); 0 when the folder is gone. */
static int resolved(const char *path, char *out, size_t len)
{
    char dir[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(path, '/');
    fm_path_folder(path, dir, sizeof dir);
    if (!realpath(dir, real))
        return 0;
    int n = snprintf(out, len, "%s/%s", real, slash ? slash + 1 : path);
    return n > 0 && (size_t)n < len;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    char ra[PATH_MAX + 256], rb[PATH_MAX + 256];
    if (strcmp(a, b) == 0)
        return 1;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return resolved(a, ra, sizeof ra) && resolved(b, rb, sizeof rb) && strcmp(ra, rb) == 0;
}

int cli_check_outputs(const cli_files *outs, const cli_files *ins)
{
    char err[512];
    for (int i = 0; i < outs->n; i++) {
        const char *p = outs->paths[i], *flag = outs->flags[i];
        if (fm_file_check_output(p, err, sizeof err) != FM_OK)
            return cli_error("%s: %s", flag, err);
        for (int j = 0; j < i; j++)
            if (same_file(p, outs->paths[j]))
                return cli_error("%s and %s name the same file %s: one would overwrite the other",
                                 outs->flags[j], flag, p);
        for (int j = 0; ins && j < ins->n; j++)
            if (same_file(p, ins->paths[j]))
                return cli_error("%s %s is also the input %s: writing it would destroy the input",
                                 flag, p, ins->flags[j]);
    }
    /* Last, so that a clash above is named first: what --force would not cure. */
    for (int i = 0; i < outs->n && !cli_force; i++) {
        struct stat sb;
        if (!outs->own[i] && lstat(outs->paths[i], &sb) == 0)
            return cli_error("%s %s exists: --force replaces it (or name another file)",
                             outs->flags[i], outs->paths[i]);
    }
    return 0;
}

int cli_config_option(const char *cmd, cli_config_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strcmp(a, "--preset") != 0 && strcmp(a, "--config") != 0 && strcmp(a, "--classes") != 0 &&
        strcmp(a, "--arch") != 0)
        return -1;
    if (*i + 1 >= argc)
        return cli_usage_error(cmd, "%s needs a value", a);
    const char *v = argv[++*i];
    if (strcmp(a, "--preset") == 0) {
        o->preset = v;
    } else if (strcmp(a, "--arch") == 0) {
        const fm_arch *arch = fm_arch_find(v);
        if (!arch || !arch->velocity)
            return cli_usage_error(cmd, "--arch must be a velocity model (%s), not '%s'",
                                   cli_velocity_archs(), v);
        o->arch = v;
    } else if (strcmp(a, "--config") == 0) {
        if (o->nsets == CLI_MAX_SETS)
            return cli_usage_error(cmd, "more than %d --config options", CLI_MAX_SETS);
        o->sets[o->nsets++] = v;
    } else {
        long long k = 0;
        if (cli_int("--classes", v, 0, 1000, &k))
            return 2;
        o->classes = (int)k;
        o->have_classes = 1;
    }
    o->given = 1;
    return 0;
}

const char *cli_velocity_archs(void)
{
    static char buf[128];
    size_t k = 0;
    for (int i = 0; fm_arch_at(i); i++)
        if (fm_arch_at(i)->velocity && k < sizeof buf)
            k += (size_t)snprintf(buf + k, sizeof buf - k, k ? ", %s" : "%s", fm_arch_at(i)->name);
    return buf;
}

int cli_velocity_presets(const char **names, int max)
{
    int n = 0;
    for (int i = 0; fm_arch_at(i); i++)
        for (const fm_preset *p = fm_arch_at(i)->presets; fm_arch_at(i)->velocity && p->name; p++)
            if (n < max)
                names[n++] = p->name;
    return n;
}

int cli_config_sets(const cli_config_opts *o, fm_config *cfg)
{
    char msg[256];
    for (int i = 0; i < o->nsets; i++) {
        char key[64];
        const char *eq = strchr(o->sets[i], '=');
        size_t kl = eq ? (size_t)(eq - o->sets[i]) : 0;
        if (!eq || kl == 0 || kl >= sizeof key)
            return cli_error("--config: '%s' is not key=value", o->sets[i]);
        memcpy(key, o->sets[i], kl);
        key[kl] = 0;
        if (fm_config_set(cfg, key, eq + 1, msg, sizeof msg) != FM_OK)
            return cli_error("--config %s: %s", o->sets[i], msg);
    }
    /* Classes are a velocity model's (the caller refuses them for the others). */
    if (o->have_classes && fm_arch_by_id(cfg->arch)->velocity)
        cfg->num_classes = o->classes;
    if (fm_config_validate(cfg, msg, sizeof msg) != FM_OK)
        return cli_error("config: %s", msg);
    return 0;
}

int cli_build_config(const cli_config_opts *o, fm_config *cfg)
{
    /* --arch picks its default preset; a preset of another architecture is an error. */
    const fm_arch *arch = fm_arch_find(o->arch ? o->arch : "unet");
    const char *preset = o->preset ? o->preset : arch->presets[0].name;
    if (fm_config_preset(cfg, preset) != FM_OK)
        return cli_error("--preset: unknown preset '%s' (have: %s)", preset, fm_preset_names());
    if (o->arch && cfg->arch != arch->id)
        return cli_error("--preset %s is not a %s preset (--arch %s)", preset, o->arch, o->arch);
    if (!fm_arch_by_id(cfg->arch)->velocity)
        return cli_error("--preset %s is a %s, not a velocity model", preset,
                         fm_arch_by_id(cfg->arch)->name);
    return cli_config_sets(o, cfg);
}

int cli_plan(const fm_config *cfg, fm_mode mode, int batch, fm_plan *p)
{
    /* The planner describes the model in a full fm_model: too large for the stack. */
    fm_model *scratch = malloc(sizeof *scratch);
    void *track = malloc(FM_MODEL_PLAN_TRACK_BYTES);
    char err[512];
    if (!scratch || !track) {
        free(scratch);
        free(track);
        return cli_error("cannot allocate %zu bytes for the planner",
                         sizeof *scratch + FM_MODEL_PLAN_TRACK_BYTES);
    }
    fm_status s = fm_model_plan_live(cfg, mode, batch, scratch, track, FM_MODEL_PLAN_TRACK_BYTES, p,
                                    err, sizeof err);
    free(scratch);
    free(track);
    if (s != FM_OK)
        return cli_error("planning the %s arena for batch %d: %s",
                         mode == FM_MODE_TRAIN ? "training" : "sampling", batch, err);
    return 0;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Host arena bytes to load an IDX file: its header's claim, bounded by the file
 * (fm_idx_probe: a raw file's size, 1032 x a gzip file's), plus zlib's state. The
 * gzip trailer (ISIZE: any 32-bit number) is not trusted: a 50 KB file whose trailer
 * claims 2 GiB used to get a 2 GiB arena before zlib noticed. */
static int idx_bytes(const char *path, size_t *bytes)
{
    struct stat st;
    char err[512];
    cli_mem m = {0};
    fm_arena sc;
    fm_idx h;
    if (stat(path, &st) != 0)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    if (cli_host_arena(&sc, FM_IDX_ZLIB_BYTES, &m))
        return 1;
    fm_status s = fm_idx_probe(path, &sc, &h, bytes, err, sizeof err);
    cli_mem_free(&m);
    if (s != FM_OK)
        return strstr(err, path) ? cli_error("%s", err) : cli_error("%s: %s", path, err);
    return 0;
}

int cli_load_idx(const char *path, fm_idx *idx, cli_mem *mem)
{
    char err[512];
    size_t bytes = 0, need;
    fm_arena a;
    if (idx_bytes(path, &bytes))
        return 1;
    if (!fm_add_size(bytes, 1 << 20, &need)) /* plus zlib's state */
        return cli_error("%s: too large for this address space", path);
    if (cli_host_arena(&a, need, mem))
        return 1;
    if (fm_idx_load(path, &a, idx, err, sizeof err) != FM_OK) {
        cli_mem_free(mem);
        return strstr(err, path) ? cli_error("%s", err) : cli_error("%s: %s", path, err);
    }
    return 0;
}

int cli_file_has_magic(const char *path, const char *magic, size_t n)
{
    char head[16];
    FILE *f = fopen(path, "rb");
    int yes = f && n <= sizeof head && fread(head, 1, n, f) == n && memcmp(head, magic, n) == 0;
    if (f)
        fclose(f);
    return yes;
}

void cli_pixels(float *dst, const uint8_t *px, size_t n)
{
    for (size_t k = 0; k < n; k++)
        dst[k] = (float)px[k] / 127.5f - 1.0f;
}

/* Fisher-Yates over [0, n) for one epoch: draw i uses the top bits of Philox
 * word r0 (multiply-shift, so j is uniform in [0, i] up to 2^-32 bias). */
void cli_shuffle(uint32_t *perm, int64_t n, uint64_t seed, uint64_t epoch)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (int64_t i = n - 1; i > 0; i--) {
        fm_philox4 r = fm_philox_element(seed, (uint64_t)i, CLI_SHUFFLE_STREAM + (uint32_t)epoch);
        int64_t j = (int64_t)(((uint64_t)r.v[0] * (uint64_t)(i + 1)) >> 32);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void cli_hms(double s, char *buf, size_t len)
{
    if (!(s >= 0) || s > 360000.0 * 24)
        s = 0;
    long t = (long)(s + 0.5);
    snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

int cli_open_sampler(const char *path, cli_mem *wmem, const fm_weights *w, const char *backend,
                     int N, int raw, size_t extra, cli_sampler *s)
{
    char err[768];
    fm_plan plan;
    size_t arena_bytes = 0;
    int rc = cli_plan(&w->cfg, FM_MODE_SAMPLE, N, &plan);
    if (rc != 0)
        return rc;
    if (!fm_add_size(plan.total_bytes, extra, &arena_bytes) ||
        !fm_add_size(arena_bytes, 64 << 10, &arena_bytes))
        return cli_error("the sampling arena (%zu bytes) is too large", plan.total_bytes);
    if ((rc = cli_open_backend(&s->be, backend ? backend : "auto", arena_bytes, &s->bemem)) != 0)
        return rc;
    s->be_open = 1;
    s->m = calloc(1, sizeof *s->m);
    if (!s->m)
        return cli_error("cannot allocate the model description");
    if (fm_model_create_from_weights(s->m, &s->be, w, FM_MODE_SAMPLE, N, raw, NULL, NULL, err,
                                    sizeof err) != FM_OK)
        return cli_error("%s: %s", path, err);
    cli_mem_free(wmem); /* the weights are on the backend now */
    return 0;
}

void cli_close_sampler(cli_sampler *s)
{
    if (s->be_open)
        fm_backend_close(&s->be);
    s->be_open = 0;
    free(s->m);
    s->m = NULL;
    cli_mem_free(&s->bemem);
}

int cli_load_mnist(const char *images, const char *labels, int num_classes, fm_dataset *ds,
                   cli_mem *mem)
{
    char err[512];
    size_t bi = 0, bl = 0, need;
    fm_arena a;
    if (idx_bytes(images, &bi) || idx_bytes(labels, &bl))
        return 1;
    /* Payloads, their rounding, and zlib's inflate state (freed before returning); bi and
     * bl come from the files (a gzip trailer is any 32-bit number). */
    if (!fm_add_size(bi, bl, &need) || !fm_add_size(need, 1 << 20, &need))
        return cli_error("%s + %s: too large for this address space", images, labels);
    if (cli_host_arena(&a, need, mem))
        return 1;
    if (fm_mnist_load(images, labels, num_classes, &a, ds, err, sizeof err) != FM_OK) {
        cli_mem_free(mem);
        return cli_error("%s", err);
    }
    return 0;
}

int cli_class_names(const char *arg, int K, char *out, size_t cap, size_t *len)
{
    unsigned char *file = NULL;
    size_t flen = 0, n = 0;
    int k = 0;
    if (*arg == '@' && cli_read_file(arg + 1, &file, &flen))
        return 1;
    const char *p = file ? (const char *)file : arg, *end = file ? p + flen : p + strlen(p);
    const char sep = file ? '\n' : ',';
    int rc = 0;
    while (p < end && rc == 0) {
        const char *q = memchr(p, sep, (size_t)(end - p));
        size_t l = (size_t)((q ? q : end) - p);
        if (file && l && p[l - 1] == '\r')
            l--;
        if (!fm_class_name_ok(p, l) || n + l + 1 > cap)
            rc = cli_error("--class-names: name %d '%.*s' is empty, over %d bytes or holds a ','",
                           k, (int)(l < 80 ? l : 80), p, FM_CLASS_NAME_MAX - 1);
        else
            n += (size_t)snprintf(out + n, cap - n, "%s%.*s", k ? "\n" : "", (int)l, p);
        k++;
        p = q ? q + 1 : end;
    }
    free(file);
    if (rc == 0 && k != K)
        rc = cli_error("--class-names: %d names for %d classes", k, K);
    *len = rc ? 0 : n;
    return rc;
}

const char *cli_escape(const char *s, char *buf, size_t len)
{
    size_t k = 0;
    if (!len)
        return buf;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        /* Printable ASCII as is; a backslash is escaped too, so that the output
         * reads back unambiguously. */
        int plain = *p >= 0x20 && *p < 0x7f && *p != '\\';
        char one[5];
        int n = snprintf(one, sizeof one, plain ? "%c" : "\\x%02x", *p);
        if (k + (size_t)n >= len)
            break;
        memcpy(buf + k, one, (size_t)n);
        k += (size_t)n;
    }
    buf[k] = '\0';
    return buf;
}
