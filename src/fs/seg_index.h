/* SPDX-License-Identifier: Apache-2.0 */
/* The segment store's in-memory index: object id -> where its newest record is. */
#ifndef KILN_FS_SEG_INDEX_H
#define KILN_FS_SEG_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/store.h"

struct kfs_seg_ent {
	struct kfs_seg_ent *next;
	uint64_t seg;  /* segment number */
	uint64_t off;  /* record offset in it */
	uint32_t len;  /* data bytes */
	bool del;      /* the newest record is a tombstone */
	uint8_t idlen;
	char id[KFS_ID_MAX + 1];
};

struct kfs_seg_index {
	struct kfs_seg_ent **tab;
	size_t nbuckets, n;
};

/* The record size the entry stands for (header, id, data). */
uint64_t kfs_seg_ent_size(const struct kfs_seg_ent *e);

struct kfs_seg_ent *kfs_seg_index_find(struct kfs_seg_index *x, const char *id);
/* The entry of id, created (zeroed but for the id) when there is none. */
int kfs_seg_index_get(struct kfs_seg_index *x, const char *id, struct kfs_seg_ent **out) KILN_MUST;
void kfs_seg_index_drop(struct kfs_seg_index *x, const char *id);
void kfs_seg_index_free(struct kfs_seg_index *x);

#endif
