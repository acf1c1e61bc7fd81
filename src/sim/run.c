/* SPDX-License-Identifier: Apache-2.0 */
/* The sim monitor: checks, state, kilnd, cgroup, the enclave's clone, its wait and cleanup. */
#include "sim/sim.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eif/eif.h"
#include "eif/ingress.h"
#include "fs/wire.h"
#include "net/portmap.h"
#include "nitro/nitro.h"
#include "util/cleanup.h"
#include "util/detach.h"
#include "util/io.h"

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)
#define MSG_MAX 1024

/* struct clone_args of clone3(2), version 2 (88 bytes: set_tid, cgroup). */
struct clone_args2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size, cgroup;
};
#define CLONE_ARGS_SIZE_VER0 64
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

struct monitor {
	const struct kiln_sim_opts *o;
	char state_dir[4096];
	char name[64];
	char id[KILN_SIM_ID_LEN + 1];
	int eif_fd;
	struct eif_info info;
	struct eif_pcrs pcrs;
	bool pcrs_known;	/* the EIF's full check is on record: the rootfs cache may serve it */
	struct kiln_sim_rootfs rootfs;
	uint64_t memory_mib;
	unsigned cpus;
	bool userns;
	struct kiln_sim_state st;
	struct kiln_sim_cgroup cg;
	int report_fd;	/* -d: to the process waiting in the foreground; else -1 */
	int sig_fd;
	sigset_t old_mask;
	pid_t child;
	bool registered;	/* with kilnd: it is told how the enclave ended */
	int reg_fd;		/* the register request sent, its reply not read yet */
	char cg_v2[2048];	/* the cgroup2 mount with cpu and memory; "": v1 */
	bool cloned_into_cg;	/* v2: clone3 put the enclave in its cgroup */
	int wait_status;	/* PID 1's, once it has exited */
	const char *const *ports; /* -p, else network.ingress host ports from the EIF */
	size_t n_ports;
	char port_specs[KILN_PORTMAP_MAX][16];
	const char *port_ptrs[KILN_PORTMAP_MAX];
};

/* Signals the monitor passes on to the enclave's PID 1. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

/* ---- checks before anything is created ---- */

/* --state-dir, $KILN_STATE_DIR or the default; made absolute (kilnd needs that). */
static int choose_state_dir(struct monitor *m)
{
	char dir[sizeof(m->state_dir)], cwd[2048];
	int n, rc = 0;

	if (m->o->state_dir)
		snprintf(dir, sizeof(dir), "%s", m->o->state_dir);
	else
		rc = kiln_sim_state_dir(dir, sizeof(dir));
	if (rc < 0)
		return rc;
	if (dir[0] == '/')
		n = snprintf(m->state_dir, sizeof(m->state_dir), "%s", dir);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(m->state_dir, sizeof(m->state_dir), "%s/%s", cwd, dir);
	else
		return kiln_err(errno, "getcwd: %s", strerror(errno));
	if (n < 0 || (size_t)n >= sizeof(m->state_dir))
		return kiln_err(ENAMETOOLONG, "state directory path too long");
	return 0;
}

/*
 * -p, else the host ports of the EIF's network.ingress (as `HOSTPORT:PORT`
 * on all addresses, like docker -p).
 */
static void ports_from_eif(struct monitor *m)
{
	struct kiln_portmap pm[KILN_PORTMAP_MAX];

	m->ports = m->o->ports;
	m->n_ports = m->o->n_ports;
	if (m->n_ports || m->o->no_kilnd) /* without kilnd nobody would listen */
		return;
	m->n_ports = eif_ingress_ports(m->eif_fd, &m->info, pm, KILN_PORTMAP_MAX);
	for (size_t i = 0; i < m->n_ports; i++) {
		snprintf(m->port_specs[i], sizeof(m->port_specs[0]), "%u:%u", pm[i].host_port,
			 pm[i].port);
		m->port_ptrs[i] = m->port_specs[i];
	}
	if (m->n_ports)
		m->ports = m->port_ptrs;
}

/* -p for a port the enclave would refuse fails here, before anything starts. */
static int check_ports(struct monitor *m)
{
	struct kiln_portmap pm[KILN_PORTMAP_MAX];
	size_t n = m->o->n_ports < KILN_PORTMAP_MAX ? m->o->n_ports : KILN_PORTMAP_MAX;

	for (size_t i = 0; i < n; i++)
		if (kiln_portmap_parse(m->o->ports[i], &pm[i]) < 0)
			return kiln_err_wrap(-EINVAL, "-p %s", m->o->ports[i]);
	return eif_ingress_check(m->eif_fd, &m->info, pm, n);
}

/* -v for a path the EIF's measured config does not mount fails here: it would do nothing. */
static int check_volumes(struct monitor *m)
{
	json_t *md = NULL, *v;
	char name[KFS_ID_MAX + 1];
	size_t i, k;
	int rc = 0;

	for (unsigned s = 0; m->o->n_volumes && s < m->info.num_sections && !md; s++) {
		uint8_t *data = NULL;
		if (m->info.sections[s].type == EIF_SECTION_METADATA &&
		    eif_read_section(m->eif_fd, &m->info, s, &data, 1u << 20) == 0)
			md = json_loads((char *)data, 0, NULL);
		free(data);
	}
	for (k = 0; k < m->o->n_volumes && rc == 0; k++) {
		json_array_foreach(json_object_get(json_object_get(md, "KilnConfig"), "storage"), i, v)
			if (kfs_volume_name(json_string_value(json_object_get(v, "path")) ?: "", name,
					    sizeof(name)) == 0 && !strcmp(name, m->o->vol_names[k]))
				break;
		if (i == json_array_size(json_object_get(json_object_get(md, "KilnConfig"), "storage")))
			rc = kiln_err(EINVAL, "-v: the EIF's config mounts no storage volume \"%s\" "
					      "(storage[].path in kiln.yaml)", m->o->vol_names[k]);
	}
	json_decref(md);
	return rc;
}

static int open_eif(struct monitor *m)
{
	const char *path = m->o->eif_path;
	struct stat st;
	int rc;

	m->eif_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->eif_fd < 0)
		return kiln_err(errno, "EIF %s: %s", path,
				errno == ENOENT ? "not found" : strerror(errno));
	if (fstat(m->eif_fd, &st) < 0 || !S_ISREG(st.st_mode))
		return kiln_err(EINVAL, "EIF %s: not a regular file", path);
	char cache[sizeof(m->state_dir) + 16];

	/* Re-running an unchanged EIF skips re-reading it (see check_cache.c). */
	snprintf(cache, sizeof(cache), "%s/eif-cache", m->state_dir);
	rc = eif_read_info_cached(m->eif_fd, m->state_dir[0] ? cache : NULL, &m->info, &m->pcrs);
	if (rc < 0)
		return kiln_err_wrap(rc, "corrupt EIF %s", path);
	m->pcrs_known = rc == 1;
	ports_from_eif(m);
	rc = check_volumes(m);
	return rc < 0 ? rc : check_ports(m);
}

/* nitro-cli's rule: memory >= 4 x the EIF size. */
static int choose_resources(struct monitor *m)
{
	uint64_t need = (KILN_NITRO_EIF_MEM_RATIO * m->info.file_size + (1u << 20) - 1) >> 20;

	m->memory_mib = m->o->memory_mib ? m->o->memory_mib : m->info.default_mem >> 20;
	if (!m->memory_mib)
		m->memory_mib = need > 512 ? need : 512;
	m->cpus = m->o->cpus ? m->o->cpus : (unsigned)m->info.default_cpus;
	if (!m->cpus)
		m->cpus = 2;
	if (m->cpus > 1024)
		return kiln_err(EINVAL, "--cpus %u: at most 1024", m->cpus);
	if (m->memory_mib < need)
		return kiln_err(ENOMEM, "not enough memory: %llu MiB requested, an enclave needs at "
				"least 4 x the EIF size (%.1f MiB), %llu MiB; use --memory %llu",
				(unsigned long long)m->memory_mib,
				(double)m->info.file_size / (1 << 20), (unsigned long long)need,
				(unsigned long long)need);
	return 0;
}

static int choose_name(struct monitor *m)
{
	if (!m->o->name)
		return kiln_sim_default_name(m->o->eif_path, m->name, sizeof(m->name));
	if (strlen(m->o->name) >= sizeof(m->name))
		return kiln_err(EINVAL, "enclave name longer than %zu characters",
				sizeof(m->name) - 1);
	snprintf(m->name, sizeof(m->name), "%s", m->o->name);
	return 0;
}

/* ---- -d: the foreground process waits for "ok ID" or an error, then exits ---- */

/* Returns 1 in the foreground process (with *code), 0 in the detached monitor. */
static int detach(struct monitor *m, int *code)
{
	return kiln_detach(&m->report_fd, code, "the enclave monitor ended during setup");
}

/* ---- kilnd ---- */

static void new_id(char id[KILN_SIM_ID_LEN + 1])
{
	uint8_t r[KILN_SIM_ID_LEN / 2] = { 0 };

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r)); /* an all-zero id still works locally */
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
}

/*
 * What makes running without kilnd wrong, or NULL: published ports (nobody
 * would listen), or channels over vsock: kiln-init would dial CID 1, where a
 * kilnd serving another sim over vsock would take it for that enclave.
 */
static const char *kilnd_needed_for(const struct monitor *m)
{
	if (m->n_ports)
		return "-p";
	return m->o->vsock_cid ? "--channel vsock" : NULL;
}

/* A registration that failed: fatal when kilnd is needed or it is in use (kilnd says why), else said. */
static int kilnd_refused(struct monitor *m, int rc)
{
	if (kilnd_needed_for(m) || rc == -EEXIST)
		return rc; /* "port 8080 already in use", "name web is in use", "cid 1 ..." */
	kiln_detach_say(m->report_fd, "kiln: notice: running without kilnd: %s", kiln_errmsg());
	return 0;
}

/*
 * Register with kilnd in two halves around the clone: the request goes out
 * first, kilnd makes the channel listeners while the namespaces come up, and
 * the reply is read afterwards (before "go": kiln-init needs the listeners).
 */
static int kilnd_start(struct monitor *m)
{
	struct kiln_sim_register req = {
		.name = m->name, .chan_dir = m->o->vsock_cid ? NULL : m->st.chan,
		.cid = m->o->vsock_cid, .eif = m->o->eif_path,
		.cpus = m->cpus, .memory_mib = m->memory_mib, .pid = getpid(),
		.kill_signal = KILN_SIM_KILL_SIGNAL, .debug = m->o->debug,
		.ports = m->ports, .n_ports = m->n_ports, .vol_names = m->o->vol_names,
		.vol_hosts = m->o->vol_hosts, .vol_plain = m->o->vol_plain,
		.n_volumes = m->o->n_volumes,
	};
	char abs[4096];
	int rc;

	new_id(m->id);
	if (m->o->no_kilnd && kilnd_needed_for(m))
		return kiln_err(EINVAL, "%s needs kilnd (drop --no-kilnd)", kilnd_needed_for(m));
	if (m->o->no_kilnd && m->o->n_volumes)
		return kiln_err(EINVAL, "-v needs kilnd, which serves the volumes (drop --no-kilnd)");
	if (m->o->no_kilnd)
		return 0;
	if (realpath(m->o->eif_path, abs))
		req.eif = abs;
	rc = kiln_sim_ensure_kilnd(m->state_dir, m->o->kilnd_path);
	if (rc == -ENOENT && kilnd_needed_for(m))
		return kiln_err(ENOENT, "%s needs kilnd, and no kilnd executable was found",
				kilnd_needed_for(m));
	if (rc == -ENOENT) {
		kiln_detach_say(m->report_fd, "kiln: notice: no kilnd found; running without logs or `kiln ps`");
		return 0;
	}
	if (rc == 0)
		rc = kiln_sim_kilnd_register_send(m->state_dir, &req);
	if (rc >= 0) {
		m->reg_fd = rc;
		return 0;
	}
	return kilnd_refused(m, rc);
}

/* The register reply; kilnd started when missing, running without one is fine. */
static int kilnd_finish(struct monitor *m)
{
	int rc;

	if (m->reg_fd < 0)
		return 0;
	rc = kiln_sim_kilnd_register_recv(m->reg_fd, m->id);
	m->reg_fd = -1;
	m->registered = rc == 0;
	return rc < 0 ? kilnd_refused(m, rc) : 0;
}

/* ---- the enclave process ---- */

/*
 * What the enclave learns with "go", once the monitor has locked the state
 * directory, registered with kilnd and found the rootfs cache: its clone
 * happened before all that, so that the namespaces' creation and the
 * enclave's first steps overlap with it.
 */
struct go_msg {
	char root[sizeof(((struct kiln_sim_state *)0)->root)];
	char chan[sizeof(((struct kiln_sim_state *)0)->chan)];
	bool cached;			/* rootfs is usable */
	struct kiln_sim_rootfs rootfs;	/* its fds are the monitor's: only names count */
};

static _Noreturn void child_main(struct monitor *m, int go_fd, int err_fd)
{
	struct kiln_sim_enclave e = {
		.name = m->name, .eif_fd = m->eif_fd, .info = &m->info,
		.memory_mib = m->memory_mib, .userns = m->userns, .debug = m->o->debug,
		.limits_fd = go_fd,
	};
	static struct go_msg go;
	char msg[MSG_MAX];
	int32_t rc = 0;

	sigprocmask(SIG_SETMASK, &m->old_mask, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Root of the user namespace only once the monitor has mapped the ids. */
	if (!m->userns)
		rc = kiln_sim_enclave_early(&e);
	if (kiln_read_exact(go_fd, &go, sizeof(go), "go") < 0)
		_exit(1); /* the monitor died or gave up */
	setsid(); /* no controlling terminal: the monitor forwards signals */
	if (rc == 0 && m->userns)
		rc = kiln_sim_enclave_early(&e);
	e.root = go.root;
	e.chan = go.chan;
	e.vsock_cid = m->o->vsock_cid;
	e.rootfs = go.cached ? &go.rootfs : NULL;
	if (rc == 0)
		rc = kiln_sim_enclave_exec(&e);
	memcpy(msg, &rc, sizeof(rc));
	snprintf(msg + sizeof(rc), sizeof(msg) - sizeof(rc), "%s", kiln_errmsg());
	if (write(err_fd, msg, sizeof(rc) + strlen(msg + sizeof(rc))) < 0)
		_exit(2);
	_exit(1);
}

/* Read the child's setup error: 0 when exec closed the pipe without one. */
static int read_child_error(int fd)
{
	char msg[MSG_MAX + 1];
	size_t len;
	int32_t rc = kiln_read_upto(fd, msg, MSG_MAX, &len, "reading the enclave's status");

	if (rc < 0)
		return rc;
	if (len < sizeof(rc))
		return 0;
	msg[len] = '\0';
	memcpy(&rc, msg, sizeof(rc));
	return kiln_err(rc < 0 ? -rc : EIO, "%s", msg + sizeof(rc));
}

static int block_signals(struct monitor *m)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, KILN_SIM_KILL_SIGNAL);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	if (sigprocmask(SIG_BLOCK, &set, &m->old_mask) < 0)
		return kiln_err(errno, "sigprocmask: %s", strerror(errno));
	m->sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	return m->sig_fd < 0 ? kiln_err(errno, "signalfd: %s", strerror(errno)) : 0;
}

static int send_go(const struct monitor *m, int fd)
{
	static struct go_msg go;

	snprintf(go.root, sizeof(go.root), "%s", m->st.root);
	snprintf(go.chan, sizeof(go.chan), "%s", m->st.chan);
	go.cached = m->rootfs.dir_fd >= 0;
	go.rootfs = m->rootfs;
	return kiln_write_all(fd, &go, sizeof(go), -1, "the enclave's go pipe");
}

/*
 * The cgroup is kiln/NAME.HASH, HASH naming the state dir (FNV-1a), so the
 * same enclave name under two state dirs (two users, tests) never shares one.
 */
static void cgroup_name(const struct monitor *m, char *out, size_t len)
{
	uint32_t h = 2166136261u;

	for (const char *p = m->state_dir; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(out, len, "%s.%08x", m->name, h);
}

/* Create the enclave's cgroup: 0, or -1 after saying there are no limits. */
static int limit(struct monitor *m)
{
	char cg[128];

	cgroup_name(m, cg, sizeof(cg));
	if (kiln_sim_cgroup_create(m->cg_v2, cg, m->cpus, m->memory_mib, &m->cg) == 0)
		return 0;
	kiln_detach_say(m->report_fd,
			"kiln: notice: no CPU or memory limits for this enclave (cgroup v2 and v1 both "
			"unusable: %s)", kiln_errmsg());
	return -1;
}

/* Release the child: ids, cgroup, "go"; then wait for its exec or its error. */
static int release(struct monitor *m, int go_fd, int err_fd)
{
	bool full = true;
	int rc = m->userns ? kiln_sim_map_ids(m->child, &full) : 0;

	if (rc == 0 && !full)
		kiln_detach_say(m->report_fd,
				"kiln: notice: no /etc/subuid range for you: only your own id is "
				"mapped (to root), so the image must run as root");
	/* v2 without CLONE_INTO_CGROUP (before Linux 5.7): the slow way, before "go". */
	if (rc == 0 && m->cg.kind == KILN_SIM_CG_V2 && !m->cloned_into_cg)
		rc = kiln_sim_cgroup_add(&m->cg, m->child);
	/* "go": ids are mapped, state and cache found, set up; then the cgroup: v1
	 * made now, while the enclave sets up (off its critical path), and joined
	 * by it before its exec. */
	if (rc == 0)
		rc = send_go(m, go_fd);
	if (rc == 0 && !m->cg_v2[0])
		(void)limit(m); /* no limits: said, and the enclave runs without */
	if (rc == 0)
		rc = kiln_write_all(go_fd, &m->cg, sizeof(m->cg), -1, "the enclave's go pipe");
	close(go_fd);
	if (rc == 0)
		rc = read_child_error(err_fd);
	close(err_fd);
	if (rc < 0) {
		kill(m->child, SIGKILL);
		waitpid(m->child, NULL, 0);
		m->child = -1;
	}
	return rc;
}

/*
 * clone3 into the namespaces; on cgroup v2 straight into the enclave's
 * cgroup (CLONE_INTO_CGROUP, Linux 5.7), so no migration happens at all.
 */
static pid_t clone_enclave(struct monitor *m, uint64_t flags)
{
	struct clone_args2 args = { .flags = flags, .exit_signal = SIGCHLD };
	_cleanup_close_ int cg = kiln_sim_cgroup_dirfd(&m->cg);
	pid_t pid = -1;

	if (cg >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cg;
		pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
		m->cloned_into_cg = pid >= 0;
		if (pid >= 0 || (errno != EINVAL && errno != E2BIG && errno != ENOSYS))
			return pid;
		args.flags = flags;
		args.cgroup = 0;
	}
	pid = (pid_t)syscall(SYS_clone3, &args, CLONE_ARGS_SIZE_VER0);
	if (pid < 0 && errno == ENOSYS) /* before Linux 5.3; all-zero args: fork-like */
		pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
	return pid;
}

/* Before the clone: the state directory (the name's lock) and the register request. */
static int prepare(struct monitor *m)
{
	int rc = kiln_sim_state_open(m->state_dir, m->name, &m->st);

	return rc < 0 ? rc : kilnd_start(m);
}

/* After the clone, while the namespaces come up: the rootfs cache, kilnd's reply. */
static int finish_prepare(struct monitor *m)
{
	/* An ordinary user's enclave (user namespace) always copies. */
	if (!m->userns && m->pcrs_known && kiln_sim_rootfs_open(&m->pcrs, m->id, &m->rootfs) < 0)
		m->rootfs.dir_fd = -1;
	return kilnd_finish(m);
}

static int spawn(struct monitor *m)
{
	uint64_t flags = NS_FLAGS;
	int go[2], err[2], rc;

	if (m->userns)
		flags |= CLONE_NEWUSER;
	rc = prepare(m);
	if (rc < 0)
		return rc;
	/* v2: the cgroup exists before the clone, which puts the enclave in it. */
	if (kiln_sim_cgroup_v2_here(m->cg_v2, sizeof(m->cg_v2)))
		(void)limit(m);
	rc = block_signals(m);
	if (rc < 0)
		return rc;
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		return kiln_err(errno, "pipe: %s", strerror(errno));
	fflush(NULL);
	m->child = clone_enclave(m, flags);
	if (m->child == 0) {
		close(go[1]);
		close(err[0]);
		child_main(m, go[0], err[1]);
	}
	close(go[0]);
	close(err[1]);
	if (m->child < 0) {
		int e = errno;

		close(go[1]);
		close(err[0]);
		return kiln_sim_ns_explain(flags, e);
	}
	rc = finish_prepare(m);
	if (rc < 0) {
		close(go[1]); /* the enclave exits at EOF; cleanup() reaps it */
		close(err[0]);
		return rc;
	}
	return release(m, go[1], err[0]);
}

/* Forward signals until the enclave's PID 1 exits; its status as an exit code. */
static int supervise(struct monitor *m)
{
	for (;;) {
		struct signalfd_siginfo si;
		int status;
		pid_t p;

		if (read(m->sig_fd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
			if (errno == EINTR)
				continue;
			return kiln_err(errno, "signalfd: %s", strerror(errno));
		}
		if (si.ssi_signo != SIGCHLD) {
			/* kilnd's stop timeout: the enclave goes, the monitor cleans up. */
			int sig = (int)si.ssi_signo == KILN_SIM_KILL_SIGNAL ? SIGKILL
									    : (int)si.ssi_signo;

			if (m->child > 0)
				kill(m->child, sig);
			continue;
		}
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p != m->child)
				continue;
			m->child = -1;
			m->wait_status = status;
			if (m->o->debug)
				kiln_detach_say(m->report_fd,
						"kiln: sim: enclave %s ended (wait status 0x%x)",
						m->name, status);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
	}
}

static void cleanup(struct monitor *m)
{
	if (m->child > 0) {
		kill(m->child, SIGKILL);
		waitpid(m->child, NULL, 0);
	}
	if (m->reg_fd >= 0)
		close(m->reg_fd);
	kiln_sim_cgroup_remove(&m->cg);
	kiln_sim_rootfs_close(&m->rootfs);
	kiln_sim_state_close(&m->st);
	if (m->sig_fd >= 0)
		close(m->sig_fd);
	if (m->eif_fd >= 0)
		close(m->eif_fd);
	if (m->report_fd >= 0)
		close(m->report_fd);
}

int kiln_sim_run(const struct kiln_sim_opts *o)
{
	struct monitor m = { .o = o, .eif_fd = -1, .report_fd = -1, .sig_fd = -1, .child = -1,
			     .st = { .lock_fd = -1 }, .rootfs = { .dir_fd = -1, .lock_fd = -1 },
			     .reg_fd = -1 };
	int rc, code = 0;

	m.userns = geteuid() != 0;
	rc = choose_state_dir(&m);
	if (rc == 0)
		rc = open_eif(&m);
	if (rc == 0)
		rc = choose_resources(&m);
	if (rc == 0)
		rc = choose_name(&m);
	if (rc == 0 && o->detach) {
		rc = detach(&m, &code);
		if (rc == 1) {
			close(m.eif_fd);
			return code;
		}
	}
	if (rc == 0)
		rc = spawn(&m); /* clone, finishing the preparations while the namespaces come up */
	if (rc == 0 && o->detach) {
		kiln_detach_say(m.report_fd, "ok %s", m.id);
		close(m.report_fd);
		m.report_fd = -1;
	}
	if (rc == 0)
		code = supervise(&m);
	if (rc == 0 && code >= 0 && m.registered &&
	    kiln_sim_kilnd_exited(m.state_dir, m.name, m.id, m.wait_status) < 0 && o->debug)
		kiln_detach_say(m.report_fd, "kiln: notice: could not tell kilnd the exit status: %s",
				kiln_errmsg());
	if (rc < 0 && m.report_fd >= 0)
		kiln_detach_say(m.report_fd, "error %s", kiln_errmsg());
	cleanup(&m);
	return rc < 0 ? rc : code;
}
