/* MNIST-style data for fmrt train, train-classifier and eval: IDX files into host
 * memory, pixels to the model's range, the epoch's shuffle. */
#ifndef FMRT_CLI_DATA_H
#define FMRT_CLI_DATA_H

#include <stddef.h>
#include <stdint.h>

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

#endif
