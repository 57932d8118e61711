/*
 * boxmuller.c - Boost <= 1.55's Box-Muller normal (see boxmuller.h).  Both
 * uniforms are uniform_01<float> draws (boostdist.h); rho, the angle and the
 * two values are computed in float with the platform libm's logf, cosf and
 * sinf, in Boost's operation order, so keep them exactly as they are.
 *
 * Speed comes from three places, none changing a value:
 *  - the bulk path tempers and converts a block's words in a loop the
 *    compiler vectorises, finds redraws by a test on the raw words, and
 *    computes logf and sincosf over a whole run of pairs: four at a time
 *    with glibc_vec.c where it gives the C library's bits (glibc 2.29 on,
 *    x86-64, AVX2 and FMA), else in a tight loop of libm calls (sincosf for
 *    cosf and sinf where the C library has it).  tools/check_libm.c proves
 *    both substitutions on every input the normal can compute;
 *  - a large fill is split among threads at pair boundaries: each pair
 *    takes exactly two words unless a uniform is redrawn, which a scan of
 *    the words reveals, so the stream's state at the start of every piece
 *    is found by scanning ahead, far cheaper than computing the values.
 *
 * With the libm calls, they are about three quarters of the time on one
 * core (glibc 2.36 on a shared AMD EPYC VM: logf about 6 ns, sincosf 8-12
 * ns a pair); glibc_vec.c makes the bulk path about three times faster.
 * GCC itself turns a cosf and a sinf of the same angle into one sincosf
 * call (at -O1 and above, on glibc), so the check above holds for the one
 * pair at a time path too.
 */
#define _GNU_SOURCE /* sincosf, sched_getaffinity */
#include "boxmuller.h"

#include <math.h>
#include <string.h>

#include "boostdist.h"
#include "glibc_vec.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <unistd.h>
#define CF_HAVE_THREADS 1
#endif
#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__SSE2__) && !defined(CF_NO_SIMD)
#include <emmintrin.h>
#define CF_HAVE_SSE_PAIRS 1
#endif

/* The words from which uniform_01<float> gives 1 and is redrawn: the
 * float of any word >= 2^32 - 128 rounds up to 2^32. */
#define REDRAW_FROM 0xffffff80U

/* The values of the pair of uniforms (r1, r2) given as 2 pi r1 and 1 - r2,
 * as Boost computes them: the cosine value to out[0] and, when `both`,
 * the cached sine value to out[1]. */
static inline void box_muller_values(float angle, float one_minus_r2, float *out, int both,
                                     float mean, float sigma)
{
    float rho = sqrtf(-2.0f * logf(one_minus_r2));
    out[0] = rho * cosf(angle) * sigma + mean;
    if (both)
        out[1] = rho * sinf(angle) * sigma + mean;
}

/* One pair drawn word by word (redraws included) to out; `both` as above. */
static void draw_pair(cf_mt19937 *mt, float *out, int both, float mean, float sigma)
{
    float r1 = cf_uniform01(mt);
    float r2 = cf_uniform01(mt);
    box_muller_values(CF_BOX_MULLER_TWO_PI * r1, 1.0f - r2, out, both, mean, sigma);
}

/* sinf and cosf of x (glibc: one sincosf; see the top of the file). */
static inline void sin_cos(float x, float *s, float *c)
{
#if defined(__GLIBC__)
    sincosf(x, s, c);
#else
    *s = sinf(x);
    *c = cosf(x);
#endif
}

/* cf_uniform01_of(u), written so that the compiler vectorises it:
 * float(u >> 16) * 65536 and float(u & 0xffff) are exact, so their sum is
 * u rounded once, as the unsigned conversion rounds it. */
static inline float uniform01_split(uint32_t u)
{
    float f = (float)(int32_t)(u >> 16) * 65536.0f + (float)(int32_t)(u & 0xffffU);
    return f * (1.0f / 4294967296.0f);
}

/* For the `pairs` pairs of untempered words key[0..2 pairs): the angles
 * 2 pi r1 and the 1 - r2 of their uniforms, in a loop the compiler
 * vectorises.  Returns 1 when some word must be redrawn (then the pairs
 * from the one holding it on are void). */
static int pair_inputs(const uint32_t *key, size_t pairs, float *angle, float *one_minus_r2)
{
    uint32_t redraw = 0;
    for (size_t k = 0; k < pairs; k++) {
        uint32_t u1 = cf_mt_temper(key[2 * k]), u2 = cf_mt_temper(key[2 * k + 1]);
        redraw |= (uint32_t)(u1 >= REDRAW_FROM) | (uint32_t)(u2 >= REDRAW_FROM);
        angle[k] = CF_BOX_MULLER_TWO_PI * uniform01_split(u1);
        one_minus_r2[k] = 1.0f - uniform01_split(u2);
    }
    return redraw != 0;
}

/* 1: the bulk path computes logf and sincosf with glibc_vec.c (where
 * cf_glibc_vec_usable says it gives the C library's bits). */
static int vector_libm = 1;

/* The values of `pairs` pairs (at most CF_MT_N / 2) from pair_inputs, to
 * out: 2 pairs values, or one less when `odd` (the last sine value
 * discarded).  Each libm function runs over all the pairs in a loop of its
 * own that does nothing else, so that the calls for different pairs
 * overlap; the arithmetic that waits on their results comes after. */
static void pairs_of(const float *angle, const float *one_minus_r2, size_t pairs, int odd,
                     float *out, float mean, float sigma)
{
    float lg[CF_MT_N / 2], s[CF_MT_N / 2], c[CF_MT_N / 2];
    size_t whole = pairs - (size_t)(odd != 0);
    if (vector_libm) {
        cf_glibc_vec_logf(one_minus_r2, lg, whole);
        cf_glibc_vec_sincosf(angle, s, c, whole);
    } else {
        for (size_t k = 0; k < whole; k++)
            lg[k] = logf(one_minus_r2[k]);
        for (size_t k = 0; k < whole; k++)
            sin_cos(angle[k], &s[k], &c[k]);
    }
    size_t k = 0;
#ifdef CF_HAVE_SSE_PAIRS
    /* Four pairs at a time, the same IEEE single operations (sqrtps rounds
     * correctly, as sqrtf does); the cosine and sine values interleaved. */
    const __m128 minus_two = _mm_set1_ps(-2.0f), vsigma = _mm_set1_ps(sigma),
                 vmean = _mm_set1_ps(mean);
    for (; k + 4 <= whole; k += 4) {
        __m128 rho = _mm_sqrt_ps(_mm_mul_ps(minus_two, _mm_loadu_ps(lg + k)));
        __m128 vc = _mm_add_ps(_mm_mul_ps(_mm_mul_ps(rho, _mm_loadu_ps(c + k)), vsigma), vmean);
        __m128 vs = _mm_add_ps(_mm_mul_ps(_mm_mul_ps(rho, _mm_loadu_ps(s + k)), vsigma), vmean);
        _mm_storeu_ps(out + 2 * k, _mm_unpacklo_ps(vc, vs));
        _mm_storeu_ps(out + 2 * k + 4, _mm_unpackhi_ps(vc, vs));
    }
#endif
    for (; k < whole; k++) {
        float rho = sqrtf(-2.0f * lg[k]);
        out[2 * k] = rho * c[k] * sigma + mean;
        out[2 * k + 1] = rho * s[k] * sigma + mean;
    }
    if (odd)
        box_muller_values(angle[whole], one_minus_r2[whole], out + 2 * whole, 0, mean, sigma);
}

/* The bulk path on one thread: whole runs of pairs from the current block,
 * one pair word by word where a pair straddles two blocks or a word must
 * be redrawn (one in 2^25 words). */
static void fill_bulk(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma)
{
    float angle[CF_MT_N / 2], one_minus_r2[CF_MT_N / 2];
    size_t i = 0;
    while (i < n) {
        if (mt->pos >= CF_MT_N)
            cf_mt_refill(mt);
        size_t pairs = (size_t)(CF_MT_N - mt->pos) / 2, wanted = (n - i + 1) / 2;
        if (pairs > wanted)
            pairs = wanted;
        if (pairs == 0 || pair_inputs(mt->key + mt->pos, pairs, angle, one_minus_r2)) {
            draw_pair(mt, out + i, i + 1 < n, mean, sigma);
            i += i + 1 < n ? 2 : 1;
            continue;
        }
        mt->pos += (int)(2 * pairs);
        size_t values = 2 * pairs < n - i ? 2 * pairs : n - i;
        pairs_of(angle, one_minus_r2, pairs, (int)(values & 1U), out + i, mean, sigma);
        i += values;
    }
}

/* Moves the stream past `pairs` pairs without computing them: 2 pairs
 * words that are not redrawn, and the redrawn words among them. */
static void skip_pairs(cf_mt19937 *mt, size_t pairs)
{
    size_t need = 2 * pairs;
    while (need > 0) {
        if (mt->pos >= CF_MT_N)
            cf_mt_refill(mt);
        size_t take = (size_t)(CF_MT_N - mt->pos);
        if (take > need)
            take = need;
        const uint32_t *key = mt->key + mt->pos;
        uint32_t redrawn = 0; /* 32 bits (take <= 624): four counts per SSE2 vector */
        for (size_t j = 0; j < take; j++)
            redrawn += (uint32_t)(cf_mt_temper(key[j]) >= REDRAW_FROM);
        mt->pos += (int)take;
        need -= take - redrawn; /* each redrawn word asks for one more */
    }
}

/* 1: values one pair at a time (Boost's own order; the reference);
 * 0: the bulk path. */
static int one_at_a_time = 0;
/* At most this many threads for a large fill; 0: as many as the process
 * may run on. */
static int max_threads = 0;

int cf_box_muller_bulk(int enable)
{
    if (enable >= 0)
        one_at_a_time = enable == 0;
    return !one_at_a_time;
}

int cf_box_muller_vector(int enable)
{
    if (enable >= 0)
        vector_libm = enable != 0;
    return vector_libm && cf_glibc_vec_usable();
}

int cf_box_muller_threads(int n)
{
    if (n >= 0)
        max_threads = n;
    return max_threads;
}

/* Values per piece of a threaded fill (even: pieces start on a pair), and
 * the least fill worth threads (it takes a few milliseconds alone). */
#define PIECE_VALUES ((size_t)1 << 16)
#define THREADS_FROM (4 * PIECE_VALUES)

#ifdef CF_HAVE_THREADS
/* The cores this process may run on (the affinity mask where there is one). */
static int cores(void)
{
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
#endif
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

/* A threaded fill: pieces are taken in order; the one who takes a piece
 * copies the stream state at its start and moves `next_state` past it. */
typedef struct {
    pthread_mutex_t lock;
    cf_mt19937 next_state; /* the stream at the start of piece `next` */
    size_t next, pieces, n;
    float *out, mean, sigma;
} threaded_fill;

static void *fill_pieces(void *arg)
{
    threaded_fill *job = arg;
    cf_mt19937 mt;
    for (;;) {
        pthread_mutex_lock(&job->lock);
        size_t piece = job->next, first = piece * PIECE_VALUES, count = 0;
        if (piece < job->pieces) {
            job->next++;
            count = job->n - first < PIECE_VALUES ? job->n - first : PIECE_VALUES;
            memcpy(&mt, &job->next_state, sizeof mt);
            skip_pairs(&job->next_state, (count + 1) / 2);
        }
        pthread_mutex_unlock(&job->lock);
        if (count == 0)
            return NULL;
        fill_bulk(&mt, job->out + first, count, job->mean, job->sigma);
    }
}

/* The fill on up to `threads` threads (the caller's one of them); returns
 * 0 when it could not start (then nothing is drawn). */
static int fill_threaded(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma,
                         int threads)
{
    enum { MOST = 64 };
    threaded_fill job;
    pthread_t helpers[MOST];
    if (pthread_mutex_init(&job.lock, NULL) != 0)
        return 0;
    memcpy(&job.next_state, mt, sizeof *mt);
    job.next = 0;
    job.pieces = (n + PIECE_VALUES - 1) / PIECE_VALUES;
    job.n = n;
    job.out = out;
    job.mean = mean;
    job.sigma = sigma;
    int started = 0;
    if (threads > MOST)
        threads = MOST;
    if ((size_t)threads > job.pieces)
        threads = (int)job.pieces;
    while (started < threads - 1 && pthread_create(&helpers[started], NULL, fill_pieces, &job) == 0)
        started++;
    fill_pieces(&job);
    for (int t = 0; t < started; t++)
        pthread_join(helpers[t], NULL);
    pthread_mutex_destroy(&job.lock);
    memcpy(mt, &job.next_state, sizeof *mt);
    return 1;
}
#endif

void cf_fill_box_muller(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma)
{
    if (one_at_a_time) {
        for (size_t i = 0; i < n; i += 2)
            draw_pair(mt, out + i, i + 1 < n, mean, sigma);
        return;
    }
#ifdef CF_HAVE_THREADS
    if (n >= THREADS_FROM) {
        int threads = max_threads > 0 ? max_threads : cores();
        if (threads > 1 && fill_threaded(mt, out, n, mean, sigma, threads))
            return;
    }
#endif
    fill_bulk(mt, out, n, mean, sigma);
}
