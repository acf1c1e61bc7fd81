/* SPDX-License-Identifier: Apache-2.0 */
/* Tampering with a volume's records on the parent: every case is EIO (never wrong data) and logged. */
#include <fcntl.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/internal.h"
#include "fs/wire.h"
#include "kilnd/store.h"
#include "seg_util.h"
#include "store_srv.h"
#include "t.h"

#define MARKER "KILN-PLAINTEXT-MARKER-7f3a"

static char dir[] = "/tmp/kiln-fs-tamper-XXXXXX";
static char logline[512];
static uint64_t ino_a, ino_b, ino_d;

static void on_log(void *ctx, const char *line)
{
	snprintf(logline, sizeof(logline), "%s", line);
}

static struct kfs *mnt(unsigned flags)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs = NULL;

	logline[0] = '\0';
	if (kfs_store_dir_open(dir, NULL, &st) < 0 || kfs_keywrap_sim(NULL, &kw) < 0)
		return NULL;
	if (kfs_mount(st, kw, flags, on_log, NULL, &fs) < 0)
		return NULL;
	return fs;
}

/* The volume's store as the parent has it: it can put, get and delete anything. */
static struct kfs_store *raw(void)
{
	struct kfs_store *st = NULL;

	CHECK(kfs_store_dir_open(dir, NULL, &st) == 0);
	return st;
}

static void seg_path(const struct t_rec *r, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", dir, r->seg);
}

static int run(const char *cmd)
{
	return system(cmd);
}

/* A fresh volume: files a and b (a holds the marker) and directory d with one entry. */
/* seg_max 1 puts every record in a segment of its own (as the first layout had a file each). */
static void fresh(uint64_t seg_max)
{
	char cmd[128], buf[4096];
	struct kfs_attr a;
	struct kfs *fs;

	kfs_seg_tuning.seg_max = seg_max;
	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", dir);
	CHECK(run(cmd) == 0);
	fs = mnt(KFS_MOUNT_CREATE);
	CHECK(fs);
	if (!fs)
		return;
	for (size_t i = 0; i + sizeof(MARKER) <= sizeof(buf); i += sizeof(MARKER))
		memcpy(buf + i, MARKER "\n", sizeof(MARKER));
	CHECK(kfs_mknod(fs, 1, MARKER, S_IFREG | 0600, 0, 0, &a) == 0);
	ino_a = a.ino;
	CHECK(kfs_write(fs, ino_a, 0, buf, sizeof(buf)) == sizeof(buf));
	CHECK(kfs_mknod(fs, 1, "b", S_IFREG | 0600, 0, 0, &a) == 0);
	ino_b = a.ino;
	CHECK(kfs_write(fs, ino_b, 0, "other file", 10) == 10);
	CHECK(kfs_mkdir(fs, 1, "d", 0755, 0, 0, &a) == 0);
	ino_d = a.ino;
	CHECK(kfs_mknod(fs, ino_d, "inside", S_IFREG | 0600, 0, 0, &a) == 0);
	CHECK(kfs_unmount(fs) == 0);
}

static void block_of(uint64_t ino, struct t_rec *r)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "b-%llx-0-", (unsigned long long)ino);
	CHECK(t_seg_find(dir, prefix, r) == 0);
}

static void inode_of(uint64_t ino, struct t_rec *r)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "i-%llx-", (unsigned long long)ino);
	CHECK(t_seg_find(dir, prefix, r) == 0);
}

static void flip(const struct t_rec *r, uint64_t at)
{
	char p[600];
	int fd;
	uint8_t c = 0;

	seg_path(r, p, sizeof(p));
	fd = open(p, O_RDWR);
	CHECK(fd >= 0 && pread(fd, &c, 1, (off_t)at) == 1);
	c ^= 1;
	CHECK(pwrite(fd, &c, 1, (off_t)at) == 1);
	close(fd);
}

/* Reading a's content must fail with EIO and log the object named. */
static void expect_read_eio(const char *id)
{
	struct kfs *fs = mnt(0);
	char buf[64];

	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_read(fs, ino_a, 0, buf, sizeof(buf)) == -EIO);
	CHECK(strstr(logline, id) && strstr(logline, "integrity failure"));
	kfs_unmount(fs);
}

/* A byte of a record's data flipped, in the segment being appended to and in a sealed one. */
TEST(flip_byte)
{
	struct t_rec r;

	for (int sealed = 0; sealed < 2; sealed++) {
		fresh(sealed ? 1 : 0);
		block_of(ino_a, &r);
		flip(&r, r.data_off + 40);
		expect_read_eio(r.id);
	}
}

/*
 * The same through kilnd's storage channel, which sends a record's data
 * unread (its CRC unchecked): the enclave's authentication finds it.
 */
TEST(flip_byte_over_channel)
{
	struct kd_store_cfg cfg = { .n = 1 };
	struct kd_store *s = NULL;
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs = NULL;
	struct t_rec r;
	struct srv v;
	char buf[64];

	fresh(0);
	block_of(ino_a, &r);
	flip(&r, r.data_off + 40);
	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "vol");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s", dir);
	CHECK(kd_store_new("t", &cfg, &s) == 0);
	logline[0] = '\0';
	CHECK(kfs_store_remote(connect_to(s, &v), "vol", &st) == 0);
	CHECK(kfs_keywrap_sim(NULL, &kw) == 0 && kfs_mount(st, kw, 0, on_log, NULL, &fs) == 0);
	CHECK(kfs_read(fs, ino_a, 0, buf, sizeof(buf)) == -EIO);
	CHECK(strstr(logline, r.id) && strstr(logline, "integrity failure"));
	CHECK(kfs_unmount(fs) == 0);
	pthread_join(v.t, NULL);
	kd_store_stop(s);
}

/* A segment cut in the middle of a record. */
TEST(truncate_record)
{
	char p[600];
	struct t_rec r;

	fresh(1);
	block_of(ino_a, &r);
	seg_path(&r, p, sizeof(p));
	CHECK(truncate(p, (off_t)(r.off + r.size / 2)) == 0);
	expect_read_eio(r.id);
}

/* Two files' blocks swapped: each id's record now holds the other's data. */
TEST(swap_records)
{
	struct t_rec ra, rb;
	uint8_t *da = NULL, *db = NULL;
	size_t la = 0, lb = 0;
	struct kfs_store *st;

	fresh(0);
	block_of(ino_a, &ra);
	block_of(ino_b, &rb);
	st = raw();
	CHECK(st->get(st, ra.id, &da, &la) == 0 && st->get(st, rb.id, &db, &lb) == 0);
	CHECK(st->put(st, ra.id, db, lb, KFS_PUT_DURABLE) == 0);
	CHECK(st->put(st, rb.id, da, la, KFS_PUT_DURABLE) == 0);
	st->close(st);
	free(da);
	free(db);
	expect_read_eio(ra.id);
}

/* A record deleted: by a tombstone, and by dropping the segment that holds it. */
TEST(delete_record)
{
	struct kfs_store *st;
	struct t_rec r;
	char p[600];

	fresh(0);
	block_of(ino_a, &r);
	st = raw();
	CHECK(st->del(st, r.id) == 0 && st->sync(st) == 0);
	st->close(st);
	expect_read_eio(r.id);

	fresh(1);
	block_of(ino_a, &r);
	seg_path(&r, p, sizeof(p));
	CHECK(unlink(p) == 0);
	expect_read_eio(r.id);
}

/* A block moved to another id (block 1 of the same file). */
TEST(rename_object)
{
	char q[KFS_ID_MAX + 1];
	struct kfs_store *st;
	uint8_t *d = NULL;
	struct t_rec r;
	size_t l = 0;

	fresh(0);
	block_of(ino_a, &r);
	snprintf(q, sizeof(q), "b-%llx-1-1", (unsigned long long)ino_a);
	st = raw();
	CHECK(st->get(st, r.id, &d, &l) == 0);
	CHECK(st->put(st, q, d, l, 0) == 0 && st->del(st, r.id) == 0 && st->sync(st) == 0);
	st->close(st);
	free(d);
	expect_read_eio(r.id);
}

/* Write "new!" to a; the old block's record and data come back in *old, *data. */
static void rewrite_a(struct t_rec *old, uint8_t **data, size_t *len, struct t_rec *cur)
{
	struct kfs_store *st;
	struct kfs *fs;

	block_of(ino_a, old);
	st = raw();
	CHECK(st->get(st, old->id, data, len) == 0);
	st->close(st);
	fs = mnt(0);
	CHECK(fs && kfs_write(fs, ino_a, 0, "new!", 4) == 4);
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
	block_of(ino_a, cur);
	CHECK(strcmp(old->id, cur->id) != 0);
}

/* The old block's content put back under the current id (and the old one). */
TEST(rollback_file)
{
	struct t_rec old, cur;
	struct kfs_store *st;
	uint8_t *d = NULL;
	size_t l = 0;

	fresh(0);
	rewrite_a(&old, &d, &l, &cur);
	st = raw();
	CHECK(st->put(st, cur.id, d, l, 0) == 0 && st->put(st, old.id, d, l, 0) == 0);
	CHECK(st->sync(st) == 0);
	st->close(st);
	free(d);
	expect_read_eio(cur.id);
}

/* An older copy of a segment put back over the one that holds the current block. */
TEST(rollback_segment)
{
	char cmd[2048], p[600];
	struct t_rec old, cur;
	uint8_t *d = NULL;
	size_t l = 0;

	fresh(1);
	block_of(ino_a, &old);
	seg_path(&old, p, sizeof(p));
	snprintf(cmd, sizeof(cmd), "cp %s %s/saved.copy", p, dir);
	CHECK(run(cmd) == 0);
	rewrite_a(&old, &d, &l, &cur);
	free(d);
	seg_path(&cur, p, sizeof(p));
	snprintf(cmd, sizeof(cmd), "cp %s/saved.copy %s", dir, p);
	CHECK(run(cmd) == 0);
	expect_read_eio(cur.id);
}

/* Directory d's older inode (with "inside") put back under its current id. */
TEST(rollback_directory)
{
	struct t_rec old, cur;
	struct kfs_store *st;
	struct kfs_attr a;
	uint8_t *d = NULL;
	size_t l = 0;
	struct kfs *fs;

	fresh(0);
	inode_of(ino_d, &old);
	st = raw();
	CHECK(st->get(st, old.id, &d, &l) == 0);
	st->close(st);
	fs = mnt(0);
	CHECK(fs && kfs_unlink(fs, ino_d, "inside") == 0);
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
	inode_of(ino_d, &cur);
	st = raw();
	CHECK(st->put(st, cur.id, d, l, 0) == 0 && st->sync(st) == 0);
	st->close(st);
	free(d);
	fs = mnt(0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_lookup(fs, ino_d, "inside", &a) == -EIO);
	CHECK(strstr(logline, cur.id) && strstr(logline, "inode"));
	kfs_unmount(fs);
}

TEST(root_tamper_refuses_mount)
{
	struct t_rec r;

	fresh(0);
	CHECK(t_seg_find(dir, "root", &r) == 0);
	flip(&r, r.data_off + 20);
	CHECK(mnt(0) == NULL);
	CHECK(strstr(kiln_errmsg(), "volume root") && strstr(kiln_errmsg(), "integrity failure"));
}

TEST(no_plaintext_in_store)
{
	char cmd[256];

	fresh(0);
	snprintf(cmd, sizeof(cmd), "grep -rq %s %s", MARKER, dir);
	CHECK(run(cmd) != 0); /* grep exits non-zero: not found */
	snprintf(cmd, sizeof(cmd), "grep -rq inside %s", dir);
	CHECK(run(cmd) != 0); /* names are encrypted too */
}

/*
 * On fresh()'s volume, one mount of three commits after its first (the
 * root of gen 2): records j-2-1 (c1), j-2-2 (c2), j-2-3 (c3), j-2-4 (the
 * unmount's).
 */
static void chain_on(void)
{
	struct kfs_attr a;
	struct kfs *fs = mnt(0);

	CHECK(fs && kfs_sync(fs) == 0 && fs->gen == 2);
	if (!fs)
		return;
	CHECK(kfs_mknod(fs, 1, "c1", S_IFREG | 0600, 0, 0, &a) == 0 && kfs_sync(fs) == 0);
	CHECK(kfs_mknod(fs, 1, "c2", S_IFREG | 0600, 0, 0, &a) == 0 && kfs_sync(fs) == 0);
	CHECK(kfs_mknod(fs, 1, "c3", S_IFREG | 0600, 0, 0, &a) == 0 && kfs_sync(fs) == 0);
	CHECK(fs->jseq == 3);
	CHECK(kfs_unmount(fs) == 0);
}

static void journal_chain(void)
{
	fresh(0);
	chain_on();
}

static void expect_mount_refused(const char *id)
{
	CHECK(mnt(0) == NULL);
	CHECK(strstr(kiln_errmsg(), "journal record") && strstr(kiln_errmsg(), id) &&
	      strstr(kiln_errmsg(), "integrity failure"));
}

/* Two records swapped, and one with a byte flipped: the mount is refused. */
TEST(journal_swap_or_flip)
{
	uint8_t *d1 = NULL, *d2 = NULL;
	size_t l1 = 0, l2 = 0;
	struct kfs_store *st;

	journal_chain();
	st = raw();
	CHECK(st->get(st, "j-2-1", &d1, &l1) == 0 && st->get(st, "j-2-2", &d2, &l2) == 0);
	CHECK(st->put(st, "j-2-1", d2, l2, KFS_PUT_DURABLE) == 0);
	CHECK(st->put(st, "j-2-2", d1, l1, KFS_PUT_DURABLE) == 0);
	st->close(st);
	expect_mount_refused("j-2-1");

	journal_chain();
	st = raw();
	CHECK(st->put(st, "j-2-2", d2, l2, KFS_PUT_DURABLE) == 0); /* j-2-2 of the other chain: same place */
	d1[l1 / 2] ^= 1;
	CHECK(st->put(st, "j-2-1", d1, l1, KFS_PUT_DURABLE) == 0);
	st->close(st);
	expect_mount_refused("j-2-1");
	free(d1);
	free(d2);
}

/* A record of an older root put where a record of the current one would be. */
TEST(journal_other_root)
{
	struct kfs_store *st;
	uint8_t *d = NULL;
	size_t l = 0;
	struct kfs *fs;

	journal_chain();
	st = raw();
	CHECK(st->get(st, "j-2-1", &d, &l) == 0);
	st->close(st);
	fs = mnt(0);
	CHECK(fs && kfs_unmount(fs) == 0); /* its only commit: the root of gen 3 */
	st = raw();
	CHECK(st->get(st, "j-3-1", &(uint8_t *){ NULL }, &(size_t){ 0 }) == -ENOENT);
	CHECK(st->put(st, "j-3-1", d, l, KFS_PUT_DURABLE) == 0);
	st->close(st);
	free(d);
	expect_mount_refused("j-3-1");
}

/*
 * After a rollback (the older root put back) the same generation is written
 * again by another history: a record of the first history put behind the
 * second's root of that generation is refused, not mixed in.
 */
TEST(journal_other_history)
{
	uint8_t *root1 = NULL, *rec = NULL;
	size_t l1 = 0, lr = 0;
	struct kfs_store *st;
	struct kfs *fs;

	fresh(0); /* the root of gen 1 */
	st = raw();
	CHECK(st->get(st, "root", &root1, &l1) == 0);
	st->close(st);
	chain_on(); /* history A: the root of gen 2 and its records */
	st = raw();
	CHECK(st->get(st, "j-2-1", &rec, &lr) == 0);
	CHECK(st->put(st, "root", root1, l1, KFS_PUT_DURABLE) == 0); /* the rollback */
	st->close(st);
	fs = mnt(0);
	CHECK(fs && fs->gen == 1);
	if (!fs)
		return;
	CHECK(kfs_sync(fs) == 0 && fs->gen == 2); /* history B: another root of gen 2 */
	CHECK(kfs_sync(fs) == 0 && fs->jseq == 1); /* its record 1 */
	CHECK(kfs_unmount(fs) == 0);
	st = raw();
	CHECK(st->put(st, "j-2-1", rec, lr, KFS_PUT_DURABLE) == 0);
	st->close(st);
	free(root1);
	free(rec);
	expect_mount_refused("j-2-1");
}

/*
 * A record dropped from the middle: the chain ends there, and what the
 * mount sees is the volume after record 1 as the parent kept it (what
 * record 2's commit deleted is gone: EIO, as with an older root put
 * back). Never c2 or c3, and the records past the gap are never read
 * again, even put back: the mount's commit wrote a new root.
 */
TEST(journal_gap_is_a_rollback)
{
	struct kfs_store *st;
	struct kfs_attr a;
	uint8_t *d = NULL;
	size_t l = 0;
	struct kfs *fs;

	journal_chain();
	st = raw();
	CHECK(st->get(st, "j-2-2", &d, &l) == 0);
	CHECK(st->del(st, "j-2-2") == 0 && st->sync(st) == 0);
	st->close(st);
	fs = mnt(0);
	CHECK(fs && fs->gen == 2 && fs->jseq == 1);
	if (!fs)
		return;
	CHECK(kfs_lookup(fs, 1, "c2", &a) == -EIO && strstr(logline, "integrity failure"));
	CHECK(kfs_lookup(fs, 1, "c3", &a) == -EIO);
	CHECK(kfs_unmount(fs) == 0);
	st = raw();
	CHECK(st->put(st, "j-2-2", d, l, KFS_PUT_DURABLE) == 0);
	st->close(st);
	free(d);
	fs = mnt(0);
	CHECK(fs && fs->gen == 3 && fs->jseq == 0);
	if (fs)
		CHECK(kfs_lookup(fs, 1, "c2", &a) == -EIO && kfs_unmount(fs) == 0);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir))
		return 1;
	RUN(flip_byte);
	RUN(flip_byte_over_channel);
	RUN(truncate_record);
	RUN(swap_records);
	RUN(delete_record);
	RUN(rename_object);
	RUN(rollback_file);
	RUN(rollback_segment);
	RUN(rollback_directory);
	RUN(root_tamper_refuses_mount);
	RUN(no_plaintext_in_store);
	RUN(journal_swap_or_flip);
	RUN(journal_other_root);
	RUN(journal_other_history);
	RUN(journal_gap_is_a_rollback);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (run(cmd) != 0)
		return 1;
	return t_done();
}
