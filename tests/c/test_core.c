/*
 * test_core.c - standalone checks of the C units (engine, Boost arithmetic,
 * fill kernels) without Python, so they can run under AddressSanitizer,
 * UndefinedBehaviorSanitizer and LeakSanitizer (see .ci/run).
 *
 * Expected values are the MT19937 reference outputs and values Caffe wrote
 * (tests/data/fillers/fillers.jsonl); floats are compared bit for bit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fill.h"

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
    cf_mt19937 mt;
    cf_mt_seed(&mt, 5489U);
    for (int i = 0; i < 5; i++)
        CHECK(cf_mt_next(&mt) == first[i], "mt19937(5489) output %d", i);
    cf_mt_seed(&mt, 5489U);
    cf_mt_discard(&mt, 9999);
    CHECK(cf_mt_next(&mt) == 4123659995U, "mt19937(5489) 10000th output");

    /* Bulk and one-at-a-time reads give the same stream. */
    cf_mt19937 a, b;
    cf_mt_seed(&a, 1701U);
    cf_mt_seed(&b, 1701U);
    uint32_t buf[2000];
    cf_mt_fill_uint32(&a, buf, 7);
    cf_mt_fill_uint32(&a, buf + 7, 2000 - 7);
    int same = 1;
    for (int i = 0; i < 2000; i++)
        same &= buf[i] == cf_mt_next(&b);
    CHECK(same, "bulk reads differ from single reads");
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

static void test_kernels(void)
{
    float ball[12] = {1, 1, 2, 4, 1, 1, 1, 1, 3, 3, 3, 3};
    cf_normalize_rows(ball, 3, 4);
    CHECK(ball[3] == 0.5f && ball[4] == 0.25f && ball[11] == 0.25f, "normalize_rows");

    /* 4x4 bilinear (2x upsampling): profile 0.25 0.75 0.75 0.25. */
    float k[16];
    cf_fill_bilinear(k, 16, 4, CF_BILINEAR_CAFFE10);
    CHECK(k[0] == 0.0625f && k[5] == 0.5625f && k[15] == 0.0625f, "bilinear 4x4");
}

int main(void)
{
    test_engine();
    test_gaussian();
    test_uniform();
    test_kernels();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_core: all checks passed\n");
    return 0;
}
