/* SPDX-License-Identifier: Apache-2.0 */
/* kiln build: container image + kiln.yaml -> reproducible EIF. */
#ifndef KILN_BUILD_BUILD_H
#define KILN_BUILD_BUILD_H

#include <stdint.h>

#include "eif/eif.h"
#include "util/err.h"

#define KILN_DEFAULT_BLOBS "/usr/share/nitro_enclaves/blobs"
#define KILN_DEFAULT_KERNEL_DIR "/var/lib/kiln/kernel"
#define KILN_AWS_CMDLINE_X86                                                          \
	"reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux " \
	"i8042.nopnp i8042.dumbkbd random.trust_cpu=on"

struct kiln_build_opts {
	const char *image;         /* docker-archive:FILE or oci:DIR[:TAG]; NULL: config's */
	const char *output;        /* the EIF path */
	const char *config;        /* kiln.yaml or NULL */
	const char *blobs;         /* AWS blobs dir; NULL: default when present */
	const char *kernel;        /* overrides the blobs' kernel */
	const char *cmdline;       /* overrides the blobs' cmdline */
	const char *kiln_init;     /* kiln-init binary; NULL: beside kiln */
	const char *bootstrap;     /* kiln-bootstrap binary; NULL: beside kiln */
	const char *signing_key;   /* PEM; with signing_cert */
	const char *signing_cert;
	const char *metadata;      /* JSON file for CustomMetadata */
	const char *name;          /* ImageName; NULL: config name */
	const char *version;       /* ImageVersion; NULL: "latest" */
	const char *tmpdir;
	int quiet;                 /* no notices on stderr */
};

int kiln_build(const struct kiln_build_opts *o, struct eif_pcrs *pcrs) KILN_MUST;

#endif
