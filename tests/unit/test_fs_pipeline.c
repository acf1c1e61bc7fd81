/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of pipelined block puts: the core over the storage channel to a parent in a thread. */
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/internal.h"
#include "fs/wire.h"
#include "t.h"

/*
 * The parent: a memory store behind the wire. It holds the answers to
 * block puts until hold of them wait or another request comes (answers
 * stay in order): with hold above KFS_BATCH_MAX, a client that waited for
 * a batch of puts before sending the next would wait for ever. fail_in >
 * 0: that block put (counting from when it was set) fails with ENOSPC.
 * gate > 0: a get of a block from gate - 1 on stops the parent (gated is
 * then set) until the test sets gate to 0. block_gets counts block gets.
 * hold_inodes: answers to inode puts are held until another request
 * comes. fail_inode_in > 0: that inode put fails with ENOSPC.
 * points: it takes commit points (KFS_PUT_BARRIER) as kilnd does:
 * refused (counted in refused) after a put that failed since the last
 * SYNC or commit point, stored otherwise; a delete flagged
 * KFS_DEL_AFTER_POINT is then done only if the last point was stored.
 * syncs counts SYNCs.
 */
#define HOLD_MAX 64
static struct {
	struct kfs_store *mem;
	int hold, fail_in, dels, held, fail_inode_in;
	bool hold_inodes, points, point_refused;
	int failed, refused, syncs;
	uint8_t status[HOLD_MAX];
	int gate, block_gets;
	bool gated;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int logs;
	char log[256];
} par = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* A get of a block past the gate waits for the test to open it. */
static void gate(const char *id)
{
	unsigned long long ino, blk, ver;

	if (sscanf(id, "b-%llx-%llx-%llx", &ino, &blk, &ver) != 3)
		return;
	pthread_mutex_lock(&par.mu);
	par.block_gets++;
	if (par.gate && blk + 1 >= (unsigned long long)par.gate) {
		par.gated = true;
		pthread_cond_broadcast(&par.cv);
		while (par.gate)
			pthread_cond_wait(&par.cv, &par.mu);
	}
	pthread_mutex_unlock(&par.mu);
}

/* The test: wait until the parent is stopped at the gate, then open it. */
static bool gate_reached_then_open(void)
{
	bool was;

	pthread_mutex_lock(&par.mu);
	while (!par.gated)
		pthread_cond_wait(&par.cv, &par.mu); /* a client that waits here never returns: alarm */
	was = par.gated;
	par.gate = 0;
	par.gated = false;
	pthread_cond_broadcast(&par.cv);
	pthread_mutex_unlock(&par.mu);
	return was;
}

static void flush_held(int fd)
{
	for (int i = 0; i < par.held; i++)
		(void)!kfs_wire_send(fd, &par.status[i], 1, NULL, 0);
	par.held = 0;
}

static int put(const struct kfs_wire_req *r)
{
	if (r->flags & KFS_PUT_BARRIER) {
		int f = par.failed;
		par.failed = 0;
		par.refused += f < 0;
		par.point_refused = f < 0;
		return f < 0 ? f : par.mem->put(par.mem, r->id, r->data, r->len, 0);
	}
	int rc = (r->id[0] == 'b' && par.fail_in > 0 && --par.fail_in == 0) ||
			 (r->id[0] == 'i' && par.fail_inode_in > 0 && --par.fail_inode_in == 0)
		 ? -ENOSPC
		 : par.mem->put(par.mem, r->id, r->data, r->len, 0);
	if (rc < 0 && !par.failed)
		par.failed = rc;
	return rc;
}

static int handle(const struct kfs_wire_req *r, uint8_t **data, size_t *len)
{
	switch (r->op) {
	case KFS_OP_GET:
		gate(r->id);
		return par.mem->get(par.mem, r->id, data, len);
	case KFS_OP_PUT:
		return put(r);
	case KFS_OP_DEL:
		if ((r->flags & KFS_DEL_AFTER_POINT) && par.point_refused)
			return -ECANCELED; /* the commit it followed did not happen */
		par.dels++;
		return par.mem->del(par.mem, r->id);
	case KFS_OP_SYNC:
		par.syncs++;
		par.failed = 0;
		return 0;
	default: /* OPEN: the features, when it takes commit points */
		par.failed = 0;
		if (par.points && (*data = malloc(1))) {
			**data = KFS_WIRE_BARRIERS | KFS_WIRE_DEL_AFTER;
			*len = 1;
		}
		return 0;
	}
}

static void *parent(void *arg)
{
	int fd = *(int *)arg;
	struct kfs_wire_req r;
	uint8_t *req, *data, st;
	size_t len, dlen;

	while (kfs_wire_recv(fd, &req, &len) == 0) {
		int rc;
		data = NULL;
		dlen = 0;
		rc = kfs_wire_req_decode(req, len, &r) == 0 ? handle(&r, &data, &dlen) : -EPROTO;
		st = (uint8_t)(rc < 0 ? -rc : 0);
		bool inode = r.op == KFS_OP_PUT && r.id[0] == 'i' && par.hold_inodes;
		if ((r.op == KFS_OP_PUT && r.id[0] == 'b') || inode) {
			par.status[par.held++] = st;
			if (par.held >= (inode ? HOLD_MAX : par.hold))
				flush_held(fd);
		} else {
			flush_held(fd);
			(void)!kfs_wire_send(fd, &st, 1, data, rc < 0 ? 0 : dlen);
		}
		free(data);
		free(req);
	}
	flush_held(fd);
	close(fd);
	return NULL;
}

static pthread_t thread;
static int parent_fd;

/* The core's integrity log: counted, the last line kept. */
static void log_line(void *ctx, const char *line)
{
	par.logs++;
	snprintf(par.log, sizeof(par.log), "%s", line);
}

/* Mount the volume in par.mem over a new channel to the parent thread. */
static struct kfs *mount_remote(unsigned flags)
{
	struct kfs_keywrap *kw;
	struct kfs_store *st;
	struct kfs *fs = NULL;
	int sv[2];

	if (!par.mem && kfs_store_mem(&par.mem) < 0)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return NULL;
	parent_fd = sv[1];
	if (pthread_create(&thread, NULL, parent, &parent_fd) != 0 ||
	    kfs_store_remote(sv[0], "vol", &st) < 0)
		return NULL;
	if (kfs_keywrap_sim(NULL, &kw) < 0 || kfs_mount(st, kw, flags, log_line, NULL, &fs) < 0)
		return NULL;
	return fs;
}

static int unmount_remote(struct kfs *fs)
{
	int rc = kfs_unmount(fs); /* closes the channel: the parent thread ends */

	pthread_join(thread, NULL);
	return rc;
}

/* Unmount, and drop the volume from the parent's memory. */
static void end_volume(struct kfs *fs)
{
	CHECK(unmount_remote(fs) == 0);
	alarm(0);
	par.mem->close(par.mem);
	par.mem = NULL;
}

/*
 * Writes of 32 then 48 blocks to a new file while the parent answers block
 * puts 40 at a time: the second write is sent before the first's answers.
 */
TEST(puts_do_not_wait)
{
	static uint8_t buf[80 * KFS_BLOCK], back[80 * KFS_BLOCK];
	struct kfs_attr a;
	struct kfs *fs;

	alarm(60); /* a client that waits for each batch of puts never gets its answers */
	par.hold = 40;
	fs = mount_remote(KFS_MOUNT_CREATE);
	CHECK(fs);
	if (!fs)
		return;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 11 + (i >> 15));
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0644, 0, 0, &a) == 0);
	CHECK(kfs_write(fs, a.ino, 0, buf, 32 * KFS_BLOCK) == 32 * KFS_BLOCK);
	CHECK(kfs_write(fs, a.ino, 32 * KFS_BLOCK, buf + 32 * KFS_BLOCK, 48 * KFS_BLOCK) == 48 * KFS_BLOCK);
	CHECK(kfs_read(fs, a.ino, 0, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(!memcmp(buf, back, sizeof(buf)));
	CHECK(kfs_sync(fs) == 0);
	end_volume(fs);
}

/*
 * A commit's inode puts wait neither for their answers nor for those of
 * the block puts before them: the parent holds all until the commit's
 * SYNC, or its commit point, comes (a commit that waited would never get
 * them). When one of them fails, the commit fails and the next stores
 * every inode again: the volume remounts whole. With commit points, no
 * commit sends a SYNC, and the failed one's record is refused.
 */
static void inode_puts(bool points)
{
	struct kfs_attr a[6];
	char name[8], back[16], want[16];
	struct kfs *fs;

	alarm(60);
	par.hold = 0;
	par.points = points;
	fs = mount_remote(KFS_MOUNT_CREATE);
	CHECK(fs);
	if (!fs)
		return;
	par.syncs = par.refused = 0;
	par.hold_inodes = true;
	par.hold = HOLD_MAX; /* the blocks' answers too: the commit sends its inodes before them */
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK(kfs_mknod(fs, KFS_ROOT_INO, name, S_IFREG | 0644, 0, 0, &a[i]) == 0);
		CHECK(kfs_write(fs, a[i].ino, 0, name, 2) == 2);
	}
	CHECK(kfs_sync(fs) == 0);
	par.hold = 0;
	for (int i = 0; i < 6; i++)
		CHECK(kfs_write(fs, a[i].ino, 8, "more", 4) == 4);
	par.fail_inode_in = 4;
	CHECK_ERR(kfs_sync(fs), "an inode could not be stored: No space left");
	CHECK(kfs_sync(fs) == 0);
	par.hold_inodes = false;
	CHECK(points ? par.syncs == 0 && par.refused == 1 : par.syncs == 3 && par.refused == 0);
	CHECK(unmount_remote(fs) == 0);
	fs = mount_remote(0);
	CHECK(fs);
	if (!fs)
		return;
	for (int i = 0; i < 6; i++) {
		memset(want, 0, sizeof(want));
		snprintf(want, sizeof(want), "f%d", i);
		memcpy(want + 8, "more", 4);
		CHECK(kfs_read(fs, a[i].ino, 0, back, sizeof(back)) == 12 && !memcmp(back, want, 12));
	}
	end_volume(fs);
	par.points = false;
}

TEST(inode_puts_do_not_wait)
{
	inode_puts(false);
	inode_puts(true);
}

/*
 * A commit of more changes than a journal record takes (KFS_JOURNAL_PAIRS)
 * writes a root, also to a parent that takes commit points: whether the
 * record fits is known only once the inodes are put.
 */
TEST(many_changes_write_a_root)
{
	enum { FILES = KFS_JOURNAL_PAIRS + 100 };
	struct kfs_attr a;
	char name[16];
	struct kfs *fs;

	alarm(120);
	par.hold = 0;
	par.points = true;
	fs = mount_remote(KFS_MOUNT_CREATE);
	CHECK(fs && kfs_sync(fs) == 0); /* the mount's first commit: a root; then records */
	for (int i = 0; fs && i < FILES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK(kfs_mknod(fs, KFS_ROOT_INO, name, S_IFREG | 0644, 0, 0, &a) == 0);
	}
	CHECK(fs && kfs_sync(fs) == 0);
	CHECK(fs && unmount_remote(fs) == 0);
	fs = mount_remote(0);
	CHECK(fs);
	for (int i = 0; fs && i < FILES; i += FILES / 7) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK(kfs_lookup(fs, KFS_ROOT_INO, name, &a) == 0);
	}
	if (fs)
		end_volume(fs);
	par.points = false;
}

/*
 * A new volume (answers at once) with a file of four committed blocks of
 * 'a' (a), then four of 'b' written over them whose put number fail_in is
 * refused after the write returned.
 */
static struct kfs *rewritten_with_a_failure(struct kfs_attr *a, int fail_in, bool points)
{
	uint8_t a4[4 * KFS_BLOCK], b4[4 * KFS_BLOCK];
	struct kfs *fs;

	par.hold = 0;
	par.points = points;
	fs = mount_remote(KFS_MOUNT_CREATE);
	if (!fs)
		return NULL;
	memset(a4, 'a', sizeof(a4));
	memset(b4, 'b', sizeof(b4));
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0644, 0, 0, a) == 0);
	CHECK(kfs_write(fs, a->ino, 0, a4, sizeof(a4)) == (ssize_t)sizeof(a4));
	/* the second commit waits on the parent, which has then done the first's deletes */
	CHECK(kfs_sync(fs) == 0 && kfs_sync(fs) == 0);
	par.fail_in = fail_in;
	par.dels = 0;
	CHECK(kfs_write(fs, a->ino, 0, b4, sizeof(b4)) == (ssize_t)sizeof(b4)); /* not answered yet */
	return fs;
}

/*
 * A block put refused after its write returned: the commit fails with the
 * parent's error and deletes nothing; the block names its committed
 * version again; the next commit stores that, and the volume reads back
 * whole (before, a commit could name a block that was never stored).
 * With commit points, the parent refuses the failed commit's record.
 */
static void late_put_failure(bool points)
{
	uint8_t back[4 * KFS_BLOCK], want[4 * KFS_BLOCK];
	struct kfs_attr a;
	struct kfs *fs;

	alarm(60);
	fs = rewritten_with_a_failure(&a, 3, points);
	CHECK(fs);
	if (!fs)
		return;
	memset(want, 'b', sizeof(want));
	memset(want + 2 * KFS_BLOCK, 'a', KFS_BLOCK);
	par.refused = 0;
	CHECK_ERR(kfs_sync(fs), "No space left");
	CHECK(par.refused == points);
	CHECK(kfs_read(fs, a.ino, 0, back, KFS_BLOCK) == KFS_BLOCK); /* a round trip: the parent is done */
	CHECK(par.dels == 0); /* the committed blocks all stay */
	CHECK(kfs_read(fs, a.ino, 0, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(!memcmp(back, want, sizeof(want)));
	CHECK(kfs_sync(fs) == 0); /* reported once; this one stores the repaired inode */
	CHECK(unmount_remote(fs) == 0); /* and the parent has seen every request */
	/*
	 * then: the replaced blocks 0, 1 and 3, the inode's last committed
	 * version, and the one the failed commit put (its inode puts went out
	 * behind the blocks, before their answers came)
	 */
	CHECK(par.dels == 5);

	fs = mount_remote(0);
	CHECK(fs);
	if (!fs)
		return;
	memset(back, 0, sizeof(back));
	CHECK(kfs_read(fs, a.ino, 0, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(!memcmp(back, want, sizeof(want)));
	end_volume(fs);
	par.points = false;
}

TEST(late_put_failure_fails_the_commit)
{
	late_put_failure(false);
	late_put_failure(true);
}

/*
 * The background commit stores the repaired volume but leaves the error to
 * the app's fsync. With commit points, the parent refuses that commit's
 * record for the failure it saw before (the enclave has repaired it): the
 * commit then makes its puts durable by SYNC and puts the record again.
 */
static void background_commit(bool points)
{
	struct kfs_attr a;
	struct kfs *fs;

	alarm(60);
	fs = rewritten_with_a_failure(&a, 2, points);
	CHECK(fs);
	if (!fs)
		return;
	par.refused = par.syncs = 0;
	CHECK(kfs_sync_background(fs) == 0);
	CHECK(par.refused == points && par.syncs == 1);
	/* what the commit replaced goes (with points, not behind the refused record) */
	CHECK(fs->st->sync(fs->st) == 0 && par.dels == 4); /* blocks 0, 1, 3 and the inode */
	CHECK(!kfs_dirty(fs) && !kfs_synced(fs)); /* committed, an error to tell */
	CHECK_ERR(kfs_sync(fs), "No space left");
	CHECK(kfs_synced(fs) && kfs_sync(fs) == 0);
	CHECK(unmount_remote(fs) == 0);
	fs = mount_remote(0); /* what was committed reads back */
	CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "f", &a) == 0);
	end_volume(fs);
	par.points = false;
}

TEST(background_commit_leaves_the_error)
{
	background_commit(false);
	background_commit(true);
}

/*
 * A new volume with a file of 64 blocks (2 MiB) of a known pattern (buf),
 * remounted cold: nothing cached.
 */
static struct kfs *two_mib_cold(struct kfs_attr *a, uint8_t *pattern)
{
	struct kfs *fs;

	par.hold = 0;
	fs = mount_remote(KFS_MOUNT_CREATE);
	for (size_t i = 0; i < (2u << 20); i++)
		pattern[i] = (uint8_t)(i * 7 + (i >> 15));
	if (!fs || kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0644, 0, 0, a) < 0 ||
	    kfs_write(fs, a->ino, 0, pattern, 2u << 20) != 2 << 20 || unmount_remote(fs) < 0)
		return NULL;
	fs = mount_remote(0);
	if (fs && kfs_getattr(fs, a->ino, a) < 0)
		return NULL;
	par.logs = par.block_gets = 0;
	return fs;
}

static uint8_t buf[2 << 20], back[2 << 20]; /* the file as written, as read back */

/* Under alarm (a client that waits for ever fails), a cold file in buf (two_mib_cold). */
static struct kfs *cold_file(struct kfs_attr *a)
{
	struct kfs *fs;

	alarm(60);
	fs = two_mib_cold(a, buf);
	CHECK(fs);
	memset(back, 0, sizeof(back));
	return fs;
}

/* Read 128 KiB at block b of ino into to (which holds the file from 0). */
static ssize_t read4(struct kfs *fs, uint64_t ino, uint64_t b, uint8_t *to)
{
	return kfs_read(fs, ino, b * KFS_BLOCK, to + b * KFS_BLOCK, 4 * KFS_BLOCK);
}

/* Flip a byte of the stored object of block b of ino (its id into id). */
static bool flip_block(struct kfs *fs, uint64_t ino, uint64_t b, char *id)
{
	uint8_t *obj;
	size_t *len;

	kfs_block_id(ino, b, kfs_ifind(fs, ino)->blk[b], id);
	if (kfs_store_mem_raw(par.mem, id, &obj, &len) < 0 || *len <= 40)
		return false;
	obj[40] ^= 1;
	return true;
}

/*
 * In-order reads: a read served from the cache sends the next window's
 * gets and returns without their answers. The parent stops at the first
 * get of block 8: the read of blocks 4-7 returns all the same (before, it
 * fetched blocks 8-15 in its own round trip and waited for ever), and the
 * parent has the get of block 8. Every block is fetched once.
 */
TEST(readahead_does_not_wait)
{
	struct kfs_attr a;
	struct kfs *fs;

	if (!(fs = cold_file(&a)))
		return;
	par.gate = 8 + 1;
	CHECK(read4(fs, a.ino, 0, back) == 4 * KFS_BLOCK);
	CHECK(read4(fs, a.ino, 4, back) == 4 * KFS_BLOCK);
	CHECK(gate_reached_then_open());
	for (uint64_t b = 8; b < 64; b += 4)
		CHECK(read4(fs, a.ino, b, back) == 4 * KFS_BLOCK);
	CHECK(!memcmp(buf, back, sizeof(buf)));
	CHECK(fs->ngetf == 0 && par.block_gets == 64);
	end_volume(fs);
}

/*
 * Blocks read ahead that were tampered with (10) or are missing (21): the
 * reads before them succeed and log nothing; the read of each is EIO and
 * names it; the reads after succeed again.
 */
TEST(readahead_failure_only_when_read)
{
	char id[2][KFS_ID_MAX + 1];
	struct kfs_attr a;
	struct kfs *fs;

	if (!(fs = cold_file(&a)))
		return;
	CHECK(flip_block(fs, a.ino, 10, id[0]));
	kfs_block_id(a.ino, 21, kfs_ifind(fs, a.ino)->blk[21], id[1]);
	CHECK(par.mem->del(par.mem, id[1]) == 0);
	for (uint64_t b = 0; b < 64; b += 4) {
		bool bad = b == 8 || b == 20;
		int logs = par.logs;
		CHECK(read4(fs, a.ino, b, back) == (bad ? -EIO : 4 * KFS_BLOCK));
		CHECK(par.logs == logs + bad); /* nothing said about a block read ahead */
		if (bad)
			CHECK(strstr(par.log, id[b == 20]) != NULL);
		else
			CHECK(!memcmp(buf + b * KFS_BLOCK, back + b * KFS_BLOCK, 4 * KFS_BLOCK));
	}
	CHECK(par.block_gets > 64); /* the bad ones were asked for again when read */
	end_volume(fs);
}

/*
 * A get in flight never answers with data older than a put sent before
 * it, nor does one sent before a put: blocks 10-11 are rewritten while
 * the gets of 8-15 are in flight, 16-23 while the gets of 12-27 are
 * (their answers, the old versions, are not cached), and 16-23 are read
 * ahead again while their puts are not answered (the gets name the new
 * versions).
 */
TEST(gets_in_flight_never_older)
{
	struct kfs_attr a;
	struct kfs_inode *n;
	struct kfs *fs;

	if (!(fs = cold_file(&a)))
		return;
	n = kfs_ifind(fs, a.ino);
	CHECK(read4(fs, a.ino, 0, back) == 4 * KFS_BLOCK && read4(fs, a.ino, 4, back) == 4 * KFS_BLOCK);
	CHECK(kfs_get_in_flight(fs, a.ino, 10, n->blk[10]));
	memset(buf + 10 * KFS_BLOCK, 'C', 2 * KFS_BLOCK);
	CHECK(kfs_write(fs, a.ino, 10 * KFS_BLOCK, buf + 10 * KFS_BLOCK, 2 * KFS_BLOCK) == 2 * KFS_BLOCK);
	CHECK(read4(fs, a.ino, 8, back) == 4 * KFS_BLOCK);
	CHECK(kfs_get_in_flight(fs, a.ino, 16, n->blk[16]));
	memset(buf + 16 * KFS_BLOCK, 'B', 8 * KFS_BLOCK);
	CHECK(kfs_write(fs, a.ino, 16 * KFS_BLOCK, buf + 16 * KFS_BLOCK, 8 * KFS_BLOCK) == 8 * KFS_BLOCK);
	CHECK(read4(fs, a.ino, 12, back) == 4 * KFS_BLOCK);
	CHECK(fs->nflight == 8 && kfs_get_in_flight(fs, a.ino, 16, n->blk[16]));
	for (uint64_t b = 16; b < 64; b += 4)
		CHECK(read4(fs, a.ino, b, back) == 4 * KFS_BLOCK);
	CHECK(!memcmp(buf, back, sizeof(buf)));
	CHECK(kfs_sync(fs) == 0);
	end_volume(fs);
}

/*
 * Deferred writes over the channel: 4 KiB writes into cold blocks 10 (its
 * stored object tampered with) and 11 both return at once, without a
 * get. A read of the page written is the new bytes, without a get. The
 * commit fetches both old blocks: block 11 is sealed with the new page
 * over the old bytes; block 10 is not (the new bytes must not launder a
 * forged block): the background commit leaves the error to the next
 * commit, which fails with EIO, once, and the log names the object.
 * Block 10 still reads EIO; after a remount block 11 has the new page.
 */
TEST(deferred_write_over_tampered_block)
{
	char id[KFS_ID_MAX + 1];
	uint8_t page[4096];
	struct kfs_attr a;
	struct kfs *fs;

	if (!(fs = cold_file(&a)))
		return;
	CHECK(flip_block(fs, a.ino, 10, id));
	memset(page, 'N', sizeof(page));
	memcpy(buf + 11 * KFS_BLOCK + 4096, page, sizeof(page));
	CHECK(kfs_write(fs, a.ino, 10 * KFS_BLOCK + 4096, page, sizeof(page)) == sizeof(page));
	CHECK(kfs_write(fs, a.ino, 11 * KFS_BLOCK + 4096, page, sizeof(page)) == sizeof(page));
	CHECK(kfs_read(fs, a.ino, 10 * KFS_BLOCK + 4096, back, sizeof(page)) == sizeof(page));
	CHECK(!memcmp(back, page, sizeof(page)) && par.block_gets == 0 && par.logs == 0);
	CHECK(kfs_sync_background(fs) == 0);
	CHECK(par.block_gets >= 2 && par.logs == 1 && strstr(par.log, id) &&
	      strstr(par.log, "integrity failure"));
	CHECK_ERR(kfs_sync(fs), "Input/output error");
	CHECK(kfs_sync(fs) == 0);
	CHECK(kfs_read(fs, a.ino, 10 * KFS_BLOCK, back, KFS_BLOCK) == -EIO);
	CHECK(unmount_remote(fs) == 0);
	fs = mount_remote(0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_read(fs, a.ino, 11 * KFS_BLOCK, back, KFS_BLOCK) == KFS_BLOCK);
	CHECK(!memcmp(back, buf + 11 * KFS_BLOCK, KFS_BLOCK));
	CHECK(kfs_read(fs, a.ino, 10 * KFS_BLOCK, back, KFS_BLOCK) == -EIO);
	end_volume(fs);
}

/*
 * However much is asked for, at most KFS_GET_AHEAD gets (1 MiB of
 * answers) are in flight: a prefetch of 4 MiB of spans sends 32.
 */
TEST(gets_in_flight_bounded)
{
	struct kfs_span s[4];
	struct kfs_attr a;
	struct kfs *fs;

	if (!(fs = cold_file(&a)))
		return;
	for (int i = 0; i < 4; i++)
		s[i] = (struct kfs_span){ a.ino, (uint64_t)i << 19, 1 << 20, false };
	kfs_prefetch(fs, s, 4);
	CHECK(fs->ngetf == KFS_GET_AHEAD);
	CHECK(kfs_sync(fs) == 0); /* a round trip behind them: the parent has seen them all */
	CHECK(par.block_gets == KFS_GET_AHEAD);
	CHECK(kfs_read(fs, a.ino, 0, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(!memcmp(buf, back, sizeof(buf)) && fs->ngetf <= KFS_GET_AHEAD);
	CHECK(par.block_gets == 64); /* the 32 prefetched were not asked for again */
	end_volume(fs);
}

int main(void)
{
	RUN(puts_do_not_wait);
	RUN(late_put_failure_fails_the_commit);
	RUN(inode_puts_do_not_wait);
	RUN(many_changes_write_a_root);
	RUN(background_commit_leaves_the_error);
	RUN(readahead_does_not_wait);
	RUN(readahead_failure_only_when_read);
	RUN(gets_in_flight_never_older);
	RUN(gets_in_flight_bounded);
	RUN(deferred_write_over_tampered_block);
	return t_done();
}
