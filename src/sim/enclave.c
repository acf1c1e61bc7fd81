/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the sim enclave's namespaces: the bootstrap steps, then exec of the EIF's cmd as PID 1. */
/*
 * How this works. The process is already PID 1 of fresh PID, mount, net,
 * UTS and IPC namespaces (and root of a user namespace when not run as
 * root). Mount propagation is made private first, so nothing done here is
 * seen by the host. The rootfs is unpacked into a tmpfs sized like the
 * enclave's memory (on Nitro the initramfs lives in enclave memory too).
 * Every mount target under the new root is resolved one component at a
 * time with O_NOFOLLOW from the root's fd, and mounted through
 * /proc/self/fd/N, so a symlink in the image ("proc -> /") cannot redirect a
 * mount onto the host. pivot_root (not chroot) then leaves no path back to
 * the host's root, and the old root is detached.
 */
#include "sim/sim.h"

#include <fcntl.h>
#include <pthread.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "net/redirect.h"
#include "util/cleanup.h"
#include "util/io.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define FS_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)

struct api_mount {
	const char *target, *fstype;
	unsigned long flags;
	const char *data;
};

/* In order: each target exists once its parent is mounted. */
static const struct api_mount api_mounts[] = {
	{ "proc", "proc", FS_FLAGS, NULL },
	{ "sys", "sysfs", FS_FLAGS | MS_RDONLY, NULL },
	{ "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=256k" },
	{ "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620" },
	/* noexec, as AWS's enclave init and kiln-bootstrap mount them: an app
	 * that execs from /tmp must fail in sim as it would on Nitro. */
	{ "dev/shm", "tmpfs", FS_FLAGS, "mode=1777" },
	{ "run", "tmpfs", FS_FLAGS, "mode=0755" },
	{ "tmp", "tmpfs", FS_FLAGS, "mode=1777" },
};

struct dev_node {
	const char *name;
	unsigned major, minor;
};

static const struct dev_node dev_nodes[] = {
	{ "null", 1, 3 }, { "zero", 1, 5 },    { "full", 1, 7 },
	{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

static const char *const dev_links[][2] = {
	{ "ptmx", "pts/ptmx" },		{ "fd", "/proc/self/fd" },
	{ "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" },
	{ "stderr", "/proc/self/fd/2" },
};

static int sys_err(const char *what, const char *path)
{
	int e = errno;

	return kiln_err(e, "%s %s: %s", what, path, strerror(e));
}

static void step(const struct kiln_sim_enclave *e, const char *what)
{
	if (e->debug)
		fprintf(stderr, "kiln: sim: %s\n", what);
}

/*
 * Open rel beneath root without following symlinks, creating what is
 * missing: directories on the way, and the last component as a directory
 * (is_dir) or an empty file (a bind-mount target for a device).
 */
static int open_beneath(int root, const char *rel, bool is_dir, int *out)
{
	_cleanup_close_ int dir = fcntl(root, F_DUPFD_CLOEXEC, 3);
	char comp[256];

	if (dir < 0)
		return sys_err("dup", rel);
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		bool last = p[n] == '\0';
		int next;

		if (n == 0 || n >= sizeof(comp))
			return kiln_err(EINVAL, "bad path %s", rel);
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n + !last;
		if (!last || is_dir) {
			if (mkdirat(dir, comp, 0755) < 0 && errno != EEXIST)
				return sys_err("mkdir", rel);
			next = openat(dir, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			next = openat(dir, comp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		}
		if (next < 0)
			return errno == ELOOP || errno == ENOTDIR ?
				kiln_err(ELOOP, "%s: a symlink or not a directory in the image; "
						"refusing to mount there", rel) :
				sys_err("open", rel);
		close(dir);
		dir = next;
	}
	*out = KILN_STEAL_FD(dir);
	return 0;
}

/* mount(2) onto rel beneath root, through the fd of the resolved target. */
static int mount_beneath(int root, const char *rel, bool is_dir, const char *src,
			 const char *fstype, unsigned long flags, const char *data)
{
	_cleanup_close_ int fd = -1;
	char target[64];
	int rc = open_beneath(root, rel, is_dir, &fd);

	if (rc < 0)
		return rc;
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (mount(src, target, fstype, flags, data) < 0) {
		int err = errno;

		return kiln_err(err, "mount %s on /%s: %s%s", fstype ? fstype : src, rel,
				strerror(err),
				err == EPERM ? " (not permitted in this user namespace)" : "");
	}
	return 0;
}

static int mount_api(const struct kiln_sim_enclave *e, int root)
{
	char pts[128];

	for (size_t i = 0; i < sizeof(api_mounts) / sizeof(api_mounts[0]); i++) {
		const struct api_mount *m = &api_mounts[i];
		const char *data = m->data;
		int rc;

		/* gid 5 (tty) exists on the host only, not in a one-id user namespace. */
		if (!strcmp(m->fstype, "devpts") && !e->userns) {
			snprintf(pts, sizeof(pts), "%s,gid=5", m->data);
			data = pts;
		}
		rc = mount_beneath(root, m->target, true, m->fstype, m->fstype, m->flags, data);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The terminal the monitor was given, as /dev/console (in sim it is the console). */
static const char *console_source(void)
{
	for (int fd = 0; fd < 3; fd++) {
		const char *tty = isatty(fd) ? ttyname(fd) : NULL;

		if (tty)
			return tty;
	}
	return "/dev/null";
}

/* Device nodes: mknod as real root; bind mounts of the host's in a user namespace. */
static int populate_dev(const struct kiln_sim_enclave *e, int root)
{
	_cleanup_close_ int dev = -1;
	char rel[64], host[64];
	int rc = open_beneath(root, "dev", true, &dev);

	for (size_t i = 0; rc == 0 && i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
		const struct dev_node *d = &dev_nodes[i];

		snprintf(rel, sizeof(rel), "dev/%s", d->name);
		snprintf(host, sizeof(host), "/dev/%s", d->name);
		if (e->userns)
			rc = mount_beneath(root, rel, false, host, NULL, MS_BIND, NULL);
		else if (mknodat(dev, d->name, S_IFCHR | 0666, makedev(d->major, d->minor)) < 0 ||
			 fchmodat(dev, d->name, 0666, 0) < 0)
			rc = sys_err("mknod", host);
	}
	/* /dev/fuse for the encrypted storage frontend (init/storage.h), when the host has it */
	if (rc == 0 && access("/dev/fuse", F_OK) == 0) {
		if (e->userns)
			rc = mount_beneath(root, "dev/fuse", false, "/dev/fuse", NULL, MS_BIND, NULL);
		else if (mknodat(dev, "fuse", S_IFCHR | 0666, makedev(10, 229)) < 0 ||
			 fchmodat(dev, "fuse", 0666, 0) < 0)
			rc = sys_err("mknod", "/dev/fuse");
	}
	if (rc == 0)
		rc = mount_beneath(root, "dev/console", false, console_source(), NULL, MS_BIND,
				   NULL);
	for (size_t i = 0; rc == 0 && i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
		if (symlinkat(dev_links[i][1], dev, dev_links[i][0]) < 0)
			rc = sys_err("symlink /dev/", dev_links[i][0]);
	return rc;
}

/* Bring up lo, the only interface of the new network namespace. */
static int loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return sys_err("socket", "for lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return sys_err("SIOCGIFFLAGS", "lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return sys_err("bring up", "lo");
	return 0;
}

static int read_small(int dir, const char *name, bool optional, char **buf, size_t *len)
{
	_cleanup_close_ int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_free_ char *b = NULL;
	struct stat st;
	ssize_t n;

	*buf = NULL;
	*len = 0;
	if (fd < 0 && errno == ENOENT && optional)
		return 0;
	if (fd < 0 || fstat(fd, &st) < 0)
		return sys_err("open", name);
	if (!S_ISREG(st.st_mode) || st.st_size > KILN_SIM_FILE_MAX)
		return kiln_err(EINVAL, "/%s in ramdisk1: not a file of at most %d bytes", name,
				KILN_SIM_FILE_MAX);
	b = malloc((size_t)st.st_size + 1);
	if (!b)
		return kiln_err(ENOMEM, "out of memory");
	n = read(fd, b, (size_t)st.st_size);
	if (n != st.st_size)
		return sys_err("read", name);
	*len = (size_t)n;
	*buf = KILN_STEAL_PTR(b);
	return 0;
}

/* The ramdisk's cmd and env, with KILN_CHAN for kiln-init and a default PATH. */
static int load_command(const struct kiln_sim_enclave *e, int top, struct kiln_sim_lines *cmd,
			struct kiln_sim_lines *env)
{
	_cleanup_free_ char *c = NULL, *v = NULL;
	static char chan[32]; /* env keeps the pointer until the exec */
	size_t clen, vlen;
	int rc = read_small(top, "cmd", false, &c, &clen);

	/* vsock: "vsock:CID", the parent kiln-init dials as on Nitro (at 3 there). */
	snprintf(chan, sizeof(chan), "KILN_CHAN=vsock:%u", (unsigned)e->vsock_cid);

	if (rc == 0)
		rc = read_small(top, "env", true, &v, &vlen);
	if (rc == 0)
		rc = kiln_sim_parse_cmd(c, clen, cmd);
	if (rc == 0 && (rc = kiln_sim_parse_env(v ? v : "", vlen, env)) < 0)
		kiln_sim_lines_free(cmd);
	if (rc == 0 && ((rc = kiln_sim_env_set(env, e->vsock_cid ? chan : KILN_SIM_CHAN_ENV)) < 0 ||
			(rc = kiln_sim_env_default(env, DEFAULT_PATH)) < 0)) {
		kiln_sim_lines_free(cmd);
		kiln_sim_lines_free(env);
	}
	return rc;
}

/*
 * The cached tree (rootfs_cache.c) as the lower layer of an overlay on
 * e->root, whose upper and work directories are in the run's tmpfs there
 * (tmpfs_fd): writes stay in enclave memory, the tree is never written.
 * Every directory is passed as /proc/self/fd/N, so no path of the host's
 * (commas, colons) reaches overlayfs's option parser.
 */
static int mount_overlay(const struct kiln_sim_enclave *e, int tmpfs_fd)
{
	const struct kiln_sim_rootfs *rf = e->rootfs;
	_cleanup_close_ int dir = -1, lower = -1, upper = -1, work = -1;
	char opts[160];
	int rc = kiln_sim_rootfs_fill(rf, e->eif_fd, e->info);

	if (rc < 0)
		return kiln_err_wrap(rc, "unpacking the EIF");
	if (mkdirat(tmpfs_fd, ".upper", 0755) < 0 || mkdirat(tmpfs_fd, ".work", 0700) < 0)
		return sys_err("mkdir in", e->root);
	/* By path: rf's fds are the monitor's, on the host's mounts, which
	 * overlayfs refuses from this mount namespace ("failed to clone lowerpath"). */
	dir = open(rf->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	lower = dir < 0 ? -1 : openat(dir, rf->key, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	upper = openat(tmpfs_fd, ".upper", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	work = openat(tmpfs_fd, ".work", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lower < 0 || upper < 0 || work < 0)
		return sys_err("open layers of", e->root);
	snprintf(opts, sizeof(opts),
		 "lowerdir=/proc/self/fd/%d,upperdir=/proc/self/fd/%d,workdir=/proc/self/fd/%d",
		 lower, upper, work);
	if (mount("kiln-enclave", e->root, "overlay", MS_NODEV, opts) < 0)
		return sys_err("mount overlay on", e->root);
	return 0;
}

/*
 * A tmpfs sized like the enclave's memory on e->root, the ramdisks in it or
 * under it (*cached: the cached tree, as an overlay).
 */
static int make_rootfs(const struct kiln_sim_enclave *e, int *top, bool *cached)
{
	char opts[64];
	_cleanup_close_ int fd = -1;
	int rc;

	snprintf(opts, sizeof(opts), "size=%llum,mode=0755", (unsigned long long)e->memory_mib);
	if (mount("kiln-enclave", e->root, "tmpfs", MS_NODEV, opts) < 0)
		return sys_err("mount tmpfs on", e->root);
	fd = open(e->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sys_err("open", e->root);
	if (e->rootfs) {
		rc = mount_overlay(e, fd);
		if (rc == 0) {
			close(fd);
			fd = open(e->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0)
				return sys_err("open", e->root);
			*top = KILN_STEAL_FD(fd);
			*cached = true;
			return 0;
		}
		/* No overlayfs here (or a broken cache): copy, as without a cache. */
		if (e->debug)
			fprintf(stderr, "kiln: sim: rootfs cache not used: %s\n", kiln_errmsg());
	}
	rc = kiln_sim_unpack(e->eif_fd, e->info, fd);
	if (rc < 0)
		return kiln_err_wrap(rc, "unpacking the EIF");
	*top = KILN_STEAL_FD(fd);
	return 0;
}

/* Bind rootfs/ on itself (pivot_root needs a mount point) and return its fd. */
static int bind_newroot(const struct kiln_sim_enclave *e, int top, int *out)
{
	_cleanup_close_ int fd = openat(top, "rootfs", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char path[64];

	if (fd < 0)
		return kiln_err(errno, "ramdisk1 has no rootfs/ directory: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return sys_err("bind-mount", "rootfs");
	close(fd);
	/* Reopen: the fd from before the bind refers to the covered directory. */
	snprintf(path, sizeof(path), "%s/rootfs", e->root);
	fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sys_err("open", path);
	*out = KILN_STEAL_FD(fd);
	return 0;
}

static int switch_root(int newroot)
{
	if (fchdir(newroot) < 0)
		return sys_err("chdir", "new root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return sys_err("pivot_root", "rootfs");
	if (umount2(".", MNT_DETACH) < 0)
		return sys_err("detach", "old root");
	if (chdir("/") < 0)
		return sys_err("chdir", "/");
	return 0;
}

/*
 * Nothing of the image runs outside the limits: the monitor makes the v1
 * cgroup while we set up (v2: we were cloned into it) and sends it here.
 */
static int join_cgroup(const struct kiln_sim_enclave *e)
{
	struct kiln_sim_cgroup cg;
	int rc;

	if (kiln_read_exact(e->limits_fd, &cg, sizeof(cg), "cgroup") < 0)
		return kiln_err(EPIPE, "the monitor did not apply the resource limits");
	if (cg.ndirs > KILN_SIM_CG_MAX)
		return kiln_err(EINVAL, "the monitor sent a bad cgroup");
	rc = kiln_sim_cgroup_join_self(&cg);
	return rc < 0 ? kiln_err_wrap(rc, "joining the enclave's cgroup") : 0;
}

static int build_enclave(const struct kiln_sim_enclave *e, struct kiln_sim_lines *cmd,
			 struct kiln_sim_lines *env)
{
	_cleanup_close_ int top = -1, root = -1;
	bool cached = false;
	int rc;

	step(e, "rootfs tmpfs, unpack (or the cached tree)");
	rc = make_rootfs(e, &top, &cached);
	if (rc == 0)
		rc = load_command(e, top, cmd, env);
	if (rc < 0)
		return rc;
	step(e, "mounts: /proc /sys /dev /run /tmp, channels");
	if (rc == 0)
		rc = bind_newroot(e, top, &root);
	if (rc == 0)
		rc = mount_api(e, root);
	if (rc == 0)
		rc = populate_dev(e, root);
	if (rc == 0 && !e->vsock_cid)
		rc = mount_beneath(root, &KILN_SIM_CHAN_MOUNT[1], true, e->chan, NULL, MS_BIND, NULL);
	if (rc == 0)
		rc = join_cgroup(e); /* while the host's cgroup mounts are still in view */
	step(e, "pivot_root");
	if (rc == 0)
		rc = switch_root(root);
	if (rc < 0) {
		kiln_sim_lines_free(cmd);
		kiln_sim_lines_free(env);
	}
	return rc;
}

/*
 * The kernel's creation of this namespace's nat tables (kiln_redirect_warm,
 * ~0.8 ms) runs on a thread beside the rest of the setup, and is done
 * before kiln-init starts.
 */
static pthread_t warm_thread;
static bool warm_started;

static void *warm(void *unused)
{
	(void)unused;
	kiln_redirect_warm();
	return NULL;
}

static void warm_start(void)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	warm_started = pthread_create(&warm_thread, NULL, warm, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!warm_started)
		kiln_redirect_warm();
}

static void warm_wait(void)
{
	if (warm_started)
		pthread_join(warm_thread, NULL);
	warm_started = false;
}

int kiln_sim_enclave_early(const struct kiln_sim_enclave *e)
{
	int rc;

	step(e, "private mounts, network (lo), hostname");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return kiln_err_wrap(sys_err("make private", "/"), "enclave setup");
	rc = loopback_up();
	if (rc == 0)
		warm_start();
	if (rc == 0 && sethostname(e->name, strlen(e->name)) < 0)
		rc = sys_err("sethostname", e->name);
	return rc < 0 ? kiln_err_wrap(rc, "enclave setup") : 0;
}

int kiln_sim_enclave_exec(const struct kiln_sim_enclave *e)
{
	struct kiln_sim_lines cmd, env;
	const char *path = NULL;
	int rc, err;

	umask(022);
	rc = build_enclave(e, &cmd, &env);
	if (rc < 0)
		return kiln_err_wrap(rc, "enclave setup");
	for (size_t i = 0; i < env.n; i++)
		if (!strncmp(env.v[i], "PATH=", 5))
			path = env.v[i] + 5;
	if (path && setenv("PATH", path, 1) < 0)
		return sys_err("setenv", "PATH");
	warm_wait();
	/* Always the EIF's own program, as on Nitro: PID 1 is what the EIF carries. */
	step(e, cmd.v[0]);
	/* Only stdio crosses into the enclave (the error pipe closes on exec). */
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		return sys_err("close_range", "fds");
	execvpe(cmd.v[0], cmd.v, env.v);
	err = errno;
	rc = kiln_err(err, "exec %s (the EIF's cmd): %s", cmd.v[0], strerror(err));
	kiln_sim_lines_free(&cmd);
	kiln_sim_lines_free(&env);
	return rc;
}
