/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the NFS server's XDR cursor, RPC record marking and call/credential decoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfs/rpc.h"
#include "nfs/xdr.h"
#include "t.h"

TEST(xdr_round_trip)
{
	struct xdr_out o;
	struct xdr_in x;
	const uint8_t *p;
	uint32_t n;
	char s[16];
	uint8_t f[3];

	CHECK(xdr_out_init(&o, 1024) == 0);
	xdr_put_u32(&o, 0xdeadbeef);
	xdr_put_u64(&o, 0x0102030405060708ull);
	xdr_put_opaque(&o, "abcde", 5);
	xdr_put_string(&o, "hi");
	xdr_put_fixed(&o, "xyz", 3);
	xdr_put_u32(&o, 1);
	CHECK(!o.err && o.len == 4 + 8 + 12 + 8 + 4 + 4);
	xdr_in_init(&x, o.buf, o.len);
	CHECK(xdr_u32(&x) == 0xdeadbeef);
	CHECK(xdr_u64(&x) == 0x0102030405060708ull);
	xdr_opaque_ref(&x, 5, &p, &n);
	CHECK(n == 5 && !memcmp(p, "abcde", 5));
	xdr_string(&x, s, 15);
	CHECK(!strcmp(s, "hi"));
	xdr_fixed(&x, f, 3);
	CHECK(!memcmp(f, "xyz", 3));
	CHECK(xdr_bool(&x) == true);
	CHECK(xdr_ok(&x) && xdr_left(&x) == 0);
	/* one more read fails and stays failed */
	CHECK(xdr_u32(&x) == 0 && !xdr_ok(&x));
	xdr_out_free(&o);
}

TEST(xdr_malformed)
{
	struct xdr_in x;
	const uint8_t *p;
	uint32_t n;
	char s[8];
	/* length 5, data, padding not zero */
	const uint8_t badpad[] = { 0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e', 0, 1, 0 };
	const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
	const uint8_t nul[] = { 0, 0, 0, 3, 'a', 0, 'b', 0 };
	const uint8_t short_[] = { 0, 0, 0, 8, 'a', 'b', 'c', 'd' };
	const uint8_t boolv[] = { 0, 0, 0, 2 };

	xdr_in_init(&x, badpad, sizeof(badpad));
	xdr_opaque_ref(&x, 100, &p, &n);
	CHECK(!xdr_ok(&x) && p == NULL && n == 0);
	xdr_in_init(&x, huge, sizeof(huge));
	xdr_opaque_ref(&x, UINT32_MAX, &p, &n);
	CHECK(!xdr_ok(&x));
	xdr_in_init(&x, badpad, sizeof(badpad));
	xdr_opaque_ref(&x, 4, &p, &n); /* over the caller's maximum */
	CHECK(!xdr_ok(&x));
	xdr_in_init(&x, nul, sizeof(nul));
	xdr_string(&x, s, 7);
	CHECK(!xdr_ok(&x) && s[0] == '\0');
	xdr_in_init(&x, short_, sizeof(short_));
	xdr_opaque_ref(&x, 100, &p, &n);
	CHECK(!xdr_ok(&x));
	xdr_in_init(&x, boolv, sizeof(boolv));
	(void)xdr_bool(&x);
	CHECK(!xdr_ok(&x));
	xdr_in_init(&x, boolv, 3);
	CHECK(xdr_u64(&x) == 0 && !xdr_ok(&x));
}

TEST(xdr_out_cap)
{
	struct xdr_out o;

	CHECK(xdr_out_init(&o, 8) == 0);
	xdr_put_u64(&o, 1);
	CHECK(!o.err);
	xdr_put_u32(&o, 2);
	CHECK(o.err && o.len == 8);
	xdr_out_free(&o);
}

/* The records found, each followed by '|' (a record's bytes are letters here). */
struct found {
	char s[256];
	size_t n;
};

static int next_all(struct rpc_rx *r, struct found *f)
{
	const uint8_t *rec;
	size_t len;
	int rc;

	while ((rc = rpc_rx_next(r, &rec, &len)) == 1) {
		CHECK(f->n + len + 1 < sizeof(f->s));
		memcpy(f->s + f->n, rec, len);
		f->n += len;
		f->s[f->n++] = '|';
		f->s[f->n] = 0;
	}
	return rc;
}

/* Receive n bytes as recv would, at most step at a time, parsing after each; the last rpc_rx_next result. */
static int rx_feed(struct rpc_rx *r, const uint8_t *p, size_t n, size_t step, struct found *f)
{
	int rc = 0;

	for (size_t off = 0; off < n && rc >= 0;) {
		uint8_t *dst;
		size_t room;
		CHECK(rpc_rx_space(r, &dst, &room) == 0 && room > 0);
		size_t k = n - off < step ? n - off : step;
		k = k < room ? k : room;
		memcpy(dst, p + off, k);
		rpc_rx_got(r, k);
		off += k;
		rc = next_all(r, f);
	}
	return rc;
}

TEST(record_marking)
{
	/* two fragments "abc" + "defg" (last), a record "z", and the start of a next header */
	const uint8_t s[] = { 0, 0, 0, 3, 'a', 'b', 'c', 0x80, 0, 0, 4, 'd', 'e', 'f', 'g',
			      0x80, 0, 0, 1, 'z', 0x80, 0 };
	struct rpc_rx r;
	struct found f;

	/* split anywhere, several in one receive: the same records, in order */
	for (size_t step = 1; step <= sizeof(s); step++) {
		memset(&f, 0, sizeof(f));
		rpc_rx_init(&r, 64);
		CHECK(rx_feed(&r, s, sizeof(s), step, &f) == 0);
		CHECK(!strcmp(f.s, "abcdefg|z|"));
		rpc_rx_free(&r);
	}
	/* a fragment over the maximum, and fragments adding up over it */
	const uint8_t big[] = { 0x80, 0, 1, 0 };
	memset(&f, 0, sizeof(f));
	rpc_rx_init(&r, 64);
	CHECK_ERR(rx_feed(&r, big, 4, 4, &f), "record over 64 bytes");
	rpc_rx_free(&r);
	uint8_t frags[3 * 44];
	for (int i = 0; i < 3; i++) {
		memset(frags + 44 * i, 'x', 44);
		frags[44 * i + 3] = 40;
		frags[44 * i] = frags[44 * i + 1] = frags[44 * i + 2] = 0;
	}
	rpc_rx_init(&r, 64);
	CHECK_ERR(rx_feed(&r, frags, sizeof(frags), 7, &f), "record over");
	rpc_rx_free(&r);
	/* an empty last fragment is an empty record */
	const uint8_t empty[] = { 0x80, 0, 0, 0 };
	memset(&f, 0, sizeof(f));
	rpc_rx_init(&r, 64);
	CHECK(rx_feed(&r, empty, 4, 4, &f) == 0 && !strcmp(f.s, "|"));
	rpc_rx_free(&r);
}

/* A record in one fragment is handed out where it was received; a big one is received in place. */
TEST(record_in_place)
{
	const size_t max = 3 * RPC_RX_CHUNK, n = 2 * RPC_RX_CHUNK + 5;
	uint8_t *msg = malloc(4 + n), *dst;
	struct rpc_rx r;
	const uint8_t *rec;
	size_t room, len;

	CHECK(msg != NULL);
	memset(msg + 4, 'q', n);
	msg[0] = 0x80;
	msg[1] = (uint8_t)(n >> 16);
	msg[2] = (uint8_t)(n >> 8);
	msg[3] = (uint8_t)n;
	rpc_rx_init(&r, max);
	/* a small record: handed out at its place in the receive buffer */
	const uint8_t z[] = { 0x80, 0, 0, 1, 'z' };
	CHECK(rpc_rx_space(&r, &dst, &room) == 0 && room == RPC_RX_CHUNK);
	memcpy(dst, z, sizeof(z));
	rpc_rx_got(&r, sizeof(z));
	CHECK(rpc_rx_next(&r, &rec, &len) == 1 && len == 1 && rec == dst + 4);
	CHECK(rpc_rx_next(&r, &rec, &len) == 0);
	/* a big one: its first 100 bytes, then room for all the rest in one receive */
	CHECK(rpc_rx_space(&r, &dst, &room) == 0 && room == RPC_RX_CHUNK);
	memcpy(dst, msg, 100);
	rpc_rx_got(&r, 100);
	CHECK(rpc_rx_next(&r, &rec, &len) == 0);
	CHECK(rpc_rx_space(&r, &dst, &room) == 0 && room >= 4 + n - 100 && dst == r.buf + 96);
	memcpy(dst, msg + 100, 4 + n - 100);
	rpc_rx_got(&r, 4 + n - 100);
	CHECK(rpc_rx_next(&r, &rec, &len) == 1 && len == n && rec == r.buf);
	CHECK(rec[0] == 'q' && rec[n - 1] == 'q');
	rpc_rx_free(&r);
	free(msg);
}

/*
 * Hostile streams stay within max + RPC_RX_CHUNK of buffer: many records
 * received in odd pieces (the buffer is reused, a partial record moved to
 * its front), and a record of 100000 empty fragments (their headers are
 * dropped, not kept).
 */
TEST(record_bounded)
{
	const size_t max = 64, nrec = 30000;
	uint8_t *s = malloc(nrec * 8);
	struct rpc_rx r;
	const uint8_t *rec;
	size_t len, seen = 0;

	CHECK(s != NULL);
	for (size_t i = 0; i < nrec; i++) {
		const uint8_t m[8] = { 0x80, 0, 0, 4, 'a' + i % 26, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
				       (uint8_t)i };
		memcpy(s + 8 * i, m, 8);
	}
	rpc_rx_init(&r, max);
	for (size_t off = 0; off < nrec * 8;) {
		uint8_t *dst;
		size_t room;
		CHECK(rpc_rx_space(&r, &dst, &room) == 0);
		size_t k = nrec * 8 - off < 997 ? nrec * 8 - off : 997;
		k = k < room ? k : room;
		memcpy(dst, s + off, k);
		rpc_rx_got(&r, k);
		off += k;
		while (rpc_rx_next(&r, &rec, &len) == 1) {
			CHECK(len == 4 && rec[0] == 'a' + seen % 26 &&
			      (size_t)(rec[1] << 16 | rec[2] << 8 | rec[3]) == seen);
			seen++;
		}
		CHECK(r.alloc <= max + RPC_RX_CHUNK);
	}
	CHECK(seen == nrec);
	rpc_rx_free(&r);
	/* 100000 empty fragments, then the last one with "x" */
	const size_t nfrag = 100000;
	uint8_t *e = calloc(nfrag + 2, 4);
	CHECK(e != NULL);
	e[4 * nfrag] = 0x80;
	e[4 * nfrag + 3] = 1;
	e[4 * nfrag + 4] = 'x';
	struct found f = { .n = 0 };
	rpc_rx_init(&r, max);
	CHECK(rx_feed(&r, e, 4 * nfrag + 5, 4096, &f) == 0 && !strcmp(f.s, "x|"));
	CHECK(r.alloc <= max + RPC_RX_CHUNK);
	rpc_rx_free(&r);
	free(e);
	free(s);
}

static void call_head(struct xdr_out *o, uint32_t rpcvers, uint32_t flavor, const void *cred,
		      size_t credlen)
{
	xdr_put_u32(o, 77);
	xdr_put_u32(o, RPC_CALL);
	xdr_put_u32(o, rpcvers);
	xdr_put_u32(o, 100003);
	xdr_put_u32(o, 4);
	xdr_put_u32(o, 1);
	xdr_put_u32(o, flavor);
	xdr_put_opaque(o, cred, credlen);
	xdr_put_u32(o, 0);
	xdr_put_u32(o, 0);
}

static void auth_sys(struct xdr_out *o, uint32_t ngids)
{
	xdr_put_u32(o, 1234);
	xdr_put_string(o, "guest");
	xdr_put_u32(o, 1000);
	xdr_put_u32(o, 100);
	xdr_put_u32(o, ngids);
	for (uint32_t i = 0; i < ngids && i < 20; i++)
		xdr_put_u32(o, 200 + i);
}

TEST(call_decode)
{
	struct xdr_out c, o;
	struct xdr_in x;
	struct rpc_call call;
	int rej;

	CHECK(xdr_out_init(&c, 4096) == 0 && xdr_out_init(&o, 4096) == 0);
	auth_sys(&c, 2);
	call_head(&o, 2, RPC_AUTH_SYS, c.buf, c.len);
	xdr_put_u32(&o, 0xabcd); /* the procedure's arguments */
	xdr_in_init(&x, o.buf, o.len);
	CHECK(rpc_call_decode(&x, &call, &rej) == 0);
	CHECK(call.xid == 77 && call.prog == 100003 && call.vers == 4 && call.proc == 1);
	CHECK(call.cred.uid == 1000 && call.cred.gid == 100 && call.cred.ngids == 2 &&
	      call.cred.gids[1] == 201 && !strcmp(call.cred.machine, "guest"));
	CHECK(xdr_u32(&x) == 0xabcd);

	/* 17 groups: AUTH_BADCRED */
	c.len = o.len = 0;
	auth_sys(&c, 17);
	call_head(&o, 2, RPC_AUTH_SYS, c.buf, c.len);
	xdr_in_init(&x, o.buf, o.len);
	CHECK_ERR(rpc_call_decode(&x, &call, &rej), "AUTH_SYS");
	CHECK(rej == RPC_REJ_BADCRED);
	/* trailing bytes in the credential */
	c.len = o.len = 0;
	auth_sys(&c, 0);
	xdr_put_u32(&c, 9);
	call_head(&o, 2, RPC_AUTH_SYS, c.buf, c.len);
	xdr_in_init(&x, o.buf, o.len);
	CHECK(rpc_call_decode(&x, &call, &rej) < 0 && rej == RPC_REJ_BADCRED);
	/* RPC version 3 */
	o.len = 0;
	call_head(&o, 3, RPC_AUTH_NONE, "", 0);
	xdr_in_init(&x, o.buf, o.len);
	CHECK_ERR(rpc_call_decode(&x, &call, &rej), "version 3");
	CHECK(rej == RPC_REJ_VERSION && call.xid == 77);
	/* RPCSEC_GSS (6): too weak */
	o.len = 0;
	call_head(&o, 2, 6, "", 0);
	xdr_in_init(&x, o.buf, o.len);
	CHECK(rpc_call_decode(&x, &call, &rej) < 0 && rej == RPC_REJ_TOOWEAK);
	/* a reply, not a call: nothing to answer */
	o.len = 0;
	xdr_put_u32(&o, 5);
	xdr_put_u32(&o, RPC_REPLY);
	xdr_in_init(&x, o.buf, o.len);
	CHECK(rpc_call_decode(&x, &call, &rej) == -EBADMSG);
	/* every truncation of a valid header fails cleanly */
	c.len = o.len = 0;
	auth_sys(&c, 3);
	call_head(&o, 2, RPC_AUTH_SYS, c.buf, c.len);
	for (size_t n = 0; n < o.len; n++) {
		xdr_in_init(&x, o.buf, n);
		CHECK(rpc_call_decode(&x, &call, &rej) < 0);
	}
	xdr_out_free(&c);
	xdr_out_free(&o);
}

TEST(reply_headers)
{
	struct xdr_out o;
	struct xdr_in x;

	CHECK(xdr_out_init(&o, 256) == 0);
	rpc_reply_prog_mismatch(&o, 9, 4, 4);
	rpc_reply_finish(&o);
	xdr_in_init(&x, o.buf, o.len);
	CHECK(xdr_u32(&x) == (0x80000000u | (uint32_t)(o.len - 4)));
	CHECK(xdr_u32(&x) == 9 && xdr_u32(&x) == RPC_REPLY && xdr_u32(&x) == 0);
	CHECK(xdr_u32(&x) == 0 && xdr_u32(&x) == 0); /* verifier */
	CHECK(xdr_u32(&x) == RPC_PROG_MISMATCH && xdr_u32(&x) == 4 && xdr_u32(&x) == 4);
	CHECK(xdr_left(&x) == 0);
	rpc_reply_denied(&o, 10, RPC_REJ_VERSION);
	rpc_reply_finish(&o);
	xdr_in_init(&x, o.buf + 4, o.len - 4);
	CHECK(xdr_u32(&x) == 10 && xdr_u32(&x) == RPC_REPLY && xdr_u32(&x) == 1);
	CHECK(xdr_u32(&x) == RPC_MISMATCH && xdr_u32(&x) == 2 && xdr_u32(&x) == 2);
	xdr_out_free(&o);
}

int main(void)
{
	RUN(xdr_round_trip);
	RUN(xdr_malformed);
	RUN(xdr_out_cap);
	RUN(record_marking);
	RUN(record_in_place);
	RUN(record_bounded);
	RUN(call_decode);
	RUN(reply_headers);
	return t_done();
}
