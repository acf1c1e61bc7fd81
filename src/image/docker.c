/* SPDX-License-Identifier: Apache-2.0 */
/* docker-archive input: index the outer tar, read manifest.json, config, layers. */
/*
 * How this works. `docker save` writes an uncompressed tar. Rather than
 * extracting it, one pass of libarchive over its headers records each
 * member's data offset and size (the reader's consumed-bytes count right
 * after a header is where that member's data starts); layers are then read
 * in place with pread. A compressed outer archive is first decompressed
 * into an unlinked file in tmpdir and indexed the same way.
 */
#include "image/internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "util/cleanup.h"

#define MEMBERS_MAX 100000

struct member {
	char *name;
	char *link;      /* symlink members: target, relative to the member's dir */
	uint64_t off, size;
};

struct outer {
	int fd;
	uint64_t size, pos;
	unsigned char buf[65536];
	struct member *m;
	size_t n, cap;
};

static ssize_t outer_read(struct archive *a, void *arg, const void **out)
{
	struct outer *o = arg;
	uint64_t left = o->size - o->pos;
	size_t n = left < sizeof(o->buf) ? (size_t)left : sizeof(o->buf);

	if (n && img_pread_full(o->fd, o->buf, n, o->pos) < 0) {
		archive_set_error(a, EIO, "%s", kiln_errmsg());
		return -1;
	}
	o->pos += n;
	*out = o->buf;
	return (ssize_t)n;
}

static la_int64_t outer_skip(struct archive *a, void *arg, la_int64_t req)
{
	struct outer *o = arg;
	uint64_t left = o->size - o->pos;
	uint64_t n = req < 0 ? 0 : (uint64_t)req < left ? (uint64_t)req : left;

	o->pos += n;
	return (la_int64_t)n;
}

static int member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->name, ((const struct member *)b)->name);
}

static int add_member(struct outer *o, const char *name, const char *link, uint64_t off,
		      uint64_t size)
{
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	if (o->n == MEMBERS_MAX)
		return kiln_err(EFBIG, "archive has more than %d members", MEMBERS_MAX);
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		struct member *m = realloc(o->m, cap * sizeof(*m));

		if (!m)
			return kiln_err(ENOMEM, "out of memory");
		o->m = m;
		o->cap = cap;
	}
	o->m[o->n].name = strdup(name);
	o->m[o->n].link = link ? strdup(link) : NULL;
	if (!o->m[o->n].name || (link && !o->m[o->n].link))
		return kiln_err(ENOMEM, "out of memory");
	o->m[o->n].off = off;
	o->m[o->n++].size = size;
	return 0;
}

static int index_entries(struct outer *o, struct archive *a)
{
	struct archive_entry *ent;
	int r, rc;

	while ((r = archive_read_next_header(a, &ent)) != ARCHIVE_EOF && r >= ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(ent);

		if (name && archive_entry_filetype(ent) == AE_IFLNK && archive_entry_symlink(ent)) {
			rc = add_member(o, name, archive_entry_symlink(ent), 0, 0);
			if (rc < 0)
				return rc;
			continue;
		}
		if (archive_entry_filetype(ent) != AE_IFREG || !name)
			continue;
		if (archive_entry_sparse_count(ent) > 0 || archive_entry_size(ent) < 0)
			return kiln_err(EBADMSG, "member %.200s: sparse or bad size", name);
		rc = add_member(o, name, NULL, (uint64_t)archive_filter_bytes(a, 0),
				(uint64_t)archive_entry_size(ent));
		if (rc < 0)
			return rc;
		if (o->m[o->n - 1].off + o->m[o->n - 1].size > o->size)
			return kiln_err(EBADMSG, "member %.200s: truncated", name);
	}
	if (r != ARCHIVE_EOF)
		return kiln_err(EBADMSG, "archive: %s", archive_error_string(a));
	qsort(o->m, o->n, sizeof(*o->m), member_cmp);
	for (size_t i = 1; i < o->n; i++)
		if (strcmp(o->m[i - 1].name, o->m[i].name) == 0)
			return kiln_err(EBADMSG, "archive: duplicate member %.200s", o->m[i].name);
	return 0;
}

static int build_index(struct outer *o)
{
	struct archive *a = archive_read_new();
	int rc;

	if (!a)
		return kiln_err(ENOMEM, "out of memory");
	o->pos = 0;
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_set_read_callback(a, outer_read) != ARCHIVE_OK ||
	    archive_read_set_skip_callback(a, outer_skip) != ARCHIVE_OK ||
	    archive_read_set_callback_data(a, o) != ARCHIVE_OK ||
	    archive_read_open1(a) != ARCHIVE_OK)
		rc = kiln_err(EBADMSG, "archive: %s", archive_error_string(a));
	else
		rc = index_entries(o, a);
	archive_read_free(a);
	return rc;
}

/* Copy a decompressed stream from a into fd. */
static int copy_out(struct archive *a, int fd, uint64_t *size)
{
	const void *p;
	size_t n;
	la_int64_t off;
	int r;

	*size = 0;
	while ((r = archive_read_data_block(a, &p, &n, &off)) == ARCHIVE_OK) {
		if (pwrite(fd, p, n, off) != (ssize_t)n)
			return kiln_err(EIO, "decompressing archive: short write");
		if ((uint64_t)off + n > *size)
			*size = (uint64_t)off + n;
	}
	return r == ARCHIVE_EOF ? 0
				: kiln_err(EBADMSG, "decompressing archive: %s", archive_error_string(a));
}

/*
 * A compressed outer archive (e.g. `docker save | gzip`): decompress it into
 * an unlinked file in tmpdir once; *fd is replaced by that file.
 */
static int maybe_decompress(struct outer *o, const char *tmpdir, int *tmpfd)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	uint64_t size = 0;
	int rc = 0;

	if (!a)
		return kiln_err(ENOMEM, "out of memory");
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_format_raw(a);
	o->pos = 0;
	if (archive_read_open2(a, o, NULL, outer_read, NULL, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(a, &ent) != ARCHIVE_OK)
		rc = kiln_err(EBADMSG, "archive: %s", archive_error_string(a));
	else if (archive_filter_code(a, 0) != ARCHIVE_FILTER_NONE &&
		 (rc = *tmpfd = img_tmpfile(tmpdir)) >= 0 &&
		 (rc = copy_out(a, *tmpfd, &size)) == 0) {
		o->fd = *tmpfd;
		o->size = size;
	}
	archive_read_free(a);
	return rc < 0 ? rc : 0;
}

static const struct member *find(const struct outer *o, const char *name)
{
	struct member key = { .name = (char *)name };

	while (key.name[0] == '.' && key.name[1] == '/')
		key.name += 2;
	return bsearch(&key, o->m, o->n, sizeof(*o->m), member_cmp);
}

/* Follow symlink members (podman writes <id>/layer.tar -> ../<hex>.tar). */
static const struct member *find_file(const struct outer *o, const char *name)
{
	const struct member *m = find(o, name);
	char path[1024];

	for (int hops = 0; m && m->link && hops < 8; hops++) {
		const char *slash = strrchr(m->name, '/');
		int dir = slash ? (int)(slash - m->name) : 0;
		const char *t = m->link;

		while (strncmp(t, "../", 3) == 0 && dir > 0) {
			slash = memrchr(m->name, '/', (size_t)dir);
			dir = slash ? (int)(slash - m->name) : 0;
			t += 3;
		}
		if (t[0] == '/' || strncmp(t, "../", 3) == 0)
			return NULL;
		if (snprintf(path, sizeof(path), "%.*s%s%s", dir, m->name, dir ? "/" : "", t) >=
		    (int)sizeof(path))
			return NULL;
		m = find(o, path);
	}
	return m && !m->link ? m : NULL;
}

static int find_blob(const struct outer *o, const char *name, struct img_blob *b)
{
	const struct member *m = find_file(o, name);

	if (!m)
		return kiln_err(ENOENT, "archive has no member %.200s", name);
	*b = (struct img_blob){ .fd = o->fd, .off = m->off, .size = m->size };
	return 0;
}

/* The digest a member's name promises: blobs/sha256/<hex> or <hex>.json. */
static bool named_digest(const char *name, const char *suffix, img_digest out)
{
	size_t n = strlen(name), sl = strlen(suffix);
	const char *hex = name;

	if (strncmp(name, "blobs/sha256/", 13) == 0 && !*suffix)
		hex = name + 13;
	else if (n != 64 + sl || strcmp(name + 64, suffix) != 0)
		return false;
	snprintf(out, IMG_DIGEST_LEN + 1, "sha256:%.64s", hex);
	return strlen(hex) == 64 + sl && img_digest_check(out) == 0;
}

static int load_config(struct kiln_image *img, const struct outer *o, const char *name)
{
	_cleanup_free_ char *buf = NULL;
	struct img_blob b;
	img_digest got, want;
	int rc = find_blob(o, name, &b);

	if (rc == 0)
		rc = img_blob_slurp(&b, &buf, got);
	if (rc < 0)
		return kiln_err_wrap(rc, "config %.200s", name);
	if ((named_digest(name, ".json", want) || named_digest(name, "", want)) &&
	    strcmp(got, want) != 0)
		return kiln_err(EBADMSG, "config %.200s: digest mismatch: got %s", name, got);
	return img_config_parse(img, buf, b.size, got);
}

static int load_layers(struct kiln_image *img, const struct outer *o, json_t *arr)
{
	_cleanup_free_ struct img_layer *l = NULL;
	_cleanup_free_ img_digest *want = NULL;
	size_t i, n = json_array_size(arr);
	json_t *v;
	int rc;

	if (!json_is_array(arr) || n > IMG_LAYERS_MAX)
		return kiln_err(EBADMSG, "manifest.json: Layers is not an array of at most %d",
				IMG_LAYERS_MAX);
	l = calloc(n + 1, sizeof(*l));
	want = calloc(n + 1, sizeof(*want));
	if (!l || !want)
		return kiln_err(ENOMEM, "out of memory");
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			return kiln_err(EBADMSG, "manifest.json: Layers[%zu] is not a string", i);
		rc = find_blob(o, json_string_value(v), &l[i].blob);
		if (rc < 0)
			return kiln_err_wrap(rc, "layer %zu", i + 1);
		if (named_digest(json_string_value(v), "", want[i]))
			l[i].blob_digest = want[i];
	}
	return img_apply_layers(img, l, n);
}

static int load_manifest(struct kiln_image *img, const struct outer *o)
{
	_cleanup_free_ char *buf = NULL;
	struct img_blob b;
	img_digest d;
	json_error_t jerr;
	json_t *root, *m, *cfg;
	int rc = find_blob(o, "manifest.json", &b);

	if (rc == 0)
		rc = img_blob_slurp(&b, &buf, d);
	if (rc < 0)
		return rc;
	root = json_loadb(buf, b.size, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return kiln_err(EBADMSG, "manifest.json: bad JSON at line %d: %s", jerr.line,
				jerr.text);
	m = json_array_get(root, 0);
	cfg = json_object_get(m, "Config");
	if (!json_is_array(root) || json_array_size(root) != 1)
		rc = kiln_err(EBADMSG, "manifest.json: want exactly one image, found %zu",
			      json_is_array(root) ? json_array_size(root) : 0);
	else if (!json_is_string(cfg))
		rc = kiln_err(EBADMSG, "manifest.json: Config is not a string");
	else if ((rc = load_config(img, o, json_string_value(cfg))) == 0)
		rc = load_layers(img, o, json_object_get(m, "Layers"));
	json_decref(root);
	return rc;
}

int img_open_docker(struct kiln_image *img, const char *file, const char *tmpdir)
{
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int tmpfd = -1;
	struct outer *o;
	off_t end;
	int rc;

	if (fd < 0)
		return kiln_err(errno, "%s: %s", file, strerror(errno));
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return kiln_err(errno, "%s: %s", file, strerror(errno));
	o = calloc(1, sizeof(*o));
	if (!o)
		return kiln_err(ENOMEM, "out of memory");
	o->fd = fd;
	o->size = (uint64_t)end;
	rc = maybe_decompress(o, tmpdir, &tmpfd);
	if (rc == 0)
		rc = build_index(o);
	if (rc == 0)
		rc = load_manifest(img, o);
	for (size_t i = 0; i < o->n; i++) {
		free(o->m[i].name);
		free(o->m[i].link);
	}
	free(o->m);
	free(o);
	return rc;
}
