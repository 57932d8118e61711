/*
 * boxmuller.h - Boost <= 1.55's normal_distribution<float> (Box-Muller with
 * a cached second value), as Caffe's caffe_rng_gaussian applies it.
 */
#ifndef CAFFEFILL_BOXMULLER_H
#define CAFFEFILL_BOXMULLER_H

#include <stddef.h>

#include "mt19937.h"

/*
 * n values of caffe_rng_gaussian(n, mean, sigma) with Boost <= 1.55's
 * Box-Muller normal_distribution<float>.  Caffe makes a fresh distribution
 * per call, so the cached second value never outlives one call: values pair
 * up from the start of `out`, and an odd last value discards its partner.
 */
void cf_fill_box_muller(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma);

#endif
