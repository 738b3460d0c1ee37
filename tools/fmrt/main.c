/* fmrt: the command-line tool. Each command is a function cmd_<name>; this file
 * only parses the command name and dispatches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_backend.h"
#include "commands.h"
#include "fmrt.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

/* A quick end-to-end check of this build: Philox known answer, a tiny op on the
 * reference backend, and an attempt to open every compiled backend. */
/* Open each backend with a small arena and print what it is, or why it is not. */
static void probe_backends(const char *const *names)
{
    for (const char *const *n = names; *n; n++) {
        static _Alignas(64) unsigned char dev_host[FM_DEVICE_HOST_BYTES];
        fm_backend b;
        fm_backend_config bc = {.name = *n, .mem = dev_host, .mem_bytes = sizeof dev_host,
                                .arena_bytes = 1 << 20, .device_index = -1};
        fm_status s = fm_backend_open(&b, &bc);
        printf("backend %-20s %s\n", *n, s == FM_OK ? fm_backend_describe(&b) : b.err);
        if (s == FM_OK)
            fm_backend_close(&b);
    }
}

static int cmd_selftest(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        printf("usage: fmrt selftest\n\nChecks the RNG, a reference op and every compiled backend.\n");
        return strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    int bad = 0;
    fm_philox4 c = {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    fm_philox4 r = fm_philox4x32_10(c, 0xa4093822u, 0x299f31d0u);
    int rng_ok = r.v[0] == 0xd16cfe09u && r.v[1] == 0x94fdccebu && r.v[2] == 0x5001e420u &&
                 r.v[3] == 0x24126ea1u;
    printf("%-28s %s\n", "philox4x32-10 known answer", rng_ok ? "ok" : "FAILED");
    bad += !rng_ok;

    static _Alignas(64) unsigned char mem[1 << 16];
    fm_backend be;
    fm_backend_config cfg = {.name = "ref", .mem = mem, .mem_bytes = sizeof mem};
    if (fm_backend_open(&be, &cfg) != FM_OK) {
        return cli_error("%s", be.err);
    }
    /* 3x3 all-ones kernel over a 3x3 all-ones image, pad 1: centre 9, corner 4. */
    fm_tensor x = fm_tensor_4d(FM_F32, 1, 1, 3, 3), w = fm_tensor_4d(FM_F32, 1, 1, 3, 3);
    fm_tensor y = fm_tensor_4d(FM_F32, 1, 1, 3, 3);
    float out[9] = {0};
    fm_status s = fm_tensor_alloc(&be, &x);
    if (s == FM_OK) s = fm_tensor_alloc(&be, &w);
    if (s == FM_OK) s = fm_tensor_alloc(&be, &y);
    if (s == FM_OK) s = fm_fill(&be, &x, 1.0f);
    if (s == FM_OK) s = fm_fill(&be, &w, 1.0f);
    if (s == FM_OK) {
        fm_call call = {.op = FM_OP_CONV2D_FWD, .t = {y, x, w}, .i = {1, 1}};
        s = fm_run(&be, &call);
    }
    if (s == FM_OK) s = fm_download(&be, out, &y);
    int conv_ok = s == FM_OK && out[4] == 9.0f && out[0] == 4.0f;
    printf("%-28s %s\n", "ref conv2d 3x3", conv_ok ? "ok" : "FAILED");
    if (s != FM_OK)
        cli_error("%s", be.err);
    bad += !conv_ok;
    fm_backend_close(&be);

    probe_backends(fm_backend_compiled());
    probe_backends(fm_backend_test_harnesses());
    printf("selftest %s\n", bad ? "FAILED" : "passed");
    return bad ? 1 : 0;
}

static int cmd_backends(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (const char *const *n = fm_backend_compiled(); *n; n++)
        printf("%s\n", *n);
    for (const char *const *n = fm_backend_test_harnesses(); *n; n++)
        printf("%s (test harness, by name only)\n", *n);
    return 0;
}

static const command commands[] = {
    {"selftest", cmd_selftest, "check the RNG, a reference op and every compiled backend"},
    {"backends", cmd_backends, "list the backends compiled into this build"},
    {"golden", cmd_golden, "run a golden case folder and print each tensor's error"},
    {"train", cmd_train, "train a model on MNIST-format IDX data"},
    {"train-vae", cmd_train_vae, "train an autoencoder for latent flow matching"},
    {"train-classifier", cmd_train_classifier, "train the MNIST classifier (sample quality)"},
    {"sample", cmd_sample, "draw digits from a weights file into a PNG grid"},
    {"eval", cmd_eval, "sample quality: FID, confidence, coverage, label accuracy"},
    {"encode", cmd_encode, "a data set's scaled latents (an autoencoder's) as a .npy file"},
    {"decode", cmd_decode, "latents of a .npy file into a PNG grid through an autoencoder"},
    {"export", cmd_export, "keep only the sampling weights of a weights or checkpoint file"},
    {"convert", cmd_convert, "convert between safetensors (PyTorch) and fmrt weights files"},
    {"plot", cmd_plot, "draw loss curves from training CSV logs as SVG"},
    {"info", cmd_info, "describe a weights or checkpoint file"},
    {"diff", cmd_diff, "how far two weights or checkpoint files are apart (rel L2)"},
    {"plan", cmd_plan, "print the exact arena bytes for training and sampling"},
    {"conformance", cmd_conformance, "compare a backend with the reference, op by op and whole-model"},
    {"bench", cmd_bench, "time SGEMM, training img/s and sampling per backend"},
    {"tokenize", cmd_tokenize, "print the token ids of prompts (byte level or CLIP's BPE)"},
    {"data", cmd_data, "data sets as files: pack any set into one file to stream from"},
};
#define NCMD (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: fmrt <command> [options]   (fmrt <command> --help for its options)\n"
               "       train, sample, bench, conformance, golden also take --threads N\n"
               "       (the cpu backend's threads; 0, the default: the cores available);\n"
               "       train, train-classifier, sample, eval, export, convert, plot, data take\n"
               "       --force (replace an existing output file; without it, one that this\n"
               "       run did not write stops the command before any work);\n"
               "       sample, eval, bench, conformance take --precision f32|bf16 (cpu: the\n"
               "       3x3 convolutions' GEMMs on bfloat16 operands, float32 sums)\n\n");
    for (size_t i = 0; i < NCMD; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

/* Options every backend-opening command takes, applied here and taken out of argv, so
 * that each command's own parser stays as it is: --threads N (the cpu backend's worker
 * threads, 0 = the cores available) and --precision f32|bf16 (bf16 opens the cpu
 * backend with FM_BACKEND_BF16; cli_open refuses it for the others). Each applier
 * returns 0, or 2 for a bad value (after its message). */
static int apply_threads(const char *cmd, const char *v)
{
    long long n;
    if (cli_int("--threads", v, 0, 64, &n))
        return 2;
    cli_threads = (int)n;
    /* More threads than cores is allowed (a shared machine may say fewer than it has)
     * but each extra thread waits at every barrier of the pool: said once. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 0 && n > cores)
        fprintf(stderr, "fmrt %s: warning: --threads %lld is more than the %ld cores here; the "
                        "extra threads wait at every op and make it slower\n", cmd, n, cores);
    return 0;
}

static int apply_precision(const char *cmd, const char *v)
{
    if (strcmp(v, "bf16") == 0)
        cli_backend_flags |= FM_BACKEND_BF16;
    else if (strcmp(v, "f32") == 0)
        cli_backend_flags &= ~FM_BACKEND_BF16;
    else
        return cli_usage_error(cmd, "--precision '%s': f32 or bf16", v);
    return 0;
}

static int apply_force(const char *cmd, const char *v)
{
    (void)cmd, (void)v;
    cli_force = 1;
    return 0;
}

typedef struct global_opt {
    const char *flag, *need; /* need: the message for a missing value; NULL: takes none */
    int (*apply)(const char *cmd, const char *v);
    const char *cmds[12]; /* the commands that take it, NULL-terminated */
} global_opt;

static const global_opt global_opts[] = {
    {"--threads", "--threads needs a value", apply_threads,
     {"train", "train-vae", "train-classifier", "sample", "eval", "bench", "conformance", "golden",
      "encode", "decode", NULL}},
    {"--precision", "--precision needs a value (f32 or bf16)", apply_precision,
     {"sample", "eval", "bench", "conformance", "encode", "decode", NULL}},
    {"--force", NULL, apply_force,
     {"train", "train-vae", "train-classifier", "sample", "eval", "export", "convert", "plot",
      "data", "encode", "decode", NULL}},
};

static int take_global(int *argc, char **argv, const global_opt *o)
{
    int known = 0;
    for (const char *const *c = o->cmds; *c; c++)
        known |= strcmp(argv[1], *c) == 0;
    for (int i = 2; known && i < *argc; i++) {
        if (strcmp(argv[i], o->flag) != 0)
            continue;
        const int take = o->need ? 2 : 1; /* the flag, and its value */
        if (i + take > *argc)
            return cli_usage_error(argv[1], "%s", o->need);
        int rc = o->apply(argv[1], o->need ? argv[i + 1] : NULL);
        if (rc)
            return rc;
        for (int k = i; k + take <= *argc; k++)
            argv[k] = argv[k + take];
        *argc -= take;
        i--;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("fmrt %s\n", FMRT_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof global_opts / sizeof global_opts[0]; i++)
        if (take_global(&argc, argv, &global_opts[i]))
            return 2;
    for (size_t i = 0; i < NCMD; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* From here every line of the command says which one it is (cli_error). */
            snprintf(cli_prefix, sizeof cli_prefix, "fmrt %s: ", commands[i].name);
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "fmrt: unknown command '%s' (try fmrt --help)\n", argv[1]);
    return 2;
}
