/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: egress rules from hostile text, and the decision's invariants over any address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/policy.h"

/*
 * Input: u8 port-ish byte, 4 bytes of IPv4 address, then rule text
 * (NUL- or newline-separated, the first half deny, the rest allow).
 * Properties (issue 10 finding 3): an IPv4 destination and its
 * IPv4-mapped IPv6 form always get the same verdict; an IPv4 address that
 * a deny rule refuses is refused in its NAT64 (64:ff9b::/96) and
 * IPv4-compatible forms too.
 */
#define RULES_MAX 8

static struct kiln_verdict decide(const struct kiln_policy *p, const struct kiln_ip *ip,
				  uint16_t port)
{
	struct kiln_dest d = { .ip = *ip, .port = port };

	return kiln_policy_decide(p, &d);
}

static void v6_form(const uint8_t v4[4], const uint8_t prefix[12], struct kiln_ip *ip)
{
	uint8_t b[16];

	memcpy(b, prefix, 12);
	memcpy(b + 12, v4, 4);
	kiln_ip_from_bytes(ip, 6, b);
}

static void check(const struct kiln_policy *p, const uint8_t v4[4], uint16_t port)
{
	static const uint8_t mapped[12] = { [10] = 0xFF, [11] = 0xFF };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xFF, 0x9B };
	static const uint8_t compat[12];
	struct kiln_ip a, m, n, c;
	struct kiln_verdict va;

	kiln_ip_from_bytes(&a, 4, v4);
	v6_form(v4, mapped, &m);
	v6_form(v4, nat64, &n);
	v6_form(v4, compat, &c);
	va = decide(p, &a, port);
	if (va.allow != decide(p, &m, port).allow)
		abort();
	if (va.why == KILN_WHY_DENY_RULE && decide(p, &n, port).allow)
		abort();
	/* ::0.0.0.0 and ::0.0.0.1 are :: and ::1, not IPv4-compatible addresses */
	if (va.why == KILN_WHY_DENY_RULE && (v4[0] | v4[1] | v4[2] || v4[3] > 1) &&
	    decide(p, &c, port).allow)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *rules[RULES_MAX], *save = NULL;
	struct kiln_policy p;
	size_t n = 0;
	uint16_t port;

	if (size < 5)
		return 0;
	port = (uint16_t)(data[0] % 4 == 0 ? 443 : data[0]);
	text = strndup((const char *)data + 5, size - 5);
	if (!text)
		return 0;
	for (char *t = strtok_r(text, "\n", &save); t && n < RULES_MAX; t = strtok_r(NULL, "\n", &save))
		rules[n++] = t;
	if (kiln_policy_init(&p, (const char *const *)rules + n / 2, n - n / 2,
			     (const char *const *)rules, n / 2) == 0) {
		check(&p, data + 1, port);
		kiln_policy_free(&p);
	}
	free(text);
	return 0;
}
