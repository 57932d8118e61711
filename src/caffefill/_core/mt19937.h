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

/* The next 32-bit output of the stream. */
static inline uint32_t cf_mt_next(cf_mt19937 *state)
{
    if (state->pos >= CF_MT_N)
        cf_mt_refill(state);
    return cf_mt_temper(state->key[state->pos++]);
}

#endif
