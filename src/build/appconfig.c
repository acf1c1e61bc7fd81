/* SPDX-License-Identifier: Apache-2.0 */
/* The app's argv/env/workdir/user: image config, overridden by kiln.yaml. */
#include "build/internal.h"

#include <stdio.h>
#include <string.h>

#include "init/admit.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static json_t *strv_to_json(char **v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

/* Docker semantics: setting the entrypoint clears the image's CMD. */
static json_t *app_argv(const json_t *app, const struct kiln_image_config *ic)
{
	json_t *ep = json_object_get(app, "entrypoint");
	json_t *cmd = json_object_get(app, "cmd");
	json_t *argv = json_is_array(ep) ? json_deep_copy(ep) : strv_to_json(ic->entrypoint);

	if (json_is_array(cmd))
		json_array_extend(argv, cmd);
	else if (!json_is_array(ep)) {
		json_t *c = strv_to_json(ic->cmd);

		json_array_extend(argv, c);
		json_decref(c);
	}
	return argv;
}

/* Replace or append NAME=VALUE by NAME. */
static void env_set(json_t *env, const char *kv)
{
	size_t klen = strcspn(kv, "="), i;
	json_t *v;

	json_array_foreach(env, i, v) {
		const char *s = json_string_value(v);

		if (s && !strncmp(s, kv, klen) && s[klen] == '=') {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

static json_t *app_env(const json_t *app, const struct kiln_image_config *ic)
{
	json_t *env = json_array(), *v;
	bool has_path = false;
	size_t i;

	for (char **e = ic->env; e && *e; e++)
		env_set(env, *e);
	json_array_foreach(json_object_get(app, "env"), i, v)
		env_set(env, json_string_value(v));
	json_array_foreach(env, i, v)
		has_path |= !strncmp(json_string_value(v), "PATH=", 5);
	if (!has_path)
		json_array_insert_new(env, 0, json_string(DEFAULT_PATH));
	return env;
}

static const char *pick(const json_t *app, const char *key, const char *image_value,
			const char *def)
{
	const char *s = json_string_value(json_object_get(app, key));

	if (s && *s)
		return s;
	if (image_value && *image_value)
		return image_value;
	return def;
}

json_t *kiln_exposed_ports(const struct kiln_image_config *ic)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < ic->n_exposed_tcp; i++)
		json_array_append_new(a, json_integer(ic->exposed_tcp[i]));
	return a;
}

static void exposed_dropped(void *ctx, uint16_t port, const char *owner)
{
	(void)ctx;
	fprintf(stderr, "kiln: warning: the image exposes port %u, which is %s: ingress will "
		"not admit it\n", port, owner);
}

/*
 * Which ports ingress admits is decided in the enclave from this config
 * (init/admit.h): a network.ingress naming kiln-init's own ports is an
 * error here, an image's ExposedPorts naming one only a warning (the image
 * may come from elsewhere; kiln-init drops the port either way).
 */
static int check_ingress(const json_t *cfg, const json_t *exposed)
{
	struct kiln_admit a;
	int rc = kiln_admit_check_config(cfg);

	/* After that check only ExposedPorts can still name a reserved port. */
	if (rc == 0)
		rc = kiln_admit_from_json(cfg, exposed, &a, exposed_dropped, NULL);
	if (rc == 0)
		kiln_admit_free(&a);
	return rc;
}

int kiln_app_config(const json_t *cfg, const struct kiln_image_config *ic, json_t **out)
{
	const json_t *app = json_object_get(cfg, "app");
	json_t *argv, *exposed = kiln_exposed_ports(ic);
	json_t *ac;
	int rc = exposed ? check_ingress(cfg, exposed) : kiln_err(ENOMEM, "out of memory");

	if (rc < 0) {
		json_decref(exposed);
		return rc;
	}
	argv = app_argv(app, ic);
	if (json_array_size(argv) == 0) {
		json_decref(exposed);
		json_decref(argv);
		return kiln_err(EINVAL, "the image has no ENTRYPOINT or CMD: set app.entrypoint "
				"in kiln.yaml");
	}
	/* exposed_ports: measured with the rest, read by kiln-init (init/admit.h). */
	ac = json_pack("{s:i, s:o, s:o, s:s, s:s, s:s?, s:O, s:o}", "version", 1, "entrypoint",
		       argv, "env", app_env(app, ic), "workdir",
		       pick(app, "workdir", ic->working_dir, "/"), "user",
		       pick(app, "user", ic->user, "0:0"), "image_digest", ic->digest, "config", cfg,
		       "exposed_ports", exposed);
	if (!ac)
		return kiln_err(ENOMEM, "cannot build the app configuration");
	*out = ac;
	return 0;
}
