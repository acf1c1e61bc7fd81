/* SPDX-License-Identifier: Apache-2.0 */
/* Attestation verification rate: parse + verify the real fixtures, each as of its own time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/attest.h"

/*
 * Usage: attest_bench SECONDS DOC...
 * One thread, one verifier (so the chain cache is warm after the first round),
 * documents verified round-robin; prints "attest_verify_per_s N" and the
 * cache counters. bench/attest compares N with openssl speed's ecdsap384.
 */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct kiln_attest_verifier *v;
	static uint8_t bufs[16][65536];
	size_t lens[16];
	int ndocs = argc - 2;
	double secs, start, elapsed;
	uint64_t n = 0, hits, misses;

	if (argc < 3 || ndocs > 16 || (secs = atof(argv[1])) <= 0) {
		fprintf(stderr, "usage: attest_bench SECONDS DOC...\n");
		return 2;
	}
	for (int i = 0; i < ndocs; i++) {
		FILE *f = fopen(argv[i + 2], "rb");

		if (!f) {
			perror(argv[i + 2]);
			return 1;
		}
		lens[i] = fread(bufs[i], 1, sizeof(bufs[i]), f);
		fclose(f);
	}
	if (kiln_attest_verifier_new(NULL, 0, &v) < 0) {
		fprintf(stderr, "%s\n", kiln_errmsg());
		return 1;
	}
	start = now();
	do {
		for (int k = 0; k < 64; k++, n++) {
			int i = (int)(n % (uint64_t)ndocs);

			if (kiln_attest_verify_bytes(v, bufs[i], lens[i], KILN_ATTEST_AT_DOC, NULL,
						     NULL) < 0) {
				fprintf(stderr, "%s: %s\n", argv[i + 2], kiln_errmsg());
				return 1;
			}
		}
		elapsed = now() - start;
	} while (elapsed < secs);
	kiln_attest_verifier_stats(v, &hits, &misses);
	printf("attest_verify_per_s %.1f\n", (double)n / elapsed);
	printf("documents %llu cache_hits %llu cache_misses %llu\n", (unsigned long long)n,
	       (unsigned long long)hits, (unsigned long long)misses);
	kiln_attest_verifier_free(v);
	return 0;
}
