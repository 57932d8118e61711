/*
 * fill.c - filler kernels (see fill.h).
 */
#include "fill.h"

#include <float.h>
#include <math.h>

static void uniform_range(cf_mt19937 *mt, float *out, size_t n, float lo, float hi)
{
    /* Boost halves a range too wide for float and doubles the draw. */
    if (hi / 2.0f - lo / 2.0f > FLT_MAX / 2.0f) {
        float half_lo = lo / 2.0f, half_hi = hi / 2.0f, span = half_hi - half_lo;
        cf_fill_uniform_real(mt, out, n, half_lo, half_hi, span, 1);
        return;
    }
    cf_fill_uniform_real(mt, out, n, lo, hi, hi - lo, 0);
}

void cf_fill_uniform(cf_mt19937 *mt, float *out, size_t n, float lo, float hi)
{
    /* Caffe widens the upper bound by one ulp: boost::math::nextafter(hi, FLT_MAX). */
    uniform_range(mt, out, n, lo, nextafterf(hi, FLT_MAX));
}

void cf_fill_gaussian(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma,
                      cf_normal_kind kind)
{
    switch (kind) {
    case CF_NORMAL_BOX_MULLER:
        cf_fill_box_muller(mt, out, n, mean, sigma);
        break;
    case CF_NORMAL_ZIGGURAT_156:
    case CF_NORMAL_ZIGGURAT_164:
    default:
        /* normal_distribution returns unit * sigma + mean. */
        cf_fill_normal_ziggurat(mt, out, n, mean, sigma, kind);
        break;
    }
}

void cf_mask_bernoulli(cf_mt19937 *mt, float *data, size_t n, float p)
{
    for (size_t i = 0; i < n; i++)
        data[i] *= (float)cf_bernoulli_one(mt, p);
}

void cf_normalize_rows(float *data, size_t rows, size_t dim)
{
    for (size_t r = 0; r < rows; r++) {
        float *row = data + r * dim;
        float sum = 0.0f;
        for (size_t j = 0; j < dim; j++)
            sum += row[j];
        for (size_t j = 0; j < dim; j++)
            row[j] /= sum;
    }
}

void cf_fill_bilinear(float *out, size_t n, int k, cf_bilinear_kind kind)
{
    const int f = (int)ceil(k / 2.0);
    float c;
    if (kind == CF_BILINEAR_MASTER)
        c = (float)((k - 1) / (2.0 * f));
    else
        c = (float)((2 * f - 1 - f % 2) / (2.0 * f));
    for (size_t i = 0; i < n; i++) {
        float x = (float)(int)(i % (size_t)k);
        float y = (float)(int)((i / (size_t)k) % (size_t)k);
        out[i] = (1.0f - fabsf(x / (float)f - c)) * (1.0f - fabsf(y / (float)f - c));
    }
}
