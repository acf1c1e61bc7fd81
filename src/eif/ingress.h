/* SPDX-License-Identifier: Apache-2.0 */
/* An EIF's ingress as its metadata records it: host ports for `kiln run`, the admitted ports for -p. */
#ifndef KILN_EIF_INGRESS_H
#define KILN_EIF_INGRESS_H

#include <stddef.h>

#include <jansson.h>

#include "eif/eif.h"
#include "net/portmap.h"

/* The metadata section as JSON (KilnConfig: the measured kiln.yaml), or NULL. */
json_t *eif_read_metadata(int fd, const struct eif_info *info);

/* Up to max mappings HOSTPORT -> PORT (every address) into out; how many. */
size_t eif_ingress_ports(int fd, const struct eif_info *info, struct kiln_portmap *out,
			 size_t max);

/*
 * Every mapping's enclave port must be one the enclave admits (init/admit.h,
 * computed from the metadata's copy of the measured config): 0, or an
 * error naming the first mapping that is not and what is admitted.
 */
int eif_ingress_check(int fd, const struct eif_info *info, const struct kiln_portmap *m,
		      size_t n) KILN_MUST;

#endif
