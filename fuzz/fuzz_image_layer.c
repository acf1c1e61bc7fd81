/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: one image layer (any compression, tar) flattened onto the tree. */
/*
 * The input is the layer blob. It is wrapped in a docker-archive (outer
 * tar with manifest.json and a config) held in a memfd, so every input
 * goes through the real path: outer index, decompression, tar parsing,
 * whiteouts, links and the staging file. The diff_id never matches, so a
 * successful open is impossible; what is checked is that nothing crashes,
 * leaks or hangs. The deferred open (kiln build's) does succeed for an
 * uncompressed layer that parses: then every file is read back from where
 * the tree says it is (the blob itself), before the check fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "image/image.h"

static const char CONFIG[] =
	"{\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:"
	"0000000000000000000000000000000000000000000000000000000000000000\"]}}";
static const char MANIFEST[] = "[{\"Config\":\"config.json\",\"Layers\":[\"l/layer.tar\"]}]";

static void add(struct archive *a, const char *name, const void *p, size_t n)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    archive_write_data(a, p, n) != (la_ssize_t)n)
		abort();
	archive_entry_free(e);
}

static int discard(const void *buf, size_t len, void *arg)
{
	(void)buf;
	(void)len;
	(void)arg;
	return 0;
}

static int read_file(const struct kiln_fs_entry *e, void *arg)
{
	if (!e->data_here || !e->size)
		return 0;
	return kiln_image_read(arg, e, discard, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct archive *a = archive_write_new();
	struct kiln_image *img = NULL;
	char ref[64];
	int fd = memfd_create("fuzz-image", MFD_CLOEXEC);

	if (fd < 0 || !a)
		abort();
	archive_write_set_format_ustar(a);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
		abort();
	add(a, "config.json", CONFIG, strlen(CONFIG));
	add(a, "manifest.json", MANIFEST, strlen(MANIFEST));
	add(a, "l/layer.tar", data, size);
	archive_write_close(a);
	archive_write_free(a);
	snprintf(ref, sizeof(ref), "docker-archive:/proc/self/fd/%d", fd);
	if (kiln_image_open_deferred(ref, NULL, &img) == 0) {
		if (kiln_image_foreach(img, read_file, img) < 0)
			abort(); /* every range the tree records lies within the blob */
		if (kiln_image_verify(img) == 0)
			abort(); /* the diff_id cannot match */
		kiln_image_free(img);
	}
	close(fd);
	return 0;
}
