/* SPDX-License-Identifier: Apache-2.0 */
/* Egress policy from the measured config: allow/deny rules and the decision. */
#ifndef KILN_NET_POLICY_H
#define KILN_NET_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ip.h"
#include "net/name.h"
#include "util/err.h"

/*
 * Rule syntax (one string per rule; port optional, 1..65535, no sign or
 * leading zeros; without a port the rule covers every port):
 *   host.name[:port]        exactly that name (case-insensitive, trailing dot ignored)
 *   *.example.com[:port]    any name with one or more labels before example.com,
 *                           but not example.com itself
 *   1.2.3.4[:port]          one IPv4 address
 *   10.0.0.0/8[:port]       IPv4 prefix; host bits must be zero
 *   [2001:db8::1]:443       IPv6 address or prefix in brackets (port optional);
 *   2001:db8::/32           an unbracketed IPv6 address/prefix takes no port
 * A name rule matches a destination through the names kiln-init's resolver
 * mapped to its IP (dnsmap), or through the name the app asked for when
 * the flow is by name. Deny rules win over allow rules. allow = null means
 * allow everything not denied; an allow list (even empty) means deny
 * everything it does not allow.
 */

enum kiln_rule_kind {
	KILN_RULE_NAME = 1,
	KILN_RULE_WILDCARD = 2,
	KILN_RULE_PREFIX = 3,
};

struct kiln_rule {
	enum kiln_rule_kind kind;
	uint16_t port;			/* 0: any port */
	unsigned bits;			/* PREFIX */
	struct kiln_ip ip;		/* PREFIX */
	char name[KILN_NAME_LEN + 1];	/* NAME: the name; WILDCARD: the suffix */
	char *text;			/* the rule as written in the config */
};

struct kiln_policy {
	bool allow_all;			/* allow list was null */
	struct kiln_rule *allow;
	size_t n_allow;
	struct kiln_rule *deny;
	size_t n_deny;
};

/* A destination: IP and port, plus the host names it is known under. */
struct kiln_dest {
	struct kiln_ip ip;		/* family 0: no IP (flow by name only) */
	uint16_t port;
	const char *const *names;	/* normalised names */
	size_t n_names;
};

enum kiln_verdict_why {
	KILN_WHY_DENY_RULE = 1,		/* a deny rule matched */
	KILN_WHY_ALLOW_RULE = 2,	/* an allow rule matched */
	KILN_WHY_ALLOW_ALL = 3,		/* no allow list */
	KILN_WHY_DEFAULT_DENY = 4,	/* allow list present, nothing matched */
};

struct kiln_verdict {
	bool allow;
	enum kiln_verdict_why why;
	const struct kiln_rule *rule;	/* DENY_RULE / ALLOW_RULE */
	const char *name;		/* the name that matched a name rule, or NULL */
};

/* Parse one rule; the message names the entry. */
int kiln_rule_parse(const char *text, struct kiln_rule *r) KILN_MUST;
/*
 * Build a policy from the config's network.egress object ({allow, deny};
 * NULL or missing members take the defaults: allow null, deny []).
 */
int kiln_policy_from_json(const json_t *egress, struct kiln_policy *p) KILN_MUST;
/* From string arrays; allow == NULL means allow-all. */
int kiln_policy_init(struct kiln_policy *p, const char *const *allow, size_t n_allow,
		     const char *const *deny, size_t n_deny) KILN_MUST;
void kiln_policy_free(struct kiln_policy *p);
struct kiln_verdict kiln_policy_decide(const struct kiln_policy *p, const struct kiln_dest *d);
/* "allowed by rule 'x'", "denied by rule 'y'", "denied: not in the allow list", ... */
void kiln_verdict_describe(const struct kiln_verdict *v, char *buf, size_t len);

#endif
