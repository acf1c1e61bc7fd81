/* SPDX-License-Identifier: Apache-2.0 */
/* One unpacked rootfs per EIF content, shared read-only by every sim run of it. */
/*
 * How this works. Copying the ramdisks into a fresh tmpfs is most of what a
 * sim start costs, and every run of the same EIF copies the same bytes. So
 * a run of an EIF whose full check is on record (eif/check_cache.c: its
 * bytes are known and unchanged) uses CACHE/v1-KEY, KEY naming PCR0 (which
 * covers the kernel, cmdline and every ramdisk), as the read-only lower
 * layer of an overlay whose upper layer is the run's own tmpfs: the app
 * sees the same tree and its writes stay in enclave memory.
 *
 * The first such run unpacks into v1-KEY.tmp.ID and renames it to v1-KEY
 * (a concurrent run that loses the rename uses the winner's). The tree is
 * written only there, through the same unpacker as the tmpfs path, and is
 * never written again. Users hold a shared flock on v1-KEY.lock for as long
 * as their enclave may look up names in the tree; the pruner keeps the
 * KEEP most recently used trees and removes another only under an
 * exclusive lock (renamed away first, so nobody can start using it
 * half-deleted). A lock file replaced meanwhile is detected by inode.
 */
#include "sim/sim.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eif/eif.h"
#include "util/cleanup.h"
#include "util/dirtree.h"
#include "util/lockfile.h"

#define PREFIX "v1-"
#define KEY_BYTES 24
#define KEEP 4
#define SCAN_MAX 256

static int cache_dir(char *buf, size_t len)
{
	const char *env = getenv("KILN_CACHE_DIR");
	int n;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/var/cache/kiln/rootfs");
	else
		return -ENOENT; /* an ordinary user's enclave copies (user namespace) */
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* flock name.lock in dir; 0 with *out, -EAGAIN when replaced meanwhile, else -errno. */
static int lock_entry(int dir, const char *name, int how, int *out)
{
	char lock[128];

	snprintf(lock, sizeof(lock), "%s.lock", name);
	return kiln_lockfile_at(dir, lock, how, out);
}

int kiln_sim_rootfs_open(const struct eif_pcrs *pcrs, const char *id,
			 struct kiln_sim_rootfs *rf)
{
	char hex[2 * KEY_BYTES + 1];
	struct stat st;
	int rc;

	*rf = (struct kiln_sim_rootfs){ .dir_fd = -1, .lock_fd = -1 };
	if (cache_dir(rf->dir, sizeof(rf->dir)) < 0 || kiln_mkdir_p(rf->dir, 0700) < 0)
		return -ENOENT;
	rf->dir_fd = open(rf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rf->dir_fd < 0)
		return -ENOENT;
	kiln_hex(pcrs->pcr0, KEY_BYTES, hex);
	snprintf(rf->key, sizeof(rf->key), PREFIX "%s", hex);
	for (int tries = 0; (rc = lock_entry(rf->dir_fd, rf->key, LOCK_SH, &rf->lock_fd)) ==
			    -EAGAIN && tries < 8; tries++)
		;
	if (rc < 0) {
		kiln_sim_rootfs_close(rf);
		return rc;
	}
	rf->ready = fstatat(rf->dir_fd, rf->key, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode);
	if (rf->ready)
		utimensat(rf->dir_fd, rf->key, NULL, AT_SYMLINK_NOFOLLOW); /* recently used */
	else
		snprintf(rf->fill, sizeof(rf->fill), "%s.tmp.%s", rf->key, id);
	return 0;
}

int kiln_sim_rootfs_fill(const struct kiln_sim_rootfs *rf, int eif_fd,
			 const struct eif_info *info)
{
	_cleanup_close_ int dir = -1, fd = -1;
	int rc;

	if (rf->ready)
		return 0;
	/* By name: this runs in the enclave's child, which has none of rf's fds. */
	dir = open(rf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || mkdirat(dir, rf->fill, 0755) < 0)
		return kiln_err(errno, "rootfs cache %s/%s: %s", rf->dir, rf->fill, strerror(errno));
	fd = openat(dir, rf->fill, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err(errno, "rootfs cache %s/%s: %s", rf->dir, rf->fill, strerror(errno));
	rc = kiln_sim_unpack(eif_fd, info, fd);
	if (rc < 0)
		return rc;
	/* Lost a race with another first run: its tree is the same bytes. */
	if (renameat(dir, rf->fill, dir, rf->key) < 0 && errno != EEXIST &&
	    errno != ENOTEMPTY)
		return kiln_err(errno, "rootfs cache %s/%s: %s", rf->dir, rf->key, strerror(errno));
	return 0;
}

struct entry {
	char name[80];
	struct timespec mtime;
};

static int newest_first(const void *a, const void *b)
{
	const struct timespec *x = &((const struct entry *)a)->mtime;
	const struct timespec *y = &((const struct entry *)b)->mtime;

	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? 1 : -1;
	return x->tv_nsec < y->tv_nsec ? 1 : x->tv_nsec > y->tv_nsec ? -1 : 0;
}

/* Remove tree name (a complete one or a leftover) unless somebody uses its key. */
static void remove_unused(int dir, const char *name, size_t key_len)
{
	char key[80], trash[128];
	_cleanup_close_ int lock = -1;

	snprintf(key, sizeof(key), "%.*s", (int)key_len, name);
	if (lock_entry(dir, key, LOCK_EX | LOCK_NB, &lock) < 0)
		return;
	snprintf(trash, sizeof(trash), "%s.trash.%d", key, (int)getpid());
	if (renameat(dir, name, dir, trash) < 0 || kiln_rmtree_at(dir, trash) < 0)
		return;
	if (strlen(name) == key_len) { /* the tree itself: its lock goes too */
		snprintf(key, sizeof(key), "%.*s.lock", (int)key_len, name);
		unlinkat(dir, key, 0);
	}
}

/* Keep the KEEP most recently used trees; drop leftovers of killed runs. */
static void prune(int dir)
{
	struct entry *e = calloc(SCAN_MAX, sizeof(*e));
	_cleanup_close_ int fd = fcntl(dir, F_DUPFD_CLOEXEC, 3);
	DIR *d = fd >= 0 && e ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t n = 0, key_len = strlen(PREFIX) + 2 * KEY_BYTES;

	if (d)
		fd = -1; /* closedir closes it */
	while (d && (de = readdir(d))) {
		struct stat st;
		size_t len = strlen(de->d_name);

		if (strncmp(de->d_name, PREFIX, strlen(PREFIX)) || len < key_len ||
		    !strcmp(de->d_name + key_len, ".lock") ||
		    fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (len > key_len) { /* KEY.tmp.ID of a killed first run, KEY.trash.PID */
			remove_unused(dir, de->d_name, key_len);
		} else if (n < SCAN_MAX) {
			snprintf(e[n].name, sizeof(e[n].name), "%s", de->d_name);
			e[n++].mtime = st.st_mtim;
		}
	}
	if (d)
		closedir(d);
	if (e)
		qsort(e, n, sizeof(*e), newest_first);
	for (size_t i = KEEP; i < n; i++)
		remove_unused(dir, e[i].name, key_len);
	free(e);
}

void kiln_sim_rootfs_close(struct kiln_sim_rootfs *rf)
{
	if (rf->dir_fd >= 0 && rf->fill[0])
		(void)!kiln_rmtree_at(rf->dir_fd, rf->fill); /* only left when the rename lost */
	if (rf->lock_fd >= 0)
		close(rf->lock_fd);
	rf->lock_fd = -1;
	if (rf->dir_fd >= 0 && rf->fill[0])
		prune(rf->dir_fd); /* this run added a tree */
	if (rf->dir_fd >= 0)
		close(rf->dir_fd);
	rf->dir_fd = -1;
	rf->fill[0] = '\0';
}
