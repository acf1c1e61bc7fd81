/* SPDX-License-Identifier: Apache-2.0 */
/* Start the app: its user, groups, workdir, environment, and stdout/stderr on pipes. */
#include "init/supervise.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/seccomp.h"
#include "util/dirtree.h"

/*
 * The child restores the default signal mask and dispositions (kiln-init
 * blocks the signals it handles and ignores SIGPIPE) before exec, so the
 * app starts with a clean slate and only stdio: its stdout and stderr are
 * the write ends of two pipes kiln-init reads. Unless app.allow_vsock, it
 * also cannot open AF_VSOCK (the parent's channels) nor ptrace kiln-init
 * (init/seccomp.h), set up while the child is still root.
 */

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

/* Wait until kiln-init says the app may run (its network is in place). */
static void wait_gate(int fd)
{
	char b;

	while (fd >= 0 && read(fd, &b, 1) < 0 && errno == EINTR)
		;
}

static _Noreturn void exec_app(const struct kiln_app *app, int out_w, int err_w)
{
	const char *path = env_path(app->env);
	sigset_t none;

	if (dup2(out_w, STDOUT_FILENO) < 0 || dup2(err_w, STDERR_FILENO) < 0)
		_exit(126);
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP, RT internals */
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The workdir and its parents as Docker makes them (0755, as root). */
	if (kiln_mkdir_p(app->workdir, 0755) < 0)
		fprintf(stderr, "kiln-init: warning: %s\n", kiln_errmsg());
	/* Before the uid drop: installing the filter takes CAP_SYS_ADMIN (no
	 * no_new_privs, which would break the app's setuid programs). */
	if (!app->allow_vsock && kiln_isolate_app() < 0) {
		fprintf(stderr, "kiln-init: %s; app.allow_vsock: true runs the app without "
			"this isolation\n", kiln_errmsg());
		_exit(126);
	}
	become_user(app->user);
	if (chdir(app->workdir) < 0)
		child_fail("chdir", app->workdir, errno);
	/* execvpe() searches the caller's PATH, not env's. */
	if (path)
		setenv("PATH", path, 1);
	wait_gate(app->gate_fd);
	execvpe(app->argv[0], app->argv, app->env);
	child_fail("exec", app->argv[0], errno);
}

void kiln_app_wait_started(int started_rd, int timeout_ms)
{
	struct pollfd p = { .fd = started_rd, .events = POLLIN };

	while (started_rd >= 0 && poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
		;
}

int kiln_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* A pipe for one output stream: a bigger buffer when allowed, the read end non-blocking. */
static int out_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return kiln_err(errno, "pipe: %s", strerror(errno));
	fcntl(p[0], F_SETPIPE_SZ, 1 << 20); /* fewer wakeups; the default 64 KiB also works */
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		return kiln_err(e, "pipe: %s", strerror(e));
	}
	return 0;
}

int kiln_app_start(const struct kiln_app *app, pid_t *pid, int out[2])
{
	int o[2], e[2], rc = out_pipe(o);

	if (rc == 0 && (rc = out_pipe(e)) < 0) {
		close(o[0]);
		close(o[1]);
	}
	if (rc < 0)
		return rc;
	*pid = fork();
	if (*pid == 0)
		exec_app(app, o[1], e[1]);
	if (*pid > 0 && app->forked)
		app->forked(app->forked_ctx); /* e.g. secrets wipe kiln-init's copies */
	close(o[1]);
	close(e[1]);
	if (app->started_fd >= 0)
		close(app->started_fd); /* the app's copy alone keeps the pipe open */
	if (*pid < 0) {
		int err = errno;

		close(o[0]);
		close(e[0]);
		return kiln_err(err, "fork: %s", strerror(err));
	}
	out[0] = o[0];
	out[1] = e[0];
	return 0;
}
