/* SPDX-License-Identifier: Apache-2.0 */
/* The sim's per-enclave runtime directory STATE/sim/NAME and its name lock. */
#include "sim/sim.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chan/frame.h"
#include "util/cleanup.h"
#include "util/dirtree.h"
#include "util/lockfile.h"
#include "util/state_dir.h"

/*
 * STATE/sim/NAME/{lock, root/, chan/}. The monitor holds an exclusive
 * flock on lock (which holds its pid) for its whole life, so a second `kiln run --name NAME` sees
 * the name in use, and a directory whose lock is free is a leftover of a
 * killed monitor (its mounts died with the enclave's mount namespace): it
 * is cleaned and reused. Removal unlinks lock while still holding it; an
 * opener that raced with that sees a different inode and retries.
 */

int kiln_sim_state_dir(char *buf, size_t len)
{
	const char *env = getenv("KILN_STATE_DIR");
	int n;

	if (!env || !*env)
		return kiln_state_dir_default(buf, len); /* where kilnd is by default */
	n = snprintf(buf, len, "%s", env);
	if (n < 0 || (size_t)n >= len)
		return kiln_err(ENAMETOOLONG, "state directory path too long");
	return 0;
}

int kiln_sim_default_name(const char *eif_path, char *buf, size_t len)
{
	const char *base = strrchr(eif_path, '/');
	char stem[40];
	size_t n = 0;
	uint8_t r[3];

	base = base ? base + 1 : eif_path;
	for (const char *p = base; *p && strcmp(p, ".eif") && n < sizeof(stem) - 1; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || (n && (c == '_' || c == '.' || c == '-'));

		stem[n] = ok ? c : (n ? '-' : 'e');
		n++;
	}
	stem[n] = '\0';
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return kiln_err(EIO, "getrandom failed");
	snprintf(buf, len, "%s-%02x%02x%02x", n ? stem : "enclave", r[0], r[1], r[2]);
	return kiln_name_check(buf);
}

/* Remove the plain files and sockets in dir (a channel directory), then dir. */
static void remove_dir_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

/* Open and lock DIR/lock: 0, -EBUSY when held, -EAGAIN when it was removed meanwhile. */
static int take_lock(struct kiln_sim_state *st, const char *name)
{
	char path[4300], pid[16];
	_cleanup_close_ int fd = -1;
	int n = snprintf(path, sizeof(path), "%s/lock", st->dir);
	int rc = kiln_lockfile_at(AT_FDCWD, path, LOCK_EX | LOCK_NB, &fd);

	if (rc == -EWOULDBLOCK)
		return kiln_err(EBUSY, "enclave name \"%s\" is already in use", name);
	if (rc < 0)
		return rc;
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, pid, (size_t)n) != n)
		return kiln_err(errno, "%s: %s", path, strerror(errno));
	st->lock_fd = KILN_STEAL_FD(fd);
	return 0;
}

int kiln_sim_state_open(const char *state_dir, const char *name, struct kiln_sim_state *st)
{
	int n, rc;

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	rc = kiln_name_check(name);
	if (rc < 0)
		return rc;
	n = snprintf(st->dir, sizeof(st->dir), "%s/sim/%s", state_dir, name);
	if (n < 0 || (size_t)n >= sizeof(st->dir))
		return kiln_err(ENAMETOOLONG, "state directory path too long");
	snprintf(st->root, sizeof(st->root), "%s/root", st->dir);
	snprintf(st->chan, sizeof(st->chan), "%s/chan", st->dir);
	for (int tries = 0; tries < 10; tries++) {
		rc = kiln_mkdir_p(st->dir, 0700);
		if (rc == 0)
			rc = take_lock(st, name);
		if (rc != -EAGAIN)
			break;
	}
	if (rc == -EAGAIN)
		rc = kiln_err(EBUSY, "enclave name \"%s\": lock keeps changing", name);
	if (rc < 0)
		return rc;
	/* A killed monitor's leftovers: the mount point and stale sockets. */
	rmdir(st->root);
	remove_dir_files(st->chan);
	if (mkdir(st->root, 0700) < 0 || mkdir(st->chan, 0700) < 0) {
		rc = kiln_err(errno, "%s: %s", st->dir, strerror(errno));
		kiln_sim_state_close(st);
	}
	return rc;
}

void kiln_sim_state_close(struct kiln_sim_state *st)
{
	char path[4300];

	if (st->lock_fd < 0)
		return;
	rmdir(st->root);
	remove_dir_files(st->chan);
	snprintf(path, sizeof(path), "%s/lock", st->dir);
	unlink(path);
	rmdir(st->dir);
	close(st->lock_fd);
	st->lock_fd = -1;
}
