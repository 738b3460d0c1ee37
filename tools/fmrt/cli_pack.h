/* Packed data sets (pack.c, docs/data-pack.md) beyond what every reader needs
 * (cli_data.h: cli_is_pack, cli_pack_open, cli_pack_rows, cli_pack_prefetch,
 * cli_pack_close): the writer of fmrt data pack, a whole-file check, and what
 * identifies a pack. */
#ifndef FMRT_CLI_PACK_H
#define FMRT_CLI_PACK_H

#include <stdint.h>

#include "cli_data.h"

#define CLI_PACK_MAGIC "FMRTDAT1" /* 8 bytes, no NUL in the file */
#define CLI_PACK_VERSION 1
#define CLI_PACK_MAX_SIDE 4096
#define CLI_PACK_MAX_CLASSES 256 /* labels are u8, as fm_dataset's */

/* How the writer reads rows: cli_data_rows and cli_data_prefetch, passed in (see
 * CLI_ROWS_SOURCE) so that this file, below data.c (which opens packs through it),
 * never calls back up into it. */
typedef struct cli_rows_source {
    int (*rows)(cli_data *d, const uint32_t *idx, int n, uint8_t *px, uint8_t *lab);
    void (*prefetch)(cli_data *d, const uint32_t *idx, int n);
} cli_rows_source;
#define CLI_ROWS_SOURCE {cli_data_rows, cli_data_prefetch}

/* Every row of d (any opened data set, read through src, so a pack streams), its labels, class count and names, as a pack at path: written under
 * "<path>.tmp", fsync'd and renamed over path (path was checked by
 * cli_check_outputs). *crc: the new pack's data CRC, *bytes: its size. One error
 * line naming the file (the temporary file is then removed). */
int cli_pack_write(const char *path, cli_data *d, const cli_rows_source *src, uint32_t *crc,
                   uint64_t *bytes);
/* Every image against its CRC, in one pass of reads a few MiB each: one error
 * line naming the first bad image. */
int cli_pack_verify(struct cli_pack *p);
/* The header's data CRC, which covers the names, the labels and every image's CRC:
 * equal CRCs, equal content. */
uint32_t cli_pack_crc(const struct cli_pack *p);
/* The file's size in bytes. */
uint64_t cli_pack_bytes(const struct cli_pack *p);

#endif
