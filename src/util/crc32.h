/* SPDX-License-Identifier: Apache-2.0 */
/* CRC-32 (IEEE/zlib) with carry-less multiplication where the CPU has it. */
#ifndef KILN_UTIL_CRC32_H
#define KILN_UTIL_CRC32_H

#include <stddef.h>
#include <stdint.h>

/*
 * Same value as zlib's crc32_z(crc, buf, len) for every input (crc is the
 * CRC of the bytes before buf, 0 to start). Uses PCLMULQDQ folding on
 * x86-64 CPUs that have it, zlib's table code otherwise.
 */
uint32_t kiln_crc32(uint32_t crc, const void *buf, size_t len);

/* The same with the portable code only (for tests and the fuzz target). */
uint32_t kiln_crc32_portable(uint32_t crc, const void *buf, size_t len);

/* 1 when kiln_crc32 uses the carry-less multiply path on this CPU. */
int kiln_crc32_accelerated(void);

#endif
