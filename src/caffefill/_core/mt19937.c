/*
 * mt19937.c - engine half of the random stream (see mt19937.h).
 *
 * The constants are those of the MT19937 definition (Matsumoto & Nishimura,
 * 1998): w=32, n=624, m=397, r=31, a=0x9908b0df, the tempering masks in the
 * header, and the initialisation multiplier 1812433253.
 */
#include "mt19937.h"

#include <string.h>

#define MT_M 397
#define UPPER_MASK 0x80000000U
#define LOWER_MASK 0x7fffffffU
#define MATRIX_A 0x9908b0dfU

void cf_mt_seed(cf_mt19937 *state, uint32_t seed)
{
    state->key[0] = seed;
    for (uint32_t i = 1; i < CF_MT_N; i++) {
        uint32_t prev = state->key[i - 1];
        state->key[i] = 1812433253U * (prev ^ (prev >> 30)) + i;
    }
    state->pos = CF_MT_N;
    state->refills = 0;
}

/* One word of the twist: combine the top bit of `hi` with the low bits of
 * `lo`, shift, and conditionally xor the matrix constant. */
static inline uint32_t twist(uint32_t hi, uint32_t lo, uint32_t far)
{
    uint32_t y = (hi & UPPER_MASK) | (lo & LOWER_MASK);
    return far ^ (y >> 1) ^ ((uint32_t)-(int32_t)(y & 1U) & MATRIX_A);
}

static void refill_portable(uint32_t *k)
{
    int i = 0;
    for (; i < CF_MT_N - MT_M; i++)
        k[i] = twist(k[i], k[i + 1], k[i + MT_M]);
    for (; i < CF_MT_N - 1; i++)
        k[i] = twist(k[i], k[i + 1], k[i + MT_M - CF_MT_N]);
    k[CF_MT_N - 1] = twist(k[CF_MT_N - 1], k[0], k[MT_M - 1]);
}

static void temper_portable(const uint32_t *key, size_t n, uint32_t *out)
{
    for (size_t j = 0; j < n; j++)
        out[j] = cf_mt_temper(key[j]);
}

#ifdef CF_X86_SIMD

/* Two vectors a turn in the twist's loops (fewer loop instructions). */
#if defined(__clang__)
#define CF_UNROLL_2 _Pragma("unroll 2")
#else
#define CF_UNROLL_2 _Pragma("GCC unroll 2")
#endif

/*
 * The same twist eight words at a time.  Word i reads k[i] and k[i + 1]
 * before they are rewritten (words are rewritten in increasing order) and
 * k[i + m] or, from i = 227 on, the already rewritten k[i - 227]; since
 * 227 >= 8, every word a vector of eight reads has the same state (old or
 * new) as in the one-at-a-time loop.  The 78 vectors start at multiples of
 * 8: the one at 224 takes the far words of its lanes 0-2 from k[621..623]
 * and of lanes 3-7 from the new k[0..4], and the one at 616 the next word
 * of its lane 7 from the new k[0]; both are built from in-bounds loads
 * (words_from_5, words_from_1).  The odd words' matrix term is a blend on
 * their bit 0 moved to the sign bit.  With `tempered`, each new word is also tempered there while it is in a
 * register (inlined twice, with and without, so that the test costs nothing).
 */
__attribute__((target("avx2"))) static inline __m256i twist8(__m256i hi, __m256i lo, __m256i far)
{
    const __m256i upper = _mm256_set1_epi32((int)UPPER_MASK);
    const __m256i lower = _mm256_set1_epi32((int)LOWER_MASK);
    const __m256 matrix = _mm256_castsi256_ps(_mm256_set1_epi32((int)MATRIX_A));
    __m256i y = _mm256_or_si256(_mm256_and_si256(hi, upper), _mm256_and_si256(lo, lower));
    __m256 odd = _mm256_castsi256_ps(_mm256_slli_epi32(lo, 31)); /* y & 1 is lo & 1 */
    __m256i mag = _mm256_castps_si256(_mm256_blendv_ps(_mm256_setzero_ps(), matrix, odd));
    return _mm256_xor_si256(_mm256_xor_si256(far, _mm256_srli_epi32(y, 1)), mag);
}

/* Words 1..8 and 5..12 of the sixteen words a (0..7) and b (8..15). */
__attribute__((target("avx2"))) static inline __m256i words_from_1(__m256i a, __m256i b)
{
    return _mm256_alignr_epi8(_mm256_permute2x128_si256(a, b, 0x21), a, 4);
}

__attribute__((target("avx2"))) static inline __m256i words_from_5(__m256i a, __m256i b)
{
    return _mm256_alignr_epi8(b, _mm256_permute2x128_si256(a, b, 0x21), 4);
}

__attribute__((target("avx2"))) static inline __m256i load8(const uint32_t *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* The new words k[i..i+8) = r, and tempered (when not NULL) as well. */
__attribute__((target("avx2"), always_inline)) static inline void put8(uint32_t *k,
                                                                       uint32_t *tempered, int i,
                                                                       __m256i r)
{
    _mm256_storeu_si256((__m256i *)(k + i), r);
    if (tempered)
        _mm256_storeu_si256((__m256i *)(tempered + i), cf_mt_temper8(r));
}

__attribute__((target("avx2"), always_inline)) static inline void refill_avx2(uint32_t *k,
                                                                              uint32_t *tempered)
{
    int i = 0;
    CF_UNROLL_2
    for (; i + 8 <= CF_MT_N - MT_M; i += 8) /* 0 .. 223 */
        put8(k, tempered, i, twist8(load8(k + i), load8(k + i + 1), load8(k + i + MT_M)));
    /* 224 .. 231: far words k[621..623] (old), then k[0..4] (new). */
    put8(k, tempered, i,
         twist8(load8(k + i), load8(k + i + 1), words_from_5(load8(k + CF_MT_N - 8), load8(k))));
    CF_UNROLL_2
    for (i += 8; i + 8 < CF_MT_N; i += 8) /* 232 .. 615 */
        put8(k, tempered, i,
             twist8(load8(k + i), load8(k + i + 1), load8(k + i + MT_M - CF_MT_N)));
    /* 616 .. 623: the next word of 623 is the new k[0]. */
    const __m256i last = load8(k + i);
    put8(k, tempered, i,
         twist8(last, words_from_1(last, load8(k)), load8(k + i + MT_M - CF_MT_N)));
}

__attribute__((target("avx2"))) static void refill_plain_avx2(uint32_t *k)
{
    refill_avx2(k, NULL);
}

__attribute__((target("avx2"))) static void refill_tempered_avx2(uint32_t *k, uint32_t *tempered)
{
    refill_avx2(k, tempered);
}

/*
 * The twist sixteen words at a time (AVX-512 F), as refill_avx2: since
 * 227 >= 16 the same reasoning holds.  The 39 vectors start at multiples of
 * 16: the one at 224 takes the far words of its lanes 0-2 from k[621..623]
 * and of lanes 3-15 from the new k[0..12], and the one at 608 the next word
 * of its lane 15 from the new k[0] (both with valignd).  The upper/lower
 * merge is one bit select, the odd words' matrix term a masked xor.
 */
__attribute__((target("avx512f"))) static inline __m512i twist16(__m512i hi, __m512i lo,
                                                                 __m512i far)
{
    const __m512i y = _mm512_ternarylogic_epi32(hi, lo, _mm512_set1_epi32((int)UPPER_MASK),
                                                0xe4); /* c ? a : b */
    const __m512i r = _mm512_xor_si512(far, _mm512_srli_epi32(y, 1));
    const __mmask16 odd = _mm512_test_epi32_mask(lo, _mm512_set1_epi32(1)); /* y & 1 is lo & 1 */
    return _mm512_mask_xor_epi32(r, odd, r, _mm512_set1_epi32((int)MATRIX_A));
}

__attribute__((target("avx512f"))) static inline __m512i load16(const uint32_t *p)
{
    return _mm512_loadu_si512(p);
}

__attribute__((target("avx512f"), always_inline)) static inline void put16(uint32_t *k,
                                                                           uint32_t *tempered,
                                                                           int i, __m512i r)
{
    _mm512_storeu_si512(k + i, r);
    if (tempered)
        _mm512_storeu_si512(tempered + i, cf_mt_temper16(r));
}

__attribute__((target("avx512f"), always_inline)) static inline void refill_avx512(uint32_t *k,
                                                                                   uint32_t *tempered)
{
    int i = 0;
    for (; i + 16 <= CF_MT_N - MT_M; i += 16) /* 0 .. 223 */
        put16(k, tempered, i, twist16(load16(k + i), load16(k + i + 1), load16(k + i + MT_M)));
    /* 224 .. 239: far words k[621..623] (old), then k[0..12] (new). */
    put16(k, tempered, i,
          twist16(load16(k + i), load16(k + i + 1),
                  _mm512_alignr_epi32(load16(k), load16(k + CF_MT_N - 16), 13)));
    for (i += 16; i + 16 < CF_MT_N; i += 16) /* 240 .. 607 */
        put16(k, tempered, i,
              twist16(load16(k + i), load16(k + i + 1), load16(k + i + MT_M - CF_MT_N)));
    /* 608 .. 623: the next word of 623 is the new k[0]. */
    const __m512i last = load16(k + i);
    put16(k, tempered, i,
          twist16(last, _mm512_alignr_epi32(load16(k), last, 1), load16(k + i + MT_M - CF_MT_N)));
}

__attribute__((target("avx512f"))) static void refill_plain_avx512(uint32_t *k)
{
    refill_avx512(k, NULL);
}

__attribute__((target("avx512f"))) static void refill_tempered_avx512(uint32_t *k,
                                                                      uint32_t *tempered)
{
    refill_avx512(k, tempered);
}
#endif

/* The highest level cf_simd_level allows. */
static int simd_cap = 2;

int cf_simd_level(int cap)
{
    if (cap >= 0)
        simd_cap = cap;
#ifdef CF_X86_SIMD
    const int cpu = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
    return simd_cap < cpu ? simd_cap : cpu;
#else
    return 0;
#endif
}

void cf_mt_refill(cf_mt19937 *state)
{
#ifdef CF_X86_SIMD
    const int level = cf_simd_level(-1);
    if (level >= 2)
        refill_plain_avx512(state->key);
    else if (level == 1)
        refill_plain_avx2(state->key);
    else
#endif
        refill_portable(state->key);
    state->pos = 0;
    state->refills++;
}

void cf_mt_refill_tempered(cf_mt19937 *state, uint32_t *tempered)
{
#ifdef CF_X86_SIMD
    const int level = cf_simd_level(-1);
    if (level >= 2) {
        refill_tempered_avx512(state->key, tempered);
    } else if (level == 1) {
        refill_tempered_avx2(state->key, tempered);
    } else
#endif
    {
        refill_portable(state->key);
        temper_portable(state->key, CF_MT_N, tempered);
    }
    state->pos = 0;
    state->refills++;
}

void cf_mt_fill_uint32(cf_mt19937 *state, uint32_t *out, size_t n)
{
    while (n > 0) {
        if (state->pos >= CF_MT_N)
            cf_mt_refill(state);
        size_t avail = (size_t)(CF_MT_N - state->pos);
        size_t take = n < avail ? n : avail;
        const uint32_t *src = state->key + state->pos;
        for (size_t j = 0; j < take; j++)
            out[j] = cf_mt_temper(src[j]);
        state->pos += (int)take;
        out += take;
        n -= take;
    }
}

void cf_mt_discard(cf_mt19937 *state, uint64_t n)
{
    while (n > 0) {
        if (state->pos >= CF_MT_N)
            cf_mt_refill(state);
        uint64_t avail = (uint64_t)(CF_MT_N - state->pos);
        uint64_t take = n < avail ? n : avail;
        state->pos += (int)take;
        n -= take;
    }
}
