/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: DNS parser, CNAME learning, the cache's rewrite and the stream framing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns.h"

/*
 * Every accepted message is learnt into a small map, stored in the cache
 * and answered back to itself as the query: the rewritten answer must
 * parse again with the same question, or the cache corrupted it.
 */
static void cache_roundtrip(const uint8_t *data, size_t size, const struct kiln_dns_msg *m)
{
	static struct kiln_dns_msg again;
	static uint8_t out[KILN_DNS_MSG_MAX];
	struct kiln_dns_cache *c = kiln_dns_cache_new(4, 1 << 16, 3600);
	uint32_t age = m->min_ttl >= 2 ? 1 : 0; /* stay inside the entry's lifetime */
	size_t len;
	int rc;

	if (!c)
		abort();
	if (kiln_dns_cache_put(c, data, size, m, 0) == 1) {
		rc = kiln_dns_cache_get(c, data, size, m, age * 1500, out, sizeof(out), &len);
		if (rc != 1 || len != size || kiln_dns_parse(out, len, &again) < 0 ||
		    strcmp(again.qname, m->qname) || again.n_ttl != m->n_ttl)
			abort();
		for (size_t i = 0; i < again.n_ttl; i++)
			if (again.ttl[i] != (m->ttl[i] > age ? m->ttl[i] - age : 0))
				abort();
	}
	kiln_dns_cache_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kiln_dns_msg m;
	struct kiln_dnsmap *map;
	const uint8_t *msg;
	size_t mlen, used, off = 0;

	if (kiln_dns_parse(data, size, &m) == 0) {
		map = kiln_dnsmap_new(8, 0, 3600);
		if (!map || kiln_dns_learn(&m, map, 0) < 0)
			abort();
		kiln_dnsmap_free(map);
		cache_roundtrip(data, size, &m);
	}
	/* the same bytes as a framed stream */
	while (kiln_dns_frame_next(data + off, size - off, &msg, &mlen, &used) == 1) {
		if (used != mlen + 2 || off + used > size)
			abort();
		(void)kiln_dns_parse(msg, mlen, &m);
		off += used;
	}
	return 0;
}
