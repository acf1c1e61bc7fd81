/* SPDX-License-Identifier: Apache-2.0 */
/* bench/nfs_host's program: kiln's NFS server in a thread over a memory store, measured through libnfs (NFSv4). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nfsc/libnfs.h>

#include "fs/fs.h"
#include "nfs/server.h"
#include "../tests/tools/io_pattern.h"

/*
 * nfs_host_client MIB OPS FILES: one round of the guest bench's figures
 * (bench/guestlab_fs) against a fresh volume, one "NAME VALUE" line each:
 * seqw/seqr MB/s (2 KiB writes, 512 KiB reads; fsync after writing),
 * randr/randw ops/s (4 KiB reads, 2 KiB writes at the same pseudo-random
 * offsets, fsync after writing), and
 * create/stat/unlink per second for FILES 1-byte files. libnfs connects
 * from a reserved port when run as root, as the server requires.
 */
#define BIG (1u << 20)
/*
 * Debian's libnfs 4.0.0 encodes an NFSv4 COMPOUND in a 4 KiB buffer that
 * does not grow for a WRITE's data (fixed upstream after 4.0.0): its WRITEs
 * carry 2 KiB here. READs take 512 KiB.
 */
#define CHUNK (BIG / 2)
#define WCHUNK 2048u
#define SMALL 4096u

static struct nfs_srv *srv;
static int lfd, stop[2];

static void *serve(void *arg)
{
	(void)arg;
	if (nfs_serve(srv, lfd, stop[0]) < 0)
		fprintf(stderr, "nfs_host_client: server: %s\n", kiln_errmsg());
	return NULL;
}

static void die(struct nfs_context *nfs, const char *what)
{
	fprintf(stderr, "nfs_host_client: %s: %s\n", what, nfs ? nfs_get_error(nfs) : kiln_errmsg());
	exit(1);
}

/* The volume, its server on 127.0.0.1 and a libnfs context mounted on it. */
static struct nfs_context *start(struct kfs **fs)
{
	uint8_t key[NFS_FH_KEY_LEN], volid[NFS_VOLID_LEN];
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	pthread_t t;
	uint16_t port;
	char url[128];

	if (kfs_store_mem(&st) < 0 || kfs_keywrap_sim(NULL, &kw) < 0 ||
	    kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, fs) < 0 || nfs_fh_key(*fs, key, volid) < 0 ||
	    nfs_srv_new(*fs, key, volid, &srv) < 0 || nfs_listen(0, &lfd, &port) < 0 || pipe(stop) < 0 ||
	    pthread_create(&t, NULL, serve, NULL))
		die(NULL, "server");
	struct nfs_context *nfs = nfs_init_context();
	if (!nfs)
		die(NULL, "libnfs context");
	snprintf(url, sizeof(url), "nfs://127.0.0.1/?version=4&nfsport=%u", port);
	struct nfs_url *u = nfs_parse_url_dir(nfs, url);
	if (!u || nfs_mount(nfs, u->server, u->path) < 0)
		die(nfs, "mount");
	nfs_destroy_url(u);
	return nfs;
}

static void seq(struct nfs_context *nfs, long mib, char *buf)
{
	struct nfsfh *fh;

	memset(buf, 0x5a, BIG);
	double t0 = io_now();
	if (nfs_open2(nfs, "/big", O_CREAT | O_RDWR | O_TRUNC, 0644, &fh) < 0)
		die(nfs, "open /big");
	for (long i = 0; i < mib * (BIG / WCHUNK); i++)
		if (nfs_pwrite(nfs, fh, (uint64_t)i * WCHUNK, WCHUNK, buf) != (int)WCHUNK)
			die(nfs, "write /big");
	if (nfs_fsync(nfs, fh) < 0)
		die(nfs, "fsync /big");
	printf("seqw %.1f\n", (double)mib / (io_now() - t0));
	t0 = io_now();
	for (long i = 0; i < mib * (BIG / CHUNK); i++)
		if (nfs_pread(nfs, fh, (uint64_t)i * CHUNK, CHUNK, buf) != (int)CHUNK)
			die(nfs, "read /big");
	printf("seqr %.1f\n", (double)mib / (io_now() - t0));
	nfs_close(nfs, fh);
}

static void rand_io(struct nfs_context *nfs, long mib, long ops, char *buf)
{
	uint64_t blocks = (uint64_t)mib * (BIG / SMALL);
	struct nfsfh *fh;

	if (nfs_open2(nfs, "/big", O_RDWR, 0, &fh) < 0)
		die(nfs, "open /big");
	for (int w = 0; w < 2; w++) {
		uint64_t seed = IO_SEED;
		double t0 = io_now();
		for (long i = 0; i < ops; i++) {
			uint64_t off = io_rnd(&seed) % blocks * SMALL;
			unsigned len = w ? WCHUNK : SMALL;
			int n = w ? nfs_pwrite(nfs, fh, off, len, buf) : nfs_pread(nfs, fh, off, len, buf);
			if (n != (int)len)
				die(nfs, w ? "pwrite /big" : "pread /big");
		}
		if (w && nfs_fsync(nfs, fh) < 0)
			die(nfs, "fsync /big");
		printf("%s %.0f\n", w ? "randw" : "randr", (double)ops / (io_now() - t0));
	}
	nfs_close(nfs, fh);
}

static void small(struct nfs_context *nfs, long files)
{
	struct nfs_stat_64 st;
	struct nfsfh *fh;
	char p[64];
	double t[4];

	t[0] = io_now();
	for (long i = 0; i < files; i++) {
		snprintf(p, sizeof(p), "/s%ld", i);
		if (nfs_open2(nfs, p, O_CREAT | O_EXCL | O_WRONLY, 0644, &fh) < 0 ||
		    nfs_write(nfs, fh, 1, "x") != 1 || nfs_close(nfs, fh) < 0)
			die(nfs, p);
	}
	t[1] = io_now();
	for (long i = 0; i < files; i++) {
		snprintf(p, sizeof(p), "/s%ld", i);
		if (nfs_stat64(nfs, p, &st) < 0)
			die(nfs, p);
	}
	t[2] = io_now();
	for (long i = 0; i < files; i++) {
		snprintf(p, sizeof(p), "/s%ld", i);
		if (nfs_unlink(nfs, p) < 0)
			die(nfs, p);
	}
	t[3] = io_now();
	printf("create %.0f\nstat %.0f\nunlink %.0f\n", files / (t[1] - t[0]), files / (t[2] - t[1]),
	       files / (t[3] - t[2]));
}

int main(int argc, char **argv)
{
	static char buf[BIG];
	long mib = argc == 4 ? atol(argv[1]) : 0, ops = argc == 4 ? atol(argv[2]) : 0;
	long files = argc == 4 ? atol(argv[3]) : 0;
	struct kfs *fs;

	if (mib <= 0 || ops <= 0 || files <= 0) {
		fprintf(stderr, "usage: nfs_host_client MIB OPS FILES\n");
		return 2;
	}
	struct nfs_context *nfs = start(&fs);
	seq(nfs, mib, buf);
	rand_io(nfs, mib, ops, buf);
	small(nfs, files);
	nfs_umount(nfs);
	nfs_destroy_context(nfs);
	return 0;
}
