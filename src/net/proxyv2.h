/* SPDX-License-Identifier: Apache-2.0 */
/* PROXY protocol v2 header (haproxy proxy-protocol.txt section 2.2) for ingress flows. */
#ifndef KILN_NET_PROXYV2_H
#define KILN_NET_PROXYV2_H

#include <stddef.h>
#include <stdint.h>

#include "net/ip.h"
#include "util/err.h"

#define KILN_PROXYV2_MAX (16 + 36)

/*
 * Build the header that precedes the client's bytes on the connection to
 * the app: 12-byte signature, 0x21 (version 2, PROXY), family/transport
 * 0x11 (TCP over IPv4) or 0x21 (TCP over IPv6), u16 address length (12 or
 * 36), then source address, destination address, source port, destination
 * port, all in network order. When the families differ the IPv4 one is
 * written as an IPv4-mapped IPv6 address. src == NULL builds a LOCAL
 * header (0x20, AF_UNSPEC, length 0): the receiver keeps the real endpoints.
 */
int kiln_proxyv2_build(const struct kiln_ip *src, uint16_t sport, const struct kiln_ip *dst,
		       uint16_t dport, uint8_t *out, size_t cap, size_t *len) KILN_MUST;

#endif
