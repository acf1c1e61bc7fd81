/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for kiln-init's config.json and /.kiln/xattrs line parsers. */
#include "t.h"

#include "init/config.h"
#include "init/xattrs.h"

static int parse(const char *json, struct kiln_init_config *c)
{
	return kiln_init_config_parse(json, strlen(json), c);
}

TEST(config_full)
{
	struct kiln_init_config c;

	CHECK(parse("{\"entrypoint\": [\"/app/run\", \"a b\", \"\"], \"env\": [\"A=1\", \"B=x=y\"],"
		    " \"workdir\": \"/app\", \"user\": \"app:app\", \"network\": {\"x\": 1}}",
		    &c) == 0);
	CHECK(strcmp(c.argv[0], "/app/run") == 0 && strcmp(c.argv[1], "a b") == 0);
	CHECK(strcmp(c.argv[2], "") == 0 && c.argv[3] == NULL);
	CHECK(c.nenv == 2 && c.env[2] == NULL);
	CHECK(strcmp(c.workdir, "/app") == 0 && strcmp(c.user, "app:app") == 0);
	CHECK(strcmp(kiln_init_config_getenv(&c, "B"), "x=y") == 0);
	CHECK(kiln_init_config_getenv(&c, "PATH") == NULL);
	CHECK(kiln_init_config_env_default(&c, "PATH=/bin") == 0 && c.nenv == 3);
	CHECK(kiln_init_config_env_default(&c, "A=2") == 0 && c.nenv == 3);
	CHECK(strcmp(kiln_init_config_getenv(&c, "A"), "1") == 0 && c.env[3] == NULL);
	kiln_init_config_free(&c);
}

TEST(config_defaults)
{
	struct kiln_init_config c;

	CHECK(parse("{\"entrypoint\": [\"sh\"], \"env\": null}", &c) == 0);
	CHECK(c.nenv == 0 && c.env && c.env[0] == NULL);
	CHECK(strcmp(c.workdir, "/") == 0 && strcmp(c.user, "") == 0);
	kiln_init_config_free(&c);
}

/* The one parse hands kiln.yaml's JSON to networking and attestation. */
TEST(config_kiln_handed_over)
{
	struct kiln_init_config c;

	CHECK(parse("{\"entrypoint\": [\"sh\"], \"config\": {\"name\": \"n\", \"network\":"
		    " {\"dns\": \"none\"}, \"attestation_api\": {\"listen\": \"127.0.0.1:1\"}}}",
		    &c) == 0);
	CHECK(json_is_object(c.kiln) && strcmp(c.name, "n") == 0);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(c.kiln, "network"), "dns")),
		      "none"));
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(c.kiln, "attestation_api"),
							"listen")),
		      "127.0.0.1:1"));
	kiln_init_config_free(&c);
	CHECK(c.kiln == NULL);
	CHECK(parse("{\"entrypoint\": [\"sh\"]}", &c) == 0 && c.kiln == NULL);
	kiln_init_config_free(&c);
	CHECK(parse("{\"entrypoint\": [\"sh\"], \"config\": null}", &c) == 0 && c.kiln == NULL);
	kiln_init_config_free(&c);
	CHECK_ERR(parse("{\"entrypoint\": [\"sh\"], \"config\": [1]}", &c), "config: expected an object");
	/* One strict parse for every part: a duplicate key anywhere is refused. */
	CHECK_ERR(parse("{\"entrypoint\": [\"sh\"], \"config\": {\"network\": {}, \"network\": {}}}",
			&c), "duplicate");
}

TEST(config_errors)
{
	struct kiln_init_config c;

	CHECK_ERR(parse("", &c), "line");
	CHECK_ERR(parse("[1]", &c), "not a JSON object");
	CHECK_ERR(parse("{}", &c), "entrypoint: missing");
	CHECK_ERR(parse("{\"entrypoint\": []}", &c), "entrypoint: empty");
	CHECK_ERR(parse("{\"entrypoint\": [\"\"]}", &c), "entrypoint[0]: empty");
	CHECK_ERR(parse("{\"entrypoint\": \"/bin/sh -c x\"}", &c), "not an array");
	CHECK_ERR(parse("{\"entrypoint\": [\"a\", 1]}", &c), "entrypoint[1]: not a string");
	CHECK_ERR(parse("{\"entrypoint\": [\"a\"], \"env\": [\"NOEQ\"]}", &c), "env[0]");
	CHECK_ERR(parse("{\"entrypoint\": [\"a\"], \"env\": [\"=v\"]}", &c), "env[0]");
	CHECK_ERR(parse("{\"entrypoint\": [\"a\"], \"workdir\": \"rel\"}", &c), "not absolute");
	CHECK_ERR(parse("{\"entrypoint\": [\"a\"], \"user\": 0}", &c), "user: not a string");
	CHECK_ERR(parse("{\"entrypoint\": [\"a\"], \"entrypoint\": [\"b\"]}", &c), "duplicate");
	CHECK_ERR(parse("{\"entrypoint\": [\"a\\u0000b\"]}", &c), "line");
}

TEST(config_limits)
{
	size_t n = KILN_INIT_LIST_MAX + 1, len = 0;
	char *j = malloc(n * 4 + 64);
	struct kiln_init_config c;

	CHECK(j != NULL);
	if (!j)
		return;
	len += (size_t)sprintf(j, "{\"entrypoint\": [\"a\"");
	for (size_t i = 1; i < n; i++)
		len += (size_t)sprintf(j + len, ",\"a\"");
	strcpy(j + len, "]}");
	CHECK_ERR(parse(j, &c), "the limit");
	strcpy(j + len - 4, "]}");
	CHECK(parse(j, &c) == 0);
	kiln_init_config_free(&c);
	free(j);
}

static int xline(const char *s, struct kiln_xattr *x)
{
	return kiln_xattr_parse_line(s, strlen(s), x);
}

TEST(xattr_lines)
{
	struct kiln_xattr x;

	CHECK(xline("/usr/bin/ping\tsecurity.capability\t0100000200200000", &x) == 0);
	CHECK(strcmp(x.path, "/usr/bin/ping") == 0 && strcmp(x.name, "security.capability") == 0);
	CHECK(x.vlen == 8 && x.value[0] == 0x01 && x.value[5] == 0x20);
	kiln_xattr_free(&x);
	CHECK(xline("rel path/f\tuser.empty\t", &x) == 0 && x.vlen == 0);
	CHECK(strcmp(x.path, "rel path/f") == 0);
	kiln_xattr_free(&x);
	CHECK(xline("/f\ttrusted.x\tABcd", &x) == 0 && x.vlen == 2 && x.value[0] == 0xab);
	kiln_xattr_free(&x);

	CHECK_ERR(xline("/f", &x), "path<TAB>name");
	CHECK_ERR(xline("/f\tuser.x", &x), "path<TAB>name");
	CHECK_ERR(xline("\tuser.x\t00", &x), "path length");
	CHECK_ERR(xline("/f\t\t00", &x), "attribute name");
	CHECK_ERR(xline("/f\tnodot\t00", &x), "attribute name");
	CHECK_ERR(xline("/f\tuser.x\t0", &x), "odd number");
	CHECK_ERR(xline("/f\tuser.x\t0g", &x), "bad hex");
	CHECK_ERR(xline("/f\tuser.x\t00\t1", &x), "bad hex"); /* a third TAB */
	CHECK_ERR(kiln_xattr_parse_line("/f\0\tuser.x\t00", 13, &x), "NUL");
}

int main(void)
{
	RUN(config_full);
	RUN(config_defaults);
	RUN(config_kiln_handed_over);
	RUN(config_errors);
	RUN(config_limits);
	RUN(xattr_lines);
	return t_done();
}
