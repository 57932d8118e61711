/*
 * boostdist.h - Boost.Random's distribution arithmetic in float32, as Caffe's
 * caffe_rng_* functions apply it to the one mt19937 stream.
 *
 * Every function consumes draws from the stream exactly as the Boost
 * distribution object of the named release does, and computes in float32
 * with the same operation order, so the results are bit-identical.
 */
#ifndef CAFFEFILL_BOOSTDIST_H
#define CAFFEFILL_BOOSTDIST_H

#include <stddef.h>

#include "mt19937.h"

/* Which Boost.Random normal_distribution algorithm Caffe was built against. */
typedef enum {
    CF_NORMAL_ZIGGURAT_164 = 0, /* Boost >= 1.64: ziggurat, tail via ziggurat exponential */
    CF_NORMAL_ZIGGURAT_156 = 1, /* Boost 1.56 - 1.63: ziggurat, older slow path and tail */
    CF_NORMAL_BOX_MULLER = 2    /* Boost <= 1.55: Box-Muller with a cached second value */
} cf_normal_kind;

/* uniform_01<float>'s value for one word (1.0 when the draw must be redone). */
static inline float cf_uniform01_of(uint32_t u)
{
    /* factor = 1 / (float(2^32 - 1) + 1); float(2^32 - 1) rounds to 2^32. */
    return (float)u * (1.0f / ((float)4294967295U + 1.0f));
}

/* uniform_01<float>: u * 2^-32 in float, redrawn while it rounds to 1. */
float cf_uniform01(cf_mt19937 *mt);

/* uniform_real<float>(lo, hi) for one value: u / 2^32 * (hi - lo) + lo,
 * redrawn while the result is not below hi. */
static inline float cf_uniform_real_one(cf_mt19937 *mt, float lo, float hi, float span)
{
    for (;;) {
        float r = (float)cf_mt_next(mt) / 4294967296.0f * span + lo;
        if (r < hi)
            return r;
    }
}

/* Standard normal draw of Boost >= 1.64 (unit_normal_distribution<float>). */
float cf_normal_ziggurat164(cf_mt19937 *mt);

/* n values of unit * sigma + mean with a ziggurat normal (kind 1.64 or
 * 1.56): the same values and stream use as n calls of cf_normal_ziggurat164
 * or cf_normal_ziggurat156 (bulk path). */
void cf_fill_normal_ziggurat(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma,
                             cf_normal_kind kind);

/* n values of cf_uniform_real_one(mt, lo, hi, span), or of twice it when
 * `doubled` (Boost's halved wide range), with the same stream use (bulk path). */
void cf_fill_uniform_real(cf_mt19937 *mt, float *out, size_t n, float lo, float hi, float span,
                          int doubled);

/* data[i] *= bernoulli_distribution<float>(p) for n values, p > 0 (each
 * draw takes one word): the same values and stream use as n calls of
 * cf_bernoulli_one (bulk path). */
void cf_fill_bernoulli_mask(cf_mt19937 *mt, float *data, size_t n, float p);


/* Standard exponential draw of Boost >= 1.64 (unit_exponential_distribution<float>). */
float cf_exponential_ziggurat164(cf_mt19937 *mt);

/*
 * Standard normal draw of Boost 1.56 - 1.63 (unit_normal_distribution<float>):
 * the same fast path and tables as 1.64, but the slow path tests y against
 * exp(-x*x/2) directly and the tail draws its exponentials as -log(1 - u).
 */
float cf_normal_ziggurat156(cf_mt19937 *mt);

/* bernoulli_distribution<float>(p) for one value; draws nothing when p == 0. */
static inline int cf_bernoulli_one(cf_mt19937 *mt, float p)
{
    if (p == 0.0f)
        return 0;
    return (float)cf_mt_next(mt) <= p * 4294967296.0f;
}

#endif
