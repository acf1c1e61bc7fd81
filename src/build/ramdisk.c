/* SPDX-License-Identifier: Apache-2.0 */
/* The two EIF ramdisks: bootstrap (dev, init, nsm.ko) and customer (rootfs). */
#include "build/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eif/cpio.h"
#include "util/cleanup.h"

#define KILN_DIR ".kiln"

static int add_dir(struct cpio_writer *cw, const char *name)
{
	struct cpio_entry e = { .name = name, .mode = S_IFDIR | 0755 };

	return cpio_add_bytes(cw, &e, NULL);
}

static int add_text(struct cpio_writer *cw, const char *name, uint32_t perm, const char *text)
{
	struct cpio_entry e = { .name = name, .mode = S_IFREG | perm, .size = strlen(text) };

	return cpio_add_bytes(cw, &e, text);
}

/* A host file (kiln-init, AWS init, nsm.ko) as a ramdisk entry. */
static int add_host_file(struct cpio_writer *cw, const char *name, uint32_t perm,
			 const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct cpio_entry e = { .name = name, .mode = S_IFREG | perm };
	struct stat st;
	int rc;

	if (fd < 0 || fstat(fd, &st) < 0)
		return kiln_err(errno, "%s: %s", path, strerror(errno));
	e.size = (uint64_t)st.st_size;
	rc = cpio_add_entry(cw, &e);
	if (rc == 0)
		rc = cpio_write_fd(cw, fd, 0, e.size);
	if (rc == 0)
		rc = cpio_end_entry(cw);
	return rc < 0 ? kiln_err_wrap(rc, "%s", path) : 0;
}

int kiln_copy_file_to_section(struct eif_writer *w, const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc;

	if (fd < 0 || fstat(fd, &st) < 0)
		return kiln_err(errno, "%s: %s", path, strerror(errno));
	rc = eif_writer_write_fd(w, fd, 0, (uint64_t)st.st_size);
	return rc < 0 ? kiln_err_wrap(rc, "%s", path) : 0;
}

/* A cpio archive into the open section; file data is read straight into the writer. */
static int ramdisk_cpio(struct eif_writer *w, uint32_t mtime, struct cpio_writer **cw)
{
	int rc = cpio_writer_new(eif_writer_out, w, mtime, cw);

	if (rc == 0)
		cpio_writer_set_out_fd(*cw, eif_writer_out_fd);
	return rc;
}

int kiln_write_ramdisk0(struct eif_writer *w, const struct kiln_boot_parts *p, uint32_t mtime)
{
	struct cpio_writer *cw = NULL;
	int rc = eif_writer_begin(w, EIF_SECTION_RAMDISK);

	if (rc == 0)
		rc = ramdisk_cpio(w, mtime, &cw);
	if (rc == 0)
		rc = add_dir(cw, "dev");
	if (rc == 0)
		rc = add_host_file(cw, "init", 0755, p->init);
	if (rc == 0 && p->nsm_ko)
		rc = add_host_file(cw, "nsm.ko", 0644, p->nsm_ko);
	if (rc == 0)
		rc = cpio_finish(cw);
	cpio_writer_free(cw);
	if (rc == 0)
		rc = eif_writer_end(w);
	return rc;
}

/* Entries kiln adds under rootfs/.kiln, in sorted order. */
struct kiln_files {
	const struct kiln_ramdisk1 *r;
	struct cpio_writer *cw;
	char *xattrs;       /* text of .kiln/xattrs, NULL when the image has none */
	size_t xattrs_len;
	unsigned next;      /* next of the entries below to emit */
};

static int emit_kiln_entry(struct kiln_files *k, unsigned i)
{
	switch (i) {
	case 0:
		return add_dir(k->cw, "rootfs/" KILN_DIR);
	case 1:
		return add_text(k->cw, "rootfs/" KILN_DIR "/config.json", 0444, k->r->config_json);
	case 2:
		return add_host_file(k->cw, "rootfs/" KILN_DIR "/kiln-init", 0755, k->r->kiln_init);
	case 3:
		return k->xattrs ? add_text(k->cw, "rootfs/" KILN_DIR "/xattrs", 0444, k->xattrs)
				 : 0;
	default:
		return 0;
	}
}

static const char *const kiln_names[] = { KILN_DIR, KILN_DIR "/config.json",
					  KILN_DIR "/kiln-init", KILN_DIR "/xattrs" };
#define N_KILN_NAMES (sizeof(kiln_names) / sizeof(kiln_names[0]))

/* Emit kiln's own entries that sort before path (all of them when NULL). */
static int emit_kiln_before(struct kiln_files *k, const char *path)
{
	while (k->next < N_KILN_NAMES && (!path || strcmp(kiln_names[k->next], path) < 0)) {
		int rc = emit_kiln_entry(k, k->next++);

		if (rc < 0)
			return rc;
	}
	return 0;
}

struct image_walk {
	struct kiln_files *k;
	struct kiln_image *img;
};

/* File data straight from where the image keeps it (the layer blob, or staged). */
static int add_image_data(struct image_walk *iw, const struct kiln_fs_entry *e)
{
	uint64_t off, size;
	int fd, rc = kiln_image_data(iw->img, e, &fd, &off, &size);

	if (rc == 0)
		rc = cpio_write_fd(iw->k->cw, fd, off, size);
	return rc < 0 ? kiln_err_wrap(rc, "/%s", e->path) : 0;
}

static int add_image_entry(const struct kiln_fs_entry *e, void *arg)
{
	struct image_walk *iw = arg;
	struct cpio_writer *cw = iw->k->cw;
	_cleanup_free_ char *name = NULL;
	struct cpio_entry ce = { .mode = e->mode, .uid = e->uid, .gid = e->gid,
				 .rdevmajor = e->rdev_major, .rdevminor = e->rdev_minor };
	int rc;

	if (!strcmp(e->path, KILN_DIR) || !strncmp(e->path, KILN_DIR "/", 5))
		return kiln_err(EINVAL, "the image contains /%s, which kiln reserves", e->path);
	rc = emit_kiln_before(iw->k, e->path);
	if (rc < 0)
		return rc;
	if (asprintf(&name, "rootfs/%s", e->path) < 0)
		return kiln_err(ENOMEM, "out of memory");
	ce.name = name;
	if (S_ISLNK(e->mode)) {
		ce.size = strlen(e->link_target);
		return cpio_add_bytes(cw, &ce, e->link_target);
	}
	if (!S_ISREG(e->mode))
		return cpio_add_bytes(cw, &ce, NULL);
	ce.link_group = e->link_group;
	ce.nlink = e->nlink;
	ce.size = e->data_here ? e->size : 0;
	rc = cpio_add_entry(cw, &ce);
	if (rc == 0 && ce.size)
		rc = add_image_data(iw, e);
	if (rc == 0)
		rc = cpio_end_entry(cw);
	return rc;
}

/* Collect xattrs into "path\tname\thexvalue\n" lines (cpio cannot carry them). */
static int collect_xattrs(const struct kiln_fs_entry *e, void *arg)
{
	struct kiln_files *k = arg;

	for (size_t i = 0; i < e->n_xattrs; i++) {
		const struct kiln_xattr *x = &e->xattrs[i];
		size_t need = strlen(e->path) + strlen(x->name) + 2 * x->len + 4;
		char *p;

		if (strpbrk(e->path, "\t\n") || strpbrk(x->name, "\t\n")) {
			fprintf(stderr, "kiln: warning: xattr %s on /%s not kept (tab or newline "
				"in the name)\n", x->name, e->path);
			continue;
		}
		p = realloc(k->xattrs, k->xattrs_len + need + 1);
		if (!p)
			return kiln_err(ENOMEM, "out of memory");
		k->xattrs = p;
		k->xattrs_len += (size_t)sprintf(p + k->xattrs_len, "/%s\t%s\t", e->path, x->name);
		for (size_t j = 0; j < x->len; j++)
			k->xattrs_len += (size_t)sprintf(p + k->xattrs_len, "%02x", x->value[j]);
		p[k->xattrs_len++] = '\n';
		p[k->xattrs_len] = '\0';
	}
	return 0;
}

static int write_rootfs(struct kiln_files *k, struct kiln_image *img)
{
	struct image_walk iw = { .k = k, .img = img };
	int rc;

	rc = add_text(k->cw, "cmd", 0644, "/" KILN_DIR "/kiln-init\n");
	if (rc == 0)
		rc = add_text(k->cw, "env", 0644, k->r->env_file);
	if (rc == 0)
		rc = add_dir(k->cw, "rootfs");
	if (rc == 0)
		rc = kiln_image_foreach(img, add_image_entry, &iw);
	if (rc == 0)
		rc = emit_kiln_before(k, NULL);
	return rc;
}

int kiln_write_ramdisk1(struct eif_writer *w, const struct kiln_ramdisk1 *r)
{
	struct kiln_files k = { .r = r };
	int rc = kiln_image_foreach(r->img, collect_xattrs, &k);

	if (rc == 0)
		rc = eif_writer_begin(w, EIF_SECTION_RAMDISK);
	if (rc == 0)
		rc = ramdisk_cpio(w, r->mtime, &k.cw);
	if (rc == 0)
		rc = write_rootfs(&k, r->img);
	if (rc == 0)
		rc = cpio_finish(k.cw);
	cpio_writer_free(k.cw);
	free(k.xattrs);
	if (rc == 0)
		rc = eif_writer_end(w);
	return rc;
}
