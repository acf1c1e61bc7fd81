/* SPDX-License-Identifier: Apache-2.0 */
/* The network.ingress host ports an EIF's metadata records, for `kiln run` without -p. */
#include "eif/ingress.h"

#include <stdlib.h>

#include <jansson.h>

/*
 * kiln build repeats the measured kiln.yaml in the metadata section as
 * KilnConfig (unmeasured, for the parent's use). Entries without a
 * host_port are published only with -p; malformed ones are skipped, and
 * kilnd checks the result again when the runtime registers.
 */
size_t eif_ingress_ports(int fd, const struct eif_info *info, struct kiln_portmap *out,
			 size_t max)
{
	json_t *md = NULL, *v;
	size_t i, n = 0;

	for (unsigned s = 0; s < info->num_sections && !md; s++) {
		uint8_t *data = NULL;

		if (info->sections[s].type == EIF_SECTION_METADATA &&
		    eif_read_section(fd, info, s, &data, 1u << 20) == 0)
			md = json_loads((char *)data, 0, NULL);
		free(data);
	}
	json_array_foreach(json_object_get(json_object_get(json_object_get(md, "KilnConfig"),
							   "network"), "ingress"), i, v) {
		json_int_t port = json_integer_value(json_object_get(v, "port"));
		json_int_t host = json_integer_value(json_object_get(v, "host_port"));

		if (n == max)
			break;
		if (port < 1 || port > 65535 || host < 1 || host > 65535)
			continue;
		out[n++] = (struct kiln_portmap){ .host_port = (uint16_t)host, .port = (uint16_t)port };
	}
	json_decref(md);
	return n;
}
