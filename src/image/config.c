/* SPDX-License-Identifier: Apache-2.0 */
/* The image config blob: ENTRYPOINT, Cmd, Env, ... and rootfs.diff_ids. */
#include "image/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void img_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* A JSON array of strings (or null/absent) as a NULL-terminated vector. */
static int strv_from(json_t *arr, const char *what, char ***out)
{
	size_t i;
	json_t *v;
	char **sv;

	*out = NULL;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return kiln_err(EBADMSG, "config: %s is not an array", what);
	sv = calloc(json_array_size(arr) + 1, sizeof(*sv));
	if (!sv)
		return kiln_err(ENOMEM, "out of memory");
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			img_strv_free(sv);
			return kiln_err(EBADMSG, "config: %s[%zu] is not a string", what, i);
		}
		sv[i] = strndup(json_string_value(v), json_string_length(v));
		if (!sv[i] || strlen(sv[i]) != json_string_length(v)) {
			img_strv_free(sv);
			return kiln_err(EBADMSG, "config: %s[%zu] is not a C string", what, i);
		}
	}
	*out = sv;
	return 0;
}

/* An optional JSON string member as a heap copy (NULL when absent). */
static int str_from(json_t *obj, const char *key, char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return kiln_err(EBADMSG, "config: %s is not a string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return kiln_err(EBADMSG, "config: %s holds a NUL byte", key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : kiln_err(ENOMEM, "out of memory");
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/*
 * ExposedPorts: {"80/tcp": {}, "53/udp": {}, "8080": {}} (no protocol means
 * tcp, as in Docker). Only tcp ports are kept: ingress carries TCP only.
 * kiln build records them in the measured config, where they decide which
 * ports ingress admits when network.ingress is empty.
 */
static int parse_exposed(struct kiln_image_config *c, json_t *cc)
{
	json_t *ports = json_object_get(cc, "ExposedPorts"), *v;
	const char *key;
	size_t n = 0;

	if (!ports || json_is_null(ports))
		return 0;
	if (!json_is_object(ports))
		return kiln_err(EBADMSG, "config: ExposedPorts is not an object");
	c->exposed_tcp = calloc(json_object_size(ports) + 1, sizeof(*c->exposed_tcp));
	if (!c->exposed_tcp)
		return kiln_err(ENOMEM, "out of memory");
	json_object_foreach(ports, key, v) {
		char *end;
		unsigned long port;

		errno = 0;
		port = key[0] >= '0' && key[0] <= '9' ? strtoul(key, &end, 10) : 0;
		if (errno || port < 1 || port > 65535 || (*end && *end != '/'))
			return kiln_err(EBADMSG, "config: ExposedPorts: \"%s\" is not PORT[/PROTO] "
					"with PORT in 1..65535", key);
		if (*end && strcmp(end, "/tcp") && strcmp(end, "/udp") && strcmp(end, "/sctp"))
			return kiln_err(EBADMSG, "config: ExposedPorts: \"%s\": unknown protocol",
					key);
		if (!*end || !strcmp(end, "/tcp"))
			c->exposed_tcp[n++] = (uint16_t)port;
	}
	qsort(c->exposed_tcp, n, sizeof(*c->exposed_tcp), cmp_u16);
	c->n_exposed_tcp = 0;
	for (size_t i = 0; i < n; i++)
		if (!c->n_exposed_tcp || c->exposed_tcp[c->n_exposed_tcp - 1] != c->exposed_tcp[i])
			c->exposed_tcp[c->n_exposed_tcp++] = c->exposed_tcp[i];
	return 0;
}

static int parse_exec(struct kiln_image_config *c, json_t *cc)
{
	int rc;

	if (cc && !json_is_object(cc))
		return kiln_err(EBADMSG, "config: \"config\" is not an object");
	if ((rc = strv_from(json_object_get(cc, "Entrypoint"), "Entrypoint", &c->entrypoint)) < 0 ||
	    (rc = strv_from(json_object_get(cc, "Cmd"), "Cmd", &c->cmd)) < 0 ||
	    (rc = strv_from(json_object_get(cc, "Env"), "Env", &c->env)) < 0 ||
	    (rc = str_from(cc, "WorkingDir", &c->working_dir)) < 0 ||
	    (rc = str_from(cc, "User", &c->user)) < 0 ||
	    (rc = parse_exposed(c, cc)) < 0)
		return rc;
	c->config_json = cc ? json_dumps(cc, JSON_SORT_KEYS | JSON_COMPACT) : strdup("{}");
	return c->config_json ? 0 : kiln_err(ENOMEM, "out of memory");
}

static int parse_diff_ids(struct kiln_image *img, json_t *root)
{
	json_t *rootfs = json_object_get(root, "rootfs");
	int rc;

	if (!json_is_object(rootfs))
		return kiln_err(EBADMSG, "config: missing rootfs");
	rc = strv_from(json_object_get(rootfs, "diff_ids"), "rootfs.diff_ids", &img->diff_ids);
	if (rc < 0)
		return rc;
	if (!img->diff_ids)
		return kiln_err(EBADMSG, "config: missing rootfs.diff_ids");
	for (size_t i = 0; img->diff_ids[i]; i++)
		if ((rc = img_digest_check(img->diff_ids[i])) < 0)
			return kiln_err_wrap(rc, "config: rootfs.diff_ids[%zu]", i);
	return 0;
}

int img_config_parse(struct kiln_image *img, const char *buf, size_t len, const img_digest digest)
{
	struct kiln_image_config *c = &img->cfg;
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	int rc;

	if (!root)
		return kiln_err(EBADMSG, "config: bad JSON at line %d: %s", jerr.line, jerr.text);
	if (!json_is_object(root))
		rc = kiln_err(EBADMSG, "config: not a JSON object");
	else if ((rc = parse_exec(c, json_object_get(root, "config"))) == 0 &&
		 (rc = str_from(root, "created", &c->created)) == 0 &&
		 (rc = str_from(root, "architecture", &c->architecture)) == 0 &&
		 (rc = parse_diff_ids(img, root)) == 0)
		c->digest = strdup(digest);
	if (rc == 0 && !c->digest)
		rc = kiln_err(ENOMEM, "out of memory");
	json_decref(root);
	return rc;
}

void img_config_free(struct kiln_image_config *c)
{
	img_strv_free(c->entrypoint);
	img_strv_free(c->cmd);
	img_strv_free(c->env);
	free(c->working_dir);
	free(c->user);
	free(c->created);
	free(c->architecture);
	free(c->config_json);
	free(c->digest);
	free(c->exposed_tcp);
}
