#include "crc32.h"

/* One 256-entry table, computed at compile time by the macros below so that it
 * lives in flash (const) on a microcontroller instead of 1 KiB of RAM. */
#define FM_CRC_STEP(c) (((c) & 1u) ? 0xEDB88320u ^ ((c) >> 1) : (c) >> 1)
#define FM_CRC_ENTRY(n)                                                                            \
    FM_CRC_STEP(FM_CRC_STEP(FM_CRC_STEP(FM_CRC_STEP(                                               \
        FM_CRC_STEP(FM_CRC_STEP(FM_CRC_STEP(FM_CRC_STEP((uint32_t)(n)))))))))
#define FM_CRC_4(n)                                                                                \
    FM_CRC_ENTRY(n), FM_CRC_ENTRY((n) + 1), FM_CRC_ENTRY((n) + 2), FM_CRC_ENTRY((n) + 3)
#define FM_CRC_16(n) FM_CRC_4(n), FM_CRC_4((n) + 4), FM_CRC_4((n) + 8), FM_CRC_4((n) + 12)
#define FM_CRC_64(n) FM_CRC_16(n), FM_CRC_16((n) + 16), FM_CRC_16((n) + 32), FM_CRC_16((n) + 48)

static const uint32_t table[256] = {FM_CRC_64(0), FM_CRC_64(64), FM_CRC_64(128), FM_CRC_64(192)};

uint32_t fm_crc32(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    /* zlib's convention: the running value is stored inverted. */
    crc = ~crc;
    while (n--)
        crc = table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
    return ~crc;
}
