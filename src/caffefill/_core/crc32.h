/*
 * crc32.h - the CRC-32 of zip archives (IEEE 802.3 polynomial, reflected;
 * the same value as zlib's crc32), for the .npz writer.
 */
#ifndef CF_CRC32_H
#define CF_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32 of `n` bytes at `data` continuing from `crc` (0 to start), as
 * zlib's crc32(crc, data, n). */
uint32_t cf_crc32(uint32_t crc, const unsigned char *data, size_t n);

/* 1 when cf_crc32 runs on carry-less multiplication (the fast path), 0 when
 * it runs a byte at a time. */
int cf_crc32_accelerated(void);

#endif
