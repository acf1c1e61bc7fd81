/* SPDX-License-Identifier: Apache-2.0 */
/* The /dev/nsm transport: one NSM_IOCTL_RAW per request (uapi linux/nsm.h, Linux >= 6.8). */
#include "nsm/nsm.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/cleanup.h"

/*
 * The uapi header is not in older distribution headers, so its ABI is
 * spelled out here; it is the same layout (two {addr, len} pairs of 64-bit
 * fields, 32 bytes) and ioctl number that nsm-api's Rust driver and AWS's
 * out-of-tree nsm.ko use. The kernel copies the request in (EMSGSIZE above
 * 4 KiB), waits for the device, then sets response.len to the bytes written,
 * silently truncating to the buffer it was given, so the buffer is always
 * the full NSM_RESPONSE_MAX_SIZE.
 */
struct kiln_nsm_iovec {
	uint64_t addr;
	uint64_t len;
};

struct kiln_nsm_raw {
	struct kiln_nsm_iovec request;
	struct kiln_nsm_iovec response;
};

_Static_assert(sizeof(struct kiln_nsm_raw) == 32, "struct nsm_raw is 32 bytes");

#define KILN_NSM_MAGIC 0x0A
#define KILN_NSM_IOCTL_RAW _IOWR(KILN_NSM_MAGIC, 0x0, struct kiln_nsm_raw)

struct dev {
	int fd;
};

static int dev_roundtrip(void *ctx, const uint8_t *req, size_t req_len, uint8_t *resp,
			 size_t *resp_len)
{
	struct dev *d = ctx;
	struct kiln_nsm_raw raw = {
		.request = { .addr = (uintptr_t)req, .len = req_len },
		.response = { .addr = (uintptr_t)resp, .len = *resp_len },
	};

	if (ioctl(d->fd, KILN_NSM_IOCTL_RAW, &raw) < 0)
		return kiln_err(errno, "nsm: ioctl NSM_IOCTL_RAW: %s", strerror(errno));
	if (raw.response.len > *resp_len)
		return kiln_err(EPROTO, "nsm: driver reports a %llu-byte response for a %zu-byte buffer",
				(unsigned long long)raw.response.len, *resp_len);
	*resp_len = (size_t)raw.response.len;
	return 0;
}

static void dev_close(void *ctx)
{
	struct dev *d = ctx;

	close(d->fd);
	free(d);
}

static const struct kiln_nsm_transport dev_transport = {
	.roundtrip = dev_roundtrip,
	.close = dev_close,
};

int kiln_nsm_open_dev(const char *path, struct kiln_nsm **out)
{
	_cleanup_close_ int fd = -1;
	struct dev *d;
	int rc;

	path = path ? path : "/dev/nsm";
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return kiln_err(errno, "nsm: open %s: %s", path, strerror(errno));
	d = malloc(sizeof(*d));
	if (!d)
		return kiln_err(ENOMEM, "out of memory");
	d->fd = fd;
	rc = kiln_nsm_open(&dev_transport, d, out);
	if (rc < 0) {
		free(d);
		return rc;
	}
	fd = -1; /* owned by d now */
	return 0;
}
