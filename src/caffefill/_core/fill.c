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
    if (p == 0.0f) { /* Boost draws nothing; every value is multiplied by 0 */
        for (size_t i = 0; i < n; i++)
            data[i] *= 0.0f;
        return;
    }
    cf_fill_bernoulli_mask(mt, data, n, p);
}

/* Divide a row by its sum. */
static void divide_row(float *row, size_t dim, float sum)
{
    for (size_t j = 0; j < dim; j++)
        row[j] /= sum;
}

void cf_normalize_rows(float *data, size_t rows, size_t dim)
{
    /* Each row's sum is a chain of float additions in index order (the
     * result depends on the order); eight rows are summed side by side so
     * that eight chains run at once instead of one. */
    enum { SIDE = 8 };
    size_t r = 0;
    for (; r + SIDE <= rows; r += SIDE) {
        float sum[SIDE] = {0.0f};
        const float *block = data + r * dim;
        for (size_t j = 0; j < dim; j++)
            for (size_t k = 0; k < SIDE; k++)
                sum[k] += block[k * dim + j];
        for (size_t k = 0; k < SIDE; k++)
            divide_row(data + (r + k) * dim, dim, sum[k]);
    }
    for (; r < rows; r++) {
        float sum = 0.0f;
        for (size_t j = 0; j < dim; j++)
            sum += data[r * dim + j];
        divide_row(data + r * dim, dim, sum);
    }
}

/* Rows drawn and divided at a time: 8 (cf_normalize_rows sums 8 side by
 * side), more while they fit in UNITBALL_BYTES, fewer only when one row is
 * larger than that. */
#define UNITBALL_BYTES ((size_t)256 * 1024)

void cf_fill_unitball(cf_mt19937 *mt, float *out, size_t n, size_t rows)
{
    /* Caffe draws every value, then divides each row by its sum.  The
     * divisions draw nothing, so a group of rows can be divided as soon as
     * it is drawn, while it is still in the cache: the same values, without
     * reading the whole blob back from memory twice. */
    const size_t dim = n / rows;
    const size_t fit = dim ? UNITBALL_BYTES / (dim * sizeof *out) : rows;
    const size_t group = fit >= 8 ? fit & ~(size_t)7 : fit ? fit : 1;
    for (size_t r = 0; r < rows; r += group) {
        const size_t take = rows - r < group ? rows - r : group;
        cf_fill_uniform(mt, out + r * dim, take * dim, 0.0f, 1.0f);
        cf_normalize_rows(out + r * dim, take, dim);
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
