/* SPDX-License-Identifier: Apache-2.0 */
/* IP -> host names learnt from relayed DNS answers, with TTL expiry and LRU bound. */
#ifndef KILN_NET_DNSMAP_H
#define KILN_NET_DNSMAP_H

#include <stddef.h>
#include <stdint.h>

#include "net/ip.h"
#include "util/err.h"

/*
 * One entry per (IP, name) pair. Entries live for the answer's TTL clamped
 * to [min_ttl_s, max_ttl_s] (a floor, because apps connect after a TTL of 0
 * or reuse an address a little after expiry); the map holds at most
 * max_entries pairs and evicts the least recently used (added or looked up)
 * pair when full. Times are milliseconds from a monotonic clock.
 */
struct kiln_dnsmap;

struct kiln_dnsmap *kiln_dnsmap_new(size_t max_entries, uint32_t min_ttl_s, uint32_t max_ttl_s);
void kiln_dnsmap_free(struct kiln_dnsmap *m);
/* Add or refresh (ip, name); name must be normalised (net/name.h). */
int kiln_dnsmap_add(struct kiln_dnsmap *m, const struct kiln_ip *ip, const char *name,
		    uint32_t ttl_s, uint64_t now_ms) KILN_MUST;
/*
 * Fill names[0..max) with the live names of ip (in no set order) and
 * return how many there are (may exceed max). The pointers stay valid until
 * the next add or lookup.
 */
size_t kiln_dnsmap_lookup(struct kiln_dnsmap *m, const struct kiln_ip *ip, uint64_t now_ms,
			  const char **names, size_t max);
/* Number of pairs held (live or not yet reaped). */
size_t kiln_dnsmap_count(const struct kiln_dnsmap *m);

#endif
