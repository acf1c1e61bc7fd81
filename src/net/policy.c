/* SPDX-License-Identifier: Apache-2.0 */
/* Egress policy: strict rule parsing and the allow/deny decision. */
#include "net/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

/*
 * How this works: the policy is data from the measured config, evaluated
 * inside the enclave for every intercepted TCP flow. Deny rules are tried
 * first, then allow rules; the first match decides and is reported so the
 * log line can name it. Name rules never match an IP directly: they match
 * the names the enclave's own resolver mapped to that IP from answers to
 * queries made inside the enclave (see dnsmap.h).
 *
 * What that guarantees, and what not (docs/networking.md says the same):
 * the parent answers those queries, so it can map an allowed name to any
 * IP; it carries every byte of every flow anyway, so that gives it nothing
 * new. It cannot make an IP allowed without an answer for an allowed name,
 * and IP rules, checked on the address actually connected to, hold against
 * it: a denied IP or prefix is refused whatever name maps to it. A deny
 * rule by name only covers the IPs that name was learnt for, and only if
 * it is among the names the caller passes (kiln-init passes the 8 learnt
 * most recently for the IP, net_egress.c NAMES_MAX); it cannot keep an app
 * from an IP that an allowed name shares, so it is no way to keep a
 * destination out: deny its addresses, or leave it out of the allow list.
 */

#define RULE_TEXT_MAX 300

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s || (s[0] == '0') || strlen(s) > 5)
		return kiln_err(EINVAL, "bad port '%s'", s);
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return kiln_err(EINVAL, "bad port '%s'", s);
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return kiln_err(EINVAL, "port %lu out of range", v);
	*port = (uint16_t)v;
	return 0;
}

static int parse_bits(const char *s, unsigned max, unsigned *bits)
{
	unsigned v = 0;

	if (!*s || strlen(s) > 3 || (s[0] == '0' && s[1]))
		return kiln_err(EINVAL, "bad prefix length '%s'", s);
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return kiln_err(EINVAL, "bad prefix length '%s'", s);
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > max)
		return kiln_err(EINVAL, "prefix length %u exceeds %u", v, max);
	*bits = v;
	return 0;
}

/* "ADDR" or "ADDR/BITS" into a PREFIX rule; want is 4, 6 or 0 (either). */
static int parse_prefix(char *s, int want, struct kiln_rule *r)
{
	char *slash = strchr(s, '/');
	struct kiln_ip masked;
	int rc;

	if (slash)
		*slash = '\0';
	rc = kiln_ip_parse(s, &r->ip);
	if (rc < 0)
		return rc;
	if (want && r->ip.family != want)
		return kiln_err(EINVAL, "expected an IPv%d address", want);
	r->kind = KILN_RULE_PREFIX;
	r->bits = (unsigned)kiln_ip_len(&r->ip) * 8;
	if (slash) {
		rc = parse_bits(slash + 1, r->bits, &r->bits);
		if (rc < 0)
			return rc;
	}
	/* Host bits set is almost always a typo ("10.1.2.3/8"): refuse it. */
	masked = r->ip;
	for (unsigned i = r->bits; i < kiln_ip_len(&r->ip) * 8; i++)
		masked.a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	if (!kiln_ip_equal(&masked, &r->ip))
		return kiln_err(EINVAL, "host bits set after the /%u prefix", r->bits);
	/* Destinations are compared unmapped (kiln_policy_decide), so must rules be. */
	if (r->bits >= 96 && kiln_ip_unmap(&r->ip))
		r->bits -= 96;
	return 0;
}

static bool all_digits_and_dots(const char *s)
{
	return strspn(s, "0123456789.") == strlen(s);
}

static int parse_host(char *s, struct kiln_rule *r)
{
	const char *last;
	int rc;

	if (strchr(s, '/') || all_digits_and_dots(s))
		return parse_prefix(s, 4, r);
	r->kind = KILN_RULE_NAME;
	if (!strncmp(s, "*.", 2)) {
		r->kind = KILN_RULE_WILDCARD;
		s += 2;
	}
	if (strchr(s, '*'))
		return kiln_err(EINVAL, "'*' is allowed only as the whole first label");
	rc = kiln_name_norm(s, strlen(s), r->name);
	if (rc < 0)
		return rc;
	last = strrchr(r->name, '.');
	last = last ? last + 1 : r->name;
	if (strspn(last, "0123456789") == strlen(last))
		return kiln_err(EINVAL, "all-numeric top-level label");
	return 0;
}

static int parse_rule(char *s, struct kiln_rule *r)
{
	char *colon, *close;
	int rc;

	if (s[0] == '[') {
		close = strchr(s, ']');
		if (!close)
			return kiln_err(EINVAL, "missing ']'");
		*close = '\0';
		if (close[1] && close[1] != ':')
			return kiln_err(EINVAL, "expected ':PORT' after ']'");
		if (close[1]) {
			rc = parse_port(close + 2, &r->port);
			if (rc < 0)
				return rc;
		}
		return parse_prefix(s + 1, 6, r);
	}
	colon = strchr(s, ':');
	if (colon && strchr(colon + 1, ':'))
		return parse_prefix(s, 6, r); /* bare IPv6, no port */
	if (colon) {
		*colon = '\0';
		rc = parse_port(colon + 1, &r->port);
		if (rc < 0)
			return rc;
	}
	return parse_host(s, r);
}

int kiln_rule_parse(const char *text, struct kiln_rule *r)
{
	char buf[RULE_TEXT_MAX + 1];
	int rc;

	memset(r, 0, sizeof(*r));
	if (!*text)
		return kiln_err(EINVAL, "egress rule '': empty rule");
	if (strlen(text) > RULE_TEXT_MAX)
		return kiln_err(EINVAL, "egress rule longer than %d bytes", RULE_TEXT_MAX);
	strcpy(buf, text);
	rc = parse_rule(buf, r);
	if (rc < 0)
		return kiln_err_wrap(rc, "egress rule '%s'", text);
	r->text = strdup(text);
	if (!r->text)
		return kiln_err(ENOMEM, "out of memory");
	return 0;
}

static void rules_free(struct kiln_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rules[i].text);
	free(rules);
}

static int rules_parse(const char *list, const char *const *text, size_t n,
		       struct kiln_rule **out)
{
	struct kiln_rule *rules = calloc(n ? n : 1, sizeof(*rules));
	int rc;

	if (!rules)
		return kiln_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		rc = kiln_rule_parse(text[i], &rules[i]);
		if (rc < 0) {
			rules_free(rules, i);
			return kiln_err_wrap(rc, "network.egress.%s[%zu]", list, i);
		}
	}
	*out = rules;
	return 0;
}

int kiln_policy_init(struct kiln_policy *p, const char *const *allow, size_t n_allow,
		     const char *const *deny, size_t n_deny)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->allow_all = allow == NULL;
	rc = rules_parse("allow", allow, allow ? n_allow : 0, &p->allow);
	if (rc < 0)
		return rc;
	p->n_allow = allow ? n_allow : 0;
	rc = rules_parse("deny", deny, n_deny, &p->deny);
	if (rc < 0) {
		kiln_policy_free(p);
		return rc;
	}
	p->n_deny = n_deny;
	return 0;
}

/* Borrow the strings of a JSON array (NULL when v is null or missing). */
static int json_strings(const json_t *v, const char *list, const char ***out, size_t *n)
{
	size_t i;
	json_t *e;

	*out = NULL;
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return kiln_err(EINVAL, "network.egress.%s: expected an array of strings", list);
	*n = json_array_size(v);
	*out = calloc(*n ? *n : 1, sizeof(**out));
	if (!*out)
		return kiln_err(ENOMEM, "out of memory");
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			free(*out);
			*out = NULL;
			return kiln_err(EINVAL, "network.egress.%s[%zu]: expected a string", list, i);
		}
		(*out)[i] = json_string_value(e);
	}
	return 0;
}

int kiln_policy_from_json(const json_t *egress, struct kiln_policy *p)
{
	_cleanup_free_ const char **allow = NULL;
	_cleanup_free_ const char **deny = NULL;
	size_t n_allow, n_deny;
	int rc;

	if (egress && !json_is_object(egress))
		return kiln_err(EINVAL, "network.egress: expected an object");
	rc = json_strings(egress ? json_object_get(egress, "allow") : NULL, "allow", &allow,
			  &n_allow);
	if (rc < 0)
		return rc;
	rc = json_strings(egress ? json_object_get(egress, "deny") : NULL, "deny", &deny, &n_deny);
	if (rc < 0)
		return rc;
	return kiln_policy_init(p, allow, n_allow, deny, n_deny);
}

void kiln_policy_free(struct kiln_policy *p)
{
	rules_free(p->allow, p->n_allow);
	rules_free(p->deny, p->n_deny);
	memset(p, 0, sizeof(*p));
}

/* 1 when r matches d; *name gets the matching name for name rules. */
static bool rule_match(const struct kiln_rule *r, const struct kiln_dest *d, const char **name)
{
	if (r->port && r->port != d->port)
		return false;
	switch (r->kind) {
	case KILN_RULE_PREFIX:
		return d->ip.family && kiln_ip_in_prefix(&d->ip, &r->ip, r->bits);
	case KILN_RULE_NAME:
	case KILN_RULE_WILDCARD:
		for (size_t i = 0; i < d->n_names; i++) {
			const char *n = d->names[i];
			bool hit = r->kind == KILN_RULE_NAME
					   ? !strcmp(n, r->name)
					   : strcmp(n, r->name) && kiln_name_is_subdomain(n, r->name);
			if (hit) {
				*name = n;
				return true;
			}
		}
		return false;
	default:
		return false;
	}
}

static const struct kiln_rule *first_match(const struct kiln_rule *rules, size_t n,
					   const struct kiln_dest *d, const char **name)
{
	for (size_t i = 0; i < n; i++)
		if (rule_match(&rules[i], d, name))
			return &rules[i];
	return NULL;
}

/*
 * Deny rules see the address as the kernel will send it (IPv4-mapped IPv6
 * is IPv4) and, for IPv6 forms that a NAT64 or a legacy stack turns into
 * IPv4, also the embedded IPv4 address: a deny of 10.0.0.0/8 must not be
 * passed by writing 10.1.2.3 another way. Allow rules see the unmapped
 * address only, so an embedded form is never allowed by an IPv4 rule.
 */
static const struct kiln_rule *denied_by(const struct kiln_policy *p, struct kiln_dest *d,
					 const char **name)
{
	struct kiln_dest v4 = *d;
	const struct kiln_rule *r = first_match(p->deny, p->n_deny, d, name);

	if (r || !kiln_ip_embedded_v4(&d->ip, &v4.ip))
		return r;
	return first_match(p->deny, p->n_deny, &v4, name);
}

struct kiln_verdict kiln_policy_decide(const struct kiln_policy *p, const struct kiln_dest *dest)
{
	struct kiln_verdict v = { 0 };
	struct kiln_dest nd = *dest, *d = &nd;

	kiln_ip_unmap(&nd.ip);
	v.rule = denied_by(p, d, &v.name);
	if (v.rule) {
		v.why = KILN_WHY_DENY_RULE;
		return v;
	}
	if (p->allow_all) {
		v.allow = true;
		v.why = KILN_WHY_ALLOW_ALL;
		return v;
	}
	v.rule = first_match(p->allow, p->n_allow, d, &v.name);
	v.allow = v.rule != NULL;
	v.why = v.rule ? KILN_WHY_ALLOW_RULE : KILN_WHY_DEFAULT_DENY;
	return v;
}

void kiln_verdict_describe(const struct kiln_verdict *v, char *buf, size_t len)
{
	const char *via = v->name ? " via name " : "";
	const char *name = v->name ? v->name : "";

	switch (v->why) {
	case KILN_WHY_DENY_RULE:
		snprintf(buf, len, "denied by rule '%s'%s%s", v->rule->text, via, name);
		break;
	case KILN_WHY_ALLOW_RULE:
		snprintf(buf, len, "allowed by rule '%s'%s%s", v->rule->text, via, name);
		break;
	case KILN_WHY_ALLOW_ALL:
		snprintf(buf, len, "allowed (no allow list)");
		break;
	case KILN_WHY_DEFAULT_DENY:
		snprintf(buf, len, "denied: no allow rule matches");
		break;
	default:
		snprintf(buf, len, "?");
		break;
	}
}
