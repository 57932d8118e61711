/*
 * glibc_vec.h - glibc's logf and sincosf, four values at a time with AVX2
 * and FMA, giving the bits the C library gives on the inputs the Box-Muller
 * normal computes (see glibc_vec.c for what is proven and where), else
 * the C library's own: the Box-Muller bulk path's logf and sincosf.
 */
#ifndef CAFFEFILL_GLIBC_VEC_H
#define CAFFEFILL_GLIBC_VEC_H

#include <stddef.h>

/* 1 when the functions below may stand in for the C library's: built for
 * x86-64 with glibc, and at run time a glibc whose logf and sincosf are the
 * algorithms reproduced here (2.29 on) and a CPU with AVX2 and FMA (where
 * glibc itself selects their FMA builds, which these reproduce). */
int cf_glibc_vec_usable(void);

/* 1 (the default) lets the functions below use the four-lane code where
 * it is usable, 0 makes them call the C library, -1 only asks; returns 1
 * when the four-lane code is in use (allowed and usable).  For tests and
 * benchmarks; set before computing, not during. */
int cf_glibc_vec_use(int enable);

/* out[i] = logf(x[i]) for n values, each a positive normal float. */
void cf_glibc_vec_logf(const float *x, float *out, size_t n);

/* sincosf(x[i], &s[i], &c[i]) for n values, each 0 <= x[i] < 120. */
void cf_glibc_vec_sincosf(const float *x, float *s, float *c, size_t n);

#endif
