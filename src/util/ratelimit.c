/* SPDX-License-Identifier: Apache-2.0 */
/* Rate limiting for log lines a peer can trigger at will. */
#include "util/ratelimit.h"

bool kiln_ratelimit_ok(struct kiln_ratelimit *rl, uint64_t now_ms, unsigned long *dropped)
{
	bool ok;

	pthread_mutex_lock(&rl->lock);
	if (now_ms >= rl->start_ms + rl->interval_ms || now_ms < rl->start_ms) {
		rl->start_ms = now_ms;
		rl->n = 0;
	}
	ok = rl->n < rl->burst;
	if (ok) {
		rl->n++;
		*dropped = rl->dropped;
		rl->dropped = 0;
	} else {
		rl->dropped++;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
