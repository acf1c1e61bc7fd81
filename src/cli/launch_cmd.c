/* SPDX-License-Identifier: Apache-2.0 */
/* kiln launch: the entrypoint of `kiln build --output-image` images (Kubernetes Pods). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build/ociout.h"
#include "cli/cli.h"
#include "eif/ingress.h"
#include "sim/sim.h"
#include "util/cleanup.h"

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
 *
 * Before that it reads the EIF (the parent's copy: this only decides where
 * things go, the enclave enforces its measured config either way): every
 * `storage` entry of its kiln.yaml at /PATH must have a volume mounted at
 * /PATH in this container (the Pod's volumeMounts: a PersistentVolumeClaim),
 * which becomes `-v /PATH:/PATH`, so kilnd keeps the encrypted volume on
 * the PV; and the Pod's hugepages must hold the enclave's memory. Either
 * failing is refused here, at start, with what to change in the Pod.
 */

#define DEFAULT_GRACE 25 /* Kubernetes' default grace period is 30 s */
#define MAX_VOLS 16      /* kiln run's -v limit */
#define MIB (1ull << 20)

struct launch {
	const char *mode, *eif, *cpus, *memory, *state_dir, *name, *mount_root, *hugepages;
	long grace;
	bool ephemeral;
	size_t n_vols;
	char vols[MAX_VOLS][2 * PATH_MAX + 2]; /* -v HOST:/PATH */
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
	      "  --name NAME       enclave name (default $HOSTNAME: the Pod's name)\n"
	      "  --hugepages MIB   the Pod's hugepages: refuse to start when they cannot hold\n"
	      "                    the enclave's memory (default $KILN_HUGEPAGES_MIB, else\n"
	      "                    the container's hugetlb cgroup limits, else unchecked)\n"
	      "  --ephemeral-storage\n"
	      "                    a storage entry with no volume mounted at its path is\n"
	      "                    kept in --state-dir (lost with the Pod) with a warning,\n"
	      "                    instead of refused ($KILN_EPHEMERAL_STORAGE=1)\n"
	      "  --mount-root DIR  where this container's volume mounts are seen (default\n"
	      "                    $KILN_MOUNT_ROOT, else /; for tests)\n"
	      "Each storage entry of the EIF's kiln.yaml at /PATH is kept on the volume\n"
	      "mounted at /PATH in this container (kiln run -v /PATH:/PATH).\n",
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
		{ "hugepages", required_argument, NULL, 'H' },
		{ "ephemeral-storage", no_argument, NULL, 'E' },
		{ "mount-root", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *grace = env_or("KILN_GRACE_SECONDS", NULL);
	int c;

	memset(l, 0, sizeof(*l));
	l->mode = env_or("KILN_LAUNCH_MODE", "nitro");
	l->eif = env_or("KILN_EIF", KILN_IMG_EIF);
	l->cpus = env_or("KILN_CPUS", NULL);
	l->memory = env_or("KILN_MEMORY_MIB", NULL);
	l->state_dir = env_or("KILN_STATE_DIR", KILN_IMG_STATE);
	l->name = env_or("HOSTNAME", NULL);
	l->mount_root = env_or("KILN_MOUNT_ROOT", "/");
	l->hugepages = env_or("KILN_HUGEPAGES_MIB", NULL);
	l->grace = DEFAULT_GRACE;
	l->ephemeral = !strcmp(env_or("KILN_EPHEMERAL_STORAGE", "0"), "1");
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
		case 'H': l->hugepages = optarg; break;
		case 'E': l->ephemeral = true; break;
		case 'r': l->mount_root = optarg; break;
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

/* ---- before the start: the EIF against the Pod ---- */

/* 1: dir is the root of a mount (one of the Pod's volumes), 0: it is not, or -errno. */
static int is_mount_root(const char *dir)
{
	struct statx sx;
	struct stat self, up;
	char parent[PATH_MAX + 4];

	if (statx(AT_FDCWD, dir, 0, STATX_TYPE, &sx) < 0)
		return -errno;
	if (!S_ISDIR(sx.stx_mode))
		return -ENOTDIR;
	if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
		return !!(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	/* before Linux 5.8: another filesystem mounted there has another device */
	snprintf(parent, sizeof(parent), "%s/..", dir);
	if (stat(dir, &self) < 0 || stat(parent, &up) < 0)
		return -errno;
	return self.st_dev != up.st_dev;
}

/* The storage entry at path: -v HOST:PATH onto its volume, or the refusal (or a warning). */
static int place_volume(struct launch *l, const char *path, size_t idx)
{
	char host[PATH_MAX];
	struct statvfs vfs;
	int rc;

	if (snprintf(host, sizeof(host), "%s%s", strcmp(l->mount_root, "/") ? l->mount_root : "",
		     path) >= (int)sizeof(host) || strchr(host, ':'))
		return kiln_err(EINVAL, "storage %s: the path %s is too long or has a ':'", path,
				host);
	rc = is_mount_root(host);
	if (rc == 1 && statvfs(host, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
		return kiln_err(EROFS, "storage %s (kiln.yaml storage[%zu]): the volume mounted "
				"there is read-only: remove readOnly from its volumeMount", path, idx);
	if (rc == 1) {
		if (l->n_vols == MAX_VOLS)
			return kiln_err(E2BIG, "more than %d storage entries", MAX_VOLS);
		snprintf(l->vols[l->n_vols++], sizeof(l->vols[0]), "%s:%s", host, path);
		return 0;
	}
	if (!l->ephemeral)
		return kiln_err(ENOENT, "storage %s (kiln.yaml storage[%zu]) has no volume mounted "
				"at %s in this container: mount a PersistentVolumeClaim there "
				"(volumeMounts), or set KILN_EPHEMERAL_STORAGE=1 to keep it in the Pod's "
				"emptyDir, lost with the Pod", path, idx, path);
	fprintf(stderr, "kiln: launch: WARNING: storage %s has no volume mounted at %s: it is "
		"kept under %s and LOST when the Pod goes (KILN_EPHEMERAL_STORAGE=1)\n", path, path,
		l->state_dir);
	return 0;
}

static int place_volumes(struct launch *l, int fd, const struct eif_info *info)
{
	json_t *md = eif_read_metadata(fd, info), *v;
	size_t i;
	int rc = 0;

	json_array_foreach(json_object_get(json_object_get(md, "KilnConfig"), "storage"), i, v) {
		const char *path = json_string_value(json_object_get(v, "path"));

		rc = path && path[0] == '/' ? place_volume(l, path, i)
					    : kiln_err(EINVAL, "EIF %s: storage[%zu] has no absolute "
						       "path", l->eif, i);
		if (rc < 0)
			break;
	}
	json_decref(md);
	return rc;
}

/* A whole number of MiB in [0, 2^40): 0 and *out, else -EINVAL. */
static int parse_mib(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v >= (1ull << 40))
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * The container's hugetlb limits (cgroup v2, else v1), summed over page
 * sizes, in MiB; -ENOENT when none is set (no file, or unlimited). The
 * kubelet sets them from the Pod's hugepages-* limits, 0 for the others.
 */
static int cgroup_hugepages(uint64_t *mib)
{
	static const char *const files[] = {
		"/sys/fs/cgroup/hugetlb.2MB.max", "/sys/fs/cgroup/hugetlb.1GB.max",
		"/sys/fs/cgroup/hugetlb/hugetlb.2MB.limit_in_bytes",
		"/sys/fs/cgroup/hugetlb/hugetlb.1GB.limit_in_bytes",
	};
	int found = 0;

	*mib = 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		_cleanup_fclose_ FILE *f = fopen(files[i], "re");
		unsigned long long v;

		if (f && fscanf(f, "%llu", &v) == 1 && v < (1ull << 50)) {
			*mib += v / MIB;
			found = 1;
		}
	}
	return found ? 0 : -ENOENT;
}

/* The enclave's memory (as kiln run picks it) must fit in the Pod's hugepages. */
static int check_hugepages(const struct launch *l, const struct eif_info *info)
{
	uint64_t min = (4 * info->file_size + MIB - 1) / MIB, mem = 0, pages;
	const char *from = "KILN_HUGEPAGES_MIB (the Pod's hugepages limit)";

	min += min & 1;
	if (l->hugepages && parse_mib(l->hugepages, &pages) < 0)
		return kiln_err(EINVAL, "KILN_HUGEPAGES_MIB / --hugepages \"%s\": not a number of "
				"MiB", l->hugepages);
	if (!l->hugepages && cgroup_hugepages(&pages) < 0)
		return 0; /* nothing says: kiln run and the allocator decide */
	if (!l->hugepages)
		from = "the container's hugetlb cgroup limit";
	if (l->memory && parse_mib(l->memory, &mem) < 0)
		return 0; /* kiln run refuses it with its own message */
	if (!mem)
		mem = info->default_mem / MIB ? info->default_mem / MIB : (min > 512 ? min : 512);
	mem += mem & 1;
	if (mem < min)
		mem = min;
	if (pages < mem)
		return kiln_err(ENOMEM, "the Pod's hugepages (%llu MiB, %s) cannot hold the "
				"enclave's memory (%llu MiB: --memory, else the EIF's default; the "
				"EIF needs at least %llu MiB, 4 x its size): raise the annotation "
				"enclave.kiln/memory or the container's hugepages limit",
				(unsigned long long)pages, from, (unsigned long long)mem,
				(unsigned long long)min);
	return 0;
}

static int preflight(struct launch *l)
{
	_cleanup_close_ int fd = open(l->eif, O_RDONLY | O_CLOEXEC);
	struct eif_info info;
	int rc;

	if (fd < 0)
		return kiln_err(errno, "EIF %s: %s", l->eif,
				errno == ENOENT ? "not found" : strerror(errno));
	rc = eif_read_layout(fd, &info);
	if (rc < 0)
		return kiln_err_wrap(rc, "EIF %s", l->eif);
	rc = check_hugepages(l, &info);
	return rc < 0 ? rc : place_volumes(l, fd, &info);
}

/* The child: kiln run MODE EIF ... with the signals unblocked. */
static void exec_run(const struct launch *l, const sigset_t *old)
{
	char mode[16];
	const char *argv[16 + 2 * MAX_VOLS];
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
	for (size_t i = 0; i < l->n_vols; i++) {
		argv[n++] = "-v";
		argv[n++] = l->vols[i];
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
	if (rc == 0)
		rc = preflight(&l);
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
