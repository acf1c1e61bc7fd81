/* SPDX-License-Identifier: Apache-2.0 */
/* kiln.yaml parsing: defaults, types, ranges, unknown keys with line numbers. */
#include "t.h"

#include "config/config.h"

static json_t *parse(const char *text)
{
	json_t *cfg = NULL;

	if (kiln_config_parse(text, strlen(text), "kiln.yaml", &cfg) < 0)
		return NULL;
	return cfg;
}

static int fails(const char *text, const char *substr)
{
	json_t *cfg = NULL;
	int rc = kiln_config_parse(text, strlen(text), "kiln.yaml", &cfg);

	json_decref(cfg);
	if (rc >= 0)
		return 0;
	if (!strstr(kiln_errmsg(), substr)) {
		fprintf(stderr, "error \"%s\" lacks \"%s\"\n", kiln_errmsg(), substr);
		return 0;
	}
	return 1;
}

TEST(defaults_filled)
{
	json_t *cfg = parse("version: 1\n");
	char *s;

	CHECK(cfg);
	if (!cfg)
		return;
	CHECK(json_integer_value(json_object_get(json_object_get(cfg, "resources"), "cpus")) == 2);
	CHECK(!strcmp(json_string_value(json_object_get(cfg, "name")), "app"));
	CHECK(json_is_null(json_object_get(json_object_get(json_object_get(cfg, "network"),
							   "egress"), "allow")));
	s = kiln_json_canonical(cfg);
	CHECK(s && strstr(s, "\"attestation_api\":{\"listen\":\"127.0.0.1:50123\"}"));
	free(s);
	json_decref(cfg);
}

TEST(full_example)
{
	const char *y =
		"version: 1\nname: web\nimage: docker-archive:web.tar\n"
		"resources: {cpus: 2, memory_mib: 2048}\n"
		"network:\n"
		"  ingress: [{port: 443}, {port: 8080, host_port: 80, proxy_protocol: false}]\n"
		"  egress:\n"
		"    allow: [\"kms.us-east-1.amazonaws.com:443\", \"*.example.com\", \"10.0.0.0/8\"]\n"
		"    deny: []\n"
		"  dns: parent\n"
		"storage:\n  - {path: /data, mode: encrypted, key: kms}\n"
		"secrets:\n  - {name: DB_PASSWORD, kms_ciphertext: \"AQIC\", to: env}\n"
		"kms: {region: us-east-1, endpoint: null}\n"
		"attestation_api: {listen: \"127.0.0.1:50123\"}\n";
	json_t *cfg = parse(y);
	json_t *ing;

	CHECK(cfg);
	if (!cfg)
		return;
	ing = json_object_get(json_object_get(cfg, "network"), "ingress");
	CHECK(json_array_size(ing) == 2);
	CHECK(json_integer_value(json_object_get(json_array_get(ing, 0), "host_port")) == 443);
	CHECK(json_integer_value(json_object_get(json_array_get(ing, 1), "host_port")) == 80);
	CHECK(!strcmp(json_string_value(json_object_get(
			      json_array_get(json_object_get(cfg, "secrets"), 0), "mode")),
		      "0400"));
	json_decref(cfg);
}

/* Plain volumes are served by both frontends: frontend: nfs is accepted for them. */
TEST(plain_over_nfs)
{
	json_t *cfg = parse("version: 1\nstorage:\n  - {path: /data, mode: plain, frontend: nfs}\n");

	CHECK(cfg);
	json_decref(cfg);
}

TEST(canonical_is_stable)
{
	json_t *a = parse("version: 1\nname: x\nresources: {memory_mib: 512, cpus: 1}\n");
	json_t *b = parse("resources:\n  cpus: 1\n  memory_mib: 512\nname: x\nversion: 1\n");
	char *sa = kiln_json_canonical(a), *sb = kiln_json_canonical(b);

	CHECK(sa && sb && !strcmp(sa, sb));
	free(sa);
	free(sb);
	json_decref(a);
	json_decref(b);
}

TEST(errors_name_line_and_key)
{
	CHECK(fails("version: 1\nnetwork:\n  egres: {}\n", "kiln.yaml:3: network.egres: unknown key"));
	CHECK(fails("version: 1\nresources: {cpus: 0}\n", "resources.cpus: 0 out of range"));
	CHECK(fails("version: 1\nresources: {cpus: two}\n", "expected an integer"));
	CHECK(fails("version: 2\n", "version: 2 out of range"));
	CHECK(fails("name: x\n", "missing required key \"version\""));
	CHECK(fails("version: 1\nnetwork: {dns: google}\n", "not one of the allowed choices"));
	CHECK(fails("version: 1\nstorage: [{mode: plain}]\n", "missing required key \"path\""));
	CHECK(fails("version: 1\nstorage: [{path: data}]\n", "must be absolute"));
	CHECK(fails("version: 1\nnetwork: {ingress: [{port: 70000}]}\n", "out of range"));
	CHECK(fails("version: 1\nname: Bad/Name\n", "name: must be"));
	CHECK(fails("version: 1\nversion: 1\n", "duplicate key"));
	CHECK(fails("version: 1\napp: {env: [NOEQUALS]}\n", "expected NAME=VALUE"));
	CHECK(fails("version: 1\n  bad: [\n", "kiln.yaml:"));
	CHECK(fails("", "empty document"));
	CHECK(fails("- 1\n- 2\n", "expected a mapping"));
	CHECK(fails("version: 1\nnetwork: {egress: {allow: [{a: b}]}}\n", "expected a string"));
	CHECK(fails("version: 1\nnetwork: {ingress: [{port: 1, proxy_protocol: yes}]}\n",
		    "expected true or false"));
	CHECK(fails("version: 1\napp: {allow_vsock: 1}\n", "expected true or false"));
}

/* app.allow_vsock: off unless said, and measured (in the canonical JSON) either way. */
TEST(allow_vsock)
{
	json_t *def = parse("version: 1\n"), *on = parse("version: 1\napp: {allow_vsock: true}\n");
	char *a = def ? kiln_json_canonical(def) : NULL, *b = on ? kiln_json_canonical(on) : NULL;

	CHECK(a && strstr(a, "\"allow_vsock\":false"));
	CHECK(b && strstr(b, "\"allow_vsock\":true"));
	free(a);
	free(b);
	json_decref(def);
	json_decref(on);
}

int main(void)
{
	RUN(defaults_filled);
	RUN(full_example);
	RUN(plain_over_nfs);
	RUN(canonical_is_stable);
	RUN(errors_name_line_and_key);
	RUN(allow_vsock);
	return t_done();
}
