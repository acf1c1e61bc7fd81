/* SPDX-License-Identifier: Apache-2.0 */
/* kiln build's warning about image files under the paths the enclave mounts over at boot. */
#include "build/internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/*
 * Both inits (AWS's on Nitro, kiln-bootstrap, and the sim's) mount fresh
 * filesystems here before the app starts, so whatever the image holds
 * beneath them is never seen. /dev covers /dev/shm and /dev/pts.
 */
static const char *const hidden_roots[] = { "dev", "proc", "run", "sys", "tmp" };
#define N_ROOTS (sizeof(hidden_roots) / sizeof(hidden_roots[0]))
#define N_NAMED 3 /* paths the warning names */

struct hidden_scan {
	unsigned long count;
	bool root_seen[N_ROOTS];
	char named[N_NAMED][128];
};

/* Index of the mount point path lies beneath (not the point itself), else -1. */
static int hidden_root_of(const char *path)
{
	for (size_t i = 0; i < N_ROOTS; i++) {
		size_t n = strlen(hidden_roots[i]);

		if (!strncmp(path, hidden_roots[i], n) && path[n] == '/')
			return (int)i;
	}
	return -1;
}

/* Directories do not count: mount points must exist, and an empty one holds nothing to lose. */
static int note_hidden(const struct kiln_fs_entry *e, void *arg)
{
	struct hidden_scan *h = arg;
	int r = S_ISDIR(e->mode) ? -1 : hidden_root_of(e->path);

	if (r < 0)
		return 0;
	if (h->count < N_NAMED) {
		char *s = h->named[h->count];

		snprintf(s, sizeof(h->named[0]), "/%s", e->path);
		for (; *s; s++) /* image paths are untrusted: no control bytes to the terminal */
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				*s = '?';
	}
	h->count++;
	h->root_seen[r] = true;
	return 0;
}

static void print_hidden(const struct hidden_scan *h)
{
	const char *sep = "";

	fprintf(stderr, "kiln build: warning: %lu file%s under ", h->count,
		h->count == 1 ? "" : "s");
	for (size_t i = 0; i < N_ROOTS; i++)
		if (h->root_seen[i]) {
			fprintf(stderr, "%s/%s", sep, hidden_roots[i]);
			sep = ", ";
		}
	fprintf(stderr, " %s hidden at run time by what the enclave mounts there: ",
		h->count == 1 ? "is" : "are");
	for (unsigned long i = 0; i < h->count && i < N_NAMED; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", h->named[i]);
	fprintf(stderr, "%s (move %s elsewhere)\n", h->count > N_NAMED ? ", ..." : "",
		h->count == 1 ? "it" : "them");
}

int kiln_warn_hidden_paths(struct kiln_image *img)
{
	struct hidden_scan h = { 0 };
	int rc = kiln_image_foreach(img, note_hidden, &h);

	if (rc == 0 && h.count)
		print_hidden(&h);
	return rc;
}
