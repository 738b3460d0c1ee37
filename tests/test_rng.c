/* Known answers for fm_philox4x32_10 (runtime/philox.h), the one generator every
 * backend shares. The vectors are Random123's published kat_vectors for
 * "philox4x32 10" (counter words c0..c3, key words k0 k1, then the four outputs):
 *
 *   0 0 0 0 / 0 0                               -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8
 *   ffffffff x4 / ffffffff ffffffff             -> 408f276d 41c83b0e a20bc7c6 6d5451fd
 *   243f6a88 85a308d3 13198a2e 03707344 /
 *   a4093822 299f31d0 (digits of pi)            -> d16cfe09 94fdcceb 5001e420 24126ea1
 *
 * When Debian's librandom123-dev is installed, a few thousand pseudo-random
 * counters and keys are also compared with Random123's own philox4x32. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "philox.h"

#if defined(__has_include)
#if __has_include(<Random123/philox.h>)
#include <Random123/philox.h>
#define HAVE_RANDOM123 1
#endif
#endif

typedef struct kat {
    uint32_t ctr[4], key[2], out[4];
} kat;

static const kat kats[3] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
     {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
     {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

Test(philox, random123_kat_vectors)
{
    for (int i = 0; i < 3; i++) {
        fm_philox4 c = {{kats[i].ctr[0], kats[i].ctr[1], kats[i].ctr[2], kats[i].ctr[3]}};
        fm_philox4 r = fm_philox4x32_10(c, kats[i].key[0], kats[i].key[1]);
        for (int w = 0; w < 4; w++) {
            cr_expect(r.v[w] == kats[i].out[w], "kat %d word %d: got %08x want %08x", i, w,
                      (unsigned)r.v[w], (unsigned)kats[i].out[w]);
        }
    }
}

/* fm_philox_element's mapping: key = (seed lo, seed hi), counter = (e lo, e hi, s, 0).
 * Checked against the raw function with the words placed by hand. */
Test(philox, element_word_layout)
{
    const uint64_t seed = 0xa4093822299f31d0ull, e = 0x85a308d3243f6a88ull;
    const uint32_t s = 0x13198a2eu;
    fm_philox4 want = fm_philox4x32_10((fm_philox4){{0x243f6a88u, 0x85a308d3u, s, 0}},
                                       0x299f31d0u, 0xa4093822u);
    fm_philox4 got = fm_philox_element(seed, e, s);
    for (int w = 0; w < 4; w++) {
        cr_expect(got.v[w] == want.v[w], "word %d: %08x vs %08x", w, (unsigned)got.v[w],
                  (unsigned)want.v[w]);
    }
    /* and the first KAT is element 0 of stream 0 under seed 0 */
    fm_philox4 z = fm_philox_element(0, 0, 0);
    cr_expect(z.v[0] == 0x6627e8d5u && z.v[1] == 0xe169c58du);
}

#ifdef HAVE_RANDOM123
/* xorshift32 (Marsaglia): a throwaway source of test counters and keys. */
static uint32_t xs32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

Test(philox, matches_random123_library)
{
    uint32_t st = 0x12345678u;
    for (int i = 0; i < 4096; i++) {
        philox4x32_ctr_t c = {{xs32(&st), xs32(&st), xs32(&st), xs32(&st)}};
        philox4x32_key_t k = {{xs32(&st), xs32(&st)}};
        /* small counters too: the common case is e < 2^32, s small, c3 = 0 */
        if (i % 2) {
            c.v[0] = (uint32_t)i;
            c.v[1] = 0;
            c.v[2] &= 0xffu;
            c.v[3] = 0;
        }
        philox4x32_ctr_t want = philox4x32(c, k);
        fm_philox4 got = fm_philox4x32_10((fm_philox4){{c.v[0], c.v[1], c.v[2], c.v[3]}},
                                          k.v[0], k.v[1]);
        for (int w = 0; w < 4; w++) {
            cr_assert(got.v[w] == want.v[w], "case %d word %d: %08x vs Random123 %08x", i, w,
                      (unsigned)got.v[w], (unsigned)want.v[w]);
        }
    }
}
#endif
