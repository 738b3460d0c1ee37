/* Model output in [-1, 1] to pixel bytes:
 *
 *   out = round(clamp((in + 1) * 127.5, 0, 255))        out u8, in f32, same shape
 *
 * Rounding: halves go away from zero (C's roundf; after the clamp every value is
 * non-negative, so this is "halves up": 127.5 -> 128). roundf rather than
 * floorf(y + 0.5f): the addition itself rounds, so floorf(0.49999997f + 0.5f) =
 * floorf(1.0f) = 1 where round gives 0. lrintf is not used either: it follows the
 * current rounding mode (ties to even by default, 127.5 -> 128 but 0.5 -> 0).
 * CUDA's roundf and OpenCL's round() have the same half-away-from-zero rule.
 * NaN maps to 0: fmaxf returns its non-NaN argument. */
#include <math.h>

#include "ref.h"

static void quantize_u8_forward(uint8_t *out, const float *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float y = (in[i] + 1.0f) * 127.5f;
        y = fminf(fmaxf(y, 0.0f), 255.0f);
        out[i] = (uint8_t)roundf(y);
    }
}

/* QUANTIZE_U8: out (u8), in (f32) */
fm_status fm_ref_quantize_u8(fm_backend *be, const fm_call *c)
{
    (void)be;
    quantize_u8_forward(fm_u8(&c->t[0]), fm_f32(&c->t[1]), fm_tensor_numel(&c->t[0]));
    return FM_OK;
}
