/*
 * boxmuller.h - Boost <= 1.55's normal_distribution<float> (Box-Muller with
 * a cached second value), as Caffe's caffe_rng_gaussian applies it.
 */
#ifndef CAFFEFILL_BOXMULLER_H
#define CAFFEFILL_BOXMULLER_H

#include <stddef.h>

#include "mt19937.h"

/* 2 pi as Boost computes it: 2 times pi rounded to float. */
#define CF_BOX_MULLER_TWO_PI (2.0f * (float)3.14159265358979323846)

/*
 * n values of caffe_rng_gaussian(n, mean, sigma) with Boost <= 1.55's
 * Box-Muller normal_distribution<float>.  Caffe makes a fresh distribution
 * per call, so the cached second value never outlives one call: values pair
 * up from the start of `out`, and an odd last value discards its partner.
 */
void cf_fill_box_muller(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma);

/* For tests and benchmarks; set before filling, not during.
 * cf_box_muller_bulk: 0 computes the values one pair at a time, word by
 * word (Boost's own order, the reference), 1 takes the bulk path (the
 * default), 2 the bulk path with a threaded fill's pieces dealt to the
 * threads in turns (so that each skips the others' pieces: a test of the
 * scan whatever the timing), -1 only asks; returns the setting.
 * cf_box_muller_threads: the bulk path splits a fill of at least 2^18
 * values among at most n threads, or, for n = 0 (the default), as many as
 * the cores the process may run on; -1 only asks; returns the setting.
 * Whether the bulk path's logf and sincosf are four at a time or the C
 * library's: cf_glibc_vec_use (glibc_vec.h). */
int cf_box_muller_bulk(int enable);
int cf_box_muller_threads(int n);

#endif
