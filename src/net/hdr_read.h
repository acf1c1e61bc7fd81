/* SPDX-License-Identifier: Apache-2.0 */
/* Take one header off a stream socket, and not a byte more. */
#ifndef KILN_NET_HDR_READ_H
#define KILN_NET_HDR_READ_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* A header decoder: 1 with *used bytes decoded into out, 0 for "need more", < 0 malformed. */
typedef int (*kiln_hdr_decode_fn)(const uint8_t *buf, size_t len, void *out, size_t *used);

/*
 * Peek at what fd (non-blocking) holds, decode a header into out and then
 * consume exactly its bytes, so what follows stays in the socket for the
 * relay. Returns 1 once decoded; 0 while incomplete (wait for more); -EPIPE
 * when the peer closed or the socket failed (nothing to report); another
 * negative errno with the message set when the header is malformed.
 * buf/cap: scratch of at least the largest header.
 */
int kiln_hdr_read(int fd, uint8_t *buf, size_t cap, kiln_hdr_decode_fn decode,
		  void *out) KILN_MUST;

#endif
