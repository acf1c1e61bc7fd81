/* SPDX-License-Identifier: Apache-2.0 */
/* The enclave ports ingress admits, decided from the measured config only. */
#ifndef KILN_INIT_ADMIT_H
#define KILN_INIT_ADMIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * How this works: the parent chooses which enclave port each ingress flow
 * asks for, so the choice of ports it may ask for is made from measured
 * config (PCR2) alone: network.ingress when it lists ports, else the
 * image's tcp ExposedPorts, which kiln build records as "exposed_ports"
 * next to the config in /.kiln/config.json. No ports: no ingress at all.
 * kiln-init's own ports (the attestation API's, DNS 53, the egress
 * listener 15001) are never admitted, whatever the lists say: kiln build
 * refuses a network.ingress naming one, and kiln-init drops them from a
 * hand-made config or an image's ExposedPorts. The same function serves
 * kiln-init (the rule), kiln build (the refusal) and kiln run (the early
 * -p check, from the EIF's unmeasured metadata copy of the same inputs: a
 * lie there only changes which -p the CLI lets through, never what the
 * enclave admits).
 */

struct kiln_admit_port {
	uint16_t port;
	bool proxy_protocol;
};

struct kiln_admit {
	struct kiln_admit_port *ports;
	size_t n;
	const char *source;	/* "network.ingress", "the image's ExposedPorts", "nothing" */
};

/* Which of kiln-init's services owns port under config cfg; NULL: none. */
const char *kiln_admit_reserved(const json_t *cfg, uint16_t port);

/*
 * The admitted ports from the config (the "config" object of
 * /.kiln/config.json) and the recorded ExposedPorts (an array of ints or
 * NULL). Reserved ports are dropped (dropped(ctx, port, owner) is told
 * about each, may be NULL). Malformed entries are an error.
 */
int kiln_admit_from_json(const json_t *cfg, const json_t *exposed, struct kiln_admit *a,
			 void (*dropped)(void *ctx, uint16_t port, const char *owner),
			 void *ctx) KILN_MUST;
const struct kiln_admit_port *kiln_admit_find(const struct kiln_admit *a, uint16_t port);
/* "8080, 9001 (network.ingress)" or "none"; cut to len (at least 5) with "...". */
void kiln_admit_format(const struct kiln_admit *a, char *buf, size_t len);
void kiln_admit_free(struct kiln_admit *a);

/* kiln build: refuse a network.ingress that names a reserved port. */
int kiln_admit_check_config(const json_t *cfg) KILN_MUST;

#endif
