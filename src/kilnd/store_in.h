/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's storage channel input: the enclave's requests, read in as few reads as its writes allow. */
#ifndef KILN_KILND_STORE_IN_H
#define KILN_KILND_STORE_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * A connection's read buffer. One read takes whatever the enclave has
 * sent, up to the buffer's room: a request and, in a batch, the ones
 * queued behind it, which are then served without another read (and seen
 * for read-ahead without a look at the socket). exact: read no byte past
 * the message asked for (before OPEN, when the connection may be handed
 * to the plain volume server, which reads the socket itself).
 */
struct kd_store_in {
	uint8_t *buf;
	size_t start, end, cap; /* unread bytes are buf[start, end) */
	bool exact;
};

#define KD_STORE_IN_ROOM 65536 /* the buffer's size, unless a message needs more */

/*
 * The next message (a be32 length, 1 .. KFS_WIRE_MAX, then that many
 * bytes): *msg points into the buffer, valid until the next call. -EPIPE
 * with "storage channel: closed" at a clean EOF between messages.
 */
int kd_store_in_next(struct kd_store_in *in, int fd, const uint8_t **msg, size_t *len) KILN_MUST;
/* The bytes read after the last message returned (requests queued behind it, maybe a part). */
static inline const uint8_t *kd_store_in_rest(const struct kd_store_in *in, size_t *len)
{
	*len = in->end - in->start;
	return in->buf + in->start;
}
/*
 * Whatever more has come on fd, into the room left (without waiting, and
 * without moving what was read). Returns how many bytes; errors and EOF
 * are left for the next kd_store_in_next.
 */
size_t kd_store_in_top_up(struct kd_store_in *in, int fd);
/* Is the next message read in whole (kd_store_in_next will not read)? */
bool kd_store_in_ready(const struct kd_store_in *in);
void kd_store_in_free(struct kd_store_in *in);

#endif
