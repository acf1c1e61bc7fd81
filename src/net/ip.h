/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4/IPv6 addresses as one small value type: parse, format, prefix match. */
#ifndef KILN_NET_IP_H
#define KILN_NET_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define KILN_IP_STRLEN 46 /* INET6_ADDRSTRLEN */

/* family is 4 or 6; IPv4 uses a[0..3], the rest stays zero. */
struct kiln_ip {
	uint8_t family;
	uint8_t a[16];
};

/* Strict dotted quad or RFC 4291 text (no brackets, no zone); -EINVAL otherwise. */
int kiln_ip_parse(const char *s, struct kiln_ip *ip) KILN_MUST;
/* Canonical text ("10.0.0.1", "2001:db8::1"); buf of KILN_IP_STRLEN bytes. */
void kiln_ip_format(const struct kiln_ip *ip, char buf[KILN_IP_STRLEN]);
/* From 4 or 16 raw network-order bytes. */
void kiln_ip_from_bytes(struct kiln_ip *ip, int family, const uint8_t *bytes);
bool kiln_ip_equal(const struct kiln_ip *x, const struct kiln_ip *y);
/* True when ip lies in prefix/bits (same family only). */
bool kiln_ip_in_prefix(const struct kiln_ip *ip, const struct kiln_ip *prefix, unsigned bits);
/*
 * ::ffff:a.b.c.d (IPv4-mapped) becomes a.b.c.d: a dual-stack socket sends
 * it as IPv4, so policy must see it as IPv4. True when ip was changed.
 */
bool kiln_ip_unmap(struct kiln_ip *ip);
/*
 * The IPv4 address embedded in an IPv6 form that a network may translate
 * to IPv4: the NAT64 well-known prefix 64:ff9b::/96 (RFC 6052; AWS NAT
 * gateways use it) and the deprecated IPv4-compatible ::/96 other than ::
 * and ::1. True and *v4 set when ip is one of them. Operator-chosen NAT64
 * prefixes (64:ff9b:1::/48 and others) cannot be recognised here.
 */
bool kiln_ip_embedded_v4(const struct kiln_ip *ip, struct kiln_ip *v4);
/* Length of the address in bytes: 4 or 16. */
static inline size_t kiln_ip_len(const struct kiln_ip *ip)
{
	return ip->family == 4 ? 4 : 16;
}

#endif
