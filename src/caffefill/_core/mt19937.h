/*
 * mt19937.h - the 32-bit Mersenne Twister that Caffe uses as its one random
 * stream (boost::mt19937, identical in output to std::mt19937).
 *
 * The state is a 624-word block plus a read position.  `cf_mt_next` is a
 * static inline function; the block refill ("twist") is out of line so the
 * hot path stays small enough to inline into the distribution loops.
 */
#ifndef CAFFEFILL_MT19937_H
#define CAFFEFILL_MT19937_H

#include <stddef.h>
#include <stdint.h>

#define CF_MT_N 624

typedef struct {
    uint32_t key[CF_MT_N]; /* untempered state words */
    int pos;               /* next word to temper; CF_MT_N means "twist first" */
    unsigned refills;      /* count of twists (wraps); not part of the stream state,
                            * it only lets bulk readers notice a new block */
} cf_mt19937;

/* Seed as boost::mt19937(seed) / std::mt19937(seed) do. */
void cf_mt_seed(cf_mt19937 *state, uint32_t seed);

/* Regenerate the whole block of 624 words (the "twist"). */
void cf_mt_refill(cf_mt19937 *state);

/* Twist a new block, as cf_mt_refill, and write its CF_MT_N words tempered
 * (the stream's next CF_MT_N outputs) to tempered[] in the same pass. */
void cf_mt_refill_tempered(cf_mt19937 *state, uint32_t *tempered);

/* The vector code the C core uses, picked at run time: 0 none (the
 * portable code), 1 AVX2, 2 AVX-512 F as well where there is code for it
 * (the twist, the bulk normal and uniform draws, positive_unitball's
 * divisions; AVX2 elsewhere).  x86-64 builds without -DCF_NO_SIMD only.  cap >= 0 caps the
 * level (0 forces the portable code), -1 only asks; returns the level in
 * use, the lower of the cap and what the CPU has.  Every level gives the
 * same values.  For tests and benchmarks: set it before drawing, not
 * during. */
int cf_simd_level(int cap);

/* Write the next n tempered outputs of the stream into out. */
void cf_mt_fill_uint32(cf_mt19937 *state, uint32_t *out, size_t n);

/* Advance the stream by n outputs without producing them. */
void cf_mt_discard(cf_mt19937 *state, uint64_t n);

static inline uint32_t cf_mt_temper(uint32_t y)
{
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
}

/* CF_X86_SIMD: this build has the x86-64 vector code of the twist and the
 * fills (which of it runs is cf_simd_level's choice, at run time). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(CF_NO_SIMD)
#define CF_X86_SIMD 1
#include <immintrin.h>

/* cf_mt_temper of eight words at once (AVX2). */
__attribute__((target("avx2"))) static inline __m256i cf_mt_temper8(__m256i y)
{
    y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 11));
    y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 7),
                                             _mm256_set1_epi32((int)0x9d2c5680U)));
    y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 15),
                                             _mm256_set1_epi32((int)0xefc60000U)));
    return _mm256_xor_si256(y, _mm256_srli_epi32(y, 18));
}

/* The same for sixteen words (AVX-512 F); (y << s) & c and its xor into y
 * are one ternary-logic step each. */
__attribute__((target("avx512f"))) static inline __m512i cf_mt_temper16(__m512i y)
{
    y = _mm512_xor_si512(y, _mm512_srli_epi32(y, 11));
    y = _mm512_ternarylogic_epi32(y, _mm512_slli_epi32(y, 7), _mm512_set1_epi32((int)0x9d2c5680U),
                                  0x78); /* a ^ (b & c) */
    y = _mm512_ternarylogic_epi32(y, _mm512_slli_epi32(y, 15),
                                  _mm512_set1_epi32((int)0xefc60000U), 0x78);
    return _mm512_xor_si512(y, _mm512_srli_epi32(y, 18));
}
#endif

/* The next 32-bit output of the stream. */
static inline uint32_t cf_mt_next(cf_mt19937 *state)
{
    if (state->pos >= CF_MT_N)
        cf_mt_refill(state);
    return cf_mt_temper(state->key[state->pos++]);
}

#endif
