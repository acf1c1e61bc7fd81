/* SPDX-License-Identifier: Apache-2.0 */
/* A large directory's names hashed to their entries: a lookup or a create without a scan of every name. */
#include <stdlib.h>
#include <string.h>

#include "fs/internal.h"

/*
 * How this works. A directory keeps its entries in an array in cookie
 * order (readdir resumes by cookie, and the stored inode lists them so).
 * Finding a name scanned that array: over NFS every close of a created
 * file commits, so a create in a directory of 10 000 names cost 38 us of
 * host CPU in the scan alone. The index is built at the first lookup in a
 * directory of KFS_DIX_MIN entries or more, kept up to date as entries
 * come and go (dent_add, dent_del in fs/ops.c), and freed with the
 * inode's fields; it lives only in memory, so nothing stored changes.
 *
 * Open addressing with linear probing; a slot holds an entry's index + 1,
 * 0 when empty, DIX_GONE where an entry was removed (a lookup probes past
 * it). At most half the slots are used or gone: past that it is rebuilt.
 * The hash is not keyed: names are the app's own, so names made to
 * collide only slow down the app that made them, to the scan there was.
 */
#define DIX_GONE UINT32_MAX

struct kfs_dix {
	uint32_t mask, used, gone;
	uint32_t slot[];
};

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static void dix_put(struct kfs_dix *x, const char *name, uint32_t idx)
{
	uint32_t i = name_hash(name) & x->mask;

	while (x->slot[i] != 0 && x->slot[i] != DIX_GONE)
		i = (i + 1) & x->mask;
	x->gone -= x->slot[i] == DIX_GONE;
	x->slot[i] = idx + 1;
	x->used++;
}

/* A new index of d's entries (none when out of memory: lookups then scan). */
static void dix_build(struct kfs_inode *d)
{
	uint32_t cap = 64;

	kfs_dix_free(d);
	while (cap < 4 * (size_t)d->nent && cap < (1u << 30))
		cap *= 2;
	struct kfs_dix *x = calloc(1, sizeof(*x) + (size_t)cap * sizeof(x->slot[0]));
	if (!x)
		return;
	x->mask = cap - 1;
	for (uint32_t i = 0; i < d->nent; i++)
		dix_put(x, d->ents[i].name, i);
	d->dix = x;
}

/* The slot that holds the entry named name, or -1. */
static int64_t dix_slot(const struct kfs_inode *d, const char *name)
{
	const struct kfs_dix *x = d->dix;

	for (uint32_t i = name_hash(name) & x->mask; x->slot[i] != 0; i = (i + 1) & x->mask)
		if (x->slot[i] != DIX_GONE && !strcmp(d->ents[x->slot[i] - 1].name, name))
			return i;
	return -1;
}

struct kfs_dent *kfs_dent_find(struct kfs_inode *d, const char *name)
{
	if (!d->dix && d->nent >= KFS_DIX_MIN)
		dix_build(d);
	if (d->dix) {
		int64_t s = dix_slot(d, name);
		return s < 0 ? NULL : &d->ents[d->dix->slot[s] - 1];
	}
	for (uint32_t i = 0; i < d->nent; i++)
		if (!strcmp(d->ents[i].name, name))
			return &d->ents[i];
	return NULL;
}

void kfs_dix_added(struct kfs_inode *d)
{
	struct kfs_dix *x = d->dix;

	if (!x)
		return;
	if (2 * ((size_t)x->used + x->gone + 1) > (size_t)x->mask + 1)
		dix_build(d); /* the new entry included */
	else
		dix_put(x, d->ents[d->nent - 1].name, d->nent - 1);
}

void kfs_dix_removing(struct kfs_inode *d, uint32_t idx)
{
	struct kfs_dix *x = d->dix;

	if (!x)
		return;
	int64_t s = dix_slot(d, d->ents[idx].name);
	if (s < 0) { /* not indexed: cannot happen, but a stale index must not stay */
		kfs_dix_free(d);
		return;
	}
	x->slot[s] = DIX_GONE;
	x->used--;
	x->gone++;
	/* the entries after it move down by one */
	for (uint32_t i = 0; i <= x->mask; i++)
		if (x->slot[i] != 0 && x->slot[i] != DIX_GONE && x->slot[i] > idx + 1)
			x->slot[i]--;
}

void kfs_dix_free(struct kfs_inode *d)
{
	free(d->dix);
	d->dix = NULL;
}
