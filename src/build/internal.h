/* SPDX-License-Identifier: Apache-2.0 */
/* Pieces of kiln build shared between its files. */
#ifndef KILN_BUILD_INTERNAL_H
#define KILN_BUILD_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "build/build.h"
#include "eif/writer.h"
#include "image/image.h"

/* Where the kernel, cmdline and bootstrap ramdisk come from. */
struct kiln_boot_parts {
	char *kernel;         /* path */
	char *cmdline;        /* text, no trailing newline */
	char *kernel_version; /* for the metadata; "unknown" when not found */
	char *init;           /* ramdisk0 /init: AWS's init or kiln-bootstrap */
	char *nsm_ko;         /* AWS blobs' nsm.ko or NULL */
	bool aws;             /* true when from AWS blobs (boots on Nitro) */
};

int kiln_boot_parts_resolve(const struct kiln_build_opts *o, struct kiln_boot_parts *p) KILN_MUST;
void kiln_boot_parts_free(struct kiln_boot_parts *p);

/* A helper binary: given path, else beside kiln, else /usr/lib/kiln. */
int kiln_find_helper(const char *given, const char *name, char **out) KILN_MUST;

/* Directory of the running kiln executable (for kiln-init/kiln-bootstrap). */
int kiln_self_dir(char *buf, size_t len) KILN_MUST;

/*
 * The enclave-side configuration kiln-init reads (/.kiln/config.json): the
 * kiln.yaml config plus the app's argv, env, workdir and user computed from
 * the image config with kiln.yaml taking precedence.
 */
/* The image's tcp ExposedPorts as a JSON array of ints (NULL: out of memory). */
json_t *kiln_exposed_ports(const struct kiln_image_config *ic);
int kiln_app_config(const json_t *cfg, const struct kiln_image_config *ic, json_t **out) KILN_MUST;

/* nitro-cli style metadata section JSON (canonical). */
int kiln_build_metadata(const struct kiln_build_opts *o, const json_t *cfg,
			const struct kiln_image_config *ic, const struct kiln_boot_parts *p,
			uint64_t epoch, char **out) KILN_MUST;

int kiln_write_ramdisk0(struct eif_writer *w, const struct kiln_boot_parts *p,
			uint32_t mtime) KILN_MUST;

struct kiln_ramdisk1 {
	struct kiln_image *img;
	const char *config_json;   /* /.kiln/config.json */
	const char *kiln_init;     /* path of the kiln-init binary */
	const char *env_file;      /* text of /env */
	uint32_t mtime;
};

int kiln_write_ramdisk1(struct eif_writer *w, const struct kiln_ramdisk1 *r) KILN_MUST;

/* Warn (stderr) about image files under /tmp, /run, ... that the enclave's mounts hide. */
int kiln_warn_hidden_paths(struct kiln_image *img) KILN_MUST;

/* Stream a whole file into the current section. */
int kiln_copy_file_to_section(struct eif_writer *w, const char *path) KILN_MUST;

#endif
