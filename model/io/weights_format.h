/* Private to model/io: the byte layout of the .fmw format (weights.h gives the
 * whole picture, docs/weights-format.md every field) and the helpers its reader
 * (weights_read.c) and its writer (weights_write.c) share. Not installed.
 * Offsets are in bytes from the start of the fixed header, of a directory entry
 * or of a metadata entry; every integer is little-endian. */
#ifndef FMRT_WEIGHTS_FORMAT_H
#define FMRT_WEIGHTS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h" /* the config block's slots: fm_config_pack, fm_config_unpack */
#include "tensor.h"
#include "weights.h"

#ifdef FMRT_NO_ZLIB
#include "crc32.h"
#else
#include <zlib.h>
#endif

/* Fixed header (versions 1 and 2: 112 bytes; version 3 appends H_CONFIG_HI, 176). */
enum {
    H_MAGIC = 0,          /* char[8] "FMRTWGT1" */
    H_VERSION = 8,        /* u32 */
    H_KIND = 12,          /* u32: 0 weights, 1 checkpoint */
    H_HEADER_BYTES = 16,  /* u32: 112 (176 in version 3), where the directory starts */
    H_DTYPE = 20,         /* u32: fm_dtype of the float tensors */
    H_CONFIG = 24,        /* i32[16]: config slots 0..15 */
    H_NTENSORS = 88,      /* u32 */
    H_NMETA = 92,         /* u32 */
    H_PAYLOAD_OFF = 96,   /* u64, multiple of 64 */
    H_PAYLOAD_BYTES = 104, /* u64 */
    H_CONFIG_HI = 112      /* version 3 only: i32[16], config slots 16..31 */
};
/* Directory entry. */
enum { D_NAME = 0, D_DTYPE = 48, D_NDIM = 52, D_SHAPE = 56, D_OFFSET = 88, D_BYTES = 96 };
/* Metadata entry. */
enum { M_KEY = 0, M_VALUE = 32 };
/* Config slots (FM_CONFIG_SLOTS of them): each architecture's fields (FM_CONFIG_INTS),
 * the architecture's id in slot 13 (version 2), the others reserved (zero);
 * fm_config_pack places them. Slots 0..15 lie at H_CONFIG in every version, slots
 * 16..31 at H_CONFIG_HI in version 3; older versions have none (they read as 0). */
#define H_CONFIG_LO_SLOTS 16

_Static_assert(H_CONFIG + 4 * H_CONFIG_LO_SLOTS == H_NTENSORS &&
                   H_CONFIG_HI == FM_WEIGHTS_HEADER_BYTES &&
                   H_CONFIG_HI + 4 * (FM_CONFIG_SLOTS - H_CONFIG_LO_SLOTS) ==
                       FM_WEIGHTS_HEADER_BYTES_V3,
               "the config block's two halves fill the version 3 header");

/* Byte offset of config slot i (0 <= i < FM_CONFIG_SLOTS) in the fixed header. */
static inline size_t fm_wf_config_at(int i)
{
    return i < H_CONFIG_LO_SLOTS ? (size_t)H_CONFIG + 4 * (size_t)i
                                 : (size_t)H_CONFIG_HI + 4 * (size_t)(i - H_CONFIG_LO_SLOTS);
}

/* The config slots of a fixed header h of this version (h holds
 * fm_weights_header_bytes(version) bytes): the slots the version lacks are 0. */
static inline void fm_wf_config_read(const uint8_t *h, uint32_t version, int32_t v[FM_CONFIG_SLOTS])
{
    for (int i = 0; i < FM_CONFIG_SLOTS; i++) {
        const uint8_t *p = h + fm_wf_config_at(i);
        v[i] = i < H_CONFIG_LO_SLOTS || version >= 3
                   ? (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                               (uint32_t)p[3] << 24)
                   : 0;
    }
}

/* The file's CRC-32: zlib's on the host (the project's choice); builds without zlib
 * (FMRT_NO_ZLIB, microcontrollers) use the table-driven fm_crc32, which gives the
 * same values (tests/test_crc32.c). crc starts at 0. */
#ifdef FMRT_NO_ZLIB
static inline uint32_t fm_wf_crc(uint32_t crc, const void *data, size_t n)
{
    return fm_crc32(crc, data, n);
}
#else
/* zlib's crc32 takes a uInt length; feed big buffers in pieces. */
static inline uint32_t fm_wf_crc(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}
#endif

/* The dtypes a file may store (its floats all share the header's dtype), and a
 * dtype's name for messages, "?" for a value outside fm_dtype. */
static inline int fm_wf_dtype_ok(uint32_t d)
{
    return d == FM_F32 || d == FM_F16 || d == FM_I32 || d == FM_U8;
}
static inline int fm_wf_dtype_float(uint32_t d)
{
    return d == FM_F32 || d == FM_F16;
}
static inline const char *fm_wf_dtype_name(uint32_t d)
{
    return d < FM_DTYPE_COUNT ? fm_dtype_name((fm_dtype)d) : "?";
}

/* prod(shape[0..ndim)) * size into *bytes; 0 on overflow of 64 bits. */
static inline int fm_wf_shape_bytes(const uint64_t *shape, int ndim, uint64_t size, uint64_t *bytes)
{
    uint64_t b = size;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0 || b > UINT64_MAX / shape[d])
            return 0;
        b *= shape[d];
    }
    *bytes = b;
    return 1;
}

#endif
