/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool for the guest lab: kiln run --nitro's own vsock code (heartbeat listener, console reader) on a real kernel. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "nitro/nitro.h"

/*
 * Usage:
 *   nitro_vsock heartbeat CID TIMEOUT_MS [READY]
 *       listen on vsock ANY:9000 with kiln_nitro_real_ops (creating the file
 *       READY once listening), then answer CID's boot heartbeat as
 *       kiln_nitro_launch does; prints "heartbeat: ok" or the error
 *   nitro_vsock console CID
 *       kiln console's Nitro path for enclave CID: connect to the console
 *       port CID + 10000 and copy it to stdout. The hypervisor (CID 0) is
 *       not in a guest without a host, so its address is dialled on the
 *       guest's own CID 1 (vsock_loopback) instead; everything else is the
 *       real ops (SO_VM_SOCKETS_CONNECT_TIMEOUT included)
 * Exit 0 on success, 1 with the error on stderr, 2 on bad usage.
 */

static int num(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno || end == s || *end || *v > max ? -1 : 0;
}

static int heartbeat(unsigned long cid, unsigned long timeout_ms, const char *ready)
{
	int lfd = -1, rc = kiln_nitro_heartbeat_listen(&kiln_nitro_real_ops, &lfd);

	if (rc == 0 && ready) {
		FILE *f = fopen(ready, "w");

		if (!f || fclose(f) != 0)
			rc = kiln_err(errno, "%s: %s", ready, strerror(errno));
	}
	if (rc == 0)
		rc = kiln_nitro_heartbeat_wait(&kiln_nitro_real_ops, lfd, cid, (uint32_t)timeout_ms);
	if (lfd >= 0)
		close(lfd);
	if (rc < 0) {
		fprintf(stderr, "heartbeat: %s\n", kiln_errmsg());
		return 1;
	}
	printf("heartbeat: ok\n");
	return 0;
}

/* The real connect, with the hypervisor's CID swapped for the guest's own. */
static int local_connect(void *ctx, uint32_t cid, uint32_t port, int timeout_ms, int *fd)
{
	if (cid == VMADDR_CID_HYPERVISOR)
		cid = VMADDR_CID_LOCAL;
	return kiln_nitro_real_ops.vsock_connect(ctx, cid, port, timeout_ms, fd);
}

static int console(unsigned long cid)
{
	struct kiln_nitro_ops ops = kiln_nitro_real_ops;
	int fd = -1, rc;

	ops.vsock_connect = local_connect;
	rc = kiln_nitro_console_connect(&ops, cid, &fd);
	if (rc == 0)
		rc = kiln_nitro_console_copy(fd, stdout);
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		fprintf(stderr, "console: %s\n", kiln_errmsg());
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long cid, ms;

	if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "heartbeat") &&
	    num(argv[2], UINT32_MAX, &cid) == 0 && num(argv[3], UINT32_MAX, &ms) == 0)
		return heartbeat(cid, ms, argc == 5 ? argv[4] : NULL);
	if (argc == 3 && !strcmp(argv[1], "console") && num(argv[2], UINT64_MAX, &cid) == 0)
		return console(cid);
	fprintf(stderr, "usage: nitro_vsock heartbeat CID TIMEOUT_MS [READY] | console CID\n");
	return 2;
}
