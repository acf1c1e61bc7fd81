/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers: find the records of a segment-store volume directory (for tamper tests). */
#ifndef KILN_TEST_SEG_UTIL_H
#define KILN_TEST_SEG_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/seg_file.h"
#include "fs/store_local.h"

/* Where a record is: its segment file, offset, whole size and where its data starts. */
struct t_rec {
	char seg[KFS_SEG_NAME_LEN + 1];
	char id[KFS_ID_MAX + 1];
	uint64_t off, size, data_off;
	uint32_t len;
	int kind;
};

struct t_recs {
	struct t_rec *v;
	size_t n, max;
	const char *seg;
};

static inline int t_seg_visit(void *ctx, const struct kfs_seg_rec *r, uint64_t off)
{
	struct t_recs *l = ctx;
	struct t_rec *t;

	if (l->n == l->max)
		return 0;
	t = &l->v[l->n++];
	snprintf(t->seg, sizeof(t->seg), "%s", l->seg);
	snprintf(t->id, sizeof(t->id), "%s", r->id);
	t->off = off;
	t->size = kfs_seg_rec_size(r);
	t->data_off = off + KFS_SEG_HDR + r->idlen;
	t->len = r->len;
	t->kind = r->kind;
	return 0;
}

static inline int t_seg_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The records of dir in order (oldest segment first); at most max, returns how many. */
static inline size_t t_seg_records(const char *dir, struct t_rec *v, size_t max)
{
	struct t_recs l = { v, 0, max, NULL };
	char *names[4096], path[4096];
	size_t n = 0;
	struct kfs_seg_end end;
	uint64_t num;
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d && (e = readdir(d)) && n < 4096)
		if (kfs_seg_name_parse(e->d_name, &num))
			names[n++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, n, sizeof(*names), t_seg_cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		int fd;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = open(path, O_RDONLY | O_NOFOLLOW);
		l.seg = names[i];
		/* a scan that fails keeps what it read before */
		if (fd >= 0 && fstat(fd, &st) == 0)
			(void)!kfs_seg_scan(fd, (uint64_t)st.st_size, false, t_seg_visit, &l, &end);
		if (fd >= 0)
			close(fd);
		free(names[i]);
	}
	return l.n;
}

/* The newest record of each id whose newest record is a PUT, into v; returns how many. */
static inline size_t t_seg_live(const char *dir, struct t_rec *v, size_t max)
{
	size_t n = t_seg_records(dir, v, max), k = 0;

	for (size_t i = 0; i < n; i++) {
		bool newest = v[i].kind == KFS_SEG_PUT;
		for (size_t j = i + 1; j < n && newest; j++)
			newest = strcmp(v[i].id, v[j].id) != 0;
		if (newest)
			v[k++] = v[i];
	}
	return k;
}

/* The live record of the one object whose id starts with prefix: 0, or -1 (none or several). */
static inline int t_seg_find(const char *dir, const char *prefix, struct t_rec *out)
{
	static struct t_rec v[65536];
	size_t n = t_seg_live(dir, v, 65536);
	int found = 0;

	for (size_t i = 0; i < n; i++)
		if (!strncmp(v[i].id, prefix, strlen(prefix))) {
			*out = v[i];
			found++;
		}
	return found == 1 ? 0 : -1;
}

#endif
