/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's run configuration: /.kiln/config.json, written by kiln build. */
#ifndef KILN_INIT_CONFIG_H
#define KILN_INIT_CONFIG_H

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define KILN_INIT_CONFIG_PATH "/.kiln/config.json"
#define KILN_INIT_CONFIG_MAX (16 * 1024 * 1024) /* bytes */
#define KILN_INIT_LIST_MAX 4096                 /* argv or env entries */
#define KILN_INIT_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/*
 * The image's process, as OCI/Docker would run it:
 *   {"entrypoint": ["/bin/app", "arg"],   required, ENTRYPOINT + CMD
 *    "env": ["K=V", ...],                 optional, default []
 *    "workdir": "/",                      optional, absolute, default "/"
 *    "user": "uid[:gid]" | "name[:group]"} optional, default "" (root)
 * plus "config": the whole kiln.yaml as JSON (optional; an object), of which
 * "name" and "app": {"allow_vsock"} are read here, and "exposed_ports": the
 * image's tcp ExposedPorts (optional). kiln-init reads and parses the file
 * once, here, and hands "config" to the parts that read their own keys from
 * it (networking: "network", attestation: "attestation_api"). Other
 * top-level keys are ignored.
 */
struct kiln_init_config {
	char **argv;   /* NULL-terminated */
	char **env;    /* NULL-terminated, each "NAME=value" */
	size_t nenv;
	char *workdir;
	char *user;
	char *name;    /* "config": {"name": ...} (kiln.yaml's name), or NULL */
	bool allow_vsock; /* "config": {"app": {"allow_vsock": true}}: no isolation */
	json_t *kiln;  /* "config" (a reference held until free), or NULL */
	json_t *exposed_ports; /* "exposed_ports" (a reference held until free), or NULL */
};

int kiln_init_config_parse(const char *text, size_t len, struct kiln_init_config *out) KILN_MUST;
int kiln_init_config_load(const char *path, struct kiln_init_config *out) KILN_MUST;
/* Append entry ("NAME=value") to env unless NAME is already set. */
int kiln_init_config_env_default(struct kiln_init_config *c, const char *entry) KILN_MUST;
/* The value of NAME in c->env, or NULL. */
const char *kiln_init_config_getenv(const struct kiln_init_config *c, const char *name);
void kiln_init_config_free(struct kiln_init_config *c);

#endif
