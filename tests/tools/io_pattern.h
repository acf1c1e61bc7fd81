/* SPDX-License-Identifier: Apache-2.0 */
/* The clock and the random offsets shared by fs_io (guest lab) and bench/nfs_host_client (libnfs). */
#ifndef KILN_TOOLS_IO_PATTERN_H
#define KILN_TOOLS_IO_PATTERN_H

#include <stdint.h>
#include <time.h>

#define IO_SEED 0x9e3779b97f4a7c15ull

static inline double io_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64 from IO_SEED: the same offsets in every run, on every frontend and client */
static inline uint64_t io_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
