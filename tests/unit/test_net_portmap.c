/* SPDX-License-Identifier: Apache-2.0 */
/* Ingress port mappings: -p text forms, JSON round trip, every rejection. */
#include "t.h"

#include "net/portmap.h"

TEST(parse_forms)
{
	struct kiln_portmap m;
	char buf[80];

	CHECK(kiln_portmap_parse("8080:80", &m) == 0);
	CHECK(m.host.family == 0 && m.host_port == 8080 && m.port == 80);
	kiln_portmap_format(&m, buf, sizeof(buf));
	CHECK(!strcmp(buf, "*:8080->80"));
	CHECK(kiln_portmap_parse("127.0.0.1:18080:8080", &m) == 0);
	CHECK(m.host.family == 4 && m.host_port == 18080 && m.port == 8080);
	kiln_portmap_format(&m, buf, sizeof(buf));
	CHECK(!strcmp(buf, "127.0.0.1:18080->8080"));
	CHECK(kiln_portmap_parse("[::1]:443:8443", &m) == 0);
	CHECK(m.host.family == 6 && m.host_port == 443 && m.port == 8443);
	kiln_portmap_format(&m, buf, sizeof(buf));
	CHECK(!strcmp(buf, "[::1]:443->8443"));
	CHECK(kiln_portmap_parse("65535:1", &m) == 0 && m.host_port == 65535 && m.port == 1);
}

TEST(parse_rejects)
{
	static const char *const bad[] = {
		"", "80", ":80", "80:", "0:80", "80:0", "65536:80", "080:80", "+80:80", "-1:80",
		"a:80", "80:8x", "localhost:80:80", "1.2.3:80:80", "[::1:80:80", ":80:80",
		"1.2.3.4::80", "1.2.3.4:80:80:80",
	};
	struct kiln_portmap m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = kiln_portmap_parse(bad[i], &m);

		if (rc == 0)
			fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
		CHECK_ERR(rc, "expected [HOSTIP:]HOSTPORT:ENCLAVEPORT");
	}
}

TEST(json)
{
	struct kiln_portmap m, back;
	json_t *j;

	CHECK(kiln_portmap_parse("[2001:db8::1]:8080:80", &m) == 0);
	j = kiln_portmap_to_json(&m);
	CHECK(kiln_portmap_from_json(j, &back) == 0);
	CHECK(kiln_ip_equal(&m.host, &back.host) && back.host_port == 8080 && back.port == 80);
	json_decref(j);
	CHECK(kiln_portmap_parse("8080:80", &m) == 0);
	j = kiln_portmap_to_json(&m);
	CHECK(json_is_null(json_object_get(j, "host_ip")));
	CHECK(kiln_portmap_from_json(j, &back) == 0 && back.host.family == 0);
	json_decref(j);
	j = json_loads("{\"host_ip\":\"nope\",\"host_port\":1,\"port\":2}", 0, NULL);
	CHECK_ERR(kiln_portmap_from_json(j, &back), "host_ip is not an IP address");
	json_decref(j);
	j = json_loads("{\"host_port\":0,\"port\":2}", 0, NULL);
	CHECK_ERR(kiln_portmap_from_json(j, &back), "ports 1..65535");
	json_decref(j);
	j = json_loads("{\"host_port\":1,\"port\":2,\"x\":1,\"y\":2}", 0, NULL);
	CHECK_ERR(kiln_portmap_from_json(j, &back), "expected {host_ip, host_port, port}");
	json_decref(j);
	CHECK_ERR(kiln_portmap_from_json(NULL, &back), "expected");
}

int main(void)
{
	RUN(parse_forms);
	RUN(parse_rejects);
	RUN(json);
	return t_done();
}
