/*
 * boostdist.c - Boost.Random's float32 distribution arithmetic (see
 * boostdist.h).  Each comment names the Boost step it reproduces; the
 * operation order and the float/double types of every intermediate are
 * part of the contract, so keep them exactly as they are.
 */
#include "boostdist.h"

#include <math.h>
#include <string.h>

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

/*
 * The rest of a try whose word `u` (already taken from the stream) failed
 * the fast test: the tail for box 0, else the slow path.  Returns 1 and the
 * value in *value when the try accepts, 0 when it rejects.
 */
static inline int normal164_slow(cf_mt19937 *mt, uint32_t u, float *value)
{
    int box = (int)(u & 0xffU);
    float sign = (float)((box & 1) * 2 - 1);
    int i = box >> 1;
    float x = draw_fraction(u) * (float)normal_x[i];
    if (i == 0) {
        *value = normal_tail164(mt) * sign;
        return 1;
    }
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
    if (above_ubound < 0.0f && (above_lbound < 0.0f || y < expf(-(x * x / 2.0f)))) {
        *value = x * sign;
        return 1;
    }
    return 0;
}

/* One complete try on word u: the fast test, then the slow path if needed. */
static inline int normal164_try(cf_mt19937 *mt, uint32_t u, float *value)
{
    int box = (int)(u & 0xffU);
    int i = box >> 1;
    float x = draw_fraction(u) * (float)normal_x[i];
    /* Boost compares the float x against the double table entry. */
    if ((double)x < normal_x[i + 1]) {
        *value = x * (float)((box & 1) * 2 - 1);
        return 1;
    }
    return normal164_slow(mt, u, value);
}

float cf_normal_ziggurat164(cf_mt19937 *mt)
{
    float value;
    while (!normal164_try(mt, cf_mt_next(mt), &value))
        ;
    return value;
}

/* A unit normal whose first word `u` is known to fail the fast test. */
static float normal164_after_fast_fail(cf_mt19937 *mt, uint32_t u)
{
    float value;
    if (normal164_slow(mt, u, &value))
        return value;
    return cf_normal_ziggurat164(mt);
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

/*
 * Bulk fills: two phases per block of engine words.
 *
 * Most words end a draw on their own: about 98.8 % of normal tries take the
 * fast path, and a uniform_real draw is redrawn only when it rounds up to
 * the upper bound.  The candidate value of word p (the value it gives if it
 * ends the draw on the fast path) depends on word p alone.  So:
 *
 *   phase 1  for every word of the engine's current block (from pos on, at
 *            most as many as values still wanted) compute its candidate into
 *            the output, where it lands if every word succeeds, and set a bit
 *            in a mask for each word that does not succeed.  No branches, no
 *            order: this part is vectorised (AVX2 when the CPU has it).
 *   phase 2  walk the block in stream order: copy each run of good
 *            candidates down to its final place (a value lands at or before
 *            its phase-1 slot, as every value takes at least one word), and
 *            at each flagged word run the scalar algorithm from that word
 *            (it reads the word again, then the extra words it needs), then
 *            carry on at the first word it left unconsumed.
 *
 * The words are read in place from the engine block and consumed by moving
 * mt->pos, so the engine state is exact at every point and unconsumed words
 * stay for the next call.  A slow path that runs past the block end twists
 * a new block (mt->refills changes); the rest of the old candidates are then
 * void and phase 1 starts again on the new block.
 */
#define BLOCK_MASK_WORDS ((CF_MT_N + 63) / 64)

/* The first flagged word at or after j, or m when there is none before m
 * (or j itself when j >= m already). */
static size_t next_flagged(const uint64_t *mask, size_t j, size_t m)
{
    if (j >= m)
        return j;
    while (j < m) {
        uint64_t w = mask[j >> 6] >> (j & 63);
        if (w) {
#if defined(__GNUC__)
            j += (size_t)__builtin_ctzll(w);
#else
            while (!(w & 1U)) {
                w >>= 1;
                j++;
            }
#endif
            return j < m ? j : m;
        }
        j = (j | 63) + 1;
    }
    return m;
}

/* The normal fast path for one tempered word: value = (+-x) * sigma + mean,
 * *slow set when the try fails.  Same arithmetic as cf_normal_ziggurat164,
 * via the float tables (see ziggurat_tables.h for why they are exact):
 * x = u24 * normal_fx[i] and x < normal_fthr[i] for (double)x < x_{i+1}. */
static inline float normal_candidate(uint32_t u, float mean, float sigma, int *slow)
{
    int i = (int)((u >> 1) & 0x7fU);
    float x = (float)(u >> 8) * normal_fx[i];
    *slow = !(x < normal_fthr[i]);
    /* x * sign: flip the sign bit when the box's low bit is 0, exactly
     * what multiplying by -1.0f does (including for +0). */
    uint32_t x_bits;
    memcpy(&x_bits, &x, sizeof x_bits);
    x_bits ^= (~u & 1U) << 31;
    memcpy(&x, &x_bits, sizeof x);
    return x * sigma + mean;
}

/* uniform_real<float>'s value for one word and whether it must be redrawn;
 * `doubled` is fill.c's halved wide range (the result is 2 * r). */
static inline float uniform_candidate(uint32_t u, float lo, float hi, float span, int doubled,
                                      int *redraw)
{
    float r = (float)u / 4294967296.0f * span + lo;
    *redraw = !(r < hi);
    return doubled ? 2.0f * r : r;
}

/* Phase 1 for words key[j], first <= j < m: candidate to dst[j], flag to bit j of mask. */
static void normal_phase1_portable(const uint32_t *key, size_t first, size_t m, float *dst,
                                   uint64_t *mask, float mean, float sigma)
{
    for (size_t j = first; j < m; j++) {
        int slow;
        dst[j] = normal_candidate(cf_mt_temper(key[j]), mean, sigma, &slow);
        mask[j >> 6] |= (uint64_t)slow << (j & 63);
    }
}

static void uniform_phase1_portable(const uint32_t *key, size_t first, size_t m, float *dst,
                                    uint64_t *mask, float lo, float hi, float span, int doubled)
{
    for (size_t j = first; j < m; j++) {
        int redraw;
        dst[j] = uniform_candidate(cf_mt_temper(key[j]), lo, hi, span, doubled, &redraw);
        mask[j >> 6] |= (uint64_t)redraw << (j & 63);
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CF_NO_SIMD)
#include <immintrin.h>
#define CF_HAVE_AVX2_PATH 1

/* Eight words of the block tempered at once (cf_mt_temper). */
__attribute__((target("avx2"))) static inline __m256i temper8(const uint32_t *key)
{
    __m256i y = _mm256_loadu_si256((const __m256i *)key);
    y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 11));
    y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 7),
                                             _mm256_set1_epi32((int)0x9d2c5680U)));
    y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 15),
                                             _mm256_set1_epi32((int)0xefc60000U)));
    return _mm256_xor_si256(y, _mm256_srli_epi32(y, 18));
}

/*
 * normal_phase1_portable eight lanes at a time.  Every step is the same
 * IEEE single operation as in normal_candidate (u >> 8 < 2^24 converts
 * exactly as a signed int; separate multiply and add, no FMA).  The table
 * entries are fetched by a plain scalar pass between two vector passes:
 * on the AMD cores this was measured on, that beats vgatherdps.
 */
__attribute__((target("avx2"))) static void normal_phase1_avx2(const uint32_t *key, size_t m,
                                                                float *dst, uint64_t *mask,
                                                                float mean, float sigma)
{
    const __m256 vmean = _mm256_set1_ps(mean), vsigma = _mm256_set1_ps(sigma);
    const __m256i one = _mm256_set1_epi32(1);
    uint32_t tu[CF_MT_N];
    float tfx[CF_MT_N], tth[CF_MT_N];
    size_t m8 = m & ~(size_t)7;
    for (size_t j = 0; j < m8; j += 8)
        _mm256_storeu_si256((__m256i *)(tu + j), temper8(key + j));
    for (size_t j = 0; j < m8; j++) {
        uint32_t i = (tu[j] >> 1) & 0x7fU;
        tfx[j] = normal_fx[i];
        tth[j] = normal_fthr[i];
    }
    size_t j = 0;
    for (; j < m8; j += 8) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(tu + j));
        __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(u, 8)),
                                 _mm256_loadu_ps(tfx + j));
        __m256 slow = _mm256_cmp_ps(x, _mm256_loadu_ps(tth + j), _CMP_NLT_UQ);
        __m256i flip = _mm256_slli_epi32(_mm256_andnot_si256(u, one), 31);
        x = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(x), flip));
        _mm256_storeu_ps(dst + j, _mm256_add_ps(_mm256_mul_ps(x, vsigma), vmean));
        mask[j >> 6] |= (uint64_t)(unsigned)_mm256_movemask_ps(slow) << (j & 63);
    }
    normal_phase1_portable(key, j, m, dst, mask, mean, sigma);
}

/*
 * uniform_phase1_portable eight lanes at a time.  (float)u for a 32-bit
 * unsigned u: float(u >> 16) * 65536 and float(u & 0xffff) are exact, so
 * their sum is u rounded once, as the scalar conversion rounds it; the
 * division by 2^32 is an exact power-of-two scaling, done as a multiply.
 */
__attribute__((target("avx2"))) static void uniform_phase1_avx2(const uint32_t *key, size_t m,
                                                                 float *dst, uint64_t *mask,
                                                                 float lo, float hi, float span,
                                                                 int doubled)
{
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi),
                 vspan = _mm256_set1_ps(span), two16 = _mm256_set1_ps(65536.0f),
                 two_m32 = _mm256_set1_ps(1.0f / 4294967296.0f), two = _mm256_set1_ps(2.0f);
    const __m256i low16 = _mm256_set1_epi32(0xffff);
    size_t j = 0;
    for (; j + 8 <= m; j += 8) {
        __m256i u = temper8(key + j);
        __m256 f = _mm256_add_ps(
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(u, 16)), two16),
            _mm256_cvtepi32_ps(_mm256_and_si256(u, low16)));
        __m256 r = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(f, two_m32), vspan), vlo);
        __m256 redraw = _mm256_cmp_ps(r, vhi, _CMP_NLT_UQ);
        _mm256_storeu_ps(dst + j, doubled ? _mm256_mul_ps(two, r) : r);
        mask[j >> 6] |= (uint64_t)(unsigned)_mm256_movemask_ps(redraw) << (j & 63);
    }
    uniform_phase1_portable(key, j, m, dst, mask, lo, hi, span, doubled);
}

/* 1 when the AVX2 path is in use: the CPU has it and cf_bulk_simd allows it. */
static int simd_wanted = 1;

static int use_avx2(void)
{
    return simd_wanted && __builtin_cpu_supports("avx2");
}
#else
static int simd_wanted = 1;
#endif

int cf_bulk_simd(int enable)
{
    if (enable >= 0)
        simd_wanted = enable != 0;
#ifdef CF_HAVE_AVX2_PATH
    return use_avx2();
#else
    return 0;
#endif
}

/* Phase 1 for the m words key[0..m) (mask cleared here). */
static void normal_phase1(const uint32_t *key, size_t m, float *dst, uint64_t *mask, float mean,
                          float sigma)
{
    memset(mask, 0, BLOCK_MASK_WORDS * sizeof *mask);
#ifdef CF_HAVE_AVX2_PATH
    if (use_avx2()) {
        normal_phase1_avx2(key, m, dst, mask, mean, sigma);
        return;
    }
#endif
    normal_phase1_portable(key, 0, m, dst, mask, mean, sigma);
}

/*
 * Phase 2 over the engine's current block, from mt->pos up to word `end`
 * (exclusive): cand[p - first] is word p's candidate and bit p - first of
 * mask its flag.  Writes values to out from *done on, at most n in all, and
 * leaves mt->pos after the last word used.  Stops early when a slow path
 * twisted a new block.  out + *done never passes the candidate being read
 * (each value takes at least one word), so runs move down with memmove.
 */
static void normal_walk(cf_mt19937 *mt, const float *cand, const uint64_t *mask, size_t first,
                        size_t end, float *out, size_t *done, size_t n, float mean, float sigma)
{
    const unsigned block = mt->refills;
    const size_t m = end - first;
    size_t j = (size_t)mt->pos - first; /* next unused word, relative to first */
    for (;;) {
        size_t f = next_flagged(mask, j, m);
        if (f - j > n - *done)
            f = j + (n - *done);
        if (f > j) {
            memmove(out + *done, cand + j, (f - j) * sizeof *out);
            *done += f - j;
            j = f;
        }
        mt->pos = (int)(first + j);
        if (j >= m || *done >= n)
            return;
        /* The flagged word failed the fast test: finish its try here. */
        uint32_t u = cf_mt_temper(mt->key[mt->pos++]);
        out[(*done)++] = normal164_after_fast_fail(mt, u) * sigma + mean;
        if (mt->refills != block || *done >= n)
            return; /* mt->pos is already past the words the draw used */
        j = (size_t)mt->pos - first;
    }
}

/* One block's worth (at most) of the single-threaded bulk normal. */
static void normal_step(cf_mt19937 *mt, float *out, size_t *done, size_t n, float mean,
                        float sigma)
{
    uint64_t mask[BLOCK_MASK_WORDS];
    if (mt->pos >= CF_MT_N)
        cf_mt_refill(mt);
    const size_t start = (size_t)mt->pos;
    size_t m = CF_MT_N - start;
    if (m > n - *done)
        m = n - *done;
    /* Candidates straight into the output, where they land if all succeed. */
    float *cand = out + *done;
    normal_phase1(mt->key + start, m, cand, mask, mean, sigma);
    normal_walk(mt, cand, mask, start, start + m, out, done, n, mean, sigma);
}

void cf_fill_normal164(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma)
{
    size_t done = 0;
    while (done < n)
        normal_step(mt, out, &done, n, mean, sigma);
}

void cf_fill_uniform_real(cf_mt19937 *mt, float *out, size_t n, float lo, float hi, float span,
                          int doubled)
{
    uint64_t mask[BLOCK_MASK_WORDS];
    size_t done = 0;
    while (done < n) {
        if (mt->pos >= CF_MT_N)
            cf_mt_refill(mt);
        size_t m = (size_t)(CF_MT_N - mt->pos);
        if (m > n - done)
            m = n - done;
        float *cand = out + done;
        memset(mask, 0, sizeof mask);
#ifdef CF_HAVE_AVX2_PATH
        if (use_avx2())
            uniform_phase1_avx2(mt->key + mt->pos, m, cand, mask, lo, hi, span, doubled);
        else
#endif
            uniform_phase1_portable(mt->key + mt->pos, 0, m, cand, mask, lo, hi, span, doubled);
        /* All m words are consumed: a redrawn word just gives no value. */
        size_t j = 0;
        while (j < m) {
            size_t f = next_flagged(mask, j, m);
            if (f > j && cand + j != out + done)
                memmove(out + done, cand + j, (f - j) * sizeof *out);
            done += f - j;
            j = f + 1;
        }
        mt->pos += (int)m;
    }
}
