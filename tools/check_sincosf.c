/*
 * check_sincosf.c - proves, on this machine's libm, that sincosf(x) gives
 * bit for bit the sinf(x) and cosf(x) that Boost <= 1.55's Box-Muller
 * normal calls separately, for every angle it can compute.
 *
 * The angle is 2 pi * r in float (pi rounded to float, as boxmuller.c has
 * it), where r = uniform_01<float>'s value of one 32-bit word: the word
 * rounded to float, times 2^-32, below 1.  Those r are exactly the floats
 * f in [0, 1) with f * 2^32 an integer: w * 2^-32 for every w < 2^24, and
 * every float from 2^-8 up to the last one below 1 (83,886,080 in all).
 * All of them are checked; boxmuller.c uses sincosf only where this passes
 * (tests/test_boxmuller.py checks a fixed sample of them on every run).
 *
 *   gcc -O2 -ffp-contract=off -Isrc/caffefill/_core tools/check_sincosf.c -lm \
 *       -o /tmp/check_sincosf && /tmp/check_sincosf
 *
 * Prints the count checked and the first difference, if any; exit status 1
 * when there is one.  The libm functions are called through volatile
 * pointers so that the compiler cannot merge sinf and cosf into sincosf
 * itself (GCC does that at -O1 and above).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "boostdist.h"
#include "boxmuller.h"

static float (*volatile sin_f)(float) = sinf;
static float (*volatile cos_f)(float) = cosf;
static void (*volatile sincos_f)(float, float *, float *) = sincosf;

static uint32_t bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* 1 and a message when sincosf differs from sinf and cosf on 2 pi r. */
static int differs(float r)
{
    float angle = CF_BOX_MULLER_TWO_PI * r, s, c;
    sincos_f(angle, &s, &c);
    float s1 = sin_f(angle), c1 = cos_f(angle);
    if (bits(s) == bits(s1) && bits(c) == bits(c1))
        return 0;
    printf("r %a angle %a: sincosf (%a, %a), sinf %a, cosf %a\n", (double)r, (double)angle,
           (double)s, (double)c, (double)s1, (double)c1);
    return 1;
}

int main(void)
{
    uint64_t count = 0;
    for (uint32_t w = 0; w < (1U << 24); w++, count++)
        if (differs(cf_uniform01_of(w)))
            return 1;
    uint32_t first, last;
    float lo = 1.0f / 256.0f, below_one = nextafterf(1.0f, 0.0f);
    memcpy(&first, &lo, sizeof first);
    memcpy(&last, &below_one, sizeof last);
    for (uint32_t b = first; b <= last; b++, count++) {
        float r;
        memcpy(&r, &b, sizeof r);
        if (differs(r))
            return 1;
    }
    printf("sincosf equals sinf and cosf on all %llu Box-Muller angles\n",
           (unsigned long long)count);
    return 0;
}
