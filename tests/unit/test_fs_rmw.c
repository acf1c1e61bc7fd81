/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of deferred read-modify-write: small writes wait in the cache, their old blocks come in batches. */
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/internal.h"
#include "t.h"

#include "counting_store.h"

#define PAGE 4096
#define BIG (260 * KFS_BLOCK) /* blocks 0 and 256 share a cache slot */
static uint8_t file[BIG], back[BIG], page[PAGE];

/* A file "f" of size bytes of a known pattern (kept in file), remounted cold; counts from zero. */
static struct kfs *cold_file(struct kfs_attr *a, size_t size)
{
	struct kfs *fs;

	fresh_store();
	fs = mount_counting(KFS_MOUNT_CREATE);
	for (size_t i = 0; i < sizeof(file); i++)
		file[i] = (uint8_t)(i * 7 + (i >> 15));
	if (!fs || kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0644, 0, 0, a) < 0 ||
	    kfs_write(fs, a->ino, 0, file, size) != (ssize_t)size || kfs_unmount(fs) < 0)
		return NULL;
	fs = mount_counting(0);
	if (fs && kfs_getattr(fs, a->ino, a) < 0)
		return NULL;
	counts_reset();
	return fs;
}

/* Write page p of block b (filled with c) through fs and into file. */
static ssize_t write_page(struct kfs *fs, uint64_t ino, uint64_t b, size_t p, int c)
{
	size_t off = b * KFS_BLOCK + p * PAGE;

	memset(page, c, sizeof(page));
	memcpy(file + off, page, sizeof(page));
	return kfs_write(fs, ino, off, page, sizeof(page));
}

static int gets(void)
{
	return cs.gets + cs.getv_objs;
}

/* Every cache slot holds zeros from its zero_from on: a put or an open zeroes only up to there. */
static bool slots_zero_past_mark(const struct kfs *fs)
{
	for (size_t i = 0; i < KFS_CACHE_BLOCKS; i++)
		for (size_t j = fs->cache[i].zero_from; j < KFS_BLOCK; j++)
			if (fs->cache[i].data[j])
				return false;
	return true;
}

/* Remount and compare the first size bytes of the file with what was written. */
static void check_stored(struct kfs *fs, uint64_t ino, size_t size)
{
	CHECK(slots_zero_past_mark(fs));
	CHECK(kfs_unmount(fs) == 0);
	fs = mount_counting(0);
	CHECK(fs && kfs_read(fs, ino, 0, back, size) == (ssize_t)size);
	CHECK(!memcmp(back, file, size));
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
	fresh_store();
}

/*
 * 4 KiB writes into 40 cold blocks fetch nothing and store nothing yet,
 * and keep the block's version; reads see them (a page written: no get; a
 * page not written: its block fetched and merged, new over old); the
 * commit fetches the other 39 old blocks in two batches (32 and 7), each
 * block once, and stores every block under a new version.
 */
TEST(deferred_writes_then_batched)
{
	struct kfs_inode *n;
	struct kfs_attr a;
	struct kfs *fs = cold_file(&a, 2 << 20);
	uint64_t ver5, next;

	CHECK(fs);
	if (!fs)
		return;
	n = kfs_ifind(fs, a.ino);
	ver5 = n->blk[5];
	next = fs->next_ver;
	for (uint64_t b = 0; b < 40; b++)
		CHECK(write_page(fs, a.ino, b, 2, 'a' + (int)(b % 26)) == PAGE);
	CHECK(gets() == 0 && cs.puts + cs.putv_objs == 0);
	CHECK(n->blk[5] == ver5 && fs->next_ver == next); /* a version is taken when sealed */
	CHECK(kfs_read(fs, a.ino, 7 * KFS_BLOCK + 2 * PAGE, back, PAGE) == PAGE);
	CHECK(!memcmp(back, file + 7 * KFS_BLOCK + 2 * PAGE, PAGE) && gets() == 0);
	CHECK(kfs_read(fs, a.ino, 9 * KFS_BLOCK, back, KFS_BLOCK) == KFS_BLOCK);
	CHECK(!memcmp(back, file + 9 * KFS_BLOCK, KFS_BLOCK) && gets() == 1);
	counts_reset();
	CHECK(kfs_dirty(fs));
	CHECK(kfs_sync(fs) == 0);
	CHECK(cs.getv_calls == 2 && cs.getv_objs == 39 && cs.gets == 0);
	CHECK(n->blk[5] > ver5 && !kfs_deferred(fs));
	check_stored(fs, a.ino, 2 << 20);
}

/*
 * A write whose slot holds another block's deferred write (blocks 0 and
 * 256) seals every deferred block first, together: one batch of gets,
 * not one round trip per eviction; the write itself waits for nothing.
 */
TEST(eviction_seals_a_batch)
{
	struct kfs_attr a;
	struct kfs *fs = cold_file(&a, BIG);

	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_cache_slot(fs, a.ino, 0) == kfs_cache_slot(fs, a.ino, 256));
	for (uint64_t b = 0; b < 10; b++)
		CHECK(write_page(fs, a.ino, b, 5, 'k') == PAGE);
	CHECK(gets() == 0);
	CHECK(write_page(fs, a.ino, 256, 1, 'z') == PAGE);
	CHECK(cs.getv_calls == 1 && cs.getv_objs == 10 && cs.gets == 0);
	CHECK(cs.putv_objs + cs.puts == 10); /* the ten sealed, block 256 still waiting */
	counts_reset();
	CHECK(kfs_sync(fs) == 0);
	CHECK(cs.getv_calls == 1 && cs.getv_objs == 1);
	check_stored(fs, a.ino, BIG);
}

/*
 * Block 3's stored object is tampered with: the eviction that seals the
 * ten deferred blocks seals the nine good ones and not block 3, and the
 * write that evicted them still succeeds; the next commit fails with EIO
 * (once), block 3 reads EIO (its old version, never laundered by the new
 * page), the others have their new pages.
 */
TEST(eviction_keeps_a_forged_block_out)
{
	char id[KFS_ID_MAX + 1];
	struct kfs_attr a;
	struct kfs *fs = cold_file(&a, BIG);
	uint8_t *obj;
	size_t *len;

	CHECK(fs);
	if (!fs)
		return;
	kfs_block_id(a.ino, 3, kfs_ifind(fs, a.ino)->blk[3], id);
	CHECK(kfs_store_mem_raw(cs.in, id, &obj, &len) == 0 && *len > 40);
	obj[40] ^= 1;
	for (uint64_t b = 0; b < 10; b++)
		CHECK(write_page(fs, a.ino, b, 0, 'k') == PAGE);
	CHECK(write_page(fs, a.ino, 256, 0, 'z') == PAGE);
	CHECK(cs.putv_objs + cs.puts == 9);
	CHECK_ERR(kfs_sync(fs), "Input/output error");
	CHECK(kfs_sync(fs) == 0);
	CHECK(kfs_read(fs, a.ino, 3 * KFS_BLOCK, back, PAGE) == -EIO);
	CHECK(slots_zero_past_mark(fs)); /* the failed open's bytes too */
	CHECK(kfs_unmount(fs) == 0);
	fs = mount_counting(0);
	CHECK(fs && kfs_read(fs, a.ino, 0, back, 3 * KFS_BLOCK) == 3 * KFS_BLOCK);
	CHECK(!memcmp(back, file, 3 * KFS_BLOCK));
	CHECK(fs && kfs_read(fs, a.ino, 4 * KFS_BLOCK, back, 6 * KFS_BLOCK) == 6 * KFS_BLOCK);
	CHECK(!memcmp(back, file + 4 * KFS_BLOCK, 6 * KFS_BLOCK));
	CHECK(fs && kfs_read(fs, a.ino, 3 * KFS_BLOCK, back, PAGE) == -EIO);
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
	fresh_store();
}

/*
 * No get where the old bytes are known: a hole, a block past the end, and
 * the pages of the last block past the end of the file, so that the
 * pages of a short last block written in order are sealed without one.
 */
TEST(holes_and_the_end_need_no_get)
{
	struct kfs_attr a;
	struct kfs *fs = cold_file(&a, 10000);

	CHECK(fs);
	if (!fs)
		return;
	memset(file + 10000, 0, sizeof(file) - 10000);
	memset(file + 8192, 'e', 2000); /* page 2 of block 0 up to past the end (10000) */
	CHECK(kfs_write(fs, a.ino, 8192, file + 8192, 2000) == 2000);
	CHECK(gets() == 0 && kfs_deferred(fs));
	CHECK(write_page(fs, a.ino, 0, 0, 'p') == PAGE && write_page(fs, a.ino, 0, 1, 'q') == PAGE);
	CHECK(gets() == 0 && !kfs_deferred(fs)); /* whole: sealed at once */
	CHECK(write_page(fs, a.ino, 3, 1, 'h') == PAGE); /* a block past the end */
	CHECK(kfs_setattr(fs, a.ino, KFS_SET_SIZE, &(struct kfs_attr){ .size = 20 * KFS_BLOCK }, NULL) == 0);
	CHECK(write_page(fs, a.ino, 12, 3, 'x') == PAGE); /* a hole */
	CHECK(kfs_sync(fs) == 0 && gets() == 0);
	check_stored(fs, a.ino, 20 * KFS_BLOCK);
}

/*
 * Writes that do not cover whole pages of a deferred block, a truncate
 * through one and a rewrite of one whole: each sees the bytes written
 * before it (new over old), in its own fetch where it needs the old ones.
 */
TEST(mixed_writes_over_deferred)
{
	struct kfs_attr a;
	struct kfs *fs = cold_file(&a, 2 << 20);
	uint8_t odd[100];

	CHECK(fs);
	if (!fs)
		return;
	CHECK(write_page(fs, a.ino, 1, 0, 'a') == PAGE && write_page(fs, a.ino, 2, 3, 'b') == PAGE);
	CHECK(write_page(fs, a.ino, 3, 6, 'c') == PAGE && write_page(fs, a.ino, 4, 7, 'd') == PAGE);
	memset(odd, 'o', sizeof(odd));
	memcpy(file + KFS_BLOCK + 10, odd, sizeof(odd)); /* inside the page written */
	CHECK(kfs_write(fs, a.ino, KFS_BLOCK + 10, odd, sizeof(odd)) == sizeof(odd) && gets() == 0);
	memcpy(file + 2 * KFS_BLOCK + 10, odd, sizeof(odd)); /* in a page not written */
	CHECK(kfs_write(fs, a.ino, 2 * KFS_BLOCK + 10, odd, sizeof(odd)) == sizeof(odd) && gets() == 1);
	memset(file + 3 * KFS_BLOCK, 'W', KFS_BLOCK); /* block 3 rewritten whole */
	CHECK(kfs_write(fs, a.ino, 3 * KFS_BLOCK, file + 3 * KFS_BLOCK, KFS_BLOCK) == KFS_BLOCK);
	CHECK(kfs_setattr(fs, a.ino, KFS_SET_SIZE, &(struct kfs_attr){ .size = 4 * KFS_BLOCK + 100 },
			  NULL) == 0);
	memset(file + 4 * KFS_BLOCK + 100, 0, sizeof(file) - 4 * KFS_BLOCK - 100);
	CHECK(kfs_read(fs, a.ino, 0, back, 5 * KFS_BLOCK) == 4 * KFS_BLOCK + 100);
	CHECK(!memcmp(back, file, 4 * KFS_BLOCK + 100));
	counts_reset();
	CHECK(kfs_deferred(fs)); /* block 1, merged by the read */
	CHECK(kfs_sync(fs) == 0 && gets() == 0 && !kfs_deferred(fs));
	check_stored(fs, a.ino, 4 * KFS_BLOCK + 100);
}

/*
 * A slot zeroes only what it held past a block put in it: a deferred page
 * (page 3), the old block merged under it by a read of page 0, then the
 * file truncated to nothing and 1 byte written from the hole into the same
 * slot, then grown again: the read past that byte must see zeros, not the
 * slot's earlier bytes.
 */
TEST(a_reused_slot_reads_zeros)
{
	struct kfs_attr a;
	struct kfs *fs = cold_file(&a, KFS_BLOCK);

	CHECK(fs);
	if (!fs)
		return;
	CHECK(write_page(fs, a.ino, 0, 3, 'z') == PAGE && kfs_deferred(fs));
	CHECK(slots_zero_past_mark(fs));
	CHECK(kfs_read(fs, a.ino, 0, back, PAGE) == PAGE && !memcmp(back, file, PAGE) && gets() == 1);
	CHECK(slots_zero_past_mark(fs));
	CHECK(kfs_setattr(fs, a.ino, KFS_SET_SIZE, &(struct kfs_attr){ .size = 0 }, NULL) == 0);
	CHECK(kfs_write(fs, a.ino, 0, "x", 1) == 1);
	CHECK(kfs_setattr(fs, a.ino, KFS_SET_SIZE, &(struct kfs_attr){ .size = KFS_BLOCK }, NULL) == 0);
	memset(file, 0, KFS_BLOCK);
	file[0] = 'x';
	CHECK(kfs_read(fs, a.ino, 0, back, KFS_BLOCK) == KFS_BLOCK && !memcmp(back, file, KFS_BLOCK));
	CHECK(slots_zero_past_mark(fs));
	check_stored(fs, a.ino, KFS_BLOCK);
}

int main(void)
{
	RUN(deferred_writes_then_batched);
	RUN(eviction_seals_a_batch);
	RUN(eviction_keeps_a_forged_block_out);
	RUN(holes_and_the_end_need_no_get);
	RUN(mixed_writes_over_deferred);
	RUN(a_reused_slot_reads_zeros);
	fresh_store();
	return t_done();
}
