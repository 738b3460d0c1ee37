/* The autoencoder's posterior (docs/spec/vae.md, "Posterior, sample and loss"):
 * mom [N,2Z,h,w] holds the mean mu (channels 0..Z-1) and the log-variance lv
 * (channels Z..2Z-1) of each image's latent; with lv' = clamp(lv, -30, 20):
 *
 *   z   = mu + exp(lv'/2) eps           (eps absent: z = mu, the encoder's mean)
 *   kl  = (1/N) sum 0.5 (mu^2 + exp(lv') - 1 - lv')
 *   dmu = dz + dkl mu / N
 *   dlv = [-30 <= lv <= 20] (dz eps exp(lv'/2) / 2 + dkl (exp(lv') - 1) / (2 N))
 *
 * dkl (f0) is the KL's weight in the loss (beta), a scalar as MSE_BWD's dloss is. The
 * KL sum runs in double, as the MSE's. */
#include <math.h>

#include "ref.h"

/* The latent's geometry: N images of Z channels of L = h w values each. */
typedef struct lat {
    int64_t N, Z, L;
} lat;

static lat geometry(const fm_tensor *mom)
{
    return (lat){mom->shape[0], mom->shape[1] / 2, mom->shape[2] * mom->shape[3]};
}

static float clamp_lv(float lv)
{
    return lv < FM_LOGVAR_MIN ? FM_LOGVAR_MIN : lv > FM_LOGVAR_MAX ? FM_LOGVAR_MAX : lv;
}

/* REPARAM_FWD: z, kl[1], mom, eps? */
fm_status fm_ref_reparam_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const lat g = geometry(&c->t[2]);
    float *z = fm_f32(&c->t[0]);
    const float *mom = fm_f32(&c->t[2]);
    const float *eps = fm_tensor_present(&c->t[3]) ? fm_f32(&c->t[3]) : NULL;
    double kl = 0.0;
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t i = 0; i < g.Z * g.L; i++) {
            const float mu = mom[(2 * n) * g.Z * g.L + i];
            const float lv = clamp_lv(mom[(2 * n + 1) * g.Z * g.L + i]);
            const int64_t e = n * g.Z * g.L + i;
            z[e] = eps ? mu + expf(0.5f * lv) * eps[e] : mu;
            kl += 0.5 * ((double)mu * mu + exp((double)lv) - 1.0 - (double)lv);
        }
    fm_f32(&c->t[1])[0] = (float)(kl / (double)g.N);
    return FM_OK;
}

/* REPARAM_BWD: dmom, dz?, mom, eps?; f0 dkl */
fm_status fm_ref_reparam_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const lat g = geometry(&c->t[2]);
    float *dmom = fm_f32(&c->t[0]);
    const float *dz = fm_tensor_present(&c->t[1]) ? fm_f32(&c->t[1]) : NULL;
    const float *mom = fm_f32(&c->t[2]);
    const float *eps = fm_tensor_present(&c->t[3]) ? fm_f32(&c->t[3]) : NULL;
    const float k = c->f[0] / (float)g.N;
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t i = 0; i < g.Z * g.L; i++) {
            const int64_t im = (2 * n) * g.Z * g.L + i, il = im + g.Z * g.L, e = n * g.Z * g.L + i;
            const float mu = mom[im], lv = mom[il], d = dz ? dz[e] : 0.0f;
            dmom[im] = d + k * mu;
            if (lv < FM_LOGVAR_MIN || lv > FM_LOGVAR_MAX) {
                dmom[il] = 0.0f;
                continue;
            }
            const float s = expf(0.5f * lv);
            dmom[il] = 0.5f * (d * (eps ? eps[e] : 0.0f) * s + k * (s * s - 1.0f));
        }
    return FM_OK;
}
