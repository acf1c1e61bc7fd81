/* SPDX-License-Identifier: Apache-2.0 */
/* DNS parsing over hostile bytes, CNAME-chain learning, the TTL cache and stream framing. */
#include "t.h"

#include "net/dns.h"

struct mb {
	uint8_t b[8192];
	size_t n;
};

static void u8(struct mb *m, unsigned v)
{
	m->b[m->n++] = (uint8_t)v;
}

static void be16(struct mb *m, unsigned v)
{
	u8(m, v >> 8);
	u8(m, v & 0xFF);
}

static void be32(struct mb *m, uint32_t v)
{
	be16(m, v >> 16);
	be16(m, v & 0xFFFF);
}

/* Uncompressed name; a trailing "@OFF" ends it with a pointer instead of the root. */
static void name(struct mb *m, const char *s)
{
	while (*s && *s != '@') {
		size_t l = strcspn(s, ".@");

		u8(m, (unsigned)l);
		memcpy(m->b + m->n, s, l);
		m->n += l;
		s += l;
		if (*s == '.')
			s++;
	}
	if (*s == '@') {
		unsigned off = (unsigned)atoi(s + 1);

		be16(m, 0xC000 | off);
	} else {
		u8(m, 0);
	}
}

static void hdr(struct mb *m, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns,
		unsigned ar)
{
	m->n = 0;
	be16(m, id);
	be16(m, flags);
	be16(m, qd);
	be16(m, an);
	be16(m, ns);
	be16(m, ar);
}

static void question(struct mb *m, const char *qname, unsigned qtype)
{
	name(m, qname);
	be16(m, qtype);
	be16(m, KILN_DNS_C_IN);
}

static void rr_a(struct mb *m, const char *owner, uint32_t ttl, const uint8_t ip[4])
{
	name(m, owner);
	be16(m, KILN_DNS_T_A);
	be16(m, KILN_DNS_C_IN);
	be32(m, ttl);
	be16(m, 4);
	memcpy(m->b + m->n, ip, 4);
	m->n += 4;
}

/* CNAME whose target is written by name() (may end in a pointer). */
static size_t rr_cname(struct mb *m, const char *owner, uint32_t ttl, const char *target)
{
	size_t at, rd;

	name(m, owner);
	be16(m, KILN_DNS_T_CNAME);
	be16(m, KILN_DNS_C_IN);
	be32(m, ttl);
	at = m->n;
	be16(m, 0);
	rd = m->n;
	name(m, target);
	m->b[at] = (uint8_t)((m->n - rd) >> 8);
	m->b[at + 1] = (uint8_t)(m->n - rd);
	return rd;
}

static void rr_opt(struct mb *m)
{
	u8(m, 0);
	be16(m, KILN_DNS_T_OPT);
	be16(m, 1232);
	be32(m, 0x00008000); /* DO bit lives in the TTL field */
	be16(m, 0);
}

static const uint8_t ip1[4] = { 1, 2, 3, 4 }, ip2[4] = { 1, 2, 3, 5 }, evil[4] = { 6, 6, 6, 6 };

/*
 * www.example.com A: CNAME -> edge.cdn.net (owner compressed to the
 * question), edge.cdn.net CNAME -> e1.@(cdn.net), two A records for
 * e1.cdn.net, an unrelated A for evil.com, an OPT record.
 */
static void chain_response(struct mb *m, unsigned flags)
{
	size_t edge, e1;

	hdr(m, 0x1234, flags, 1, 5, 0, 1);
	question(m, "www.example.com", KILN_DNS_T_A);
	edge = rr_cname(m, "@12", 300, "edge.cdn.net");
	{
		char tgt[32], own[32];

		snprintf(own, sizeof(own), "@%zu", edge);
		snprintf(tgt, sizeof(tgt), "e1@%zu", edge + 5); /* -> "cdn.net" */
		e1 = rr_cname(m, own, 120, tgt);
		snprintf(own, sizeof(own), "@%zu", e1);
		rr_a(m, own, 600, ip1);
		rr_a(m, own, 60, ip2);
	}
	rr_a(m, "evil.com", 600, evil);
	rr_opt(m);
}

static size_t names_of(struct kiln_dnsmap *map, const uint8_t ip[4], const char **n)
{
	struct kiln_ip a;

	kiln_ip_from_bytes(&a, 4, ip);
	return kiln_dnsmap_lookup(map, &a, 1000, n, 8);
}

static bool has(const char **n, size_t k, const char *want)
{
	for (size_t i = 0; i < k; i++)
		if (!strcmp(n[i], want))
			return true;
	return false;
}

TEST(parse_and_learn)
{
	static struct kiln_dns_msg msg;
	struct mb m;
	struct kiln_dnsmap *map = kiln_dnsmap_new(64, 0, 86400);
	const char *n[8];
	size_t k;

	chain_response(&m, 0x8180);
	CHECK(kiln_dns_parse(m.b, m.n, &msg) == 0);
	CHECK(msg.id == 0x1234 && msg.qtype == KILN_DNS_T_A && !strcmp(msg.qname, "www.example.com"));
	CHECK(msg.n_ans == 5 && msg.n_ttl == 5 && msg.min_ttl == 60);
	CHECK(msg.ans[0].type == KILN_DNS_T_CNAME && !strcmp(msg.ans[0].owner, "www.example.com") &&
	      !strcmp(msg.ans[0].target, "edge.cdn.net"));
	CHECK(!strcmp(msg.ans[1].owner, "edge.cdn.net") && !strcmp(msg.ans[1].target, "e1.cdn.net"));
	CHECK(!strcmp(msg.ans[2].owner, "e1.cdn.net") && msg.ans[2].ip.family == 4);
	CHECK(kiln_dns_learn(&msg, map, 0) == 6); /* 3 names x 2 addresses */
	k = names_of(map, ip1, n);
	CHECK(k == 3 && has(n, k, "www.example.com") && has(n, k, "edge.cdn.net") &&
	      has(n, k, "e1.cdn.net"));
	CHECK(names_of(map, ip2, n) == 3);
	CHECK(names_of(map, evil, n) == 0); /* off the chain: ignored */
	kiln_dnsmap_free(map);

	/* errors and queries teach nothing */
	map = kiln_dnsmap_new(64, 0, 86400);
	chain_response(&m, 0x8183); /* NXDOMAIN */
	CHECK(kiln_dns_parse(m.b, m.n, &msg) == 0 && kiln_dns_learn(&msg, map, 0) == 0);
	chain_response(&m, 0x0100); /* QR clear */
	CHECK(kiln_dns_parse(m.b, m.n, &msg) == 0 && kiln_dns_learn(&msg, map, 0) == 0);
	kiln_dnsmap_free(map);
}

TEST(cname_loop_in_answers)
{
	static struct kiln_dns_msg msg;
	struct kiln_dnsmap *map = kiln_dnsmap_new(64, 0, 86400);
	struct mb m;

	hdr(&m, 1, 0x8180, 1, 3, 0, 0);
	question(&m, "a.test", KILN_DNS_T_A);
	rr_cname(&m, "a.test", 60, "b.test");
	rr_cname(&m, "b.test", 60, "a.test");
	rr_a(&m, "b.test", 60, ip1);
	CHECK(kiln_dns_parse(m.b, m.n, &msg) == 0);
	CHECK(kiln_dns_learn(&msg, map, 0) == 2);
	kiln_dnsmap_free(map);
}

static void bad(struct mb *m, const char *want)
{
	static struct kiln_dns_msg msg;

	CHECK_ERR(kiln_dns_parse(m->b, m->n, &msg), want);
}

TEST(malformed)
{
	struct mb m;

	hdr(&m, 1, 0x8180, 1, 0, 0, 0);
	bad(&m, "truncated");
	m.n = 5;
	bad(&m, "DNS header");
	hdr(&m, 1, 0x8180, 2, 0, 0, 0);
	question(&m, "a.b", 1);
	question(&m, "c.d", 1);
	bad(&m, "exactly one question");
	hdr(&m, 1, 0x8180, 1, 0, 0, 0);
	question(&m, "a.b", 1);
	u8(&m, 0);
	bad(&m, "trailing bytes");
	/* pointer to itself, forward, out of bounds, into its own name */
	hdr(&m, 1, 0x8180, 1, 0, 0, 0);
	name(&m, "@12");
	be32(&m, 0x00010001);
	bad(&m, "does not point backwards");
	hdr(&m, 1, 0x8180, 1, 0, 0, 0);
	name(&m, "@14");
	be32(&m, 0x00010001);
	bad(&m, "does not point backwards");
	hdr(&m, 1, 0x8180, 1, 1, 0, 0);
	question(&m, "a.b", 1);
	name(&m, "x@16383");
	bad(&m, "does not point backwards");
	/* owner "x" + pointer back to the "x" label: x.x.x... a loop */
	hdr(&m, 1, 0x8180, 1, 1, 0, 0);
	question(&m, "a.b", 1);
	{
		char loop[32];

		snprintf(loop, sizeof(loop), "x@%zu", m.n);
		name(&m, loop);
	}
	be16(&m, 1);
	be16(&m, 1);
	be32(&m, 1);
	be16(&m, 4);
	be32(&m, 0);
	bad(&m, "does not point backwards");
	/* label types 01/10 */
	hdr(&m, 1, 0x8180, 1, 0, 0, 0);
	u8(&m, 0x41);
	bad(&m, "unsupported label type");
	/* > 255 bytes */
	hdr(&m, 1, 0x8180, 1, 0, 0, 0);
	for (int i = 0; i < 5; i++) {
		u8(&m, 63);
		memset(m.b + m.n, 'a', 63);
		m.n += 63;
	}
	u8(&m, 0);
	be32(&m, 0x00010001);
	bad(&m, "longer than 255");
	/* bad bytes in a label */
	hdr(&m, 1, 0x8180, 1, 0, 0, 0);
	question(&m, "a b.c", 1);
	bad(&m, "unsupported byte");
	hdr(&m, 1, 0x8180, 1, 0, 0, 0);
	u8(&m, 3);
	u8(&m, 'a');
	u8(&m, '.');
	u8(&m, 'b');
	u8(&m, 0);
	be32(&m, 0x00010001);
	bad(&m, "unsupported byte");
	/* RDATA problems */
	hdr(&m, 1, 0x8180, 1, 1, 0, 0);
	question(&m, "a.b", 1);
	name(&m, "@12");
	be16(&m, 1);
	be16(&m, 1);
	be32(&m, 5);
	be16(&m, 5);
	be32(&m, 0);
	u8(&m, 0);
	bad(&m, "wrong RDATA length");
	hdr(&m, 1, 0x8180, 1, 1, 0, 0);
	question(&m, "a.b", 1);
	name(&m, "@12");
	be16(&m, 16);
	be16(&m, 1);
	be32(&m, 5);
	be16(&m, 100);
	be32(&m, 0);
	bad(&m, "runs past the message");
	hdr(&m, 1, 0x8180, 1, 1, 0, 0);
	question(&m, "a.b", 1);
	{
		size_t rd = rr_cname(&m, "@12", 5, "c.d");

		m.b[rd - 1]++; /* RDLENGTH one too long */
		u8(&m, 0);
	}
	bad(&m, "does not fill its RDATA");
	hdr(&m, 1, 0x8180, 1, 200, 100, 0);
	question(&m, "a.b", 1);
	bad(&m, "too many records");
	hdr(&m, 1, 0x8180, 1, 2, 0, 0);
	question(&m, "a.b", 1);
	rr_a(&m, "@12", 5, ip1);
	bad(&m, "truncated");
}

TEST(cache)
{
	static struct kiln_dns_msg resp, q;
	struct kiln_dns_cache *c = kiln_dns_cache_new(2, 4096, 3600);
	struct mb r, qm;
	uint8_t out[4096];
	size_t len;

	chain_response(&r, 0x8180);
	CHECK(kiln_dns_parse(r.b, r.n, &resp) == 0);
	CHECK(kiln_dns_cache_put(c, r.b, r.n, &resp, 1000) == 1);
	hdr(&qm, 0xBEEF, 0x0000, 1, 0, 0, 0); /* RD clear */
	question(&qm, "WwW.ExAmple.COM", KILN_DNS_T_A);
	CHECK(kiln_dns_parse(qm.b, qm.n, &q) == 0);
	CHECK(kiln_dns_cache_get(c, qm.b, qm.n, &q, 11000, out, sizeof(out), &len) == 1);
	CHECK(len == r.n);
	CHECK(out[0] == 0xBE && out[1] == 0xEF && out[2] == 0x80 && out[3] == 0x80);
	CHECK(!memcmp(out + 12, qm.b + 12, q.qname_wire)); /* the asker's case */
	CHECK(kiln_dns_parse(out, len, &resp) == 0);
	CHECK(resp.ans[0].ttl == 290 && resp.ans[1].ttl == 110 && resp.ans[3].ttl == 50);
	CHECK(!memcmp(out + len - 6, "\x00\x00\x80\x00", 4)); /* OPT "TTL" untouched */
	/* expiry at the smallest TTL (60 s) */
	CHECK(kiln_dns_cache_get(c, qm.b, qm.n, &q, 60999, out, sizeof(out), &len) == 1);
	CHECK(kiln_dns_cache_get(c, qm.b, qm.n, &q, 61000, out, sizeof(out), &len) == 0);
	CHECK(kiln_dns_cache_count(c) == 0);
	/* other qtype: miss */
	CHECK(kiln_dns_cache_put(c, r.b, r.n, &resp, 0) == 1);
	hdr(&qm, 1, 0x0100, 1, 0, 0, 0);
	question(&qm, "www.example.com", KILN_DNS_T_AAAA);
	CHECK(kiln_dns_parse(qm.b, qm.n, &q) == 0);
	CHECK(kiln_dns_cache_get(c, qm.b, qm.n, &q, 1, out, sizeof(out), &len) == 0);
	/* small output buffer */
	hdr(&qm, 1, 0x0100, 1, 0, 0, 0);
	question(&qm, "www.example.com", KILN_DNS_T_A);
	CHECK(kiln_dns_parse(qm.b, qm.n, &q) == 0);
	CHECK_ERR(kiln_dns_cache_get(c, qm.b, qm.n, &q, 1, out, 20, &len), "exceeds");
	/* not cacheable: NXDOMAIN, TC, TTL 0 */
	chain_response(&r, 0x8183);
	CHECK(kiln_dns_parse(r.b, r.n, &resp) == 0 && kiln_dns_cache_put(c, r.b, r.n, &resp, 0) == 0);
	chain_response(&r, 0x8380);
	CHECK(kiln_dns_parse(r.b, r.n, &resp) == 0 && kiln_dns_cache_put(c, r.b, r.n, &resp, 0) == 0);
	hdr(&r, 1, 0x8180, 1, 1, 0, 0);
	question(&r, "z.test", 1);
	rr_a(&r, "@12", 0, ip1);
	CHECK(kiln_dns_parse(r.b, r.n, &resp) == 0 && kiln_dns_cache_put(c, r.b, r.n, &resp, 0) == 0);
	/* LRU by entries (max 2) */
	for (int i = 0; i < 3; i++) {
		char qn[32];

		snprintf(qn, sizeof(qn), "h%d.test", i);
		hdr(&r, 1, 0x8180, 1, 1, 0, 0);
		question(&r, qn, 1);
		rr_a(&r, "@12", 100, ip1);
		CHECK(kiln_dns_parse(r.b, r.n, &resp) == 0);
		CHECK(kiln_dns_cache_put(c, r.b, r.n, &resp, 0) == 1);
	}
	CHECK(kiln_dns_cache_count(c) == 2);
	hdr(&qm, 1, 0x0100, 1, 0, 0, 0);
	question(&qm, "h0.test", 1);
	CHECK(kiln_dns_parse(qm.b, qm.n, &q) == 0);
	CHECK(kiln_dns_cache_get(c, qm.b, qm.n, &q, 1, out, sizeof(out), &len) == 0);
	kiln_dns_cache_free(c);
	/* LRU by bytes */
	c = kiln_dns_cache_new(100, 100, 3600);
	CHECK(kiln_dns_parse(r.b, r.n, &resp) == 0);
	CHECK(kiln_dns_cache_put(c, r.b, r.n, &resp, 0) == 1);
	chain_response(&qm, 0x8180); /* bigger than 100 bytes */
	CHECK(kiln_dns_parse(qm.b, qm.n, &resp) == 0 && kiln_dns_cache_put(c, qm.b, qm.n, &resp, 0) == 0);
	kiln_dns_cache_free(c);
}

TEST(framing)
{
	uint8_t msg[12] = { 1, 2 }, buf[64];
	const uint8_t *p;
	size_t len, mlen, used;

	CHECK(kiln_dns_frame_encode(msg, sizeof(msg), buf, sizeof(buf), &len) == 0 && len == 14);
	CHECK(buf[0] == 0 && buf[1] == 12);
	CHECK(kiln_dns_frame_next(buf, 1, &p, &mlen, &used) == 0);
	CHECK(kiln_dns_frame_next(buf, 13, &p, &mlen, &used) == 0);
	CHECK(kiln_dns_frame_next(buf, 14, &p, &mlen, &used) == 1 && mlen == 12 && used == 14 &&
	      p == buf + 2);
	buf[1] = 3;
	CHECK_ERR(kiln_dns_frame_next(buf, 14, &p, &mlen, &used), "shorter than a header");
	CHECK_ERR(kiln_dns_frame_encode(msg, 5, buf, sizeof(buf), &len), "cannot be framed");
	CHECK_ERR(kiln_dns_frame_encode(msg, 12, buf, 10, &len), "needs 14 bytes");
}

int main(void)
{
	RUN(parse_and_learn);
	RUN(cname_loop_in_answers);
	RUN(malformed);
	RUN(cache);
	RUN(framing);
	return t_done();
}
