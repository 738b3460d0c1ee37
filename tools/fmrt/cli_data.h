/* MNIST-style data for fmrt train, train-classifier and eval: IDX files into host
 * memory, pixels to the model's range, the epoch's shuffle. */
#ifndef FMRT_CLI_DATA_H
#define FMRT_CLI_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "cli_mem.h"
#include "idx.h"

/* One IDX file (raw or gzip'd, type u8) into host memory the CLI owns (*mem, sized from
 * the file). One error line. */
int cli_load_idx(const char *path, fm_idx *idx, cli_mem *mem);
/* An IDX image/label pair into host memory the CLI owns (*mem, sized from the files:
 * a gzip file by its trailer); labels must be < num_classes (0: any). One error line. */
int cli_load_mnist(const char *images, const char *labels, int num_classes, fm_dataset *ds,
                   cli_mem *mem);
/* CIFAR-10's binary batches (cifar.c): records of a label byte and a 32x32x3 image. */
#define CLI_CIFAR_PIXELS 3072
#define CLI_CIFAR_CLASSES 10
/* 1 when dir holds the split's CIFAR-10 batches (train: data_batch_N.bin; test:
 * test_batch.bin). */
int cli_is_cifar(const char *dir, const char *split);
/* The split's batches into host memory the CLI owns (*mem): ds->c = 3, 32x32, labels
 * 0..9; the class names of batches.meta.txt into names ('\n'-separated; "" without
 * the file). A file that is not whole records, a label above 9 or a bad names file:
 * one error line naming it. */
int cli_load_cifar(const char *dir, const char *split, fm_dataset *ds, cli_mem *mem, char *names,
                   size_t names_len);
/* Pixels to the model's range: dst[k] = px[k] / 127.5 - 1 (docs/spec/flow.md, "Data"). */
void cli_pixels(float *dst, const uint8_t *px, size_t n);
/* perm = a permutation of [0, n) for one epoch (fmrt train, train-classifier):
 * Fisher-Yates whose draw i is Philox(seed), element i, stream CLI_SHUFFLE_STREAM +
 * epoch; a checkpoint's epoch and seed give its data order back (bit-identical resume). */
#define CLI_SHUFFLE_STREAM 0x40000000u
void cli_shuffle(uint32_t *perm, int64_t n, uint64_t seed, uint64_t epoch);

/* ---- Any data set (data.c): what --data holds, at the model's size and channels ---- */

/* What the caller needs the images to be. */
typedef struct cli_data_want {
    int image;       /* side to crop and resize to (cli_img_fit); 0: the data's own, which
                        must then be one square size for every image */
    int channels;    /* 1 or 3 to convert to; 0: the data's own */
    int num_classes; /* every label must be < this; 0: any */
} cli_data_want;

struct cli_pack; /* pack.c: a streamed .fmd file */

/* A data set as every command reads it. In memory (IDX, CIFAR-10, an image folder):
 * ds.images holds every image, already at the wanted size and channels. A pack
 * (.fmd, docs/data-pack.md): ds.images is NULL and rows come from the file through
 * cli_data_rows, with memory bounded by a few batches; ds.labels is in memory. */
typedef struct cli_data {
    fm_dataset ds;             /* n, c, h, w as delivered (the wanted ones) */
    int num_classes;           /* the source's class count: 1 + its largest label, or
                                  what it states (CIFAR-10: 10, a pack's header) */
    char names[FM_TEXT_MAX];   /* class names, '\n'-separated; "" for none */
    const char *kind;          /* "IDX", "CIFAR-10", "image folder", "pack" */
    cli_mem mem;               /* images and labels in memory */
    struct cli_pack *pack;     /* NULL unless a pack */
    int src_c, src_h, src_w;   /* a pack's stored shape (rows are fitted when it differs) */
    uint8_t *fit_buf;          /* one stored row, for fitting a pack's rows */
} cli_data;

/* Open split "train" or "test" of a data set: --data PATH (a folder of IDX files,
 * CIFAR-10 batches or images, or a pack file), or an IDX pair --images/--labels (path
 * NULL). One error line naming what is wrong; *d is then closed. */
int cli_data_open(const char *path, const char *images, const char *labels, const char *split,
                  const cli_data_want *want, cli_data *d);
/* 1 when the data set at path (as cli_data_open takes it) has the split ("train" or
 * "test"), without reading it: a folder's test split is t10k-* IDX files,
 * test_batch.bin, test.fmd or a test/ or val/ image folder; a pack file has only
 * "train". For a choice such as train-classifier's test accuracy, eval's reference. */
int cli_data_has_split(const char *path, const char *split);
/* Rows idx[0..n) into px (n * c*h*w bytes, CHW u8) and their labels into lab (NULL:
 * skipped). A pack reads them (its background reader may already hold them, see
 * cli_data_prefetch); a read or CRC failure is one error line. */
int cli_data_rows(cli_data *d, const uint32_t *idx, int n, uint8_t *px, uint8_t *lab);
/* The rows the next cli_data_rows will ask for, so that a pack's reader fetches them
 * while the caller computes (no effect in memory; idx is copied). */
void cli_data_prefetch(cli_data *d, const uint32_t *idx, int n);
void cli_data_close(cli_data *d);

/* ---- Image maths (imgfit.c) ---- */

/* One image src (sc channels, sh x sw, CHW u8) into dst (dc channels, ds x ds):
 * centre crop to a square of side min(sh, sw), then resize: an area filter when
 * shrinking (each output pixel the mean of the source area it covers, fractional
 * pixels weighted), bilinear when growing (pixel centres aligned, edges clamped);
 * channels: 1 -> 3 copies grey, 3 -> 1 is ITU-R BT.601 luma (0.299 R + 0.587 G +
 * 0.114 B), rounded to nearest. sc and dc are 1 or 3. 1 (one error line) when its
 * float buffers cannot be allocated. */
int cli_img_fit(const uint8_t *src, int sc, int sh, int sw, uint8_t *dst, int dc, int ds);
/* Mirror one CHW image left to right in place (the --flip augmentation). */
void cli_img_flip(uint8_t *px, int c, int h, int w);

/* ---- Sources (each its own file) ---- */

/* A folder of PNG/JPEG images (folder.c): sub-folders as classes (sorted names, as
 * torchvision's ImageFolder; every image below a class folder, at any depth), or no
 * labels (num_classes 0, every label 0) when the images sit in the folder itself.
 * split "train" reads DIR/train when it exists, "test" DIR/test or DIR/val (else
 * the split is absent: one error line). Grey, grey+alpha, RGB, RGBA, 8 or 16 bits
 * (alpha composited on black). Channels: want->channels, else 3 when any image has
 * colour, else 1. Size: want->image (each image fitted by cli_img_fit), else every
 * image must have one square size (else one line naming two files that differ). */
int cli_load_folder(const char *dir, const char *split, const cli_data_want *want,
                    cli_data *d);
/* 1 when path is a file that starts with a pack's magic. */
int cli_is_pack(const char *path);
/* Open a pack for streaming (pack.c): header and CRC checks (docs/data-pack.md),
 * labels and names into memory (its background reader starts at the first prefetch). */
int cli_pack_open(const char *path, cli_data *d);
int cli_pack_rows(struct cli_pack *p, const uint32_t *idx, int n, uint8_t *px);
void cli_pack_prefetch(struct cli_pack *p, const uint32_t *idx, int n);
void cli_pack_close(struct cli_pack *p);

#endif
