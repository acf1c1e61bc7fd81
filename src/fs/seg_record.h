/* SPDX-License-Identifier: Apache-2.0 */
/* The segment store's record: one object (or its deletion) appended to a segment file. */
#ifndef KILN_FS_SEG_RECORD_H
#define KILN_FS_SEG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/store.h"

/*
 * A record on disk (big-endian):
 *
 *   0  magic "KSG1"     4  kind (PUT or DEL)   5  id length (1..KFS_ID_MAX)
 *   6  zero (2 bytes)   8  data length         12 CRC-32 of the data
 *   16 CRC-32 of bytes 0..15 and the id        20 id, then the data
 *
 * Two CRCs so that a scan can check a header (and so trust its length to
 * skip the data) without reading the data: opening a volume reads headers,
 * not the volume. A DEL (tombstone) has no data. Everything read from disk
 * is the parent's and hostile: lengths are bounded here, ids checked with
 * kfs_id_check.
 */
#define KFS_SEG_HDR 20
#define KFS_SEG_DATA_MAX (KFS_OBJ_MAX + 4096) /* an object and its seal */
#define KFS_SEG_REC_MAX (KFS_SEG_HDR + KFS_ID_MAX + KFS_SEG_DATA_MAX)

enum kfs_seg_kind { KFS_SEG_PUT = 1, KFS_SEG_DEL = 2 };

/*
 * A commit point's mark: a PUT of this id is no object (object ids never
 * start with '-', and the store refuses them) but says that the records
 * from offset "since" (its data, 8 bytes big-endian) of the same segment
 * up to the mark were appended after the segment's last flush, and that
 * the record behind the mark (the commit point) went to disk with them in
 * one flush. A scan of the newest segment that finds one of those records
 * damaged knows that flush never finished: it ends before the mark, so
 * the commit point is not in force without everything it names. A kiln
 * from before marks indexes one as an object of its own, harmlessly.
 */
#define KFS_SEG_MARK_ID "-mark"
#define KFS_SEG_MARK_LEN 8
/* A mark's data: since into out; decode: -EBADMSG unless buf is KFS_SEG_MARK_LEN bytes. */
void kfs_seg_mark_encode(uint64_t since, uint8_t out[KFS_SEG_MARK_LEN]);
int kfs_seg_mark_decode(const uint8_t *buf, size_t len, uint64_t *since) KILN_MUST;

struct kfs_seg_rec {
	enum kfs_seg_kind kind;
	char id[KFS_ID_MAX + 1];
	size_t idlen;
	uint32_t len;	   /* data bytes */
	uint32_t data_crc; /* of the data */
	bool damaged;	   /* scans: the data fails its CRC (and more records follow) */
};

static inline uint64_t kfs_seg_rec_size(const struct kfs_seg_rec *r)
{
	return KFS_SEG_HDR + r->idlen + r->len;
}

/* Header and id of r into out (KFS_SEG_HDR + r->idlen bytes); data_crc must be set. */
void kfs_seg_rec_encode(const struct kfs_seg_rec *r, uint8_t *out);
/*
 * Decode a header and id from buf (len bytes available). -EAGAIN when buf
 * is too short to hold them (a torn tail, or read more), -EBADMSG with a
 * message when they are not a valid record.
 */
int kfs_seg_rec_decode(const uint8_t *buf, size_t len, struct kfs_seg_rec *r) KILN_MUST;

#endif
