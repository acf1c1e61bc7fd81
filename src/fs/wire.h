/* SPDX-License-Identifier: Apache-2.0 */
/* The storage channel (port 7003) wire format: object requests and replies, bounds-checked. */
#ifndef KILN_FS_WIRE_H
#define KILN_FS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "fs/store.h"

/*
 * Every message is a be32 length then that many bytes (at most
 * KFS_WIRE_MAX). A request body is
 *   u8 op | u8 flags | u8 id length | id | data (the rest)
 * and a reply body is
 *   u8 status (0, or a positive errno < 256) | data (the rest).
 * The first request on a connection is OPEN naming the volume (an object
 * id); the parent answers 0 or an errno and serves that volume's objects
 * from then on, its reply's data a byte of features (KFS_WIRE_BARRIERS:
 * PUT takes KFS_PUT_BARRIER; a parent without any sends none, and an
 * enclave that knows none skips it). GET replies carry the object; PUT
 * carries it in the request; SYNC answers only when every earlier PUT is
 * durable. Requests are answered one at a time in the order they came, so
 * the enclave may send several before it reads their replies (a batch of
 * puts or gets, deletes it does not wait for). Decoders reject unknown ops
 * and flags, bad ids, data where none belongs and oversize lengths.
 */
#define KFS_WIRE_MAX (KFS_OBJ_MAX + 8192)
#define KFS_WIRE_BARRIERS 0x01 /* OPEN reply's features */
/*
 * and KFS_WIRE_DEL_AFTER: DEL takes KFS_DEL_AFTER_POINT, "only if the
 * last commit point was stored" (else the object stays, answered
 * ECANCELED): a commit's deletes go right behind its record, in its send.
 */
#define KFS_WIRE_DEL_AFTER 0x02
#define KFS_DEL_AFTER_POINT 0x01

enum kfs_wire_op {
	KFS_OP_OPEN = 1,
	KFS_OP_GET = 2,
	KFS_OP_PUT = 3,
	KFS_OP_DEL = 4,
	KFS_OP_SYNC = 5,
};

struct kfs_wire_req {
	uint8_t op, flags;
	char id[KFS_ID_MAX + 1]; /* "" for SYNC */
	const uint8_t *data;	 /* PUT only; points into the decoded buffer */
	size_t len;
};

/* Encode a request or reply body (no length prefix) into out (cap bytes). */
int kfs_wire_req_encode(const struct kfs_wire_req *r, uint8_t *out, size_t cap,
			size_t *len) KILN_MUST;
int kfs_wire_req_decode(const uint8_t *buf, size_t len, struct kfs_wire_req *r) KILN_MUST;
/* Reply: status is 0 or a positive errno; data and dlen the rest. */
int kfs_wire_rep_decode(const uint8_t *buf, size_t len, uint8_t *status, const uint8_t **data,
			size_t *dlen) KILN_MUST;

/* Blocking message I/O on a stream socket: a length prefix then the body. */
int kfs_wire_send(int fd, const void *hdr, size_t hlen, const void *body, size_t blen) KILN_MUST;
/*
 * Messages held back to go with the next send, so that several go in one
 * system call (and one wake-up of the reader): kfs_wire_frame writes a
 * message's bytes (prefix, hdr, body; 4 + hlen + blen of them) to out;
 * kfs_wire_send_frames sends such bytes; kfs_wire_send_after sends lead
 * (such bytes, llen of them) then a message, in one send when the socket
 * takes it.
 */
size_t kfs_wire_frame(uint8_t *out, const void *hdr, size_t hlen, const void *body, size_t blen);
int kfs_wire_send_frames(int fd, const void *buf, size_t len) KILN_MUST;
int kfs_wire_send_after(int fd, const void *lead, size_t llen, const void *hdr, size_t hlen,
			const void *body, size_t blen) KILN_MUST;
/*
 * A message of hdr then len bytes of file fd from off, sent by the kernel
 * from the page cache (sendfile): 0, 1 when the file ended early (the rest
 * was sent as zeros, so the framing holds and the reader's check fails),
 * or a send failure.
 */
int kfs_wire_send_file(int sock, const void *hdr, size_t hlen, int fd, uint64_t off,
		       size_t len) KILN_MUST;
/* Read one message into buf (malloc, caller frees); -EPIPE at a clean EOF. */
int kfs_wire_recv(int fd, uint8_t **buf, size_t *len) KILN_MUST;
/*
 * Or in parts, to read a body straight into place: the length of the next
 * message (1 .. KFS_WIRE_MAX, checked), then exactly that many bytes in
 * reads of any sizes.
 */
int kfs_wire_recv_len(int fd, size_t *len) KILN_MUST;
/* The length a message's 4-byte prefix gives, checked the same way (for readers with their own buffer). */
int kfs_wire_len(const uint8_t pre[4], size_t *len) KILN_MUST;
int kfs_wire_read(int fd, void *buf, size_t len) KILN_MUST;
/*
 * For a reader with its own buffer: at least min bytes (min >= 1) and at
 * most cap, as many as the socket holds (*got of them), so several small
 * messages that arrived together cost one system call.
 */
int kfs_wire_read_some(int fd, void *buf, size_t min, size_t cap, size_t *got) KILN_MUST;

/*
 * Walk the complete requests at the start of buf (bytes peeked from the
 * channel, not consumed): fn gets each one that decodes; the walk stops at
 * the first partial or malformed one. Returns how many complete frames.
 */
size_t kfs_wire_frames(const uint8_t *buf, size_t len,
		       void (*fn)(void *ctx, const struct kfs_wire_req *r), void *ctx);

/* The volume name for a mount path: "/data" -> "data", "/var/lib/pg" -> "var-lib-pg". */
int kfs_volume_name(const char *path, char *out, size_t len) KILN_MUST;

/*
 * A store whose objects live on the parent, reached over fd (connected to
 * the storage channel). Sends OPEN for volume first. Takes ownership of fd.
 */
int kfs_store_remote(int fd, const char *volume, struct kfs_store **out) KILN_MUST;

#endif
