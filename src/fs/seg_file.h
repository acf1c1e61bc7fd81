/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a segment file: the scan that rebuilds the index, and one record's data. */
#ifndef KILN_FS_SEG_FILE_H
#define KILN_FS_SEG_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "fs/seg_record.h"

/* Called for each valid record at offset off; a negative return stops the scan with it. */
typedef int (*kfs_seg_visit)(void *ctx, const struct kfs_seg_rec *r, uint64_t off);

/* Where and why a scan stopped. */
struct kfs_seg_end {
	uint64_t off; /* the first byte not in a valid record (the size when all are) */
	bool torn;    /* what is there looks like an interrupted append */
};

/*
 * Visit the records of a segment of size bytes in order. The scan stops at
 * the first record that does not decode or is cut short by the end of the
 * file; kiln_errmsg() then says why. With verify_data the data of each
 * record is checked too: a bad last record also ends the scan (a torn
 * append), a bad one with records after it is visited with r->damaged set.
 * The stop is torn when the record there is cut short by the end, is the
 * last and fails its CRC, or when nothing but zeros follow (an append whose
 * data never reached the disk). Returns 0, or a negative errno when reading
 * failed or visit failed.
 */
int kfs_seg_scan(int fd, uint64_t size, bool verify_data, kfs_seg_visit visit, void *ctx,
		 struct kfs_seg_end *end) KILN_MUST;

/*
 * The data of the PUT record of id at off, whose data length the index says
 * is len, into *buf (malloc'd, caller frees). -EBADMSG with a message when
 * the record there is not that (overwritten, torn or tampered with).
 */
int kfs_seg_read(int fd, uint64_t off, const char *id, uint32_t len, uint8_t **buf) KILN_MUST;

/*
 * Check, without reading its data, that the record at off is id's PUT
 * record of len data bytes and that the file holds all of it; *data is
 * then where its data starts. -EBADMSG as kfs_seg_read. The data's CRC is
 * not checked: for a reader that sends the bytes on unread (kilnd's GET),
 * the enclave's authentication is the check.
 */
int kfs_seg_check_head(int fd, uint64_t off, const char *id, uint32_t len, uint64_t *data) KILN_MUST;

#endif
