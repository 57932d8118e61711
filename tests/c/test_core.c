/*
 * test_core.c - standalone checks of the C units (engine, Boost arithmetic,
 * fill kernels, zip CRC-32) without Python, so they can run under AddressSanitizer,
 * UndefinedBehaviorSanitizer and LeakSanitizer (see .ci/run).
 *
 * Expected values are the MT19937 reference outputs and values Caffe wrote
 * (tests/data/fillers/fillers.jsonl); floats are compared bit for bit.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "fill.h"
#include "ziggurat_tables.h"

static int failures = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void check_floats(const char *what, const float *got, const double *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CHECK(bits(got[i]) == bits((float)want[i]), "%s[%zu]: %.9g != %.9g", what, i,
              (double)got[i], want[i]);
}

static void test_engine(void)
{
    static const uint32_t first[5] = {3499211612U, 581869302U, 3890346734U, 3586334585U,
                                      545404204U};
    enum { BLOCKS = 20 };
    static uint32_t reference[BLOCKS * CF_MT_N], buf[BLOCKS * CF_MT_N];
    const int top = cf_simd_level(-1);
    cf_mt19937 mt, a, b;
    /* The portable twist's outputs: what every level must give. */
    cf_simd_level(0);
    cf_mt_seed(&mt, 1701U);
    cf_mt_fill_uint32(&mt, reference, BLOCKS * CF_MT_N);
    for (int level = top; level >= 0; level--) {
        CHECK(cf_simd_level(level) == level, "cf_simd_level does not take a level the CPU has");
        cf_mt_seed(&mt, 5489U);
        for (int i = 0; i < 5; i++)
            CHECK(cf_mt_next(&mt) == first[i], "mt19937(5489) output %d at level %d", i, level);
        cf_mt_seed(&mt, 5489U);
        cf_mt_discard(&mt, 9999);
        CHECK(cf_mt_next(&mt) == 4123659995U, "mt19937(5489) 10000th output at level %d", level);

        /* Bulk and one-at-a-time reads give the portable twist's stream. */
        cf_mt_seed(&a, 1701U);
        cf_mt_seed(&b, 1701U);
        cf_mt_fill_uint32(&a, buf, 7);
        cf_mt_fill_uint32(&a, buf + 7, 2000 - 7);
        int same = 1;
        for (int i = 0; i < 2000; i++)
            same &= buf[i] == cf_mt_next(&b) && buf[i] == reference[i];
        CHECK(same, "bulk or single reads differ from the portable twist at level %d", level);

        /* A twist that tempers its words as it goes: the same block and outputs. */
        cf_mt_seed(&a, 1701U);
        cf_mt_seed(&b, 1701U);
        for (int block = 0; block < BLOCKS; block++) {
            cf_mt_refill_tempered(&b, buf);
            for (int i = 0; i < CF_MT_N; i++)
                same &= buf[i] == cf_mt_next(&a) && buf[i] == reference[block * CF_MT_N + i];
            same &= b.pos == 0 && a.refills == b.refills &&
                    memcmp(a.key, b.key, sizeof a.key) == 0;
        }
        CHECK(same, "cf_mt_refill_tempered differs from cf_mt_refill at level %d", level);
    }
    cf_simd_level(top);
}

static void test_gaussian(void)
{
    static const double head[3] = {-0.10926592350006104, -1.6719402074813843,
                                   -0.20477624237537384};
    float out[3];
    cf_mt19937 mt;
    cf_mt_seed(&mt, 1701U);
    cf_fill_gaussian(&mt, out, 3, 0.0f, 1.0f, CF_NORMAL_ZIGGURAT_164);
    check_floats("gaussian seed 1701", out, head, 3);

    /* 37,748,736 values exercise the slow path and the tail many times. */
    static const double tail[4] = {0.002789504826068878, 0.001684727380052209,
                                   -0.004683478269726038, -0.0006168228574097157};
    size_t n = (size_t)4096 * 9216;
    float *big = malloc(n * sizeof *big);
    CHECK(big != NULL, "out of memory");
    if (big == NULL)
        return;
    cf_mt_seed(&mt, 1701U);
    cf_fill_gaussian(&mt, big, n, 0.0f, 0.005f, CF_NORMAL_ZIGGURAT_164);
    check_floats("gaussian 4096x9216 tail", big + n - 4, tail, 4);

    /* Sparse: the Bernoulli mask continues the same stream. */
    static const double sparse_tail[4] = {0.0, 0.003369454760104418, -0.0, -0.0};
    cf_mt_seed(&mt, 1701U);
    cf_fill_gaussian(&mt, big, n, 0.0f, 0.01f, CF_NORMAL_ZIGGURAT_164);
    cf_mask_bernoulli(&mt, big, n, 10.0f / 4096.0f);
    check_floats("sparse gaussian tail", big + n - 4, sparse_tail, 4);
    free(big);
}

static void test_uniform(void)
{
    /* min == max: the range is one ulp wide, and draws that round up retry. */
    float out[1000];
    cf_mt19937 mt;
    cf_mt_seed(&mt, 1701U);
    cf_fill_uniform(&mt, out, 1000, 0.5f, 0.5f);
    int all = 1;
    for (int i = 0; i < 1000; i++)
        all &= out[i] == 0.5f;
    CHECK(all, "uniform(0.5, 0.5) must give 0.5");

    cf_mt_seed(&mt, 7U);
    cf_fill_uniform(&mt, out, 1000, -3.0f, 7.0f);
    int inside = 1;
    for (int i = 0; i < 1000; i++)
        inside &= out[i] >= -3.0f && out[i] <= 7.0f;
    CHECK(inside, "uniform(-3, 7) out of range");
}

/* The float tables of the bulk normal are what ziggurat_tables.h says.
 * For the fast limits: the float product u24 * fx never decreases as u24
 * grows (rounding is monotone), so checking both sides of each limit
 * proves the integer test equal to the float one for every u24. */
static void test_float_tables(void)
{
    int ok = 1;
    for (int i = 0; i < 128; i++) {
        const float fx = (float)normal_x[i] * (1.0f / 16777216.0f);
        const uint32_t k = normal_fast_limit[i];
        ok &= (double)fx == (double)(float)normal_x[i] / 16777216.0; /* exact */
        ok &= k <= 16777216U;
        ok &= k == 0 || (double)((float)(k - 1) * fx) < normal_x[i + 1];
        ok &= k == 16777216U || (double)((float)k * fx) >= normal_x[i + 1];
        /* and a sweep of the rest, one u24 in 4099 */
        for (uint32_t u24 = (uint32_t)i; u24 < 16777216U; u24 += 4099)
            ok &= ((double)((float)u24 * fx) < normal_x[i + 1]) == (u24 < k);
    }
    CHECK(ok, "normal_fast_limit does not match normal_x");
    ok = 1;
    for (int i = 0; i < 128; i++) {
        ok &= normal_box[i][0] == (float)normal_x[i];
        ok &= normal_box[i][1] == (float)normal_y[i];
        ok &= normal_box[i][2] == (float)(normal_y[i + 1] - normal_y[i]);
        ok &= normal_box[i][3] == (float)(normal_x[i] - normal_x[i + 1]);
        /* the slow path tells convex boxes by the float x */
        ok &= (normal_box[i][0] >= 1.0f) == (normal_x[i] >= 1.0);
    }
    CHECK(ok, "normal_box does not match normal_x and normal_y");
}

/*
 * The bulk fills against the one-value-at-a-time definitions: for several
 * seeds, parameters and lengths (around the 16-word chunk and the 624-word
 * block, and large), in one call and in
 * pieces, the values must be bit-identical and the stream must end at the
 * same point.  Run with the SIMD path and with the portable one.
 */
#define BULK_MAX 2500000

/* The index of the first value whose bits differ (n when all are the same). */
static size_t first_difference(const float *got, const float *want, size_t n)
{
    size_t i = 0;
    while (i < n && bits(got[i]) == bits(want[i]))
        i++;
    return i;
}

static int same_stream(const cf_mt19937 *a, const cf_mt19937 *b)
{
    cf_mt19937 x = *a, y = *b;
    int same = 1;
    for (int i = 0; i < 700; i++)
        same &= cf_mt_next(&x) == cf_mt_next(&y);
    return same;
}

static void compare_normal(uint32_t seed, uint32_t skip, size_t n, size_t piece, float mean,
                           float sigma, float *got, float *want)
{
    static const cf_normal_kind kinds[2] = {CF_NORMAL_ZIGGURAT_164, CF_NORMAL_ZIGGURAT_156};
    for (int k = 0; k < 2; k++) {
        cf_normal_kind kind = kinds[k];
        cf_mt19937 a, b;
        cf_mt_seed(&a, seed);
        cf_mt_discard(&a, skip);
        b = a;
        for (size_t i = 0; i < n; i++)
            want[i] = (kind == CF_NORMAL_ZIGGURAT_156 ? cf_normal_ziggurat156(&a)
                                                      : cf_normal_ziggurat164(&a)) *
                          sigma +
                      mean;
        for (size_t done = 0; done < n; done += piece)
            cf_fill_normal_ziggurat(&b, got + done, piece < n - done ? piece : n - done, mean,
                                    sigma, kind);
        size_t bad = first_difference(got, want, n);
        CHECK(bad == n,
              "bulk normal kind %d seed %u skip %u n %zu piece %zu sigma %g: first difference "
              "at %zu",
              (int)kind, (unsigned)seed, (unsigned)skip, n, piece, (double)sigma, bad);
        CHECK(same_stream(&a, &b),
              "bulk normal kind %d seed %u n %zu piece %zu: stream position differs", (int)kind,
              (unsigned)seed, n, piece);
    }
}

static void compare_uniform(uint32_t seed, size_t n, size_t piece, float lo, float hi,
                            float *got, float *want)
{
    cf_mt19937 a, b;
    cf_mt_seed(&a, seed);
    b = a;
    /* fill.c's rule: widen hi by one ulp, halve a range too wide for float. */
    float top = nextafterf(hi, FLT_MAX);
    int doubled = top / 2.0f - lo / 2.0f > FLT_MAX / 2.0f;
    float l = doubled ? lo / 2.0f : lo, h = doubled ? top / 2.0f : top;
    for (size_t i = 0; i < n; i++) {
        float r = cf_uniform_real_one(&a, l, h, h - l);
        want[i] = doubled ? 2.0f * r : r;
    }
    for (size_t done = 0; done < n; done += piece)
        cf_fill_uniform(&b, got + done, piece < n - done ? piece : n - done, lo, hi);
    size_t bad = first_difference(got, want, n);
    CHECK(bad == n, "bulk uniform seed %u n %zu piece %zu [%g, %g]: first difference at %zu",
          (unsigned)seed, n, piece, (double)lo, (double)hi, bad);
    CHECK(same_stream(&a, &b), "bulk uniform seed %u n %zu piece %zu: stream position differs",
          (unsigned)seed, n, piece);
}

static void compare_bernoulli(uint32_t seed, uint32_t skip, size_t n, size_t piece, float p,
                              float *got, float *want)
{
    cf_mt19937 a, b;
    cf_mt_seed(&a, seed);
    cf_mt_discard(&a, skip);
    b = a;
    for (size_t i = 0; i < n; i++) {
        /* values of both signs, so that a dropped one must be +0 or -0 as 0 * x gives */
        want[i] = got[i] = (float)((int)(i % 7) - 3) * 0.5f;
        want[i] *= (float)cf_bernoulli_one(&a, p);
    }
    for (size_t done = 0; done < n; done += piece)
        cf_mask_bernoulli(&b, got + done, piece < n - done ? piece : n - done, p);
    size_t bad = first_difference(got, want, n);
    CHECK(bad == n, "bulk bernoulli seed %u skip %u n %zu piece %zu p %g: first difference at %zu",
          (unsigned)seed, (unsigned)skip, n, piece, (double)p, bad);
    CHECK(same_stream(&a, &b), "bulk bernoulli seed %u n %zu piece %zu: stream position differs",
          (unsigned)seed, n, piece);
}

/* Box-Muller: Caffe's fresh distribution per call pairs values from the
 * start of each call; an odd call discards its last pair's sine value. */
static void compare_box_muller(uint32_t seed, uint32_t skip, size_t n, size_t piece,
                               float *got, float *want)
{
    const float two_pi = 2.0f * (float)3.14159265358979323846;
    cf_mt19937 a, b;
    cf_mt_seed(&a, seed);
    cf_mt_discard(&a, skip);
    b = a;
    for (size_t done = 0; done < n; done += piece) {
        size_t end = piece < n - done ? done + piece : n;
        for (size_t i = done; i < end; i += 2) {
            float r1 = cf_uniform01(&a), r2 = cf_uniform01(&a);
            float rho = sqrtf(-2.0f * logf(1.0f - r2)), angle = two_pi * r1;
            want[i] = rho * cosf(angle) * 0.5f + 1.0f;
            if (i + 1 < end)
                want[i + 1] = rho * sinf(angle) * 0.5f + 1.0f;
        }
        cf_fill_box_muller(&b, got + done, end - done, 1.0f, 0.5f);
    }
    size_t bad = first_difference(got, want, n);
    CHECK(bad == n, "bulk box-muller seed %u skip %u n %zu piece %zu: first difference at %zu",
          (unsigned)seed, (unsigned)skip, n, piece, bad);
    CHECK(same_stream(&a, &b), "bulk box-muller seed %u n %zu piece %zu: stream position differs",
          (unsigned)seed, n, piece);
}

/* Box-Muller fills large enough for threads (2^18 values and up, pieces
 * of 2^16 values), on 1 to 3 threads, the pieces to the first thread there
 * (mode 1) or dealt in turns (mode 2: each thread skips the others'
 * pieces): the redrawn word in the first piece, at the end of one piece or
 * the start of the next.  Also run alone under ThreadSanitizer. */
static void test_box_muller_threads(void)
{
    float *got = malloc(BULK_MAX * sizeof *got);
    float *want = malloc(BULK_MAX * sizeof *want);
    CHECK(got != NULL && want != NULL, "out of memory");
    if (got != NULL && want != NULL) {
        static const uint32_t backs[] = {300, 65535, 65536, 65537, 196607, 196608, 196609};
        for (int mode = 1; mode <= 2; mode++)
            for (int threads = mode; threads <= 3; threads++) {
                cf_box_muller_bulk(mode);
                cf_box_muller_threads(threads);
                for (size_t k = 0; k < sizeof backs / sizeof *backs; k++)
                    compare_box_muller(1701U, 30482231U - backs[k], 262145, 262145, got, want);
                compare_box_muller(3U, 0, 262144, 262144, got, want);
                compare_box_muller(3U, 0, BULK_MAX, 1300001, got, want);
            }
        cf_box_muller_bulk(1);
        cf_box_muller_threads(0);
    }
    free(got);
    free(want);
}

static void test_bulk_paths(void)
{
    static const size_t sizes[] = {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 623, 624, 625,
                                   1000, 1249, 4096, 200000};
    static const size_t pieces[] = {1, 3, 16, 17, 600, 625, 1000, 4099};
    static const uint32_t seeds[] = {1701U, 0U, 5489U, 4294967295U};
    static const float sigmas[] = {1.0f, 0.01f, 3.5f};
    float *got = malloc(BULK_MAX * sizeof *got);
    float *want = malloc(BULK_MAX * sizeof *want);
    CHECK(got != NULL && want != NULL, "out of memory");
    if (got == NULL || want == NULL) {
        free(got);
        free(want);
        return;
    }
    const int top = cf_simd_level(-1);
    for (int level = top; level >= 0; level--) { /* each vector level the CPU has, then portable */
        CHECK(cf_simd_level(level) == level, "cf_simd_level does not take a level the CPU has");
        for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++)
            for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
                size_t n = sizes[k];
                float sigma = sigmas[(s + k) % 3];
                /* one call, and starting mid-block */
                compare_normal(seeds[s], 0, n, n ? n : 1, 0.25f * (float)s, sigma, got, want);
                compare_normal(seeds[s], 601, n, n ? n : 1, -1.0f, sigma, got, want);
                compare_uniform(seeds[s], n, n ? n : 1, -0.05f, 0.05f, got, want);
                compare_bernoulli(seeds[s], (uint32_t)k * 37, n, n ? n : 1,
                                  k % 3 == 0 ? 1.0f : 0.3f / (float)(1 + k % 4), got, want);
            }
        for (size_t p = 0; p < sizeof pieces / sizeof *pieces; p++) {
            compare_normal(1701U, 0, 20000, pieces[p], 0.0f, 1.0f, got, want);
            compare_normal(7U, 13, 2000, pieces[p], 0.5f, 0.01f, got, want);
            compare_uniform(1701U, 20000, pieces[p], -3.0f, 7.0f, got, want);
            compare_bernoulli(3U, 11, 20000, pieces[p], 0.5f, got, want);
            compare_box_muller(5U, 7, 5001, pieces[p], got, want);
        }
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
            compare_box_muller(1701U, (uint32_t)k, sizes[k], sizes[k] ? sizes[k] : 1, got, want);
        /* Word 30,482,231 of seed 1701 is 2^32 - 128 or more: a uniform01
         * made from it must be redrawn.  Around it, in both pairings. */
        for (uint32_t back = 300; back <= 301; back++) {
            compare_box_muller(1701U, 30482231U - back, 1000, 1000, got, want);
            compare_normal(1701U, 30482231U - back, 1000, 1000, 0.0f, 1.0f, got, want);
        }
        compare_bernoulli(1701U, 0, 5000, 5000, 0.0f, got, want);
        compare_bernoulli(1701U, 0, 5000, 5000, 1e-9f, got, want);
        /* Large, in one call and across calls. */
        compare_normal(1701U, 0, BULK_MAX, BULK_MAX, 0.0f, 0.01f, got, want);
        compare_normal(5U, 300, BULK_MAX, 1300001, 1.0f, 2.0f, got, want);
        compare_uniform(1701U, BULK_MAX, 1300001, -0.05f, 0.05f, got, want);
        /* Redraw-heavy ranges: one ulp wide, and the halved full float range. */
        compare_uniform(1701U, 5000, 5000, 0.5f, 0.5f, got, want);
        compare_uniform(1701U, 5000, 17, 0.5f, 0.5f, got, want);
        compare_uniform(9U, 5000, 5000, -FLT_MAX, FLT_MAX, got, want);
        compare_uniform(9U, 5000, 5000, 1.0f, 1.0000001f, got, want);
    }
    cf_simd_level(top);
    free(got);
    free(want);
}

static void test_kernels(void)
{
    float ball[12] = {1, 1, 2, 4, 1, 1, 1, 1, 3, 3, 3, 3};
    cf_normalize_rows(ball, 3, 4);
    CHECK(ball[3] == 0.5f && ball[4] == 0.25f && ball[11] == 0.25f, "normalize_rows");

    /* Rows summed side by side give each row's own in-order float sum, at
     * every vector level the CPU has (16 rows and 8 at a time, then one by
     * one; dims with and without a rest of columns past the vectors). */
    static const size_t shapes[][2] = {{1, 5},   {7, 3},   {8, 1},   {9, 130}, {17, 64},
                                       {40, 7},  {16, 8},  {16, 17}, {33, 9},  {47, 130},
                                       {64, 16}, {31, 40}, {24, 1}};
    static float rows[64 * 130], plain[64 * 130];
    const int top = cf_simd_level(-1);
    for (size_t t = 0; t < (size_t)(top + 1) * (sizeof shapes / sizeof *shapes); t++) {
        const size_t s = t % (sizeof shapes / sizeof *shapes);
        cf_simd_level(top - (int)(t / (sizeof shapes / sizeof *shapes)));
        size_t r = shapes[s][0], dim = shapes[s][1];
        cf_mt19937 mt;
        cf_mt_seed(&mt, (uint32_t)s);
        cf_fill_uniform(&mt, rows, r * dim, 0.0f, 1.0f);
        memcpy(plain, rows, r * dim * sizeof *rows);
        for (size_t i = 0; i < r; i++) {
            float sum = 0.0f;
            for (size_t j = 0; j < dim; j++)
                sum += plain[i * dim + j];
            for (size_t j = 0; j < dim; j++)
                plain[i * dim + j] /= sum;
        }
        cf_normalize_rows(rows, r, dim);
        CHECK(first_difference(rows, plain, r * dim) == r * dim,
              "normalize_rows %zu x %zu at level %d", r, dim, cf_simd_level(-1));
    }
    cf_simd_level(top);

    /* positive_unitball in groups of rows (drawn, then divided while in the
     * cache) is the whole draw followed by the divisions, and leaves the
     * stream where the whole draw does: group of 8 rows of 8000 values
     * with a rest of 3, of 64 rows of 1000 with a rest of 36, groups of one
     * row larger than the group's bytes, one row, empty rows. */
    static const size_t balls[][2] = {{19, 8000}, {100, 1000}, {3, 70000}, {1, 5}, {4, 0}};
    float *ball_got = malloc(210000 * sizeof *ball_got);
    float *ball_want = malloc(210000 * sizeof *ball_want);
    CHECK(ball_got && ball_want, "unitball buffers");
    for (size_t s = 0; s < sizeof balls / sizeof *balls; s++) {
        size_t r = balls[s][0], n = r * balls[s][1];
        cf_mt19937 got_mt, want_mt;
        cf_mt_seed(&got_mt, 1701U + (uint32_t)s);
        cf_mt_seed(&want_mt, 1701U + (uint32_t)s);
        cf_fill_unitball(&got_mt, ball_got, n, r);
        cf_fill_uniform(&want_mt, ball_want, n, 0.0f, 1.0f);
        cf_normalize_rows(ball_want, r, balls[s][1]);
        CHECK(first_difference(ball_got, ball_want, n) == n && cf_mt_next(&got_mt) ==
                  cf_mt_next(&want_mt), "unitball %zu x %zu", r, balls[s][1]);
    }
    free(ball_got);
    free(ball_want);

    /* 4x4 bilinear (2x upsampling): profile 0.25 0.75 0.75 0.25. */
    float k[16];
    cf_fill_bilinear(k, 16, 4, CF_BILINEAR_CAFFE10);
    CHECK(k[0] == 0.0625f && k[5] == 0.5625f && k[15] == 0.0625f, "bilinear 4x4");
}

/* The zip CRC-32 a bit at a time, straight from its definition. */
static uint32_t crc32_reference(const unsigned char *p, size_t n)
{
    uint32_t reg = 0xffffffffU;
    for (size_t i = 0; i < n; i++) {
        reg ^= p[i];
        for (int k = 0; k < 8; k++)
            reg = (reg & 1U) ? (reg >> 1) ^ 0xedb88320U : reg >> 1;
    }
    return ~reg;
}

static void test_crc32(void)
{
    CHECK(cf_crc32(0, (const unsigned char *)"123456789", 9) == 0xcbf43926U,
          "crc32 check value");
    CHECK(cf_crc32(0, NULL, 0) == 0, "crc32 of nothing");
    /* Every length around the folding path's steps, at odd offsets, whole
     * and split in two calls (the second continues from the first). */
    enum { MAX = 1100 };
    unsigned char *buf = malloc(MAX + 8);
    CHECK(buf != NULL, "malloc");
    if (buf == NULL)
        return;
    uint32_t x = 2463534242U;
    for (size_t i = 0; i < MAX + 8; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    for (size_t n = 0; n <= MAX; n += (n < 300 ? 1 : 37)) {
        for (size_t off = 0; off < 8; off += 3) {
            uint32_t want = crc32_reference(buf + off, n);
            CHECK(cf_crc32(0, buf + off, n) == want, "crc32 n=%zu off=%zu", n, off);
            size_t cut = n / 3;
            uint32_t split = cf_crc32(cf_crc32(0, buf + off, cut), buf + off + cut, n - cut);
            CHECK(split == want, "crc32 split n=%zu off=%zu", n, off);
        }
    }
    free(buf);
}

static int report(void)
{
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_core: all checks passed\n");
    return 0;
}

/* With the argument "threads", only test_box_muller_threads (for
 * ThreadSanitizer, whose run of everything takes minutes). */
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "threads") == 0) {
        test_box_muller_threads();
        return report();
    }
    test_engine();
    test_float_tables();
    test_bulk_paths();
    test_gaussian();
    test_uniform();
    test_kernels();
    test_crc32();
    test_box_muller_threads();
    return report();
}
