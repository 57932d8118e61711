/*
 * glibc_vec.c - glibc's logf and sincosf four at a time (see glibc_vec.h).
 *
 * Boost <= 1.55's normal calls logf, cosf and sinf once per pair of values,
 * and those calls bound its speed on one core.  glibc from 2.29 on computes
 * logf and sincosf in double precision from small tables and polynomials
 * (the algorithms of Arm's optimized-routines: sysdeps/ieee754/flt-32/
 * e_logf.c and s_sincosf.c, with the polynomial of sysdeps/x86/fpu/
 * sincosf_poly.h on x86), and on x86-64 it selects at load time builds of
 * them compiled with -mfma -mavx2 when the CPU has FMA and AVX2
 * (sysdeps/x86_64/fpu/multiarch/ifunc-fma.h).  The functions below do the
 * same operations on four lanes, each multiply-add fused exactly where the
 * compiler fused it in that build (read from the machine code of glibc
 * 2.36's __logf_fma and __sincosf_fma), so each lane is rounded as the
 * scalar code rounds it.  The constants are the facts the algorithms are
 * made of: glibc's tables, written here as they are there.
 *
 * tools/check_libm.c proves it on the machine at hand: for every input the
 * Box-Muller normal can compute (1 - r for logf and 2 pi r for sincosf, r
 * any uniform_01<float> value: 83,886,080 of them), these functions give
 * the C library's bits.  Only those inputs are claimed: logf of positive
 * normal floats, sincosf of 0 <= x < 120 (glibc's fast path); larger
 * angles, negative or non-finite arguments are not handled.  On those
 * inputs the check also passes with none of the multiply-adds fused (the
 * rounding of glibc's SSE2 build; tried by splitting the fused steps
 * below), so the bits do not hinge on how a glibc build contracted them.
 *
 * Built without AVX2 support (other CPUs, -DCF_NO_SIMD), where it is not
 * usable at run time, or switched off (cf_glibc_vec_use(0), for tests and
 * benchmarks), the functions call the C library: this file is the one
 * place where the Box-Muller bulk path's logf and sincosf are computed.
 */
#define _GNU_SOURCE /* sincosf */
#include "glibc_vec.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GLIBC__) && !defined(CF_NO_SIMD)
#define CF_HAVE_GLIBC_VEC 1
#include <gnu/libc-version.h>
#include <immintrin.h>
#endif

#ifdef CF_HAVE_GLIBC_VEC

/* logf: x = 2^k z with z in [OFF, 2 OFF) (OFF = 0x3f330000 as bits), the
 * table entry i from z's top mantissa bits, then
 * log(x) = log1p(z / c - 1) + log(c) + k ln 2 with a degree-4 polynomial
 * for log1p.  The 16 entries {1/c, log c}, ln 2 and the polynomial's
 * coefficients A0..A2 of x^4, x^3, x^2 (that of x is 1): the data of
 * glibc's logf (sysdeps/ieee754/flt-32/e_logf_data.c). */
#define LOGF_OFF 0x3f330000
static const double logf_table[16][2] = {
    {0x1.661ec79f8f3bep+0, -0x1.57bf7808caadep-2}, {0x1.571ed4aaf883dp+0, -0x1.2bef0a7c06ddbp-2},
    {0x1.49539f0f010bp+0, -0x1.01eae7f513a67p-2},  {0x1.3c995b0b80385p+0, -0x1.b31d8a68224e9p-3},
    {0x1.30d190c8864a5p+0, -0x1.6574f0ac07758p-3}, {0x1.25e227b0b8eap+0, -0x1.1aa2bc79c81p-3},
    {0x1.1bb4a4a1a343fp+0, -0x1.a4e76ce8c0e5ep-4}, {0x1.12358f08ae5bap+0, -0x1.1973c5a611cccp-4},
    {0x1.0953f419900a7p+0, -0x1.252f438e10c1ep-5}, {0x1p+0, 0x0p+0},
    {0x1.e608cfd9a47acp-1, 0x1.aa5aa5df25984p-5},  {0x1.ca4b31f026aap-1, 0x1.c5e53aa362eb4p-4},
    {0x1.b2036576afce6p-1, 0x1.526e57720db08p-3},  {0x1.9c2d163a1aa2dp-1, 0x1.bc2860d22477p-3},
    {0x1.886e6037841edp-1, 0x1.1058bc8a07ee1p-2},  {0x1.767dcf5534862p-1, 0x1.4043057b6ee09p-2},
};
#define LOGF_LN2 0x1.62e42fefa39efp-1
#define LOGF_A0 (-0x1.00ea348b88334p-2)
#define LOGF_A1 0x1.5575b0be00b6ap-2
#define LOGF_A2 (-0x1.ffffef20a4123p-2)

/* sincosf: |x| below pi/4 (compared on the top 12 bits of the float) goes
 * straight to the polynomials, tiny |x| (below 2^-12) gives (x, 1);
 * otherwise n = x * 2/pi rounded (through a 2^24-scaled truncation) and
 * x - n pi/2 (one fused multiply-add) go to the polynomials, whose sine
 * and cosine swap in odd quadrants and change sign as the quadrant says.
 * The constants: glibc's __sincosf_table (sysdeps/x86/fpu/s_sincosf_data.c):
 * 2/pi times 2^24, pi/2, the cosine's C0..C4 and the sine's S1..S3. */
#define SINCOSF_HPI_INV 0x1.45F306DC9C883p+23
#define SINCOSF_HPI 0x1.921FB54442D18p0
#define SINCOSF_C0 0x1p0
#define SINCOSF_C1 (-0x1.ffffffd0c621cp-2)
#define SINCOSF_C2 0x1.55553e1068f19p-5
#define SINCOSF_C3 (-0x1.6c087e89a359dp-10)
#define SINCOSF_C4 0x1.99343027bf8c3p-16
#define SINCOSF_S1 (-0x1.555545995a603p-3)
#define SINCOSF_S2 0x1.1107605230bc4p-7
#define SINCOSF_S3 (-0x1.994eb3774cf24p-13)
/* abstop12 (the float's bits >> 20, sign cleared) of pi/4 and of 2^-12. */
#define SINCOSF_TOP12_PIO4 0x3f4
#define SINCOSF_TOP12_TINY 0x398

#define FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define SET1 _mm256_set1_pd

/* logf of four positive normal floats. */
__attribute__((target("avx2,fma"))) static __m128 logf4(__m128 x)
{
    __m128i ix = _mm_castps_si128(x);
    __m128i tmp = _mm_sub_epi32(ix, _mm_set1_epi32(LOGF_OFF));
    __m128i i2 = _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(tmp, 19), _mm_set1_epi32(15)), 1);
    __m128i k = _mm_srai_epi32(tmp, 23);
    __m128i iz = _mm_sub_epi32(ix, _mm_and_si128(tmp, _mm_set1_epi32((int)0xff800000U)));
    __m256d invc = _mm256_i32gather_pd(&logf_table[0][0], i2, 8);
    __m256d logc = _mm256_i32gather_pd(&logf_table[0][1], i2, 8);
    __m256d z = _mm256_cvtps_pd(_mm_castsi128_ps(iz));
    /* As glibc's FMA build rounds them: r = z / c - 1 and k ln 2 + log c
     * fused, r^2 a product, the polynomial in three fused steps. */
    __m256d r = FMA(z, invc, SET1(-1.0));
    __m256d y0 = FMA(_mm256_cvtepi32_pd(k), SET1(LOGF_LN2), logc);
    __m256d r2 = _mm256_mul_pd(r, r);
    __m256d y = FMA(r, SET1(LOGF_A1), SET1(LOGF_A2));
    y = FMA(r2, SET1(LOGF_A0), y);
    y = FMA(y, r2, _mm256_add_pd(r, y0));
    return _mm256_cvtpd_ps(y);
}

/* sincosf of four floats x with 0 <= x < 120. */
__attribute__((target("avx2,fma"))) static void sincosf4(__m128 x, __m128 *sin_out,
                                                         __m128 *cos_out)
{
    __m128i top12 = _mm_and_si128(_mm_srli_epi32(_mm_castps_si128(x), 20), _mm_set1_epi32(0x7ff));
    __m128i small = _mm_cmplt_epi32(top12, _mm_set1_epi32(SINCOSF_TOP12_PIO4));
    __m128i tiny = _mm_cmplt_epi32(top12, _mm_set1_epi32(SINCOSF_TOP12_TINY));
    __m256d xd = _mm256_cvtps_pd(x);
    /* The quadrant n: truncated x * 2/pi * 2^24, plus 2^23, shifted down
     * 24 bits; 0 where x is small (there x goes to the polynomials as it
     * is, and x - 0 pi/2 below is x). */
    __m128i n = _mm256_cvttpd_epi32(_mm256_mul_pd(xd, SET1(SINCOSF_HPI_INV)));
    n = _mm_andnot_si128(small, _mm_srai_epi32(_mm_add_epi32(n, _mm_set1_epi32(0x800000)), 24));
    __m256d xr = _mm256_fnmadd_pd(_mm256_cvtepi32_pd(n), SET1(SINCOSF_HPI), xd);
    /* The sine's argument changes sign in quadrants 1 and 2 (n & 3), the
     * cosine's value in quadrants 2 and 3 (n & 2: glibc's second table,
     * whose cosine coefficients are negated, negates it exactly), and odd
     * quadrants swap the two; masks of all ones in the lanes concerned. */
    __m128i flip_sin = _mm_slli_epi32(_mm_add_epi32(n, _mm_set1_epi32(1)), 30);
    __m128i flip_cos = _mm_slli_epi32(n, 30);
    __m128i odd = _mm_cmpeq_epi32(_mm_and_si128(n, _mm_set1_epi32(1)), _mm_set1_epi32(1));
    __m256d sign_bit = SET1(-0.0);
    __m256d xs = _mm256_xor_pd(xr, _mm256_and_pd(sign_bit, _mm256_castsi256_pd(
                                   _mm256_cvtepi32_epi64(_mm_srai_epi32(flip_sin, 31)))));
    __m256d x2 = _mm256_mul_pd(xr, xr);
    /* The polynomials as glibc's FMA build rounds them: x^3, x^4 and x^5,
     * x^6 products of x^2, then each sum's steps fused. */
    __m256d x3 = _mm256_mul_pd(x2, xs), x4 = _mm256_mul_pd(x2, x2);
    __m256d x5 = _mm256_mul_pd(x3, x2), x6 = _mm256_mul_pd(x4, x2);
    __m256d sin_poly = FMA(FMA(x2, SET1(SINCOSF_S3), SET1(SINCOSF_S2)), x5,
                           FMA(x3, SET1(SINCOSF_S1), xs));
    __m256d cos_poly = FMA(FMA(x2, SET1(SINCOSF_C4), SET1(SINCOSF_C3)), x6,
                           FMA(x4, SET1(SINCOSF_C2), FMA(x2, SET1(SINCOSF_C1), SET1(SINCOSF_C0))));
    cos_poly = _mm256_xor_pd(cos_poly, _mm256_and_pd(sign_bit, _mm256_castsi256_pd(
                                           _mm256_cvtepi32_epi64(_mm_srai_epi32(flip_cos, 31)))));
    __m128 s = _mm256_cvtpd_ps(sin_poly), c = _mm256_cvtpd_ps(cos_poly);
    __m128 oddf = _mm_castsi128_ps(odd), tinyf = _mm_castsi128_ps(tiny);
    __m128 sin_value = _mm_blendv_ps(s, c, oddf), cos_value = _mm_blendv_ps(c, s, oddf);
    *sin_out = _mm_blendv_ps(sin_value, x, tinyf);
    *cos_out = _mm_blendv_ps(cos_value, _mm_set1_ps(1.0f), tinyf);
}

__attribute__((target("avx2,fma"))) static void logf_avx2(const float *x, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(out + i, logf4(_mm_loadu_ps(x + i)));
    if (i < n) { /* the last 1-3 values, padded with 1 */
        float in[4] = {1.0f, 1.0f, 1.0f, 1.0f}, res[4];
        memcpy(in, x + i, (n - i) * sizeof *x);
        _mm_storeu_ps(res, logf4(_mm_loadu_ps(in)));
        memcpy(out + i, res, (n - i) * sizeof *out);
    }
}

__attribute__((target("avx2,fma"))) static void sincosf_avx2(const float *x, float *s, float *c,
                                                             size_t n)
{
    size_t i = 0;
    __m128 vs, vc;
    for (; i + 4 <= n; i += 4) {
        sincosf4(_mm_loadu_ps(x + i), &vs, &vc);
        _mm_storeu_ps(s + i, vs);
        _mm_storeu_ps(c + i, vc);
    }
    if (i < n) { /* the last 1-3 values, padded with 0 */
        float in[4] = {0.0f, 0.0f, 0.0f, 0.0f}, rs[4], rc[4];
        memcpy(in, x + i, (n - i) * sizeof *x);
        sincosf4(_mm_loadu_ps(in), &vs, &vc);
        _mm_storeu_ps(rs, vs);
        _mm_storeu_ps(rc, vc);
        memcpy(s + i, rs, (n - i) * sizeof *s);
        memcpy(c + i, rc, (n - i) * sizeof *c);
    }
}

/* glibc 2.29 is the first whose x86-64 sincosf has the polynomial above. */
static int glibc_from_2_29(void)
{
    const char *version = gnu_get_libc_version();
    char *end;
    long major = strtol(version, &end, 10), minor = 0;
    if (*end == '.')
        minor = strtol(end + 1, NULL, 10);
    return major > 2 || (major == 2 && minor >= 29);
}

int cf_glibc_vec_usable(void)
{
    /* -1: not yet known; threads may ask at once, and all find the same */
    static int usable = -1;
    int known = __atomic_load_n(&usable, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                glibc_from_2_29();
        __atomic_store_n(&usable, known, __ATOMIC_RELAXED);
    }
    return known;
}

#else /* no AVX2 path */

int cf_glibc_vec_usable(void) { return 0; }

#endif

/* 1: the functions below may use the four-lane code (see cf_glibc_vec_use). */
static int allowed = 1;

int cf_glibc_vec_use(int enable)
{
    if (enable >= 0)
        allowed = enable != 0;
    return allowed && cf_glibc_vec_usable();
}

/* The C library's own, in tight loops of calls that do nothing else (so
 * that the calls for different values overlap). */
static void logf_libm(const float *x, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = logf(x[i]);
}

/* sincosf where the C library has it (glibc: it gives sinf's and cosf's
 * bits, tools/check_libm.c's first fact), else sinf and cosf. */
static void sincosf_libm(const float *x, float *s, float *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
#if defined(__GLIBC__)
        sincosf(x[i], &s[i], &c[i]);
#else
        s[i] = sinf(x[i]);
        c[i] = cosf(x[i]);
#endif
    }
}

void cf_glibc_vec_logf(const float *x, float *out, size_t n)
{
#ifdef CF_HAVE_GLIBC_VEC
    if (cf_glibc_vec_use(-1)) {
        logf_avx2(x, out, n);
        return;
    }
#endif
    logf_libm(x, out, n);
}

void cf_glibc_vec_sincosf(const float *x, float *s, float *c, size_t n)
{
#ifdef CF_HAVE_GLIBC_VEC
    if (cf_glibc_vec_use(-1)) {
        sincosf_avx2(x, s, c, n);
        return;
    }
#endif
    sincosf_libm(x, s, c, n);
}
