/* SPDX-License-Identifier: Apache-2.0 */
/* The Nitro boot heartbeat: one byte 0xB7 to the parent over vsock, echoed back. */
#include "boot/boot.h"

#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "util/cleanup.h"

/*
 * AWS's init blocks forever on connect and read; kiln bounds each step, so
 * a parent that never answers ends in a logged error instead of a hang.
 */
static int wait_fd(int fd, short events, int timeout_ms, const char *what)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;

		return kiln_err(e, "%s: poll: %s", what, strerror(e));
	}
	if (n == 0)
		return kiln_err(ETIMEDOUT, "%s: no answer in %d ms", what, timeout_ms);
	return 0;
}

static int connect_vsock(int fd, unsigned int cid, unsigned int port, int timeout_ms)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	socklen_t elen = sizeof(int);
	int err = 0, rc;

	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		int e = errno;

		return kiln_err(e, "connect: %s", strerror(e));
	}
	rc = wait_fd(fd, POLLOUT, timeout_ms, "connect");
	if (rc < 0)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err)
		return kiln_err(err, "connect: %s", strerror(err));
	return 0;
}

static int exchange(unsigned int cid, unsigned int port, int timeout_ms)
{
	_cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	uint8_t b = BOOT_HEARTBEAT_BYTE;
	ssize_t n;
	int rc;

	if (fd < 0) {
		int e = errno;

		return kiln_err(e, "socket(AF_VSOCK): %s", strerror(e));
	}
	rc = connect_vsock(fd, cid, port, timeout_ms);
	if (rc < 0)
		return rc;
	if (write(fd, &b, 1) != 1) {
		int e = errno;

		return kiln_err(e, "write: %s", strerror(e));
	}
	rc = wait_fd(fd, POLLIN, timeout_ms, "echo");
	if (rc < 0)
		return rc;
	n = read(fd, &b, 1);
	if (n < 0) {
		int e = errno;

		return kiln_err(e, "read: %s", strerror(e));
	}
	if (n == 0)
		return kiln_err(ECONNRESET, "parent closed without echoing");
	if (b != BOOT_HEARTBEAT_BYTE)
		return kiln_err(EPROTO, "parent echoed 0x%02x, expected 0x%02x", b,
				BOOT_HEARTBEAT_BYTE);
	return 0;
}

int boot_heartbeat(unsigned int cid, unsigned int port, int timeout_ms)
{
	int rc = exchange(cid, port, timeout_ms);

	return rc < 0 ? kiln_err_wrap(rc, "heartbeat to vsock:%u:%u", cid, port) : 0;
}
