/* SPDX-License-Identifier: Apache-2.0 */
/* The network.ingress host ports an EIF's metadata records, for `kiln run` without -p. */
#ifndef KILN_EIF_INGRESS_H
#define KILN_EIF_INGRESS_H

#include <stddef.h>

#include "eif/eif.h"
#include "net/portmap.h"

/* Up to max mappings HOSTPORT -> PORT (every address) into out; how many. */
size_t eif_ingress_ports(int fd, const struct eif_info *info, struct kiln_portmap *out,
			 size_t max);

#endif
