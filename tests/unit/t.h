/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny unit-test harness: CHECK() records failures, main() reports them. */
#ifndef KILN_TEST_T_H
#define KILN_TEST_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

static int t_failures;
static int t_checks;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		t_checks++;                                                           \
		if (!(cond)) {                                                        \
			t_failures++;                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", \
				__FILE__, __LINE__, #cond, kiln_errmsg());            \
		}                                                                     \
	} while (0)

/* Expect rc to be a failure whose message contains substr. */
#define CHECK_ERR(rc, substr)                                                         \
	do {                                                                          \
		int _rc = (rc);                                                       \
		CHECK(_rc < 0);                                                       \
		if (_rc < 0 && !strstr(kiln_errmsg(), (substr))) {                    \
			t_failures++;                                                 \
			fprintf(stderr, "%s:%d: error \"%s\" lacks \"%s\"\n",        \
				__FILE__, __LINE__, kiln_errmsg(), (substr));         \
		}                                                                     \
	} while (0)

#define TEST(name) static void name(void)
#define RUN(name)                                          \
	do {                                               \
		int _before = t_failures;                  \
		name();                                    \
		fprintf(stderr, "  %s %s\n",               \
			t_failures == _before ? "ok  " : "FAIL", #name); \
	} while (0)

static inline int t_done(void)
{
	fprintf(stderr, "%d checks, %d failed\n", t_checks, t_failures);
	return t_failures ? 1 : 0;
}

/*
 * Path of a fixture (tests/fixtures/REL): $KILN_FIXTURES, else the checkout's
 * tests/fixtures found from this binary (CHECKOUT/build/tests/test_x), so a
 * test runs the same from any directory and any checkout path.
 */
static inline const char *t_fixture(const char *rel)
{
	static char buf[4096];
	char exe[2048];
	const char *root = getenv("KILN_FIXTURES");

	if (root) {
		snprintf(buf, sizeof(buf), "%s/%s", root, rel);
		return buf;
	}
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	for (int up = 0; up < 3; up++) { /* test_x, tests, build */
		char *slash = strrchr(exe, '/');
		if (!slash) {
			snprintf(buf, sizeof(buf), "tests/fixtures/%s", rel);
			return buf;
		}
		*slash = '\0';
	}
	snprintf(buf, sizeof(buf), "%s/tests/fixtures/%s", exe, rel);
	return buf;
}

#endif
