/* What every fmrt command uses: messages, numbers and lists from flags, files, the
 * parse_<cmd>_args contract. The rest by concern: host memory (cli_mem.h), backends,
 * weights and the sampler (cli_backend.h), model configs (cli_config.h), data
 * (cli_data.h), plot's curves (cli_plot.h), each command's options (cli_<cmd>.h), the
 * cmd_* entry points (commands.h). The tool owns its memory (it may use malloc; the
 * library may not). */
#ifndef FMRT_CLI_H
#define FMRT_CLI_H

#include <stddef.h>

/* Messages of cli_error and cli_usage_error are always formatted, but printed
 * only while cli_quiet is 0. The fuzz harness sets it: the formatting still runs
 * under the sanitizers, the terminal stays quiet. */
extern int cli_quiet;

/* cli_error's prefix: "fmrt: " until main.c knows the command, then "fmrt CMD: ", so
 * that every line of a command names it (notes too: print them with cli_error);
 * "fmrt [rank 1]: " on the ranks of a --dist run. */
extern char cli_prefix[32];
/* "<cli_prefix><message>" on stderr; returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "fmrt <cmd>: <message>" plus a --help hint on stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* len bytes of data as the whole file at path, crash-safe (fm_file_write_atomic);
 * prints the error and returns 1 on failure. */
int cli_write_file(const char *path, const void *data, size_t len);
/* Whole file into malloc'd memory (one byte more, allocated); prints the error and
 * returns 1 on failure. Read once, never seeked or reopened: a FIFO or a pipe (<(...))
 * works, and a FIFO with no writer reads as empty instead of blocking. */
int cli_read_file(const char *path, unsigned char **data, size_t *len);
/* 1 when path exists and is neither a regular file nor a folder (a FIFO, a pipe, a
 * device): an input that can be read only once, from its start. */
int cli_is_pipe(const char *path);
/* 1 when the file at path starts with the n (<= 16) bytes of magic. */
int cli_file_has_magic(const char *path, const char *magic, size_t n);

/* Parse a decimal integer / float flag value; prints an error naming the flag. */
int cli_int(const char *flag, const char *s, long long lo, long long hi, long long *out);
int cli_float(const char *flag, const char *s, double lo, double hi, double *out);
/* "0,10,25" into v (at most max integers in lo..hi); returns the count, or -1 after
 * printing what is wrong (an empty list, an empty item, a trailing comma). */
int cli_parse_list(const char *flag, const char *s, long long lo, long long hi, int *v, int max);

/* The output files of a command, checked before any work starts: each passes
 * fm_file_check_output, none that exists is replaced without --force unless it is
 * the run's own (cli_files_add_own: a resumed run's checkpoint, weights and log), and
 * no two name the same file, nor one an input (same path after resolving the folder,
 * or the same file when both exist). flags[i] names outs[i] in messages; NULL entries
 * are skipped. */
typedef struct cli_files {
    const char *flags[16], *paths[16];
    int own[16];
    int n;
    char held[8][1024]; /* paths cli_files_add_data resolved */
    int nheld;
} cli_files;
void cli_files_add(cli_files *f, const char *flag, const char *path);
void cli_files_add_own(cli_files *f, const char *flag, const char *path);
/* An input that may be an MNIST folder (--data DIR, eval's SAMPLES or --ref): path,
 * and where it is a folder the files fm_mnist_find resolves in it (train and t10k,
 * images and labels), so that no output replaces the digits read from it. */
void cli_files_add_data(cli_files *f, const char *flag, const char *path);
/* --force (every command; taken out of argv by main.c): replace existing outputs. */
extern int cli_force;
int cli_check_outputs(const cli_files *outs, const cli_files *ins);

/* The format an output flag gets, explicit: path's extension (after the last '.' of
 * its last component; a leading dot starts none) must be ext (".png"), in any case,
 * or path may have none (taken as is: /dev/stdout, a fifo). Else one line, "--out
 * x.jpg: sample writes PNG images; name the file .png", and 2. It reads no file, so
 * parse_<cmd>_args may call it. Used by sample (--out, --traj) and plot (--out). */
int cli_check_ext(const char *flag, const char *path, const char *ext, const char *what);

/* Monotonic seconds. */
double cli_now(void);
/* "H:MM:SS" of s seconds (0:00:00 for a negative or absurd value). */
void cli_hms(double s, char *buf, size_t len);

/* ---- option parsing, one function per command ----------------------------------------
 * parse_<cmd>_args(argc, argv, &opts) (in cli_<cmd>.h) reads argv[1..argc-1] into
 * opts and checks the flags against each other. It has no side effects besides one
 * message on stderr for an error (see cli_quiet): nothing is opened, read, allocated
 * or written, so it can run on any input (tests/fuzz/fuzz_cli.c does). Returns 0,
 * CLI_HELP for --help (the command prints its usage) or 2 for a usage error. */
#define CLI_HELP (-1)
/* Exit status of a command that Ctrl-C stopped after saving its work cleanly: 130,
 * 128 + SIGINT, as a shell reports a command the signal ended. */
#define CLI_INTERRUPTED 130
#define CLI_MAX_LIST 1024

/* --class-names L (fmrt train, train-classifier): "a,b,c", or "@FILE" with a name per
 * line, into out ('\n'-separated, *len bytes, at most cap): exactly K names, each
 * fm_class_name_ok. One error line naming the bad one. */
int cli_class_names(const char *arg, int K, char *out, size_t cap, size_t *len);

/* s with every byte outside printable ASCII, and the backslash, written as \xNN,
 * into buf (len bytes, cut at a whole escape); returns buf. For strings read from
 * files: names and keys reach the terminal without control sequences. */
const char *cli_escape(const char *s, char *buf, size_t len);

#endif
