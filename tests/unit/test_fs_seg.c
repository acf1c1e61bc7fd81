/* SPDX-License-Identifier: Apache-2.0 */
/* The segment layout of the directory store: records, reopening, torn tails, hostile segments, compaction, caps. */
#include <fcntl.h>
#include <sys/stat.h>

#include "fs/seg_file.h"
#include "fs/seg_store.h"
#include "fs/store.h"
#include "fs/store_local.h"
#include "seg_util.h"
#include "t.h"
#include "util/crc32.h"

static char dir[] = "/tmp/kiln-fs-seg-XXXXXX";

static void wipe(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", dir);
	CHECK(system(cmd) == 0);
	kfs_seg_tuning = (struct kfs_seg_tuning){ 0 };
}

static struct kfs_store *open_caps(const struct kfs_dir_caps *caps)
{
	struct kfs_store *st = NULL;

	CHECK(kfs_store_dir_open(dir, caps, &st) == 0);
	return st;
}

static struct kfs_store *open_store(void)
{
	return open_caps(NULL);
}

/* Whether id holds exactly the NUL-terminated want (NULL: id is missing). */
static bool holds(struct kfs_store *st, const char *id, const char *want)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = st->get(st, id, &buf, &len);
	bool ok = want ? rc == 0 && len == strlen(want) && !memcmp(buf, want, len) : rc == -ENOENT;

	free(buf);
	return ok;
}

static bool reopened_holds(struct kfs_store **st, const char *id, const char *want)
{
	(*st)->close(*st);
	*st = open_store();
	return *st && holds(*st, id, want);
}

static char *seg_file(uint64_t num)
{
	static char p[256];
	char name[KFS_SEG_NAME_LEN + 1];

	kfs_seg_name(num, name);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static off_t file_size(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0 ? st.st_size : -1;
}

TEST(put_get_replace_del)
{
	struct kfs_store *st;

	wipe();
	st = open_store();
	st->close(st);
	CHECK(file_size(seg_file(1)) < 0); /* opening an empty directory writes nothing */
	st = open_store();
	CHECK(st->put(st, "a", "one", 3, 0) == 0);
	CHECK(holds(st, "a", "one") && reopened_holds(&st, "a", "one"));
	CHECK(st->put(st, "a", "two!", 4, KFS_PUT_DURABLE) == 0);
	CHECK(holds(st, "a", "two!") && reopened_holds(&st, "a", "two!"));
	CHECK(st->put(st, "empty", NULL, 0, 0) == 0 && reopened_holds(&st, "empty", ""));
	CHECK(st->del(st, "a") == 0 && holds(st, "a", NULL) && reopened_holds(&st, "a", NULL));
	CHECK(st->del(st, "never") == 0);
	CHECK(st->put(st, "a", "three", 5, 0) == 0 && reopened_holds(&st, "a", "three"));
	CHECK_ERR(st->put(st, "../x", "x", 1, 0), "object id");
	CHECK_ERR(st->get(st, "A", &(uint8_t *){ NULL }, &(size_t){ 0 }), "object id");
	CHECK(st->sync(st) == 0);
	st->close(st);
	CHECK(file_size(seg_file(1)) > 0 && file_size(seg_file(2)) < 0);
}

/* A segment's size drops past max: the next record starts a new segment; all stay readable. */
TEST(segments_roll)
{
	char id[16], v[16];
	struct kfs_store *st;

	wipe();
	kfs_seg_tuning.seg_max = 100;
	st = open_store();
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "o%d", i);
		snprintf(v, sizeof(v), "value %d", i);
		CHECK(st->put(st, id, v, strlen(v), 0) == 0);
	}
	CHECK(reopened_holds(&st, "o0", "value 0") && holds(st, "o19", "value 19"));
	st->close(st);
	CHECK(file_size(seg_file(5)) > 0);
}

/* A crash in the middle of an append: the record is cut off and the old one is in force. */
TEST(torn_tail)
{
	off_t good;
	struct kfs_store *st;
	int fd;

	for (int how = 0; how < 3; how++) {
		wipe();
		st = open_store();
		CHECK(st->put(st, "x", "old", 3, KFS_PUT_DURABLE) == 0);
		good = file_size(seg_file(1));
		CHECK(st->put(st, "x", "new value", 9, 0) == 0);
		st->close(st);
		if (how == 0) /* the data half there */
			CHECK(truncate(seg_file(1), good + KFS_SEG_HDR + 1 + 4) == 0);
		else if (how == 1) /* half a header */
			CHECK(truncate(seg_file(1), good + 7) == 0);
		else { /* the size grew but the data never landed: zeros */
			CHECK(truncate(seg_file(1), good) == 0);
			fd = open(seg_file(1), O_WRONLY | O_APPEND);
			CHECK(fd >= 0 && write(fd, (char[40]){ 0 }, 40) == 40);
			close(fd);
		}
		st = open_store();
		CHECK(st && holds(st, "x", "old"));
		CHECK(file_size(seg_file(1)) == good); /* cut, so the next append follows "old" */
		CHECK(st->put(st, "y", "after", 5, 0) == 0 && reopened_holds(&st, "y", "after"));
		CHECK(holds(st, "x", "old"));
		st->close(st);
	}
}

/* Overwrite len bytes at off of segment file num with zeros (pages a crash never wrote). */
static void zero_at(uint64_t num, uint64_t off, size_t len)
{
	uint8_t z[64] = { 0 };
	int fd = open(seg_file(num), O_WRONLY);

	CHECK(fd >= 0 && len <= sizeof(z) && pwrite(fd, z, len, (off_t)off) == (ssize_t)len);
	close(fd);
}

/* The records of the directory, and among them the last one of id (NULL: none). */
static struct t_rec *last_rec(const char *id, struct t_rec *v, size_t *n)
{
	struct t_rec *found = NULL;

	*n = t_seg_records(dir, v, 64);
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(v[i].id, id))
			found = &v[i];
	return found;
}

/* The offset a commit point's mark names: where the flush it rode on began. */
static uint64_t mark_since(const struct t_rec *m)
{
	uint8_t b[KFS_SEG_MARK_LEN];
	uint64_t v = 0;
	int fd = open(seg_file(1), O_RDONLY);

	CHECK(fd >= 0 && pread(fd, b, sizeof(b), (off_t)m->data_off) == (ssize_t)sizeof(b));
	close(fd);
	for (int i = 0; i < KFS_SEG_MARK_LEN; i++)
		v = v << 8 | b[i];
	return v;
}

/*
 * A commit point goes to disk in the flush that makes the records before
 * it durable, a mark before it naming where that flush began. A crash
 * that left one of those records damaged (its pages never written) and
 * nothing after the point ends the newest segment's scan at the mark: the
 * point is not in force without what it names, the one before it is.
 * Damage to a record of an earlier point's flush (how 0), or under a point
 * that something was appended after (how 2: its flush had finished), is
 * not a torn flush: the points stand, the damaged record reads as missing.
 */
TEST(commit_point_one_flush)
{
	static const char *damage[] = { "a", "b", "b" }, *want_j[] = { "J1", "J0", "J1" };
	struct t_rec v[64], *d, *m;
	struct kfs_store *st;
	size_t n;

	for (int how = 0; how < 3; how++) {
		wipe();
		st = open_store();
		CHECK(st->put(st, "a", "A0", 2, 0) == 0);
		CHECK(kfs_store_dir_put_point(st, "j", "J0", 2) == 0);
		CHECK(st->put(st, "b", "B1 data", 7, 0) == 0);
		CHECK(kfs_store_dir_put_point(st, "j", "J1", 2) == 0);
		if (how == 2)
			CHECK(st->put(st, "c", "C2", 2, 0) == 0);
		st->close(st);
		m = last_rec(KFS_SEG_MARK_ID, v, &n);
		CHECK(m && m->kind == KFS_SEG_PUT && m->len == KFS_SEG_MARK_LEN);
		CHECK(mark_since(m) == last_rec("b", v, &n)->off); /* the flush began after J0 */
		d = last_rec(damage[how], v, &n);
		zero_at(1, d->data_off, d->len);
		st = open_store();
		CHECK(holds(st, "j", want_j[how]));
		CHECK(holds(st, damage[how], NULL)); /* damaged: answered as missing */
		CHECK(holds(st, how ? "a" : "b", how ? "A0" : "B1 data"));
		CHECK(how < 2 || holds(st, "c", "C2"));
		/* the volume goes on from there: the next point is in force */
		CHECK(kfs_store_dir_put_point(st, "j", "J3", 2) == 0 && reopened_holds(&st, "j", "J3"));
		st->close(st);
	}
}

/*
 * What the scan at open found may not be on disk yet (a process that died
 * between its appends and its flush): the first point after an open
 * flushes first, so its mark names nothing from before; a mark is never
 * an object.
 */
TEST(commit_point_after_open)
{
	struct t_rec v[64], *m;
	struct kfs_store *st;
	size_t n;

	wipe();
	st = open_store();
	CHECK(st->put(st, "a", "A0", 2, 0) == 0);
	st->close(st); /* no flush: as if the process had died here */
	st = open_store();
	CHECK(st->put(st, "b", "B0", 2, 0) == 0);
	CHECK(kfs_store_dir_put_point(st, "j", "J0", 2) == 0);
	m = last_rec(KFS_SEG_MARK_ID, v, &n);
	CHECK(m && mark_since(m) == m->off);
	CHECK(st->put(st, "c", "C0", 2, 0) == 0);
	CHECK(kfs_store_dir_put_point(st, "j", "J1", 2) == 0);
	m = last_rec(KFS_SEG_MARK_ID, v, &n);
	CHECK(m && mark_since(m) == last_rec("c", v, &n)->off);
	CHECK_ERR(st->put(st, KFS_SEG_MARK_ID, "x", 1, 0), "reserved");
	CHECK_ERR(st->get(st, KFS_SEG_MARK_ID, &(uint8_t *){ NULL }, &(size_t){ 0 }), "reserved");
	CHECK(reopened_holds(&st, "j", "J1") && holds(st, "a", "A0"));
	st->close(st);
}

/* Append a record with the given header fields (a valid header CRC: the parent can compute one). */
static void append_rec(const char *path, int kind, const char *id, size_t idlen, uint32_t len,
		       const void *data, size_t dlen)
{
	uint8_t hdr[KFS_SEG_HDR + 256];
	uint32_t crc;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);

	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, "KSG1", 4);
	hdr[4] = (uint8_t)kind;
	hdr[5] = (uint8_t)idlen;
	for (int i = 0; i < 4; i++)
		hdr[8 + i] = (uint8_t)(len >> (24 - 8 * i));
	crc = kiln_crc32(0, data, dlen);
	for (int i = 0; i < 4; i++)
		hdr[12 + i] = (uint8_t)(crc >> (24 - 8 * i));
	crc = kiln_crc32(kiln_crc32(0, hdr, 16), id, idlen);
	for (int i = 0; i < 4; i++)
		hdr[16 + i] = (uint8_t)(crc >> (24 - 8 * i));
	memcpy(hdr + KFS_SEG_HDR, id, idlen);
	CHECK(fd >= 0 && write(fd, hdr, KFS_SEG_HDR + idlen) == (ssize_t)(KFS_SEG_HDR + idlen));
	CHECK(write(fd, data, dlen) == (ssize_t)dlen);
	close(fd);
}

/*
 * Hostile segments: lengths past the end or over the limit, bad ids, a bad
 * record followed by good ones: each segment's scan stops at the bad record,
 * later segments still count, and nothing wrong is served.
 */
TEST(hostile_records)
{
	struct kfs_store *st;

	wipe();
	append_rec(seg_file(1), KFS_SEG_PUT, "ok1", 3, 2, "v1", 2);
	append_rec(seg_file(1), KFS_SEG_PUT, "past", 4, 1000, "short", 5); /* past the end */
	append_rec(seg_file(2), KFS_SEG_PUT, "huge", 4, 0xffffffffu, "x", 1);
	append_rec(seg_file(2), KFS_SEG_PUT, "after-huge", 10, 1, "x", 1);
	append_rec(seg_file(3), KFS_SEG_PUT, "../etc", 6, 1, "x", 1);
	append_rec(seg_file(4), KFS_SEG_PUT, "Upper", 5, 1, "x", 1);
	append_rec(seg_file(5), KFS_SEG_DEL, "del-data", 8, 3, "abc", 3); /* a tombstone with data */
	append_rec(seg_file(6), KFS_SEG_PUT, "zero-id", 0, 1, "x", 1);
	append_rec(seg_file(7), 9, "kind", 4, 1, "x", 1);
	append_rec(seg_file(8), KFS_SEG_PUT, "dup", 3, 3, "old", 3);
	append_rec(seg_file(9), KFS_SEG_PUT, "dup", 3, 3, "new", 3);
	append_rec(seg_file(9), KFS_SEG_PUT, "bad-crc", 7, 3, "abc", 3);
	append_rec(seg_file(9), KFS_SEG_PUT, "last", 4, 4, "last", 4);
	{ /* bad-crc's data changed after its CRC was taken (not the last record: kept, damaged) */
		int fd = open(seg_file(9), O_RDWR);
		off_t at = file_size(seg_file(9)) - (KFS_SEG_HDR + 4 + 4) - 1;
		CHECK(fd >= 0 && pwrite(fd, "X", 1, at) == 1);
		close(fd);
	}
	st = open_store();
	CHECK(st && holds(st, "ok1", "v1") && holds(st, "past", NULL) && holds(st, "huge", NULL));
	CHECK(holds(st, "after-huge", NULL) && holds(st, "del-data", NULL) && holds(st, "kind", NULL));
	CHECK(holds(st, "dup", "new") && holds(st, "last", "last"));
	CHECK_ERR(st->get(st, "bad-crc", &(uint8_t *){ NULL }, &(size_t){ 0 }), "damaged");
	/* segment 9, the newest, ends in good records: appends go to a new one, nothing cut */
	CHECK(st->put(st, "p", "q", 1, 0) == 0);
	st->close(st);
	CHECK(file_size(seg_file(1)) == (off_t)(2 * KFS_SEG_HDR + 3 + 2 + 4 + 5));
}

/* A segment that is a symlink (to records outside the volume) or a directory is not read. */
TEST(symlinked_segment)
{
	char outside[256], cmd[600];
	struct kfs_store *st;

	wipe();
	snprintf(outside, sizeof(outside), "%s.outside", dir);
	unlink(outside);
	append_rec(outside, KFS_SEG_PUT, "secret", 6, 3, "abc", 3);
	CHECK(symlink(outside, seg_file(1)) == 0);
	CHECK(mkdir(seg_file(2), 0700) == 0);
	st = open_store();
	CHECK(st && holds(st, "secret", NULL));
	CHECK(st->put(st, "x", "y", 1, KFS_PUT_DURABLE) == 0);
	st->close(st);
	CHECK(file_size(seg_file(3)) > 0); /* a new segment, past both */
	snprintf(cmd, sizeof(cmd), "rm -f %s", outside);
	CHECK(system(cmd) == 0);
}

/*
 * seg_max 4096 and objects of 1200 bytes (records of 1222): three fill a
 * segment. Segment 1: a1 a2 x; 2: b1 b2 b3 and x's tombstone; 3: c1 and
 * the rewrites. Rewriting b1 and b2 leaves segment 2 under half live: it
 * is compacted while segment 1 (x's record) is still there, so x's
 * tombstone must be copied forward.
 */
#define V 1200
static struct kfs_store *compaction_volume(char *v)
{
	const char *ids[] = { "a1", "a2", "x", "b1", "b2", "b3", "c1" };
	struct kfs_store *st;

	wipe();
	kfs_seg_tuning.seg_max = 4096;
	memset(v, 'v', V);
	v[V] = '\0';
	st = open_store();
	for (size_t i = 0; i < 7; i++) {
		if (i == 6)
			CHECK(st->del(st, "x") == 0);
		CHECK(st->put(st, ids[i], v, V, 0) == 0);
	}
	v[0] = 'w';
	CHECK(st->put(st, "b1", v, V, 0) == 0);
	CHECK(file_size(seg_file(2)) == 3 * 1222 + 21 && file_size(seg_file(3)) == 2 * 1222);
	return st;
}

static void check_compacted_volume(struct kfs_store *st, const char *v)
{
	char old[V + 1];

	memset(old, 'v', V);
	old[V] = '\0';
	CHECK(st && holds(st, "x", NULL) && holds(st, "a1", old) && holds(st, "b3", old));
	CHECK(st && holds(st, "b1", v) && holds(st, "b2", v) && holds(st, "c1", old));
}

TEST(compaction)
{
	struct kfs_store *st;
	char v[V + 1];

	st = compaction_volume(v);
	CHECK(st->put(st, "b2", v, V, 0) == 0); /* segment 2 now under half live */
	CHECK(file_size(seg_file(2)) < 0 && file_size(seg_file(1)) > 0);
	check_compacted_volume(st, v);
	st->close(st);
	st = open_store();
	check_compacted_volume(st, v);
	st->close(st);
}

/*
 * Deferred (kilnd's channel): the write that leaves segment 2 under half
 * live does not compact it; the next idle step does, and then there is
 * nothing left to do.
 */
TEST(compaction_when_idle)
{
	struct kfs_store *st;
	char v[V + 1];

	st = compaction_volume(v);
	kfs_store_dir_defer_compaction(st);
	CHECK(!kfs_store_dir_idle_pending(st));
	CHECK(st->put(st, "b2", v, V, 0) == 0);
	CHECK(file_size(seg_file(2)) > 0 && kfs_store_dir_idle_pending(st));
	check_compacted_volume(st, v);
	CHECK(kfs_store_dir_idle(st) == 1);
	CHECK(file_size(seg_file(2)) < 0 && file_size(seg_file(1)) > 0);
	CHECK(kfs_store_dir_idle(st) == 0 && !kfs_store_dir_idle_pending(st));
	check_compacted_volume(st, v);
	st->close(st);
	st = open_store();
	check_compacted_volume(st, v);
	st->close(st);
}

/* Deferred, but KFS_SEG_BACKLOG segments under half live: a write compacts again. */
TEST(compaction_backlog)
{
	struct kfs_store *st;
	char v[V + 1], id[16];

	wipe();
	kfs_seg_tuning.seg_max = 4096;
	memset(v, 'v', V);
	v[V] = '\0';
	st = open_store();
	kfs_store_dir_defer_compaction(st);
	/* segments of three objects; deleting two of each leaves it under half live */
	for (int i = 0; i < 3 * (KFS_SEG_BACKLOG + 1); i++) {
		snprintf(id, sizeof(id), "o%d", i);
		CHECK(st->put(st, id, v, V, 0) == 0);
	}
	for (int g = 0; g < KFS_SEG_BACKLOG - 1; g++)
		for (int k = 0; k < 2; k++) {
			snprintf(id, sizeof(id), "o%d", 3 * g + k);
			CHECK(st->del(st, id) == 0);
		}
	CHECK(file_size(seg_file(1)) > 0 && kfs_store_dir_idle_pending(st));
	/* one more segment under half live: the backlog is reached, the delete compacts one */
	for (int k = 0; k < 2; k++) {
		snprintf(id, sizeof(id), "o%d", 3 * (KFS_SEG_BACKLOG - 1) + k);
		CHECK(st->del(st, id) == 0);
	}
	CHECK(file_size(seg_file(1)) < 0);
	while (kfs_store_dir_idle(st) == 1)
		;
	CHECK(!kfs_store_dir_idle_pending(st));
	snprintf(id, sizeof(id), "o%d", 3 * KFS_SEG_BACKLOG + 2);
	CHECK(holds(st, id, v));
	st->close(st);
}

/* The process dies after each step of compacting segment 2: the volume reopens the same. */
TEST(compaction_crash)
{
	struct kfs_store *st;
	char v[V + 1];

	for (int step = 1; step <= 3; step++) {
		st = compaction_volume(v);
		kfs_seg_tuning.crash_at = step;
		CHECK(st->put(st, "b2", v, V, 0) == -ECANCELED);
		st->close(st);
		CHECK((file_size(seg_file(2)) > 0) == (step < 3));
		kfs_seg_tuning.crash_at = 0;
		st = open_store();
		check_compacted_volume(st, v);
		/* and compaction goes on from there */
		CHECK(st->put(st, "c1", v, V, 0) == 0 && st->put(st, "a2", v, V, 0) == 0);
		CHECK(file_size(seg_file(2)) < 0);
		st->close(st);
		st = open_store();
		CHECK(st && holds(st, "x", NULL) && holds(st, "c1", v) && holds(st, "a2", v));
		st->close(st);
	}
}

static off_t segments_size(void)
{
	off_t total = 0;

	for (uint64_t n = 1; n < 64; n++)
		total += file_size(seg_file(n)) > 0 ? file_size(seg_file(n)) : 0;
	return total;
}

/*
 * The caps: objects, and bytes of the records in force (a replacement counts
 * the difference, so a full volume can still commit); the garbage rewrites
 * leave is compacted away while the segments are over the byte cap.
 */
TEST(caps)
{
	struct kfs_dir_caps caps = { .max_objects = 2 };
	struct kfs_store *st;
	char v[1001];

	wipe();
	st = open_caps(&caps);
	CHECK(st->put(st, "a", "1", 1, 0) == 0 && st->put(st, "b", "2", 1, 0) == 0);
	CHECK_ERR(st->put(st, "c", "3", 1, 0), "object cap");
	CHECK(st->put(st, "a", "11", 2, 0) == 0); /* a replacement is no new object */
	CHECK(st->del(st, "b") == 0 && st->put(st, "c", "3", 1, 0) == 0);
	st->close(st);

	wipe();
	kfs_seg_tuning.seg_max = 4096;
	memset(v, 'v', 1000);
	v[1000] = '\0';
	caps = (struct kfs_dir_caps){ .max_bytes = 4 * 1021 + 500 }; /* a record: 1021 bytes */
	st = open_caps(&caps);
	for (int i = 0; i < 4; i++)
		CHECK(st->put(st, (char[2]){ (char)('a' + i), 0 }, v, 1000, 0) == 0);
	CHECK_ERR(st->put(st, "e", v, 1000, 0), "byte cap");
	for (int round = 0; round < 8; round++) {
		v[0] = (char)('0' + round);
		CHECK(st->put(st, "a", v, 1000, 0) == 0);
		CHECK(segments_size() <= (off_t)caps.max_bytes);
	}
	CHECK(holds(st, "a", v) && reopened_holds(&st, "a", v));
	CHECK(st->del(st, "b") == 0 && st->put(st, "e", v, 1000, 0) == 0);
	st->close(st);
}

/* A directory with an object per file (a volume from before segments) keeps that layout. */
TEST(old_layout_kept)
{
	struct kfs_store *st;
	char p[256];
	int fd;

	wipe();
	snprintf(p, sizeof(p), "%s/hdr", dir);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, "header", 6) == 6);
	close(fd);
	st = open_store();
	CHECK(st && holds(st, "hdr", "header"));
	CHECK(st->put(st, "root", "r", 1, KFS_PUT_DURABLE) == 0);
	kfs_store_dir_prefetch(st, "root");
	st->close(st);
	snprintf(p, sizeof(p), "%s/root", dir);
	CHECK(file_size(p) == 1 && file_size(seg_file(1)) < 0);
}

TEST(prefetch_is_a_hint)
{
	struct kfs_store *st;

	wipe();
	st = open_store();
	CHECK(st->put(st, "a", "1", 1, 0) == 0);
	kfs_store_dir_prefetch(st, "a");
	kfs_store_dir_prefetch(st, "missing");
	kfs_store_dir_prefetch(st, "../bad");
	CHECK(holds(st, "a", "1"));
	st->close(st);
}

/*
 * Records that follow each other in a segment (a stream's blocks) are
 * advised as one range, given when the run breaks or ends (id NULL).
 */
TEST(prefetch_runs_advised_together)
{
	struct kfs_seg_store *s;
	struct kfs_store *st;
	uint64_t rec = KFS_SEG_HDR + 2 + 100;
	char data[100] = { 0 };

	wipe();
	st = open_store();
	s = (struct kfs_seg_store *)st;
	for (char id[3] = "x0"; id[1] < '4'; id[1]++)
		CHECK(st->put(st, id, data, sizeof(data), 0) == 0);
	kfs_store_dir_prefetch(st, "x1");
	kfs_store_dir_prefetch(st, "x2");
	kfs_store_dir_prefetch(st, "x3");
	CHECK(s->advice.off == rec && s->advice.len == 3 * rec);
	kfs_store_dir_prefetch(st, "x0"); /* not next: x1..x3 advised, x0 begins a run */
	CHECK(s->advice.off == 0 && s->advice.len == rec);
	kfs_store_dir_prefetch(st, NULL);
	CHECK(s->advice.len == 0);
	st->close(st);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir))
		return 1;
	RUN(put_get_replace_del);
	RUN(segments_roll);
	RUN(torn_tail);
	RUN(commit_point_one_flush);
	RUN(commit_point_after_open);
	RUN(hostile_records);
	RUN(symlinked_segment);
	RUN(compaction);
	RUN(compaction_crash);
	RUN(caps);
	RUN(old_layout_kept);
	RUN(prefetch_is_a_hint);
	RUN(prefetch_runs_advised_together);
	RUN(compaction_when_idle);
	RUN(compaction_backlog);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
