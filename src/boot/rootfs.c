/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bootstrap's switch into /rootfs and the mounts every container expects. */
#include "boot/boot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The same mounts, flags and order as AWS's bootstrap init, so an image
 * sees the same system under kiln-bootstrap as under the AWS blob: the one
 * addition is that missing mount points are created (FROM scratch images
 * have no /proc, /sys, /run, /tmp), and devpts gets its own ptmx (0666).
 *
 * cgroups: AWS's init mounts a tmpfs on /sys/fs/cgroup and one cgroup v1
 * hierarchy per enabled controller in /proc/cgroups. kiln-bootstrap does the
 * same (not cgroup2), because an EIF built with the AWS blobs runs under that
 * layout on Nitro and kiln-init and the application must see one layout
 * whichever init started them. A controller that fails to mount is a
 * warning, not fatal, so newer kernels without some v1 controllers boot.
 */
#define FS_FLAGS (MS_NODEV | MS_NOSUID | MS_NOEXEC)

struct boot_mount {
	const char *source, *target, *fstype;
	unsigned long flags;
	const char *data;
};

/* Mounted after /proc and the /dev symlinks. */
static const struct boot_mount api_mounts[] = {
	{ "tmpfs", "/run", "tmpfs", FS_FLAGS, "mode=0755" },
	{ "tmpfs", "/tmp", "tmpfs", FS_FLAGS, NULL },
	{ "shm", "/dev/shm", "tmpfs", FS_FLAGS, NULL },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666" },
	{ "sysfs", "/sys", "sysfs", FS_FLAGS, NULL },
	{ "cgroup_root", "/sys/fs/cgroup", "tmpfs", FS_FLAGS, "mode=0755" },
};

static const struct boot_mount proc_mount = { "proc", "/proc", "proc", FS_FLAGS, NULL };

static const char *const dev_links[][2] = {
	{ "/dev/fd", "/proc/self/fd" },
	{ "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" },
	{ "/dev/stderr", "/proc/self/fd/2" },
};

static int sys_err(const char *what, const char *path)
{
	int e = errno;

	return kiln_err(e, "%s %s: %s", what, path, strerror(e));
}

static int do_mount(const struct boot_mount *m)
{
	if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
		return sys_err("mkdir", m->target);
	if (mount(m->source, m->target, m->fstype, m->flags, m->data) < 0) {
		int e = errno;

		return kiln_err(e, "mount %s (%s) on %s: %s", m->source, m->fstype, m->target,
				strerror(e));
	}
	return 0;
}

int boot_switch_root(const char *dir)
{
	if (mount(dir, dir, NULL, MS_BIND, NULL) < 0)
		return sys_err("mount --bind", dir);
	if (chdir(dir) < 0)
		return sys_err("chdir", dir);
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return sys_err("mount --move . /, from", dir);
	if (chroot(".") < 0)
		return sys_err("chroot", dir);
	if (chdir("/") < 0)
		return sys_err("chdir", "/");
	return 0;
}

static int dev_symlinks(void)
{
	for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++) {
		if (symlink(dev_links[i][1], dev_links[i][0]) < 0 && errno != EEXIST)
			return sys_err("symlink", dev_links[i][0]);
	}
	return 0;
}

int boot_mount_api_fs(void)
{
	int rc = boot_mount_devtmpfs("/dev");

	if (rc == 0)
		rc = do_mount(&proc_mount);
	if (rc == 0)
		rc = dev_symlinks();
	for (size_t i = 0; rc == 0 && i < sizeof(api_mounts) / sizeof(api_mounts[0]); i++)
		rc = do_mount(&api_mounts[i]);
	return rc;
}

static void mount_controller(const char *name)
{
	static const char base[] = "/sys/fs/cgroup/";
	char path[sizeof(base) + 64];
	struct boot_mount m = { name, path, "cgroup", FS_FLAGS, name };

	snprintf(path, sizeof(path), "%s%s", base, name);
	if (do_mount(&m) < 0)
		boot_log("warning: cgroup controller %s: %s", name, kiln_errmsg());
}

int boot_mount_cgroups(void)
{
	struct boot_lines ctl = { 0 };
	char *buf = NULL;
	size_t len;
	int rc = boot_read_file("/proc/cgroups", BOOT_FILE_MAX, &buf, &len);

	if (rc == 0)
		rc = boot_parse_cgroups(buf, len, &ctl);
	free(buf);
	if (rc < 0)
		return kiln_err_wrap(rc, "/proc/cgroups");
	for (size_t i = 0; i < ctl.n; i++)
		mount_controller(ctl.v[i]);
	boot_lines_free(&ctl);
	return 0;
}
