/* SPDX-License-Identifier: Apache-2.0 */
/* Channel addresses: strict parsing and socket setup for AF_VSOCK and AF_UNIX. */
#include "chan/addr.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "util/cleanup.h"
#include "util/io.h"

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == KILN_CHAN_PATH_MAX,
	       "KILN_CHAN_PATH_MAX must match sun_path");

/* Decimal u32: digits only, no sign, no leading zero (except "0"), no overflow. */
static int parse_u32(const char *s, size_t n, uint32_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 10 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static int parse_vsock(const char *orig, const char *s, struct kiln_chan_addr *a)
{
	const char *colon = strchr(s, ':');

	if (!colon)
		return kiln_err(EINVAL, "address \"%s\": expected vsock:CID:PORT", orig);
	if (colon - s == 3 && !strncmp(s, "any", 3))
		a->cid = KILN_CID_ANY;
	else if (parse_u32(s, (size_t)(colon - s), &a->cid) < 0)
		return kiln_err(EINVAL, "address \"%s\": CID is not a decimal u32 or \"any\"",
				orig);
	if (parse_u32(colon + 1, strlen(colon + 1), &a->port) < 0)
		return kiln_err(EINVAL, "address \"%s\": port is not a decimal u32", orig);
	if (a->port == 0 || a->port == 0xFFFFFFFFu)
		return kiln_err(EINVAL, "address \"%s\": port %u is reserved", orig, a->port);
	a->family = KILN_CHAN_VSOCK;
	return 0;
}

static int parse_unix(const char *orig, const char *s, struct kiln_chan_addr *a)
{
	size_t n = strlen(s);

	if (n == 0)
		return kiln_err(EINVAL, "address \"%s\": empty unix socket path", orig);
	if (n >= KILN_CHAN_PATH_MAX)
		return kiln_err(ENAMETOOLONG, "address \"%s\": unix socket path longer than %d bytes",
				orig, KILN_CHAN_PATH_MAX - 1);
	memcpy(a->path, s, n + 1);
	a->family = KILN_CHAN_UNIX;
	return 0;
}

int kiln_chan_addr_parse(const char *s, struct kiln_chan_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (!strncmp(s, "vsock:", 6))
		return parse_vsock(s, s + 6, a);
	if (!strncmp(s, "unix:", 5))
		return parse_unix(s, s + 5, a);
	return kiln_err(EINVAL, "address \"%s\": expected vsock:CID:PORT or unix:PATH", s);
}

int kiln_chan_addr_format(const struct kiln_chan_addr *a, char *buf, size_t len)
{
	int n;

	switch (a->family) {
	case KILN_CHAN_VSOCK:
		if (a->cid == KILN_CID_ANY)
			n = snprintf(buf, len, "vsock:any:%u", a->port);
		else
			n = snprintf(buf, len, "vsock:%u:%u", a->cid, a->port);
		break;
	case KILN_CHAN_UNIX:
		n = snprintf(buf, len, "unix:%s", a->path);
		break;
	default:
		return kiln_err(EINVAL, "unknown channel address family %d", (int)a->family);
	}
	if (n < 0 || (size_t)n >= len)
		return kiln_err(ENAMETOOLONG, "channel address does not fit %zu bytes", len);
	return 0;
}

int kiln_chan_addr_in_dir(const char *dir, uint32_t port, struct kiln_chan_addr *a)
{
	int n;

	memset(a, 0, sizeof(*a));
	if (!dir[0])
		return kiln_err(EINVAL, "empty channel directory");
	n = snprintf(a->path, sizeof(a->path), "%s/%u", dir, port);
	if (n < 0 || (size_t)n >= sizeof(a->path))
		return kiln_err(ENAMETOOLONG, "channel directory %s: socket path for port %u "
				"longer than %d bytes", dir, port, KILN_CHAN_PATH_MAX - 1);
	a->family = KILN_CHAN_UNIX;
	return 0;
}

int kiln_chan_addr_resolve(const struct kiln_chan_addr *in, const char *dir,
			   struct kiln_chan_addr *out)
{
	if (in->family != KILN_CHAN_VSOCK || !dir) {
		*out = *in;
		return 0;
	}
	return kiln_chan_addr_in_dir(dir, in->port, out);
}

/* ---- sockets ---- */

union any_sa {
	struct sockaddr sa;
	struct sockaddr_un un;
	struct sockaddr_vm vm;
};

static int to_sockaddr(const struct kiln_chan_addr *a, union any_sa *u, socklen_t *len)
{
	memset(u, 0, sizeof(*u));
	switch (a->family) {
	case KILN_CHAN_VSOCK:
		u->vm.svm_family = AF_VSOCK;
		u->vm.svm_cid = a->cid;
		u->vm.svm_port = a->port;
		*len = sizeof(u->vm);
		return AF_VSOCK;
	case KILN_CHAN_UNIX:
		u->un.sun_family = AF_UNIX;
		memcpy(u->un.sun_path, a->path, sizeof(u->un.sun_path));
		*len = sizeof(u->un);
		return AF_UNIX;
	default:
		return kiln_err(EINVAL, "unknown channel address family %d", (int)a->family);
	}
}

static int sys_err(const struct kiln_chan_addr *a, const char *what)
{
	int e = errno;
	char name[KILN_CHAN_PATH_MAX + 16];

	if (kiln_chan_addr_format(a, name, sizeof(name)) < 0)
		snprintf(name, sizeof(name), "?");
	return kiln_err(e, "%s: %s: %s", name, what, strerror(e));
}

/* Remove a leftover socket file (a previous listener); refuse other file types. */
static int clear_stale(const struct kiln_chan_addr *a)
{
	struct stat st;

	if (lstat(a->path, &st) < 0)
		return errno == ENOENT ? 0 : sys_err(a, "stat");
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return sys_err(a, "exists and is not a socket");
	}
	if (unlink(a->path) < 0)
		return sys_err(a, "remove stale socket");
	return 0;
}

int kiln_chan_listen(const struct kiln_chan_addr *a, int backlog)
{
	union any_sa u;
	socklen_t len;
	int fam = to_sockaddr(a, &u, &len), rc;
	_cleanup_close_ int fd = -1;

	if (fam < 0)
		return fam;
	fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return sys_err(a, "socket");
	if (fam == AF_UNIX) {
		rc = clear_stale(a);
		if (rc < 0)
			return rc;
	}
	if (bind(fd, &u.sa, len) < 0)
		return sys_err(a, "bind");
	if (listen(fd, backlog) < 0)
		return sys_err(a, "listen");
	return KILN_STEAL_FD(fd);
}

static int wait_out(const struct kiln_chan_addr *a, int fd, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int left = deadline < 0 ? -1 : (int)(deadline - kiln_now_ms()), n;

	if (deadline >= 0 && left <= 0)
		left = 0;
	do {
		n = poll(&p, 1, left);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return sys_err(a, "poll");
	if (n == 0) {
		errno = ETIMEDOUT;
		return sys_err(a, "connect");
	}
	return 0;
}

/* AF_UNIX connect() reports a full backlog as EAGAIN: wait a little and retry. */
static int connect_loop(const struct kiln_chan_addr *a, int fd, const union any_sa *u,
			socklen_t len, int64_t deadline)
{
	int err = 0, rc;
	socklen_t elen = sizeof(err);

	for (;;) {
		if (connect(fd, &u->sa, len) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			break;
		if (deadline >= 0 && kiln_now_ms() >= deadline) {
			errno = ETIMEDOUT;
			return sys_err(a, "connect");
		}
		poll(NULL, 0, 10);
	}
	if (errno != EINPROGRESS)
		return sys_err(a, "connect");
	rc = wait_out(a, fd, deadline);
	if (rc < 0)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return sys_err(a, "getsockopt");
	if (err) {
		errno = err;
		return sys_err(a, "connect");
	}
	return 0;
}

int kiln_chan_connect(const struct kiln_chan_addr *a, int timeout_ms, int nonblock)
{
	union any_sa u;
	socklen_t len;
	int fam = to_sockaddr(a, &u, &len), rc;
	int64_t deadline = kiln_deadline(timeout_ms);
	_cleanup_close_ int fd = -1;

	if (fam < 0)
		return fam;
	fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return sys_err(a, "socket");
	rc = connect_loop(a, fd, &u, len, deadline);
	if (rc < 0)
		return rc;
	if (!nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		return sys_err(a, "fcntl");
	return KILN_STEAL_FD(fd);
}

/* The parent's CID as the enclave dials it: 3 on Nitro; a guest-lab sim sets 1. */
static uint32_t parent_cid = KILN_CID_PARENT;

void kiln_chan_set_parent_cid(uint32_t cid)
{
	parent_cid = cid;
}

int kiln_chan_parent_parse(const char *s, uint32_t *cid, const char **dir)
{
	char buf[48];
	struct kiln_chan_addr a;

	*cid = KILN_CID_PARENT;
	*dir = NULL;
	if (!strncmp(s, "unix:", 5) && s[5] == '/') {
		*dir = s + 5;
		return 0;
	}
	/* "vsock:CID": the address syntax without a port (each channel has its own). */
	if (strncmp(s, "vsock:", 6) || strlen(s) > 20 ||
	    snprintf(buf, sizeof(buf), "%s:1", s) < 0 || kiln_chan_addr_parse(buf, &a) < 0 ||
	    a.cid == KILN_CID_ANY)
		return kiln_err(EINVAL, "parent \"%s\": want unix:/DIR or vsock:CID", s);
	*cid = a.cid;
	return 0;
}

int kiln_chan_parent_addr(const char *dir, uint32_t port, struct kiln_chan_addr *a)
{
	struct kiln_chan_addr v = { .family = KILN_CHAN_VSOCK, .cid = parent_cid, .port = port };

	return kiln_chan_addr_resolve(&v, dir, a);
}
