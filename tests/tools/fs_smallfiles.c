/* SPDX-License-Identifier: Apache-2.0 */
/* Test and bench tool: create, stat and unlink N small files in a directory; prints the rate. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* fs_smallfiles DIR N: "create R/s stat R/s unlink R/s" on stdout; exit 1 on any error. */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char p[4096];
	struct stat st;
	double t[4];
	int n = argc == 3 ? atoi(argv[2]) : 0;

	if (n <= 0) {
		fprintf(stderr, "usage: fs_smallfiles DIR N\n");
		return 2;
	}
	t[0] = now();
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/s%d", argv[1], i);
		int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) < 0) {
			perror(p);
			return 1;
		}
	}
	t[1] = now();
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/s%d", argv[1], i);
		if (stat(p, &st) < 0) {
			perror(p);
			return 1;
		}
	}
	t[2] = now();
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/s%d", argv[1], i);
		if (unlink(p) < 0) {
			perror(p);
			return 1;
		}
	}
	t[3] = now();
	printf("create %.0f/s stat %.0f/s unlink %.0f/s\n", n / (t[1] - t[0]), n / (t[2] - t[1]),
	       n / (t[3] - t[2]));
	return 0;
}
