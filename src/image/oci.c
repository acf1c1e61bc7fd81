/* SPDX-License-Identifier: Apache-2.0 */
/* OCI image layout input: oci-layout, index.json, blobs/sha256/... */
#include "image/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "util/cleanup.h"

#define REF_NAME "org.opencontainers.image.ref.name"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

#if defined(__x86_64__)
#define HOST_ARCH "amd64"
#elif defined(__aarch64__)
#define HOST_ARCH "arm64"
#else
#define HOST_ARCH "unknown"
#endif

struct desc {
	const char *media_type;
	const char *digest;
	uint64_t size;
	json_t *json;
};

static int parse_desc(json_t *j, const char *what, struct desc *d)
{
	json_t *size = json_object_get(j, "size");
	int rc;

	if (!json_is_object(j))
		return kiln_err(EBADMSG, "%s: descriptor is not an object", what);
	d->json = j;
	d->media_type = json_string_value(json_object_get(j, "mediaType"));
	d->digest = json_string_value(json_object_get(j, "digest"));
	rc = img_digest_check(d->digest);
	if (rc < 0)
		return kiln_err_wrap(rc, "%s", what);
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return kiln_err(EBADMSG, "%s: descriptor size missing or negative", what);
	d->size = (uint64_t)json_integer_value(size);
	return 0;
}

/* Open the blob a descriptor names and check its size. */
static int open_blob(int dirfd, const struct desc *d, int *out)
{
	char path[96];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "blobs/sha256/%s", d->digest + 7);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err(errno, "blob %s: %s", d->digest, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != d->size) {
		close(fd);
		return kiln_err(EBADMSG, "blob %s: not a regular file of %llu bytes", d->digest,
				(unsigned long long)d->size);
	}
	*out = fd;
	return 0;
}

static int load_json(const char *buf, size_t len, const char *what, json_t **out)
{
	json_error_t jerr;

	*out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out)
		return kiln_err(EBADMSG, "%s: bad JSON at line %d: %s", what, jerr.line, jerr.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return kiln_err(EBADMSG, "%s: not a JSON object", what);
	}
	return 0;
}

/* Read a small blob, verify its digest; *buf and *len get its bytes. */
static int read_blob(int dirfd, const struct desc *d, char **buf, size_t *len)
{
	_cleanup_close_ int fd = -1;
	struct img_blob b;
	img_digest got;
	int rc = open_blob(dirfd, d, &fd);

	if (rc < 0)
		return rc;
	b = (struct img_blob){ .fd = fd, .off = 0, .size = d->size };
	rc = img_blob_slurp(&b, buf, got);
	if (rc < 0)
		return kiln_err_wrap(rc, "blob %s", d->digest);
	if (strcmp(got, d->digest) != 0) {
		free(*buf);
		*buf = NULL;
		return kiln_err(EBADMSG, "blob %s: digest mismatch: got %s", d->digest, got);
	}
	*len = d->size;
	return 0;
}

static int read_json_blob(int dirfd, const struct desc *d, const char *what, json_t **out)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int rc = read_blob(dirfd, d, &buf, &len);

	return rc < 0 ? rc : load_json(buf, len, what, out);
}

static int read_json_file(int dirfd, const char *name, json_t **out)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	struct img_blob b = { .fd = fd };
	struct stat st;
	img_digest d;
	int rc;

	if (fd < 0 || fstat(fd, &st) < 0)
		return kiln_err(errno, "%s: %s (not an OCI image layout?)", name, strerror(errno));
	b.size = (uint64_t)st.st_size;
	rc = img_blob_slurp(&b, &buf, d);
	return rc < 0 ? kiln_err_wrap(rc, "%s", name) : load_json(buf, b.size, name, out);
}

static bool is_index(const struct desc *d)
{
	return d->media_type &&
	       (strcmp(d->media_type, MT_INDEX) == 0 || strcmp(d->media_type, MT_DOCKER_LIST) == 0);
}

static bool tag_matches(const struct desc *d, const char *tag)
{
	json_t *ann = json_object_get(d->json, "annotations");
	const char *name = json_string_value(json_object_get(ann, REF_NAME));

	return name && strcmp(name, tag) == 0;
}

static bool platform_matches(const struct desc *d)
{
	json_t *p = json_object_get(d->json, "platform");
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));

	return os && arch && strcmp(os, "linux") == 0 && strcmp(arch, HOST_ARCH) == 0;
}

/*
 * Pick one descriptor of an index: the one tagged tag; else the only one;
 * else (platform true) the only one for linux on this machine's arch.
 */
static int pick(json_t *index, const char *tag, bool platform, struct desc *out)
{
	json_t *arr = json_object_get(index, "manifests"), *v;
	size_t i, hits = 0;
	struct desc d;
	int rc;

	if (!json_is_array(arr))
		return kiln_err(EBADMSG, "index: manifests is not an array");
	json_array_foreach(arr, i, v) {
		if ((rc = parse_desc(v, "index", &d)) < 0)
			return rc;
		if (tag ? tag_matches(&d, tag)
			: json_array_size(arr) == 1 || (platform && platform_matches(&d))) {
			*out = d;
			hits++;
		}
	}
	if (hits == 1)
		return 0;
	if (tag && hits)
		return kiln_err(ENOENT, "index: tag %s names %zu manifests", tag, hits);
	if (tag)
		return kiln_err(ENOENT, "index: no manifest tagged %s", tag);
	return kiln_err(ENOENT, "index: %zu manifests and no tag given (use oci:DIR:TAG)",
			json_array_size(arr));
}

/* Resolve index.json (and at most one nested index) to a manifest. */
static int select_manifest(int dirfd, json_t *index, const char *tag, json_t **manifest)
{
	json_auto_t *nested = NULL;
	struct desc d;
	int rc = pick(index, tag, false, &d);

	if (rc == 0 && is_index(&d)) {
		rc = read_json_blob(dirfd, &d, "nested index", &nested);
		if (rc == 0)
			rc = pick(nested, NULL, true, &d);
		if (rc == 0 && is_index(&d))
			return kiln_err(EBADMSG, "index nested more than one level");
	}
	if (rc < 0)
		return rc;
	rc = read_json_blob(dirfd, &d, "manifest", manifest);
	if (rc == 0 && json_object_get(*manifest, "manifests"))
		return kiln_err(EBADMSG, "manifest %s is an index", d.digest);
	return rc;
}

static int load_config(struct kiln_image *img, int dirfd, json_t *manifest)
{
	_cleanup_free_ char *buf = NULL;
	struct desc d;
	size_t len;
	int rc = parse_desc(json_object_get(manifest, "config"), "manifest config", &d);

	if (rc == 0)
		rc = read_blob(dirfd, &d, &buf, &len);
	if (rc == 0)
		rc = img_config_parse(img, buf, len, d.digest);
	return rc < 0 ? kiln_err_wrap(rc, "config") : 0;
}

static void close_layers(struct img_layer *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].blob.fd >= 0)
			close(l[i].blob.fd);
	free(l);
}

static int load_layers(struct kiln_image *img, int dirfd, json_t *manifest)
{
	json_t *arr = json_object_get(manifest, "layers"), *v;
	size_t i, n = json_array_size(arr);
	struct img_layer *l;
	struct desc d;
	int rc = 0;

	if (!json_is_array(arr) || n > IMG_LAYERS_MAX)
		return kiln_err(EBADMSG, "manifest: layers is not an array of at most %d",
				IMG_LAYERS_MAX);
	l = calloc(n + 1, sizeof(*l));
	if (!l)
		return kiln_err(ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		l[i].blob.fd = -1;
	json_array_foreach(arr, i, v) {
		if ((rc = parse_desc(v, "manifest layer", &d)) < 0 ||
		    (rc = open_blob(dirfd, &d, &l[i].blob.fd)) < 0) {
			rc = kiln_err_wrap(rc, "layer %zu", i + 1);
			break;
		}
		l[i].blob.size = d.size;
		l[i].blob_digest = d.digest;
	}
	if (rc == 0)
		rc = img_apply_layers(img, l, n);
	close_layers(l, n);
	return rc;
}

int img_open_oci(struct kiln_image *img, const char *dir, const char *tag)
{
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	json_auto_t *layout = NULL;
	json_auto_t *index = NULL;
	json_auto_t *manifest = NULL;
	int rc;

	if (dirfd < 0)
		return kiln_err(errno, "%s: %s", dir, strerror(errno));
	rc = read_json_file(dirfd, "oci-layout", &layout);
	if (rc == 0 && !json_is_string(json_object_get(layout, "imageLayoutVersion")))
		rc = kiln_err(EBADMSG, "oci-layout: no imageLayoutVersion");
	if (rc == 0)
		rc = read_json_file(dirfd, "index.json", &index);
	if (rc == 0)
		rc = select_manifest(dirfd, index, tag, &manifest);
	if (rc == 0)
		rc = load_config(img, dirfd, manifest);
	if (rc == 0)
		rc = load_layers(img, dirfd, manifest);
	return rc;
}
