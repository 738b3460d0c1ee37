/* The table-driven CRC-32 of builds without zlib (model/crc32.c, FMRT_NO_ZLIB)
 * equals zlib's crc32, which the host build uses: both write and check the same
 * weights files. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <zlib.h>

#include "crc32.h"

Test(crc32, check_value)
{
    /* The CRC-32/ISO-HDLC check value of "123456789". */
    cr_expect_eq(fm_crc32(0, "123456789", 9), 0xCBF43926u);
    cr_expect_eq(fm_crc32(0, "", 0), 0u);
}

Test(crc32, equals_zlib_in_pieces)
{
    static uint8_t buf[1 << 16];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1664525u + 1013904223u;
        buf[i] = (uint8_t)(x >> 24);
    }
    /* Whole buffers of many lengths, and running CRCs fed in uneven pieces. */
    for (size_t n = 0; n < sizeof buf; n = n * 3 + 1)
        cr_expect_eq(fm_crc32(0, buf, n), (uint32_t)crc32(0L, buf, (uInt)n), "length %zu", n);
    uint32_t a = 0;
    uLong b = crc32(0L, Z_NULL, 0);
    for (size_t off = 0, k = 1; off < sizeof buf; off += k, k = k * 2 + 1) {
        size_t n = off + k > sizeof buf ? sizeof buf - off : k;
        a = fm_crc32(a, buf + off, n);
        b = crc32(b, buf + off, (uInt)n);
        cr_expect_eq(a, (uint32_t)b, "after %zu bytes", off + n);
    }
}
