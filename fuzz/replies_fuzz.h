/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the fuzz targets of channel clients: fuzzed replies queued on the client's socket. */
#ifndef KILN_FUZZ_REPLIES_FUZZ_H
#define KILN_FUZZ_REPLIES_FUZZ_H

#include <stdint.h>
#include <sys/socket.h>

#include "fs/wire.h"

/*
 * The input is replies, each a be16 length then its bytes: queue at most
 * max of them (framed) on fd, then EOF, so a client making more calls than
 * there are replies meets an error.
 */
static inline int fuzz_queue_replies(int fd, const uint8_t *data, size_t size, int max)
{
	size_t off = 0;

	for (int n = 0; n < max && off + 2 <= size; n++) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		len = len < size - off ? len : size - off;
		if (len == 0 || kfs_wire_send(fd, data + off, len, NULL, 0) < 0)
			return -1;
		off += len;
	}
	return shutdown(fd, SHUT_WR);
}

#endif
