/* SPDX-License-Identifier: Apache-2.0 */
/* Internal interfaces of the image area: blobs, the flattened tree, layers. */
#ifndef KILN_IMAGE_INTERNAL_H
#define KILN_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "image/image.h"
#include "util/err.h"

/* Limits on hostile input. */
#define IMG_PATH_MAX 4096         /* bytes of an entry path or link target */
#define IMG_NAME_MAX 255          /* bytes of one path component */
#define IMG_DEPTH_MAX 256         /* components of a path in the tree */
#define IMG_NODES_MAX 1000000     /* live paths in the flattened tree */
#define IMG_SYMLINK_HOPS 40       /* symlinks followed while resolving one path */
#define IMG_XATTRS_MAX 128        /* xattrs on one entry */
#define IMG_XATTR_BYTES 65536     /* total xattr value bytes on one entry */
#define IMG_JSON_MAX (16u << 20)  /* manifests, indexes and configs */
#define IMG_LAYERS_MAX 1024
#define IMG_CHUNK (1u << 20)      /* I/O chunk size */

/* A byte range of a file: an OCI blob, or one member of an uncompressed tar. */
struct img_blob {
	int fd;          /* not owned */
	uint64_t off;
	uint64_t size;
};

/* "sha256:<64 lowercase hex>" plus NUL. */
#define IMG_DIGEST_LEN (7 + 64)
typedef char img_digest[IMG_DIGEST_LEN + 1];

/* blob.c */
int img_digest_check(const char *s) KILN_MUST;
void img_digest_hex(const unsigned char md[32], img_digest out);
/* "sha256:0123456789ab": short form for messages. */
const char *img_digest_short(const char *digest, char buf[20]);
/* Read a whole blob (at most IMG_JSON_MAX bytes) and return its digest. */
int img_blob_slurp(const struct img_blob *b, char **buf, img_digest digest) KILN_MUST;
int img_pread_full(int fd, void *buf, size_t len, uint64_t off) KILN_MUST;

/* The flattened tree (tree.c). */
struct img_tree;
int img_tree_new(struct img_tree **out) KILN_MUST;
void img_tree_free(struct img_tree *t);

/* What one layer entry asks for, as layer.c hands it to the tree. */
struct img_entry {
	const char *path;        /* as stored in the layer */
	uint32_t mode;           /* file type (not sockets) | perms; 0 for hardlinks */
	uint32_t uid, gid;
	const char *link_target; /* symlink target */
	const char *hardlink;    /* hardlink target path, or NULL */
	int data_fd;             /* regular: the staging file or the layer blob (-1: no bytes) */
	uint64_t data_off;       /* regular: offset of the bytes in data_fd */
	uint64_t size;           /* regular: bytes */
	uint32_t rdev_major, rdev_minor; /* char and block devices */
	size_t n_xattrs;
	struct kiln_xattr *xattrs; /* ownership moves to the tree on success */
};

/* Start a new layer (1-based index): duplicate and opaque checks are per layer. */
void img_tree_layer(struct img_tree *t, unsigned layer);
int img_tree_apply(struct img_tree *t, struct img_entry *e) KILN_MUST;

/* Content location of the regular file at path (physical, no symlinks). */
int img_tree_lookup_data(struct img_tree *t, const char *path, int *fd, uint64_t *off,
			 uint64_t *size) KILN_MUST;
int img_tree_foreach(struct img_tree *t, int (*fn)(const struct kiln_fs_entry *e, void *arg),
		     void *arg) KILN_MUST;

/* A file the tree points into (a layer blob read in place), kept open. */
struct img_source {
	int fd;                  /* owned */
	struct stat st;          /* as first seen: a later change is an error */
};

/* The image being built. */
struct kiln_image {
	struct kiln_image_config cfg;
	char **diff_ids;         /* from the config's rootfs, NULL-terminated */
	struct img_tree *tree;
	char *tmpdir;            /* for the staging file; NULL: $TMPDIR or /tmp */
	int stage_fd;            /* -1 until a compressed layer needs it */
	uint64_t stage_end;
	struct img_source *src;
	size_t n_src;
	bool defer;              /* leave layer digest checks running (kiln_image_open_deferred) */
	struct img_check **checks; /* running, oldest first */
	size_t n_checks;
	int check_rc;            /* the first failed check, returned ever after */
	unsigned warnings;
};

/* image.c: the staging file, created on first use. */
int img_stage_fd(struct kiln_image *img) KILN_MUST;
/*
 * Keep the file behind fd open for the image's lifetime and return the
 * image's own descriptor of it in *kept (one per file). st is the file's
 * state before its bytes were verified; a later change fails the build.
 */
int img_keep_fd(struct kiln_image *img, int fd, const struct stat *st, int *kept) KILN_MUST;

/* config.c */
int img_config_parse(struct kiln_image *img, const char *buf, size_t len,
		     const img_digest digest) KILN_MUST;
void img_config_free(struct kiln_image_config *c);
void img_strv_free(char **v);

/* layer.c: flatten one layer onto img->tree. blob_digest may be NULL. */
struct img_layer {
	unsigned index;          /* 1-based */
	struct img_blob blob;
	const char *blob_digest; /* expected digest of the stored bytes, or NULL */
	const char *diff_id;     /* expected digest of the uncompressed tar */
};
int img_layer_apply(struct kiln_image *img, const struct img_layer *l) KILN_MUST;

/* verify.c: an uncompressed layer blob's SHA-256 on a thread of its own. */
struct img_check;
int img_check_start(const struct img_layer *l, const struct img_blob *blob,
		    struct img_check **out) KILN_MUST;
/* Wait, then compare with the layer's blob digest and diff_id. */
int img_check_end(struct img_check *k) KILN_MUST;
/* After a parse error rc: a wrong blob digest explains it better (-EBADMSG), else rc. */
int img_check_blame(struct img_check *k, int rc) KILN_MUST;
void img_check_free(struct img_check *k);
/* Queue k on the image (owned by it from now on, even on failure). */
int img_check_defer(struct kiln_image *img, struct img_check *k) KILN_MUST;
/* End the oldest queued checks until at most keep remain; errors name the layer. */
int img_checks_wait(struct kiln_image *img, size_t keep) KILN_MUST;
void img_checks_free(struct kiln_image *img);

/* docker.c and oci.c */
int img_open_docker(struct kiln_image *img, const char *file, const char *tmpdir) KILN_MUST;
int img_open_oci(struct kiln_image *img, const char *dir, const char *tag) KILN_MUST;

/* Apply every layer of a parsed image, checking the count against diff_ids. */
int img_apply_layers(struct kiln_image *img, const struct img_layer *layers,
		     size_t n) KILN_MUST;

/* Open an unlinked temporary file in tmpdir. */
int img_tmpfile(const char *tmpdir) KILN_MUST;

#endif
