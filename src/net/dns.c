/* SPDX-License-Identifier: Apache-2.0 */
/* DNS message parser over untrusted bytes, CNAME-chain learning, TTL cache, framing. */
#include "net/dns.h"

#include <stdlib.h>
#include <string.h>

#include "util/cursor.h"

/*
 * How this works: every DNS answer comes from the untrusted parent. The
 * parser reads it only through a cursor; names with compression are read
 * by a second cursor over the same message that may only move to a
 * pointer target strictly below the start of the name being read (and
 * after that, strictly below the previous target), so every jump goes
 * backwards and loops are impossible; the wire name is also capped at 255
 * bytes. A message that fails to parse is still relayed to the app by the
 * resolver, but teaches nothing and is never cached.
 */

#define NAME_WIRE_MAX 255

static int bad(const char *what)
{
	return kiln_err(EBADMSG, "DNS: %s", what);
}

/* Read a (possibly compressed) name at c into out; c ends after it. */
static int read_name(const uint8_t *msg, size_t len, struct kiln_cursor *c, char *out)
{
	struct kiln_cursor r = *c;
	size_t limit = c->pos, wire = 0, o = 0;
	bool jumped = false;
	int rc;

	for (;;) {
		uint8_t b, lo;
		const uint8_t *label;

		rc = kiln_cursor_u8(&r, &b);
		if (rc < 0)
			return kiln_err_wrap(rc, "DNS name");
		if ((b & 0xC0) == 0xC0) {
			size_t ptr;

			rc = kiln_cursor_u8(&r, &lo);
			if (rc < 0)
				return kiln_err_wrap(rc, "DNS name pointer");
			ptr = ((size_t)(b & 0x3F) << 8) | lo;
			if (ptr >= limit)
				return bad("compression pointer does not point backwards");
			if (!jumped)
				c->pos = r.pos;
			jumped = true;
			limit = ptr;
			r = kiln_cursor_make(msg, len);
			rc = kiln_cursor_skip(&r, ptr);
			if (rc < 0)
				return rc;
			continue;
		}
		if (b & 0xC0)
			return bad("unsupported label type");
		wire += 1 + (size_t)b;
		if (wire > NAME_WIRE_MAX)
			return bad("name longer than 255 bytes");
		if (b == 0)
			break;
		rc = kiln_cursor_bytes(&r, b, &label);
		if (rc < 0)
			return kiln_err_wrap(rc, "DNS label");
		if (o)
			out[o++] = '.';
		for (size_t i = 0; i < b; i++) {
			uint8_t ch = label[i];

			if (ch <= 0x20 || ch >= 0x7F || ch == '.')
				return bad("unsupported byte in a name label");
			out[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
		}
	}
	out[o] = '\0';
	if (!jumped)
		c->pos = r.pos;
	return 0;
}

static int read_question(const uint8_t *buf, size_t len, struct kiln_cursor *c,
			 struct kiln_dns_msg *m)
{
	int rc = read_name(buf, len, c, m->qname);

	if (rc < 0)
		return rc;
	m->qname_wire = c->pos - KILN_DNS_HDR;
	rc = kiln_cursor_be16(c, &m->qtype);
	if (rc == 0)
		rc = kiln_cursor_be16(c, &m->qclass);
	return rc < 0 ? kiln_err_wrap(rc, "DNS question") : 0;
}

/* RDATA of a kept answer; the CNAME target must fill the RDATA exactly. */
static int read_rdata(const uint8_t *buf, size_t len, struct kiln_cursor *c, uint16_t rdlen,
		      struct kiln_dns_answer *a)
{
	const uint8_t *p;
	size_t end = c->pos + rdlen;
	int rc;

	switch (a->type) {
	case KILN_DNS_T_A:
	case KILN_DNS_T_AAAA:
		if (rdlen != (a->type == KILN_DNS_T_A ? 4 : 16))
			return bad("address record with a wrong RDATA length");
		rc = kiln_cursor_bytes(c, rdlen, &p);
		if (rc < 0)
			return rc;
		kiln_ip_from_bytes(&a->ip, a->type == KILN_DNS_T_A ? 4 : 6, p);
		return 0;
	case KILN_DNS_T_CNAME:
		if (rdlen > kiln_cursor_left(c))
			return bad("RDATA runs past the message");
		rc = read_name(buf, len, c, a->target);
		if (rc < 0)
			return rc;
		if (c->pos != end)
			return bad("CNAME target does not fill its RDATA");
		return 0;
	default:
		return bad("internal: unexpected record type");
	}
}

static int read_rr(const uint8_t *buf, size_t len, struct kiln_cursor *c, int section,
		   struct kiln_dns_msg *m)
{
	struct kiln_dns_answer *a = m->n_ans < KILN_DNS_ANS_MAX ? &m->ans[m->n_ans] : NULL;
	char owner[KILN_NAME_LEN + 2];
	uint16_t type, class, rdlen;
	uint32_t ttl;
	size_t ttl_off;
	int rc;

	rc = read_name(buf, len, c, owner);
	if (rc < 0)
		return rc;
	if ((rc = kiln_cursor_be16(c, &type)) < 0 || (rc = kiln_cursor_be16(c, &class)) < 0)
		return rc;
	ttl_off = c->pos;
	if ((rc = kiln_cursor_be32(c, &ttl)) < 0 || (rc = kiln_cursor_be16(c, &rdlen)) < 0)
		return rc;
	if (rdlen > kiln_cursor_left(c))
		return bad("RDATA runs past the message");
	if (ttl & 0x80000000u)
		ttl = 0; /* RFC 2181 section 8 */
	if (type != KILN_DNS_T_OPT) {
		if (m->n_ttl >= KILN_DNS_RR_MAX)
			return bad("too many records");
		m->ttl_off[m->n_ttl] = (uint16_t)ttl_off;
		m->ttl[m->n_ttl++] = ttl;
		if (section < 2 && ttl < m->min_ttl)
			m->min_ttl = ttl;
	}
	if (section == 0 && class == KILN_DNS_C_IN && a &&
	    (type == KILN_DNS_T_A || type == KILN_DNS_T_AAAA || type == KILN_DNS_T_CNAME)) {
		memset(a, 0, sizeof(*a));
		a->type = type;
		a->ttl = ttl;
		memcpy(a->owner, owner, sizeof(owner));
		rc = read_rdata(buf, len, c, rdlen, a);
		if (rc < 0)
			return rc;
		m->n_ans++;
		return 0;
	}
	return kiln_cursor_skip(c, rdlen);
}

int kiln_dns_parse(const uint8_t *buf, size_t len, struct kiln_dns_msg *m)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint16_t counts[3];
	int rc;

	memset(m, 0, offsetof(struct kiln_dns_msg, ans));
	m->n_ans = m->n_ttl = 0;
	m->min_ttl = UINT32_MAX;
	if (len > KILN_DNS_MSG_MAX)
		return bad("message longer than 65535 bytes");
	if ((rc = kiln_cursor_be16(&c, &m->id)) < 0 || (rc = kiln_cursor_be16(&c, &m->flags)) < 0 ||
	    (rc = kiln_cursor_be16(&c, &m->qdcount)) < 0 ||
	    (rc = kiln_cursor_be16(&c, &m->ancount)) < 0 ||
	    (rc = kiln_cursor_be16(&c, &m->nscount)) < 0 ||
	    (rc = kiln_cursor_be16(&c, &m->arcount)) < 0)
		return kiln_err_wrap(rc, "DNS header");
	if (m->qdcount != 1)
		return bad("expected exactly one question");
	if ((size_t)m->ancount + m->nscount + m->arcount > KILN_DNS_RR_MAX)
		return bad("too many records");
	rc = read_question(buf, len, &c, m);
	if (rc < 0)
		return rc;
	counts[0] = m->ancount;
	counts[1] = m->nscount;
	counts[2] = m->arcount;
	for (int s = 0; s < 3; s++)
		for (unsigned i = 0; i < counts[s]; i++) {
			rc = read_rr(buf, len, &c, s, m);
			if (rc < 0)
				return rc;
		}
	if (kiln_cursor_left(&c))
		return bad("trailing bytes after the last record");
	return 0;
}

void kiln_dns_set_id(uint8_t *buf, size_t len, uint16_t id)
{
	if (len < 2)
		return;
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
}

/* ---- learning ---- */

static bool in_chain(char chain[][KILN_NAME_LEN + 2], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(chain[i], name))
			return true;
	return false;
}

int kiln_dns_learn(const struct kiln_dns_msg *m, struct kiln_dnsmap *map, uint64_t now_ms)
{
	char chain[KILN_DNS_CNAME_HOPS + 1][KILN_NAME_LEN + 2];
	char norm[KILN_NAME_LEN + 1];
	uint32_t ttl = UINT32_MAX;
	size_t n = 1;
	int added = 0, rc;

	if (!(m->flags & KILN_DNS_F_QR) || kiln_dns_rcode(m) != 0 || m->qclass != KILN_DNS_C_IN)
		return 0;
	strcpy(chain[0], m->qname);
	/* Follow CNAMEs from the question name, in any order in the section. */
	for (bool grew = true; grew && n <= KILN_DNS_CNAME_HOPS;) {
		grew = false;
		for (size_t i = 0; i < m->n_ans && n <= KILN_DNS_CNAME_HOPS; i++) {
			const struct kiln_dns_answer *a = &m->ans[i];

			if (a->type != KILN_DNS_T_CNAME || strcmp(a->owner, chain[n - 1]) ||
			    in_chain(chain, n, a->target))
				continue;
			strcpy(chain[n++], a->target);
			ttl = a->ttl < ttl ? a->ttl : ttl;
			grew = true;
		}
	}
	for (size_t i = 0; i < m->n_ans; i++) {
		const struct kiln_dns_answer *a = &m->ans[i];
		uint32_t t = a->ttl < ttl ? a->ttl : ttl;

		if (a->type == KILN_DNS_T_CNAME || strcmp(a->owner, chain[n - 1]))
			continue;
		if ((a->type == KILN_DNS_T_A) != (a->ip.family == 4))
			continue;
		for (size_t k = 0; k < n; k++) {
			if (kiln_name_norm(chain[k], strlen(chain[k]), norm) < 0)
				continue; /* not a host name policy could name */
			rc = kiln_dnsmap_add(map, &a->ip, norm, t, now_ms);
			if (rc < 0)
				return rc;
			added++;
		}
	}
	return added;
}

/* ---- cache ---- */

struct centry {
	struct centry *chain, *prev, *next;
	char qname[KILN_NAME_LEN + 2];
	uint16_t qtype, qclass;
	uint64_t stored_ms, expires_ms;
	size_t qname_wire;
	size_t n_ttl;
	uint16_t *ttl_off;
	uint32_t *ttl;
	size_t len;
	uint8_t *bytes;
};

struct kiln_dns_cache {
	struct centry **buckets;
	size_t n_buckets, count, max_entries, bytes, max_bytes;
	uint32_t max_ttl;
	struct centry *head, *tail;
};

static size_t key_hash(const char *qname, uint16_t qtype, uint16_t qclass)
{
	uint64_t h = 1469598103934665603ull ^ ((uint64_t)qtype << 16 | qclass);

	for (const char *p = qname; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

struct kiln_dns_cache *kiln_dns_cache_new(size_t max_entries, size_t max_bytes, uint32_t max_ttl_s)
{
	struct kiln_dns_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max_entries = max_entries ? max_entries : 1;
	c->max_bytes = max_bytes;
	c->max_ttl = max_ttl_s;
	c->n_buckets = 16;
	while (c->n_buckets < c->max_entries)
		c->n_buckets *= 2;
	c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	return c;
}

static void c_unlink(struct kiln_dns_cache *c, struct centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void c_push(struct kiln_dns_cache *c, struct centry *e)
{
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void centry_free(struct centry *e)
{
	free(e->bytes);
	free(e->ttl_off);
	free(e->ttl);
	free(e);
}

static void c_remove(struct kiln_dns_cache *c, struct centry *e)
{
	struct centry **pp = &c->buckets[key_hash(e->qname, e->qtype, e->qclass) & (c->n_buckets - 1)];

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	c_unlink(c, e);
	c->count--;
	c->bytes -= e->len;
	centry_free(e);
}

void kiln_dns_cache_free(struct kiln_dns_cache *c)
{
	if (!c)
		return;
	while (c->head) {
		struct centry *e = c->head;

		c->head = e->next;
		centry_free(e);
	}
	free(c->buckets);
	free(c);
}

static struct centry *c_find(struct kiln_dns_cache *c, const char *qname, uint16_t qtype,
			     uint16_t qclass)
{
	struct centry *e = c->buckets[key_hash(qname, qtype, qclass) & (c->n_buckets - 1)];

	for (; e; e = e->chain)
		if (e->qtype == qtype && e->qclass == qclass && !strcmp(e->qname, qname))
			return e;
	return NULL;
}

static bool cacheable(const struct kiln_dns_msg *m, size_t len, size_t max_bytes)
{
	return (m->flags & KILN_DNS_F_QR) && !(m->flags & KILN_DNS_F_TC) &&
	       ((m->flags >> 11) & 0xF) == 0 && kiln_dns_rcode(m) == 0 && m->ancount > 0 &&
	       m->min_ttl > 0 && m->min_ttl != UINT32_MAX && len <= max_bytes;
}

int kiln_dns_cache_put(struct kiln_dns_cache *c, const uint8_t *resp, size_t len,
		       const struct kiln_dns_msg *m, uint64_t now_ms)
{
	uint32_t ttl = m->min_ttl < c->max_ttl ? m->min_ttl : c->max_ttl;
	size_t b = key_hash(m->qname, m->qtype, m->qclass) & (c->n_buckets - 1);
	struct centry *e;

	if (!cacheable(m, len, c->max_bytes) || ttl == 0)
		return 0;
	e = c_find(c, m->qname, m->qtype, m->qclass);
	if (e)
		c_remove(c, e);
	while (c->count && (c->count >= c->max_entries || c->bytes + len > c->max_bytes))
		c_remove(c, c->tail);
	e = calloc(1, sizeof(*e));
	if (!e)
		return kiln_err(ENOMEM, "out of memory");
	e->bytes = malloc(len);
	e->ttl_off = calloc(m->n_ttl ? m->n_ttl : 1, sizeof(*e->ttl_off));
	e->ttl = calloc(m->n_ttl ? m->n_ttl : 1, sizeof(*e->ttl));
	if (!e->bytes || !e->ttl_off || !e->ttl) {
		centry_free(e);
		return kiln_err(ENOMEM, "out of memory");
	}
	memcpy(e->bytes, resp, len);
	memcpy(e->ttl_off, m->ttl_off, m->n_ttl * sizeof(*e->ttl_off));
	memcpy(e->ttl, m->ttl, m->n_ttl * sizeof(*e->ttl));
	e->n_ttl = m->n_ttl;
	e->len = len;
	strcpy(e->qname, m->qname);
	e->qtype = m->qtype;
	e->qclass = m->qclass;
	e->qname_wire = m->qname_wire;
	e->stored_ms = now_ms;
	e->expires_ms = now_ms + (uint64_t)ttl * 1000;
	e->chain = c->buckets[b];
	c->buckets[b] = e;
	c_push(c, e);
	c->count++;
	c->bytes += len;
	return 1;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int kiln_dns_cache_get(struct kiln_dns_cache *c, const uint8_t *query, size_t qlen,
		       const struct kiln_dns_msg *q, uint64_t now_ms, uint8_t *out, size_t cap,
		       size_t *outlen)
{
	struct centry *e = c_find(c, q->qname, q->qtype, q->qclass);
	uint32_t age;

	if (!e)
		return 0;
	if (e->expires_ms <= now_ms) {
		c_remove(c, e);
		return 0;
	}
	if (q->qname_wire != e->qname_wire || KILN_DNS_HDR + q->qname_wire > qlen)
		return 0; /* same name, other compression: let the parent answer */
	if (e->len > cap)
		return kiln_err(ENOBUFS, "DNS cache: answer of %zu bytes exceeds %zu", e->len, cap);
	age = (uint32_t)((now_ms - e->stored_ms) / 1000);
	memcpy(out, e->bytes, e->len);
	kiln_dns_set_id(out, e->len, q->id);
	out[2] = (uint8_t)((out[2] & ~(KILN_DNS_F_RD >> 8)) | ((q->flags & KILN_DNS_F_RD) >> 8));
	memcpy(out + KILN_DNS_HDR, query + KILN_DNS_HDR, q->qname_wire);
	for (size_t i = 0; i < e->n_ttl; i++)
		put_be32(out + e->ttl_off[i], e->ttl[i] > age ? e->ttl[i] - age : 0);
	c_unlink(c, e);
	c_push(c, e);
	*outlen = e->len;
	return 1;
}

size_t kiln_dns_cache_count(const struct kiln_dns_cache *c)
{
	return c->count;
}

/* ---- framing ---- */

int kiln_dns_frame_next(const uint8_t *buf, size_t len, const uint8_t **msg, size_t *mlen,
			size_t *used)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint16_t n;

	if (kiln_cursor_be16(&c, &n) < 0)
		return 0;
	if (n < KILN_DNS_HDR)
		return kiln_err(EBADMSG, "DNS frame of %u bytes is shorter than a header", n);
	if (kiln_cursor_bytes(&c, n, msg) < 0)
		return 0;
	*mlen = n;
	*used = c.pos;
	return 1;
}

int kiln_dns_frame_encode(const uint8_t *msg, size_t mlen, uint8_t *out, size_t cap,
			  size_t *outlen)
{
	if (mlen < KILN_DNS_HDR || mlen > KILN_DNS_MSG_MAX)
		return kiln_err(EMSGSIZE, "DNS message of %zu bytes cannot be framed", mlen);
	if (cap < mlen + 2)
		return kiln_err(ENOBUFS, "DNS frame needs %zu bytes, have %zu", mlen + 2, cap);
	out[0] = (uint8_t)(mlen >> 8);
	out[1] = (uint8_t)mlen;
	memcpy(out + 2, msg, mlen);
	*outlen = mlen + 2;
	return 0;
}
