/* CIFAR-10's binary batches (https://www.cs.toronto.edu/~kriz/cifar.html, "binary
 * version"): each file is records of 1 + 3072 bytes, the label (0..9) then a 32x32
 * colour image as 1024 red, 1024 green, 1024 blue bytes, rows in order: the models'
 * channel-major layout already. data_batch_1.bin .. data_batch_5.bin are the training
 * split (10000 records each in the real set), test_batch.bin the test split, and
 * batches.meta.txt names the classes, one per line. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "cli.h"
#include "cli_data.h"
#include "size.h"

#define REC (1 + CLI_CIFAR_PIXELS)
#define MAX_FILES 5

typedef struct batches {
    char path[MAX_FILES][4096];
    int64_t records[MAX_FILES];
    int nfiles;
    int64_t n;
} batches;

/* The split's files in dir (train: data_batch_1.bin .. _5 as present; test:
 * test_batch.bin), each a whole number of records. 0 when dir holds none (not CIFAR). */
static int find_batches(const char *dir, const char *split, batches *b, int *found)
{
    struct stat st;
    memset(b, 0, sizeof *b);
    *found = 0;
    const int train = strcmp(split, "train") == 0;
    for (int i = 0; i < (train ? MAX_FILES : 1); i++) {
        char *p = b->path[b->nfiles];
        int k = train ? snprintf(p, sizeof b->path[0], "%s/data_batch_%d.bin", dir, i + 1)
                      : snprintf(p, sizeof b->path[0], "%s/test_batch.bin", dir);
        if (k < 0 || (size_t)k >= sizeof b->path[0] || stat(p, &st) != 0)
            continue;
        if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size % REC != 0)
            return cli_error("%s: %lld bytes is not a whole number of %d-byte CIFAR-10 records "
                             "(a label byte and a 32x32x3 image)",
                             p, (long long)st.st_size, REC);
        b->records[b->nfiles] = st.st_size / REC;
        b->n += b->records[b->nfiles++];
    }
    *found = b->nfiles > 0;
    if (b->n > INT32_MAX)
        return cli_error("%s: %lld CIFAR-10 records, more than 2^31 - 1", dir, (long long)b->n);
    return 0;
}

int cli_is_cifar(const char *dir, const char *split)
{
    char p[4200];
    struct stat st;
    /* The first file's name decides; the loader then names whatever is wrong. */
    snprintf(p, sizeof p, "%s/%s", dir,
             strcmp(split, "train") == 0 ? "data_batch_1.bin" : "test_batch.bin");
    return stat(p, &st) == 0;
}

/* One file's records: labels into lab, pixels into px. Labels must be < 10. */
static int read_batch(const char *path, int64_t records, uint8_t *px, uint8_t *lab)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    unsigned char rec[REC];
    int rc = 0;
    for (int64_t r = 0; rc == 0 && r < records; r++) {
        if (fread(rec, 1, REC, f) != REC)
            rc = cli_error("%s: cannot read record %lld: %s", path, (long long)r,
                           ferror(f) ? strerror(errno) : "file shrank");
        else if (rec[0] >= CLI_CIFAR_CLASSES)
            rc = cli_error("%s: record %lld has label %d; CIFAR-10 labels are 0..9", path,
                           (long long)r, rec[0]);
        lab[r] = rec[0];
        memcpy(px + (size_t)r * CLI_CIFAR_PIXELS, rec + 1, CLI_CIFAR_PIXELS);
    }
    fclose(f);
    return rc;
}

/* batches.meta.txt: the ten names, one per line (blank lines ignored), into names
 * ('\n'-separated, as text.classes); "" when the file is absent. */
static int read_names(const char *dir, char *names, size_t len)
{
    char path[4200], line[256];
    names[0] = 0;
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    int k = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        size_t l = strcspn(line, "\r\n");
        if (l == 0)
            continue;
        if (!fm_class_name_ok(line, l) || n + l + 2 > len)
            rc = cli_error("%s: line %d is not a class name (1 to %d printable bytes, no ',')",
                           path, k + 1, FM_CLASS_NAME_MAX - 1);
        else
            n += (size_t)snprintf(names + n, len - n, "%s%.*s", k ? "\n" : "", (int)l, line);
        k++;
    }
    fclose(f);
    if (rc == 0 && k != CLI_CIFAR_CLASSES)
        rc = cli_error("%s: %d names, CIFAR-10 has %d classes", path, k, CLI_CIFAR_CLASSES);
    if (rc)
        names[0] = 0;
    return rc;
}

int cli_load_cifar(const char *dir, const char *split, fm_dataset *ds, cli_mem *mem, char *names,
                   size_t names_len)
{
    batches b;
    int found;
    fm_arena a;
    size_t px_bytes, need, off_px, off_lab;
    if (find_batches(dir, split, &b, &found))
        return 1;
    if (!found)
        return cli_error("%s: no CIFAR-10 %s batches (%s)", dir, split,
                         strcmp(split, "train") == 0 ? "data_batch_1.bin .. data_batch_5.bin"
                                                     : "test_batch.bin");
    if (!fm_mul_size((size_t)b.n, CLI_CIFAR_PIXELS, &px_bytes) ||
        !fm_add_size(px_bytes, (size_t)b.n + 256, &need) || cli_host_arena(&a, need, mem))
        return 1;
    if (fm_arena_alloc(&a, px_bytes, &off_px) != FM_OK ||
        fm_arena_alloc(&a, (size_t)b.n, &off_lab) != FM_OK)
        return cli_error("%s: the data arena is too small", dir);
    uint8_t *px = fm_arena_ptr(&a, off_px), *lab = fm_arena_ptr(&a, off_lab);
    int64_t at = 0;
    for (int i = 0; i < b.nfiles; i++) {
        if (read_batch(b.path[i], b.records[i], px + (size_t)at * CLI_CIFAR_PIXELS, lab + at))
            return 1;
        at += b.records[i];
    }
    *ds = (fm_dataset){.n = (int)b.n, .c = 3, .h = 32, .w = 32, .images = px, .labels = lab};
    return read_names(dir, names, names_len);
}
