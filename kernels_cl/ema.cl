/* EMA: ema = decay ema + keep param, keep = 1 - decay (computed on the host in float,
 * as the reference does). Elementwise, updated in place. */
__kernel void ema_update(__global float *ema, uint ema_off, __global const float *param,
                         uint param_off, int n, float decay, float keep)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    ema[ema_off + i] = decay * ema[ema_off + i] + keep * param[param_off + i];
}
