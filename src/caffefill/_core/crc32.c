/*
 * crc32.c - the zip CRC-32 (see crc32.h).
 *
 * A byte at a time the register is shifted right and the reflected
 * polynomial 0xedb88320 subtracted (xor) whenever a one falls out.  With
 * carry-less multiplication (x86-64 PCLMULQDQ) the input is instead folded
 * 128 bits at a time: a 128-bit block A followed by n more bits has the same
 * remainder as (A * x^n mod P) in its place, and x^n mod P for the fold
 * distances used here are the constants below (bit-reflected, as the data).
 * Four blocks are folded in parallel across 512 bits, then into one; what
 * is left is one 16-byte block whose byte-wise CRC (from 0) is the CRC of
 * everything folded so far, and the tail of under 16 bytes goes byte-wise.
 */
#include "crc32.h"

#include <string.h>

#define CRC32_POLY 0xedb88320U

/* The raw register (no pre- or post-inversion) over n bytes, bit by bit. */
static uint32_t crc_bytes(uint32_t reg, const unsigned char *p, size_t n)
{
    while (n--) {
        reg ^= *p++;
        for (int k = 0; k < 8; k++)
            reg = (reg >> 1) ^ (CRC32_POLY & (0U - (reg & 1U)));
    }
    return reg;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CF_NO_SIMD)
#include <immintrin.h>
#define CF_HAVE_CLMUL_PATH 1

/* (lo * k_lo) ^ (hi * k_hi), carry-less: `x` moved forward by the distance
 * the constant pair stands for. */
__attribute__((target("pclmul,sse2"))) static inline __m128i fold(__m128i x, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* Folds the first n & ~15 bytes (n >= 64) into the register `reg`; returns
 * the new register value. */
__attribute__((target("pclmul,sse2"))) static uint32_t crc_fold(uint32_t reg,
                                                                 const unsigned char *p,
                                                                 size_t n)
{
    /* x^(512+32) and x^(512-32) mod P; x^(128+32) and x^(128-32) mod P. */
    const __m128i k512 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
    const __m128i k128 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
    __m128i x0 = _mm_loadu_si128((const __m128i *)p);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)reg));
    p += 64;
    n -= 64;
    for (; n >= 64; p += 64, n -= 64) {
        x0 = _mm_xor_si128(fold(x0, k512), _mm_loadu_si128((const __m128i *)p));
        x1 = _mm_xor_si128(fold(x1, k512), _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = _mm_xor_si128(fold(x2, k512), _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = _mm_xor_si128(fold(x3, k512), _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    x0 = _mm_xor_si128(fold(x0, k128), x1);
    x0 = _mm_xor_si128(fold(x0, k128), x2);
    x0 = _mm_xor_si128(fold(x0, k128), x3);
    for (; n >= 16; p += 16, n -= 16)
        x0 = _mm_xor_si128(fold(x0, k128), _mm_loadu_si128((const __m128i *)p));
    unsigned char rest[16];
    _mm_storeu_si128((__m128i *)rest, x0);
    return crc_bytes(0, rest, sizeof rest);
}
#endif

int cf_crc32_accelerated(void)
{
#ifdef CF_HAVE_CLMUL_PATH
    return __builtin_cpu_supports("pclmul") != 0;
#else
    return 0;
#endif
}

uint32_t cf_crc32(uint32_t crc, const unsigned char *data, size_t n)
{
    uint32_t reg = ~crc;
#ifdef CF_HAVE_CLMUL_PATH
    if (n >= 64 && cf_crc32_accelerated()) {
        size_t folded = n & ~(size_t)15;
        reg = crc_fold(reg, data, folded);
        data += folded;
        n -= folded;
    }
#endif
    return ~crc_bytes(reg, data, n);
}
