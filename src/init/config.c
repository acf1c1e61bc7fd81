/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's run configuration: /.kiln/config.json, written by kiln build. */
#include "init/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "init/file.h"
#include "util/cleanup.h"

static void free_list(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void kiln_init_config_free(struct kiln_init_config *c)
{
	free_list(c->argv);
	free_list(c->env);
	free(c->workdir);
	free(c->user);
	free(c->name);
	json_decref(c->kiln);
	json_decref(c->exposed_ports);
	memset(c, 0, sizeof(*c));
}

static bool env_entry_ok(const char *s)
{
	const char *eq = strchr(s, '=');

	return eq && eq != s;
}

/* A JSON array of strings as a NULL-terminated vector; env entries vetted. */
static int string_list(const json_t *a, const char *key, bool is_env, char ***out, size_t *n)
{
	size_t len = json_array_size(a);
	char **v;

	if (!json_is_array(a))
		return kiln_err(EINVAL, "%s: not an array of strings", key);
	if (len > KILN_INIT_LIST_MAX)
		return kiln_err(E2BIG, "%s: %zu entries, the limit is %d", key, len, KILN_INIT_LIST_MAX);
	v = calloc(len + 1, sizeof(*v));
	if (!v)
		return kiln_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i++) {
		const char *s = json_string_value(json_array_get(a, i));

		if (!s || (is_env && !env_entry_ok(s))) {
			free_list(v);
			return kiln_err(EINVAL, "%s[%zu]: %s", key, i,
					s ? "not NAME=value" : "not a string");
		}
		v[i] = strdup(s);
		if (!v[i]) {
			free_list(v);
			return kiln_err(ENOMEM, "out of memory");
		}
	}
	*out = v;
	*n = len;
	return 0;
}

static int opt_string(const json_t *root, const char *key, const char *def, char **out)
{
	const json_t *j = json_object_get(root, key);
	const char *s = def;

	if (j && !json_is_null(j)) {
		s = json_string_value(j);
		if (!s)
			return kiln_err(EINVAL, "%s: not a string", key);
	}
	*out = strdup(s);
	return *out ? 0 : kiln_err(ENOMEM, "out of memory");
}

/* config.app.allow_vsock: absent is false; anything but a boolean is an error. */
static int allow_vsock(const json_t *cfg, bool *out)
{
	const json_t *v = json_object_get(json_object_get(cfg, "app"), "allow_vsock");

	*out = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return kiln_err(EINVAL, "config.app.allow_vsock: not a boolean");
	*out = json_is_true(v);
	return 0;
}

static int from_json(const json_t *root, struct kiln_init_config *c)
{
	const json_t *env = json_object_get(root, "env");
	const json_t *cfg = json_object_get(root, "config");
	size_t n;
	int rc;

	if (!json_is_object(root))
		return kiln_err(EINVAL, "not a JSON object");
	if (!json_object_get(root, "entrypoint"))
		return kiln_err(EINVAL, "entrypoint: missing");
	rc = string_list(json_object_get(root, "entrypoint"), "entrypoint", false, &c->argv, &n);
	if (rc == 0 && n == 0)
		rc = kiln_err(EINVAL, "entrypoint: empty");
	if (rc == 0 && c->argv[0][0] == '\0')
		rc = kiln_err(EINVAL, "entrypoint[0]: empty");
	if (rc == 0 && env && !json_is_null(env))
		rc = string_list(env, "env", true, &c->env, &c->nenv);
	if (rc == 0 && !c->env) {
		c->env = calloc(1, sizeof(*c->env));
		rc = c->env ? 0 : kiln_err(ENOMEM, "out of memory");
	}
	if (rc == 0)
		rc = opt_string(root, "workdir", "/", &c->workdir);
	if (rc == 0 && c->workdir[0] != '/')
		rc = kiln_err(EINVAL, "workdir: \"%s\" is not absolute", c->workdir);
	if (rc == 0)
		rc = opt_string(root, "user", "", &c->user);
	if (rc == 0 && cfg && !json_is_null(cfg) && !json_is_object(cfg))
		rc = kiln_err(EINVAL, "config: expected an object");
	if (rc == 0)
		rc = allow_vsock(cfg, &c->allow_vsock);
	if (rc == 0 && json_is_string(json_object_get(cfg, "name"))) {
		c->name = strdup(json_string_value(json_object_get(cfg, "name")));
		rc = c->name ? 0 : kiln_err(ENOMEM, "out of memory");
	}
	if (rc == 0 && json_is_object(cfg))
		c->kiln = json_incref((json_t *)cfg);
	if (rc == 0 && json_object_get(root, "exposed_ports"))
		c->exposed_ports = json_incref(json_object_get(root, "exposed_ports"));
	return rc;
}

int kiln_init_config_parse(const char *text, size_t len, struct kiln_init_config *out)
{
	struct kiln_init_config c = { 0 };
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	int rc;

	if (!root)
		return kiln_err(EINVAL, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
	rc = from_json(root, &c);
	json_decref(root);
	if (rc < 0) {
		kiln_init_config_free(&c);
		return rc;
	}
	*out = c;
	return 0;
}

int kiln_init_config_load(const char *path, struct kiln_init_config *out)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int rc = kiln_init_read_file(path, KILN_INIT_CONFIG_MAX, &buf, &len);

	if (rc == 0)
		rc = kiln_init_config_parse(buf, len, out);
	return rc < 0 ? kiln_err_wrap(rc, "%s", path) : 0;
}

const char *kiln_init_config_getenv(const struct kiln_init_config *c, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < c->nenv; i++) {
		if (strncmp(c->env[i], name, n) == 0 && c->env[i][n] == '=')
			return c->env[i] + n + 1;
	}
	return NULL;
}

int kiln_init_config_env_default(struct kiln_init_config *c, const char *entry)
{
	const char *eq = strchr(entry, '=');
	char name[256];
	char **v;

	if (!eq || eq == entry || (size_t)(eq - entry) >= sizeof(name))
		return kiln_err(EINVAL, "bad environment entry \"%s\"", entry);
	memcpy(name, entry, (size_t)(eq - entry));
	name[eq - entry] = '\0';
	if (kiln_init_config_getenv(c, name))
		return 0;
	v = realloc(c->env, (c->nenv + 2) * sizeof(*v));
	if (!v)
		return kiln_err(ENOMEM, "out of memory");
	c->env = v;
	v[c->nenv] = strdup(entry);
	if (!v[c->nenv])
		return kiln_err(ENOMEM, "out of memory");
	v[++c->nenv] = NULL;
	return 0;
}
