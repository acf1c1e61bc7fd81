/* SPDX-License-Identifier: Apache-2.0 */
/* Why the sim's namespaces cannot be created here: which one, and the setting behind it. */
#include "sim/sim.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
	unsigned long flag;
	const char *name;
	const char *max_sysctl;
} namespaces[] = {
	{ CLONE_NEWUSER, "user", "/proc/sys/user/max_user_namespaces" },
	{ CLONE_NEWNS, "mount", "/proc/sys/user/max_mnt_namespaces" },
	{ CLONE_NEWPID, "PID", "/proc/sys/user/max_pid_namespaces" },
	{ CLONE_NEWNET, "network", "/proc/sys/user/max_net_namespaces" },
	{ CLONE_NEWUTS, "UTS", "/proc/sys/user/max_uts_namespaces" },
	{ CLONE_NEWIPC, "IPC", "/proc/sys/user/max_ipc_namespaces" },
};

/* errno of unshare(flags) in a throwaway child (0: it worked). */
static int try_unshare(unsigned long flags)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(unshare((int)flags) < 0 ? (errno & 0xff) : 0);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return EIO;
	return WEXITSTATUS(status);
}

static long read_sysctl(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static const char *userns_why(void)
{
	if (read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0)
		return "sysctl kernel.unprivileged_userns_clone=0 forbids it for ordinary users";
	if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0)
		return "sysctl user.max_user_namespaces=0";
	if (read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
		return "AppArmor restricts unprivileged user namespaces "
		       "(kernel.apparmor_restrict_unprivileged_userns=1)";
	return "a seccomp filter or security module forbids it (inside a container?)";
}

static const char *why(unsigned long flag, int err, const char *max_sysctl)
{
	static char buf[160];

	switch (err) {
	case EINVAL:
		return "the kernel was built without it";
	case ENOSPC:
		snprintf(buf, sizeof(buf), "the limit %s is reached", max_sysctl);
		return buf;
	case EPERM:
		if (flag == CLONE_NEWUSER)
			return userns_why();
		return geteuid() == 0 ? "CAP_SYS_ADMIN is missing (an unprivileged container, "
					"or a seccomp filter?)" :
					"not permitted even inside a user namespace";
	default:
		return "unexpected error";
	}
}

int kiln_sim_ns_explain(unsigned long flags, int clone_errno)
{
	unsigned long user = flags & CLONE_NEWUSER;

	for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++) {
		unsigned long f = namespaces[i].flag;
		int err;

		if (!(flags & f))
			continue;
		err = try_unshare(f | (f == CLONE_NEWUSER ? 0 : user));
		if (err)
			return kiln_err(err, "sim impossible here: cannot create a %s namespace: "
					"%s (%s)", namespaces[i].name, strerror(err),
					why(f, err, namespaces[i].max_sysctl));
	}
	return kiln_err(clone_errno, "sim impossible here: creating the namespaces failed: %s",
			strerror(clone_errno));
}
