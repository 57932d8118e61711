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

/* The rows [r, rows) one at a time: each row's sum is a chain of float
 * additions in index order (the result depends on the order). */
static void normalize_rows_from(float *data, size_t r, size_t rows, size_t dim)
{
    for (; r < rows; r++) {
        float sum = 0.0f;
        for (size_t j = 0; j < dim; j++)
            sum += data[r * dim + j];
        divide_row(data + r * dim, dim, sum);
    }
}

/* Eight rows at a time, summed side by side (eight chains at once), while
 * eight are left; returns the first row not done. */
static size_t normalize_rows8(float *data, size_t rows, size_t dim)
{
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
    return r;
}

#ifdef CF_X86_SIMD

/* v[0..7] (eight rows of eight) transposed: v[c] becomes column c. */
__attribute__((target("avx2"), always_inline)) static inline void transpose8(__m256 *v)
{
    __m256 t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(v[k], v[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(v[k], v[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
        u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xee);
        u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xee);
    }
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
        v[k + 4] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
    }
}

/* The sums of two groups of eight rows (a and b, row stride dim), lane k
 * of a group the sum of its row k in index order: eight columns at a time
 * are transposed so that one vector holds column c of the group's rows,
 * and the columns are added in order, so each lane is that row's own
 * chain; two groups keep two chains in flight.  The last dim % 8 columns
 * are added one at a time. */
__attribute__((target("avx2"))) static void sum_rows16_avx2(const float *a, const float *b,
                                                            size_t dim, float *sum)
{
    __m256 sa = _mm256_setzero_ps(), sb = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= dim; j += 8) {
        __m256 va[8], vb[8];
        for (int k = 0; k < 8; k++) {
            va[k] = _mm256_loadu_ps(a + k * dim + j);
            vb[k] = _mm256_loadu_ps(b + k * dim + j);
        }
        transpose8(va);
        transpose8(vb);
        for (int c = 0; c < 8; c++) {
            sa = _mm256_add_ps(sa, va[c]);
            sb = _mm256_add_ps(sb, vb[c]);
        }
    }
    _mm256_storeu_ps(sum, sa);
    _mm256_storeu_ps(sum + 8, sb);
    for (; j < dim; j++)
        for (int k = 0; k < 8; k++) {
            sum[k] += a[k * dim + j];
            sum[8 + k] += b[k * dim + j];
        }
}

/* divide_row, eight values a division (the same IEEE quotient each). */
__attribute__((target("avx2"))) static void divide_row_avx2(float *row, size_t dim, float sum)
{
    const __m256 by = _mm256_set1_ps(sum);
    size_t j = 0;
    for (; j + 8 <= dim; j += 8)
        _mm256_storeu_ps(row + j, _mm256_div_ps(_mm256_loadu_ps(row + j), by));
    divide_row(row + j, dim - j, sum);
}

/* divide_row_avx2 sixteen values a division (AVX-512 F). */
__attribute__((target("avx512f"))) static void divide_row_avx512(float *row, size_t dim, float sum)
{
    const __m512 by = _mm512_set1_ps(sum);
    size_t j = 0;
    for (; j + 16 <= dim; j += 16)
        _mm512_storeu_ps(row + j, _mm512_div_ps(_mm512_loadu_ps(row + j), by));
    divide_row(row + j, dim - j, sum);
}

/* Sixteen rows at a time (two groups of eight) while sixteen are left,
 * each divided by `divide`; returns the first row not done. */
static size_t normalize_rows16(float *data, size_t rows, size_t dim,
                               void (*divide)(float *, size_t, float))
{
    size_t r = 0;
    for (; r + 16 <= rows; r += 16) {
        float sum[16];
        float *block = data + r * dim;
        sum_rows16_avx2(block, block + 8 * dim, dim, sum);
        for (size_t k = 0; k < 16; k++)
            divide(block + k * dim, dim, sum[k]);
    }
    return r;
}
#endif

void cf_normalize_rows(float *data, size_t rows, size_t dim)
{
    size_t r = 0;
#ifdef CF_X86_SIMD
    const int level = cf_simd_level(-1);
    if (level >= 1)
        r = normalize_rows16(data, rows, dim, level >= 2 ? divide_row_avx512 : divide_row_avx2);
#endif
    r += normalize_rows8(data + r * dim, rows - r, dim);
    normalize_rows_from(data, r, rows, dim);
}

/* Rows drawn and divided at a time: a multiple of 16 (cf_normalize_rows's
 * vector code sums 16 side by side) while they fit in UNITBALL_BYTES, else
 * of 8 (its portable code sums 8), fewer only when one row is larger than
 * that. */
#define UNITBALL_BYTES ((size_t)256 * 1024)

void cf_fill_unitball(cf_mt19937 *mt, float *out, size_t n, size_t rows)
{
    /* Caffe draws every value, then divides each row by its sum.  The
     * divisions draw nothing, so a group of rows can be divided as soon as
     * it is drawn, while it is still in the cache: the same values, without
     * reading the whole blob back from memory twice. */
    const size_t dim = n / rows;
    const size_t fit = dim ? UNITBALL_BYTES / (dim * sizeof *out) : rows;
    const size_t group = fit >= 16 ? fit & ~(size_t)15 : fit >= 8 ? fit & ~(size_t)7 : fit ? fit : 1;
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
