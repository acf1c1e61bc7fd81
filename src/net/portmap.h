/* SPDX-License-Identifier: Apache-2.0 */
/* Ingress port mappings: `kiln run -p [HOSTIP:]HOSTPORT:ENCLAVEPORT` and their JSON form. */
#ifndef KILN_NET_PORTMAP_H
#define KILN_NET_PORTMAP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ip.h"
#include "util/err.h"

#define KILN_PORTMAP_MAX 64 /* mappings per enclave */

/*
 * One parent-side listener forwarded to an enclave port. host.family 0
 * means every address (0.0.0.0 and, where available, [::]).
 * Text: "8080:80", "127.0.0.1:8080:80", "[::1]:8080:80".
 * JSON (register request, state file): {"host_ip": "127.0.0.1" | null,
 * "host_port": 8080, "port": 80}.
 */
struct kiln_portmap {
	struct kiln_ip host;
	uint16_t host_port;
	uint16_t port;
};

int kiln_portmap_parse(const char *text, struct kiln_portmap *m) KILN_MUST;
/* "127.0.0.1:8080->80" style, for messages. */
void kiln_portmap_format(const struct kiln_portmap *m, char *buf, size_t len);
json_t *kiln_portmap_to_json(const struct kiln_portmap *m);
int kiln_portmap_from_json(const json_t *j, struct kiln_portmap *m) KILN_MUST;

#endif
