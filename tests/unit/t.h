/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny unit-test harness: CHECK() records failures, main() reports them. */
#ifndef KILN_TEST_T_H
#define KILN_TEST_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Path of a shared fixture: ../shared/fixtures beside the checkout. */
static inline const char *t_fixture(const char *rel)
{
	static char buf[4096];
	const char *root = getenv("KILN_FIXTURES");

	snprintf(buf, sizeof(buf), "%s/%s", root ? root : "../shared/fixtures", rel);
	return buf;
}

#endif
