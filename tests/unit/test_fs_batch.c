/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the storage core's store traffic: batched puts and gets, the block cache, pipelining. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/internal.h"
#include "fs/wire.h"
#include "t.h"

#include "counting_store.h"

/* A new volume in a fresh memory store, with one empty file "f" (a). */
static struct kfs *new_volume(struct kfs_attr *a)
{
	struct kfs *fs;

	fresh_store();
	fs = mount_counting(KFS_MOUNT_CREATE);
	if (fs && kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0644, 0, 0, a) < 0) {
		kfs_unmount(fs);
		return NULL;
	}
	return fs;
}

/* A 1 MiB write is one batch of 32 puts, and reading it back one batch of 32 gets. */
TEST(one_batch_per_mib)
{
	static uint8_t buf[1 << 20], back[1 << 20];
	struct kfs *fs;
	struct kfs_attr a;

	fs = new_volume(&a);
	CHECK(fs);
	if (!fs)
		return;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13 + (i >> 15));
	counts_reset();
	CHECK(kfs_write(fs, a.ino, 0, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	CHECK(cs.putv_calls == 1 && cs.putv_objs == 32 && cs.puts == 0);
	CHECK(kfs_unmount(fs) == 0);

	fs = mount_counting(0); /* cold: nothing cached */
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_getattr(fs, a.ino, &a) == 0 && a.size == sizeof(buf));
	counts_reset();
	CHECK(kfs_read(fs, a.ino, 0, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(!memcmp(buf, back, sizeof(buf)));
	CHECK(cs.getv_calls == 1 && cs.getv_objs == 32 && cs.gets == 0);
	CHECK(kfs_unmount(fs) == 0);
}

/* A batch whose third put fails changes nothing: the old blocks stay, the new ones go. */
TEST(failed_batch_keeps_old_blocks)
{
	uint8_t a4[4 * KFS_BLOCK], b4[4 * KFS_BLOCK], back[4 * KFS_BLOCK];
	struct kfs *fs;
	struct kfs_attr a;

	fs = new_volume(&a);
	CHECK(fs);
	if (!fs)
		return;
	memset(a4, 'a', sizeof(a4));
	memset(b4, 'b', sizeof(b4));
	CHECK(kfs_write(fs, a.ino, 0, a4, sizeof(a4)) == (ssize_t)sizeof(a4));
	CHECK(kfs_sync(fs) == 0);
	counts_reset();
	cs.fail_in = 3;
	CHECK(kfs_write(fs, a.ino, 0, b4, sizeof(b4)) == -ENOSPC);
	CHECK(cs.dels == 3); /* the three that were stored */
	CHECK(kfs_read(fs, a.ino, 0, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(!memcmp(back, a4, sizeof(a4)));
	CHECK(kfs_unmount(fs) == 0);

	fs = mount_counting(0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_read(fs, a.ino, 0, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(!memcmp(back, a4, sizeof(a4)));
	CHECK(kfs_unmount(fs) == 0);
}

/*
 * A write over several batches whose second batch fails is a short write,
 * and a truncate whose tail rewrite fails still records the blocks it
 * dropped: either way the volume reads back without an integrity failure
 * (the inode used to stay clean, so the commit deleted blocks it named).
 */
TEST(failures_leave_a_consistent_volume)
{
	static uint8_t a2[2 << 20], b2[2 << 20], back[2 << 20];
	struct kfs_attr sz = { .size = KFS_BLOCK + KFS_BLOCK / 2 }, out;
	struct kfs *fs;
	struct kfs_attr a, t;

	fs = new_volume(&a);
	CHECK(fs);
	if (!fs)
		return;
	memset(a2, 'a', sizeof(a2));
	memset(b2, 'b', sizeof(b2));
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "t", S_IFREG | 0644, 0, 0, &t) == 0);
	CHECK(kfs_write(fs, a.ino, 0, a2, sizeof(a2)) == (ssize_t)sizeof(a2));
	CHECK(kfs_write(fs, t.ino, 0, a2, 3 * KFS_BLOCK) == 3 * KFS_BLOCK);
	CHECK(kfs_sync(fs) == 0);
	cs.fail_in = 40; /* in the second batch of 32 */
	CHECK(kfs_write(fs, a.ino, 0, b2, sizeof(b2)) == 1 << 20);
	cs.fail_in = 1;
	CHECK(kfs_setattr(fs, t.ino, KFS_SET_SIZE, &sz, &out) == -ENOSPC);
	CHECK(kfs_unmount(fs) == 0);

	fs = mount_counting(0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_read(fs, a.ino, 0, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(!memcmp(back, b2, 1 << 20) && !memcmp(back + (1 << 20), a2, 1 << 20));
	CHECK(kfs_read(fs, t.ino, 0, back, sizeof(back)) == 3 * KFS_BLOCK);
	CHECK(!memcmp(back, a2, 2 * KFS_BLOCK));
	CHECK(kfs_unmount(fs) == 0);
}

/* Write 2 MiB of a known pattern to a's file, then remount cold (nothing cached). */
static struct kfs *two_mib_cold(struct kfs_attr *a, uint8_t *buf)
{
	struct kfs *fs = new_volume(a);

	for (size_t i = 0; i < (2u << 20); i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 15));
	if (!fs || kfs_write(fs, a->ino, 0, buf, 2u << 20) != 2 << 20 || kfs_unmount(fs) < 0)
		return NULL;
	fs = mount_counting(0);
	if (fs && kfs_getattr(fs, a->ino, a) < 0) {
		kfs_unmount(fs);
		return NULL;
	}
	counts_reset();
	return fs;
}

/*
 * 128 KiB reads in order (the kernel's readahead requests) fetch the blocks
 * ahead of the reader in a growing window: far fewer round trips than
 * reads, and every block fetched once.
 */
TEST(sequential_reads_fetch_ahead)
{
	static uint8_t buf[2 << 20], back[2 << 20];
	struct kfs_attr a;
	struct kfs *fs = two_mib_cold(&a, buf);

	CHECK(fs);
	if (!fs)
		return;
	for (size_t off = 0; off < sizeof(back); off += 128 << 10)
		CHECK(kfs_read(fs, a.ino, off, back + off, 128 << 10) == 128 << 10);
	CHECK(!memcmp(buf, back, sizeof(buf)));
	CHECK(cs.getv_objs == 64 && cs.gets == 0);
	CHECK(cs.getv_calls <= 6); /* 16 reads */
	CHECK(kfs_unmount(fs) == 0);
}

/* Reads here and there fetch only the block each asks for. */
TEST(random_reads_fetch_no_more)
{
	static uint8_t buf[2 << 20];
	static const uint32_t at[] = { 40, 7, 23, 51, 12, 60 };
	uint8_t back[4096];
	struct kfs_attr a;
	struct kfs *fs = two_mib_cold(&a, buf);

	CHECK(fs);
	if (!fs)
		return;
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		uint64_t off = (uint64_t)at[i] * KFS_BLOCK + 4096;
		CHECK(kfs_read(fs, a.ino, off, back, sizeof(back)) == sizeof(back));
		CHECK(!memcmp(back, buf + off, sizeof(back)));
	}
	CHECK(cs.getv_objs + cs.gets == 6);
	CHECK(kfs_unmount(fs) == 0);
}

/*
 * 4 KiB writes and reads next to the last one (the kernel's writeback
 * sends dirty pages in order) need no get: the block is in the cache.
 */
TEST(small_io_from_cache)
{
	uint8_t page[4096], back[4096];
	struct kfs *fs;
	struct kfs_attr a;

	fs = new_volume(&a);
	CHECK(fs);
	if (!fs)
		return;
	memset(page, 'x', sizeof(page));
	CHECK(kfs_write(fs, a.ino, 0, page, sizeof(page)) == (ssize_t)sizeof(page));
	CHECK(kfs_unmount(fs) == 0);

	fs = mount_counting(0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_getattr(fs, a.ino, &a) == 0);
	counts_reset();
	memset(page, 'y', sizeof(page));
	CHECK(kfs_write(fs, a.ino, 4096, page, sizeof(page)) == (ssize_t)sizeof(page));
	CHECK(cs.gets + cs.getv_objs == 0); /* deferred: block 0 is fetched when its page 0 is read */
	memset(page, 'z', sizeof(page));
	CHECK(kfs_write(fs, a.ino, 8192, page, sizeof(page)) == (ssize_t)sizeof(page));
	CHECK(kfs_read(fs, a.ino, 0, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(back[0] == 'x' && back[4095] == 'x');
	CHECK(kfs_read(fs, a.ino, 4096, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(back[0] == 'y');
	CHECK(cs.gets + cs.getv_objs == 1);
	CHECK(kfs_unmount(fs) == 0);

	fs = mount_counting(0); /* and what the cache answered is what was stored */
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_read(fs, a.ino, 8192, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(back[0] == 'z' && back[4095] == 'z');
	CHECK(kfs_unmount(fs) == 0);
	fresh_store();
}

/* A parent that reads a whole batch before it answers: a client waiting per put would hang. */
static void *batch_server(void *arg)
{
	int fd = *(int *)arg;
	uint8_t *req[4];
	size_t len;
	uint8_t ok = 0, nospc = ENOSPC, noent = ENOENT, data[6] = { 0, 'h', 'e', 'l', 'l', 'o' };

	if (kfs_wire_recv(fd, &req[0], &len) < 0 || kfs_wire_send(fd, &ok, 1, NULL, 0) < 0)
		return NULL; /* OPEN */
	free(req[0]);
	for (int i = 0; i < 3; i++)
		if (kfs_wire_recv(fd, &req[i], &len) < 0)
			return NULL;
	if (kfs_wire_send(fd, &ok, 1, NULL, 0) < 0 || kfs_wire_send(fd, &ok, 1, NULL, 0) < 0 ||
	    kfs_wire_send(fd, &nospc, 1, NULL, 0) < 0)
		return NULL;
	for (int i = 0; i < 3; i++)
		free(req[i]);
	/* a DEL (not waited for) then a GET: both read before either is answered */
	for (int i = 0; i < 2; i++)
		if (kfs_wire_recv(fd, &req[i], &len) < 0)
			return NULL;
	if (kfs_wire_send(fd, &noent, 1, NULL, 0) == 0)
		(void)!kfs_wire_send(fd, data, sizeof(data), NULL, 0);
	free(req[0]);
	free(req[1]);
	return NULL;
}

TEST(remote_pipelined)
{
	struct kfs_obj v[3] = { { .id = "b-1-0-1", .buf = (uint8_t *)"x", .len = 1 },
				{ .id = "b-1-1-2", .buf = (uint8_t *)"y", .len = 1 },
				{ .id = "b-1-2-3", .buf = (uint8_t *)"z", .len = 1 } };
	struct kfs_store *st;
	pthread_t t;
	uint8_t *got = NULL;
	size_t glen = 0;
	int sv[2];

	alarm(60); /* a client that waits for each reply deadlocks with this server */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(pthread_create(&t, NULL, batch_server, &sv[1]) == 0);
	CHECK(kfs_store_remote(sv[0], "vol", &st) == 0);
	CHECK(st->putv && st->putv(st, v, 3) == -ENOSPC);
	CHECK(v[0].rc == 0 && v[1].rc == 0 && v[2].rc == -ENOSPC);
	CHECK(st->del(st, "b-1-0-1") == 0); /* its ENOENT answer only leaks, never fails */
	CHECK(st->get(st, "b-1-1-2", &got, &glen) == 0 && glen == 5 && !memcmp(got, "hello", 5));
	free(got);
	st->close(st);
	pthread_join(t, NULL);
	close(sv[1]);
	alarm(0);
}

/* Replies to a getv read in place, one too large for its room, then a hostile one. */
static void *inplace_server(void *arg)
{
	int fd = *(int *)arg;
	uint8_t *req;
	size_t len;
	uint8_t ok = 0, noent = ENOENT, big[21] = { 0 }, bad[2] = { ENOSPC, 'x' };

	if (kfs_wire_recv(fd, &req, &len) < 0 || kfs_wire_send(fd, &ok, 1, NULL, 0) < 0)
		return NULL; /* OPEN */
	free(req);
	for (int i = 0; i < 3; i++) { /* the three GETs of the batch */
		if (kfs_wire_recv(fd, &req, &len) < 0)
			return NULL;
		free(req);
	}
	memset(big + 1, 'b', 20);
	if (kfs_wire_send(fd, &ok, 1, "0123456789", 10) < 0 || kfs_wire_send(fd, big, 21, NULL, 0) < 0 ||
	    kfs_wire_send(fd, &noent, 1, NULL, 0) < 0)
		return NULL;
	if (kfs_wire_recv(fd, &req, &len) < 0)
		return NULL;
	free(req);
	if (kfs_wire_send(fd, &ok, 1, "hello", 5) < 0 || kfs_wire_recv(fd, &req, &len) < 0)
		return NULL;
	free(req);
	(void)!kfs_wire_send(fd, bad, sizeof(bad), NULL, 0);
	return NULL;
}

TEST(remote_gets_in_place)
{
	uint8_t room[2][16];
	struct kfs_obj v[3] = { { .id = "b-1-0-1", .buf = room[0], .cap = 16 },
				{ .id = "b-1-1-2", .buf = room[1], .cap = 16 },
				{ .id = "b-1-2-3", .buf = room[1], .cap = 16 } };
	struct kfs_store *st;
	pthread_t t;
	uint8_t *got = NULL;
	size_t glen = 0;
	int sv[2];

	alarm(60);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(pthread_create(&t, NULL, inplace_server, &sv[1]) == 0);
	CHECK(kfs_store_remote(sv[0], "vol", &st) == 0);
	CHECK(st->getv(st, v, 3) == -EMSGSIZE);
	CHECK(v[0].rc == 0 && v[0].len == 10 && v[0].buf == room[0] && !memcmp(room[0], "0123456789", 10));
	CHECK(v[1].rc == -EMSGSIZE && v[2].rc == -ENOENT && v[1].buf == room[1]);
	/* the oversize reply left the channel whole: the next one reads right */
	CHECK(st->get(st, "b-1-3-4", &got, &glen) == 0 && glen == 5 && !memcmp(got, "hello", 5));
	free(got);
	got = NULL;
	CHECK(st->get(st, "b-1-4-5", &got, &glen) == -EBADMSG && got == NULL); /* status and data */
	st->close(st);
	pthread_join(t, NULL);
	close(sv[1]);
	alarm(0);
}

/* Gets in flight answered too large, then well; a put; two gets, the first answered with status and data. */
static void *inflight_server(void *arg)
{
	int fd = *(int *)arg;
	uint8_t *req;
	size_t len;
	uint8_t ok = 0, big[21] = { 0 }, bad[2] = { ENOSPC, 'x' };

	if (kfs_wire_recv(fd, &req, &len) < 0 || kfs_wire_send(fd, &ok, 1, NULL, 0) < 0)
		return NULL; /* OPEN */
	free(req);
	for (int i = 0; i < 2; i++) { /* the two GETs sent without waiting */
		if (kfs_wire_recv(fd, &req, &len) < 0)
			return NULL;
		free(req);
	}
	if (kfs_wire_send(fd, big, sizeof(big), NULL, 0) < 0 || kfs_wire_send(fd, &ok, 1, "hello", 5) < 0)
		return NULL;
	for (int i = 0; i < 3; i++) { /* the PUT (answered), then two GETs */
		if (kfs_wire_recv(fd, &req, &len) < 0)
			return NULL;
		free(req);
		if (i == 0 && kfs_wire_send(fd, &ok, 1, NULL, 0) < 0)
			return NULL;
	}
	(void)!kfs_wire_send(fd, bad, sizeof(bad), NULL, 0);
	return NULL;
}

/*
 * Gets in flight read hostile replies into their own room: one too large
 * (refused, the channel whole), then one that fits; a put with data reads
 * them before it is sent; a reply with both an error and data fails the
 * channel for the get waited for and lets go of the one behind it.
 */
TEST(remote_gets_in_flight)
{
	uint8_t room[3][16];
	struct kfs_obj g[3] = { { .id = "b-1-0-1", .buf = room[0], .cap = 16 },
				{ .id = "b-1-1-2", .buf = room[1], .cap = 16 },
				{ .id = "b-1-2-3", .buf = room[2], .cap = 16 } };
	struct kfs_obj p = { .id = "b-1-3-4", .buf = (uint8_t *)"x", .len = 1 };
	const struct kfs_put_pipe *pp;
	struct kfs_store *st;
	pthread_t t;
	int sv[2], rc = 1;

	alarm(60);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(pthread_create(&t, NULL, inflight_server, &sv[1]) == 0);
	CHECK(kfs_store_remote(sv[0], "vol", &st) == 0 && (pp = kfs_store_put_pipe(st)) != NULL);
	CHECK(pp->get_send(st, &g[0]) == 0 && pp->get_send(st, &g[1]) == 0);
	CHECK(g[0].rc == KFS_OBJ_IN_FLIGHT && g[1].rc == KFS_OBJ_IN_FLIGHT);
	CHECK(pp->send(st, &p) == 0); /* read both answers first */
	CHECK(g[0].rc == -EMSGSIZE && g[1].rc == 0 && g[1].len == 5 && !memcmp(room[1], "hello", 5));
	CHECK(pp->reap(st, &rc, 1) == 0 && rc == 0);
	CHECK(pp->get_send(st, &g[2]) == 0 && pp->get_send(st, &g[0]) == 0);
	CHECK(pp->get_wait(st, &g[2]) == -EBADMSG && g[2].rc == -EBADMSG);
	CHECK(g[0].rc == -EBADMSG); /* not waited for, never to be written to */
	pthread_join(t, NULL);
	close(sv[1]); /* the channel is out of step: the close must not wait for more */
	st->close(st);
	alarm(0);
}

/*
 * The parent for corked_puts: answers OPEN, then waits for go before it
 * reads anything more; then answers every request with 0 and notes its
 * id, in the order they came.
 */
static struct {
	int go[2];
	char ids[8][KFS_ID_MAX + 1];
	int n;
} cork_par;

static void *cork_server(void *arg)
{
	int fd = *(int *)arg;
	struct kfs_wire_req r;
	uint8_t *req, ok = 0, c;
	size_t len;

	if (kfs_wire_recv(fd, &req, &len) < 0 || kfs_wire_send(fd, &ok, 1, NULL, 0) < 0)
		return NULL; /* OPEN */
	free(req);
	if (read(cork_par.go[0], &c, 1) != 1)
		return NULL;
	while (kfs_wire_recv(fd, &req, &len) == 0) {
		if (kfs_wire_req_decode(req, len, &r) == 0 && cork_par.n < 8)
			snprintf(cork_par.ids[cork_par.n++], KFS_ID_MAX + 1, "%s", r.op == KFS_OP_SYNC ? "sync" : r.id);
		free(req);
		if (kfs_wire_send(fd, &ok, 1, NULL, 0) < 0)
			break;
	}
	return NULL;
}

/*
 * Small puts sent without waiting are held (nothing reaches the socket),
 * and go, in order, with the next request sent or before any answer is
 * waited for: a reap of held puts does not wait for ever, and a large put
 * takes the held ones with it.
 */
TEST(corked_puts)
{
	static uint8_t large[64 << 10];
	struct kfs_obj a = { .id = "i-1-1", .buf = (uint8_t *)"a", .len = 1 },
		       b = { .id = "i-2-2", .buf = (uint8_t *)"b", .len = 1 },
		       c = { .id = "i-3-3", .buf = (uint8_t *)"c", .len = 1 },
		       d = { .id = "b-1-0-4", .buf = large, .len = sizeof(large) };
	const struct kfs_put_pipe *pp;
	struct kfs_store *st;
	pthread_t t;
	int sv[2], rc[2] = { 1, 1 };

	alarm(60); /* a reap that waits for a held put never returns */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && pipe(cork_par.go) == 0);
	CHECK(pthread_create(&t, NULL, cork_server, &sv[1]) == 0);
	CHECK(kfs_store_remote(sv[0], "vol", &st) == 0 && (pp = kfs_store_put_pipe(st)) != NULL);
	CHECK(pp->send(st, &a) == 0 && pp->send(st, &b) == 0);
	struct pollfd p = { sv[1], POLLIN, 0 };
	CHECK(poll(&p, 1, 0) == 0); /* held: nothing sent yet */
	CHECK(write(cork_par.go[1], "g", 1) == 1);
	CHECK(pp->reap(st, rc, 2) == 0 && rc[0] == 0 && rc[1] == 0);
	CHECK(pp->send(st, &c) == 0 && pp->send(st, &d) == 0);
	CHECK(pp->reap(st, rc, 2) == 0 && rc[0] == 0 && rc[1] == 0);
	CHECK(st->sync(st) == 0);
	st->close(st); /* the parent reads its EOF */
	pthread_join(t, NULL);
	const char *want[] = { "i-1-1", "i-2-2", "i-3-3", "b-1-0-4", "sync" };
	CHECK(cork_par.n == 5);
	for (int i = 0; i < 5 && i < cork_par.n; i++)
		CHECK(!strcmp(cork_par.ids[i], want[i]));
	close(sv[1]);
	close(cork_par.go[0]);
	close(cork_par.go[1]);
	alarm(0);
}

/*
 * The parent for replies_read_together: after OPEN it reads four
 * requests (two puts, two gets), then answers all of them in one write
 * (a short block and one larger than the reader's buffer), and answers a
 * SYNC after that.
 */
static uint8_t together_small[3000], together_big[40000];

static void *together_server(void *arg)
{
	static uint8_t out[5 * 4 + sizeof(together_small) + sizeof(together_big)];
	int fd = *(int *)arg;
	uint8_t *req, ok = 0;
	size_t len, at = 0;

	if (kfs_wire_recv(fd, &req, &len) < 0 || kfs_wire_send(fd, &ok, 1, NULL, 0) < 0)
		return NULL; /* OPEN */
	free(req);
	for (int i = 0; i < 4; i++) {
		if (kfs_wire_recv(fd, &req, &len) < 0)
			return NULL;
		free(req);
	}
	at += kfs_wire_frame(out + at, &ok, 1, NULL, 0);
	at += kfs_wire_frame(out + at, &ok, 1, NULL, 0);
	at += kfs_wire_frame(out + at, &ok, 1, together_small, sizeof(together_small));
	at += kfs_wire_frame(out + at, &ok, 1, together_big, sizeof(together_big));
	if (kfs_wire_send_frames(fd, out, at) < 0 || kfs_wire_recv(fd, &req, &len) < 0)
		return NULL;
	free(req);
	(void)!kfs_wire_send(fd, &ok, 1, NULL, 0); /* the SYNC */
	return NULL;
}

/*
 * Answers sent together are taken in together (not one read each): the
 * first reap leaves less in the socket than the answers behind its own,
 * and every reply still lands whole where it belongs, a block partly from
 * what was read ahead, one too large for that buffer straight into place.
 */
TEST(replies_read_together)
{
	static uint8_t room[2][sizeof(together_big)];
	struct kfs_obj a = { .id = "i-1-1", .buf = (uint8_t *)"a", .len = 1 },
		       b = { .id = "i-2-2", .buf = (uint8_t *)"b", .len = 1 },
		       g[2] = { { .id = "b-1-0-1", .buf = room[0], .cap = sizeof(room[0]) },
				{ .id = "b-1-1-2", .buf = room[1], .cap = sizeof(room[1]) } };
	const struct kfs_put_pipe *pp;
	struct kfs_store *st;
	pthread_t t;
	int sv[2], rc[2] = { 1, 1 }, queued = -1;

	alarm(60);
	for (size_t i = 0; i < sizeof(together_big); i++)
		together_big[i] = (uint8_t)(i * 7 + 1);
	memset(together_small, 's', sizeof(together_small));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(pthread_create(&t, NULL, together_server, &sv[1]) == 0);
	CHECK(kfs_store_remote(sv[0], "vol", &st) == 0 && (pp = kfs_store_put_pipe(st)) != NULL);
	CHECK(pp->send(st, &a) == 0 && pp->send(st, &b) == 0);
	CHECK(pp->get_send(st, &g[0]) == 0 && pp->get_send(st, &g[1]) == 0);
	CHECK(pp->reap(st, rc, 2) == 0 && rc[0] == 0 && rc[1] == 0);
	CHECK(ioctl(sv[0], FIONREAD, &queued) == 0);
	/* what is left of the two gets' replies (length, status, data) */
	CHECK(queued >= 0 && (size_t)queued < 2 * 5 + sizeof(together_small) + sizeof(together_big));
	CHECK(pp->get_wait(st, &g[0]) == 0 && g[0].len == sizeof(together_small));
	CHECK(!memcmp(room[0], together_small, sizeof(together_small)));
	CHECK(pp->get_wait(st, &g[1]) == 0 && g[1].len == sizeof(together_big));
	CHECK(!memcmp(room[1], together_big, sizeof(together_big)));
	CHECK(st->sync(st) == 0); /* the channel is in step after them */
	st->close(st);
	pthread_join(t, NULL);
	close(sv[1]);
	alarm(0);
}

/*
 * The sync of a directory with a file per object (a volume from before
 * segments, which keeps that layout): objects deleted before it, and past
 * the few it syncs one by one.
 */
TEST(dir_sync_few_and_many)
{
	char dir[] = "/tmp/kiln-fs-batch-XXXXXX", id[64];
	struct kfs_store *st;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(id, sizeof(id), "%s/hdr", dir);
	CHECK(close(open(id, O_WRONLY | O_CREAT, 0600)) == 0);
	CHECK(kfs_store_dir_open(dir, NULL, &st) == 0);
	CHECK(st->put(st, "b-1-0-1", "a", 1, 0) == 0);
	CHECK(st->put(st, "b-1-1-2", "b", 1, 0) == 0);
	CHECK(st->del(st, "b-1-0-1") == 0);
	CHECK(st->sync(st) == 0);
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "b-2-%d-%d", i, i + 10);
		CHECK(st->put(st, id, "c", 1, 0) == 0);
	}
	CHECK(st->sync(st) == 0);
	CHECK(st->put(st, "b-3-0-200", "d", 1, 0) == 0);
	CHECK(st->sync(st) == 0);
	st->close(st);
	snprintf(id, sizeof(id), "%s/b-3-0-200", dir);
	CHECK(access(id, F_OK) == 0); /* still a file per object */
	snprintf(id, sizeof(id), "rm -rf %s", dir);
	CHECK(system(id) == 0);
}

static void count_frame(void *ctx, const struct kfs_wire_req *r)
{
	(*(int *)ctx) += r->op == KFS_OP_GET && !strncmp(r->id, "b-", 2);
}

/* kilnd's look at the GETs queued behind one: complete frames only, stopping at a bad one. */
TEST(wire_frames)
{
	uint8_t buf[256], bad[] = { 0, 0, 0, 3, 9, 0, 0 }, huge[] = { 0xff, 0, 0, 0, 2, 0, 0 };
	struct kfs_wire_req g = { .op = KFS_OP_GET };
	size_t len, at = 0;
	int seen = 0;

	for (int i = 0; i < 3; i++) {
		snprintf(g.id, sizeof(g.id), "b-1-%d-%d", i, i + 1);
		CHECK(kfs_wire_req_encode(&g, buf + at + 4, sizeof(buf) - at - 4, &len) == 0);
		buf[at] = buf[at + 1] = buf[at + 2] = 0;
		buf[at + 3] = (uint8_t)len;
		at += 4 + len;
	}
	CHECK(kfs_wire_frames(buf, at + 3, count_frame, &seen) == 3 && seen == 3); /* + partial */
	memcpy(buf + at, bad, sizeof(bad));
	seen = 0;
	CHECK(kfs_wire_frames(buf, at + sizeof(bad), count_frame, &seen) == 4 && seen == 3);
	seen = 0;
	CHECK(kfs_wire_frames(huge, sizeof(huge), count_frame, &seen) == 0 && seen == 0);
}

int main(void)
{
	RUN(wire_frames);
	RUN(one_batch_per_mib);
	RUN(failed_batch_keeps_old_blocks);
	RUN(failures_leave_a_consistent_volume);
	RUN(sequential_reads_fetch_ahead);
	RUN(random_reads_fetch_no_more);
	RUN(small_io_from_cache);
	RUN(remote_pipelined);
	RUN(remote_gets_in_place);
	RUN(remote_gets_in_flight);
	RUN(corked_puts);
	RUN(replies_read_together);
	RUN(dir_sync_few_and_many);
	return t_done();
}
