/* SPDX-License-Identifier: Apache-2.0 */
/* Per-flow headers on the egress (7001) and ingress (7100) channels. */
#ifndef KILN_NET_EGRESS_HDR_H
#define KILN_NET_EGRESS_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ip.h"
#include "net/name.h"
#include "util/err.h"

/*
 * Egress request, enclave -> parent, first bytes of each 7001 connection:
 *   u8 version (1) | u8 family (4, 6, 0 = by name) | u16 port (1..65535)
 *   | u8 addr_len | u8 hint_len | addr_len bytes | hint_len bytes
 * addr is 4 bytes (family 4), 16 (family 6) or a host name of 1..253
 * bytes (family 0); hint is an optional host name (0..253 bytes) the
 * enclave resolved the address from, for the parent's log and policy; it
 * must be empty when family is 0. Names are normalised (lowercase, no
 * trailing dot) on both sides. All integers big-endian.
 *
 * Reply, parent -> enclave, 4 bytes: u8 version (1) | u8 status | u16 0.
 * After an OK reply the connection carries raw bytes both ways; any other
 * status is followed by close.
 *
 * Ingress header, parent -> enclave, first bytes of each 7100 connection:
 *   u8 version (1) | u16 enclave port (1..65535) | u8 client family (0, 4, 6)
 *   | [client address 4 or 16 bytes | u16 client port]   (family 4 / 6 only)
 *
 * Decoders return 1 with *used set when a whole header is present, 0 when
 * more bytes are needed, and a negative errno for a malformed header (the
 * receiver closes that flow). Bytes after the header are the stream's.
 */
#define KILN_NETHDR_VERSION 1
#define KILN_EGRESS_REQ_FIXED 6
#define KILN_EGRESS_REQ_MAX (KILN_EGRESS_REQ_FIXED + 2 * KILN_NAME_LEN)
#define KILN_EGRESS_REPLY_LEN 4
#define KILN_INGRESS_HDR_MAX 22

enum kiln_egress_family {
	KILN_EGRESS_BY_NAME = 0,
	KILN_EGRESS_IPV4 = 4,
	KILN_EGRESS_IPV6 = 6,
};

enum kiln_egress_status {
	KILN_EGRESS_OK = 0,
	KILN_EGRESS_REFUSED = 1,
	KILN_EGRESS_UNREACHABLE = 2,
	KILN_EGRESS_DENIED = 3,		/* by the parent's own policy */
	KILN_EGRESS_TIMEOUT = 4,
	KILN_EGRESS_BAD_REQUEST = 5,
};

struct kiln_egress_req {
	uint8_t family;			/* enum kiln_egress_family */
	uint16_t port;
	struct kiln_ip ip;		/* family 4 / 6 */
	char name[KILN_NAME_LEN + 1];	/* family 0 */
	char hint[KILN_NAME_LEN + 1];	/* "" = none */
};

struct kiln_ingress_hdr {
	uint16_t port;			/* the enclave port to connect to */
	bool has_client;
	struct kiln_ip client;		/* has_client */
	uint16_t client_port;		/* has_client */
};

int kiln_egress_req_encode(const struct kiln_egress_req *r, uint8_t *out, size_t cap,
			   size_t *len) KILN_MUST;
int kiln_egress_req_decode(const uint8_t *buf, size_t len, struct kiln_egress_req *r,
			   size_t *used) KILN_MUST;
int kiln_egress_reply_encode(uint8_t status, uint8_t *out, size_t cap, size_t *len) KILN_MUST;
int kiln_egress_reply_decode(const uint8_t *buf, size_t len, uint8_t *status,
			     size_t *used) KILN_MUST;
/* "ok", "connection refused", ... ; "?" for unknown values. */
const char *kiln_egress_status_str(unsigned status);

int kiln_ingress_hdr_encode(const struct kiln_ingress_hdr *h, uint8_t *out, size_t cap,
			    size_t *len) KILN_MUST;
int kiln_ingress_hdr_decode(const uint8_t *buf, size_t len, struct kiln_ingress_hdr *h,
			    size_t *used) KILN_MUST;

#endif
