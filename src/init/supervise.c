/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's supervisor: start the app as its user, forward signals, reap everything. */
#include "init/supervise.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * How this works: the signals kiln-init handles stay blocked and are taken
 * synchronously with sigwaitinfo(), so there are no handlers and no races
 * between a SIGCHLD and the wait loop. The child restores the default mask
 * and dispositions before exec, so the app starts with a clean slate.
 */

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };

static void handled_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(set, forwarded[i]);
}

static _Noreturn void child_fail(const char *what, const char *arg, int e)
{
	fprintf(stderr, "kiln-init: %s %s: %s\n", what, arg, strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

static const char *env_path(char *const *env)
{
	for (size_t i = 0; env[i]; i++) {
		if (strncmp(env[i], "PATH=", 5) == 0)
			return env[i] + 5;
	}
	return NULL;
}

/*
 * In a user namespace whose gid map was written without setgroups (the sim
 * for an ordinary user), /proc/self/setgroups says "deny" and setgroups()
 * can never succeed; the supplementary groups are then left as they are.
 */
static bool setgroups_denied(void)
{
	char buf[16] = "";
	int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	return n > 0 && strncmp(buf, "deny", 4) == 0;
}

static void become_user(const struct kiln_user *u)
{
	char id[32];

	snprintf(id, sizeof(id), "%u", (unsigned int)u->uid);
	if (setgroups(u->ngroups, u->groups) < 0 && !(errno == EPERM && setgroups_denied()))
		child_fail("setgroups for uid", id, errno);
	if (setgid(u->gid) < 0)
		child_fail("setgid for uid", id, errno);
	if (setuid(u->uid) < 0)
		child_fail("setuid", id, errno);
}

static _Noreturn void exec_app(const struct kiln_app *app)
{
	const char *path = env_path(app->env);
	sigset_t none;

	sigemptyset(&none);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		signal(forwarded[i], SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (mkdir(app->workdir, 0755) < 0 && errno != EEXIST)
		fprintf(stderr, "kiln-init: warning: mkdir %s: %s\n", app->workdir, strerror(errno));
	become_user(app->user);
	if (chdir(app->workdir) < 0)
		child_fail("chdir", app->workdir, errno);
	/* execvpe() searches the caller's PATH, not env's. */
	if (path)
		setenv("PATH", path, 1);
	execvpe(app->argv[0], app->argv, app->env);
	child_fail("exec", app->argv[0], errno);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* Reap every child that has exited; true once the app is among them. */
static bool reap(pid_t app, int *code)
{
	bool done = false;
	int status;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
		if (p == app) {
			*code = exit_code(status);
			done = true;
		}
	}
	return done;
}

static int wait_for(pid_t app, const sigset_t *set, int *code)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si);

		if (sig < 0 && errno == EINTR)
			continue;
		if (sig < 0) {
			int e = errno;

			return kiln_err(e, "sigwaitinfo: %s", strerror(e));
		}
		if (sig == SIGCHLD) {
			if (reap(app, code))
				return 0;
			continue;
		}
		if (kill(app, sig) < 0 && errno != ESRCH)
			fprintf(stderr, "kiln-init: warning: forward signal %d: %s\n", sig,
				strerror(errno));
	}
}

int kiln_supervise(const struct kiln_app *app, int *code)
{
	sigset_t set, old;
	pid_t pid;
	int rc;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fprintf(stderr, "kiln-init: warning: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
	handled_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0) {
		int e = errno;

		return kiln_err(e, "sigprocmask: %s", strerror(e));
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		return kiln_err(e, "fork: %s", strerror(e));
	}
	if (pid == 0)
		exec_app(app);
	rc = wait_for(pid, &set, code);
	reap(pid, code); /* zombies that exited along with the app */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
