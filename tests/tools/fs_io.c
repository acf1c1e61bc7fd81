/* SPDX-License-Identifier: Apache-2.0 */
/* Bench tool: sequential and 4 KiB random file I/O rates (what fio would measure, where there is no fio). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_pattern.h"

/*
 * fs_io seqw FILE MIB   write MIB MiB in 1 MiB writes, fsync: MB/s
 * fs_io seqr FILE       read FILE in 1 MiB reads: MB/s
 * fs_io randr FILE OPS  OPS 4 KiB preads at random aligned offsets: ops/s
 * fs_io randw FILE OPS  OPS 4 KiB pwrites at random aligned offsets, then fsync: ops/s
 * One number on stdout; exit 1 with the failing call on stderr.
 */
#define BIG (1u << 20)
#define SMALL 4096u

static int die(const char *what, const char *path)
{
	fprintf(stderr, "fs_io: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

static int seqw(const char *path, long mib, char *buf)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return die("open", path);
	memset(buf, 0x5a, BIG);
	double t0 = io_now();
	for (long i = 0; i < mib; i++)
		if (write(fd, buf, BIG) != (ssize_t)BIG)
			return die("write", path);
	if (fsync(fd) < 0 || close(fd) < 0)
		return die("fsync", path);
	printf("%.1f\n", (double)mib / (io_now() - t0));
	return 0;
}

static int seqr(const char *path, char *buf)
{
	int fd = open(path, O_RDONLY);
	uint64_t total = 0;
	ssize_t n;

	if (fd < 0)
		return die("open", path);
	double t0 = io_now();
	while ((n = read(fd, buf, BIG)) > 0)
		total += (uint64_t)n;
	if (n < 0)
		return die("read", path);
	close(fd);
	printf("%.1f\n", (double)total / BIG / (io_now() - t0));
	return 0;
}

static int rand_io(const char *path, long ops, int write_mode, char *buf)
{
	int fd = open(path, write_mode ? O_RDWR : O_RDONLY);
	uint64_t seed = IO_SEED;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return die("open", path);
	uint64_t blocks = (uint64_t)st.st_size / SMALL;
	if (blocks == 0) {
		fprintf(stderr, "fs_io: %s: smaller than 4 KiB\n", path);
		return 1;
	}
	memset(buf, 0xa5, SMALL);
	double t0 = io_now();
	for (long i = 0; i < ops; i++) {
		off_t off = (off_t)(io_rnd(&seed) % blocks * SMALL);
		ssize_t n = write_mode ? pwrite(fd, buf, SMALL, off) : pread(fd, buf, SMALL, off);
		if (n != (ssize_t)SMALL)
			return die(write_mode ? "pwrite" : "pread", path);
	}
	if (write_mode && fsync(fd) < 0)
		return die("fsync", path);
	printf("%.0f\n", (double)ops / (io_now() - t0));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	static char buf[BIG];
	long n = argc == 4 ? atol(argv[3]) : 0;

	if (argc == 3 && !strcmp(argv[1], "seqr"))
		return seqr(argv[2], buf);
	if (argc == 4 && n > 0 && !strcmp(argv[1], "seqw"))
		return seqw(argv[2], n, buf);
	if (argc == 4 && n > 0 && !strcmp(argv[1], "randr"))
		return rand_io(argv[2], n, 0, buf);
	if (argc == 4 && n > 0 && !strcmp(argv[1], "randw"))
		return rand_io(argv[2], n, 1, buf);
	fprintf(stderr, "usage: fs_io seqw FILE MIB | seqr FILE | randr FILE OPS | randw FILE OPS\n");
	return 2;
}
