/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the NFS server's TCP side: record fragments, replacement, oversize, stop, a 4.1 retry after reconnecting, held replies on a drop. */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <stdbool.h>

#include "fs/fs.h"
#include "nfs/nfs4.h"
#include "nfs/rpc.h"
#include "nfs/server.h"
#include "nfs/xdr.h"
#include "t.h"

#include "counting_store.h"

static struct nfs_srv *srv;
static int lfd, stop[2], serve_rc = 1;

static void *serve(void *arg)
{
	serve_rc = nfs_serve(srv, lfd, stop[0]);
	return NULL;
}

/* Connect from a reserved source port (as the kernel's client) or, reserved false, any port. */
static int dial(uint16_t port, bool reserved)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 60 }; /* only against a hang: a bug, not a timing check */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	static uint16_t next = 1023; /* a fresh port per connection: no 4-tuple reuse */

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (reserved && next > 600) {
		me.sin_port = htons(next--);
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0)
			break;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A NULL call with xid, as two fragments, written in chunks of step bytes. */
static void send_null(int fd, uint32_t xid, size_t step, uint32_t msg_type)
{
	uint32_t body[10] = { htonl(xid), htonl(msg_type), htonl(2), htonl(NFS4_PROGRAM),
			      htonl(4), htonl(0), 0, 0, 0, 0 };
	uint8_t rec[4 + 16 + 4 + 24];
	uint32_t m1 = htonl(16), m2 = htonl(0x80000000u | 24);

	memcpy(rec, &m1, 4);
	memcpy(rec + 4, body, 16);
	memcpy(rec + 20, &m2, 4);
	memcpy(rec + 24, (uint8_t *)body + 16, 24);
	for (size_t off = 0; off < sizeof(rec); off += step) {
		size_t k = sizeof(rec) - off < step ? sizeof(rec) - off : step;
		CHECK(write(fd, rec + off, k) == (ssize_t)k);
	}
}

static bool read_full(int fd, void *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* NULL call number i (xid 1000 + i), one record of NULL_LEN bytes, into p. */
#define NULL_LEN 44
static void null_call(uint8_t *p, uint32_t i)
{
	const uint32_t w[11] = { htonl(0x80000000u | 40), htonl(1000 + i), htonl(RPC_CALL), htonl(2),
				 htonl(NFS4_PROGRAM), htonl(4), htonl(0), 0, 0, 0, 0 };

	memcpy(p, w, NULL_LEN);
}

/*
 * NULL calls on fd without ever reading a reply, until the server takes no
 * more: a second without room to write. (Its replies cannot all be
 * buffered, so the server must come to that; the second only decides when
 * to look, nothing passes or fails on it.) Returns the bytes sent: whole
 * calls and maybe the start of one more.
 */
static size_t flood(int fd)
{
	uint8_t batch[NULL_LEN * 512];
	size_t sent = 0;

	for (;;) {
		size_t at = sent % sizeof(batch);
		for (uint32_t i = 0; i < 512; i++)
			null_call(batch + NULL_LEN * i, (uint32_t)(sent / sizeof(batch) * 512 + i));
		ssize_t w = send(fd, batch + at, sizeof(batch) - at, MSG_DONTWAIT);
		if (w > 0) {
			sent += (size_t)w;
			continue;
		}
		struct pollfd p = { fd, POLLOUT, 0 };
		if (poll(&p, 1, 1000) == 0)
			return sent;
	}
}

/* Read the replies to calls [from, to) and check they come in order. */
static bool null_replies(int fd, uint32_t from, uint32_t to)
{
	static uint32_t w[7 * 1024];

	while (from < to) {
		uint32_t k = to - from < 1024 ? to - from : 1024;
		if (!read_full(fd, w, 28 * (size_t)k))
			return false;
		for (uint32_t i = 0; i < k; i++)
			if (ntohl(w[7 * i + 1]) != 1000 + from + i || ntohl(w[7 * i + 6]) != RPC_SUCCESS)
				return false;
		from += k;
	}
	return true;
}

/* Send the rest of a call flood() began, and read every reply: none lost, in order. */
static bool flood_answered(int fd, size_t sent)
{
	uint32_t whole = (uint32_t)(sent / NULL_LEN), part = (uint32_t)(sent % NULL_LEN);
	uint8_t last[NULL_LEN];

	if (!null_replies(fd, 0, whole))
		return false;
	if (!part)
		return true;
	null_call(last, whole);
	return write(fd, last + part, NULL_LEN - part) == (ssize_t)(NULL_LEN - part) &&
	       null_replies(fd, whole, whole + 1);
}

/* The reply's xid and accept_stat (a NULL reply is 24 bytes after the mark). */
static bool read_reply(int fd, uint32_t *xid, uint32_t *stat)
{
	uint32_t w[7];

	if (!read_full(fd, w, sizeof(w)))
		return false;
	*xid = ntohl(w[1]);
	*stat = ntohl(w[6]);
	return ntohl(w[0]) == (0x80000000u | 24) && ntohl(w[2]) == RPC_REPLY;
}

/* A COMPOUND call (minor 1, AUTH_SYS root) with nops ops to follow in o. */
static void call_head(struct xdr_out *o, uint32_t xid, uint32_t nops)
{
	const uint32_t h[] = { 0, xid, RPC_CALL, RPC_VERS, NFS4_PROGRAM, 4, NFS4_PROC_COMPOUND,
			       RPC_AUTH_SYS, 20, 0, 0, 0, 0, 0, RPC_AUTH_NONE, 0, 0, 1, nops };

	o->len = 0;
	for (size_t i = 0; i < sizeof(h) / 4; i++)
		xdr_put_u32(o, h[i]);
}

/*
 * Send the call as one record and read the reply record into r (after its
 * mark); returns the COMPOUND status, or 99999 on a short or odd reply.
 */
#define REPLY_BODY 24 /* xid, REPLY, accepted, null verifier, SUCCESS */
static uint32_t call_rec(int fd, struct xdr_out *o, uint8_t *r, size_t cap, size_t *rlen)
{
	uint32_t mark = htonl(0x80000000u | (uint32_t)(o->len - 4)), len;

	memcpy(o->buf, &mark, 4);
	if (write(fd, o->buf, o->len) != (ssize_t)o->len || !read_full(fd, &len, 4))
		return 99999;
	*rlen = ntohl(len) & 0x7fffffffu;
	if (*rlen > cap || *rlen < REPLY_BODY + 4 || !read_full(fd, r, *rlen))
		return 99999;
	return (uint32_t)r[REPLY_BODY] << 24 | (uint32_t)r[REPLY_BODY + 1] << 16 |
	       (uint32_t)r[REPLY_BODY + 2] << 8 | r[REPLY_BODY + 3];
}

/* A call of nops ops: SEQUENCE on slot 0 with seq, PUTROOTFH, CREATE of directory dir, then the rest. */
static void seq_mkdir(struct xdr_out *o, uint32_t xid, uint32_t nops, const uint8_t *sess,
		      uint32_t seq, const char *dir)
{
	call_head(o, xid, nops);
	xdr_put_u32(o, OP_SEQUENCE);
	xdr_put_fixed(o, sess, NFS4_SESSIONID_SIZE);
	xdr_put_u32(o, seq);
	xdr_put_u32(o, 0);
	xdr_put_u32(o, 0);
	xdr_put_u32(o, 1);
	xdr_put_u32(o, OP_PUTROOTFH);
	xdr_put_u32(o, OP_CREATE);
	xdr_put_u32(o, NF4DIR);
	xdr_put_string(o, dir);
	xdr_put_u32(o, 0);
	xdr_put_u32(o, 0);
}

/* SEQUENCE on slot 0 with seq, PUTROOTFH, CREATE of directory "r". */
static void mkdir_call(struct xdr_out *o, const uint8_t *sess, uint32_t seq)
{
	seq_mkdir(o, 300 + seq, 3, sess, seq, "r");
}

/* A new connection with a 4.1 session: EXCHANGE_ID, CREATE_SESSION; its id in sess. */
static int session(uint16_t port, struct xdr_out *o, uint8_t sess[NFS4_SESSIONID_SIZE])
{
	uint8_t r[4096], cid[8];
	size_t n;
	const size_t body = REPLY_BODY + 12 + 8; /* status, empty tag, count, op, status */
	int c = dial(port, true);

	CHECK(c >= 0);
	call_head(o, 200, 1);
	xdr_put_u32(o, OP_EXCHANGE_ID);
	xdr_put_fixed(o, "verifier", 8);
	xdr_put_string(o, "loop test");
	xdr_put_u32(o, 0);
	xdr_put_u32(o, 0);
	xdr_put_u32(o, 0);
	CHECK(call_rec(c, o, r, sizeof(r), &n) == NFS4_OK && n >= body + 12);
	memcpy(cid, r + body, 8);
	call_head(o, 201, 1);
	xdr_put_u32(o, OP_CREATE_SESSION);
	xdr_put_fixed(o, cid, 8);
	xdr_put_u32(o, 1);
	xdr_put_u32(o, 0);
	for (int ch = 0; ch < 2; ch++) {
		const uint32_t a[] = { 0, 1 << 20, 1 << 20, 0, 8, 4, 0 };
		for (size_t i = 0; i < 7; i++)
			xdr_put_u32(o, a[i]);
	}
	xdr_put_u32(o, 0);
	xdr_put_u32(o, 0);
	CHECK(call_rec(c, o, r, sizeof(r), &n) == NFS4_OK && n >= body + NFS4_SESSIONID_SIZE);
	memcpy(sess, r + body, NFS4_SESSIONID_SIZE);
	return c;
}

/* A 4.1 client's CREATE resent on a new connection is answered from its slot, not run again. */
static void retry_after_reconnect(uint16_t port)
{
	struct xdr_out o;
	uint8_t r[4096], first[4096], sess[NFS4_SESSIONID_SIZE];
	size_t n, n1;

	CHECK(xdr_out_init(&o, 1 << 16) == 0);
	int c = session(port, &o, sess);
	mkdir_call(&o, sess, 1);
	CHECK(call_rec(c, &o, first, sizeof(first), &n1) == NFS4_OK);
	close(c); /* the reply could have been lost with the connection */
	int d = dial(port, true);
	CHECK(d >= 0);
	CHECK(call_rec(d, &o, r, sizeof(r), &n) == NFS4_OK);
	CHECK(n == n1 && !memcmp(r, first, n));
	mkdir_call(&o, sess, 2); /* a new request does run: the directory is there */
	CHECK(call_rec(d, &o, r, sizeof(r), &n) == NFS4ERR_EXIST);
	close(d);
	xdr_out_free(&o);
}

/* SEQUENCE on slot 0 with seq, PUTROOTFH, CREATE of directory dir (the volume is dirty), COMMIT of file "f". */
static void commit_call(struct xdr_out *o, const uint8_t *sess, uint32_t seq, const char *dir)
{
	seq_mkdir(o, 400 + seq, 6, sess, seq, dir);
	xdr_put_u32(o, OP_PUTROOTFH);
	xdr_put_u32(o, OP_LOOKUP);
	xdr_put_string(o, "f");
	xdr_put_u32(o, OP_COMMIT);
	xdr_put_u64(o, 0);
	xdr_put_u32(o, 0);
}

/*
 * Send the call and, in the same write, the mark of a record over the
 * maximum: the server runs the call, then drops the connection before it
 * could release the reply. True once the server has closed it unanswered.
 */
static bool send_and_drop(int fd, struct xdr_out *o)
{
	uint32_t mark = htonl(0x80000000u | (uint32_t)(o->len - 4));
	uint32_t big = htonl(0x80000000u | (NFS_MAX_RECORD + 1));
	char c;

	memcpy(o->buf, &mark, 4);
	xdr_put_fixed(o, &big, 4);
	bool ok = write(fd, o->buf, o->len) == (ssize_t)o->len && read(fd, &c, 1) == 0;
	o->len -= 4;
	close(fd);
	return ok;
}

/* Start serving fs on a loopback port. */
static uint16_t serve_start(struct kfs *fs, pthread_t *th)
{
	uint8_t key[NFS_FH_KEY_LEN] = { 1 }, volid[NFS_VOLID_LEN] = { 2 };
	uint16_t port = 0;

	CHECK(nfs_srv_new(fs, key, volid, &srv) == 0);
	CHECK(nfs_listen(0, &lfd, &port) == 0 && port != 0);
	CHECK(pipe(stop) == 0);
	CHECK(pthread_create(th, NULL, serve, NULL) == 0);
	return port;
}

static void serve_stop(struct kfs *fs, pthread_t th)
{
	CHECK(write(stop[1], "x", 1) == 1);
	pthread_join(th, NULL);
	CHECK(serve_rc == 0);
	close(lfd);
	close(stop[0]);
	close(stop[1]);
	nfs_srv_free(srv);
	CHECK(kfs_unmount(fs) == 0);
}

/*
 * A COMMIT whose reply waits for the owed commit, on a connection the
 * client ends before the reply: the commit is done all the same, since the
 * 4.1 slot keeps that reply ("durable") and the client's resend on its next
 * connection gets it back. When that commit fails, the slot forgets the
 * reply: the resend is answered RETRY_UNCACHED_REP, not a false promise.
 */
TEST(held_replies_on_drop)
{
	struct kfs *fs = mount_counting(KFS_MOUNT_CREATE);
	struct kfs_attr a;
	struct xdr_out o;
	uint8_t r[4096], sess[NFS4_SESSIONID_SIZE];
	size_t n;
	pthread_t th;

	CHECK(fs && kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0644, 0, 0, &a) == 0);
	CHECK(kfs_sync(fs) == 0);
	uint16_t port = serve_start(fs, &th);
	if (geteuid() != 0) {
		fprintf(stderr, "  (not root: no reserved source port, skipped)\n");
		serve_stop(fs, th);
		return;
	}
	CHECK(xdr_out_init(&o, 1 << 16) == 0);
	int c = session(port, &o, sess);
	int synced = cs.syncs;
	commit_call(&o, sess, 1, "d");
	CHECK(send_and_drop(c, &o));
	CHECK(cs.syncs == synced + 1 && !kfs_dirty(fs));
	int d = dial(port, true);
	CHECK(d >= 0 && call_rec(d, &o, r, sizeof(r), &n) == NFS4_OK && cs.syncs == synced + 1);
	/* the commit fails: the slot's reply is forgotten */
	cs.fail_sync = true;
	commit_call(&o, sess, 2, "e");
	CHECK(send_and_drop(d, &o));
	int e = dial(port, true);
	CHECK(e >= 0 && call_rec(e, &o, r, sizeof(r), &n) == NFS4ERR_RETRY_UNCACHED_REP);
	cs.fail_sync = false;
	commit_call(&o, sess, 3, "g");
	CHECK(call_rec(e, &o, r, sizeof(r), &n) == NFS4_OK && !kfs_dirty(fs));
	close(e);
	xdr_out_free(&o);
	serve_stop(fs, th);
}

TEST(tcp_loop)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs;
	uint8_t key[NFS_FH_KEY_LEN] = { 1 }, volid[NFS_VOLID_LEN] = { 2 };
	uint16_t port;
	pthread_t th;
	uint32_t xid, stat;
	char c;

	CHECK(kfs_store_mem(&st) == 0 && kfs_keywrap_sim(NULL, &kw) == 0);
	CHECK(kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, &fs) == 0);
	CHECK(nfs_srv_new(fs, key, volid, &srv) == 0);
	CHECK(nfs_listen(0, &lfd, &port) == 0 && port != 0);
	CHECK(pipe(stop) == 0);
	CHECK(pthread_create(&th, NULL, serve, NULL) == 0);

	/* an unreserved source port (an app, not the kernel): closed at once */
	int u = dial(port, false);
	CHECK(u >= 0);
	send_null(u, 1, 48, RPC_CALL);
	CHECK(read(u, &c, 1) <= 0);
	close(u);
	if (geteuid() != 0) {
		fprintf(stderr, "  (not root: no reserved source port, the rest is skipped)\n");
		CHECK(write(stop[1], "x", 1) == 1);
		pthread_join(th, NULL);
		close(lfd);
		nfs_srv_free(srv);
		CHECK(kfs_unmount(fs) == 0);
		return;
	}
	/* fragments split across writes of every size reassemble */
	int a = dial(port, true);
	CHECK(a >= 0);
	for (size_t step = 1; step <= 48; step += 7) {
		send_null(a, (uint32_t)(100 + step), step, RPC_CALL);
		CHECK(read_reply(a, &xid, &stat) && xid == 100 + step && stat == RPC_SUCCESS);
	}
	/* a reply message gets no answer; the next call on the connection does */
	send_null(a, 7, 48, RPC_REPLY);
	send_null(a, 8, 48, RPC_CALL);
	CHECK(read_reply(a, &xid, &stat) && xid == 8);
	/* a second connection replaces the first, which the server closes */
	int b = dial(port, true);
	CHECK(b >= 0);
	send_null(b, 9, 48, RPC_CALL);
	CHECK(read_reply(b, &xid, &stat) && xid == 9);
	CHECK(read(a, &c, 1) == 0);
	close(a);
	/* a record over the maximum: the connection is closed */
	uint32_t big = htonl(0x80000000u | (NFS_MAX_RECORD + 1));
	CHECK(write(b, &big, 4) == 4);
	CHECK(read(b, &c, 1) == 0);
	close(b);
	/* still serving new connections */
	int d = dial(port, true);
	CHECK(d >= 0);
	send_null(d, 10, 48, RPC_CALL);
	CHECK(read_reply(d, &xid, &stat) && xid == 10);
	close(d);
	retry_after_reconnect(port);
	/*
	 * A client that sends calls but does not read: the server stops
	 * taking them, loses no reply (all come, in order, once it reads),
	 * still lets a new connection replace it, and still stops.
	 */
	int e = dial(port, true);
	CHECK(e >= 0);
	CHECK(flood_answered(e, flood(e)));
	(void)flood(e);
	int g = dial(port, true);
	CHECK(g >= 0);
	send_null(g, 11, 48, RPC_CALL);
	CHECK(read_reply(g, &xid, &stat) && xid == 11);
	close(e);
	(void)flood(g);
	CHECK(write(stop[1], "x", 1) == 1);
	struct timespec limit; /* only against a hang: a bug, not a timing check */
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += 60;
	CHECK(pthread_timedjoin_np(th, NULL, &limit) == 0);
	close(g);
	CHECK(serve_rc == 0);
	close(lfd);
	nfs_srv_free(srv);
	CHECK(kfs_unmount(fs) == 0);
}

TEST(listen_loopback_only)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	uint16_t port;
	int fd;

	CHECK(nfs_listen(0, &fd, &port) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	CHECK(sa.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(sa.sin_port) == port);
	/* the same port twice: a clear error */
	int fd2;
	CHECK_ERR(nfs_listen(port, &fd2, NULL), "listen on 127.0.0.1");
	close(fd);
}

int main(void)
{
	RUN(tcp_loop);
	RUN(listen_loopback_only);
	RUN(held_replies_on_drop);
	return t_done();
}
