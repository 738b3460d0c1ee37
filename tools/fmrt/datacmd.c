/* fmrt data SUBCOMMAND: data sets as files (docs/data-pack.md).
 *
 *   fmrt data pack SRC OUT   any data set cli_data_open reads (IDX, CIFAR-10, a folder
 *                            of images, a pack) as one pack file, to stream from
 *   fmrt data info PACK      check every image of a pack and describe it
 *
 * The subcommands are a table, one line each; one that lives in another file
 * declares its function in commands.h beside cmd_data. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_data.h"
#include "cli_pack.h"
#include "commands.h"

typedef struct pack_opts {
    const char *src, *out, *split;
    long long image, channels; /* 0: the data's own */
} pack_opts;

/* One flag with a value at argv[*i]; 0 when it was one of pack's, -1 when not, 2 for
 * a usage error (printed). */
static int pack_option(int argc, char **argv, int *i, pack_opts *o)
{
    const char *a = argv[*i];
    if (strcmp(a, "--split") != 0 && strcmp(a, "--image") != 0 && strcmp(a, "--config") != 0 &&
        strcmp(a, "--channels") != 0)
        return -1;
    if (*i + 1 >= argc)
        return cli_usage_error("data pack", "%s needs a value", a);
    const char *v = argv[++*i];
    if (strcmp(a, "--split") == 0) {
        if (strcmp(v, "train") != 0 && strcmp(v, "test") != 0)
            return cli_usage_error("data pack", "--split '%s': train or test", v);
        o->split = v;
        return 0;
    }
    if (strcmp(a, "--config") == 0) { /* the model's flag, for its one key that matters here */
        if (strncmp(v, "image=", 6) != 0)
            return cli_usage_error("data pack", "--config '%s': a pack takes only image=N", v);
        return cli_int("--config image", v + 6, 1, CLI_PACK_MAX_SIDE, &o->image) ? 2 : 0;
    }
    if (strcmp(a, "--image") == 0)
        return cli_int("--image", v, 1, CLI_PACK_MAX_SIDE, &o->image) ? 2 : 0;
    if (strcmp(v, "1") != 0 && strcmp(v, "3") != 0)
        return cli_usage_error("data pack", "--channels '%s': 1 (grey) or 3 (RGB)", v);
    o->channels = v[0] - '0';
    return 0;
}

/* parse_<cmd>_args's contract (cli.h): no side effects but one message. */
static int parse_pack_args(int argc, char **argv, pack_opts *o)
{
    memset(o, 0, sizeof *o);
    o->split = "train";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        const int r = pack_option(argc, argv, &i, o);
        if (r >= 0) {
            if (r)
                return r;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("data pack", "unknown option '%s'", a);
        } else if (!o->src) {
            o->src = a;
        } else if (!o->out) {
            o->out = a;
        } else {
            return cli_usage_error("data pack", "unexpected argument '%s'", a);
        }
    }
    if (!o->src || !o->out)
        return cli_usage_error("data pack", "needs SRC and OUT");
    return 0;
}

static void pack_usage(void)
{
    printf("usage: fmrt data pack SRC OUT.fmd [--split train|test] [--image N | --config image=N]\n"
           "                      [--channels 1|3] [--force]\n\n"
           "Writes a data set as one pack file (docs/data-pack.md) that fmrt train streams from\n"
           "with --data OUT.fmd, memory bounded by a few batches whatever its size. SRC is what\n"
           "--data takes: a folder of MNIST-format IDX files, of CIFAR-10 binary batches or of\n"
           "PNG/JPEG images (sub-folders as classes), or another pack. --split picks SRC's\n"
           "training (default) or test split; --image N centre-crops and resizes every image to\n"
           "N x N (--config image=N, the model's flag, says the same); --channels converts to\n"
           "grey (1) or RGB (3). Labels, the class count and class names are kept. OUT is\n"
           "written under OUT.tmp and renamed when complete; an existing OUT is replaced only\n"
           "with --force. Prints one line: images, shape, classes, bytes and the pack's CRC.\n");
}

/* "256 images 1x28x28, 10 classes, 201216 bytes, crc 0x1b2c3d4e" */
static void summary(const cli_data *d, uint64_t bytes, uint32_t crc)
{
    printf("%d images %dx%dx%d, %d classes%s, %llu bytes, crc 0x%08x", d->ds.n, d->ds.c, d->ds.h,
           d->ds.w, d->num_classes, d->names[0] ? " (named)" : "", (unsigned long long)bytes, crc);
}

static int data_pack(int argc, char **argv)
{
    pack_opts o;
    const int rc = parse_pack_args(argc, argv, &o);
    if (rc == CLI_HELP) {
        pack_usage();
        return 0;
    }
    if (rc)
        return rc;
    cli_files outs = {0}, ins = {0};
    cli_files_add(&outs, "OUT", o.out);
    cli_files_add_data(&ins, "SRC", o.src);
    if (cli_check_outputs(&outs, &ins))
        return 1;
    cli_data d;
    const cli_data_want want = {.image = (int)o.image, .channels = (int)o.channels};
    if (cli_data_open(o.src, NULL, NULL, o.split, &want, &d))
        return 1;
    const cli_rows_source src = CLI_ROWS_SOURCE;
    uint32_t crc;
    uint64_t bytes;
    const int bad = cli_pack_write(o.out, &d, &src, &crc, &bytes);
    if (!bad) {
        printf("wrote %s: ", o.out);
        summary(&d, bytes, crc);
        printf(" (from %s %s)\n", d.kind, o.src);
    }
    cli_data_close(&d);
    return bad;
}

/* A pack opened directly (not through cli_data_open), so that any other file is
 * named for what it is; every image read against its CRC. */
static int data_info(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: fmrt data info PACK\n\n"
               "Checks a pack (header, labels, every image against its CRC: one pass over the\n"
               "file) and prints what it holds: images, shape, classes, bytes, its CRC, and the\n"
               "class names when it has them.\n");
        return 0;
    }
    if (argc != 2 || (argv[1][0] == '-' && argv[1][1]))
        return cli_usage_error("data info", "needs one PACK");
    cli_data d = {0};
    if (cli_pack_open(argv[1], &d))
        return 1;
    const int bad = cli_pack_verify(d.pack);
    if (!bad) {
        printf("%s: ", argv[1]);
        summary(&d, cli_pack_bytes(d.pack), cli_pack_crc(d.pack));
        printf(", every image's CRC checks\n");
        for (char *c = d.names; *c; c++)
            *c = *c == '\n' ? ',' : *c;
        if (d.names[0])
            printf("classes %s\n", d.names);
    }
    cli_data_close(&d);
    return bad;
}

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} subcommand;

static const subcommand subcommands[] = {
    {"pack", data_pack, "write any data set as one pack file (.fmd) to stream from"},
    {"info", data_info, "check every image of a pack and describe it"},
    {"colour-mnist", cli_colour_mnist, "MNIST digits in 8 colours, with captions (colour_mnist.c)"},
};
#define NSUB (sizeof subcommands / sizeof subcommands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: fmrt data <subcommand> [options]   (fmrt data <subcommand> --help)\n\n");
    for (size_t i = 0; i < NSUB; i++)
        fprintf(f, "  %-12s %s\n", subcommands[i].name, subcommands[i].help);
}

int cmd_data(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < NSUB; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0) {
            snprintf(cli_prefix, sizeof cli_prefix, "fmrt data %s: ", subcommands[i].name);
            return subcommands[i].run(argc - 1, argv + 1);
        }
    return cli_usage_error("data", "unknown subcommand '%s'", argv[1]);
}
