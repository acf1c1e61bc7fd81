/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bootstrap starts the enclave's command and reaps every orphan. */
#include "boot/boot.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * In the child: undo PID 1's blocked signal mask, start a session, and
 * exec. execvpe() searches the caller's PATH, so the child's own PATH is set
 * from env first (AWS's init searches a fixed default PATH instead; kiln's
 * cmd is an absolute path, so the difference does not show).
 */
static _Noreturn void exec_child(char *const argv[], const struct boot_lines *env)
{
	const char *path = boot_env_get(env, "PATH");
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	setsid();
	if (path)
		setenv("PATH", path, 1);
	execvpe(argv[0], argv, env->v);
	boot_log("exec %s: %s", argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

int boot_launch(char *const argv[], const struct boot_lines *env, pid_t *pid)
{
	pid_t p = fork();

	if (p < 0) {
		int e = errno;

		return kiln_err(e, "fork: %s", strerror(e));
	}
	if (p == 0)
		exec_child(argv, env);
	*pid = p;
	return 0;
}

int boot_reap_until(pid_t pid, int *status)
{
	for (;;) {
		int st;
		pid_t p = wait(&st);

		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0) {
			int e = errno;

			return kiln_err(e, "wait: %s", strerror(e));
		}
		if (p == pid) {
			*status = st;
			return 0;
		}
	}
}
