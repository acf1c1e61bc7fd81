/* SPDX-License-Identifier: Apache-2.0 */
/* An EIF's ingress as its metadata records it: host ports for `kiln run`, the admitted ports for -p. */
#include "eif/ingress.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "init/admit.h"

/*
 * kiln build repeats the measured kiln.yaml in the metadata section as
 * KilnConfig, and the image's tcp ExposedPorts as KilnExposedPorts
 * (unmeasured, for the parent's use). The enclave decides what it admits
 * from the measured copies with the same rule (init/admit.h); the check
 * here only makes a -p the enclave would refuse fail at once, before
 * anything starts, instead of as closed connections later.
 */
json_t *eif_read_metadata(int fd, const struct eif_info *info)
{
	json_t *md = NULL;

	for (unsigned s = 0; s < info->num_sections && !md; s++) {
		uint8_t *data = NULL;

		if (info->sections[s].type == EIF_SECTION_METADATA &&
		    eif_read_section(fd, info, s, &data, 1u << 20) == 0)
			md = json_loads((char *)data, 0, NULL);
		free(data);
	}
	return md;
}

/*
 * Entries without a host_port are published only with -p; malformed ones
 * are skipped, and kilnd checks the result again when the runtime registers.
 */
size_t eif_ingress_ports(int fd, const struct eif_info *info, struct kiln_portmap *out,
			 size_t max)
{
	json_t *md = eif_read_metadata(fd, info), *v;
	size_t i, n = 0;

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

int eif_ingress_check(int fd, const struct eif_info *info, const struct kiln_portmap *m,
		      size_t n)
{
	json_t *md;
	struct kiln_admit a;
	char ports[200], spec[80];
	int rc = 0;

	if (!n)
		return 0;
	md = eif_read_metadata(fd, info);
	if (!md || !json_object_get(md, "KilnConfig"))
		rc = kiln_err(EINVAL, "-p: the EIF records no kiln config (built by another tool?); "
			      "its ingress ports are unknown");
	else if ((rc = kiln_admit_from_json(json_object_get(md, "KilnConfig"),
					    json_object_get(md, "KilnExposedPorts"), &a, NULL,
					    NULL)) < 0)
		rc = kiln_err_wrap(rc, "-p: the EIF's recorded config");
	if (rc < 0) {
		json_decref(md);
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (kiln_admit_find(&a, m[i].port))
			continue;
		kiln_portmap_format(&m[i], spec, sizeof(spec));
		kiln_admit_format(&a, ports, sizeof(ports));
		rc = kiln_err(EPERM, "-p %s: the enclave does not admit port %u (admitted: %s)%s",
			      spec, m[i].port, ports,
			      kiln_admit_reserved(json_object_get(md, "KilnConfig"), m[i].port) ?
				      "; it is kiln-init's own" : "");
	}
	kiln_admit_free(&a);
	json_decref(md);
	return rc;
}
