/* SPDX-License-Identifier: Apache-2.0 */
/* kiln.yaml -> validated, defaulted JSON, driven by the schema table. */
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/schema.h"
#include "util/cleanup.h"
#include "util/io.h"

#define CONFIG_MAX_BYTES (1 << 20)

struct conv {
	yaml_document_t *doc;
	const char *name;
};

static int convert_obj(struct conv *c, yaml_node_t *n, const struct kiln_field *fields,
		       const char *where, json_t **out);

static unsigned line_of(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

static int bad(struct conv *c, const yaml_node_t *n, const char *where, const char *what)
{
	return kiln_err(EINVAL, "%s:%u: %s: %s", c->name, line_of(n), where, what);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static int is_plain_null(const yaml_node_t *n)
{
	const char *s = scalar(n);

	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!strcmp(s, "null") || !strcmp(s, "~") || !*s);
}

static int convert_str(struct conv *c, yaml_node_t *n, const struct kiln_field *f,
		       const char *where, json_t **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return bad(c, n, where, "expected a string");
	if (is_plain_null(n) && !f->required) {
		*out = json_null();
		return 0;
	}
	if (f->choices) {
		size_t i;

		for (i = 0; f->choices[i]; i++)
			if (!strcmp(f->choices[i], scalar(n)))
				break;
		if (!f->choices[i])
			return bad(c, n, where, "value not one of the allowed choices");
	}
	*out = json_string(scalar(n));
	return *out ? 0 : bad(c, n, where, "not valid UTF-8");
}

static int convert_int(struct conv *c, yaml_node_t *n, const struct kiln_field *f,
		       const char *where, json_t **out)
{
	char *end;
	long long v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return bad(c, n, where, "expected an integer");
	errno = 0;
	v = strtoll(scalar(n), &end, 10);
	if (errno || end == scalar(n) || *end)
		return bad(c, n, where, "expected an integer");
	if (v < f->min || v > f->max) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%lld out of range [%lld, %lld]", v, f->min, f->max);
		return bad(c, n, where, msg);
	}
	*out = json_integer(v);
	return 0;
}

static int convert_bool(struct conv *c, yaml_node_t *n, const char *where, json_t **out)
{
	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (!strcmp(scalar(n), "true")) {
			*out = json_true();
			return 0;
		}
		if (!strcmp(scalar(n), "false")) {
			*out = json_false();
			return 0;
		}
	}
	return bad(c, n, where, "expected true or false");
}

static int convert_list(struct conv *c, yaml_node_t *n, const struct kiln_field *f,
			const char *where, json_t **out)
{
	json_t *arr;

	if (n->type != YAML_SEQUENCE_NODE)
		return bad(c, n, where, f->type == KF_STRLIST ? "expected a list of strings"
							      : "expected a list of mappings");
	arr = json_array();
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		char sub[1024];
		json_t *v = NULL;
		int rc;

		if (snprintf(sub, sizeof(sub), "%s[%zu]", where,
			     (size_t)(it - n->data.sequence.items.start)) >= (int)sizeof(sub)) {
			json_decref(arr);
			return bad(c, item, where, "nested too deeply");
		}
		if (f->type == KF_OBJLIST)
			rc = convert_obj(c, item, f->sub, sub, &v);
		else if (item->type != YAML_SCALAR_NODE)
			rc = bad(c, item, sub, "expected a string");
		else
			rc = (v = json_string(scalar(item))) ? 0 : bad(c, item, sub, "not valid UTF-8");
		if (rc < 0) {
			json_decref(arr);
			return rc;
		}
		json_array_append_new(arr, v);
	}
	*out = arr;
	return 0;
}

static int convert_field(struct conv *c, yaml_node_t *n, const struct kiln_field *f,
			 const char *where, json_t **out)
{
	switch (f->type) {
	case KF_STR:
		return convert_str(c, n, f, where, out);
	case KF_INT:
		return convert_int(c, n, f, where, out);
	case KF_BOOL:
		return convert_bool(c, n, where, out);
	case KF_STRLIST:
	case KF_OBJLIST:
		return convert_list(c, n, f, where, out);
	case KF_OBJ:
		return convert_obj(c, n, f->sub, where, out);
	default:
		return bad(c, n, where, "internal: unknown field type");
	}
}

static const struct kiln_field *find_field(const struct kiln_field *fields, const char *key)
{
	for (; fields->key; fields++)
		if (!strcmp(fields->key, key))
			return fields;
	return NULL;
}

static int fill_default(struct conv *c, const struct kiln_field *f, const char *where,
			json_t *obj)
{
	json_t *v;

	if (f->type == KF_OBJ && f->def) {
		int rc = convert_obj(c, NULL, f->sub, where, &v);

		if (rc < 0)
			return rc;
	} else {
		v = f->def ? json_loads(f->def, JSON_DECODE_ANY, NULL) : json_null();
	}
	json_object_set_new(obj, f->key, v);
	return 0;
}

static int convert_pairs(struct conv *c, yaml_node_t *n, const struct kiln_field *fields,
			 const char *where, json_t *obj)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		const struct kiln_field *f;
		char sub[1024];
		json_t *jv = NULL;
		int rc;

		if (k->type != YAML_SCALAR_NODE)
			return bad(c, k, where, "keys must be plain strings");
		if (snprintf(sub, sizeof(sub), "%s%s%s", where, *where ? "." : "", scalar(k)) >=
		    (int)sizeof(sub))
			return bad(c, k, where, "key too long");
		f = find_field(fields, scalar(k));
		if (!f)
			return bad(c, k, sub, "unknown key");
		if (json_object_get(obj, f->key))
			return bad(c, k, sub, "duplicate key");
		rc = convert_field(c, v, f, sub, &jv);
		if (rc < 0)
			return rc;
		json_object_set_new(obj, f->key, jv);
	}
	return 0;
}

/* n == NULL converts an absent mapping: defaults only. */
static int convert_obj(struct conv *c, yaml_node_t *n, const struct kiln_field *fields,
		       const char *where, json_t **out)
{
	json_t *obj = json_object();
	int rc = 0;

	if (n && n->type != YAML_MAPPING_NODE) {
		json_decref(obj);
		return bad(c, n, where, "expected a mapping");
	}
	if (n)
		rc = convert_pairs(c, n, fields, where, obj);
	for (const struct kiln_field *f = fields; rc == 0 && f->key; f++) {
		if (json_object_get(obj, f->key))
			continue;
		if (f->required)
			rc = kiln_err(EINVAL, "%s:%u: %s: missing required key \"%s\"", c->name,
				      n ? line_of(n) : 1, where[0] ? where : "top level", f->key);
		else
			rc = fill_default(c, f, where, obj);
	}
	if (rc < 0) {
		json_decref(obj);
		return rc;
	}
	*out = obj;
	return 0;
}

static int check_semantics(const char *name, json_t *cfg)
{
	const char *app_name = json_string_value(json_object_get(cfg, "name"));
	json_t *ingress = json_object_get(json_object_get(cfg, "network"), "ingress");
	json_t *v;
	size_t i;

	if (!app_name || !*app_name || strlen(app_name) > 63 ||
	    strspn(app_name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != strlen(app_name))
		return kiln_err(EINVAL, "%s: name: must be 1-63 of [a-z0-9-_.]", name);
	json_array_foreach(ingress, i, v) {
		if (json_is_null(json_object_get(v, "host_port")))
			json_object_set(v, "host_port", json_object_get(v, "port"));
	}
	json_array_foreach(json_object_get(cfg, "storage"), i, v) {
		if (json_string_value(json_object_get(v, "path"))[0] != '/')
			return kiln_err(EINVAL, "%s: storage[%zu].path: must be absolute", name, i);
	}
	json_array_foreach(json_object_get(json_object_get(cfg, "app"), "env"), i, v) {
		if (!strchr(json_string_value(v), '=') || json_string_value(v)[0] == '=')
			return kiln_err(EINVAL, "%s: app.env[%zu]: expected NAME=VALUE", name, i);
	}
	return 0;
}

int kiln_config_parse(const char *text, size_t len, const char *name, json_t **out)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct conv c = { .doc = &doc, .name = name };
	yaml_node_t *root;
	json_t *cfg = NULL;
	int rc;

	if (!yaml_parser_initialize(&parser))
		return kiln_err(ENOMEM, "%s: cannot initialise the YAML parser", name);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = kiln_err(EINVAL, "%s:%zu: %s", name, parser.problem_mark.line + 1,
			      parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return rc;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root)
		rc = kiln_err(EINVAL, "%s: empty document (at least \"version: 1\" is needed)", name);
	else
		rc = convert_obj(&c, root, kiln_config_schema, "", &cfg);
	if (rc == 0)
		rc = check_semantics(name, cfg);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc < 0) {
		json_decref(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

int kiln_config_load(const char *path, json_t **out)
{
	_cleanup_free_ char *buf = NULL;
	size_t n;
	int rc = kiln_read_file(path, CONFIG_MAX_BYTES, &buf, &n);

	if (rc < 0)
		return kiln_err_wrap(rc, "%s", path);
	return kiln_config_parse(buf, n, path, out);
}

json_t *kiln_config_default(void)
{
	json_t *cfg = NULL;
	static const char text[] = "version: 1\n";

	if (kiln_config_parse(text, sizeof(text) - 1, "default", &cfg) < 0)
		abort(); /* the schema's own defaults must always parse */
	return cfg;
}

char *kiln_json_canonical(const json_t *v)
{
	return json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
}
