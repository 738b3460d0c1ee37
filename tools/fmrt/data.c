/* Any data set for fmrt train, train-classifier, eval and data: what --data holds
 * decides the reader (docs/data-pack.md, "Sources and what they become"), and the
 * images come out at the size and channels the caller wants.
 *
 *   --images F --labels F         an MNIST-format IDX pair
 *   --data FILE                   a pack (.fmd), streamed
 *   --data DIR with SPLIT.fmd     a pack per split (train.fmd, test.fmd)
 *   --data DIR with IDX names     MNIST / Fashion-MNIST (train-*, t10k-*)
 *   --data DIR with data_batch_*  CIFAR-10's binary batches
 *   --data DIR, anything else     a folder of PNG/JPEG images */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_data.h"
#include "size.h"

/* Labels against the model's classes. */
static int check_labels(const char *path, const cli_data_want *want, const cli_data *d)
{
    for (int i = 0; want->num_classes > 0 && i < d->ds.n; i++)
        if (d->ds.labels[i] >= want->num_classes)
            return cli_error("%s: label %d at index %d, the model has %d classes", path,
                             d->ds.labels[i], i, want->num_classes);
    return 0;
}

/* Every in-memory image to the wanted size and channels, into a fresh block. */
static int fit_all(const char *path, const cli_data_want *want, cli_data *d)
{
    const int sc = d->ds.c, sh = d->ds.h, sw = d->ds.w;
    const int dc = want->channels ? want->channels : sc;
    const int side = want->image ? want->image : sh;
    if (!want->image && sh != sw)
        return cli_error("%s: the images are %dx%d, not square: give the model's side "
                         "(--config image=N) to centre-crop and resize them",
                         path, sh, sw);
    if (dc == sc && side == sh && side == sw)
        return 0;
    const size_t n = (size_t)d->ds.n, sframe = (size_t)sc * sh * sw,
                 dframe = (size_t)dc * side * side;
    size_t px, need;
    fm_arena a;
    cli_mem mem = {0};
    if (!fm_mul_size(n, dframe, &px) || !fm_add_size(px, n + 256, &need))
        return cli_error("%s: %zu images of %dx%dx%d do not fit this address space", path, n,
                         side, side, dc);
    if (cli_host_arena(&a, need, &mem))
        return 1;
    size_t off_px, off_lab;
    if (fm_arena_alloc(&a, px, &off_px) != FM_OK || fm_arena_alloc(&a, n, &off_lab) != FM_OK) {
        cli_mem_free(&mem);
        return cli_error("%s: the data arena is too small", path);
    }
    uint8_t *dst = fm_arena_ptr(&a, off_px), *lab = fm_arena_ptr(&a, off_lab);
    for (size_t i = 0; i < n; i++)
        if (cli_img_fit(d->ds.images + i * sframe, sc, sh, sw, dst + i * dframe, dc, side)) {
            cli_mem_free(&mem);
            return 1;
        }
    memcpy(lab, d->ds.labels, n);
    cli_mem_free(&d->mem);
    d->mem = mem;
    d->ds.images = dst;
    d->ds.labels = lab;
    d->ds.c = dc;
    d->ds.h = d->ds.w = side;
    return 0;
}

/* The IDX files' name of a split: MNIST calls its test split t10k. */
static const char *idx_split(const char *split)
{
    return strcmp(split, "test") == 0 ? "t10k" : split;
}

/* An IDX pair (the split's standard names in dir, or the two paths). */
static int open_idx(const char *dir, const char *images, const char *labels, const char *split,
                    cli_data *d)
{
    char im[1024], lb[1024], err[512];
    if (dir) {
        if (fm_mnist_find(dir, idx_split(split), im, lb, sizeof im, err, sizeof err) != FM_OK)
            return cli_error("%s", err);
        images = im, labels = lb;
    }
    d->kind = "IDX";
    if (cli_load_mnist(images, labels, 0, &d->ds, &d->mem))
        return 1;
    /* An IDX pair states no class count: 1 + its largest label (10 for MNIST). */
    for (int i = 0; i < d->ds.n; i++)
        d->num_classes = d->ds.labels[i] + 1 > d->num_classes ? d->ds.labels[i] + 1 : d->num_classes;
    return 0;
}

/* What folder dir holds for a split, by its files' names (an image folder is what
 * holds none of these): one rule for cli_data_open and cli_data_has_split. pack gets
 * the split's pack path. */
typedef enum { SPLIT_NONE, SPLIT_PACK, SPLIT_IDX, SPLIT_CIFAR } split_kind;
static split_kind kind_of_split(const char *dir, const char *split, char *pack, size_t len)
{
    char im[1024], lb[1024], err[512];
    struct stat st;
    snprintf(pack, len, "%s/%s.fmd", dir, split);
    if (stat(pack, &st) == 0)
        return SPLIT_PACK;
    if (fm_mnist_find(dir, idx_split(split), im, lb, sizeof im, err, sizeof err) == FM_OK)
        return SPLIT_IDX;
    return cli_is_cifar(dir, split) ? SPLIT_CIFAR : SPLIT_NONE;
}

/* A pack: rows stay in the file; a shape other than the wanted one is fitted row by
 * row as cli_data_rows reads it. */
static int open_pack(const char *path, const cli_data_want *want, cli_data *d)
{
    d->kind = "pack";
    if (cli_pack_open(path, d))
        return 1;
    d->src_c = d->ds.c, d->src_h = d->ds.h, d->src_w = d->ds.w;
    if (!want->image && d->src_h != d->src_w)
        return cli_error("%s: the images are %dx%d, not square: give the model's side "
                         "(--config image=N) to centre-crop and resize them",
                         path, d->src_h, d->src_w);
    d->ds.c = want->channels ? want->channels : d->src_c;
    d->ds.h = d->ds.w = want->image ? want->image : d->src_h;
    if (d->ds.c != d->src_c || d->ds.h != d->src_h || d->ds.w != d->src_w) {
        d->fit_buf = malloc((size_t)d->src_c * d->src_h * d->src_w);
        if (!d->fit_buf)
            return cli_error("cannot allocate a row buffer for %s", path);
    }
    return 0;
}

static int open_source(const char *path, const char *images, const char *labels,
                       const char *split, const cli_data_want *want, cli_data *d)
{
    struct stat st;
    if (!path)
        return open_idx(NULL, images, labels, split, d);
    if (stat(path, &st) != 0)
        return cli_error("--data %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (cli_is_pack(path))
            return open_pack(path, want, d);
        return cli_error("--data %s is a file but not a pack (.fmd, made by fmrt data pack): "
                         "give a folder (IDX files, CIFAR-10 batches or images) or a pack",
                         path);
    }
    char pack[4200];
    const split_kind k = kind_of_split(path, split, pack, sizeof pack);
    if (k == SPLIT_PACK)
        return open_pack(pack, want, d);
    if (k == SPLIT_IDX)
        return open_idx(path, NULL, NULL, split, d);
    if (k == SPLIT_CIFAR) {
        d->kind = "CIFAR-10";
        d->num_classes = CLI_CIFAR_CLASSES;
        return cli_load_cifar(path, split, &d->ds, &d->mem, d->names, sizeof d->names);
    }
    d->kind = "image folder";
    return cli_load_folder(path, split, want, d);
}

int cli_data_open(const char *path, const char *images, const char *labels, const char *split,
                  const cli_data_want *want, cli_data *d)
{
    memset(d, 0, sizeof *d);
    const char *name = path ? path : images;
    int rc = open_source(path, images, labels, split, want, d);
    if (rc == 0)
        rc = check_labels(name, want, d);
    if (rc == 0 && !d->pack)
        rc = fit_all(name, want, d);
    if (rc != 0)
        cli_data_close(d);
    return rc;
}

int cli_data_has_split(const char *path, const char *split)
{
    struct stat st;
    char p[4200];
    const int train = strcmp(split, "train") == 0;
    const char *other = train ? "test" : "train";
    if (!path || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return train; /* a pack file or an IDX pair: one set, read as the training split */
    if (kind_of_split(path, split, p, sizeof p) != SPLIT_NONE)
        return 1;
    if (kind_of_split(path, other, p, sizeof p) != SPLIT_NONE)
        return 0; /* a set of packs, IDX files or batches without this split */
    if (train) /* an image folder's: DIR/train, else DIR itself */
        return 1;
    snprintf(p, sizeof p, "%s/test", path);
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
        return 1;
    snprintf(p, sizeof p, "%s/val", path);
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int cli_data_rows(cli_data *d, const uint32_t *idx, int n, uint8_t *px, uint8_t *lab)
{
    const size_t frame = (size_t)d->ds.c * d->ds.h * d->ds.w;
    for (int i = 0; lab && i < n; i++)
        lab[i] = d->ds.labels[idx[i]];
    if (!d->pack) {
        for (int i = 0; i < n; i++)
            memcpy(px + (size_t)i * frame, d->ds.images + (size_t)idx[i] * frame, frame);
        return 0;
    }
    if (!d->fit_buf)
        return cli_pack_rows(d->pack, idx, n, px);
    for (int i = 0; i < n; i++) { /* a stored shape other than the wanted one */
        if (cli_pack_rows(d->pack, idx + i, 1, d->fit_buf) ||
            cli_img_fit(d->fit_buf, d->src_c, d->src_h, d->src_w, px + (size_t)i * frame,
                        d->ds.c, d->ds.h))
            return 1;
    }
    return 0;
}

void cli_data_prefetch(cli_data *d, const uint32_t *idx, int n)
{
    if (d->pack && !d->fit_buf)
        cli_pack_prefetch(d->pack, idx, n);
}

void cli_data_close(cli_data *d)
{
    if (d->pack)
        cli_pack_close(d->pack);
    free(d->fit_buf);
    cli_mem_free(&d->mem);
    memset(d, 0, sizeof *d);
}
