/* The autoencoder's posterior (kernels_ref/reparam.c). mom [N,2Z,h,w]: the mean mu in
 * channels 0..Z-1 and the log-variance lv in Z..2Z-1 of each image; zl = Z h w, so
 * latent element e = (img, i) (img = e / zl, i = e % zl) reads mu at mom[e + img zl]
 * and lv at zl further. With lv' = clamp(lv, -30, 20):
 *
 *   z   = mu + exp(lv'/2) eps           (eps absent: z = mu)
 *   kl  = (1/N) sum 0.5 (mu^2 + exp(lv') - 1 - lv')
 *   dmu = dz + k mu,  k = dkl / N
 *   dlv = [-30 <= lv <= 20] (dz eps exp(lv/2) / 2 + k (exp(lv) - 1) / 2)
 *
 * Forward in one pass over mom: each work-item writes z for a grid-strided share of
 * the latent and sums those elements' KL terms (Kahan); the work-group's tree gives one
 * partial in scratch, which sum.cl's sum_final adds up and divides by N (host:
 * kernels_cl/sum.c). Backward: elementwise over dmom (elementwise.c's table). */
#define REPARAM_WG_MAX 128
#define REPARAM_LV_MIN (-30.0f) /* FM_LOGVAR_MIN, FM_LOGVAR_MAX of runtime/ops.h */
#define REPARAM_LV_MAX 20.0f

float fm_cl_tree_sum(__local float *s, float v); /* groupnorm.cl */

/* z for e = global id, + global size, ... < n; part[group] = the sum of their KL terms. */
__kernel void reparam_fwd(__global float *z, uint z_off, __global float *part, uint part_off,
                          __global const float *mom, uint mom_off, __global const float *eps,
                          uint eps_off, int n, int zl, int has_eps)
{
    __local float s[REPARAM_WG_MAX];
    float acc = 0.0f, comp = 0.0f;
    for (int e = get_global_id(0); e < n; e += get_global_size(0)) {
        int im = mom_off + e + e / zl * zl;
        float mu = mom[im];
        float lv = clamp(mom[im + zl], REPARAM_LV_MIN, REPARAM_LV_MAX);
        z[z_off + e] = has_eps ? mu + exp(0.5f * lv) * eps[eps_off + e] : mu;
        float y = 0.5f * (mu * mu + exp(lv) - 1.0f - lv) - comp;
        float t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    float r = fm_cl_tree_sum(s, acc);
    if (get_local_id(0) == 0)
        part[part_off + get_group_id(0)] = r;
}

/* One work-item per element j of dmom (n = N 2 zl of them; c2 = 2Z, hw = h w). */
__kernel void reparam_bwd(__global float *dmom, uint dmom_off, __global const float *dz,
                          uint dz_off, __global const float *mom, uint mom_off,
                          __global const float *eps, uint eps_off, int n, int c2, int hw,
                          float dkl, int has_dz, int has_eps)
{
    int j = get_global_id(0);
    if (j >= n)
        return;
    int zl = c2 / 2 * hw, img = j / (2 * zl), r = j - img * 2 * zl;
    int is_lv = r >= zl;
    int e = img * zl + (is_lv ? r - zl : r);
    float k = dkl / (float)(n / (2 * zl));
    float d = has_dz ? dz[dz_off + e] : 0.0f, x = mom[mom_off + j];
    if (!is_lv) {
        dmom[dmom_off + j] = d + k * x;
        return;
    }
    if (x < REPARAM_LV_MIN || x > REPARAM_LV_MAX) {
        dmom[dmom_off + j] = 0.0f;
        return;
    }
    float s = exp(0.5f * x);
    dmom[dmom_off + j] = 0.5f * (d * (has_eps ? eps[eps_off + e] : 0.0f) * s + k * (s * s - 1.0f));
}
