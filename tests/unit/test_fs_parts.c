/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of objects in parts (roots past one object's worth of inodes) and of large directories in pages: tampering, leftovers. */
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/internal.h"
#include "t.h"

/* One memory store kept across mounts; deletes can be dropped (a crash before them). */
static struct {
	struct kfs_store base;
	struct kfs_store *mem;
	bool drop_dels;
} keep;
static char logline[512];

static int k_get(struct kfs_store *s, const char *id, uint8_t **buf, size_t *len)
{
	(void)s;
	return keep.mem->get(keep.mem, id, buf, len);
}

static int k_put(struct kfs_store *s, const char *id, const void *buf, size_t len, unsigned flags)
{
	(void)s;
	return keep.mem->put(keep.mem, id, buf, len, flags);
}

static int k_del(struct kfs_store *s, const char *id)
{
	(void)s;
	return keep.drop_dels ? 0 : keep.mem->del(keep.mem, id);
}

static int k_sync(struct kfs_store *s)
{
	(void)s;
	return keep.mem->sync(keep.mem);
}

static void k_close(struct kfs_store *s)
{
	(void)s;
}

static void on_log(void *ctx, const char *line)
{
	(void)ctx;
	snprintf(logline, sizeof(logline), "%s", line);
}

static void fresh_store(void)
{
	if (keep.mem)
		keep.mem->close(keep.mem);
	keep.mem = NULL;
	CHECK(kfs_store_mem(&keep.mem) == 0);
	keep.base = (struct kfs_store){ .get = k_get, .put = k_put, .del = k_del, .sync = k_sync,
					.close = k_close };
	keep.drop_dels = false;
}

/* A mount whose roots have parts of `pairs` inodes (0: the real size). */
static struct kfs *mnt(unsigned flags, uint32_t pairs)
{
	struct kfs_keywrap *kw;
	struct kfs *fs = NULL;

	logline[0] = 0;
	if (kfs_keywrap_sim(NULL, &kw) < 0 || kfs_mount(&keep.base, kw, flags, on_log, NULL, &fs) < 0)
		return NULL;
	if (pairs)
		fs->part_pairs = pairs;
	return fs;
}

static bool exists(const char *id)
{
	uint8_t *buf;
	size_t *len;

	return keep.mem && kfs_store_mem_raw(keep.mem, id, &buf, &len) == 0;
}

static void make_files(struct kfs *fs, int from, int to)
{
	struct kfs_attr a;
	char name[32];

	for (int i = from; i < to; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK(kfs_mknod(fs, KFS_ROOT_INO, name, S_IFREG | 0644, 0, 0, &a) == 0);
	}
}

static int count_files(struct kfs *fs, int to)
{
	struct kfs_attr a;
	char name[32];
	int n = 0;

	for (int i = 0; i < to; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		n += kfs_lookup(fs, KFS_ROOT_INO, name, &a) == 0;
	}
	return n;
}

/* A volume of 10 files in parts of 4 inodes: 3 parts (11 inodes with the root directory). */
static uint64_t parted_volume(void)
{
	struct kfs *fs;
	uint64_t gen = 0;

	fresh_store();
	fs = mnt(KFS_MOUNT_CREATE, 4);
	CHECK(fs);
	if (!fs)
		return 0;
	make_files(fs, 0, 10);
	fs->jok = false; /* this commit writes a root, not a record */
	CHECK(kfs_sync(fs) == 0);
	CHECK(fs->root_parts == 3);
	gen = fs->gen;
	CHECK(kfs_unmount(fs) == 0); /* a record after that root: the parts stay */
	return gen;
}

TEST(parts_round_trip)
{
	char id[KFS_ID_MAX + 1];
	uint64_t gen = parted_volume();
	struct kfs *fs;

	for (uint32_t k = 0; k < 3; k++) {
		kfs_root_part_id(gen, k, id);
		CHECK(exists(id));
	}
	kfs_root_part_id(gen, 3, id);
	CHECK(!exists(id));
	fs = mnt(0, 0); /* reading does not depend on the part size */
	CHECK(fs && fs->root_parts == 3);
	if (!fs)
		return;
	CHECK(count_files(fs, 10) == 10);
	/* the mount's first commit writes an inline root and retires the parts */
	make_files(fs, 10, 11);
	CHECK(kfs_sync(fs) == 0 && fs->root_parts == 0);
	for (uint32_t k = 0; k < 3; k++) {
		kfs_root_part_id(gen, k, id);
		CHECK(!exists(id));
	}
	CHECK(kfs_unmount(fs) == 0);
	fs = mnt(0, 0);
	CHECK(fs && count_files(fs, 11) == 11);
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
}

static void expect_refused(const char *id)
{
	struct kfs *fs = mnt(0, 0);

	CHECK(!fs);
	CHECK(strstr(logline, id) != NULL);
	if (fs)
		kfs_unmount(fs);
}

TEST(part_flipped_or_missing)
{
	char id[KFS_ID_MAX + 1];
	uint8_t *buf;
	size_t *len;
	uint64_t gen = parted_volume();

	kfs_root_part_id(gen, 1, id);
	CHECK(kfs_store_mem_raw(keep.mem, id, &buf, &len) == 0);
	buf[*len / 2] ^= 1;
	expect_refused(id);
	CHECK(strstr(logline, "authentication failed"));
	buf[*len / 2] ^= 1;
	CHECK(keep.mem->del(keep.mem, id) == 0);
	expect_refused(id);
	CHECK(strstr(logline, "missing"));
}

/* Part 0's bytes under part 1's id (and the other way): each part is bound to its place. */
TEST(parts_swapped)
{
	char id0[KFS_ID_MAX + 1], id1[KFS_ID_MAX + 1];
	uint8_t *b0, *b1;
	size_t *l0, *l1;
	uint64_t gen = parted_volume();

	kfs_root_part_id(gen, 0, id0);
	kfs_root_part_id(gen, 1, id1);
	CHECK(kfs_store_mem_raw(keep.mem, id0, &b0, &l0) == 0);
	CHECK(kfs_store_mem_raw(keep.mem, id1, &b1, &l1) == 0);
	if (*l0 != *l1)
		return;
	uint8_t *tmp = malloc(*l0);
	memcpy(tmp, b0, *l0);
	memcpy(b0, b1, *l0);
	memcpy(b1, tmp, *l0);
	free(tmp);
	expect_refused(id0);
}

/* A part of another root of the same generation (another history after a rollback) is refused. */
TEST(part_of_other_history)
{
	char id[KFS_ID_MAX + 1];
	uint8_t *buf, *old_root, *other;
	size_t *len, old_len, other_len;
	uint64_t gen = parted_volume();
	struct kfs *fs;

	/* keep the root of gen as the parent could, then write the next root (gen + 1, in parts) */
	CHECK(kfs_store_mem_raw(keep.mem, KFS_ROOT_ID, &buf, &len) == 0);
	old_root = malloc(*len);
	memcpy(old_root, buf, *len);
	old_len = *len;
	keep.drop_dels = true; /* the parent keeps what kiln deletes */
	fs = mnt(0, 4);
	CHECK(fs);
	if (!fs)
		return;
	make_files(fs, 10, 12);
	CHECK(kfs_sync(fs) == 0 && fs->gen == gen + 1 && fs->root_parts == 4);
	CHECK(kfs_unmount(fs) == 0);
	kfs_root_part_id(gen + 1, 0, id);
	CHECK(kfs_store_mem_raw(keep.mem, id, &buf, &len) == 0);
	other = malloc(*len);
	memcpy(other, buf, *len);
	other_len = *len;
	/* the rollback: the old root back; its mount writes gen + 1 again, in another history */
	CHECK(keep.mem->put(keep.mem, KFS_ROOT_ID, old_root, old_len, 0) == 0);
	fs = mnt(0, 4);
	CHECK(fs && count_files(fs, 12) == 10);
	if (!fs)
		return;
	make_files(fs, 20, 22);
	CHECK(kfs_sync(fs) == 0 && fs->gen == gen + 1);
	CHECK(kfs_unmount(fs) == 0);
	/* part 0 of the first history's gen + 1 put in place of this one's */
	CHECK(keep.mem->put(keep.mem, id, other, other_len, 0) == 0);
	expect_refused(id);
	free(old_root);
	free(other);
}

/*
 * A crash after a new root and before the old root's parts and records
 * are deleted leaves them on the parent; the new root says what they were,
 * and the next mount's first new root deletes them.
 */
TEST(leftovers_deleted_by_next_mount)
{
	char id[KFS_ID_MAX + 1];
	uint64_t gen = parted_volume(); /* its unmount wrote record 1 of gen */
	struct kfs *fs;

	kfs_journal_id(gen, 1, id);
	CHECK(exists(id));
	keep.drop_dels = true; /* the crash: none of this mount's deletes happen */
	fs = mnt(0, 0);
	CHECK(fs);
	if (!fs)
		return;
	make_files(fs, 10, 11);
	CHECK(kfs_sync(fs) == 0 && fs->gen == gen + 1);
	CHECK(kfs_unmount(fs) == 0);
	CHECK(exists(id));
	kfs_root_part_id(gen, 0, id);
	CHECK(exists(id));
	keep.drop_dels = false;
	fs = mnt(0, 0);
	CHECK(fs && count_files(fs, 11) == 11);
	if (!fs)
		return;
	make_files(fs, 11, 12);
	CHECK(kfs_sync(fs) == 0 && fs->gen == gen + 2);
	for (uint32_t k = 0; k < 3; k++) {
		kfs_root_part_id(gen, k, id);
		CHECK(!exists(id));
	}
	kfs_journal_id(gen, 1, id);
	CHECK(!exists(id));
	CHECK(kfs_unmount(fs) == 0);
}

/* Past one object's worth of inodes (some 65 000) at the real part size: the commit and the mount work. */
TEST(volume_past_one_object)
{
	const int files = (int)KFS_ROOT_PART_PAIRS + 500;
	struct kfs_attr a;
	struct kfs *fs;
	char name[32];

	fresh_store();
	fs = mnt(KFS_MOUNT_CREATE, 0);
	CHECK(fs);
	if (!fs)
		return;
	for (int d = 0; d * 1000 < files; d++) {
		struct kfs_attr dir;
		snprintf(name, sizeof(name), "d%d", d);
		CHECK(kfs_mkdir(fs, KFS_ROOT_INO, name, 0755, 0, 0, &dir) == 0);
		for (int i = d * 1000; i < files && i < (d + 1) * 1000; i++) {
			snprintf(name, sizeof(name), "f%d", i);
			if (kfs_mknod(fs, dir.ino, name, S_IFREG | 0644, 0, 0, &a) < 0) {
				CHECK(!"mknod");
				break;
			}
		}
	}
	fs->jok = false;
	CHECK(kfs_sync(fs) == 0 && fs->root_parts == 2);
	CHECK(kfs_unmount(fs) == 0);
	fs = mnt(0, 0);
	CHECK(fs && fs->root_parts == 2);
	if (!fs)
		return;
	CHECK(fs->ninodes >= (uint64_t)files);
	snprintf(name, sizeof(name), "d%d", (files - 1) / 1000);
	struct kfs_attr dir;
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, name, &dir) == 0);
	snprintf(name, sizeof(name), "f%d", files - 1);
	CHECK(kfs_lookup(fs, dir.ino, name, &a) == 0);
	CHECK(kfs_unmount(fs) == 0);
}

/* Entries first to last - 1 made in the root directory of fs, not committed. */
static void make_names(struct kfs *fs, int first, int last)
{
	struct kfs_attr a;
	char name[64];

	for (int i = first; i < last; i++) {
		snprintf(name, sizeof(name), "entry-with-a-longer-name-%d", i);
		if (kfs_mknod(fs, KFS_ROOT_INO, name, S_IFREG | 0644, 0, 0, &a) < 0) {
			CHECK(!"mknod");
			break;
		}
	}
}

/* A directory of `count` entries in the root directory, committed. */
static void big_dir(int count)
{
	struct kfs *fs;

	fresh_store();
	fs = mnt(KFS_MOUNT_CREATE, 0);
	CHECK(fs);
	if (!fs)
		return;
	make_names(fs, 0, count);
	CHECK(kfs_sync(fs) == 0);
	CHECK(kfs_unmount(fs) == 0);
}

static int count_entry(void *ctx, const char *name, uint64_t ino, uint32_t mode, uint64_t cookie)
{
	(*(int *)ctx)++;
	return 0;
}

/* The id of the root directory's stored page k (its k-th, in key order) in fs, or "" when none. */
static void page_of(struct kfs *fs, uint32_t k, char id[KFS_ID_MAX + 1])
{
	struct kfs_inode *d = fs ? kfs_ifind(fs, KFS_ROOT_INO) : NULL;

	id[0] = '\0';
	if (d && k < d->npages)
		kfs_dpage_id(d->ino, d->pages[k].key, d->pages[k].ver, id);
}

/* Puts into the store while fn runs (a commit's objects), by kind of id. */
static struct {
	int inodes, pages;
} seen;

static int count_put(struct kfs_store *s, const char *id, const void *buf, size_t len,
		     unsigned flags)
{
	seen.inodes += id[0] == 'i';
	seen.pages += id[0] == 'd';
	return k_put(s, id, buf, len, flags);
}

/*
 * 30 000 entries of 30-byte names (1.5 MiB) are stored in pages, the inode
 * one object listing them; a create then rewrites one page and the inode,
 * not the directory; after removals below the threshold it is whole again
 * and its pages are gone.
 */
TEST(directory_in_pages)
{
	char first[KFS_ID_MAX + 1], last[KFS_ID_MAX + 1];
	struct kfs_attr a;
	struct kfs *fs;
	char name[64];
	int n = 0;

	big_dir(30000);
	fs = mnt(0, 0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_readdir(fs, KFS_ROOT_INO, 0, count_entry, &n) == 0 && n == 30000);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "entry-with-a-longer-name-29999", &a) == 0);
	struct kfs_inode *d = kfs_ifind(fs, KFS_ROOT_INO);
	CHECK(d && d->parts == 0 && d->page_cookies > KFS_DPAGE_COOKIES &&
	      d->npages >= 30000 / d->page_cookies);
	page_of(fs, 0, first);
	CHECK(exists(first));
	keep.base.put = count_put;
	seen.inodes = seen.pages = 0;
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "one-more", S_IFREG | 0644, 0, 0, &a) == 0);
	CHECK(kfs_sync(fs) == 0);
	keep.base.put = k_put;
	CHECK(seen.pages == 1 && seen.inodes == 2); /* the last page; the new file and the directory */
	CHECK(exists(first)); /* kept as it was */
	const int kept = KFS_DPAGE_MIN / 2; /* and "one-more": below the threshold */
	for (int i = kept; i < 30000; i++) {
		snprintf(name, sizeof(name), "entry-with-a-longer-name-%d", i);
		if (kfs_unlink(fs, KFS_ROOT_INO, name) < 0) {
			CHECK(!"unlink");
			break;
		}
	}
	page_of(fs, kfs_ifind(fs, KFS_ROOT_INO)->npages - 1, last);
	CHECK(kfs_sync(fs) == 0);
	CHECK(kfs_ifind(fs, KFS_ROOT_INO)->npages == 0);
	CHECK(!exists(first) && !exists(last));
	CHECK(kfs_unmount(fs) == 0);
	fs = mnt(0, 0);
	n = 0;
	CHECK(fs && kfs_readdir(fs, KFS_ROOT_INO, 0, count_entry, &n) == 0 && n == kept + 1);
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
}

/* Names added to the root of fs from first to last - 1, then a commit; puts counted. */
static void add_names(struct kfs *fs, int first, int last)
{
	make_names(fs, first, last);
	keep.base.put = count_put;
	seen.inodes = seen.pages = 0;
	CHECK(kfs_sync(fs) == 0);
	keep.base.put = k_put;
}

/*
 * Pages start at KFS_DPAGE_COOKIES cookies and double once the directory's
 * cookies outgrow them (w * w / 1.6): the commit that crosses rewrites
 * every page at the new size and retires the old ones; the next create
 * rewrites one page again, and the directory reads back whole.
 */
TEST(page_size_grows_with_the_directory)
{
	const int small = 2000, w = KFS_DPAGE_COOKIES, big = w * 2 * w * 2 * 5 / 8 - 100;
	char old[KFS_ID_MAX + 1];
	struct kfs_attr a;
	int n = 0;

	big_dir(small);
	struct kfs *fs = mnt(0, 0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "entry-with-a-longer-name-0", &a) == 0);
	struct kfs_inode *d = kfs_ifind(fs, KFS_ROOT_INO);
	CHECK(d && d->page_cookies == (uint32_t)w && d->npages >= small / w);
	page_of(fs, 0, old);
	add_names(fs, small, big);
	d = kfs_ifind(fs, KFS_ROOT_INO);
	CHECK(d && d->page_cookies == (uint32_t)w * 2);
	CHECK(d && seen.pages == (int)d->npages && d->npages <= (uint32_t)big / (w * 2) + 1);
	CHECK(!exists(old)); /* retired with the old size */
	add_names(fs, big, big + 1);
	CHECK(seen.pages == 1 && seen.inodes == 2);
	CHECK(kfs_unmount(fs) == 0);
	fs = mnt(0, 0);
	CHECK(fs && kfs_readdir(fs, KFS_ROOT_INO, 0, count_entry, &n) == 0 && n == big + 1);
	CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "entry-with-a-longer-name-0", &a) == 0);
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
}

/* The next put of an id starting with fail_prefix fails (then puts go through again). */
static const char *fail_prefix;

static int failing_put(struct kfs_store *s, const char *id, const void *buf, size_t len,
		       unsigned flags)
{
	if (fail_prefix && !strncmp(id, fail_prefix, strlen(fail_prefix))) {
		fail_prefix = NULL;
		return kiln_err(ENOSPC, "object %s: refused (test)", id);
	}
	return k_put(s, id, buf, len, flags);
}

/*
 * A commit that fails after a directory's pages were put (its inode's put
 * refused) or while they were (a page's put refused): the next commit
 * stores the directory whole again, keeping no page of the failed one, and
 * the volume reads back whole, its replaced pages deleted.
 */
TEST(directory_pages_after_a_failed_commit)
{
	static const char *const kinds[] = { "i-1-", "d-" }; /* the directory's inode, a page */
	char first[KFS_ID_MAX + 1], name[64];
	struct kfs_attr a;
	struct kfs *fs;
	int n;

	for (int k = 0; k < 2; k++) {
		big_dir(1000);
		fs = mnt(0, 0);
		CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "entry-with-a-longer-name-1", &a) == 0);
		page_of(fs, 0, first);
		keep.base.put = failing_put;
		for (int i = 0; i < 3 && fs; i++) {
			snprintf(name, sizeof(name), "after-%d", i);
			CHECK(kfs_mknod(fs, KFS_ROOT_INO, name, S_IFREG | 0644, 0, 0, &a) == 0);
			CHECK(kfs_unlink(fs, KFS_ROOT_INO, "entry-with-a-longer-name-1") == (i ? -ENOENT : 0));
			fail_prefix = i == 0 ? kinds[k] : NULL;
			CHECK(kfs_sync(fs) == (i == 0 ? -ENOSPC : 0));
		}
		keep.base.put = k_put;
		CHECK(!exists(first)); /* rewritten after the failure, the old one deleted */
		if (fs)
			CHECK(kfs_unmount(fs) == 0);
		fs = mnt(0, 0);
		n = 0;
		CHECK(fs && kfs_readdir(fs, KFS_ROOT_INO, 0, count_entry, &n) == 0 && n == 1002);
		CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "after-0", &a) == 0);
		CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "entry-with-a-longer-name-1", &a) == -ENOENT);
		CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "entry-with-a-longer-name-999", &a) == 0);
		if (fs)
			CHECK(kfs_unmount(fs) == 0);
	}
}

/*
 * A directory's page flipped, rolled back to an older version of itself,
 * or missing: EIO naming the page, when the directory is used.
 */
TEST(directory_page_tampered)
{
	char page[KFS_ID_MAX + 1], newer[KFS_ID_MAX + 1];
	uint8_t *buf, *saved;
	size_t *len, saved_len;
	struct kfs_attr a;
	struct kfs *fs;

	big_dir(1000);
	fs = mnt(0, 0);
	CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "entry-with-a-longer-name-5", &a) == 0);
	page_of(fs, fs ? kfs_ifind(fs, KFS_ROOT_INO)->npages - 1 : 0, page);
	if (fs)
		kfs_unmount(fs);
	CHECK(kfs_store_mem_raw(keep.mem, page, &buf, &len) == 0);
	if (!exists(page))
		return;
	buf[40] ^= 1;
	fs = mnt(0, 0); /* the mount reads only the root: the directory fails when it is used */
	CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "entry-with-a-longer-name-5", &a) == -EIO);
	CHECK(strstr(logline, page) && strstr(logline, "authentication failed"));
	if (fs)
		kfs_unmount(fs);
	buf[40] ^= 1;
	/* the last page rewritten by one more entry; its older version put under the new name */
	saved = malloc(*len);
	memcpy(saved, buf, *len);
	saved_len = *len;
	fs = mnt(0, 0);
	CHECK(fs && kfs_mknod(fs, KFS_ROOT_INO, "one-more", S_IFREG | 0644, 0, 0, &a) == 0);
	CHECK(fs && kfs_sync(fs) == 0);
	page_of(fs, fs ? kfs_ifind(fs, KFS_ROOT_INO)->npages - 1 : 0, newer);
	CHECK(strcmp(newer, page) != 0);
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
	CHECK(keep.mem->put(keep.mem, newer, saved, saved_len, 0) == 0);
	fs = mnt(0, 0);
	CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "one-more", &a) == -EIO);
	CHECK(strstr(logline, newer) != NULL);
	if (fs)
		kfs_unmount(fs);
	CHECK(keep.mem->del(keep.mem, newer) == 0);
	fs = mnt(0, 0);
	CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "one-more", &a) == -EIO);
	CHECK(strstr(logline, newer) && strstr(logline, "missing"));
	if (fs)
		kfs_unmount(fs);
	free(saved);
}

int main(void)
{
	RUN(parts_round_trip);
	RUN(part_flipped_or_missing);
	RUN(parts_swapped);
	RUN(part_of_other_history);
	RUN(leftovers_deleted_by_next_mount);
	RUN(volume_past_one_object);
	RUN(directory_in_pages);
	RUN(page_size_grows_with_the_directory);
	RUN(directory_page_tampered);
	RUN(directory_pages_after_a_failed_commit);
	if (keep.mem)
		keep.mem->close(keep.mem);
	return t_done();
}
