/* Shared helpers of the fmrt commands: errors, files, opening a backend. The
 * tool owns its memory (it may use malloc; the library may not). */
#ifndef FMRT_CLI_H
#define FMRT_CLI_H

#include <stddef.h>

#include "fmrt.h"
#include "unet.h"
#include "io.h"
#include "weights.h"

/* Messages of cli_error and cli_usage_error are always formatted, but printed
 * only while cli_quiet is 0. The fuzz harness sets it: the formatting still runs
 * under the sanitizers, the terminal stays quiet. */
extern int cli_quiet;

/* cli_error's prefix: "fmrt: ", or "fmrt [rank 1]: " on the ranks of a --dist run. */
extern char cli_prefix[32];
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
/* FM_BACKEND_* flags every backend the tool opens gets (--tf32 sets FM_BACKEND_TF32). */
extern unsigned cli_backend_flags;
/* --precision bf16 is the cpu backend's alone (cli_backend_flags has FM_BACKEND_BF16):
 * cli_precision_backend turns a request for every backend ("all" or NULL) into "cpu"
 * and leaves others as asked; cli_precision_check(name) is 0, or 1 after one error line
 * when the backend `name` has no bfloat16 path (cli_open_backend checks the backend it
 * opened, "auto" resolved). */
const char *cli_precision_backend(const char *asked);
int cli_precision_check(const char *name);
/* --threads N (train, sample, bench, conformance, golden; taken out of argv by main.c):
 * the cpu backend's worker threads, 0 = the cores available. */
extern int cli_threads;
void cli_mem_free(cli_mem *mem);

/* Parse a decimal integer / float flag value; prints an error naming the flag. */
int cli_int(const char *flag, const char *s, long long lo, long long hi, long long *out);
int cli_float(const char *flag, const char *s, double lo, double hi, double *out);
/* "0,10,25" into v (at most max integers in lo..hi); returns the count, or -1 after
 * printing what is wrong (an empty list, an empty item, a trailing comma). */
int cli_parse_list(const char *flag, const char *s, long long lo, long long hi, int *v, int max);

/* A host arena over a fresh 64-aligned block of `bytes` (freed with cli_mem_free). */
int cli_host_arena(fm_arena *a, size_t bytes, cli_mem *mem);
/* The file a weights argument names: arg itself, unless arg has no '/' and names no
 * file here; then the installed copy <folder of bin/fmrt>/../share/fmrt/arg (written to
 * buf, len bytes) when it exists. buf holds the installed path tried, or "" when none
 * was (the messages name both places). cli_load_weights looks up its path this way. */
#define CLI_WEIGHTS_PATH 4352 /* a buf that holds PATH_MAX and a name */
const char *cli_weights_path(const char *arg, char *buf, size_t len);
/* Read and validate a weights or checkpoint file; *w points into *mem. A bare name
 * missing here is looked up with cli_weights_path. */
int cli_load_weights(const char *path, fm_weights *w, size_t *file_bytes, cli_mem *mem);
/* fm_unet_check_weights for mode and use_raw (the file's tensors against its config's
 * layout, values finite): run before planning or allocating anything the file's
 * config sizes, so that no header can ask for more memory than its file holds. */
int cli_check_weights(const char *path, const fm_weights *w, fm_mode mode, int use_raw);

/* The output files of a command, checked before any work starts: each passes
 * fm_file_check_output, and no two name the same file, nor one an input (same path
 * after resolving the folder, or the same file when both exist). flags[i] names
 * outs[i] in messages; NULL entries are skipped. */
typedef struct cli_files {
    const char *flags[8], *paths[8];
    int n;
} cli_files;
void cli_files_add(cli_files *f, const char *flag, const char *path);
int cli_check_outputs(const cli_files *outs, const cli_files *ins);

/* --arch unet|dit, --preset NAME, --config key=value (repeatable), --classes K. */
#define CLI_MAX_SETS 32
typedef struct cli_config_opts {
    const char *arch; /* NULL: the preset's */
    const char *preset;
    const char *sets[CLI_MAX_SETS];
    int nsets;
    int classes, have_classes;
    int given; /* any of the three appeared */
} cli_config_opts;
/* argv[*i] is one of the config flags: consume it (and its value), return 0;
 * not one of them: -1; a usage error: 2 (printed). */
int cli_config_option(const char *cmd, cli_config_opts *o, int argc, char **argv, int *i);
/* Preset (default mnist, or dit with --arch dit), then the --config settings, then
 * --classes; validated. */
int cli_build_config(const cli_config_opts *o, fm_config *cfg);
/* fm_unet_plan_live with its scratch model and tracker on the heap; prints the error. */
int cli_plan(const fm_config *cfg, fm_mode mode, int batch, fm_plan *p);
/* Monotonic seconds. */
double cli_now(void);

/* ---- option parsing, one function per command ----------------------------------------
 * parse_<cmd>_args(argc, argv, &opts) reads argv[1..argc-1] into opts and checks
 * the flags against each other. It has no side effects besides one message on
 * stderr for an error (see cli_quiet): nothing is opened, read, allocated or
 * written, so it can run on any input (tests/fuzz/fuzz_cli.c does). Returns 0,
 * CLI_HELP for --help (the command prints its usage) or 2 for a usage error. */
#define CLI_HELP (-1)
#define CLI_MAX_LIST 1024

typedef struct cli_train_opts {
    const char *data, *images, *labels, *backend, *out, *ckpt, *resume, *log;
    cli_config_opts cfg;
    long long batch, epochs, steps, seed, ckpt_every, limit, log_every;
    double lr, wd, ema, label_drop;
    int have_batch, have_seed, have_lr, have_wd, have_ema, have_drop, have_epochs;
    int skip_nonfinite; /* --skip-nonfinite: skip (and count) steps with a NaN/inf */
    int dist;           /* --dist: one rank of a data-parallel run (train_dist.c) */
    long long dist_check; /* --dist-check N: the ranks' parameter checksums every N steps */
} cli_train_opts;
int parse_train_args(int argc, char **argv, cli_train_opts *o);

typedef struct cli_sample_opts {
    const char *weights, *backend, *sampler, *out, *traj, *traj_list, *raw_out, *f32_out, *classes;
    long long n, steps, seed, cls, cols;
    double cfg;
    int have_cls, have_cfg, raw;
    int labels[CLI_MAX_LIST], nlabels;   /* from --class or --classes */
    int traj_cols[CLI_MAX_LIST], ntraj;  /* steps captured with --traj */
} cli_sample_opts;
int parse_sample_args(int argc, char **argv, cli_sample_opts *o);

typedef struct cli_eval_opts {
    const char *samples, *ref, *labels, *classifier, *backend, *sampler, *classes, *save_stats,
        *samples_out, *classes_out;
    long long n, steps, seed, batch, cls;
    double cfg;
    int have_n, have_cls, have_cfg, raw, sanity, json;
} cli_eval_opts;
int parse_eval_args(int argc, char **argv, cli_eval_opts *o);

typedef struct cli_diff_opts {
    const char *a, *b;
    double tol;
    int have_tol, all;
} cli_diff_opts;
int parse_diff_args(int argc, char **argv, cli_diff_opts *o);

typedef struct cli_info_opts {
    const char *path;
} cli_info_opts;
int parse_info_args(int argc, char **argv, cli_info_opts *o);
/* s with every byte outside printable ASCII, and the backslash, written as \xNN,
 * into buf (len bytes, cut at a whole escape); returns buf. For strings read from
 * files: names and keys reach the terminal without control sequences. */
const char *cli_escape(const char *s, char *buf, size_t len);

typedef struct cli_plan_opts {
    cli_config_opts cfg;
    long long batch, sbatch;
} cli_plan_opts;
int parse_plan_args(int argc, char **argv, cli_plan_opts *o);

int cmd_golden(int argc, char **argv);
int cmd_train(int argc, char **argv);
/* fmrt train-classifier (classifier.c): the MNIST classifier of model/classifier.h. */
int cmd_train_classifier(int argc, char **argv);
int cmd_sample(int argc, char **argv);
/* fmrt eval (eval.c, fid.h): sample quality through the classifier. */
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_plot(int argc, char **argv);
/* fmrt convert IN OUT: safetensors <-> weights (convert.c, safetensors.h). */
int cmd_convert(int argc, char **argv);

/* ---- fmrt plot without its files (tests/fuzz/fuzz_plot.c runs these on any input) ----
 * cli_plot_parse adds one trainer CSV log (step,epoch,loss,...; text[0..len), no NUL
 * needed) as p->logs[p->nlogs], named `name` in messages and the legend. A row whose
 * step is not in 0..2^53, whose epoch is not finite and >= 0 or whose loss is not in
 * (0, 1e100] is refused with one message (see cli_quiet); a NaN/inf loss is skipped and
 * counted. cli_plot_ref adds --ref EPOCH:LOSS pairs the same way. cli_plot_fit picks
 * the axes: finite spans > 0 and at most CLI_PLOT_MAX_TICKS ticks per axis, whatever
 * was read. cli_plot_svg draws the SVG into malloc'd memory. Each returns 0 or 1. */
#define CLI_PLOT_MAX_FILES 4
#define CLI_PLOT_MAX_REF 64
#define CLI_PLOT_MAX_TICKS 32
typedef struct cli_plot_log {
    const char *name;
    double *step, *loss; /* n rows, malloc'd (cli_plot_free) */
    int n;
    long long skipped; /* rows with a non-finite loss */
} cli_plot_log;
typedef struct cli_plot {
    cli_plot_log logs[CLI_PLOT_MAX_FILES];
    int nlogs, nref, smooth; /* smooth: moving-average window, >= 1 */
    double refx[CLI_PLOT_MAX_REF], refy[CLI_PLOT_MAX_REF];
    const char *title;
} cli_plot;
typedef struct cli_plot_axes {
    double x0, x1, ly0, ly1; /* x range; log10 of the y range */
    double xt[CLI_PLOT_MAX_TICKS], yt[CLI_PLOT_MAX_TICKS];
    int nx, ny;
} cli_plot_axes;
int cli_plot_parse(cli_plot *p, const char *name, const char *text, size_t len);
int cli_plot_ref(cli_plot *p, const char *spec, long long steps_per_epoch);
int cli_plot_fit(const cli_plot *p, cli_plot_axes *ax);
int cli_plot_svg(const cli_plot *p, char **svg, size_t *len);
void cli_plot_free(cli_plot *p);

/* One IDX file (raw or gzip'd, type u8) into host memory the CLI owns (*mem, sized from
 * the file). One error line. */
int cli_load_idx(const char *path, fm_idx *idx, cli_mem *mem);
/* 1 when the file at path starts with the n (<= 16) bytes of magic. */
int cli_file_has_magic(const char *path, const char *magic, size_t n);
/* Pixels to the model's range: dst[k] = px[k] / 127.5 - 1 (docs/spec/flow.md, "Data"). */
void cli_pixels(float *dst, const uint8_t *px, size_t n);
/* perm = a permutation of [0, n) for one epoch (fmrt train, train-classifier):
 * Fisher-Yates whose draw i is Philox(seed), element i, stream CLI_SHUFFLE_STREAM +
 * epoch; a checkpoint's epoch and seed give its data order back (bit-identical resume). */
#define CLI_SHUFFLE_STREAM 0x40000000u
void cli_shuffle(uint32_t *perm, int64_t n, uint64_t seed, uint64_t epoch);
/* "H:MM:SS" of s seconds (0:00:00 for a negative or absurd value). */
void cli_hms(double s, char *buf, size_t len);

/* A U-Net for sampling batches of up to N images: backend `backend` (NULL: auto) with
 * the plan's arena plus `extra` bytes, the model from w (checked by cli_check_weights
 * before), *wmem freed once the model holds its tensors. Prints the error; every
 * stage is closed by cli_close_sampler whatever was reached. */
typedef struct cli_sampler {
    fm_backend be;
    int be_open;
    cli_mem bemem;
    fm_unet *m; /* calloc'd */
} cli_sampler;
int cli_open_sampler(const char *path, cli_mem *wmem, const fm_weights *w, const char *backend,
                     int N, int raw, size_t extra, cli_sampler *s);
void cli_close_sampler(cli_sampler *s);

/* An IDX image/label pair into host memory the CLI owns (*mem, sized from the files:
 * a gzip file by its trailer); labels must be < num_classes (0: any). One error line. */
int cli_load_mnist(const char *images, const char *labels, int num_classes, fm_dataset *ds,
                   cli_mem *mem);

#endif
