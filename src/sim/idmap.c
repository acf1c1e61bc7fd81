/* SPDX-License-Identifier: Apache-2.0 */
/* The enclave's user namespace map for an ordinary user: subordinate ids, else one id. */
#include "sim/sim.h"

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"

/*
 * As rootless podman does: when newuidmap/newgidmap exist and /etc/subuid
 * and /etc/subgid give the caller a range, the enclave gets root = the
 * caller plus ids 1..N from that range, so an image's USER 1000 and
 * setgroups() work. Otherwise the caller alone becomes root (setgroups is
 * then denied by the kernel's rule for such maps) and the image must run as
 * root.
 */
#define NEWUIDMAP "/usr/bin/newuidmap"
#define NEWGIDMAP "/usr/bin/newgidmap"

/* The caller's first range in a subid file: "name-or-id:start:count". */
static int subid_range(const char *file, const char *user, unsigned id, unsigned long *start,
		       unsigned long *count)
{
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	char line[512], idstr[16];

	if (!f)
		return -ENOENT;
	snprintf(idstr, sizeof(idstr), "%u", id);
	while (fgets(line, sizeof(line), f)) {
		char *sep = strchr(line, ':');

		if (!sep)
			continue;
		*sep = '\0';
		if ((strcmp(line, user) && strcmp(line, idstr)) ||
		    sscanf(sep + 1, "%lu:%lu", start, count) != 2 || *count == 0)
			continue;
		return 0;
	}
	return -ENOENT;
}

static int run_helper(const char *exe, pid_t pid, unsigned id, unsigned long start,
		      unsigned long count)
{
	char p[16], i[16], s[24], c[24];
	int status;
	pid_t h;

	snprintf(p, sizeof(p), "%d", (int)pid);
	snprintf(i, sizeof(i), "%u", id);
	snprintf(s, sizeof(s), "%lu", start);
	snprintf(c, sizeof(c), "%lu", count);
	h = fork();
	if (h < 0)
		return kiln_err(errno, "fork: %s", strerror(errno));
	if (h == 0) {
		char *const argv[] = { (char *)exe, p, "0", i, "1", "1", s, c, NULL };

		execv(exe, argv);
		_exit(127);
	}
	if (waitpid(h, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return kiln_err(EPERM, "%s %s 0 %s 1 1 %s %s failed", exe, p, i, s, c);
	return 0;
}

static int write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return kiln_err(errno, "user namespace: write %s: %s", path, strerror(errno));
	return 0;
}

static int map_single(pid_t pid, unsigned uid, unsigned gid)
{
	char map[64];
	int rc;

	snprintf(map, sizeof(map), "0 %u 1\n", uid);
	rc = write_proc(pid, "uid_map", map);
	if (rc == 0)
		rc = write_proc(pid, "setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1\n", gid);
	return rc ? rc : write_proc(pid, "gid_map", map);
}

int kiln_sim_map_ids(pid_t pid, bool *full)
{
	unsigned uid = (unsigned)geteuid(), gid = (unsigned)getegid();
	struct passwd *pw = getpwuid(uid);
	const char *user = pw ? pw->pw_name : "";
	unsigned long us, uc, gs, gc;

	*full = false;
	if (access(NEWUIDMAP, X_OK) == 0 && access(NEWGIDMAP, X_OK) == 0 &&
	    subid_range("/etc/subuid", user, uid, &us, &uc) == 0 &&
	    subid_range("/etc/subgid", user, uid, &gs, &gc) == 0 &&
	    run_helper(NEWUIDMAP, pid, uid, us, uc) == 0 &&
	    run_helper(NEWGIDMAP, pid, gid, gs, gc) == 0) {
		*full = true;
		return 0;
	}
	return map_single(pid, uid, gid);
}
