/* SPDX-License-Identifier: Apache-2.0 */
/* The real system calls behind struct kiln_nitro_ops: the NE device, hugepages, vsock, clock. */
#include "nitro/nitro.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>
#include "util/io.h"

static int real_open_dev(void *ctx, int *fd)
{
	int f = open(KILN_NITRO_DEVICE, O_RDWR | O_CLOEXEC);

	if (f < 0)
		return -errno;
	*fd = f;
	return 0;
}

static int real_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
	int rc = ioctl(fd, request, arg);

	return rc < 0 ? -errno : rc;
}

static int real_map_hugepage(void *ctx, uint64_t page_size, void **addr)
{
	unsigned shift = page_size ? (unsigned)__builtin_ctzll(page_size) : 0;
	void *p;

	/* MAP_HUGE_<size> is log2(size) << MAP_HUGE_SHIFT: any size the kernel
	 * registered (2M, 32M, 512M, 1G, 16G, ...) is asked for the same way. */
	if (page_size < KILN_NITRO_PAGE_2M || (page_size & (page_size - 1)) ||
	    shift > MAP_HUGE_MASK || (uint64_t)(size_t)page_size != page_size)
		return -EINVAL;
	/* Unsigned: 16 GiB (34 << 26) does not fit a positive int. */
	p = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (int)(shift << MAP_HUGE_SHIFT), -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* The driver pins these pages: a fork would have to copy them into
	 * hugepages of its own, and fail when none are left. */
	madvise(p, page_size, MADV_DONTFORK);
	*addr = p;
	return 0;
}

static int real_unmap(void *ctx, void *addr, uint64_t len)
{
	return munmap(addr, len) < 0 ? -errno : 0;
}

static int real_close(void *ctx, int fd)
{
	return close(fd) < 0 ? -errno : 0;
}

static int vsock_socket(int flags)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);

	return fd < 0 ? -errno : fd;
}

static int real_vsock_listen(void *ctx, uint32_t cid, uint32_t port, int *fd)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	int f = vsock_socket(SOCK_NONBLOCK), rc; /* accept never blocks past the poll */

	if (f < 0)
		return f;
	if (bind(f, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f, 8) < 0) {
		rc = -errno;
		close(f);
		return rc;
	}
	*fd = f;
	return 0;
}

/* Wait until fd is readable: 0, -ETIMEDOUT or -errno. */
static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, timeout_ms);

	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

static int real_vsock_accept(void *ctx, int lfd, int timeout_ms, int *fd, uint32_t *peer_cid)
{
	struct sockaddr_vm sa = { 0 };
	socklen_t len = sizeof(sa);
	int rc = wait_readable(lfd, timeout_ms), f;

	if (rc < 0)
		return rc;
	f = accept4(lfd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
	if (f < 0)
		return -errno;
	*fd = f;
	*peer_cid = sa.svm_cid;
	return 0;
}

int kiln_nitro_vsock_connect_timeout(int fd, int timeout_ms)
{
	/* As nitro-cli's vsock_set_connect_timeout (src/utils.rs): a struct
	 * timeval at level AF_VSOCK; without it connect gives up after the
	 * kernel's 2 s (VSOCK_DEFAULT_CONNECT_TIMEOUT). */
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	if (setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static int real_vsock_connect(void *ctx, uint32_t cid, uint32_t port, int timeout_ms, int *fd)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	int f = vsock_socket(0), rc;

	if (f < 0)
		return f;
	rc = kiln_nitro_vsock_connect_timeout(f, timeout_ms);
	if (rc < 0 || connect(f, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = rc < 0 ? rc : -errno;
		close(f);
		return rc;
	}
	*fd = f;
	return 0;
}

static ssize_t real_read(void *ctx, int fd, void *buf, size_t len, int timeout_ms)
{
	int rc = wait_readable(fd, timeout_ms);
	ssize_t n;

	if (rc < 0)
		return rc;
	n = read(fd, buf, len);
	return n < 0 ? -errno : n;
}

static ssize_t real_write(void *ctx, int fd, const void *buf, size_t len)
{
	ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

	return n < 0 ? -errno : n;
}

static uint64_t real_now_ms(void *ctx)
{
	return (uint64_t)kiln_now_ms();
}

const struct kiln_nitro_ops kiln_nitro_real_ops = {
	.ctx = NULL,
	.sysfs = "/sys",
	.open_dev = real_open_dev,
	.ioctl = real_ioctl,
	.map_hugepage = real_map_hugepage,
	.unmap = real_unmap,
	.close = real_close,
	.vsock_listen = real_vsock_listen,
	.vsock_accept = real_vsock_accept,
	.vsock_connect = real_vsock_connect,
	.read = real_read,
	.write = real_write,
	.now_ms = real_now_ms,
};
