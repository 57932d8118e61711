/*
 * boostdist.c - Boost.Random's float32 distribution arithmetic (see
 * boostdist.h).  Each comment names the Boost step it reproduces; the
 * operation order and the float/double types of every intermediate are
 * part of the contract, so keep them exactly as they are.
 */
#include "boostdist.h"

#include <math.h>

#include "ziggurat_tables.h"

/* 2^-24: scales the 24 high bits of a draw to [0, 1). */
#define TWO_POW_M24 (1.0f / 16777216.0f)

float cf_uniform01(cf_mt19937 *mt)
{
    /* factor = 1 / (float(2^32 - 1) + 1); float(2^32 - 1) rounds to 2^32. */
    const float factor = 1.0f / ((float)4294967295U + 1.0f);
    for (;;) {
        float r = (float)cf_mt_next(mt) * factor;
        if (r < 1.0f)
            return r;
    }
}

/*
 * One ziggurat try takes a single 32-bit word: its low 8 bits pick the box
 * (and, for the normal, the sign), its high 24 bits the fraction in [0, 1).
 */
static inline float draw_fraction(uint32_t u)
{
    return (float)(u >> 8) * TWO_POW_M24;
}

float cf_exponential_ziggurat164(cf_mt19937 *mt)
{
    float shift = 0.0f;
    for (;;) {
        uint32_t u = cf_mt_next(mt);
        int i = (int)(u & 0xffU);
        float x = draw_fraction(u) * (float)expo_x[i];
        if (x < (float)expo_x[i + 1])
            return shift + x;
        if (i == 0) {
            /* The exponential's tail is the body again, shifted. */
            shift += (float)expo_x[1];
            continue;
        }
        float y01 = cf_uniform01(mt);
        float y = (float)expo_y[i] + y01 * (float)(expo_y[i + 1] - expo_y[i]);
        float above_ubound = (float)(expo_x[i] - expo_x[i + 1]) * y01 - ((float)expo_x[i] - x);
        float above_lbound =
            y - ((float)expo_y[i + 1] + ((float)expo_x[i + 1] - x) * (float)expo_y[i + 1]);
        if (above_ubound < 0.0f && (above_lbound < 0.0f || y < expf(-x)))
            return x + shift;
    }
}

/* The normal's tail beyond x[1], from two exponentials (Marsaglia). */
static float normal_tail164(cf_mt19937 *mt)
{
    const float tail_start = (float)normal_x[1];
    for (;;) {
        float x = cf_exponential_ziggurat164(mt) / tail_start;
        float y = cf_exponential_ziggurat164(mt) / 1.0f;
        if (2.0f * y > x * x)
            return x + tail_start;
    }
}

float cf_normal_ziggurat164(cf_mt19937 *mt)
{
    for (;;) {
        uint32_t u = cf_mt_next(mt);
        int box = (int)(u & 0xffU);
        float sign = (float)((box & 1) * 2 - 1);
        int i = box >> 1;
        float x = draw_fraction(u) * (float)normal_x[i];
        /* Boost compares the float x against the double table entry. */
        if ((double)x < normal_x[i + 1])
            return x * sign;
        if (i == 0)
            return normal_tail164(mt) * sign;
        float y01 = cf_uniform01(mt);
        float y = (float)normal_y[i] + y01 * (float)(normal_y[i + 1] - normal_y[i]);
        float xi = (float)normal_x[i];
        float yi = (float)normal_y[i];
        float chord = (float)(normal_x[i] - normal_x[i + 1]) * y01 - (xi - x);
        float tangent = y - (yi + (xi - x) * yi * xi);
        float above_ubound, above_lbound;
        if (normal_x[i] >= 1.0) { /* convex part of the curve */
            above_ubound = chord;
            above_lbound = tangent;
        } else { /* concave part */
            above_lbound = chord;
            above_ubound = tangent;
        }
        if (above_ubound < 0.0f && (above_lbound < 0.0f || y < expf(-(x * x / 2.0f))))
            return x * sign;
    }
}

/*
 * Boost 1.56 - 1.63 exponential_distribution<float> with lambda 1:
 * (-1 / lambda) * log(1 - u), all in float (std::log on a float).
 */
static float exponential_log156(cf_mt19937 *mt)
{
    return -1.0f * logf(1.0f - cf_uniform01(mt));
}

/* The normal's tail beyond x[1] in 1.56 - 1.63: both exponentials by -log. */
static float normal_tail156(cf_mt19937 *mt)
{
    const float tail_start = (float)normal_x[1];
    for (;;) {
        float x = exponential_log156(mt) / tail_start;
        float y = exponential_log156(mt);
        if (2.0f * y > x * x)
            return x + tail_start;
    }
}

float cf_normal_ziggurat156(cf_mt19937 *mt)
{
    for (;;) {
        /* The fast path is the same as 1.64's (same word split, same tables). */
        uint32_t u = cf_mt_next(mt);
        int box = (int)(u & 0xffU);
        float sign = (float)((box & 1) * 2 - 1);
        int i = box >> 1;
        float x = draw_fraction(u) * (float)normal_x[i];
        if ((double)x < normal_x[i + 1])
            return x * sign;
        if (i == 0)
            return normal_tail156(mt) * sign;
        /* Slow path: one uniform height in the box, tested against the curve. */
        float y = (float)normal_y[i] + cf_uniform01(mt) * (float)(normal_y[i + 1] - normal_y[i]);
        if (y < expf(-x * x / 2.0f))
            return x * sign;
    }
}

void cf_fill_box_muller(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma)
{
    /* pi rounded to float, as Boost's result_type(3.14159...) constant. */
    const float two_pi = 2.0f * (float)3.14159265358979323846;
    size_t i = 0;
    while (i < n) {
        /* A pair: r1 gives the angle, r2 the radius, drawn in that order. */
        float r1 = cf_uniform01(mt);
        float r2 = cf_uniform01(mt);
        float rho = sqrtf(-2.0f * logf(1.0f - r2));
        float angle = two_pi * r1;
        /* First the cosine value, then (if still wanted) the cached sine one. */
        out[i++] = rho * cosf(angle) * sigma + mean;
        if (i < n)
            out[i++] = rho * sinf(angle) * sigma + mean;
    }
}
