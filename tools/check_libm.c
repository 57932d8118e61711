/*
 * check_libm.c - proves, on this machine, the two facts about the C
 * library that Boost <= 1.55's Box-Muller normal (boxmuller.c) rests on,
 * for every input the normal can compute:
 *
 *  1. sincosf(x) gives bit for bit the sinf(x) and cosf(x) that Boost
 *     calls separately;
 *  2. where glibc_vec.c is in use (cf_glibc_vec_usable: glibc 2.29 on,
 *     x86-64, AVX2 and FMA), its four-lane logf and sincosf give bit for
 *     bit the C library's logf and sincosf.
 *
 * The inputs: r = uniform_01<float>'s value of one 32-bit word (the word
 * rounded to float, times 2^-32, below 1), which are exactly the floats f
 * in [0, 1) with f * 2^32 an integer: w * 2^-32 for every w < 2^24, and
 * every float from 2^-8 up to the last one below 1 (83,886,080 in all).
 * For each, the angle 2 pi r and 1 - r are computed in float as
 * boxmuller.c does (pi rounded to float); sincosf takes the angle, logf
 * 1 - r.  All of them are checked (tests/test_boxmuller.py checks a fixed
 * sample on every run).
 *
 *   gcc -O2 -ffp-contract=off -Isrc/caffefill/_core tools/check_libm.c \
 *       src/caffefill/_core/glibc_vec.c -lm -o /tmp/check_libm && /tmp/check_libm
 *
 * Prints what was checked and the first difference, if any; exit status 1
 * when there is one.  The C library's functions are called through
 * volatile pointers so that the compiler can neither merge sinf and cosf
 * into sincosf (GCC does that at -O1 and above) nor evaluate them itself.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "boostdist.h"
#include "boxmuller.h"
#include "glibc_vec.h"

static float (*volatile sin_f)(float) = sinf;
static float (*volatile cos_f)(float) = cosf;
static float (*volatile log_f)(float) = logf;
static void (*volatile sincos_f)(float, float *, float *) = sincosf;

static uint32_t bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* The values r of a batch, and what is computed from them. */
enum { BATCH = 4096 };
static float r[BATCH], angle[BATCH], one_minus[BATCH], vlog[BATCH], vsin[BATCH], vcos[BATCH];
static int vector; /* glibc_vec.c in use: check fact 2 too */

/* Checks the first `n` values of the batch; 1 and a message at the first
 * difference. */
static int batch_differs(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        angle[i] = CF_BOX_MULLER_TWO_PI * r[i];
        one_minus[i] = 1.0f - r[i];
    }
    if (vector) {
        cf_glibc_vec_sincosf(angle, vsin, vcos, n);
        cf_glibc_vec_logf(one_minus, vlog, n);
    }
    for (size_t i = 0; i < n; i++) {
        float s, c, s1 = sin_f(angle[i]), c1 = cos_f(angle[i]);
        sincos_f(angle[i], &s, &c);
        if (bits(s) != bits(s1) || bits(c) != bits(c1)) {
            printf("r %a angle %a: sincosf (%a, %a), sinf %a, cosf %a\n", (double)r[i],
                   (double)angle[i], (double)s, (double)c, (double)s1, (double)c1);
            return 1;
        }
        if (!vector)
            continue;
        if (bits(vsin[i]) != bits(s) || bits(vcos[i]) != bits(c)) {
            printf("r %a angle %a: sincosf (%a, %a), glibc_vec.c (%a, %a)\n", (double)r[i],
                   (double)angle[i], (double)s, (double)c, (double)vsin[i], (double)vcos[i]);
            return 1;
        }
        float lg = log_f(one_minus[i]);
        if (bits(vlog[i]) != bits(lg)) {
            printf("r %a: logf(%a) %a, glibc_vec.c %a\n", (double)r[i], (double)one_minus[i],
                   (double)lg, (double)vlog[i]);
            return 1;
        }
    }
    return 0;
}

int main(void)
{
    vector = cf_glibc_vec_usable();
    uint64_t count = 0;
    size_t n = 0;
    for (uint32_t w = 0; w < (1U << 24); w++) {
        r[n++] = cf_uniform01_of(w);
        if (n == BATCH) {
            if (batch_differs(n))
                return 1;
            count += n;
            n = 0;
        }
    }
    uint32_t first, last;
    float lo = 1.0f / 256.0f, below_one = nextafterf(1.0f, 0.0f);
    memcpy(&first, &lo, sizeof first);
    memcpy(&last, &below_one, sizeof last);
    for (uint32_t b = first; b <= last; b++) {
        memcpy(&r[n++], &b, sizeof b);
        if (n == BATCH || b == last) {
            if (batch_differs(n))
                return 1;
            count += n;
            n = 0;
        }
    }
    printf("sincosf equals sinf and cosf on all %llu Box-Muller angles\n",
           (unsigned long long)count);
    if (vector)
        printf("glibc_vec.c's sincosf and logf equal the C library's on all %llu angles and "
               "all %llu values of 1 - r\n",
               (unsigned long long)count, (unsigned long long)count);
    else
        printf("glibc_vec.c is not in use on this machine (it needs glibc 2.29 or later on "
               "x86-64 with AVX2 and FMA): only the first fact applies\n");
    return 0;
}
