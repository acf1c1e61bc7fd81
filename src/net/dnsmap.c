/* SPDX-License-Identifier: Apache-2.0 */
/* IP -> names map: hash chains keyed by IP, one LRU list over all pairs. */
#include "net/dnsmap.h"

#include <stdlib.h>
#include <string.h>

#include "net/name.h"

struct pair {
	struct pair *chain;		/* next in the bucket */
	struct pair *prev, *next;	/* LRU list, head = most recent */
	struct kiln_ip ip;
	uint64_t expires_ms;
	char name[];
};

struct kiln_dnsmap {
	struct pair **buckets;
	size_t n_buckets;		/* power of two */
	size_t count, max;
	uint32_t min_ttl, max_ttl;
	struct pair *head, *tail;
};

static size_t ip_hash(const struct kiln_ip *ip)
{
	uint64_t h = 1469598103934665603ull ^ ip->family;

	for (size_t i = 0; i < sizeof(ip->a); i++)
		h = (h ^ ip->a[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

struct kiln_dnsmap *kiln_dnsmap_new(size_t max_entries, uint32_t min_ttl_s, uint32_t max_ttl_s)
{
	struct kiln_dnsmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->max = max_entries ? max_entries : 1;
	m->n_buckets = 16;
	while (m->n_buckets < m->max)
		m->n_buckets *= 2;
	m->buckets = calloc(m->n_buckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		return NULL;
	}
	m->min_ttl = min_ttl_s;
	m->max_ttl = max_ttl_s < min_ttl_s ? min_ttl_s : max_ttl_s;
	return m;
}

static void lru_unlink(struct kiln_dnsmap *m, struct pair *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		m->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		m->tail = p->prev;
	p->prev = p->next = NULL;
}

static void lru_push(struct kiln_dnsmap *m, struct pair *p)
{
	p->prev = NULL;
	p->next = m->head;
	if (m->head)
		m->head->prev = p;
	m->head = p;
	if (!m->tail)
		m->tail = p;
}

static void pair_remove(struct kiln_dnsmap *m, struct pair *p)
{
	struct pair **pp = &m->buckets[ip_hash(&p->ip) & (m->n_buckets - 1)];

	while (*pp != p)
		pp = &(*pp)->chain;
	*pp = p->chain;
	lru_unlink(m, p);
	free(p);
	m->count--;
}

void kiln_dnsmap_free(struct kiln_dnsmap *m)
{
	if (!m)
		return;
	while (m->head) {
		struct pair *p = m->head;

		m->head = p->next;
		free(p);
	}
	free(m->buckets);
	free(m);
}

int kiln_dnsmap_add(struct kiln_dnsmap *m, const struct kiln_ip *ip, const char *name,
		    uint32_t ttl_s, uint64_t now_ms)
{
	size_t b = ip_hash(ip) & (m->n_buckets - 1), len = strlen(name);
	uint32_t ttl = ttl_s < m->min_ttl ? m->min_ttl : ttl_s > m->max_ttl ? m->max_ttl : ttl_s;
	struct pair *p;

	if (len == 0 || len > KILN_NAME_LEN)
		return kiln_err(EINVAL, "dnsmap: bad name length %zu", len);
	for (p = m->buckets[b]; p; p = p->chain)
		if (kiln_ip_equal(&p->ip, ip) && !strcmp(p->name, name))
			break;
	if (!p) {
		if (m->count >= m->max)
			pair_remove(m, m->tail);
		p = calloc(1, sizeof(*p) + len + 1);
		if (!p)
			return kiln_err(ENOMEM, "out of memory");
		p->ip = *ip;
		memcpy(p->name, name, len + 1);
		p->chain = m->buckets[b];
		m->buckets[b] = p;
		m->count++;
	} else {
		lru_unlink(m, p);
	}
	p->expires_ms = now_ms + (uint64_t)ttl * 1000;
	lru_push(m, p);
	return 0;
}

size_t kiln_dnsmap_lookup(struct kiln_dnsmap *m, const struct kiln_ip *ip, uint64_t now_ms,
			  const char **names, size_t max)
{
	struct pair *p = m->buckets[ip_hash(ip) & (m->n_buckets - 1)], *next;
	size_t n = 0;

	for (; p; p = next) {
		next = p->chain;
		if (!kiln_ip_equal(&p->ip, ip))
			continue;
		if (p->expires_ms <= now_ms) {
			pair_remove(m, p);
			continue;
		}
		lru_unlink(m, p);
		lru_push(m, p);
		if (n < max)
			names[n] = p->name;
		n++;
	}
	return n;
}

size_t kiln_dnsmap_count(const struct kiln_dnsmap *m)
{
	return m->count;
}
