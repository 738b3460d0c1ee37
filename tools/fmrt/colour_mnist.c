/* fmrt data colour-mnist MNIST_DIR OUT: MNIST digits drawn in one of 8 named colours
 * on black, a colour data set everyone can make (docs/data-pack.md, "Colour MNIST").
 *
 * Image i of a split: colour k = floor(8 u), u = Philox(seed) uniform, element i,
 * stream CLI_COLOUR_STREAM + split (0 train, 1 test); its pixels
 *   out[c, y, x] = round(digit[y, x] * rgb[k][c] / 255),
 * label = 10 k + digit (80 classes, named "red 0" .. "white 9") and caption
 * "a <colour> <digit>". OUT is a folder: train.fmd and test.fmd (packs: --data OUT
 * reads them as its splits), train-captions.txt and test-captions.txt (line i is
 * image i's caption). --hold-out "red 7,green 2" leaves the training split without
 * the images of those (colour, digit) pairs (the colours are drawn as without it, so
 * the images kept are the same) and lists the pairs in OUT/held-out.txt; the test
 * split keeps every image. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_colour.h"
#include "cli_data.h"
#include "cli_pack.h"
#include "philox.h"

#define CMD "data colour-mnist"
#define CLI_COLOUR_STREAM 0x60000000u
#define NCOLOURS CLI_NCOLOURS
#define HELD_OUT_FILE "held-out.txt"

const cli_colour cli_colours[NCOLOURS] = {
    {"red", {255, 40, 40}},     {"green", {40, 220, 40}},  {"blue", {70, 110, 255}},
    {"yellow", {255, 230, 40}}, {"magenta", {240, 50, 240}}, {"cyan", {40, 230, 240}},
    {"orange", {255, 140, 20}}, {"white", {255, 255, 255}},
};

int cli_colour_find(const char *s, size_t n)
{
    for (int k = 0; k < NCOLOURS; k++) {
        const char *c = cli_colours[k].name;
        size_t i = 0;
        while (i < n && c[i] && tolower((unsigned char)s[i]) == c[i])
            i++;
        if (i == n && !c[i])
            return k;
    }
    return -1;
}

const char *cli_colour_list(char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = 0;
    for (int k = 0; k < NCOLOURS && at < len; k++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", k ? ", " : "", cli_colours[k].name);
    return buf;
}

/* s[0..n) without the white space at its ends: *a, *n. */
static void trim(const char **a, size_t *n)
{
    while (*n && isspace((unsigned char)**a))
        ++*a, --*n;
    while (*n && isspace((unsigned char)(*a)[*n - 1]))
        --*n;
}

int cli_colour_pairs(const char *flag, const char *list, uint8_t held[CLI_NPAIRS])
{
    char names[128], raw[64], esc[256];
    for (const char *at = list;;) {
        const char *comma = strchr(at, ',');
        const char *p = at, *sp;
        size_t n = comma ? (size_t)(comma - at) : strlen(at), w;
        trim(&p, &n);
        snprintf(raw, sizeof raw, "%.*s", (int)(n < 60 ? n : 60), p);
        cli_escape(raw, esc, sizeof esc);
        if (n == 0)
            return cli_error("%s: an empty pair in the list (give pairs as \"red 7,green 2\")",
                             flag);
        for (sp = p; sp < p + n && !isspace((unsigned char)*sp); sp++)
            ;
        w = (size_t)(sp - p);
        const char *d = sp;
        size_t dn = n - w;
        trim(&d, &dn);
        const int k = cli_colour_find(p, w);
        if (k < 0)
            return cli_error("%s: unknown colour in '%s': the colours are %s", flag, esc,
                             cli_colour_list(names, sizeof names));
        if (dn != 1 || d[0] < '0' || d[0] > '9')
            return cli_error("%s: '%s' is not a colour and a digit 0..9 (as \"red 7\")", flag,
                             esc);
        held[10 * k + (d[0] - '0')] = 1;
        if (!comma)
            return 0;
        at = comma + 1;
    }
}

const char *cli_colour_pairs_text(const uint8_t held[CLI_NPAIRS], const char *sep, char *buf,
                                  size_t len)
{
    size_t at = 0;
    buf[0] = 0;
    for (int p = 0; p < CLI_NPAIRS && at < len; p++)
        if (held[p])
            at += (size_t)snprintf(buf + at, len - at, "%s%s %d", at ? sep : "",
                                   cli_colours[p / 10].name, p % 10);
    return buf;
}

static void usage(void)
{
    printf("usage: fmrt data colour-mnist MNIST_DIR OUT [--seed S] [--hold-out PAIRS] "
           "[--force]\n\n"
           "Draws MNIST_DIR's digits (IDX files: train-*, and t10k-* when present) in one\n"
           "of 8 colours on black, each chosen at random from --seed (default 0):\n"
           "%s %s %s %s %s %s %s %s.\n"
           "Writes the folder OUT: train.fmd and test.fmd (28x28 RGB packs; fmrt train\n"
           "--data OUT reads them) with 80 classes, label 10 * colour + digit, named\n"
           "\"red 0\" .. \"white 9\", and train-captions.txt / test-captions.txt: line i\n"
           "is image i's caption (\"a red 7\").\n\n"
           "  --seed S            the colours' seed (default 0)\n"
           "  --hold-out PAIRS    (colour, digit) pairs left out of the training split, as\n"
           "                      \"red 7,green 2\" (repeatable): for compositional\n"
           "                      generalisation; listed in OUT/" HELD_OUT_FILE ", one \"red 7\"\n"
           "                      a line; the test split keeps every image (default: none)\n"
           "  --force             replace OUT's files\n",
           cli_colours[0].name, cli_colours[1].name, cli_colours[2].name, cli_colours[3].name,
           cli_colours[4].name, cli_colours[5].name, cli_colours[6].name, cli_colours[7].name);
}

/* The 80 class names, "red 0" .. "white 9", '\n'-separated. */
static void class_names(char *names, size_t len)
{
    size_t n = 0;
    for (int k = 0; k < NCOLOURS; k++)
        for (int d = 0; d < 10; d++)
            n += (size_t)snprintf(names + n, len - n, "%s%s %d", n ? "\n" : "", cli_colours[k].name,
                                  d);
}

/* Digits src (n x 28x28 grey) into dst (n x 3x28x28) and labels, 10 k + digit. */
static void colourise(const fm_dataset *src, uint64_t seed, uint32_t split, uint8_t *dst,
                      uint8_t *lab)
{
    const size_t plane = (size_t)src->h * src->w;
    for (int i = 0; i < src->n; i++) {
        int k = (int)(fm_philox_uniform(seed, (uint64_t)i, CLI_COLOUR_STREAM + split) * NCOLOURS);
        k = k < NCOLOURS ? k : NCOLOURS - 1;
        const uint8_t *g = src->images + (size_t)i * plane;
        uint8_t *o = dst + (size_t)i * 3 * plane;
        for (int c = 0; c < 3; c++)
            for (size_t p = 0; p < plane; p++)
                o[c * plane + p] = (uint8_t)((g[p] * cli_colours[k].rgb[c] + 127) / 255);
        lab[i] = (uint8_t)(10 * k + src->labels[i]);
    }
}

/* dir/name into buf; 1 (one error line) when it does not fit. */
static int join(char *buf, size_t len, const char *dir, const char *name)
{
    const int k = snprintf(buf, len, "%s/%s", dir, name);
    return k < 0 || (size_t)k >= len ? cli_error("%s/%s: path too long", dir, name) : 0;
}

/* Open path's temporary name for writing (*tmp, len bytes). */
static FILE *open_tmp(const char *path, char *tmp, size_t len)
{
    const int k = snprintf(tmp, len, "%s.tmp", path);
    if (k < 0 || (size_t)k >= len) {
        cli_error("%s: path too long", path);
        return NULL;
    }
    FILE *f = fopen(tmp, "w");
    if (!f)
        cli_error("cannot write %s: %s", tmp, strerror(errno));
    return f;
}

/* Close f (written to tmp) and rename it to path, so that path is whole or absent. */
static int close_rename(FILE *f, const char *tmp, const char *path)
{
    if (fflush(f) != 0 || ferror(f) | (fclose(f) != 0)) {
        remove(tmp);
        return cli_error("writing %s failed", tmp);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return cli_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
    }
    return 0;
}

/* Line i: "a <colour> <digit>" of label i; written to a temporary name, then renamed. */
static int write_captions(const char *path, const uint8_t *lab, int n)
{
    char tmp[4200];
    FILE *f = open_tmp(path, tmp, sizeof tmp);
    if (!f)
        return 1;
    for (int i = 0; i < n; i++)
        fprintf(f, "a %s %d\n", cli_colours[lab[i] / 10].name, lab[i] % 10);
    return close_rename(f, tmp, path);
}

/* The images of the training split whose pair is not held out moved to the front of
 * px and lab, in their order: how many are kept. */
static size_t drop_held(uint8_t *px, uint8_t *lab, size_t n, const uint8_t *held)
{
    const size_t frame = 3 * 28 * 28;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (held[lab[i]])
            continue;
        if (kept != i) {
            memmove(px + kept * frame, px + i * frame, frame);
            lab[kept] = lab[i];
        }
        kept++;
    }
    return kept;
}

/* One split: the digits coloured into a pack and its captions (held: the pairs left
 * out, or NULL for none). */
static int make_split(const char *mnist, const char *out, const char *split, uint32_t sid,
                      uint64_t seed, const char *names, const uint8_t *held)
{
    cli_data src;
    const cli_data_want want = {0};
    char path[4096], name[64];
    if (cli_data_open(mnist, NULL, NULL, split, &want, &src))
        return 1;
    if (src.ds.c != 1 || src.ds.h != 28 || src.ds.w != 28 || src.num_classes > 10) {
        cli_data_close(&src);
        return cli_error("%s: %dx%dx%d images in %d classes are not MNIST digits (28x28 grey, "
                         "labels 0..9)",
                         mnist, src.ds.h, src.ds.w, src.ds.c, src.num_classes);
    }
    size_t n = (size_t)src.ds.n, all = n;
    uint8_t *px = malloc(n * 3 * 28 * 28), *lab = malloc(n);
    int rc = px && lab ? 0 : cli_error("cannot allocate %zu coloured digits", n);
    static cli_data col; /* the coloured set in memory, as a pack's writer reads any set */
    const cli_rows_source rows = CLI_ROWS_SOURCE;
    uint32_t crc = 0;
    uint64_t bytes = 0;
    if (rc == 0) {
        colourise(&src.ds, seed, sid, px, lab);
        if (held && (n = drop_held(px, lab, all, held)) == 0)
            rc = cli_error("%s: every one of its %zu %s images is of a held-out pair: nothing "
                           "left to write",
                           mnist, all, split);
    }
    if (rc == 0) {
        memset(&col, 0, sizeof col);
        col.ds = (fm_dataset){.n = (int)n, .c = 3, .h = 28, .w = 28, .images = px, .labels = lab};
        col.num_classes = NCOLOURS * 10;
        col.kind = "colour MNIST";
        snprintf(col.names, sizeof col.names, "%s", names);
        snprintf(name, sizeof name, "%s.fmd", split);
        rc = join(path, sizeof path, out, name) || cli_pack_write(path, &col, &rows, &crc, &bytes);
    }
    if (rc == 0) {
        snprintf(name, sizeof name, "%s-captions.txt", split);
        rc = join(path, sizeof path, out, name) || write_captions(path, lab, (int)n);
    }
    if (rc == 0)
        printf("%s/%s.fmd: %zu coloured digits of 3x28x28, 80 classes, %llu bytes, CRC %08x; "
               "captions in %s\n",
               out, split, n, (unsigned long long)bytes, (unsigned)crc, path);
    if (rc == 0 && held)
        printf("held out: %zu of the %zu %s images (their pairs are in %s/" HELD_OUT_FILE ")\n",
               all - n, all, split, out);
    free(px);
    free(lab);
    cli_data_close(&src);
    return rc;
}

/* OUT/held-out.txt: one pair a line ("red 7"), in label order; with no pair held out
 * an earlier run's file is removed (it would describe another training split). */
static int write_held(const char *out, const uint8_t *held)
{
    char path[4096], tmp[4200], text[CLI_NPAIRS * 12];
    if (join(path, sizeof path, out, HELD_OUT_FILE))
        return 1;
    cli_colour_pairs_text(held, "\n", text, sizeof text);
    if (!text[0])
        return remove(path) == 0 || errno == ENOENT
                   ? 0
                   : cli_error("cannot remove %s: %s", path, strerror(errno));
    FILE *f = open_tmp(path, tmp, sizeof tmp);
    if (!f)
        return 1;
    fprintf(f, "%s\n", text);
    return close_rename(f, tmp, path);
}

/* OUT must be a new or empty folder, or --force. */
static int out_folder(const char *out, int force)
{
    struct stat st;
    char p[4096];
    if (stat(out, &st) != 0)
        return mkdir(out, 0777) == 0 ? 0 : cli_error("cannot create %s: %s", out, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_error("%s exists and is not a folder", out);
    if (join(p, sizeof p, out, "train.fmd"))
        return 1;
    if (!force && stat(p, &st) == 0)
        return cli_error("%s exists: give --force to replace it", p);
    return 0;
}

int cli_colour_mnist(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    long long seed = 0;
    int npos = 0, force = 0, nheld = 0;
    uint8_t held[CLI_NPAIRS] = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(), 0;
        if (strcmp(argv[i], "--force") == 0)
            force = 1;
        else if (strcmp(argv[i], "--seed") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(CMD, "--seed needs a value");
            if (cli_int("--seed", argv[++i], 0, 1ll << 53, &seed))
                return 2;
        } else if (strcmp(argv[i], "--hold-out") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(CMD, "--hold-out needs a value (as \"red 7,green 2\")");
            if (cli_colour_pairs("--hold-out", argv[++i], held))
                return 2;
        } else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        else if (npos < 2)
            pos[npos++] = argv[i];
        else
            return cli_usage_error(CMD, "one MNIST_DIR and one OUT, not '%s' too", argv[i]);
    }
    if (npos < 2)
        return cli_usage_error(CMD, "give MNIST_DIR and OUT");
    char names[1024];
    class_names(names, sizeof names);
    for (int p = 0; p < CLI_NPAIRS; p++)
        nheld += held[p];
    if (out_folder(pos[1], force || cli_force) ||
        make_split(pos[0], pos[1], "train", 0, (uint64_t)seed, names, nheld ? held : NULL) ||
        write_held(pos[1], held))
        return 1;
    char im[1024], lb[1024], err[512];
    if (fm_mnist_find(pos[0], "t10k", im, lb, sizeof im, err, sizeof err) != FM_OK) {
        printf("%s has no t10k files: no test split written\n", pos[0]);
        return 0;
    }
    return make_split(pos[0], pos[1], "test", 1, (uint64_t)seed, names, NULL);
}
