/* SPDX-License-Identifier: Apache-2.0 */
/* The enclave ports ingress admits: network.ingress, else ExposedPorts, never kiln-init's own. */
#include "init/admit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init/attest.h"
#include "init/net.h"

/* The port of attestation_api.listen ("IP:PORT", "[IP6]:PORT"); 0 when unreadable. */
static uint16_t attest_port(const json_t *cfg)
{
	const char *s = json_string_value(
		json_object_get(json_object_get(cfg, "attestation_api"), "listen"));
	const char *colon;
	char *end;
	unsigned long v;

	if (!s || !*s)
		s = KILN_INIT_ATTEST_LISTEN;
	colon = strrchr(s, ':');
	if (!colon || colon[1] < '0' || colon[1] > '9')
		return 0;
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	return errno || *end || v > 65535 ? 0 : (uint16_t)v;
}

const char *kiln_admit_reserved(const json_t *cfg, uint16_t port)
{
	if (port == KILN_DNS_PORT)
		return "kiln-init's DNS resolver";
	if (port == KILN_EGRESS_PORT)
		return "kiln-init's egress listener";
	if (port == attest_port(cfg))
		return "kiln-init's attestation API (attestation_api.listen)";
	return NULL;
}

static int add(struct kiln_admit *a, size_t cap, uint16_t port, bool proxy)
{
	if (kiln_admit_find(a, port))
		return 0;
	if (a->n == cap)
		return kiln_err(E2BIG, "too many ingress ports");
	a->ports[a->n++] = (struct kiln_admit_port){ .port = port, .proxy_protocol = proxy };
	return 0;
}

/* One list: network.ingress objects {port, proxy_protocol} or ExposedPorts ints. */
static int read_list(const json_t *cfg, const json_t *arr, bool objects, struct kiln_admit *a,
		     void (*dropped)(void *, uint16_t, const char *), void *ctx)
{
	size_t cap = json_array_size(arr), i;
	const char *what = objects ? "network.ingress" : "exposed_ports";
	json_t *v;

	a->ports = calloc(cap + 1, sizeof(*a->ports));
	if (!a->ports)
		return kiln_err(ENOMEM, "out of memory");
	json_array_foreach(arr, i, v) {
		const json_t *p = objects ? json_object_get(v, "port") : v;
		json_int_t port = json_integer_value(p);
		const char *owner;
		int rc;

		if (!json_is_integer(p) || port < 1 || port > 65535)
			return kiln_err(EINVAL, "%s[%zu]: expected a port in 1..65535", what, i);
		owner = kiln_admit_reserved(cfg, (uint16_t)port);
		if (owner) {
			if (dropped)
				dropped(ctx, (uint16_t)port, owner);
			continue;
		}
		rc = add(a, cap, (uint16_t)port,
			 objects && json_is_true(json_object_get(v, "proxy_protocol")));
		if (rc < 0)
			return rc;
	}
	return 0;
}

int kiln_admit_from_json(const json_t *cfg, const json_t *exposed, struct kiln_admit *a,
			 void (*dropped)(void *ctx, uint16_t port, const char *owner), void *ctx)
{
	const json_t *ingress = json_object_get(json_object_get(cfg, "network"), "ingress");
	int rc;

	memset(a, 0, sizeof(*a));
	a->source = "nothing";
	if (ingress && !json_is_null(ingress) && !json_is_array(ingress))
		return kiln_err(EINVAL, "network.ingress: expected a list");
	if (exposed && !json_is_null(exposed) && !json_is_array(exposed))
		return kiln_err(EINVAL, "exposed_ports: expected a list");
	/* A non-empty network.ingress replaces the image's ports, as a Docker -p list would. */
	if (json_array_size(ingress)) {
		a->source = "network.ingress";
		rc = read_list(cfg, ingress, true, a, dropped, ctx);
	} else {
		a->source = json_array_size(exposed) ? "the image's ExposedPorts" : "nothing";
		rc = read_list(cfg, exposed, false, a, dropped, ctx);
	}
	if (rc < 0)
		kiln_admit_free(a);
	return rc;
}

const struct kiln_admit_port *kiln_admit_find(const struct kiln_admit *a, uint16_t port)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->ports[i].port == port)
			return &a->ports[i];
	return NULL;
}

/* Append a port (text NULL) or " (text)"; returns the length it would have, >= len: cut. */
static size_t put(char *buf, size_t len, size_t used, uint16_t port, const char *text)
{
	int n;

	if (used >= len)
		return used;
	n = text ? snprintf(buf + used, len - used, " (%s)", text) :
		   snprintf(buf + used, len - used, "%s%u", used ? ", " : "", port);
	return used + (n > 0 ? (size_t)n : 0);
}

void kiln_admit_format(const struct kiln_admit *a, char *buf, size_t len)
{
	size_t used = 0;

	if (len < 5)
		return;
	snprintf(buf, len, "none");
	for (size_t i = 0; i < a->n; i++)
		used = put(buf, len, used, a->ports[i].port, NULL);
	if (a->n)
		used = put(buf, len, used, 0, a->source);
	if (used >= len)
		memcpy(buf + len - 4, "...", 4);
}

void kiln_admit_free(struct kiln_admit *a)
{
	free(a->ports);
	a->ports = NULL;
	a->n = 0;
}

int kiln_admit_check_config(const json_t *cfg)
{
	const json_t *ingress = json_object_get(json_object_get(cfg, "network"), "ingress");
	size_t i;
	json_t *v;

	json_array_foreach(ingress, i, v) {
		json_int_t port = json_integer_value(json_object_get(v, "port"));
		const char *owner = port > 0 && port <= 65535 ?
					    kiln_admit_reserved(cfg, (uint16_t)port) : NULL;

		if (owner)
			return kiln_err(EINVAL, "network.ingress[%zu].port: %lld is %s; ingress "
					"never reaches kiln-init's own services", i,
					(long long)port, owner);
	}
	return 0;
}
