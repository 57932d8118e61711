/*
 * fill.h - Caffe's filler kernels over float32 buffers.
 *
 * Each function writes exactly `n` values into `out` (the caller has
 * checked the buffer holds them) and draws from the stream in the order
 * Caffe's caffe_rng_* helpers do for one call.
 */
#ifndef CAFFEFILL_FILL_H
#define CAFFEFILL_FILL_H

#include <stddef.h>

#include "boostdist.h"
#include "boxmuller.h"

/* caffe_rng_uniform(n, lo, hi): uniform on [lo, nextafter(hi)). */
void cf_fill_uniform(cf_mt19937 *mt, float *out, size_t n, float lo, float hi);

/* caffe_rng_gaussian(n, mean, sigma) with the given Boost normal algorithm. */
void cf_fill_gaussian(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma,
                      cf_normal_kind kind);

/* caffe_rng_bernoulli(n, p) as a 0/1 mask multiplied into data (data[i] *= mask[i]). */
void cf_mask_bernoulli(cf_mt19937 *mt, float *data, size_t n, float p);

/* positive_unitball's normalisation: each of `rows` rows divided by its float sum. */
void cf_normalize_rows(float *data, size_t rows, size_t dim);

/* positive_unitball: caffe_rng_uniform(n, 0, 1), then each of `rows` rows
 * (rows > 0 divides n) divided by its float sum (cf_normalize_rows). */
void cf_fill_unitball(cf_mt19937 *mt, float *out, size_t n, size_t rows);

/* Which bilinear formula to use. */
typedef enum {
    CF_BILINEAR_CAFFE10 = 0, /* Caffe 1.0: c = (2f - 1 - f % 2) / (2f), float c */
    CF_BILINEAR_MASTER = 1   /* BVLC master: c = (k - 1) / (2f), in the blob's type */
} cf_bilinear_kind;

/* The bilinear upsampling kernel over a blob of n values with square k x k planes. */
void cf_fill_bilinear(float *out, size_t n, int k, cf_bilinear_kind kind);

#endif
