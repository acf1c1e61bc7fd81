/* SPDX-License-Identifier: Apache-2.0 */
/* A lock file that is still the one its name points at once it is locked. */
#include "util/lockfile.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "util/cleanup.h"

int kiln_lockfile_at(int dir, const char *name, int how, int *out)
{
	_cleanup_close_ int fd = openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat a, b;

	if (fd < 0)
		return kiln_err(errno, "%s: %s", name, strerror(errno));
	if (flock(fd, how) < 0)
		return errno == EWOULDBLOCK ? -EWOULDBLOCK :
					      kiln_err(errno, "lock %s: %s", name, strerror(errno));
	if (fstat(fd, &a) < 0 || fstatat(dir, name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		return -EAGAIN;
	*out = KILN_STEAL_FD(fd);
	return 0;
}
