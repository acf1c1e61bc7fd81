/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bootstrap's first steps in the initramfs: /dev, console, cmdline, NSM driver. */
#include "boot/boot.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"

#define CMDLINE_MAX 65536

static int mkdir_ok(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		int e = errno;

		return kiln_err(e, "mkdir %s: %s", path, strerror(e));
	}
	return 0;
}

int boot_mount_devtmpfs(const char *target)
{
	int rc = mkdir_ok(target, 0755);

	if (rc < 0)
		return rc;
	if (mount("dev", target, "devtmpfs", MS_NOSUID | MS_NOEXEC, NULL) < 0 &&
	    errno != EBUSY) {
		int e = errno;

		return kiln_err(e, "mount dev (devtmpfs) on %s: %s", target, strerror(e));
	}
	return 0;
}

int boot_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		return kiln_err(e, "open /dev/console: %s", strerror(e));
	}
	for (int i = 0; i <= 2; i++) {
		if (dup2(fd, i) < 0) {
			int e = errno;

			close(fd);
			return kiln_err(e, "dup2 /dev/console to fd %d: %s", i, strerror(e));
		}
	}
	if (fd > 2)
		close(fd);
	return 0;
}

int boot_read_file(const char *path, size_t max, char **out, size_t *outlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (fd < 0) {
		int e = errno;

		return kiln_err(e, "open %s: %s", path, strerror(e));
	}
	buf = malloc(max + 1);
	if (!buf)
		return kiln_err(ENOMEM, "%s: out of memory", path);
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			return kiln_err(e, "read %s: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return kiln_err(EFBIG, "%s: larger than %zu bytes", path, max);
	}
	*out = KILN_STEAL_PTR(buf);
	*outlen = len;
	return 0;
}

/*
 * The initramfs has no /proc yet and AWS's order puts the heartbeat before
 * the switch to /rootfs, so proc is mounted just long enough to read it.
 */
int boot_read_cmdline(char **buf, size_t *len)
{
	int rc = mkdir_ok("/proc", 0555);

	if (rc < 0)
		return rc;
	if (mount("proc", "/proc", "proc", MS_NODEV | MS_NOSUID | MS_NOEXEC, NULL) < 0) {
		int e = errno;

		return kiln_err(e, "mount proc on /proc: %s", strerror(e));
	}
	rc = boot_read_file("/proc/cmdline", CMDLINE_MAX, buf, len);
	if (umount2("/proc", MNT_DETACH) < 0 && rc == 0) {
		int e = errno;

		free(*buf);
		*buf = NULL;
		rc = kiln_err(e, "umount /proc: %s", strerror(e));
	}
	return rc;
}

int boot_load_nsm(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		int e = errno;

		return kiln_err(e, "open %s: %s", path, strerror(e));
	}
	if (syscall(SYS_finit_module, fd, "", 0) < 0) {
		int e = errno;

		return kiln_err(e, "finit_module %s: %s", path, strerror(e));
	}
	if (unlink(path) < 0)
		boot_log("warning: unlink %s: %s", path, strerror(errno));
	boot_log("loaded %s", path);
	return 0;
}
