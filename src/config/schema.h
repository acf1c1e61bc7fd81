/* SPDX-License-Identifier: Apache-2.0 */
/* The kiln.yaml schema as data: field names, types, ranges and defaults. */
#ifndef KILN_CONFIG_SCHEMA_H
#define KILN_CONFIG_SCHEMA_H

#include <stdbool.h>

enum kiln_field_type {
	KF_STR,      /* string; choices restricts it when set */
	KF_INT,      /* integer in [min, max] */
	KF_BOOL,
	KF_STRLIST,  /* list of strings */
	KF_OBJ,      /* mapping described by sub */
	KF_OBJLIST,  /* list of mappings described by sub */
};

struct kiln_field {
	const char *key;
	enum kiln_field_type type;
	bool required;
	const struct kiln_field *sub;  /* KF_OBJ, KF_OBJLIST: NULL-key-terminated */
	long long min, max;            /* KF_INT */
	const char *const *choices;    /* KF_STR: NULL-terminated, or NULL for any */
	const char *def;               /* default as JSON text; NULL: null */
};

extern const struct kiln_field kiln_config_schema[];

#endif
