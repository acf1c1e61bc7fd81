/* SPDX-License-Identifier: Apache-2.0 */
/* The segment store's state, shared by its layout code and its compaction. */
#ifndef KILN_FS_SEG_STORE_H
#define KILN_FS_SEG_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "fs/seg_index.h"
#include "fs/seg_record.h"
#include "fs/store_local.h"

#define KFS_SEG_MAX_DEFAULT (64ull << 20) /* a segment is sealed past this size */
#define KFS_SEG_KICK (4ull << 20)	  /* start writeback of the active one every this much */

struct kfs_seg {
	uint64_t num; /* from its name; higher is newer */
	int fd;
	uint64_t size; /* bytes of records (what the scan accepted, then appends) */
	uint64_t live; /* bytes of the records the index points at */
	bool stuck;    /* compacting it failed: not tried again */
	uint64_t kicked; /* writeback started up to here (the active one) */
	uint64_t flushed; /* the active one: its records before this offset are durable */
};

/* Read-ahead advice not given yet: len bytes at off of fd (records that follow each other). */
struct kfs_seg_advice {
	int fd;
	uint64_t off, len;
};

/*
 * Opening: what the scan of the newest segment knows of its commit point
 * marks (seg_record.h). Only the last point can have been cut short by a
 * crash: nothing is appended after a point until its flush is done. So
 * the record after a mark whose flush covered a damaged record is held,
 * not indexed, until something follows it.
 */
struct kfs_seg_scan_marks {
	bool newest, damaged;
	uint64_t damaged_at; /* the last damaged record */
	bool suspect;	     /* a mark over a damaged record, at mark_at */
	uint64_t mark_at;
	bool held; /* the record after it (its point), at held_at */
	uint64_t held_at;
	struct kfs_seg_rec held_rec;
};

struct kfs_seg_store {
	struct kfs_store_local ops;
	int dirfd;
	struct kfs_dir_caps caps;
	struct kfs_seg *segs; /* by number; the last one is appended to, when appendable */
	size_t nsegs, cap;
	uint64_t next_num;    /* the next segment's number */
	struct kfs_seg_index idx;
	uint64_t objects;     /* index entries that are not tombstones */
	uint64_t disk;        /* bytes of all segments */
	uint64_t seg_max;
	bool dirty;	      /* the active segment has appends not yet fdatasync'd */
	bool dir_dirty;	      /* a segment was created since the directory's last fsync */
	bool appendable;      /* the last segment is the active one (else the next append makes one) */
	bool unsure;	      /* opened: the newest segment's records may not all be durable yet */
	char scanning[KFS_SEG_NAME_LEN + 1]; /* opening: the segment being scanned (logs) */
	struct kfs_seg_scan_marks marks; /* opening: the newest segment's commit point marks */
	struct kfs_seg_advice advice;		     /* prefetch: the range still to advise */
	bool idle_compaction; /* writes leave compaction to kfs_seg_compact_idle, up to a backlog */
	bool idle_work;	      /* a write left a segment to compact */
};

/* The segment numbered num, or NULL. */
struct kfs_seg *kfs_seg_find(struct kfs_seg_store *s, uint64_t num);
static inline struct kfs_seg *kfs_seg_active(struct kfs_seg_store *s)
{
	return &s->segs[s->nsegs - 1];
}
/* Make room for a record of len bytes in the active segment (sealing it when full). */
int kfs_seg_room(struct kfs_seg_store *s, uint64_t len) KILN_MUST;
/* Append len raw bytes (iov) to the active segment at its end; *off where they went. */
int kfs_seg_append(struct kfs_seg_store *s, const struct iovec *iov, int n, uint64_t len,
		   uint64_t *off) KILN_MUST;
/* Point e (seg 0: a new entry) at a record appended at off of the active segment. */
void kfs_seg_repoint(struct kfs_seg_store *s, struct kfs_seg_ent *e, bool del, uint32_t len,
		     uint64_t off);
/* A new, empty active segment (the old one made durable first). */
int kfs_seg_create(struct kfs_seg_store *s) KILN_MUST;
/* fdatasync the active segment and fsync the directory, where needed. */
int kfs_seg_flush(struct kfs_seg_store *s) KILN_MUST;
void kfs_seg_log(const char *fmt, ...) KILN_PRINTF(1, 2);

/*
 * Compaction (seg_compact.c). kfs_seg_compact_some: after a write, compact
 * one sealed segment whose live bytes are under half its size.
 * kfs_seg_reclaim: while the segments' bytes are over the byte cap,
 * compact the segment with the most garbage (sealing the active one first
 * when it is that one). A failed compaction is logged and the write that
 * called stands: both return 0 but for a simulated crash (tests).
 */
int kfs_seg_compact_some(struct kfs_seg_store *s) KILN_MUST;
/*
 * With idle_compaction (kilnd's channel), a write compacts only once
 * KFS_SEG_BACKLOG segments are under half live; below that the work waits
 * for kfs_seg_compact_idle, called when the channel has nothing to read:
 * one segment per call, 1 when it compacted one (call again), 0 when none.
 */
#define KFS_SEG_BACKLOG 8
int kfs_seg_compact_idle(struct kfs_seg_store *s) KILN_MUST;
int kfs_seg_reclaim(struct kfs_seg_store *s) KILN_MUST;

#endif
