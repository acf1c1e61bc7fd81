/* SPDX-License-Identifier: Apache-2.0 */
/* A large directory stored in pages, so that a commit rewrites only the pages whose entries changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/internal.h"

/*
 * How this works. A directory's entries are one array in memory, in
 * cookie order (readdir's). Stored whole, every commit that adds a name
 * sealed and wrote all of them: over NFS, where each small file created is
 * a commit, n files in one directory cost n squared. From KFS_DPAGE_MIN
 * entries on, the inode instead lists pages: page key holds the entries
 * whose cookies are in [key, key + 1) * w (w: page_cookies), sealed as
 * object d-INO-KEY-VER with the directory, the key and the version in its
 * associated data. New names take new cookies, so they go to the last
 * page; a removal changes its own page. A commit writes the pages touched
 * since the last one under the inode's new version, keeps the others as
 * they are named, and retires what it replaced; the inode names each
 * page's version and count, so a page cannot be dropped, moved to another
 * directory or key, or rolled back without the load failing.
 */

struct kfs_dpage_tuning kfs_dpage_tuning;

static uint32_t page_min(void)
{
	return kfs_dpage_tuning.min ? kfs_dpage_tuning.min : KFS_DPAGE_MIN;
}

/*
 * How many cookies a page of d takes. A commit that adds a name seals the
 * last page (on average half a page of entries of some 25 bytes each)
 * and the inode, which lists 20 bytes a page: for a directory of n
 * cookies about 12 w + 20 n / w bytes, least near w = sqrt(1.6 n). So
 * pages start at KFS_DPAGE_COOKIES and double while w * w / 1.6 is below
 * the directory's next cookie. The next cookie never falls, so the size
 * never flaps; each doubling rewrites every page once (page_out).
 */
static uint32_t page_cookies(const struct kfs_inode *d)
{
	uint64_t w = KFS_DPAGE_COOKIES;

	if (kfs_dpage_tuning.cookies)
		return kfs_dpage_tuning.cookies;
	while (w < KFS_DPAGE_COOKIES_MAX && w * w * 5 / 8 < d->next_cookie)
		w *= 2;
	return (uint32_t)w;
}

static struct kfs_aad page_aad(const struct kfs *fs, uint64_t ino, uint64_t key, uint64_t ver)
{
	struct kfs_aad a;

	kfs_aad_of(fs, KFS_OBJ_DIR_PAGE, ino, key, ver, &a);
	return a;
}

static bool touched(const struct kfs_inode *d, uint64_t key)
{
	for (uint32_t i = 0; i < d->ndirty; i++)
		if (d->dirty_keys[i] == key)
			return true;
	return d->all_dirty;
}

void kfs_dpage_touch(struct kfs_inode *d, uint64_t cookie)
{
	if (!d->npages) /* nothing stored in pages */
		return;
	uint64_t key = cookie / d->page_cookies;

	if (touched(d, key)) /* already, or all of them are */
		return;
	if (d->ndirty == d->dirtycap) {
		uint32_t cap = d->dirtycap ? d->dirtycap * 2 : 8;
		uint64_t *p = realloc(d->dirty_keys, cap * sizeof(*p));
		if (!p) { /* no room to say which: all of them */
			d->all_dirty = true;
			return;
		}
		d->dirty_keys = p;
		d->dirtycap = cap;
	}
	d->dirty_keys[d->ndirty++] = key;
}

static int cmp_key(const void *key, const void *page)
{
	uint64_t k = *(const uint64_t *)key, pk = ((const struct kfs_dpage *)page)->key;

	return k < pk ? -1 : k > pk;
}

/* The stored page of key, or NULL (pages are sorted by key). */
static const struct kfs_dpage *stored(const struct kfs_inode *d, uint64_t key)
{
	return d->npages ? bsearch(&key, d->pages, d->npages, sizeof(*d->pages), cmp_key) : NULL;
}

static int retire_page(struct kfs *fs, const struct kfs_inode *d, const struct kfs_dpage *p)
{
	char id[KFS_ID_MAX + 1];

	kfs_dpage_id(d->ino, p->key, p->ver, id);
	return kfs_retire(fs, id, p->ver);
}

/* Seal and put entries [0, count) of ents as page key of d at version ver. */
static int put_page(struct kfs *fs, const struct kfs_inode *d, uint64_t key, uint64_t ver,
		    const struct kfs_dent *ents, uint32_t count)
{
	char id[KFS_ID_MAX + 1];
	struct kfs_aad aad = page_aad(fs, d->ino, key, ver);
	uint8_t *pt = NULL;
	size_t len = 0;
	int rc = kfs_dpage_encode(ents, count, &pt, &len);

	kfs_dpage_id(d->ino, key, ver, id);
	if (rc == 0)
		rc = kfs_seal_put(fs, &aad, id, pt, len, KFS_SEAL_META, NULL);
	free(pt);
	return rc;
}

/* Every stored page of d retired and forgotten (the directory is stored whole, or gone). */
int kfs_dpages_retire(struct kfs *fs, struct kfs_inode *d)
{
	int rc = 0;

	for (uint32_t i = 0; i < d->npages && rc == 0; i++)
		rc = retire_page(fs, d, &d->pages[i]);
	if (rc < 0)
		return rc;
	free(d->pages);
	d->pages = NULL;
	d->npages = d->ndirty = 0;
	d->all_dirty = false;
	return 0;
}

/*
 * The pages of d's entries as of now into out (*n of them, room for nent):
 * a page no change touched is kept as stored, the others are put at
 * version ver and what they replace is retired, and stored pages left
 * with no entry are retired.
 */
static int page_out(struct kfs *fs, struct kfs_inode *d, uint64_t ver, uint32_t w,
		    struct kfs_dpage *out, uint32_t *n)
{
	int rc = 0;

	*n = 0;
	if (d->npages && d->page_cookies != w) /* pages of another size: none is kept */
		d->all_dirty = true;
	for (uint32_t i = 0, j; i < d->nent && rc == 0; i = j) {
		uint64_t key = d->ents[i].cookie / w;
		for (j = i + 1; j < d->nent && d->ents[j].cookie / w == key; j++)
			;
		const struct kfs_dpage *old = stored(d, key);
		struct kfs_dpage *p = &out[(*n)++];
		*p = (struct kfs_dpage){ key, ver, j - i };
		/* a page only loses entries but to a touch, so a count that moved says so too */
		if (old && !touched(d, key) && old->count == j - i) {
			p->ver = old->ver;
			continue;
		}
		rc = put_page(fs, d, key, ver, &d->ents[i], j - i);
		/* the same version: a failed commit's page, put again just now under its id */
		if (rc == 0 && old && old->ver != ver)
			rc = retire_page(fs, d, old);
	}
	for (uint32_t i = 0, k = 0; i < d->npages && rc == 0; i++) {
		while (k < *n && out[k].key < d->pages[i].key)
			k++;
		if (k == *n || out[k].key != d->pages[i].key)
			rc = retire_page(fs, d, &d->pages[i]);
	}
	return rc;
}

int kfs_dpages_store(struct kfs *fs, struct kfs_inode *d, uint64_t ver)
{
	struct kfs_dpage *out;
	uint32_t n;
	int rc;

	if (d->nent < page_min())
		return kfs_dpages_retire(fs, d);
	uint32_t w = page_cookies(d);
	/* room for a page per key from the first entry's to the last's, or per entry if fewer */
	uint64_t keys = d->ents[d->nent - 1].cookie / w - d->ents[0].cookie / w + 1;
	out = malloc((keys < d->nent ? keys : d->nent) * sizeof(*out));
	if (!out)
		return kiln_err(ENOMEM, "directory %llu: out of memory", (unsigned long long)d->ino);
	rc = page_out(fs, d, ver, w, out, &n);
	if (rc < 0) {
		/* some pages may have been retired: none of them may be kept by the next commit */
		d->all_dirty = true;
		free(out);
		return rc;
	}
	free(d->pages);
	d->pages = out;
	d->npages = n;
	d->page_cookies = w;
	d->ndirty = 0;
	d->all_dirty = false;
	return 0;
}

/* Page p of d, got as o: its entries appended to d's (-EIO once logged when it is missing or not authentic). */
static int open_page(struct kfs *fs, struct kfs_inode *d, const struct kfs_dpage *p,
		     const struct kfs_obj *o)
{
	struct kfs_aad aad = page_aad(fs, d->ino, p->key, p->ver);
	uint8_t *pt = NULL;
	size_t len = 0;
	int rc = o->rc;

	if (rc == 0)
		rc = kfs_open_meta(fs, &aad, o->id, o->buf, o->len, &pt, &len);
	if (rc == 0)
		rc = kfs_dpage_decode(pt, len, p->key, p->count, d);
	free(pt);
	if (rc == -ENOENT || rc == -EBADMSG)
		return kfs_integrity(fs, rc, "directory page", o->id);
	return rc;
}

/* The pages are fetched in batches (one round trip each over the storage channel), then opened in order. */
int kfs_dpages_load(struct kfs *fs, struct kfs_inode *d)
{
	char ids[KFS_BATCH_MAX][KFS_ID_MAX + 1];
	struct kfs_obj v[KFS_BATCH_MAX];
	uint64_t total = 0;
	int rc = 0;

	for (uint32_t i = 0; i < d->npages; i++)
		total += d->pages[i].count;
	d->ents = calloc(total ? total : 1, sizeof(*d->ents));
	if (!d->ents)
		return kiln_err(ENOMEM, "directory %llu: out of memory", (unsigned long long)d->ino);
	d->entcap = (uint32_t)(total ? total : 1);
	for (uint32_t i = 0; i < d->npages && rc == 0; i += KFS_BATCH_MAX) {
		uint32_t m = d->npages - i < KFS_BATCH_MAX ? d->npages - i : KFS_BATCH_MAX;
		for (uint32_t j = 0; j < m; j++) {
			const struct kfs_dpage *p = &d->pages[i + j];
			kfs_dpage_id(d->ino, p->key, p->ver, ids[j]);
			v[j] = (struct kfs_obj){ .id = ids[j] };
		}
		(void)kfs_store_batch(fs->st, false, v, m); /* each v[j].rc says */
		for (uint32_t j = 0; j < m; j++) {
			if (rc == 0)
				rc = open_page(fs, d, &d->pages[i + j], &v[j]);
			free(v[j].buf);
		}
	}
	return rc;
}
