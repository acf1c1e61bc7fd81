/* SPDX-License-Identifier: Apache-2.0 */
/* Make a directory with its parents; remove a tree without following a symlink out of it. */
#include "util/dirtree.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEPTH_MAX 512

static int remove_at(int dirfd, const char *name, unsigned depth);

/* Empty the directory open as fd (consumed). */
static int empty_dir(int fd, unsigned depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		int e = errno;

		close(fd);
		return kiln_err(e, "fdopendir: %s", strerror(e));
	}
	while (rc == 0 && (errno = 0, de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = remove_at(dirfd(d), de->d_name, depth + 1);
	if (rc == 0 && errno)
		rc = kiln_err(errno, "readdir: %s", strerror(errno));
	closedir(d);
	return rc;
}

static int remove_at(int dirfd, const char *name, unsigned depth)
{
	int fd, rc;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM) /* EPERM: Linux's answer for a directory */
		return kiln_err(errno, "unlink %s: %s", name, strerror(errno));
	if (depth >= DEPTH_MAX)
		return kiln_err(ELOOP, "%s: nested more than %d levels deep", name, DEPTH_MAX);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : kiln_err(errno, "open %s: %s", name, strerror(errno));
	rc = empty_dir(fd, depth);
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = kiln_err(errno, "rmdir %s: %s", name, strerror(errno));
	return rc;
}

int kiln_rmtree_at(int dirfd, const char *name)
{
	return remove_at(dirfd, name, 0);
}

int kiln_mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s", path);

	if (n < 0 || (size_t)n >= sizeof(tmp))
		return kiln_err(ENAMETOOLONG, "path too long: %s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return kiln_err(errno, "mkdir %s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return kiln_err(errno, "mkdir %s: %s", tmp, strerror(errno));
	return 0;
}
