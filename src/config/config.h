/* SPDX-License-Identifier: Apache-2.0 */
/* kiln.yaml: parse, validate against the schema, emit canonical JSON. */
#ifndef KILN_CONFIG_CONFIG_H
#define KILN_CONFIG_CONFIG_H

#include <jansson.h>

#include "util/err.h"

/*
 * Parse kiln.yaml at path into a validated JSON object with every default
 * filled in (the form measured into PCR2). Unknown keys, wrong types and
 * out-of-range values fail with "FILE:LINE: ..." messages.
 */
int kiln_config_load(const char *path, json_t **out) KILN_MUST;
/* Parse YAML text (name is used in messages). */
int kiln_config_parse(const char *text, size_t len, const char *name, json_t **out) KILN_MUST;
/* The configuration used when no kiln.yaml is given. */
json_t *kiln_config_default(void);
/* Canonical JSON: sorted keys, compact, UTF-8; malloc'd. */
char *kiln_json_canonical(const json_t *v);

#endif
