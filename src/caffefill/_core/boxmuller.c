/*
 * boxmuller.c - Boost <= 1.55's Box-Muller normal (see boxmuller.h).  Both
 * uniforms are uniform_01<float> draws (boostdist.h); rho, the angle and the
 * two values are computed in float with the platform libm's logf, cosf and
 * sinf, in Boost's operation order, so keep them exactly as they are.
 *
 * Speed comes from three places, none changing a value:
 *  - the bulk path tempers and converts a block's words in a loop the
 *    compiler vectorises, finds redraws by a test on the raw words, and
 *    computes logf and sincosf over a whole run of pairs with glibc_vec.c:
 *    four at a time where that gives the C library's bits (glibc 2.29 on,
 *    x86-64, AVX2 and FMA), else in a tight loop of libm calls (sincosf for
 *    cosf and sinf where the C library has it).  tools/check_libm.c proves
 *    both substitutions on every input the normal can compute;
 *  - a large fill is split among threads at pair boundaries: each pair
 *    takes exactly two words unless a uniform is redrawn, which a scan of
 *    the words reveals, so the stream's state at the start of every piece
 *    is found by scanning, a tenth of the cost of computing the values.
 *    Each thread scans the pieces others compute (see fill_pieces), so
 *    none waits for another.
 *
 * With the libm calls, they are about three quarters of the time on one
 * core (glibc 2.36 on a shared AMD EPYC VM: logf about 6 ns, sincosf 8-12
 * ns a pair); glibc_vec.c makes the bulk path about three times faster.
 * GCC itself turns a cosf and a sinf of the same angle into one sincosf
 * call (at -O1 and above, on glibc), so the check above holds for the one
 * pair at a time path too.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include "boxmuller.h"

#include <math.h>
#include <string.h>

#include "boostdist.h"
#include "glibc_vec.h"

/* Threads: POSIX threads and the GCC/Clang __atomic builtins. */
#if (defined(__unix__) || defined(__APPLE__)) && defined(__GNUC__)
#include <pthread.h>
#include <time.h>
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

/* The values of `pairs` pairs (at most CF_MT_N / 2) from pair_inputs, to
 * out: 2 pairs values, or one less when `odd` (the last sine value
 * discarded).  logf and sincosf run over all the pairs first (glibc_vec.c:
 * four at a time, or a loop of the C library's calls that does nothing
 * else, so that the calls for different pairs overlap); the arithmetic
 * that waits on their results comes after. */
static void pairs_of(const float *angle, const float *one_minus_r2, size_t pairs, int odd,
                     float *out, float mean, float sigma)
{
    float lg[CF_MT_N / 2], s[CF_MT_N / 2], c[CF_MT_N / 2];
    size_t whole = pairs - (size_t)(odd != 0);
    cf_glibc_vec_logf(one_minus_r2, lg, whole);
    cf_glibc_vec_sincosf(angle, s, c, whole);
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

/* The count of words among key[0..n) whose tempered value is redrawn. */
static uint32_t redrawn_portable(const uint32_t *key, size_t n)
{
    uint32_t redrawn = 0; /* 32-bit lanes (n <= 624): four counts per SSE2 vector */
    for (size_t j = 0; j < n; j++)
        redrawn += (uint32_t)(cf_mt_temper(key[j]) >= REDRAW_FROM);
    return redrawn;
}

#ifdef CF_X86_SIMD
/* redrawn_portable eight words at a time (the CPU must have AVX2; about
 * half the time of the compiler's SSE2 loop).  AVX2 has no unsigned
 * order compare: u >= 2^32 - 128 is tested as u >> 7 == 2^25 - 1. */
__attribute__((target("avx2"))) static uint32_t redrawn_avx2(const uint32_t *key, size_t n)
{
    const __m256i all_ones = _mm256_set1_epi32((1 << 25) - 1);
    __m256i count = _mm256_setzero_si256();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256i u = cf_mt_temper8(_mm256_loadu_si256((const __m256i *)(key + j)));
        count = _mm256_sub_epi32(count, _mm256_cmpeq_epi32(_mm256_srli_epi32(u, 7), all_ones));
    }
    uint32_t lanes[8], redrawn = redrawn_portable(key + j, n - j);
    _mm256_storeu_si256((__m256i *)lanes, count);
    for (int l = 0; l < 8; l++)
        redrawn += lanes[l];
    return redrawn;
}
#endif

/* Moves the stream past `pairs` pairs without computing them: 2 pairs
 * words that are not redrawn, and the redrawn words among them.  A twist
 * and the count per block: about a tenth of the time of the values. */
static void skip_pairs(cf_mt19937 *mt, size_t pairs)
{
#ifdef CF_X86_SIMD
    const int avx2 = cf_simd_level(-1) >= 1;
#endif
    size_t need = 2 * pairs;
    while (need > 0) {
        if (mt->pos >= CF_MT_N)
            cf_mt_refill(mt);
        size_t take = (size_t)(CF_MT_N - mt->pos);
        if (take > need)
            take = need;
        const uint32_t *key = mt->key + mt->pos;
#ifdef CF_X86_SIMD
        uint32_t redrawn = avx2 ? redrawn_avx2(key, take) : redrawn_portable(key, take);
#else
        uint32_t redrawn = redrawn_portable(key, take);
#endif
        mt->pos += (int)take;
        need -= take - redrawn; /* each redrawn word asks for one more */
    }
}

/* 1: values one pair at a time (Boost's own order; the reference);
 * 0: the bulk path. */
static int one_at_a_time = 0;
/* 1: a threaded fill deals its pieces in turns (for tests). */
static int in_turns = 0;
/* At most this many threads for a large fill; 0: as many as the process
 * may run on. */
static int max_threads = 0;

int cf_box_muller_bulk(int enable)
{
    if (enable >= 0) {
        one_at_a_time = enable == 0;
        in_turns = enable == 2;
    }
    return one_at_a_time ? 0 : in_turns ? 2 : 1;
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

/*
 * A threaded fill.  Every thread follows the whole stream on a copy of its
 * own: at the start of each piece it tries to claim it (the first thread
 * there wins), computes the piece's values when it has, and else moves its
 * copy past the piece with skip_pairs.  So no thread ever waits for
 * another (one that the system pauses only falls behind, and catches up
 * by skipping what others claimed), and the scan that finds where a piece
 * starts is repeated, not shared: each of t threads skips about
 * (t - 1) / t of the pieces, at a tenth of their cost, and computes the
 * rest.  For tests, the pieces can be dealt in turns instead, so that
 * every thread skips the others' pieces whatever the timing.
 */
typedef struct {
    cf_mt19937 start; /* the stream at the start of the fill */
    cf_mt19937 *end;  /* the stream after it: set by who computes the last piece */
    size_t claimed;   /* pieces claimed so far (atomic) */
    size_t pieces, n;
    float *out, mean, sigma;
    int turns;   /* 1: piece p goes to thread p % threads, not to the first there */
    int threads; /* threads asked for: the caller is thread 0, helper h thread h */
    int started; /* helpers started; the caller also takes the turns of the rest */
    pthread_t caller;
} threaded_fill;

typedef struct {
    threaded_fill *job;
    int me;
} worker;

/*
 * A helper thread stops taking pieces when it finds that over a while
 * (SHARE_WINDOW of wall time) neither it nor the caller had three quarters
 * of a core: the cores are busy with other work, and the two threads
 * share what the system gives the process.  Where the system shares CPU
 * time among processes or sessions rather than threads (Linux's autogroup,
 * cgroups, CPU quotas), a helper then only takes time from the caller, and
 * adds the skips and the contention of two fills at once: two threads
 * would be slower than one.  While either has a core to itself, the
 * helper's time is the process's gain.  The caller never stops: it
 * computes all the pieces no helper took.
 */
#if defined(_POSIX_THREAD_CPUTIME) && _POSIX_THREAD_CPUTIME >= 0 && defined(CLOCK_MONOTONIC)
#define CF_WATCH_SHARE 1
#define SHARE_WINDOW 8000000 /* nanoseconds */

static int64_t clock_ns(clockid_t clock)
{
    struct timespec t;
    if (clock_gettime(clock, &t) != 0)
        return 0;
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

typedef struct {
    clockid_t caller;                /* the caller thread's CPU clock */
    int64_t wall, cpu, caller_cpu; /* the clocks at the start of the current while */
} share_watch;

static void share_start(share_watch *w, pthread_t caller)
{
    /* Without the caller's clock, the helper judges by its own share. */
    if (pthread_getcpuclockid(caller, &w->caller) != 0)
        w->caller = CLOCK_THREAD_CPUTIME_ID;
    w->wall = clock_ns(CLOCK_MONOTONIC);
    w->cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    w->caller_cpu = clock_ns(w->caller);
}

/* 0 once a while has passed in which neither this thread nor the caller
 * ran for 3/4 of it. */
static int share_pays(share_watch *w)
{
    int64_t wall = clock_ns(CLOCK_MONOTONIC) - w->wall;
    if (wall < SHARE_WINDOW)
        return 1;
    int64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - w->cpu;
    int64_t caller = clock_ns(w->caller) - w->caller_cpu;
    w->wall += wall;
    w->cpu += cpu;
    w->caller_cpu += caller;
    return 4 * cpu >= 3 * wall || 4 * caller >= 3 * wall;
}
#endif

static void *fill_pieces(void *arg)
{
    const worker *self = arg;
    threaded_fill *job = self->job;
    cf_mt19937 mt;
    memcpy(&mt, &job->start, sizeof mt);
#ifdef CF_WATCH_SHARE
    const int watch = self->me != 0 && !job->turns; /* in turns every thread must stay */
    share_watch share;
    memset(&share, 0, sizeof share);
    if (watch)
        share_start(&share, job->caller);
#endif
    for (size_t piece = 0; piece < job->pieces; piece++) {
#ifdef CF_WATCH_SHARE
        if (watch && !share_pays(&share))
            break;
#endif
        size_t first = piece * PIECE_VALUES;
        size_t count = job->n - first < PIECE_VALUES ? job->n - first : PIECE_VALUES;
        int mine;
        if (job->turns) {
            int turn = (int)(piece % (size_t)job->threads);
            mine = turn == self->me || (self->me == 0 && turn > job->started);
        } else {
            /* Only the count is shared (each thread computes its own
             * stream): relaxed order is enough; pthread_join orders the
             * values and the end state for the caller. */
            size_t seen = piece;
            mine = __atomic_compare_exchange_n(&job->claimed, &seen, piece + 1, 0,
                                               __ATOMIC_RELAXED, __ATOMIC_RELAXED);
            if (seen == job->pieces)
                break; /* all claimed: nothing left for this thread */
        }
        if (mine) {
            fill_bulk(&mt, job->out + first, count, job->mean, job->sigma);
            if (piece + 1 == job->pieces)
                memcpy(job->end, &mt, sizeof mt);
        } else {
            skip_pairs(&mt, (count + 1) / 2);
        }
    }
    return NULL;
}

/* The fill on up to `threads` threads, the caller's one of them (alone
 * if no other thread can be started). */
static void fill_threaded(cf_mt19937 *mt, float *out, size_t n, float mean, float sigma,
                          int threads)
{
    enum { MOST = 64 };
    threaded_fill job;
    pthread_t helpers[MOST];
    worker workers[MOST];
    memcpy(&job.start, mt, sizeof *mt);
    job.end = mt;
    job.claimed = 0;
    job.pieces = (n + PIECE_VALUES - 1) / PIECE_VALUES;
    job.n = n;
    job.out = out;
    job.mean = mean;
    job.sigma = sigma;
    if (threads > MOST)
        threads = MOST;
    if ((size_t)threads > job.pieces)
        threads = (int)job.pieces;
    job.turns = in_turns;
    job.caller = pthread_self();
    job.threads = threads;
    int started = 0;
    for (; started < threads - 1; started++) {
        workers[started + 1].job = &job;
        workers[started + 1].me = started + 1;
        if (pthread_create(&helpers[started], NULL, fill_pieces, &workers[started + 1]) != 0)
            break;
    }
    job.started = started;
    workers[0].job = &job;
    workers[0].me = 0;
    fill_pieces(&workers[0]);
    for (int t = 0; t < started; t++)
        pthread_join(helpers[t], NULL);
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
        if (threads > 1) {
            fill_threaded(mt, out, n, mean, sigma, threads);
            return;
        }
    }
#endif
    fill_bulk(mt, out, n, mean, sigma);
}
