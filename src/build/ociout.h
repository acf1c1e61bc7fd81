/* SPDX-License-Identifier: Apache-2.0 */
/* kiln build --output-image: an EIF, kiln and kilnd as a reproducible OCI image. */
#ifndef KILN_BUILD_OCIOUT_H
#define KILN_BUILD_OCIOUT_H

#include <stdint.h>
#include <stdio.h>

#include "eif/eif.h"
#include "util/err.h"

/* Where things live inside the image (the launcher's defaults). */
#define KILN_IMG_EIF "/kiln/app.eif"
#define KILN_IMG_KILN "/kiln/bin/kiln"
#define KILN_IMG_STATE "/run/kiln"

/* Annotation (and config label) keys; the webhook reads the memory ones. */
#define KILN_ANN_PREFIX "enclave.kiln/"
#define KILN_ANN_MEMORY "enclave.kiln/memory"         /* MiB kiln run uses by default */
#define KILN_ANN_MIN_MEMORY "enclave.kiln/min-memory" /* MiB: 4 x EIF size, even */
#define KILN_ANN_CPUS "enclave.kiln/cpus"
#define KILN_ANN_STORAGE "enclave.kiln/storage" /* kiln.yaml's storage paths, comma-separated */

struct kiln_oci_out {
	const char *dest;      /* docker-archive:FILE[:NAME[:TAG]] or oci:DIR[:TAG] */
	const char *eif_path;  /* the EIF built */
	const char *kiln;      /* kiln executable (static); NULL: this one */
	const char *kilnd;     /* kilnd executable; NULL: beside kiln */
	const char *name;      /* image name for docker-archive's RepoTags; NULL: "kiln-enclave" */
	const struct eif_pcrs *pcrs;
	int64_t epoch;         /* every timestamp: SOURCE_DATE_EPOCH, else 0 */
};

/* Write the image atomically (oci: DIR's index.json last; docker-archive: rename). */
int kiln_oci_write(const struct kiln_oci_out *o) KILN_MUST;

/*
 * The deterministic tar writer (ustar, numeric owner 0, fixed mtime), used
 * for the layer and the docker-archive wrapper. Output goes through a sink
 * that can gzip and digests both the plain and the written bytes.
 */
struct kiln_osink;
int kiln_osink_open(int fd, int gzip, struct kiln_osink **out) KILN_MUST;
/* Flush, and give the sha256 hex digests (written bytes; plain bytes) and size. */
int kiln_osink_close(struct kiln_osink *s, char out_hex[65], char plain_hex[65],
		     uint64_t *out_size) KILN_MUST;
void kiln_osink_free(struct kiln_osink *s);
int kiln_tar_dir(struct kiln_osink *s, const char *path, unsigned mode, int64_t mtime) KILN_MUST;
int kiln_tar_file_fd(struct kiln_osink *s, const char *path, unsigned mode, int64_t mtime,
		     int fd) KILN_MUST;
int kiln_tar_file_mem(struct kiln_osink *s, const char *path, unsigned mode, int64_t mtime,
		      const void *data, size_t len) KILN_MUST;
int kiln_tar_end(struct kiln_osink *s) KILN_MUST;

#endif
