/* SPDX-License-Identifier: Apache-2.0 */
/* Ingress port mappings: text and JSON forms. */
#include "net/portmap.h"

#include <stdio.h>
#include <string.h>

/* Decimal 1..65535, no sign, no leading zero. */
static int port_parse(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5 || s[0] == '0')
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int host_parse(const char *s, size_t n, struct kiln_ip *ip)
{
	char buf[KILN_IP_STRLEN + 2];

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return kiln_ip_parse(buf, ip) < 0 ? -EINVAL : 0;
}

int kiln_portmap_parse(const char *text, struct kiln_portmap *m)
{
	const char *last = strrchr(text, ':'), *mid;
	struct kiln_portmap r = { 0 };

	if (!last)
		goto bad;
	for (mid = last - 1; mid >= text && *mid != ':'; mid--)
		;
	if (port_parse(last + 1, strlen(last + 1), &r.port) < 0)
		goto bad;
	if (mid < text) {
		if (port_parse(text, (size_t)(last - text), &r.host_port) < 0)
			goto bad;
	} else if (port_parse(mid + 1, (size_t)(last - mid - 1), &r.host_port) < 0 ||
		   host_parse(text, (size_t)(mid - text), &r.host) < 0) {
		goto bad;
	}
	*m = r;
	return 0;
bad:
	return kiln_err(EINVAL, "port mapping \"%s\": expected [HOSTIP:]HOSTPORT:ENCLAVEPORT "
			"with ports 1..65535", text);
}

void kiln_portmap_format(const struct kiln_portmap *m, char *buf, size_t len)
{
	char ip[KILN_IP_STRLEN];

	if (!m->host.family) {
		snprintf(buf, len, "*:%u->%u", m->host_port, m->port);
		return;
	}
	kiln_ip_format(&m->host, ip);
	snprintf(buf, len, m->host.family == 6 ? "[%s]:%u->%u" : "%s:%u->%u", ip, m->host_port,
		 m->port);
}

json_t *kiln_portmap_to_json(const struct kiln_portmap *m)
{
	char ip[KILN_IP_STRLEN];

	if (m->host.family)
		kiln_ip_format(&m->host, ip);
	return json_pack("{s:o,s:i,s:i}", "host_ip", m->host.family ? json_string(ip) : json_null(),
			 "host_port", (int)m->host_port, "port", (int)m->port);
}

int kiln_portmap_from_json(const json_t *j, struct kiln_portmap *m)
{
	const json_t *ip = json_object_get(j, "host_ip");
	json_int_t hp = json_integer_value(json_object_get(j, "host_port"));
	json_int_t p = json_integer_value(json_object_get(j, "port"));
	struct kiln_portmap r = { 0 };

	if (!json_is_object(j) || json_object_size(j) > 3 || hp < 1 || hp > 65535 || p < 1 ||
	    p > 65535)
		return kiln_err(EINVAL, "port mapping: expected {host_ip, host_port, port} with "
				"ports 1..65535");
	if (ip && !json_is_null(ip) &&
	    (!json_is_string(ip) || kiln_ip_parse(json_string_value(ip), &r.host) < 0))
		return kiln_err(EINVAL, "port mapping: host_ip is not an IP address");
	r.host_port = (uint16_t)hp;
	r.port = (uint16_t)p;
	*m = r;
	return 0;
}
