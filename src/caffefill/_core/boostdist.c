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

/* Inlined even where GCC would not: the bulk loops are compiled once per
 * instruction set, with everything they call in the hot path inside. */
#if defined(__GNUC__)
#define CF_INLINE static inline __attribute__((always_inline))
#define CF_UNLIKELY(c) __builtin_expect(!!(c), 0)
#else
#define CF_INLINE static inline
#define CF_UNLIKELY(c) (c)
#endif

/* 2^-24: scales the 24 high bits of a draw to [0, 1). */
#define TWO_POW_M24 (1.0f / 16777216.0f)

float cf_uniform01(cf_mt19937 *mt)
{
    for (;;) {
        float r = cf_uniform01_of(cf_mt_next(mt));
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
 * What a normal try's word `u` picks: box i = 0..127 from bits 1..7, the
 * sign from bit 0 (1: +), and x = the fraction (bits 8..31) of the box's
 * x[i].  The fast test and both slow paths below start from it.
 */
typedef struct {
    int i;
    float x;
} normal_pick;

CF_INLINE normal_pick pick_normal(uint32_t u)
{
    normal_pick p;
    p.i = (int)((u >> 1) & 0x7fU);
    p.x = draw_fraction(u) * normal_box[p.i][0];
    return p;
}

/* x * (the sign of word u): x * -1.0f or x * 1.0f as Boost multiplies
 * (the sign bit flipped when bit 0 of u is 0, +0 included). */
CF_INLINE float with_sign(float x, uint32_t u)
{
    uint32_t x_bits;
    memcpy(&x_bits, &x, sizeof x_bits);
    x_bits ^= (~u & 1U) << 31;
    memcpy(&x, &x_bits, sizeof x);
    return x;
}

/* The height in box i at the fraction y01 (0..1) between y[i] and y[i+1]. */
CF_INLINE float normal_height(int i, float y01)
{
    return normal_box[i][1] + y01 * normal_box[i][2];
}

/* What normal_bounds leaves to the curve itself. */
#define CF_CURVE_DECIDES 2

/*
 * The slow-path test of the given ziggurat for a try whose word `u` failed
 * the fast test in box i = 1..127 (not the tail), with the height fraction
 * y01 that the try drew next, up to the curve: returns 1 when the try
 * accepts, 0 when it rejects, CF_CURVE_DECIDES when the height must be
 * compared with the curve (normal_curve_accepts).  *value is set to the
 * signed unit value the try gives if it accepts.  Boost >= 1.64 first
 * compares the height with two straight bounds of the curve; 1.56 - 1.63
 * always compares with the curve.  Selects, not branches, so that the bulk
 * path can run it over many tries without mispredicted branches.
 */
CF_INLINE int normal_bounds(uint32_t u, float y01, float *value, cf_normal_kind kind)
{
    normal_pick p = pick_normal(u);
    int i = p.i;
    float x = p.x;
    *value = with_sign(x, u);
    if (kind == CF_NORMAL_ZIGGURAT_156)
        return CF_CURVE_DECIDES;
    float y = normal_height(i, y01);
    float xi = normal_box[i][0];
    float yi = normal_box[i][1];
    float chord = normal_box[i][3] * y01 - (xi - x);
    float tangent = y - (yi + (xi - x) * yi * xi);
    /* Where the curve is convex (x_i >= 1) the chord lies above it and the
     * tangent below; where it is concave, the other way round.  Under both:
     * accept; over the upper: reject; between (under the one that is upper
     * here, over the other): the curve. */
    int convex = xi >= 1.0f;
    int chord_under = chord < 0.0f, tangent_under = tangent < 0.0f;
    int between = (chord_under ^ tangent_under) & (chord_under ^ convex ^ 1);
    return (chord_under & tangent_under) | between << 1;
}

/* The curve's own test for the try of word u with height fraction y01
 * (both ziggurats): y < exp(-x*x/2), in Boost's float operations. */
CF_INLINE int normal_curve_accepts(uint32_t u, float y01)
{
    normal_pick p = pick_normal(u);
    return normal_height(p.i, y01) < expf(-p.x * p.x / 2.0f);
}

/* The normal's tail beyond x[1] in 1.56 - 1.63 (defined below). */
static float normal_tail156(cf_mt19937 *mt);

/*
 * The rest of a try of the given ziggurat whose word `u` (already taken
 * from the stream) failed the fast test: the tail for box 0, else the slow
 * path.  Returns 1 and the value in *value when the try accepts, 0 when it
 * rejects.
 */
static inline int normal_slow(cf_mt19937 *mt, uint32_t u, float *value, cf_normal_kind kind)
{
    if (((u >> 1) & 0x7fU) == 0) {
        *value = with_sign(kind == CF_NORMAL_ZIGGURAT_156 ? normal_tail156(mt) : normal_tail164(mt),
                           u);
        return 1;
    }
    float y01 = cf_uniform01(mt);
    int verdict = normal_bounds(u, y01, value, kind);
    return verdict == CF_CURVE_DECIDES ? normal_curve_accepts(u, y01) : verdict;
}

/* One complete try on word u: the fast test (the same for both
 * ziggurats), then the slow path if needed. */
static inline int normal_try(cf_mt19937 *mt, uint32_t u, float *value, cf_normal_kind kind)
{
    normal_pick p = pick_normal(u);
    /* Boost compares the float x against the double table entry. */
    if ((double)p.x < normal_x[p.i + 1]) {
        *value = with_sign(p.x, u);
        return 1;
    }
    return normal_slow(mt, u, value, kind);
}

float cf_normal_ziggurat164(cf_mt19937 *mt)
{
    float value;
    while (!normal_try(mt, cf_mt_next(mt), &value, CF_NORMAL_ZIGGURAT_164))
        ;
    return value;
}

/* A unit normal whose first word `u` is known to fail the fast test. */
CF_INLINE float normal_after_fast_fail(cf_mt19937 *mt, uint32_t u, cf_normal_kind kind)
{
    float value;
    if (normal_slow(mt, u, &value, kind))
        return value;
    while (!normal_try(mt, cf_mt_next(mt), &value, kind))
        ;
    return value;
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

/* Boost 1.56 - 1.63: the fast path is the same as 1.64's (same word split,
 * same tables); the slow path tests y against exp(-x*x/2) directly and the
 * tail draws its exponentials as -log(1 - u). */
float cf_normal_ziggurat156(cf_mt19937 *mt)
{
    float value;
    while (!normal_try(mt, cf_mt_next(mt), &value, CF_NORMAL_ZIGGURAT_156))
        ;
    return value;
}

/*
 * Bulk fills, one engine block (at most 624 words) at a time.
 *
 * Most words end a draw on their own: about 97.2 % of normal tries take the
 * fast path, and a uniform_real draw is redrawn only when it rounds up to
 * the upper bound.  What word p gives if it ends the draw on the fast path
 * (its candidate) depends on word p alone, and so does what a normal try
 * starting at p gives on the slow path when it takes word p + 1 as its
 * height.  So, for a block:
 *
 *   phase 1  for every word of the block (from pos on, at most as many as
 *            values still wanted) compute its candidate and set a bit in
 *            `fail` for each word that fails the fast test.  No branches, no
 *            order: this part is vectorised (AVX2 when the CPU has it).
 *   phase 2  (normal) for every failed word, run the slow-path test with the
 *            next word as its height; the value replaces the candidate and a
 *            bit in `accept` says whether the try gives it.  Tries that need
 *            more (the tail, a height that must be redrawn, a height past
 *            the words of this block) get a bit in `hard` instead.
 *   phase 3  walk the failed words in stream order: one that starts a try
 *            takes the next word as its height, so that word gives no value;
 *            the result is a `keep` bit per word, 64 words at a time, and
 *            the kept candidates are copied, in order, to the output.  At a
 *            hard try the scalar
 *            code runs from that word (it reads the word again, then the
 *            extra words it needs) and the walk resumes at the first word
 *            left unconsumed.
 *
 * The words are read in place from the engine block and consumed by moving
 * mt->pos, so the engine state is exact at every point and unconsumed words
 * stay for the next call.  A hard try that runs past the block end twists
 * a new block (mt->refills changes); the rest of the old block's candidates
 * are then void and phase 1 starts again on the new block.
 */
#define BLOCK_MASK_WORDS ((CF_MT_N + 63) / 64)

static inline size_t lowest_bit(uint64_t w)
{
#if defined(__GNUC__)
    return (size_t)__builtin_ctzll(w);
#else
    size_t j = 0;
    while (!(w & 1U)) {
        w >>= 1;
        j++;
    }
    return j;
#endif
}

/* The first set bit at or after j, or m when there is none before m (or j
 * itself when j >= m already). */
static size_t next_set(const uint64_t *mask, size_t j, size_t m)
{
    if (j >= m)
        return j;
    while (j < m) {
        uint64_t w = mask[j >> 6] >> (j & 63);
        if (w) {
            j += lowest_bit(w);
            return j < m ? j : m;
        }
        j = (j | 63) + 1;
    }
    return m;
}

/* The normal fast path for one tempered word: value = (+-x) * sigma + mean,
 * *slow set when the try fails.  Same arithmetic as cf_normal_ziggurat164
 * (see normal_fast_limit in ziggurat_tables.h for why): x = u24 * fx with
 * fx = float(x_i) * 2^-24 (exact), and the fast test is u24 < limit_i. */
static inline float normal_candidate(uint32_t u, float mean, float sigma, int *slow)
{
    int i = (int)((u >> 1) & 0x7fU);
    uint32_t u24 = u >> 8;
    float x = (float)u24 * (normal_box[i][0] * TWO_POW_M24);
    *slow = u24 >= normal_fast_limit[i];
    return with_sign(x, u) * sigma + mean;
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

/* Entries past a block that vector code may read (whole vectors of 16). */
#define BLOCK_SPARE 16

/* One block of the bulk normal: the words, their candidates and bits. */
typedef struct {
    uint32_t tu[CF_MT_N + BLOCK_SPARE]; /* tempered words */
    float cand[CF_MT_N + BLOCK_SPARE];  /* candidate (fast path) or slow-path value */
    uint64_t fail[BLOCK_MASK_WORDS], accept[BLOCK_MASK_WORDS], hard[BLOCK_MASK_WORDS];
} normal_block;

/* Phase 1 for words key[j], first <= j < m. */
static void normal_phase1_portable(const uint32_t *key, size_t first, size_t m, normal_block *b,
                                   float mean, float sigma)
{
    for (size_t j = first; j < m; j++) {
        int slow;
        b->tu[j] = cf_mt_temper(key[j]);
        b->cand[j] = normal_candidate(b->tu[j], mean, sigma, &slow);
        b->fail[j >> 6] |= (uint64_t)slow << (j & 63);
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

/* data[j] *= bernoulli(p) for words key[j], first <= j < m (threshold =
 * p * 2^32 as Boost computes it). */
static void bernoulli_portable(const uint32_t *key, size_t first, size_t m, float *data,
                               float threshold)
{
    for (size_t j = first; j < m; j++)
        data[j] *= (float)((float)cf_mt_temper(key[j]) <= threshold);
}

/* Phase 3's copy for one mask word: the candidates cand[j] whose bit j is
 * set in keep, in order, to out[d...]; returns the new d. */
static inline size_t pack_word_portable(const float *cand, uint64_t keep, float *out, size_t d)
{
    for (; keep; keep &= keep - 1)
        out[d++] = cand[lowest_bit(keep)];
    return d;
}

#ifdef CF_X86_SIMD

/* pack_lut[k]: the positions of the set bits of the byte k, lowest first,
 * one per byte (the permutation that moves kept lanes to the front). */
static uint64_t pack_lut[256];

/* fast_pair[b] for the low byte b of a word (box b >> 1, sign bit b & 1):
 * the float with_sign(fx, b) in the low half, normal_fast_limit - 1 as a
 * signed int in the high half, so that one 8-byte load gives a lane both
 * what its candidate is multiplied by and what its u24 must not exceed. */
static uint64_t fast_pair[256];

__attribute__((constructor)) static void build_luts(void)
{
    for (unsigned k = 0; k < 256; k++) {
        uint64_t lanes = 0;
        unsigned r = 0;
        for (unsigned lane = 0; lane < 8; lane++)
            if (k >> lane & 1U)
                lanes |= (uint64_t)lane << (8 * r++);
        pack_lut[k] = lanes;
        float fx = with_sign(normal_box[k >> 1][0] * TWO_POW_M24, k);
        uint32_t fx_bits, last = normal_fast_limit[k >> 1] - 1U; /* 0 - 1: -1, all fail */
        memcpy(&fx_bits, &fx, sizeof fx_bits);
        fast_pair[k] = (uint64_t)last << 32 | fx_bits;
    }
}

/* Eight words of the block tempered at once (cf_mt_temper). */
__attribute__((target("avx2"))) static inline __m256i temper8(const uint32_t *key)
{
    return cf_mt_temper8(_mm256_loadu_si256((const __m256i *)key));
}

/*
 * normal_candidate for the eight tempered words of b->tu[j..j+7]: the
 * candidates to b->cand, the fail bits as the result.  Every step is the
 * same IEEE single operation as in normal_candidate (u >> 8 < 2^24
 * converts exactly as a signed int; the sign is in the signed fx, and
 * x * -fx is -(x * fx) exactly; separate multiply and add, no FMA).  Each
 * lane's fast_pair is fetched with one plain 8-byte load indexed by the
 * word's low byte, read back from b->tu: on the AMD cores this was measured
 * on, that beats vgatherdps and vpgatherdq.  The pairs of words 0-1 and
 * 4-5 go to the two halves of p0, those of 2-3 and 6-7 to p1, so that
 * splitting each half into its even (fx) and odd (limit) words leaves the
 * lanes in word order.
 */
__attribute__((target("avx2"))) static inline unsigned normal_group_avx2(normal_block *b,
                                                                         size_t j, __m256 mean,
                                                                         __m256 sigma)
{
    const unsigned char *low = (const unsigned char *)(b->tu + j); /* little-endian */
    __m128i q[4];
    for (int k = 0; k < 4; k++) {
        const size_t first = (size_t)(k >> 1 | (k & 1) << 1) * 2; /* words 0, 4, 2, 6 */
        q[k] = _mm_set_epi64x((long long)fast_pair[low[4 * first + 4]],
                              (long long)fast_pair[low[4 * first]]);
    }
    __m256 p0 = _mm256_castsi256_ps(_mm256_set_m128i(q[1], q[0]));
    __m256 p1 = _mm256_castsi256_ps(_mm256_set_m128i(q[3], q[2]));
    __m256 fx = _mm256_shuffle_ps(p0, p1, 0x88);
    __m256i last = _mm256_castps_si256(_mm256_shuffle_ps(p0, p1, 0xdd));
    __m256i u24 = _mm256_srli_epi32(_mm256_loadu_si256((const __m256i *)(b->tu + j)), 8);
    __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(u24), fx);
    __m256i slow = _mm256_cmpgt_epi32(u24, last);
    _mm256_storeu_ps(b->cand + j, _mm256_add_ps(_mm256_mul_ps(x, sigma), mean));
    return (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(slow));
}

/* normal_phase1_portable eight lanes at a time: a first pass tempers the
 * words (unless `fresh`: the twist that made the block already wrote them
 * to b->tu), the second runs normal_group_avx2 (that beats doing both in
 * one pass), two groups per turn.  Each group's eight fail bits are one
 * byte of b->fail (x86 is little-endian), stored as they are: no shift, no
 * or, no chain from group to group. */
__attribute__((target("avx2"))) static void normal_phase1_avx2(const uint32_t *key, size_t m,
                                                                normal_block *b, float mean,
                                                                float sigma, int fresh)
{
    const __m256 vmean = _mm256_set1_ps(mean), vsigma = _mm256_set1_ps(sigma);
    unsigned char *fail_bytes = (unsigned char *)b->fail;
    size_t m8 = m & ~(size_t)7, j;
    for (j = 0; j < m8 && !fresh; j += 8)
        _mm256_storeu_si256((__m256i *)(b->tu + j), temper8(key + j));
    for (j = 0; j + 16 <= m8; j += 16) {
        fail_bytes[j >> 3] = (unsigned char)normal_group_avx2(b, j, vmean, vsigma);
        fail_bytes[(j >> 3) + 1] = (unsigned char)normal_group_avx2(b, j + 8, vmean, vsigma);
    }
    if (j < m8) {
        fail_bytes[j >> 3] = (unsigned char)normal_group_avx2(b, j, vmean, vsigma);
        j += 8;
    }
    normal_phase1_portable(key, j, m, b, mean, sigma);
}

/* One group of pack_word_avx2: the kept lanes of the eight candidates at
 * cand, by the byte k of keep, to out[d...]; returns the new d. */
__attribute__((target("avx2,popcnt"), always_inline)) static inline size_t
pack_group_avx2(const float *cand, unsigned k, float *out, size_t d)
{
    __m256i lanes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)&pack_lut[k]));
    _mm256_storeu_ps(out + d, _mm256_permutevar8x32_ps(_mm256_loadu_ps(cand), lanes));
    return d + (size_t)__builtin_popcount(k);
}

/* pack_word_portable eight words at a time, for the groups [g, end) of the
 * mask word (multiples of 8, at most 64): each group's kept lanes are moved
 * to the front with one permute (pack_lut) and stored whole; the next
 * group's store starts right after the kept ones.  So each store writes 8
 * values: the caller makes sure they fit in out.  A whole mask word (most
 * of them) is unrolled. */
__attribute__((target("avx2,popcnt"))) static inline size_t
pack_word_avx2(const float *cand, uint64_t keep, size_t g, size_t end, float *out, size_t d)
{
    if (g == 0 && end == 64) {
        for (int k = 0; k < 64; k += 8)
            d = pack_group_avx2(cand + k, (unsigned)(keep >> k) & 0xffU, out, d);
        return d;
    }
    for (keep >>= g; g < end; g += 8, keep >>= 8)
        d = pack_group_avx2(cand + g, (unsigned)keep & 0xffU, out, d);
    return d;
}

/*
 * AVX-512 (F): phase 1 and phase 3 sixteen words at a time.  The box's
 * constants come from registers, not memory: the 128 boxes' -fx (fx =
 * float(x_i) * 2^-24, negated so that flipping the sign bit by bit 0 of the
 * word gives with_sign) and their fast limits less one are 8 vectors each,
 * and a box is picked with four two-vector permutes (32 boxes each, by the
 * low 5 bits of i) and two masked moves (by bits 5 and 6).  The pack is a
 * compress of each 16 kept lanes to the front.  Same IEEE single operations
 * as normal_candidate.
 */
static float fast_neg_fx[128];
static int32_t fast_last[128];

/* The 128 boxes' -fx and last limits, put together once (the tables above). */
__attribute__((constructor)) static void build_box_vectors(void)
{
    for (unsigned i = 0; i < 128; i++) {
        fast_neg_fx[i] = -(normal_box[i][0] * TWO_POW_M24);
        fast_last[i] = (int32_t)(normal_fast_limit[i] - 1U); /* 0 - 1: -1, all fail */
    }
}

/* Bits 16g .. 16g + 15 of a mask of 64-bit words set to `bits` (x86 is
 * little-endian), by a 16-bit store through memcpy: the words are read as
 * uint64_t, so a uint16_t pointer into them would break aliasing rules. */
static inline void put_bits16(uint64_t *mask, size_t g, unsigned bits)
{
    const uint16_t half = (uint16_t)bits;
    memcpy((unsigned char *)mask + 2 * g, &half, sizeof half);
}

typedef struct {
    __m512i fx[8]; /* the floats' bits */
    __m512i last[8];
} box_vectors;

/* Entry i (0..127; higher bits ignored) of the 128 in t[0..7]; b5 and b6
 * are bits 5 and 6 of i. */
__attribute__((target("avx512f"), always_inline)) static inline __m512i
pick128(const __m512i *t, __m512i i, __mmask16 b5, __mmask16 b6)
{
    const __m512i lo = _mm512_mask_mov_epi32(_mm512_permutex2var_epi32(t[0], i, t[1]), b5,
                                             _mm512_permutex2var_epi32(t[2], i, t[3]));
    const __m512i hi = _mm512_mask_mov_epi32(_mm512_permutex2var_epi32(t[4], i, t[5]), b5,
                                             _mm512_permutex2var_epi32(t[6], i, t[7]));
    return _mm512_mask_mov_epi32(lo, b6, hi);
}

/* normal_candidate for the sixteen tempered words of b->tu[j..j+15]: the
 * candidates to b->cand, the fail bits as the result. */
__attribute__((target("avx512f"), always_inline)) static inline unsigned
normal_group_avx512(normal_block *b, size_t j, const box_vectors *v, __m512 mean, __m512 sigma)
{
    const __m512i u = _mm512_loadu_si512(b->tu + j);
    const __m512i i = _mm512_srli_epi32(u, 1);
    const __mmask16 b5 = _mm512_test_epi32_mask(i, _mm512_set1_epi32(32));
    const __mmask16 b6 = _mm512_test_epi32_mask(i, _mm512_set1_epi32(64));
    const __m512 fx = _mm512_castsi512_ps(pick128(v->fx, i, b5, b6));
    const __m512i last = pick128(v->last, i, b5, b6);
    const __m512i u24 = _mm512_srli_epi32(u, 8);
    const __m512 x = _mm512_castsi512_ps(_mm512_xor_si512(
        _mm512_castps_si512(_mm512_mul_ps(_mm512_cvtepi32_ps(u24), fx)), _mm512_slli_epi32(u, 31)));
    _mm512_storeu_ps(b->cand + j, _mm512_add_ps(_mm512_mul_ps(x, sigma), mean));
    return (unsigned)_mm512_cmpgt_epi32_mask(u24, last);
}

/* normal_phase1_avx2 sixteen lanes at a time; each group's fail bits are
 * two bytes of b->fail. */
__attribute__((target("avx512f"))) static void normal_phase1_avx512(const uint32_t *key, size_t m,
                                                                    normal_block *b, float mean,
                                                                    float sigma, int fresh)
{
    box_vectors v;
    for (int k = 0; k < 8; k++) {
        v.fx[k] = _mm512_loadu_si512(fast_neg_fx + 16 * k);
        v.last[k] = _mm512_loadu_si512(fast_last + 16 * k);
    }
    const __m512 vmean = _mm512_set1_ps(mean), vsigma = _mm512_set1_ps(sigma);
    size_t m16 = m & ~(size_t)15, j;
    for (j = 0; j < m16 && !fresh; j += 16)
        _mm512_storeu_si512(b->tu + j, cf_mt_temper16(_mm512_loadu_si512(key + j)));
    for (j = 0; j < m16; j += 16)
        put_bits16(b->fail, j >> 4, normal_group_avx512(b, j, &v, vmean, vsigma));
    normal_phase1_portable(key, j, m, b, mean, sigma);
}

/* pack_word_avx2 sixteen words at a time: each group's kept lanes are
 * compressed to the front and stored whole (16 values). */
__attribute__((target("avx512f,popcnt"))) static inline size_t
pack_word_avx512(const float *cand, uint64_t keep, size_t g, size_t end, float *out, size_t d)
{
    for (keep >>= g; g < end; g += 16, keep >>= 16) {
        const __mmask16 k = (__mmask16)(keep & 0xffffU);
        _mm512_storeu_ps(out + d, _mm512_maskz_compress_ps(k, _mm512_loadu_ps(cand + g)));
        d += (size_t)__builtin_popcount((unsigned)k);
    }
    return d;
}

/*
 * (float)u of eight 32-bit unsigned words: float(u >> 16) * 65536 and
 * float(u & 0xffff) are exact, so their sum is u rounded once, as the
 * scalar conversion rounds it (AVX2 converts signed words only).
 */
__attribute__((target("avx2"))) static inline __m256 u32_to_float8(__m256i u)
{
    return _mm256_add_ps(
        _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(u, 16)), _mm256_set1_ps(65536.0f)),
        _mm256_cvtepi32_ps(_mm256_and_si256(u, _mm256_set1_epi32(0xffff))));
}

/*
 * uniform_phase1_portable eight lanes at a time ((float)u by
 * u32_to_float8); the division by 2^32 is an exact power-of-two scaling,
 * done as a multiply.
 */
__attribute__((target("avx2"))) static void uniform_phase1_avx2(const uint32_t *key, size_t m,
                                                                 float *dst, uint64_t *mask,
                                                                 float lo, float hi, float span,
                                                                 int doubled)
{
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi),
                 vspan = _mm256_set1_ps(span),
                 two_m32 = _mm256_set1_ps(1.0f / 4294967296.0f), two = _mm256_set1_ps(2.0f);
    const size_t m8 = m & ~(size_t)7;
    size_t j = 0;
    while (j < m8) { /* 64 words' bits in a register, as in normal_phase1_avx2 */
        uint64_t redraws = 0;
        const size_t word = j >> 6, end = (j | 63) + 1 < m8 ? (j | 63) + 1 : m8;
        for (; j < end; j += 8) {
            __m256 f = u32_to_float8(temper8(key + j));
            __m256 r = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(f, two_m32), vspan), vlo);
            __m256 redraw = _mm256_cmp_ps(r, vhi, _CMP_NLT_UQ);
            _mm256_storeu_ps(dst + j, doubled ? _mm256_mul_ps(two, r) : r);
            redraws |= (uint64_t)(unsigned)_mm256_movemask_ps(redraw) << (j & 63);
        }
        mask[word] |= redraws;
    }
    uniform_phase1_portable(key, j, m, dst, mask, lo, hi, span, doubled);
}

/* uniform_phase1_avx2 sixteen words at a time (AVX-512 F converts an
 * unsigned word to float itself, rounded as the scalar cast); each group's
 * redraw bits are two bytes of mask. */
__attribute__((target("avx512f"))) static void uniform_phase1_avx512(const uint32_t *key, size_t m,
                                                                     float *dst, uint64_t *mask,
                                                                     float lo, float hi,
                                                                     float span, int doubled)
{
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi),
                 vspan = _mm512_set1_ps(span),
                 two_m32 = _mm512_set1_ps(1.0f / 4294967296.0f), two = _mm512_set1_ps(2.0f);
    const size_t m16 = m & ~(size_t)15;
    size_t j = 0;
    for (; j < m16; j += 16) {
        const __m512 f = _mm512_cvtepu32_ps(cf_mt_temper16(_mm512_loadu_si512(key + j)));
        const __m512 r = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(f, two_m32), vspan), vlo);
        _mm512_storeu_ps(dst + j, doubled ? _mm512_mul_ps(two, r) : r);
        put_bits16(mask, j >> 4, _mm512_cmp_ps_mask(r, vhi, _CMP_NLT_UQ));
    }
    uniform_phase1_portable(key, j, m, dst, mask, lo, hi, span, doubled);
}

/* bernoulli_portable eight lanes at a time ((float)u by u32_to_float8;
 * the mask multiplies by 1.0f or 0.0f). */
__attribute__((target("avx2"))) static void bernoulli_avx2(const uint32_t *key, size_t m,
                                                            float *data, float threshold)
{
    const __m256 one = _mm256_set1_ps(1.0f), limit = _mm256_set1_ps(threshold);
    size_t j = 0;
    for (; j + 8 <= m; j += 8) {
        __m256 f = u32_to_float8(temper8(key + j));
        __m256 bit = _mm256_and_ps(_mm256_cmp_ps(f, limit, _CMP_LE_OQ), one);
        _mm256_storeu_ps(data + j, _mm256_mul_ps(_mm256_loadu_ps(data + j), bit));
    }
    bernoulli_portable(key, j, m, data, threshold);
}

/*
 * Phase 2's tests (normal_bounds) for eight failed words at a time, the
 * words at the positions failed[0..7]: each word is read with its next word
 * (one 8-byte load) and its box's four constants (one 16-byte load), and
 * the lanes are put together with shuffles (gathers were slower).  Every
 * step is the same IEEE single operation as in normal_bounds (separate
 * multiplies and adds, no FMA; the height's (float)u by u32_to_float8).
 * The verdicts are masks, bit k for the word at failed[k]: accepts, the
 * curve decides, and hard (the tail, or a height that must be redrawn).
 */
typedef struct {
    unsigned accept, curve, hard;
} verdicts8;

__attribute__((target("avx2"))) static inline verdicts8
normal_bounds8_avx2(const normal_block *b, const uint16_t *failed, cf_normal_kind kind)
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    long long pair[8];
    __m128 row[8];
    for (int k = 0; k < 8; k++) {
        uint64_t both; /* the word (low half) and the next word */
        memcpy(&both, b->tu + failed[k], sizeof both);
        pair[k] = (long long)both;
        row[k] = _mm_loadu_ps(normal_box[(uint32_t)both >> 1 & 0x7fU]);
    }
    /* Pairs 0, 1, 4, 5 and 2, 3, 6, 7: their even words in lane order are
     * the words, their odd words the next words. */
    const __m256 p0 = _mm256_castsi256_ps(_mm256_setr_epi64x(pair[0], pair[1], pair[4], pair[5]));
    const __m256 p1 = _mm256_castsi256_ps(_mm256_setr_epi64x(pair[2], pair[3], pair[6], pair[7]));
    const __m256i u = _mm256_castps_si256(_mm256_shuffle_ps(p0, p1, 0x88));
    const __m256i next = _mm256_castps_si256(_mm256_shuffle_ps(p0, p1, 0xdd));
    const __m256 y01 =
        _mm256_mul_ps(u32_to_float8(next), _mm256_set1_ps(1.0f / ((float)4294967295U + 1.0f)));
    verdicts8 v;
    v.hard = (unsigned)_mm256_movemask_ps(_mm256_or_ps(
        _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0xfe)),
                                               _mm256_setzero_si256())),
        _mm256_cmp_ps(y01, one, _CMP_NLT_UQ)));
    if (kind == CF_NORMAL_ZIGGURAT_156) {
        v.accept = 0;
        v.curve = 0xffU;
        return v;
    }
    /* The box rows {x_i, y_i, y_i+1 - y_i, x_i - x_i+1} turned into columns. */
    const __m256 r04 = _mm256_set_m128(row[4], row[0]), r15 = _mm256_set_m128(row[5], row[1]);
    const __m256 r26 = _mm256_set_m128(row[6], row[2]), r37 = _mm256_set_m128(row[7], row[3]);
    const __m256 lo01 = _mm256_unpacklo_ps(r04, r15), lo23 = _mm256_unpacklo_ps(r26, r37);
    const __m256 hi01 = _mm256_unpackhi_ps(r04, r15), hi23 = _mm256_unpackhi_ps(r26, r37);
    const __m256 xi = _mm256_shuffle_ps(lo01, lo23, 0x44), yi = _mm256_shuffle_ps(lo01, lo23, 0xee);
    const __m256 dy = _mm256_shuffle_ps(hi01, hi23, 0x44);
    const __m256 width = _mm256_shuffle_ps(hi01, hi23, 0xee);
    const __m256 x = _mm256_mul_ps(
        _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(u, 8)), _mm256_set1_ps(TWO_POW_M24)),
        xi);
    const __m256 y = _mm256_add_ps(yi, _mm256_mul_ps(y01, dy));
    const __m256 gap = _mm256_sub_ps(xi, x);
    const __m256 chord = _mm256_sub_ps(_mm256_mul_ps(width, y01), gap);
    const __m256 tangent =
        _mm256_sub_ps(y, _mm256_add_ps(yi, _mm256_mul_ps(_mm256_mul_ps(gap, yi), xi)));
    const unsigned chord_under =
        (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(chord, zero, _CMP_LT_OQ));
    const unsigned tangent_under =
        (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(tangent, zero, _CMP_LT_OQ));
    const unsigned convex = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(xi, one, _CMP_GE_OQ));
    v.accept = chord_under & tangent_under;
    v.curve = (chord_under ^ tangent_under) & (chord_under ^ convex ^ 0xffU);
    return v;
}

/* With AVX2 (or more): cf_simd_level in mt19937.h picks the vector code. */
static int use_avx2(void)
{
    return cf_simd_level(-1) >= 1;
}
#endif

/*
 * The failed words of the block, in order, as positions: list[0..count).
 * Up to four per mask word are taken without branches (ctz of an empty
 * rest only writes a position past the count), the rare rest in a loop,
 * so that the number of fails in a word, which varies, mispredicts only
 * when it is above four.  `list` has room for CF_MT_N + 4 positions.
 */
CF_INLINE size_t failed_words(const normal_block *b, uint16_t *list)
{
    size_t count = 0;
    for (size_t w = 0; w < BLOCK_MASK_WORDS; w++) {
        uint64_t bits = b->fail[w];
        for (int r = 0; r < 4; r++) {
            list[count] = (uint16_t)(w * 64 + lowest_bit(bits | (uint64_t)1 << 63));
            count += bits != 0;
            bits &= bits - 1;
        }
        for (; bits; bits &= bits - 1)
            list[count++] = (uint16_t)(w * 64 + lowest_bit(bits));
    }
    return count;
}

#ifdef CF_X86_SIMD
/* normal_phase2's loop over the failed words failed[0..fails) (with room
 * for 8 more) with AVX2: eight tests at a time, the lanes past the last
 * failed word testing word 0 and left unused.  Lists the words the curve
 * decides in curve; returns how many. */
__attribute__((target("avx2"))) static size_t normal_phase2_avx2(normal_block *b,
                                                                 uint16_t *failed, size_t fails,
                                                                 cf_normal_kind kind,
                                                                 uint16_t *curve)
{
    size_t curves = 0;
    memset(failed + fails, 0, 8 * sizeof *failed);
    for (size_t f = 0; f < fails; f += 8) {
        const verdicts8 v = normal_bounds8_avx2(b, failed + f, kind);
        const size_t lanes = fails - f < 8 ? fails - f : 8;
        for (size_t k = 0; k < lanes; k++) {
            const size_t j = failed[f + k];
            curve[curves] = (uint16_t)j;
            curves += v.curve >> k & 1U;
            b->accept[j >> 6] |= (uint64_t)(v.accept >> k & 1U) << (j & 63);
            b->hard[j >> 6] |= (uint64_t)(v.hard >> k & 1U) << (j & 63);
        }
    }
    return curves;
}
#endif

/* Phase 2 for the m words of the block: the slow-path test of each failed
 * word as the start of a try, with the next word as its height.  The value
 * such a try gives when it accepts is the word's candidate from phase 1
 * (the same x, sign, sigma and mean), so only the verdict is stored.  A try
 * in box 0 (the tail), or whose height must be redrawn or lies past the
 * block (b->tu[m] is set so that it must be redrawn), is hard: about 1 in 50
 * failed words, so that test is a branch.  The tests the curve decides
 * (about 1 in 12 with Boost >= 1.64, all with 1.56 - 1.63) are listed and
 * taken after the others, so that the loop over the failed words has no
 * other branch but its own.  With AVX2 (`simd`) the tests are taken eight
 * at a time by normal_phase2_avx2 (about 3 % less time for the whole fill). */
CF_INLINE void normal_phase2(normal_block *b, cf_normal_kind kind, int simd)
{
    uint16_t failed[CF_MT_N + 8], curve[CF_MT_N];
    const size_t fails = failed_words(b, failed);
    size_t curves = 0;
    memset(b->accept, 0, sizeof b->accept);
    memset(b->hard, 0, sizeof b->hard);
    (void)simd;
#ifdef CF_X86_SIMD
    if (simd)
        curves = normal_phase2_avx2(b, failed, fails, kind, curve);
    else
#endif
    {
        for (size_t f = 0; f < fails; f++) {
            const size_t j = failed[f];
            const uint32_t u = b->tu[j];
            const float y01 = cf_uniform01_of(b->tu[j + 1]);
            float value;
            int verdict = normal_bounds(u, y01, &value, kind);
            curve[curves] = (uint16_t)j;
            curves += (size_t)verdict >> 1;
            b->accept[j >> 6] |= (uint64_t)(verdict & 1) << (j & 63);
            if (CF_UNLIKELY((u & 0xfeU) == 0 || !(y01 < 1.0f)))
                b->hard[j >> 6] |= (uint64_t)1 << (j & 63);
        }
    }
    for (size_t c = 0; c < curves; c++) {
        size_t j = curve[c];
        b->accept[j >> 6] |= (uint64_t)normal_curve_accepts(b->tu[j], cf_uniform01_of(b->tu[j + 1]))
                             << (j & 63);
    }
}

/*
 * Phase 3 over words [from, m), 64 at a time without a branch per word:
 * copies the values the words give, in order, to out[*done...] (advancing
 * *done) and returns cut, the first hard try (m when there is none): the
 * values of the words before it are copied.
 *
 * A failed word that starts a try takes the next word as its height, so in
 * a run of consecutive failed words the tries start at the run's first
 * word, the third, and so on; the others are heights (the run's first word
 * always starts a try: its predecessor either did not fail or was itself a
 * height).  Adding the run-start bits of the runs that start on an even bit
 * to the failed bits clears exactly those runs, which tells each run's
 * parity.  A try started at bit 63 carries its height into the next word.
 * A word gives a value unless it is a height or starts a rejected try.
 */
CF_INLINE size_t normal_walk(const normal_block *b, size_t from, size_t m, float *out,
                             size_t *done, size_t n, int simd)
{
    const uint64_t even = 0x5555555555555555U;
    const size_t last = (m - 1) >> 6;
    /* With vector code, whole stores of 8 or 16 values while they all fit in out. */
    const int whole = simd && n - *done >= m - from + BLOCK_SPARE;
    size_t d = *done;
    uint64_t carry = 0; /* bit 0 of this word is the height of the last word's bit 63 */
    (void)whole;
    for (size_t w = from >> 6; w <= last; w++) {
        uint64_t live = ~(uint64_t)0;
        if (w == from >> 6)
            live <<= from & 63;
        if (w == last && (m & 63))
            live &= ((uint64_t)1 << (m & 63)) - 1;
        uint64_t f = b->fail[w] & live & ~carry;
        uint64_t run_starts = f & ~(f << 1);
        uint64_t even_runs = f & ~(f + (run_starts & even));
        uint64_t starts = (even_runs & even) | (f & ~even_runs & ~even);
        uint64_t heights = (starts << 1) | carry;
        uint64_t keep = live & ~heights & ~(starts & ~b->accept[w]);
        uint64_t hard = starts & b->hard[w];
        size_t end = m - w * 64; /* the word's bits [0, end) are live or before from */
        if (hard) {
            end = lowest_bit(hard);
            keep &= ((uint64_t)1 << end) - 1;
        }
#ifdef CF_X86_SIMD
        if (whole && simd >= 2)
            d = pack_word_avx512(b->cand + w * 64, keep,
                                 w == from >> 6 ? (from & 63) & ~(size_t)15 : 0,
                                 end < 64 ? (end + 15) & ~(size_t)15 : 64, out, d);
        else if (whole)
            d = pack_word_avx2(b->cand + w * 64, keep, w == from >> 6 ? (from & 63) & ~(size_t)7 : 0,
                               end < 64 ? (end + 7) & ~(size_t)7 : 64, out, d);
        else
#endif
            d = pack_word_portable(b->cand + w * 64, keep, out, d);
        if (hard) {
            *done = d;
            return w * 64 + end;
        }
        carry = starts >> 63;
    }
    *done = d;
    return m;
}

/* The bulk normal over whole blocks; `simd` selects the vector phases (1
 * AVX2, 2 AVX-512 for phases 1 and 3 and the twist; 0 where there are
 * none).  Inlined into an AVX2 function, an AVX-512 one and a portable one
 * below, so that with vector code the whole loop, scalar slow path and its
 * expf included, is compiled as AVX code: calling out to the non-VEX
 * compiled loop between the AVX phases made each expf call in it cost
 * about as much as 150 values. */
CF_INLINE void normal_fill_loop(cf_mt19937 *mt, float *out, size_t n, float mean,
                                    float sigma, cf_normal_kind kind, int simd)
{
    normal_block b;
    size_t done = 0;
    (void)simd;
    while (done < n) {
        int fresh = 0; /* b.tu holds the block's words tempered by the twist */
        if (mt->pos >= CF_MT_N) {
#ifdef CF_X86_SIMD
            if (simd) {
                cf_mt_refill_tempered(mt, b.tu); /* sixteen words at a time at level 2 */
                fresh = 1;
            } else
#endif
                cf_mt_refill(mt);
        }
        (void)fresh;
        const unsigned block = mt->refills;
        const size_t start = (size_t)mt->pos;
        size_t m = CF_MT_N - start;
        if (m > n - done)
            m = n - done; /* each value takes at least one word */
        memset(b.fail, 0, sizeof b.fail);
        memset(b.cand + m, 0, BLOCK_SPARE * sizeof *b.cand); /* read by whole vectors, never kept */
        b.tu[m] = 0xffffffffU; /* a height past the block: uniform01 gives 1, redraw */
#ifdef CF_X86_SIMD
        if (simd >= 2)
            normal_phase1_avx512(mt->key + start, m, &b, mean, sigma, fresh);
        else if (simd)
            normal_phase1_avx2(mt->key + start, m, &b, mean, sigma, fresh);
        else
#endif
            normal_phase1_portable(mt->key + start, 0, m, &b, mean, sigma);
        normal_phase2(&b, kind, simd);
        size_t from = 0;
        for (;;) {
            size_t cut = normal_walk(&b, from, m, out, &done, n, simd);
            mt->pos = (int)(start + cut);
            if (cut >= m)
                break;
            /* A hard try: the scalar code from its first word on. */
            mt->pos++;
            out[done++] = normal_after_fast_fail(mt, b.tu[cut], kind) * sigma + mean;
            if (mt->refills != block || done >= n)
                break; /* mt->pos is already past the words the draw used */
            from = (size_t)mt->pos - start;
            if (from >= m)
                break;
        }
    }
}

#ifdef CF_X86_SIMD
__attribute__((target("avx2,popcnt"))) static void normal_fill_avx2(cf_mt19937 *mt, float *out,
                                                                     size_t n, float mean,
                                                                     float sigma,
                                                                     cf_normal_kind kind)
{
    normal_fill_loop(mt, out, n, mean, sigma, kind, 1);
}

__attribute__((target("avx512f,avx2,popcnt"))) static void
normal_fill_avx512(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma,
                   cf_normal_kind kind)
{
    normal_fill_loop(mt, out, n, mean, sigma, kind, 2);
}
#endif

void cf_fill_normal_ziggurat(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma,
                             cf_normal_kind kind)
{
#ifdef CF_X86_SIMD
    const int level = cf_simd_level(-1);
    if (level >= 2) {
        normal_fill_avx512(mt, out, n, mean, sigma, kind);
        return;
    }
    if (level == 1) {
        normal_fill_avx2(mt, out, n, mean, sigma, kind);
        return;
    }
#endif
    normal_fill_loop(mt, out, n, mean, sigma, kind, 0);
}

/* How many words of the stream's current block (refilled first when it is
 * used up) a bulk fill takes next: all that are left, or `want` if fewer. */
static inline size_t block_words(cf_mt19937 *mt, size_t want)
{
    if (mt->pos >= CF_MT_N)
        cf_mt_refill(mt);
    size_t m = (size_t)(CF_MT_N - mt->pos);
    return m > want ? want : m;
}

void cf_fill_uniform_real(cf_mt19937 *mt, float *out, size_t n, float lo, float hi, float span,
                          int doubled)
{
    uint64_t mask[BLOCK_MASK_WORDS];
    size_t done = 0;
    while (done < n) {
        size_t m = block_words(mt, n - done);
        float *cand = out + done;
        memset(mask, 0, sizeof mask);
#ifdef CF_X86_SIMD
        const int level = cf_simd_level(-1);
        if (level >= 2)
            uniform_phase1_avx512(mt->key + mt->pos, m, cand, mask, lo, hi, span, doubled);
        else if (level == 1)
            uniform_phase1_avx2(mt->key + mt->pos, m, cand, mask, lo, hi, span, doubled);
        else
#endif
            uniform_phase1_portable(mt->key + mt->pos, 0, m, cand, mask, lo, hi, span, doubled);
        /* All m words are consumed: a redrawn word just gives no value. */
        size_t j = 0;
        while (j < m) {
            size_t f = next_set(mask, j, m);
            if (f > j && cand + j != out + done)
                memmove(out + done, cand + j, (f - j) * sizeof *out);
            done += f - j;
            j = f + 1;
        }
        mt->pos += (int)m;
    }
}

void cf_fill_bernoulli_mask(cf_mt19937 *mt, float *data, size_t n, float p)
{
    const float threshold = p * 4294967296.0f;
    size_t done = 0;
    while (done < n) {
        size_t m = block_words(mt, n - done);
#ifdef CF_X86_SIMD
        if (use_avx2())
            bernoulli_avx2(mt->key + mt->pos, m, data + done, threshold);
        else
#endif
            bernoulli_portable(mt->key + mt->pos, 0, m, data + done, threshold);
        mt->pos += (int)m;
        done += m;
    }
}
