/* SPDX-License-Identifier: Apache-2.0 */
/* kiln launch: the entrypoint of `kiln build --output-image` images (Kubernetes Pods). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build/ociout.h"
#include "cli/cli.h"
#include "sim/sim.h"

/*
 * How this works: the launcher is the container's PID 1. It runs
 * `kiln run --nitro` (or --sim) in the foreground as its child, so the app's
 * output (kiln run prints what kilnd receives) goes to the container's
 * stdout for `kubectl logs`. The kubelet's SIGTERM is passed on, which stops
 * the app gracefully through kilnd and kiln-init; if the app is still there
 * after --grace seconds (less than the Pod's terminationGracePeriodSeconds),
 * kiln run is told to kill the enclave (its kill signal), so the Pod ends
 * with 137 and kiln's cleanup done rather than by the kubelet's SIGKILL. As
 * PID 1 it also reaps orphans (kilnd detaches). The exit code is kiln run's:
 * the app's, 128 + signal, or 125 when kiln itself failed.
 */

#define DEFAULT_GRACE 25 /* Kubernetes' default grace period is 30 s */

struct launch {
	const char *mode, *eif, *cpus, *memory, *state_dir, *name;
	long grace;
};

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static int launch_usage(FILE *f)
{
	fputs("usage: kiln launch [--sim | --nitro] [OPTIONS]\n"
	      "The entrypoint of images written by `kiln build --output-image`: runs\n"
	      "`kiln run` in the foreground, passes SIGTERM on, kills the enclave when the\n"
	      "grace period is over, and exits with the app's exit code.\n"
	      "  --sim | --nitro   default $KILN_LAUNCH_MODE (sim or nitro), else nitro\n"
	      "  --eif FILE        default $KILN_EIF, else " KILN_IMG_EIF "\n"
	      "  --cpus N          default $KILN_CPUS, else the EIF's\n"
	      "  --memory MIB      default $KILN_MEMORY_MIB, else the EIF's\n"
	      "  --grace S         seconds from SIGTERM to killing the enclave\n"
	      "                    (default $KILN_GRACE_SECONDS, else 25)\n"
	      "  --state-dir DIR   kilnd's state (default $KILN_STATE_DIR, else " KILN_IMG_STATE ")\n"
	      "  --name NAME       enclave name (default $HOSTNAME: the Pod's name)\n",
	      f);
	return f == stderr ? 2 : 0;
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static int parse_grace(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 86400)
		return kiln_err(EINVAL, "--grace: \"%s\" is not a number of seconds in [1, 86400]",
				s);
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct launch *l)
{
	static const struct option opts[] = {
		{ "sim", no_argument, NULL, 'S' },	   { "nitro", no_argument, NULL, 'N' },
		{ "eif", required_argument, NULL, 'e' },   { "cpus", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' }, { "grace", required_argument, NULL, 'g' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },  { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *grace = env_or("KILN_GRACE_SECONDS", NULL);
	int c;

	*l = (struct launch){ env_or("KILN_LAUNCH_MODE", "nitro"), env_or("KILN_EIF", KILN_IMG_EIF),
			      env_or("KILN_CPUS", NULL), env_or("KILN_MEMORY_MIB", NULL),
			      env_or("KILN_STATE_DIR", KILN_IMG_STATE), env_or("HOSTNAME", NULL),
			      DEFAULT_GRACE };
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'S': l->mode = "sim"; break;
		case 'N': l->mode = "nitro"; break;
		case 'e': l->eif = optarg; break;
		case 'c': l->cpus = optarg; break;
		case 'm': l->memory = optarg; break;
		case 'g': grace = optarg; break;
		case 's': l->state_dir = optarg; break;
		case 'n': l->name = optarg; break;
		case 'h': return 1;
		default: return 2; /* getopt said why */
		}
	}
	if (optind < argc)
		return kiln_err(EINVAL, "unexpected argument '%s' (the app's arguments are in the "
				"EIF's kiln.yaml)", argv[optind]);
	if (strcmp(l->mode, "sim") && strcmp(l->mode, "nitro"))
		return kiln_err(EINVAL, "KILN_LAUNCH_MODE \"%s\": want sim or nitro", l->mode);
	return grace ? parse_grace(grace, &l->grace) : 0;
}

/* The child: kiln run MODE EIF ... with the signals unblocked. */
static void exec_run(const struct launch *l, const sigset_t *old)
{
	char mode[16];
	const char *argv[16];
	int n = 0;

	snprintf(mode, sizeof(mode), "--%s", l->mode);
	argv[n++] = "kiln";
	argv[n++] = "run";
	argv[n++] = mode;
	argv[n++] = l->eif;
	argv[n++] = "--state-dir";
	argv[n++] = l->state_dir;
	if (l->name) {
		argv[n++] = "--name";
		argv[n++] = l->name;
	}
	if (l->cpus) {
		argv[n++] = "--cpus";
		argv[n++] = l->cpus;
	}
	if (l->memory) {
		argv[n++] = "--memory";
		argv[n++] = l->memory;
	}
	argv[n] = NULL;
	sigprocmask(SIG_SETMASK, old, NULL);
	execv("/proc/self/exe", (char *const *)argv);
	fprintf(stderr, "kiln: launch: exec kiln run: %s\n", strerror(errno));
	_exit(125);
}

static int arm(int tfd, long seconds)
{
	struct itimerspec its = { .it_value = { .tv_sec = seconds } };

	return timerfd_settime(tfd, 0, &its, NULL);
}

/* Reap every exited process; *code once the child is among them. */
static int reap(pid_t child, int *code)
{
	int status, done = 0;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0)
		if (p == child) {
			*code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			done = 1;
		}
	return done;
}

static int on_signal(const struct launch *l, pid_t child, int sig, int tfd, int *armed)
{
	kill(child, sig);
	if ((sig == SIGTERM || sig == SIGINT) && !*armed) {
		*armed = 1;
		if (arm(tfd, l->grace) < 0)
			return kiln_err(errno, "timerfd: %s", strerror(errno));
	}
	return 0;
}

static int supervise(const struct launch *l, pid_t child, int sfd, int tfd)
{
	struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = tfd, .events = POLLIN } };
	int armed = 0, code = 125;

	for (;;) {
		struct signalfd_siginfo si;
		uint64_t ticks;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 125;
		if ((p[1].revents & POLLIN) && read(tfd, &ticks, sizeof(ticks)) > 0) {
			fprintf(stderr, "kiln: launch: the app did not stop within %ld s of SIGTERM: "
				"killing the enclave\n", l->grace);
			kill(child, KILN_SIM_KILL_SIGNAL);
		}
		if (!(p[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD) {
			if (reap(child, &code))
				return code;
		} else if (on_signal(l, child, (int)si.ssi_signo, tfd, &armed) < 0) {
			fprintf(stderr, "kiln: launch: %s\n", kiln_errmsg());
		}
	}
}

int kiln_cmd_launch(int argc, char **argv)
{
	struct launch l;
	sigset_t set, old;
	int rc = parse_args(argc, argv, &l), sfd, tfd;
	pid_t child;

	if (rc > 0)
		return launch_usage(rc == 1 ? stdout : stderr);
	if (rc < 0) {
		fprintf(stderr, "kiln: launch: %s\n", kiln_errmsg());
		return 125;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, &old);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (sfd < 0 || tfd < 0) {
		fprintf(stderr, "kiln: launch: signalfd/timerfd: %s\n", strerror(errno));
		return 125;
	}
	child = fork();
	if (child == 0)
		exec_run(&l, &old);
	if (child < 0) {
		fprintf(stderr, "kiln: launch: fork: %s\n", strerror(errno));
		return 125;
	}
	return supervise(&l, child, sfd, tfd);
}
