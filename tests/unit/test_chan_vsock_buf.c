/* SPDX-License-Identifier: Apache-2.0 */
/* The storage channel's vsock buffer: set on both ends (kilnd's, kiln-init's), which the credit needs. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>

#include <linux/vm_sockets.h>

#include "chan/addr.h"
#include "chan/vsock_buf.h"
#include "init/storage.h"
#include "kilnd/store.h"
#include "t.h"

#define PORT 47003 /* the pair's own port, not the storage channel's */

static char base[] = "/tmp/kiln-vsockbuf-XXXXXX";

static unsigned long long vsock_buf(int fd)
{
	unsigned long long got = 0;
	socklen_t len = sizeof(got);

	return getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &got, &len) == 0 ? got : 0;
}

/* A listener on port (any CID); -1 when this host has no vsock. */
static int vsock_listen(unsigned port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
	int l = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l >= 0 && (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0)) {
		close(l);
		l = -1;
	}
	return l;
}

/* A connected pair over the loopback transport (VMADDR_CID_LOCAL); false without one. */
static bool vsock_pair(int *c, int *s)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_LOCAL, .svm_port = PORT };
	int l = vsock_listen(PORT);

	*c = *s = -1;
	if (l < 0)
		return false;
	*c = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*c >= 0 && connect(*c, (struct sockaddr *)&a, sizeof(a)) == 0)
		*s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	if (*s < 0 && *c >= 0) {
		close(*c);
		*c = -1;
	}
	return *s >= 0;
}

/* Other sockets are left as they are; a bad fd is an error that says so. */
TEST(not_vsock)
{
	int sv[2], before = 0, after = 0;
	socklen_t len = sizeof(int);

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &before, &len) == 0);
	CHECK(kiln_chan_vsock_buf(sv[0], KILN_STORAGE_VSOCK_BUF) == 0);
	CHECK(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &after, &len) == 0 && after == before);
	close(sv[0]);
	close(sv[1]);
	CHECK_ERR(kiln_chan_vsock_buf(-1, KILN_STORAGE_VSOCK_BUF), "vsock buffer");
}

/* Past the default maximum (256 KiB), which the size alone would be capped at. */
TEST(set_and_kept)
{
	int c, s;

	CHECK(vsock_pair(&c, &s));
	CHECK(vsock_buf(s) < KILN_STORAGE_VSOCK_BUF);
	CHECK(kiln_chan_vsock_buf(s, KILN_STORAGE_VSOCK_BUF) == 0);
	CHECK(vsock_buf(s) == KILN_STORAGE_VSOCK_BUF);
	close(c);
	close(s);
}

/* Bytes c can send without s reading: until the credit runs out (EAGAIN). */
static size_t sent_ahead(int c)
{
	static char chunk[64 << 10];
	size_t total = 0;
	ssize_t n;

	CHECK(fcntl(c, F_SETFL, O_NONBLOCK) == 0);
	while ((n = send(c, chunk, sizeof(chunk), 0)) > 0 && total < 2 * KILN_STORAGE_VSOCK_BUF)
		total += (size_t)n;
	CHECK(n < 0 && errno == EAGAIN);
	fprintf(stderr, "  sent ahead: %zu bytes\n", total);
	return total;
}

/*
 * Which end's buffer lets a sender go ahead. Measured on Debian's 6.1
 * (loopback transport): neither end's alone, the default 256 KiB holds
 * unless both ends have the larger buffer, so kilnd and kiln-init both set
 * it. The receiver pings first: its buffer reaches the sender in packet
 * headers (as kiln-init's does in its OPEN). Counted in bytes, not timed.
 */
static size_t ahead_with(bool sender, bool receiver)
{
	size_t n = 0;
	int c, s;
	char b;

	CHECK(vsock_pair(&c, &s));
	if (sender)
		CHECK(kiln_chan_vsock_buf(c, KILN_STORAGE_VSOCK_BUF) == 0);
	if (receiver)
		CHECK(kiln_chan_vsock_buf(s, KILN_STORAGE_VSOCK_BUF) == 0);
	CHECK(send(s, "x", 1, 0) == 1 && recv(c, &b, 1, 0) == 1);
	n = sent_ahead(c);
	close(c);
	close(s);
	return n;
}

TEST(credit_needs_both_ends)
{
	CHECK(ahead_with(false, false) <= 256 << 10);
	CHECK(ahead_with(true, false) <= 256 << 10);
	CHECK(ahead_with(false, true) <= 256 << 10);
	CHECK(ahead_with(true, true) == KILN_STORAGE_VSOCK_BUF);
}

struct serve {
	struct kd_store *store;
	int fd;
};

static void *serve_main(void *arg)
{
	struct serve *sv = arg;

	(void)kd_store_serve(sv->store, sv->fd);
	return NULL;
}

/* kilnd's end of a storage connection over vsock has the buffer (kd_store_serve). */
TEST(kilnd_end)
{
	struct kd_store_cfg cfg = { .n = 1 };
	struct serve sv = { 0 };
	pthread_t t;
	int c;

	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "data");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s/data", base);
	CHECK(kd_store_new("t", &cfg, &sv.store) == 0);
	CHECK(vsock_pair(&c, &sv.fd));
	CHECK(pthread_create(&t, NULL, serve_main, &sv) == 0);
	CHECK(shutdown(c, SHUT_WR) == 0); /* EOF: the connection ends before any OPEN */
	pthread_join(t, NULL);
	CHECK(vsock_buf(sv.fd) == KILN_STORAGE_VSOCK_BUF);
	close(sv.fd);
	close(c);
	kd_store_stop(sv.store);
}

/* kiln-init's dial of the parent's port 7003 over vsock has the buffer. */
TEST(kiln_init_end)
{
	int l = vsock_listen(KILN_PORT_STORAGE), fd, s;

	CHECK(l >= 0);
	kiln_chan_set_parent_cid(VMADDR_CID_LOCAL);
	fd = kiln_init_storage_dial(NULL);
	CHECK(fd >= 0 && vsock_buf(fd) == KILN_STORAGE_VSOCK_BUF);
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHECK(s >= 0);
	close(s);
	close(fd);
	close(l);
	kiln_chan_set_parent_cid(KILN_CID_PARENT);
}

/*
 * The vsock checks need the loopback transport (modprobe vsock_loopback;
 * the guest lab has it). KILN_TEST_VSOCK=1 makes its absence a failure.
 */
int main(void)
{
	bool need = getenv("KILN_TEST_VSOCK") != NULL;
	char cmd[128];
	int c, s;

	if (!mkdtemp(base))
		return 1;
	RUN(not_vsock);
	if (vsock_pair(&c, &s)) {
		close(c);
		close(s);
		RUN(set_and_kept);
		RUN(credit_needs_both_ends);
		RUN(kilnd_end);
		RUN(kiln_init_end);
		fprintf(stderr, "vsock: checked over the loopback transport\n");
	} else {
		CHECK(!need);
		fprintf(stderr, "vsock: skipped, no loopback transport here (%s)\n", strerror(errno));
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
