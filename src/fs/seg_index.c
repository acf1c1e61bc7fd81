/* SPDX-License-Identifier: Apache-2.0 */
/* The segment store's in-memory index: a chained hash table of object ids. */
#include <stdlib.h>
#include <string.h>

#include "fs/seg_index.h"
#include "fs/seg_record.h"

uint64_t kfs_seg_ent_size(const struct kfs_seg_ent *e)
{
	return KFS_SEG_HDR + e->idlen + e->len;
}

static size_t slot(const struct kfs_seg_index *x, const char *id)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 0x100000001b3ull;
	return (size_t)(h & (x->nbuckets - 1));
}

struct kfs_seg_ent *kfs_seg_index_find(struct kfs_seg_index *x, const char *id)
{
	struct kfs_seg_ent *e = x->nbuckets ? x->tab[slot(x, id)] : NULL;

	while (e && strcmp(e->id, id))
		e = e->next;
	return e;
}

/* Double the table when it holds more entries than buckets. */
static int grow(struct kfs_seg_index *x)
{
	size_t nb = x->nbuckets ? x->nbuckets * 2 : 1024, old = x->nbuckets;
	struct kfs_seg_ent **tab = calloc(nb, sizeof(*tab)), **otab = x->tab;

	if (!tab)
		return kiln_err(ENOMEM, "segment index: out of memory");
	x->tab = tab;
	x->nbuckets = nb;
	for (size_t i = 0; i < old; i++)
		for (struct kfs_seg_ent *e = otab[i], *next; e; e = next) {
			size_t s = slot(x, e->id);
			next = e->next;
			e->next = tab[s];
			tab[s] = e;
		}
	free(otab);
	return 0;
}

int kfs_seg_index_get(struct kfs_seg_index *x, const char *id, struct kfs_seg_ent **out)
{
	struct kfs_seg_ent *e = kfs_seg_index_find(x, id);
	size_t s, idlen = strlen(id);
	int rc;

	if (e) {
		*out = e;
		return 0;
	}
	if (idlen > KFS_ID_MAX)
		return kiln_err(EINVAL, "segment index: id too long");
	if (x->n >= x->nbuckets && (rc = grow(x)) < 0)
		return rc;
	e = calloc(1, sizeof(*e));
	if (!e)
		return kiln_err(ENOMEM, "segment index: out of memory");
	memcpy(e->id, id, idlen + 1);
	e->idlen = (uint8_t)idlen;
	s = slot(x, id);
	e->next = x->tab[s];
	x->tab[s] = e;
	x->n++;
	*out = e;
	return 0;
}

void kfs_seg_index_drop(struct kfs_seg_index *x, const char *id)
{
	struct kfs_seg_ent **p = x->nbuckets ? &x->tab[slot(x, id)] : NULL;

	while (p && *p && strcmp((*p)->id, id))
		p = &(*p)->next;
	if (p && *p) {
		struct kfs_seg_ent *e = *p;
		*p = e->next;
		free(e);
		x->n--;
	}
}

void kfs_seg_index_free(struct kfs_seg_index *x)
{
	for (size_t i = 0; i < x->nbuckets; i++)
		for (struct kfs_seg_ent *e = x->tab[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	free(x->tab);
	x->tab = NULL;
	x->nbuckets = x->n = 0;
}
