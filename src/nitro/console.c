/* SPDX-License-Identifier: Apache-2.0 */
/* A debug-mode enclave's serial console: connect to the hypervisor's vsock port, copy it out. */
#include "nitro/nitro.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

int kiln_nitro_console_connect(const struct kiln_nitro_ops *ops, uint64_t cid, int *fd)
{
	uint64_t port = cid + KILN_NITRO_CONSOLE_PORT_OFFSET;
	int rc;

	if (cid <= 3 || port > UINT32_MAX)
		return kiln_err(EINVAL, "enclave CID %" PRIu64 " has no console port", cid);
	/* nitro-cli (src/utils.rs, Console::new) waits 20 s for the hypervisor
	 * to accept; the kernel's default would fail after 2 s. */
	rc = ops->vsock_connect(ops->ctx, VMADDR_CID_HYPERVISOR, (uint32_t)port,
				KILN_NITRO_CONSOLE_CONNECT_TIMEOUT_MS, fd);
	switch (-rc) {
	case 0:
		return 0;
	case ECONNREFUSED:
	case ECONNRESET:
		return kiln_err(-rc, "console of enclave CID %" PRIu64 " (vsock 0:%" PRIu64 "): "
				"refused: the enclave is not running or was not started with "
				"--debug", cid, port);
	default:
		return kiln_err(-rc, "console of enclave CID %" PRIu64 " (vsock 0:%" PRIu64 "): %s",
				cid, port, strerror(-rc));
	}
}

int kiln_nitro_console_copy(int fd, FILE *out)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(errno, "console: %s", strerror(errno));
		if (n == 0)
			return 0;
		/* Flushed per read: the console is followed live. */
		if (fwrite(buf, 1, (size_t)n, out) != (size_t)n || fflush(out) != 0)
			return kiln_err(EIO, "console: writing its output failed");
	}
}
