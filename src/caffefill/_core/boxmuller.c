/*
 * boxmuller.c - Boost <= 1.55's Box-Muller normal (see boxmuller.h).  Both
 * uniforms are uniform_01<float> draws (boostdist.h); rho, the angle and the
 * two values are computed in float with the platform libm's logf, cosf and
 * sinf, in Boost's operation order, so keep them exactly as they are.
 */
#include "boxmuller.h"

#include <math.h>

#include "boostdist.h"

/* pi rounded to float, as Boost's result_type(3.14159...) constant. */
#define BOX_MULLER_TWO_PI (2.0f * (float)3.14159265358979323846)

/* The pair (r1, r2) of uniforms: the cosine value to out[0] and, when
 * `both`, the cached sine value to out[1]. */
static inline void box_muller_pair(float r1, float r2, float *out, int both, float mean,
                                   float sigma)
{
    float rho = sqrtf(-2.0f * logf(1.0f - r2));
    float angle = BOX_MULLER_TWO_PI * r1;
    out[0] = rho * cosf(angle) * sigma + mean;
    if (both)
        out[1] = rho * sinf(angle) * sigma + mean;
}

/*
 * The bulk Box-Muller: a pair takes two words unless a uniform must be
 * redrawn (a word of 2^32 - 128 or more), so the pairs of a run of words
 * without such a word are known in advance; each step below then runs over
 * the whole run, which lets the libm calls of different pairs overlap
 * instead of waiting on each other.  Runs with a redraw, and pairs whose
 * words straddle two blocks, take the one-pair-at-a-time path.
 */
void cf_fill_box_muller(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma)
{
    enum { RUN = CF_MT_N / 2 };
    float r1[RUN], r2[RUN], rho[RUN];
    size_t i = 0;
    while (i < n) {
        if (mt->pos >= CF_MT_N)
            cf_mt_refill(mt);
        size_t pairs = (size_t)(CF_MT_N - mt->pos) / 2, wanted = (n - i + 1) / 2;
        if (pairs > wanted)
            pairs = wanted;
        const uint32_t *key = mt->key + mt->pos;
        int redraw = 0;
        for (size_t k = 0; k < pairs; k++) {
            r1[k] = cf_uniform01_of(cf_mt_temper(key[2 * k]));
            r2[k] = cf_uniform01_of(cf_mt_temper(key[2 * k + 1]));
            redraw |= !(r1[k] < 1.0f) | !(r2[k] < 1.0f);
        }
        if (pairs == 0 || redraw) { /* one pair, one word at a time */
            float a = cf_uniform01(mt);
            float b = cf_uniform01(mt);
            box_muller_pair(a, b, out + i, i + 1 < n, mean, sigma);
            i += i + 1 < n ? 2 : 1;
            continue;
        }
        mt->pos += (int)(2 * pairs);
        for (size_t k = 0; k < pairs; k++)
            rho[k] = sqrtf(-2.0f * logf(1.0f - r2[k]));
        for (size_t k = 0; k < pairs; k++) {
            float angle = BOX_MULLER_TWO_PI * r1[k];
            float c = cosf(angle), s = sinf(angle);
            out[i++] = rho[k] * c * sigma + mean;
            if (i < n)
                out[i++] = rho[k] * s * sigma + mean;
        }
    }
}
