/* SPDX-License-Identifier: Apache-2.0 */
/* One layer: decompress, hash, parse its tar, stage contents, apply to the tree. */
/*
 * How this works. Two libarchive readers form a pipeline over one pass of
 * the blob. The outer reader ("raw" format, any supported compression)
 * pulls the stored bytes with pread and hashes them (the blob digest); its
 * output, the uncompressed tar stream, feeds the inner tar reader through a
 * tap that hashes it (the diff_id). Whatever the tar reader leaves unread
 * after its end marker is drained through the tap, so both digests cover
 * every byte. Regular file contents are appended to the staging file.
 *
 * An uncompressed layer (the common docker-archive case) needs none of
 * that: the tar reader reads the blob directly, skipping over file data,
 * and each regular file is recorded as (blob, offset, size) to be read in
 * place when the EIF is written. The blob's digest is computed by a thread
 * of its own that reads the whole blob sequentially (verify.c), on another
 * core. So the bytes are read once to be hashed and once more when written
 * out, never copied to a staging file.
 */
#include "image/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "util/async_digest.h"
#include "util/cleanup.h"

/* The stored bytes: pread from the blob, hashed on the way. */
struct raw_src {
	struct img_blob blob;
	uint64_t pos;
	EVP_MD_CTX *md;     /* NULL: the stored bytes need no digest of their own */
	unsigned char *buf;
};

/* Header reads of an uncompressed layer: small, since file data is skipped. */
#define DIRECT_CHUNK (16u << 10)

/* The uncompressed tar stream: read from the outer reader, hashed. */
struct tap {
	struct archive *outer;
	EVP_MD_CTX *md;
	struct kiln_async_digest *ad; /* hashes on the second core while we parse */
	bool eof;
};

struct layer_ctx {
	struct kiln_image *img;
	const struct img_layer *l;
	struct raw_src raw;
	struct tap tap;
	struct archive *outer, *inner;
	bool direct;         /* uncompressed: parse the blob in place */
	struct stat blob_st; /* direct: the blob file before it was hashed */
	int data_fd;         /* direct: the image's own descriptor of the blob */
	struct img_check *check; /* direct: the blob's digest, computing */
};

static ssize_t raw_read(struct archive *a, void *arg, const void **out)
{
	struct raw_src *r = arg;
	uint64_t left = r->blob.size - r->pos;
	size_t n = left < IMG_CHUNK ? (size_t)left : IMG_CHUNK;

	if (n == 0)
		return 0;
	if (img_pread_full(r->blob.fd, r->buf, n, r->blob.off + r->pos) < 0) {
		archive_set_error(a, EIO, "%s", kiln_errmsg());
		return -1;
	}
	if (r->md)
		EVP_DigestUpdate(r->md, r->buf, n);
	r->pos += n;
	*out = r->buf;
	return (ssize_t)n;
}

static ssize_t direct_read(struct archive *a, void *arg, const void **out)
{
	struct raw_src *r = arg;
	uint64_t left = r->blob.size - r->pos;
	size_t n = left < DIRECT_CHUNK ? (size_t)left : DIRECT_CHUNK;

	if (n && img_pread_full(r->blob.fd, r->buf, n, r->blob.off + r->pos) < 0) {
		archive_set_error(a, EIO, "%s", kiln_errmsg());
		return -1;
	}
	r->pos += n;
	*out = r->buf;
	return (ssize_t)n;
}

/* File data is not read here: the blob's digest covers it, the EIF writer reads it. */
static la_int64_t direct_skip(struct archive *a, void *arg, la_int64_t req)
{
	struct raw_src *r = arg;
	uint64_t left = r->blob.size - r->pos;
	uint64_t n = req < 0 ? 0 : (uint64_t)req < left ? (uint64_t)req : left;

	(void)a;
	r->pos += n;
	return (la_int64_t)n;
}

static ssize_t tap_read(struct archive *a, void *arg, const void **out)
{
	struct tap *t = arg;
	const void *p;
	size_t size = 0;
	la_int64_t off;
	int r;

	while (!t->eof && size == 0) {
		r = archive_read_data_block(t->outer, &p, &size, &off);
		if (r == ARCHIVE_EOF) {
			t->eof = true;
			return 0;
		}
		if (r < ARCHIVE_OK) {
			archive_set_error(a, archive_errno(t->outer) > 0 ? archive_errno(t->outer) : EIO,
					  "%s", archive_error_string(t->outer));
			return -1;
		}
	}
	if (size && kiln_async_digest_update(t->ad, t->md, NULL, p, size) < 0) {
		archive_set_error(a, EIO, "sha256 failed");
		return -1;
	}
	*out = p;
	return (ssize_t)size;
}

static int lib_err(struct archive *a, const char *what)
{
	const char *s = archive_error_string(a);
	int e = archive_errno(a);

	return kiln_err(e > 0 ? e : EIO, "%s: %s", what, s ? s : "unknown libarchive error");
}

static int open_outer(struct layer_ctx *c)
{
	struct archive_entry *ent;
	struct archive *a = archive_read_new();

	c->outer = a;
	c->tap.outer = a;
	if (!a)
		return kiln_err(ENOMEM, "out of memory");
	/* Only in-process decoders: never spawn an external program on hostile input. */
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_filter_bzip2(a) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(a) != ARCHIVE_OK ||
	    archive_read_support_format_raw(a) != ARCHIVE_OK ||
	    archive_read_support_format_empty(a) != ARCHIVE_OK)
		return lib_err(a, "libarchive setup");
	if (archive_read_open2(a, &c->raw, NULL, raw_read, NULL, NULL) != ARCHIVE_OK)
		return lib_err(a, "decompress");
	switch (archive_read_next_header(a, &ent)) {
	case ARCHIVE_OK:
		c->direct = archive_filter_count(a) == 1 &&
			    archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE;
		return 0;
	case ARCHIVE_EOF:
		c->tap.eof = true; /* an empty blob: an empty layer */
		return 0;
	default:
		return lib_err(a, "decompress");
	}
}

static int open_inner(struct layer_ctx *c)
{
	struct archive *a = archive_read_new();

	c->inner = a;
	if (!a)
		return kiln_err(ENOMEM, "out of memory");
	if (kiln_async_digest_new(&c->tap.ad) < 0) /* only the staged path hashes here */
		return kiln_err(ENOMEM, "cannot start the hashing thread");
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_support_format_empty(a) != ARCHIVE_OK)
		return lib_err(a, "libarchive setup");
	if (archive_read_open(a, &c->tap, NULL, tap_read, NULL) != ARCHIVE_OK)
		return lib_err(a, "tar");
	return 0;
}

/*
 * An uncompressed layer: drop the outer reader, hash the blob on a thread,
 * and let the tar reader read the blob itself, skipping file data.
 */
static int open_direct(struct layer_ctx *c)
{
	struct img_blob kept = c->raw.blob;
	struct archive *a;
	int rc;

	archive_read_free(c->outer);
	c->outer = NULL;
	c->raw.pos = 0;
	/* The state before hashing: kiln_image_check_unchanged() compares against it. */
	if (fstat(c->raw.blob.fd, &c->blob_st) < 0)
		return kiln_err(errno, "layer: %s", strerror(errno));
	/* The image's own descriptor: the caller may close its one before a deferred check ends. */
	rc = img_keep_fd(c->img, c->raw.blob.fd, &c->blob_st, &c->data_fd);
	if (rc < 0)
		return rc;
	kept.fd = c->data_fd;
	rc = img_check_start(c->l, &kept, &c->check);
	if (rc < 0)
		return rc;
	a = c->inner = archive_read_new();
	if (!a)
		return kiln_err(ENOMEM, "out of memory");
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_support_format_empty(a) != ARCHIVE_OK ||
	    archive_read_set_read_callback(a, direct_read) != ARCHIVE_OK ||
	    archive_read_set_skip_callback(a, direct_skip) != ARCHIVE_OK ||
	    archive_read_set_callback_data(a, &c->raw) != ARCHIVE_OK)
		return lib_err(a, "libarchive setup");
	if (archive_read_open1(a) != ARCHIVE_OK)
		return lib_err(a, "tar");
	return 0;
}

/* Record where an uncompressed layer's file data is (the tar reader skips it). */
static int point_data(struct layer_ctx *c, struct archive_entry *ent, struct img_entry *e)
{
	la_int64_t size = archive_entry_size(ent), off = archive_filter_bytes(c->inner, 0);
	uint64_t end = c->raw.blob.size;

	if (size < 0)
		return kiln_err(EBADMSG, "negative size");
	if (off < 0 || (uint64_t)off > end || (uint64_t)size > end - (uint64_t)off)
		return kiln_err(EBADMSG, "data beyond the end of the layer");
	e->data_fd = size ? c->data_fd : -1;
	e->data_off = c->raw.blob.off + (uint64_t)off;
	e->size = (uint64_t)size;
	return 0;
}

/* Append a regular file's bytes to the staging file. */
static int stage_data(struct layer_ctx *c, struct archive_entry *ent, struct img_entry *e)
{
	struct kiln_image *img = c->img;
	uint64_t base = img->stage_end, size = (uint64_t)archive_entry_size(ent), end = 0;
	const void *p;
	size_t n;
	la_int64_t off;
	int r, fd = img_stage_fd(img);

	if (fd < 0)
		return fd;
	if (archive_entry_size(ent) < 0)
		return kiln_err(EBADMSG, "negative size");
	while ((r = archive_read_data_block(c->inner, &p, &n, &off)) == ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off > size || n > size - (uint64_t)off)
			return kiln_err(EBADMSG, "data beyond the entry's size");
		for (size_t done = 0; done < n;) {
			ssize_t w = pwrite(fd, (const char *)p + done, n - done,
					   (off_t)(base + (uint64_t)off + done));

			if (w < 0 && errno != EINTR)
				return kiln_err(errno, "staging file: %s", strerror(errno));
			done += w > 0 ? (size_t)w : 0;
		}
		if ((uint64_t)off + n > end)
			end = (uint64_t)off + n;
	}
	if (r != ARCHIVE_EOF)
		return lib_err(c->inner, "data");
	if (end < size && ftruncate(fd, (off_t)(base + size)) < 0)
		return kiln_err(errno, "staging file: %s", strerror(errno));
	e->data_fd = fd;
	e->data_off = base;
	e->size = size;
	img->stage_end = base + size;
	return 0;
}

static int read_xattrs(struct archive_entry *ent, struct img_entry *e)
{
	const char *name;
	const void *value;
	size_t size, total = 0, n = (size_t)archive_entry_xattr_reset(ent);

	if (n == 0)
		return 0;
	if (n > IMG_XATTRS_MAX)
		return kiln_err(E2BIG, "too many xattrs (%zu)", n);
	e->xattrs = calloc(n, sizeof(*e->xattrs));
	if (!e->xattrs)
		return kiln_err(ENOMEM, "out of memory");
	while (e->n_xattrs < n && archive_entry_xattr_next(ent, &name, &value, &size) == ARCHIVE_OK) {
		struct kiln_xattr *x = &e->xattrs[e->n_xattrs++];

		total += size;
		if (total > IMG_XATTR_BYTES)
			return kiln_err(E2BIG, "xattrs too large");
		x->name = strdup(name);
		x->value = malloc(size ? size : 1);
		if (!x->name || !x->value)
			return kiln_err(ENOMEM, "out of memory");
		memcpy(x->value, value, size);
		x->len = size;
	}
	return 0;
}

static void free_xattrs(struct img_entry *e)
{
	for (size_t i = 0; e->xattrs && i < e->n_xattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
}

/* Hostile names may hold control bytes: messages stay one printable line. */
static const char *printable(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

static int skip_special(struct layer_ctx *c, const char *path, const char *what)
{
	char p[320];

	fprintf(stderr, "kiln: warning: layer %u: entry %s: %s skipped\n", c->l->index,
		printable(path, p, sizeof(p)), what);
	c->img->warnings++;
	return 0;
}

/* Fill e from the tar header by type; *skip set for entries kiln drops. */
static int classify(struct layer_ctx *c, struct archive_entry *ent, struct img_entry *e,
		    bool *skip)
{
	unsigned type = archive_entry_filetype(ent);

	e->hardlink = archive_entry_hardlink(ent);
	if (e->hardlink)
		return strlen(e->hardlink) > IMG_PATH_MAX ? kiln_err(ENAMETOOLONG, "link too long") : 0;
	e->mode = type | (archive_entry_perm(ent) & 07777);
	switch (type) {
	case AE_IFREG:
		/* Sparse entries' data is not one range of the blob: stage those. */
		return c->direct && archive_entry_sparse_count(ent) == 0 ? point_data(c, ent, e)
									 : stage_data(c, ent, e);
	case AE_IFDIR:
		return 0;
	case AE_IFLNK:
		e->link_target = archive_entry_symlink(ent);
		if (!e->link_target)
			return kiln_err(EBADMSG, "symlink without a target");
		return strlen(e->link_target) > IMG_PATH_MAX
			       ? kiln_err(ENAMETOOLONG, "symlink target too long")
			       : 0;
	case AE_IFCHR:
	case AE_IFBLK:
		e->rdev_major = (uint32_t)archive_entry_rdevmajor(ent);
		e->rdev_minor = (uint32_t)archive_entry_rdevminor(ent);
		return 0;
	case AE_IFIFO:
		return 0;
	case AE_IFSOCK:
		*skip = true;
		return skip_special(c, e->path, "socket");
	default:
		return kiln_err(EBADMSG, "unsupported entry type 0%o", type);
	}
}

static int one_entry(struct layer_ctx *c, struct archive_entry *ent)
{
	struct img_entry e = { .path = archive_entry_pathname(ent), .data_fd = -1 };
	la_int64_t uid = archive_entry_uid(ent), gid = archive_entry_gid(ent);
	bool skip = false;
	int rc;

	if (!e.path || !*e.path)
		return kiln_err(EBADMSG, "entry without a path");
	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return kiln_err_wrap(kiln_err(ERANGE, "uid/gid out of range"), "entry %.300s",
				     e.path);
	e.uid = (uint32_t)uid;
	e.gid = (uint32_t)gid;
	rc = classify(c, ent, &e, &skip);
	if (rc == 0 && !skip)
		rc = read_xattrs(ent, &e);
	if (rc == 0 && !skip)
		rc = img_tree_apply(c->img->tree, &e);
	free_xattrs(&e);
	return rc < 0 ? kiln_err_wrap(rc, "entry %.300s", e.path) : 0;
}

static int walk_entries(struct layer_ctx *c)
{
	struct archive_entry *ent;
	char last[320] = "";
	int r, rc;

	for (;;) {
		r = archive_read_next_header(c->inner, &ent);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return lib_err(c->inner, *last ? last : "tar");
		rc = one_entry(c, ent);
		if (rc < 0)
			return rc;
		snprintf(last, sizeof(last), "after entry %.300s", archive_entry_pathname(ent));
	}
}

/* Hash the rest of both streams, then compare against the expected digests. */
static int drain(struct layer_ctx *c)
{
	const void *p;

	while (!c->tap.eof)
		if (tap_read(c->inner, &c->tap, &p) < 0)
			return lib_err(c->inner, "decompress");
	while (c->raw.pos < c->raw.blob.size)
		if (raw_read(c->outer, &c->raw, &p) < 0)
			return lib_err(c->outer, "read");
	return 0;
}

static int digest_hex_cmp(const unsigned char md[32], const char *want, const char *what)
{
	img_digest got;

	img_digest_hex(md, got);
	if (strcmp(got, want) != 0)
		return kiln_err(EBADMSG, "%s digest mismatch: got %s, want %s", what, got, want);
	return 0;
}

static int digest_cmp(EVP_MD_CTX *md, const char *want, const char *what)
{
	unsigned char out[32];

	if (!EVP_DigestFinal_ex(md, out, NULL))
		return kiln_err(EIO, "sha256 failed");
	return digest_hex_cmp(out, want, what);
}

/* When parsing failed, a wrong blob digest is the better explanation. */
static int blame_blob(struct layer_ctx *c, int rc)
{
	const void *p;
	int bad;

	if (!c->l->blob_digest)
		return rc;
	if (!c->raw.md) {
		/* Not hashed on the way (blob digest == diff_id): hash it now. */
		c->raw.md = EVP_MD_CTX_new();
		if (!c->raw.md || !EVP_DigestInit_ex(c->raw.md, EVP_sha256(), NULL))
			return rc;
		c->raw.pos = 0;
	}
	while (c->raw.pos < c->raw.blob.size)
		if (raw_read(c->outer, &c->raw, &p) < 0)
			return rc;
	bad = digest_cmp(c->raw.md, c->l->blob_digest, "blob") < 0;
	return bad ? -EBADMSG : rc;
}

/* An uncompressed layer: one digest of the blob, checked against both names. */
static int finish_direct(struct layer_ctx *c, int rc)
{
	struct img_check *k = KILN_STEAL_PTR(c->check);

	if (!k)
		return rc;
	if (rc < 0) {
		rc = img_check_blame(k, rc);
		img_check_free(k);
		return rc;
	}
	if (c->img->defer)
		return img_check_defer(c->img, k);
	rc = img_check_end(k);
	img_check_free(k);
	return rc;
}

static int run_direct(struct layer_ctx *c)
{
	int rc = open_direct(c);

	if (rc == 0)
		rc = walk_entries(c);
	return finish_direct(c, rc);
}

static int run(struct layer_ctx *c)
{
	int rc;

	rc = open_outer(c);
	if (rc == 0 && c->direct)
		return run_direct(c);
	if (rc == 0)
		rc = open_inner(c);
	if (rc == 0)
		rc = walk_entries(c);
	if (rc == 0)
		rc = drain(c);
	if (rc < 0)
		return blame_blob(c, rc);
	rc = kiln_async_digest_sync(c->tap.ad);
	if (rc < 0)
		return rc;
	if (c->raw.md && (rc = digest_cmp(c->raw.md, c->l->blob_digest, "blob")) < 0)
		return rc;
	/* An uncompressed blob's digest is its diff_id: hashed once, checked once. */
	return digest_cmp(c->tap.md, c->l->diff_id, c->raw.md ? "uncompressed (diff_id)" : "layer");
}

int img_layer_apply(struct kiln_image *img, const struct img_layer *l)
{
	struct layer_ctx c = { .img = img, .l = l, .raw.blob = l->blob, .data_fd = -1 };
	char sd[20];
	int rc = 0;

	bool raw_digest = l->blob_digest && (!l->diff_id || strcmp(l->blob_digest, l->diff_id));

	c.raw.md = raw_digest ? EVP_MD_CTX_new() : NULL;
	c.tap.md = EVP_MD_CTX_new();
	c.raw.buf = malloc(IMG_CHUNK);
	if ((raw_digest && (!c.raw.md || !EVP_DigestInit_ex(c.raw.md, EVP_sha256(), NULL))) ||
	    !c.tap.md || !c.raw.buf || !EVP_DigestInit_ex(c.tap.md, EVP_sha256(), NULL))
		rc = kiln_err(ENOMEM, "out of memory");
	img_tree_layer(img->tree, l->index);
	if (rc == 0)
		rc = run(&c);
	if (c.inner)
		archive_read_free(c.inner);
	if (c.outer)
		archive_read_free(c.outer);
	kiln_async_digest_free(c.tap.ad);
	EVP_MD_CTX_free(c.raw.md);
	EVP_MD_CTX_free(c.tap.md);
	free(c.raw.buf);
	if (rc < 0) {
		char msg[1024];

		printable(kiln_errmsg(), msg, sizeof(msg));
		return kiln_err(-rc, "layer %u (%s): %s", l->index,
				img_digest_short(l->blob_digest ? l->blob_digest : l->diff_id, sd), msg);
	}
	return 0;
}
