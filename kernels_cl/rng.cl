/* RNG: element e (the flat index) of stream s under seed S is Philox4x32-10 with
 * key (S lo, S hi), counter (first + e lo, hi, s, 0) -- philox.h, compiled first
 * into this program, is the same source the C and CUDA backends use.
 *   dist 0 (uniform): (r0 >> 8) 2^-24;  dist 1 (normal): Box-Muller cosine branch. */
__kernel void rng_fill(__global float *out, uint out_off, int n, ulong seed, uint stream,
                       ulong first, int dist)
{
    int e = get_global_id(0);
    if (e >= n)
        return;
    out[out_off + e] = dist == 1 ? fm_philox_normal(seed, first + (ulong)e, stream)
                                 : fm_philox_uniform(seed, first + (ulong)e, stream);
}
