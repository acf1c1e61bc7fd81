/* SPDX-License-Identifier: Apache-2.0 */
/* Test and bench tool: create, stat and unlink N small files in a directory; prints the rate. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * fs_smallfiles DIR N: "create R/s stat R/s unlink R/s" on stdout; exit 1 on any error.
 * fs_smallfiles DIR N PHASE: that phase alone ("stat R/s"), so a bench can count what
 * each one costs between runs (bench/guestlab_fs KILN_BENCH_COUNT=1).
 */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Phase i of the three on file s<k> of dir: 0 create (1 byte), 1 stat, 2 unlink. */
static int step(int phase, const char *dir, int k)
{
	char p[4096];
	struct stat st;
	int fd;

	snprintf(p, sizeof(p), "%s/s%d", dir, k);
	switch (phase) {
	case 0:
		fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd >= 0 && write(fd, "x", 1) == 1 && close(fd) == 0)
			return 0;
		break;
	case 1:
		if (stat(p, &st) == 0)
			return 0;
		break;
	default:
		if (unlink(p) == 0)
			return 0;
	}
	perror(p);
	return -1;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "create", "stat", "unlink" };
	double rate[3];
	int n = argc >= 3 && argc <= 4 ? atoi(argv[2]) : 0, first = 0, last = 2;

	for (int i = 0; argc == 4 && i < 3; i++)
		if (!strcmp(argv[3], names[i]))
			first = last = i;
	if (n <= 0 || (argc == 4 && first != last)) {
		fprintf(stderr, "usage: fs_smallfiles DIR N [create|stat|unlink]\n");
		return 2;
	}
	for (int ph = first; ph <= last; ph++) {
		double t0 = now();
		for (int i = 0; i < n; i++)
			if (step(ph, argv[1], i) < 0)
				return 1;
		rate[ph] = n / (now() - t0);
	}
	for (int ph = first; ph <= last; ph++)
		printf("%s%s %.0f/s", ph > first ? " " : "", names[ph], rate[ph]);
	printf("\n");
	return 0;
}
