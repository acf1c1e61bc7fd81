/* SPDX-License-Identifier: Apache-2.0 */
/* Egress policy rules, decisions and the IP -> names map. */
#include "t.h"

#include <jansson.h>

#include "net/dnsmap.h"
#include "net/policy.h"

static int rule_ok(const char *text, enum kiln_rule_kind kind, const char *name, uint16_t port)
{
	struct kiln_rule r;
	int ok;

	if (kiln_rule_parse(text, &r) < 0)
		return 0;
	ok = r.kind == kind && r.port == port && (!name || !strcmp(r.name, name));
	free(r.text);
	return ok;
}

static int rule_bad(const char *text, const char *msg)
{
	struct kiln_rule r;
	int rc = kiln_rule_parse(text, &r);

	if (rc == 0) {
		free(r.text);
		fprintf(stderr, "  accepted bad rule '%s'\n", text);
		return 0;
	}
	if (!strstr(kiln_errmsg(), msg) || !strstr(kiln_errmsg(), text)) {
		fprintf(stderr, "  rule '%s': message '%s' lacks '%s'\n", text, kiln_errmsg(), msg);
		return 0;
	}
	return 1;
}

TEST(rule_parse)
{
	CHECK(rule_ok("kms.us-east-1.amazonaws.com:443", KILN_RULE_NAME,
		      "kms.us-east-1.amazonaws.com", 443));
	CHECK(rule_ok("Example.COM.", KILN_RULE_NAME, "example.com", 0));
	CHECK(rule_ok("*.example.com", KILN_RULE_WILDCARD, "example.com", 0));
	CHECK(rule_ok("*.Example.com.:8443", KILN_RULE_WILDCARD, "example.com", 8443));
	CHECK(rule_ok("localhost", KILN_RULE_NAME, "localhost", 0));
	CHECK(rule_ok("_svc.example.com", KILN_RULE_NAME, "_svc.example.com", 0));
	CHECK(rule_ok("10.0.0.0/8", KILN_RULE_PREFIX, NULL, 0));
	CHECK(rule_ok("169.254.169.254:80", KILN_RULE_PREFIX, NULL, 80));
	CHECK(rule_ok("0.0.0.0/0:53", KILN_RULE_PREFIX, NULL, 53));
	CHECK(rule_ok("[2001:db8::/32]:443", KILN_RULE_PREFIX, NULL, 443));
	CHECK(rule_ok("[2001:db8::1]", KILN_RULE_PREFIX, NULL, 0));
	CHECK(rule_ok("2001:db8::/32", KILN_RULE_PREFIX, NULL, 0));
	CHECK(rule_ok("::1", KILN_RULE_PREFIX, NULL, 0));
	CHECK(rule_ok("host:65535", KILN_RULE_NAME, "host", 65535));

	CHECK(rule_bad("", "empty rule"));
	CHECK(rule_bad("example.com:0", "bad port"));
	CHECK(rule_bad("example.com:080", "bad port"));
	CHECK(rule_bad("example.com:65536", "out of range"));
	CHECK(rule_bad("example.com:", "bad port"));
	CHECK(rule_bad("example.com:http", "bad port"));
	CHECK(rule_bad("*", "'*' is allowed only"));
	CHECK(rule_bad("*.", "empty host name"));
	CHECK(rule_bad("a.*.example.com", "'*' is allowed only"));
	CHECK(rule_bad("*example.com", "'*' is allowed only"));
	CHECK(rule_bad("ex ample.com", "invalid character"));
	CHECK(rule_bad("a..b", "empty label"));
	CHECK(rule_bad("1.2.3", "not an IPv4 address"));
	CHECK(rule_bad("256.1.1.1", "not an IPv4 address"));
	CHECK(rule_bad("10.1.2.3/8", "host bits set"));
	CHECK(rule_bad("10.0.0.0/33", "exceeds 32"));
	CHECK(rule_bad("10.0.0.0/08", "bad prefix length"));
	CHECK(rule_bad("10.0.0.0/", "bad prefix length"));
	CHECK(rule_bad("[10.0.0.1]:80", "IPv6 address"));
	CHECK(rule_bad("[2001:db8::1", "missing ']'"));
	CHECK(rule_bad("[2001:db8::1]443", "expected ':PORT'"));
	CHECK(rule_bad("[2001:db8::/129]", "exceeds 128"));
	CHECK(rule_bad("2001:db8::1:443x", "not an IPv6 address"));
	CHECK(rule_bad("example.123", "all-numeric"));
	CHECK(rule_bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
		       "longer than 63"));
}

static struct kiln_verdict decide(const struct kiln_policy *p, const char *ip, uint16_t port,
				  const char *n1, const char *n2)
{
	const char *names[2] = { n1, n2 };
	struct kiln_dest d = { .port = port, .names = names, .n_names = n2 ? 2 : n1 ? 1 : 0 };

	if (ip && kiln_ip_parse(ip, &d.ip) < 0)
		abort();
	return kiln_policy_decide(p, &d);
}

TEST(decisions)
{
	const char *allow[] = { "kms.us-east-1.amazonaws.com:443", "*.example.com", "10.0.0.0/8",
				"169.254.169.254:80", "[2001:db8::/32]:443" };
	const char *deny[] = { "bad.example.com", "10.9.0.0/16", "*.evil.example.com:443" };
	struct kiln_policy p;
	struct kiln_verdict v;
	char why[256];

	CHECK(kiln_policy_init(&p, allow, 5, deny, 3) == 0);
	v = decide(&p, "52.1.2.3", 443, "kms.us-east-1.amazonaws.com", NULL);
	CHECK(v.allow && v.why == KILN_WHY_ALLOW_RULE && v.rule == &p.allow[0]);
	kiln_verdict_describe(&v, why, sizeof(why));
	CHECK(!strcmp(why, "allowed by rule 'kms.us-east-1.amazonaws.com:443' via name "
			   "kms.us-east-1.amazonaws.com"));
	CHECK(!decide(&p, "52.1.2.3", 80, "kms.us-east-1.amazonaws.com", NULL).allow);
	v = decide(&p, "52.1.2.3", 443, NULL, NULL);
	CHECK(!v.allow && v.why == KILN_WHY_DEFAULT_DENY);
	kiln_verdict_describe(&v, why, sizeof(why));
	CHECK(!strcmp(why, "denied: no allow rule matches"));
	/* wildcard: subdomains at any depth, not the apex */
	CHECK(decide(&p, "1.1.1.1", 1, "a.example.com", NULL).allow);
	CHECK(decide(&p, "1.1.1.1", 1, "a.b.c.example.com", NULL).allow);
	CHECK(!decide(&p, "1.1.1.1", 1, "example.com", NULL).allow);
	CHECK(!decide(&p, "1.1.1.1", 1, "notexample.com", NULL).allow);
	/* deny wins, on names and on prefixes, with ports */
	v = decide(&p, "1.1.1.1", 1, "bad.example.com", NULL);
	CHECK(!v.allow && v.why == KILN_WHY_DENY_RULE && v.rule == &p.deny[0]);
	CHECK(!decide(&p, "1.1.1.1", 443, "x.evil.example.com", NULL).allow);
	CHECK(decide(&p, "1.1.1.1", 80, "x.evil.example.com", NULL).allow);
	CHECK(!decide(&p, "1.1.1.1", 1, "ok.example.com", "bad.example.com").allow);
	CHECK(decide(&p, "10.1.2.3", 5432, NULL, NULL).allow);
	v = decide(&p, "10.9.1.1", 5432, NULL, NULL);
	CHECK(!v.allow && v.rule == &p.deny[1]);
	kiln_verdict_describe(&v, why, sizeof(why));
	CHECK(!strcmp(why, "denied by rule '10.9.0.0/16'"));
	CHECK(decide(&p, "169.254.169.254", 80, NULL, NULL).allow);
	CHECK(!decide(&p, "169.254.169.254", 81, NULL, NULL).allow);
	CHECK(decide(&p, "2001:db8:1::5", 443, NULL, NULL).allow);
	CHECK(!decide(&p, "2001:db9::5", 443, NULL, NULL).allow);
	/* IPv4-mapped IPv6 is the IPv4 flow it becomes on a dual-stack socket */
	CHECK(decide(&p, "::ffff:10.1.2.3", 443, NULL, NULL).allow);
	CHECK(!decide(&p, "::ffff:10.9.1.1", 443, NULL, NULL).allow);
	/* flows by name only (no IP) */
	CHECK(decide(&p, NULL, 443, "kms.us-east-1.amazonaws.com", NULL).allow);
	kiln_policy_free(&p);

	/* allow null: allow all but deny */
	CHECK(kiln_policy_init(&p, NULL, 0, deny, 3) == 0);
	v = decide(&p, "8.8.8.8", 53, NULL, NULL);
	CHECK(v.allow && v.why == KILN_WHY_ALLOW_ALL);
	CHECK(!decide(&p, "10.9.9.9", 53, NULL, NULL).allow);
	kiln_policy_free(&p);
	/* allow []: deny all */
	CHECK(kiln_policy_init(&p, allow, 0, NULL, 0) == 0);
	CHECK(!decide(&p, "8.8.8.8", 53, "a.example.com", NULL).allow);
	kiln_policy_free(&p);
}

TEST(from_json)
{
	struct kiln_policy p;
	json_t *j;

	j = json_loads("{\"allow\":[\"*.example.com\",\"10.0.0.0/8\"],\"deny\":[]}", 0, NULL);
	CHECK(kiln_policy_from_json(j, &p) == 0 && !p.allow_all && p.n_allow == 2);
	kiln_policy_free(&p);
	json_decref(j);
	j = json_loads("{\"allow\":null,\"deny\":[\"1.2.3.4\"]}", 0, NULL);
	CHECK(kiln_policy_from_json(j, &p) == 0 && p.allow_all && p.n_deny == 1);
	kiln_policy_free(&p);
	json_decref(j);
	CHECK(kiln_policy_from_json(NULL, &p) == 0 && p.allow_all && p.n_deny == 0);
	kiln_policy_free(&p);
	j = json_loads("{\"allow\":[\"ok.com\",\"bad..com\"]}", 0, NULL);
	CHECK_ERR(kiln_policy_from_json(j, &p), "network.egress.allow[1]: egress rule 'bad..com'");
	json_decref(j);
	j = json_loads("{\"deny\":[5]}", 0, NULL);
	CHECK_ERR(kiln_policy_from_json(j, &p), "network.egress.deny[0]: expected a string");
	json_decref(j);
	j = json_loads("{\"allow\":\"x\"}", 0, NULL);
	CHECK_ERR(kiln_policy_from_json(j, &p), "expected an array");
	json_decref(j);
}

static size_t names_of(struct kiln_dnsmap *m, const char *ip, uint64_t now, const char **out)
{
	struct kiln_ip a;

	if (kiln_ip_parse(ip, &a) < 0)
		abort();
	return kiln_dnsmap_lookup(m, &a, now, out, 8);
}

TEST(dnsmap)
{
	struct kiln_dnsmap *m = kiln_dnsmap_new(4, 30, 3600);
	struct kiln_ip a, b;
	const char *n[8];

	CHECK(kiln_ip_parse("1.2.3.4", &a) == 0 && kiln_ip_parse("2001:db8::1", &b) == 0);
	CHECK(kiln_dnsmap_add(m, &a, "www.example.com", 300, 0) == 0);
	CHECK(kiln_dnsmap_add(m, &a, "example.com", 5, 0) == 0); /* floor: 30 s */
	CHECK(kiln_dnsmap_add(m, &b, "v6.example.com", 100000, 0) == 0); /* cap: 3600 s */
	CHECK(names_of(m, "1.2.3.4", 1000, n) == 2);
	CHECK(names_of(m, "1.2.3.4", 29000, n) == 2);
	CHECK(names_of(m, "1.2.3.4", 30000, n) == 1 && !strcmp(n[0], "www.example.com"));
	CHECK(names_of(m, "1.2.3.4", 300000, n) == 0);
	CHECK(names_of(m, "2001:db8::1", 3599000, n) == 1);
	CHECK(names_of(m, "2001:db8::1", 3600000, n) == 0);
	CHECK(names_of(m, "1.2.3.5", 0, n) == 0);
	/* refresh moves the expiry */
	CHECK(kiln_dnsmap_add(m, &a, "r.example.com", 60, 0) == 0);
	CHECK(kiln_dnsmap_add(m, &a, "r.example.com", 60, 50000) == 0);
	CHECK(names_of(m, "1.2.3.4", 100000, n) == 1);
	/* LRU bound: 4 pairs; the least recently used goes first */
	kiln_dnsmap_free(m);
	m = kiln_dnsmap_new(4, 0, 3600);
	for (int i = 0; i < 4; i++) {
		char name[48];

		snprintf(name, sizeof(name), "h%d.example.com", i);
		a.a[3] = (uint8_t)i;
		CHECK(kiln_dnsmap_add(m, &a, name, 600, 0) == 0);
	}
	CHECK(names_of(m, "1.2.3.0", 1, n) == 1); /* touch h0 */
	a.a[3] = 9;
	CHECK(kiln_dnsmap_add(m, &a, "h9.example.com", 600, 1) == 0);
	CHECK(kiln_dnsmap_count(m) == 4);
	CHECK(names_of(m, "1.2.3.0", 2, n) == 1);
	CHECK(names_of(m, "1.2.3.1", 2, n) == 0); /* evicted */
	CHECK(names_of(m, "1.2.3.9", 2, n) == 1);
	CHECK_ERR(kiln_dnsmap_add(m, &a, "", 1, 0), "bad name length");
	kiln_dnsmap_free(m);
}

TEST(names)
{
	char out[KILN_NAME_LEN + 1];
	char longname[300];

	CHECK(kiln_name_norm("A.B.", 4, out) == 0 && !strcmp(out, "a.b"));
	CHECK_ERR(kiln_name_norm(".", 1, out), "empty host name");
	CHECK_ERR(kiln_name_norm("a\0b", 3, out), "invalid character");
	memset(longname, 'a', sizeof(longname));
	for (int i = 60; i < 300; i += 61)
		longname[i] = '.';
	CHECK_ERR(kiln_name_norm(longname, 254, out), "longer than 253");
	CHECK(kiln_name_norm(longname, 253, out) == 0);
	CHECK(kiln_name_is_subdomain("a.b.c", "b.c") && kiln_name_is_subdomain("b.c", "b.c"));
	CHECK(!kiln_name_is_subdomain("ab.c", "b.c") && !kiln_name_is_subdomain("c", "b.c"));
}

/* Issue 10 finding 3: --egress-deny 10.0.0.0/8 was passed with ::ffff:10.x.y.z. */
TEST(mapped_ipv6)
{
	const char *deny[] = { "10.0.0.0/8", "169.254.169.254:80", "[::ffff:192.168.0.0/112]" };
	const char *allow[] = { "1.2.3.4", "::/0" };
	struct kiln_policy p;
	struct kiln_verdict v;
	struct kiln_ip ip, v4;
	char txt[KILN_IP_STRLEN];

	CHECK(kiln_policy_init(&p, NULL, 0, deny, 3) == 0);
	v = decide(&p, "::ffff:10.1.2.3", 22, NULL, NULL);
	CHECK(!v.allow && v.rule == &p.deny[0]);
	CHECK(!decide(&p, "::FFFF:a01:203", 22, NULL, NULL).allow);
	CHECK(!decide(&p, "::ffff:169.254.169.254", 80, NULL, NULL).allow);
	CHECK(decide(&p, "::ffff:169.254.169.254", 81, NULL, NULL).allow);
	/* forms a NAT64 gateway or an old stack turns into IPv4: deny sees the IPv4 inside */
	CHECK(!decide(&p, "64:ff9b::10.1.2.3", 22, NULL, NULL).allow);
	CHECK(!decide(&p, "::10.1.2.3", 22, NULL, NULL).allow);
	CHECK(decide(&p, "64:ff9b::8.8.8.8", 53, NULL, NULL).allow);
	CHECK(decide(&p, "::1", 53, NULL, NULL).allow);
	/* a mapped prefix rule is an IPv4 rule */
	CHECK(!decide(&p, "192.168.7.7", 1, NULL, NULL).allow);
	CHECK(!decide(&p, "::ffff:192.168.7.7", 1, NULL, NULL).allow);
	CHECK(decide(&p, "192.169.0.1", 1, NULL, NULL).allow);
	CHECK(decide(&p, "2001:db8::a01:203", 22, NULL, NULL).allow);
	kiln_policy_free(&p);

	/* allow: the IPv4 rule allows the mapped form; "::/0" no longer allows mapped IPv4 */
	CHECK(kiln_policy_init(&p, allow, 2, NULL, 0) == 0);
	CHECK(decide(&p, "::ffff:1.2.3.4", 443, NULL, NULL).allow);
	CHECK(!decide(&p, "::ffff:10.0.0.1", 443, NULL, NULL).allow);
	CHECK(decide(&p, "2001:db8::1", 443, NULL, NULL).allow);
	kiln_policy_free(&p);

	CHECK(kiln_ip_parse("::ffff:10.1.2.3", &ip) == 0 && kiln_ip_unmap(&ip) && ip.family == 4);
	kiln_ip_format(&ip, txt);
	CHECK(!strcmp(txt, "10.1.2.3"));
	CHECK(kiln_ip_parse("2001:db8::1", &ip) == 0 && !kiln_ip_unmap(&ip) && ip.family == 6);
	CHECK(kiln_ip_parse("64:ff9b::c000:201", &ip) == 0 && kiln_ip_embedded_v4(&ip, &v4));
	kiln_ip_format(&v4, txt);
	CHECK(!strcmp(txt, "192.0.2.1"));
	CHECK(kiln_ip_parse("::", &ip) == 0 && !kiln_ip_embedded_v4(&ip, &v4));
	CHECK(kiln_ip_parse("::1", &ip) == 0 && !kiln_ip_embedded_v4(&ip, &v4));
	CHECK(kiln_ip_parse("10.0.0.1", &ip) == 0 && !kiln_ip_embedded_v4(&ip, &v4));
}

int main(void)
{
	RUN(rule_parse);
	RUN(decisions);
	RUN(from_json);
	RUN(dnsmap);
	RUN(names);
	RUN(mapped_ipv6);
	return t_done();
}
