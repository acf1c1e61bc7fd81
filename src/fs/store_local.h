/* SPDX-License-Identifier: Apache-2.0 */
/* The two layouts of a local-directory store (kfs_store_dir picks one per volume). */
#ifndef KILN_FS_STORE_LOCAL_H
#define KILN_FS_STORE_LOCAL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/store.h"

/* What both layouts start with: the store, its read-ahead hints, where an object's bytes lie (or NULL). */
struct kfs_store_local {
	struct kfs_store ops;
	void (*prefetch)(struct kfs_store *s, const char *id);
	int (*locate)(struct kfs_store *s, const char *id, struct kfs_extent *x);
	/* compaction when idle (segments only; NULL otherwise): see kfs_store_dir_idle */
	void (*defer_compaction)(struct kfs_store *s);
	int (*idle)(struct kfs_store *s);
	bool (*idle_pending)(struct kfs_store *s);
	/* a put of KFS_PUT_DURABLE | KFS_PUT_BARRIER makes what came before durable with it */
	bool marks;
};

/* The original layout: one file per object (volumes created before segments). */
int kfs_store_files(int dirfd, const struct kfs_dir_caps *caps, struct kfs_store **out) KILN_MUST;
/* Objects packed into append-only segment files (store_seg.c). */
int kfs_store_seg(int dirfd, const struct kfs_dir_caps *caps, struct kfs_store **out) KILN_MUST;

/* Segment files are "seg_" and 16 hex digits ('_' is never in an object id). */
#define KFS_SEG_NAME_LEN 20
bool kfs_seg_name_parse(const char *name, uint64_t *num);
void kfs_seg_name(uint64_t num, char out[KFS_SEG_NAME_LEN + 1]);

/* A listing of dirfd from its start (closedir it). */
int kfs_dir_list(int dirfd, DIR **out) KILN_MUST;

/* Open name beneath dirfd only: no "..", no absolute paths, no symlinks. */
int kfs_open_beneath(int dirfd, const char *name, int flags, mode_t mode);

/*
 * Knobs for tests only: a segment size (0: the default) and a compaction
 * step to stop after as if the process died there (0: none; 1 after the
 * copies, 2 after they are durable, 3 after the old segment is unlinked).
 */
struct kfs_seg_tuning {
	uint64_t seg_max;
	int crash_at;
};
extern struct kfs_seg_tuning kfs_seg_tuning;

#endif
