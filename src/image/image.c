/* SPDX-License-Identifier: Apache-2.0 */
/* The image API: open a reference, walk the flattened tree, read contents. */
#include "image/internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

/* "oci:DIR[:TAG]": DIR may itself hold ':' when it names an existing dir. */
static int open_oci_ref(struct kiln_image *img, const char *spec)
{
	_cleanup_free_ char *dir = strdup(spec);
	struct stat st;
	char *colon;

	if (!dir)
		return kiln_err(ENOMEM, "out of memory");
	colon = strrchr(dir, ':');
	if (colon && !strchr(colon, '/') && !(stat(dir, &st) == 0 && S_ISDIR(st.st_mode))) {
		*colon = '\0';
		return img_open_oci(img, dir, colon + 1);
	}
	return img_open_oci(img, dir, NULL);
}

static int open_ref(struct kiln_image *img, const char *ref, const char *tmpdir)
{
	if (strncmp(ref, "docker-archive:", 15) == 0 && ref[15])
		return img_open_docker(img, ref + 15, tmpdir);
	if (strncmp(ref, "oci:", 4) == 0 && ref[4])
		return open_oci_ref(img, ref + 4);
	return kiln_err(EINVAL, "unsupported image reference (want docker-archive:FILE or "
				"oci:DIR[:TAG])");
}

int kiln_image_open_deferred(const char *ref, const char *tmpdir, struct kiln_image **out)
{
	struct kiln_image *img = calloc(1, sizeof(*img));
	int rc;

	if (!img)
		return kiln_err(ENOMEM, "out of memory");
	img->stage_fd = -1;
	img->defer = true;
	rc = img_tree_new(&img->tree);
	if (rc == 0 && tmpdir && !(img->tmpdir = strdup(tmpdir)))
		rc = kiln_err(ENOMEM, "out of memory");
	if (rc == 0)
		rc = open_ref(img, ref, tmpdir);
	if (rc < 0) {
		kiln_image_free(img);
		return kiln_err_wrap(rc, "image %s", ref);
	}
	*out = img;
	return 0;
}

int kiln_image_verify(struct kiln_image *img)
{
	return img_checks_wait(img, 0);
}

int kiln_image_open(const char *ref, const char *tmpdir, struct kiln_image **out)
{
	struct kiln_image *img = NULL;
	int rc = kiln_image_open_deferred(ref, tmpdir, &img);

	if (rc == 0 && (rc = kiln_image_verify(img)) < 0) {
		kiln_image_free(img);
		return kiln_err_wrap(rc, "image %s", ref);
	}
	*out = img;
	return rc;
}

int img_stage_fd(struct kiln_image *img)
{
	if (img->stage_fd < 0)
		img->stage_fd = img_tmpfile(img->tmpdir);
	return img->stage_fd;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int img_keep_fd(struct kiln_image *img, int fd, const struct stat *st, int *kept)
{
	struct img_source *s;

	for (size_t i = 0; i < img->n_src; i++) {
		if (same_file(&img->src[i].st, st)) {
			*kept = img->src[i].fd;
			return 0;
		}
	}
	s = realloc(img->src, (img->n_src + 1) * sizeof(*s));
	if (!s)
		return kiln_err(ENOMEM, "out of memory");
	img->src = s;
	s = &img->src[img->n_src];
	s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (s->fd < 0)
		return kiln_err(errno, "keeping a layer open: %s", strerror(errno));
	s->st = *st;
	img->n_src++;
	*kept = s->fd;
	return 0;
}

int img_apply_layers(struct kiln_image *img, const struct img_layer *layers, size_t n)
{
	size_t ndiff = 0;
	int rc;

	while (img->diff_ids[ndiff])
		ndiff++;
	if (n != ndiff)
		return kiln_err(EBADMSG, "manifest lists %zu layers but config has %zu diff_ids", n,
				ndiff);
	for (size_t i = 0; i < n; i++) {
		struct img_layer l = layers[i];

		l.index = (unsigned)i + 1;
		l.diff_id = img->diff_ids[i];
		/* At most two blobs hash at once: this layer's and the one before. */
		rc = img_checks_wait(img, 1);
		if (rc == 0)
			rc = img_layer_apply(img, &l);
		if (rc < 0) {
			/* A bad digest of an earlier layer explains a later failure best. */
			int vrc = img_checks_wait(img, 0);

			return vrc < 0 ? vrc : rc;
		}
	}
	return 0;
}

void kiln_image_free(struct kiln_image *img)
{
	if (!img)
		return;
	img_checks_free(img);
	img_config_free(&img->cfg);
	img_strv_free(img->diff_ids);
	img_tree_free(img->tree);
	if (img->stage_fd >= 0)
		close(img->stage_fd);
	for (size_t i = 0; i < img->n_src; i++)
		close(img->src[i].fd);
	free(img->src);
	free(img->tmpdir);
	free(img);
}

const struct kiln_image_config *kiln_image_config(const struct kiln_image *img)
{
	return &img->cfg;
}

unsigned kiln_image_warnings(const struct kiln_image *img)
{
	return img->warnings;
}

int kiln_image_foreach(struct kiln_image *img,
		       int (*fn)(const struct kiln_fs_entry *e, void *arg), void *arg)
{
	return img_tree_foreach(img->tree, fn, arg);
}

int kiln_image_data(struct kiln_image *img, const struct kiln_fs_entry *e, int *fd,
		    uint64_t *off, uint64_t *size)
{
	return img_tree_lookup_data(img->tree, e->path, fd, off, size);
}

int kiln_image_read(struct kiln_image *img, const struct kiln_fs_entry *e,
		    int (*sink)(const void *buf, size_t len, void *arg), void *arg)
{
	_cleanup_free_ char *buf = NULL;
	uint64_t off, size, done = 0;
	int fd, rc = kiln_image_data(img, e, &fd, &off, &size);

	if (rc < 0)
		return rc;
	buf = malloc(IMG_CHUNK);
	if (!buf)
		return kiln_err(ENOMEM, "out of memory");
	while (done < size) {
		size_t n = size - done < IMG_CHUNK ? (size_t)(size - done) : IMG_CHUNK;

		rc = img_pread_full(fd, buf, n, off + done);
		if (rc < 0)
			return kiln_err_wrap(rc, "/%s", e->path);
		rc = sink(buf, n, arg);
		if (rc < 0)
			return rc;
		done += n;
	}
	return 0;
}

/* ctime moves on any write, chmod or rename onto the file: compare it all. */
static bool unchanged(const struct stat *a, const struct stat *b)
{
	return same_file(a, b) && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int kiln_image_check_unchanged(struct kiln_image *img)
{
	struct stat st;

	for (size_t i = 0; i < img->n_src; i++) {
		if (fstat(img->src[i].fd, &st) < 0)
			return kiln_err(errno, "image file: %s", strerror(errno));
		if (!unchanged(&img->src[i].st, &st))
			return kiln_err(ESTALE, "an image file changed while kiln was reading it; "
					"build again");
	}
	return 0;
}

uint64_t kiln_image_staged_bytes(const struct kiln_image *img)
{
	return img->stage_end;
}
