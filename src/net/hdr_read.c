/* SPDX-License-Identifier: Apache-2.0 */
/* Take one header off a stream socket, and not a byte more. */
#include "net/hdr_read.h"

#include <sys/socket.h>

int kiln_hdr_read(int fd, uint8_t *buf, size_t cap, kiln_hdr_decode_fn decode, void *out)
{
	ssize_t r = recv(fd, buf, cap, MSG_PEEK);
	size_t used;
	int rc;

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0)
		return -EPIPE;
	rc = decode(buf, (size_t)r, out, &used);
	if (rc <= 0)
		return rc;
	if (recv(fd, buf, used, 0) != (ssize_t)used)
		return kiln_err(EIO, "the header's %zu bytes could not be taken", used);
	return 1;
}
