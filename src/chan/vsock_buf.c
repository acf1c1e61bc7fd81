/* SPDX-License-Identifier: Apache-2.0 */
/* The receive buffer of a vsock connection (SO_VM_SOCKETS_BUFFER_SIZE), set and checked. */
#include "chan/vsock_buf.h"

#include <string.h>
#include <sys/socket.h>

#include <linux/vm_sockets.h>

int kiln_chan_vsock_buf(int fd, unsigned long long bytes)
{
	unsigned long long got = 0;
	socklen_t len = sizeof(int);
	int dom = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0)
		return kiln_err(errno, "vsock buffer: %s", strerror(errno));
	if (dom != AF_VSOCK)
		return 0;
	len = sizeof(got);
	if (setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &bytes, sizeof(bytes)) < 0 ||
	    setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &bytes, sizeof(bytes)) < 0 ||
	    getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &got, &len) < 0)
		return kiln_err(errno, "vsock buffer of %llu bytes: %s", bytes, strerror(errno));
	if (got < bytes)
		return kiln_err(ENOBUFS, "vsock buffer: asked for %llu bytes, the kernel keeps %llu",
				bytes, got);
	return 0;
}
