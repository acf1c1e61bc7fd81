/* SPDX-License-Identifier: Apache-2.0 */
/* The log rate limiter: a burst per interval, then a count of what was dropped. */
#include "t.h"

#include "util/ratelimit.h"

TEST(burst_then_count)
{
	struct kiln_ratelimit rl = KILN_RATELIMIT_INIT(3, 1000);
	unsigned long dropped = 99;
	int passed = 0;

	for (int i = 0; i < 1000; i++)
		passed += kiln_ratelimit_ok(&rl, 5000, &dropped);
	CHECK(passed == 3);
	CHECK(dropped == 0);
	/* still inside the interval: nothing passes */
	CHECK(!kiln_ratelimit_ok(&rl, 5999, &dropped));
	/* the next interval: the first line reports what was dropped */
	CHECK(kiln_ratelimit_ok(&rl, 6000, &dropped));
	CHECK(dropped == 998);
	CHECK(kiln_ratelimit_ok(&rl, 6001, &dropped) && dropped == 0);
	/* a clock that goes backwards starts a new interval instead of silencing for ever */
	CHECK(kiln_ratelimit_ok(&rl, 6002, &dropped));
	CHECK(!kiln_ratelimit_ok(&rl, 6003, &dropped));
	CHECK(kiln_ratelimit_ok(&rl, 10, &dropped) && dropped == 1);
}

int main(void)
{
	RUN(burst_then_count);
	return t_done();
}
