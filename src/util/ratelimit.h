/* SPDX-License-Identifier: Apache-2.0 */
/* Rate limiting for log lines a peer can trigger at will: a burst per interval, then a count. */
#ifndef KILN_UTIL_RATELIMIT_H
#define KILN_UTIL_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * One per log site (usually a static). At most burst lines per interval_ms
 * pass; the rest are counted, and the next line that passes reports how
 * many were dropped, so nothing disappears silently. Thread-safe.
 */
struct kiln_ratelimit {
	pthread_mutex_t lock;
	unsigned burst;
	uint64_t interval_ms;
	uint64_t start_ms;
	unsigned n;
	unsigned long dropped;
};

#define KILN_RATELIMIT_INIT(b, ms) \
	{ .lock = PTHREAD_MUTEX_INITIALIZER, .burst = (b), .interval_ms = (ms) }

/* True when a line may be written now; *dropped gets the lines suppressed before it. */
bool kiln_ratelimit_ok(struct kiln_ratelimit *rl, uint64_t now_ms, unsigned long *dropped);

#endif
