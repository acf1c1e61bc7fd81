/* SPDX-License-Identifier: Apache-2.0 */
/* Container image input: docker-archive and OCI layout, flattened to a tree. */
#ifndef KILN_IMAGE_IMAGE_H
#define KILN_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The parts of the image config (OCI/Docker "config" object) kiln uses. */
struct kiln_image_config {
	char **entrypoint;   /* NULL-terminated, NULL when absent */
	char **cmd;          /* NULL-terminated, NULL when absent */
	char **env;          /* NULL-terminated "K=V", NULL when absent */
	char *working_dir;   /* NULL when absent */
	char *user;          /* NULL when absent */
	char *created;       /* RFC 3339 or NULL */
	char *architecture;  /* "amd64", "arm64", ... or NULL */
	char *config_json;   /* the whole config blob's "config" object, canonical JSON */
	char *digest;        /* "sha256:..." of the config blob (the image ID) */
	uint16_t *exposed_tcp; /* ExposedPorts' tcp ports, ascending, no duplicates */
	size_t n_exposed_tcp;
};

struct kiln_xattr {
	char *name;
	uint8_t *value;
	size_t len;
};

/* One path of the flattened filesystem, as kiln_image_foreach() yields it. */
struct kiln_fs_entry {
	const char *path;        /* relative to the root, no leading '/', never "" */
	uint32_t mode;           /* S_IFDIR/REG/LNK/CHR/BLK/IFO plus permission bits */
	uint32_t uid, gid;
	uint64_t size;           /* regular files: content bytes; else 0 */
	const char *link_target; /* symlinks: target as stored; else NULL */
	uint32_t rdev_major, rdev_minor; /* char and block devices; else 0 */
	uint64_t link_group;     /* regular files: nonzero when hardlinked; equal values = same file */
	uint32_t nlink;          /* paths sharing link_group (1 when not hardlinked) */
	bool data_here;          /* regular files: this path carries the bytes (last of its group) */
	size_t n_xattrs;
	const struct kiln_xattr *xattrs;
};

struct kiln_image;

/*
 * Open IMAGE ("docker-archive:FILE" or "oci:DIR[:TAG]"), verify every blob's
 * digest, and flatten the layers in order with OCI whiteout semantics.
 * File contents of compressed layers are kept in an unlinked staging file
 * under tmpdir (NULL: $TMPDIR or /tmp); those of uncompressed layers stay
 * where they are, the files kept open; memory holds only metadata.
 * Hostile input fails with a one-line message naming the layer and entry.
 */
int kiln_image_open(const char *ref, const char *tmpdir, struct kiln_image **out) KILN_MUST;
/*
 * As kiln_image_open(), except that the digests of uncompressed layers may
 * still be computing (on other cores) when it returns: the tree and the
 * config are usable, but no file content may be trusted or published until
 * kiln_image_verify() returned 0.
 */
int kiln_image_open_deferred(const char *ref, const char *tmpdir,
			     struct kiln_image **out) KILN_MUST;
int kiln_image_verify(struct kiln_image *img) KILN_MUST;
void kiln_image_free(struct kiln_image *img);

const struct kiln_image_config *kiln_image_config(const struct kiln_image *img);

/* Visit every path in bytewise-sorted order (parents before children). */
int kiln_image_foreach(struct kiln_image *img,
		       int (*fn)(const struct kiln_fs_entry *e, void *arg), void *arg) KILN_MUST;

/*
 * Where a regular file's content is (e->data_here must be true): size bytes
 * at off in fd, which the image owns. Uncompressed layers are read in place
 * (fd is the layer blob), compressed ones from the staging file.
 */
int kiln_image_data(struct kiln_image *img, const struct kiln_fs_entry *e, int *fd,
		    uint64_t *off, uint64_t *size) KILN_MUST;

/*
 * Stream a regular file's content (e->data_here must be true) in chunks to
 * sink; never holds the whole file in memory.
 */
int kiln_image_read(struct kiln_image *img, const struct kiln_fs_entry *e,
		    int (*sink)(const void *buf, size_t len, void *arg), void *arg) KILN_MUST;

/*
 * Fail when a file the image reads in place (an uncompressed layer) changed
 * since its digest was checked: call after the last read, before trusting it.
 */
int kiln_image_check_unchanged(struct kiln_image *img) KILN_MUST;

/* Bytes copied into the staging file (file data of compressed layers only). */
uint64_t kiln_image_staged_bytes(const struct kiln_image *img);

/* Number of warnings (e.g. sockets skipped) printed while flattening. */
unsigned kiln_image_warnings(const struct kiln_image *img);

#endif
