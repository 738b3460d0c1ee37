/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, the one zlib's crc32 and
 * the weights format use), table-driven, no dependencies. The host build checks
 * weights with zlib's crc32; builds without zlib (FMRT_NO_ZLIB: microcontrollers)
 * use this one, and tests/test_crc32.c holds the two equal. */
#ifndef FMRT_CRC32_H
#define FMRT_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Running CRC like zlib's crc32(crc, data, n): start from 0, feed pieces in order. */
uint32_t fm_crc32(uint32_t crc, const void *data, size_t n);

#endif
