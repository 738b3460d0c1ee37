/* Exponential moving average of the weights, kept beside the raw weights and used
 * for sampling:
 *
 *   ema = decay ema + (1 - decay) param           (decay = f0, e.g. 0.999)
 */
#include "ref.h"

static void ema_update(float *ema, const float *param, float decay, int64_t n)
{
    float keep = 1.0f - decay;
    for (int64_t i = 0; i < n; i++) {
        ema[i] = decay * ema[i] + keep * param[i];
    }
}

/* EMA: ema, param; f0 decay */
fm_status fm_ref_ema(fm_backend *be, const fm_call *c)
{
    (void)be;
    ema_update(fm_f32(&c->t[0]), fm_f32(&c->t[1]), c->f[0], fm_tensor_numel(&c->t[0]));
    return FM_OK;
}
