/* SPDX-License-Identifier: Apache-2.0 */
/* DNS messages from the untrusted parent: parser, answer learning, TTL cache, framing. */
#ifndef KILN_NET_DNS_H
#define KILN_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/dnsmap.h"
#include "net/ip.h"
#include "net/name.h"
#include "util/err.h"

#define KILN_DNS_HDR 12
#define KILN_DNS_MSG_MAX 65535	/* the u16 length prefix bounds a message */
#define KILN_DNS_ANS_MAX 32	/* A/AAAA/CNAME answers kept per message */
#define KILN_DNS_RR_MAX 256	/* RRs per message (all sections); more is malformed */
#define KILN_DNS_CNAME_HOPS 16

#define KILN_DNS_T_A 1
#define KILN_DNS_T_CNAME 5
#define KILN_DNS_T_AAAA 28
#define KILN_DNS_T_OPT 41
#define KILN_DNS_C_IN 1

#define KILN_DNS_F_QR 0x8000
#define KILN_DNS_F_TC 0x0200
#define KILN_DNS_F_RD 0x0100

/* An A, AAAA or CNAME record of class IN from the answer section. */
struct kiln_dns_answer {
	uint16_t type;
	uint32_t ttl;
	char owner[KILN_NAME_LEN + 2];	/* lowercase text, "" = root */
	struct kiln_ip ip;		/* A / AAAA */
	char target[KILN_NAME_LEN + 2];	/* CNAME */
};

/*
 * A parsed message (large: keep it off small stacks). Names are decoded to
 * lowercase dotted text; labels holding '.', NUL or bytes outside
 * printable ASCII are refused, as are compression pointers that do not
 * point strictly before the name (or the previous pointer target) they
 * occur in, so loops and forward references cannot occur.
 */
struct kiln_dns_msg {
	uint16_t id, flags;
	uint16_t qdcount, ancount, nscount, arcount;
	char qname[KILN_NAME_LEN + 2];
	uint16_t qtype, qclass;
	size_t qname_wire;		/* wire length of the question name at offset 12 */
	struct kiln_dns_answer ans[KILN_DNS_ANS_MAX];
	size_t n_ans;			/* A/AAAA/CNAME IN answers kept (extra ones ignored) */
	uint16_t ttl_off[KILN_DNS_RR_MAX]; /* TTL field offsets of every non-OPT RR */
	uint32_t ttl[KILN_DNS_RR_MAX];	/* and their values */
	size_t n_ttl;
	uint32_t min_ttl;		/* over answer + authority RRs; UINT32_MAX if none */
};

static inline unsigned kiln_dns_rcode(const struct kiln_dns_msg *m)
{
	return m->flags & 0xF;
}

/*
 * Parse a whole message: header, exactly one question, then every RR of
 * every section (trailing bytes are malformed). -EBADMSG with a message.
 */
int kiln_dns_parse(const uint8_t *buf, size_t len, struct kiln_dns_msg *m) KILN_MUST;

/*
 * Record what a response teaches about addresses: the question name and
 * every CNAME alias on the chain from it map to the chain's final A/AAAA
 * addresses (TTL = the smallest on the path). Records off the chain are
 * ignored. Returns the number of (ip, name) pairs added.
 */
int kiln_dns_learn(const struct kiln_dns_msg *m, struct kiln_dnsmap *map, uint64_t now_ms) KILN_MUST;

/* Rewrite the ID of a message in place (len >= 12). */
void kiln_dns_set_id(uint8_t *buf, size_t len, uint16_t id);

/*
 * Response cache keyed by (qname, qtype, qclass), holding at most
 * max_entries responses and max_bytes of message bytes (LRU eviction).
 * Only NOERROR responses with answers, no TC, one question and a smallest
 * TTL > 0 are stored, for min(smallest TTL, max_ttl_s). Negative answers
 * are not cached.
 */
struct kiln_dns_cache;

struct kiln_dns_cache *kiln_dns_cache_new(size_t max_entries, size_t max_bytes, uint32_t max_ttl_s);
void kiln_dns_cache_free(struct kiln_dns_cache *c);
/* Store resp (parsed as m) if cacheable. 1 stored, 0 not cacheable, < 0 error. */
int kiln_dns_cache_put(struct kiln_dns_cache *c, const uint8_t *resp, size_t len,
		       const struct kiln_dns_msg *m, uint64_t now_ms) KILN_MUST;
/*
 * Answer query (parsed as q) from the cache: the stored response with the
 * query's ID, RD bit and question name bytes (case preserved), every TTL
 * decremented by the age. 1 answered (*outlen set), 0 miss, < 0 error.
 */
int kiln_dns_cache_get(struct kiln_dns_cache *c, const uint8_t *query, size_t qlen,
		       const struct kiln_dns_msg *q, uint64_t now_ms, uint8_t *out, size_t cap,
		       size_t *outlen) KILN_MUST;
size_t kiln_dns_cache_count(const struct kiln_dns_cache *c);

/*
 * Stream framing on the DNS channel and DNS over TCP: u16 big-endian
 * length then the message; a length below 12 is malformed.
 * kiln_dns_frame_next(): 1 = *msg and *mlen hold a message and *used bytes
 * were consumed, 0 = need more bytes, < 0 = malformed stream.
 */
int kiln_dns_frame_next(const uint8_t *buf, size_t len, const uint8_t **msg, size_t *mlen,
			size_t *used) KILN_MUST;
int kiln_dns_frame_encode(const uint8_t *msg, size_t mlen, uint8_t *out, size_t cap,
			  size_t *outlen) KILN_MUST;

#endif
