/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init: the enclave half of kiln; runs the image's process and carries its output to the parent. */
#include "init/main.h"

#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "boot/parse.h"
#include "chan/addr.h"
#include "chan/frame.h"
#include "init/attest.h"
#include "init/config.h"
#include "init/logring.h"
#include "init/net.h"
#include "init/secrets.h"
#include "init/storage.h"
#include "init/supervise.h"
#include "init/user.h"
#include "init/xattrs.h"
#include "util/thread.h"

/*
 * Started by the bootstrap init (AWS's or kiln-bootstrap) as the enclave's
 * command, inside the image's root: apply recorded xattrs, resolve USER,
 * run ENTRYPOINT+CMD with Env and WorkingDir, send its output to the parent
 * on the control channel, and exit with its status.
 * Usage: kiln-init [CONFIG]   (default /.kiln/config.json)
 *
 * The parent: vsock:3:7000 on Nitro. In sim, KILN_CHAN=unix:DIR names the
 * channel directory the runtime bind-mounts (sockets named by port), and
 * kiln-init is PID 1 with no bootstrap before it, so it also sends the boot
 * heartbeat. The app must not reach those channels (on Nitro the parent
 * knows the enclave by CID alone): it gets no AF_VSOCK (init/seccomp.h), and
 * in sim kiln-init keeps the directory as its working directory only
 * (hide_chan_dir). kiln-init is non-dumpable so that a root app cannot take
 * its descriptors through ptrace, /proc/PID/fd or pidfd_getfd. The enclave
 * name in HELLO must be the one the runtime registered with kilnd:
 * KILN_NAME when set, else in sim the hostname (the runtime sets it to the
 * enclave name), else kiln.yaml's name.
 */

#define HEARTBEAT_MS 500
#define HEARTBEAT_WAIT_MS 2000 /* at most this long after start for the app's exec */

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "kiln-init: %s: %s\n", what, kiln_errmsg());
	exit(125);
}

static void apply_xattrs(void)
{
	size_t applied, failed;

	if (access(KILN_INIT_XATTRS_PATH, F_OK) < 0)
		return;
	if (kiln_xattrs_apply(KILN_INIT_XATTRS_PATH, &applied, &failed) < 0) {
		fprintf(stderr, "kiln-init: warning: %s\n", kiln_errmsg());
		return;
	}
	fprintf(stderr, "kiln-init: applied %zu xattr(s), %zu failed\n", applied, failed);
}

static void app_env(struct kiln_init_config *cfg, const struct kiln_user *u)
{
	char home[KILN_USER_HOME_MAX + 8];

	snprintf(home, sizeof(home), "HOME=%s", u->home);
	if (kiln_init_config_env_default(cfg, KILN_INIT_DEFAULT_PATH) < 0 ||
	    kiln_init_config_env_default(cfg, home) < 0)
		die("environment");
}

/* Started by the sim runtime (KILN_CHAN set): PID 1, no bootstrap before it. */
static bool sim;

/*
 * Booted (no KILN_CHAN): the parent is at CID 3, or at kiln.parent_cid=N on
 * the kernel cmdline, as kiln-bootstrap reads it (a guest whose only vsock
 * is loopback has its parent at 1). The cmdline is measured into PCR0.
 */
static void parent_from_cmdline(void)
{
	char buf[4096];
	uint32_t cid;
	ssize_t n;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return;
	if (boot_cmdline_u32(buf, (size_t)n, "kiln.parent_cid", KILN_CID_PARENT, 1,
			     UINT32_MAX - 1, &cid) < 0) {
		fprintf(stderr, "kiln-init: warning: %s; parent at CID %u\n", kiln_errmsg(),
			KILN_CID_PARENT);
		return;
	}
	kiln_chan_set_parent_cid(cid);
}

/*
 * The channel directory in sim (KILN_CHAN=unix:DIR), or NULL: vsock, to the
 * parent at CID 3 on Nitro (parent_from_cmdline), or at KILN_CHAN=vsock:CID
 * (a sim enclave whose channels are vsock, as in the guest lab: the Nitro
 * code paths).
 */
static const char *chan_dir(void)
{
	const char *v = getenv("KILN_CHAN"), *dir;
	uint32_t cid;

	if (!v || !*v) {
		parent_from_cmdline();
		return NULL;
	}
	if (kiln_chan_parent_parse(v, &cid, &dir) < 0) {
		fprintf(stderr, "kiln-init: warning: KILN_CHAN: %s; using vsock:%u\n", kiln_errmsg(),
			KILN_CID_PARENT);
		return NULL;
	}
	sim = true;
	kiln_chan_set_parent_cid(cid);
	return dir;
}

/*
 * In sim: make the channel directory kiln-init's working directory, detach
 * its bind mount and remove the mount point, so that the app (which chdirs
 * to its own workdir) can neither see nor name it; kiln-init then addresses
 * the channels as ./PORT, the same code path as Nitro's vsock:3:PORT. The
 * working directory is shared by kiln-init's threads and reachable from
 * outside only through /proc/PID/cwd, which non-dumpability closes.
 */
static const char *hide_chan_dir(const char *dir)
{
	if (!dir)
		return NULL;
	if (chdir(dir) < 0) {
		kiln_err(errno, "channel directory %s: %s", dir, strerror(errno));
		die("channel directory");
	}
	if (umount2(dir, MNT_DETACH) < 0) {
		kiln_err(errno, "detaching the channel directory %s: %s", dir, strerror(errno));
		die("channel directory");
	}
	rmdir(dir); /* the empty mount point; harmless to keep */
	return ".";
}

static void enclave_name(const struct kiln_init_config *cfg, char *buf, size_t len)
{
	const char *env = getenv("KILN_NAME");

	if (env && kiln_name_check(env) == 0) {
		snprintf(buf, len, "%s", env);
		return;
	}
	if (sim && gethostname(buf, len) == 0 && kiln_name_check(buf) == 0)
		return;
	snprintf(buf, len, "%s", cfg->name && kiln_name_check(cfg->name) == 0 ? cfg->name : "app");
}

/* The boot heartbeat (0xB7 there and back) when there is no bootstrap to send it. */
static void heartbeat(const char *dir)
{
	struct kiln_chan_addr a;
	struct pollfd p;
	uint8_t b = 0xB7;
	int fd;

	if (kiln_chan_parent_addr(dir, KILN_PORT_HEARTBEAT, &a) < 0)
		return;
	fd = kiln_chan_connect(&a, HEARTBEAT_MS, 0);
	if (fd < 0)
		return; /* no parent: running without kilnd */
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (write(fd, &b, 1) != 1 || poll(&p, 1, HEARTBEAT_MS) != 1 || read(fd, &b, 1) != 1 ||
	    b != 0xB7)
		fprintf(stderr, "kiln-init: warning: no heartbeat answer from the parent\n");
	close(fd);
}

/* The sim's notes to kilnd wait for this pipe's end of file: the app's exec. */
static int started_rd = -1;

static void *heartbeat_thread(void *dir)
{
	kiln_app_wait_started(started_rd, HEARTBEAT_WAIT_MS);
	heartbeat(dir);
	return NULL;
}

/*
 * In sim the heartbeat and the NSM's seed bytes are round trips to kilnd
 * that nothing waits for; made while the app starts they cost it about a
 * tenth of its time to the first line (bench/run_sim, kilnd up), so they
 * wait until it has exec'd. started_fd is -1 when no pipe could be made.
 */
static int started_pipe(struct kiln_app *app)
{
	int p[2];

	app->started_fd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	app->started_fd = p[1];
	return p[0];
}

/*
 * From here on kiln-init's own stderr (its networking and attestation
 * threads' lines, its notes) is a pipe the supervisor reads like the app's
 * stderr, so those lines reach `kiln logs --stream kiln-init` as well as the
 * console. The write side is non-blocking: a full pipe drops a line rather than stall a
 * thread. On any failure stderr stays the console.
 */
static void own_stderr(struct kiln_supervise_opts *so)
{
	int p[2], console;

	so->own_fd = so->console_fd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	console = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (console < 0 || dup2(p[1], STDERR_FILENO) < 0) {
		if (console >= 0)
			close(console);
		close(p[0]);
		close(p[1]);
		return;
	}
	close(p[1]);
	fcntl(STDERR_FILENO, F_SETFL, O_NONBLOCK);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	so->own_fd = p[0];
	so->console_fd = console;
}

/* Back to the console, for what is said after the supervisor is gone. */
static void console_stderr(const struct kiln_supervise_opts *so)
{
	if (so->console_fd >= 0 && dup2(so->console_fd, STDERR_FILENO) >= 0)
		fcntl(STDERR_FILENO, F_SETFL, 0);
}

int kiln_init_main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : KILN_INIT_CONFIG_PATH;
	const char *dir = chan_dir();
	struct kiln_supervise_opts so = { .log_buffer = KILN_LOGRING_DEFAULT,
					  .flush_ms = KILN_FLUSH_MS, .own_fd = -1, .console_fd = -1 };
	struct kiln_init_config cfg;
	struct kiln_chan_addr ctl;
	char name[KILN_NAME_MAX + 1];
	struct kiln_user user;
	struct kiln_app app;
	struct kiln_storage *storage = NULL;
	int code = 0, rc;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: kiln-init [CONFIG]\n");
		return 2;
	}
	if (kiln_init_config_load(path, &cfg) < 0)
		die("config");
	kiln_init_secrets_prepare(cfg.kiln); /* the RSA key, while the rest boots */
	if (!cfg.allow_vsock && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fprintf(stderr, "kiln-init: warning: PR_SET_DUMPABLE: %s\n", strerror(errno));
	apply_xattrs();
	if (kiln_user_lookup("/", cfg.user, &user) < 0)
		die("user");
	app_env(&cfg, &user);
	app = (struct kiln_app){ cfg.argv, cfg.env, cfg.workdir, &user, .gate_fd = -1,
				 .started_fd = -1, .allow_vsock = cfg.allow_vsock };
	if (sim)
		started_rd = started_pipe(&app);
	enclave_name(&cfg, name, sizeof(name));
	dir = hide_chan_dir(dir);
	if (kiln_chan_parent_addr(dir, KILN_PORT_CONTROL, &ctl) < 0)
		die("control channel");
	so.control = &ctl;
	so.name = name;
	own_stderr(&so);
	/* Only a note to kilnd in sim: it need not hold up the app (started_pipe). */
	if (sim && getpid() == 1 && kiln_thread_start_quiet(heartbeat_thread, (void *)dir) < 0)
		heartbeat(dir);
	if (kiln_init_net_start(cfg.kiln, cfg.exposed_ports, dir, &app.gate_fd) < 0) {
		console_stderr(&so);
		die("network");
	}
	kiln_init_attest_start(cfg.kiln, sim, dir, started_rd);
	/* Volumes before secrets, which may be written into one; no app without its volumes. */
	kiln_init_storage_owner(user.uid, user.gid);
	if (kiln_init_storage_start(cfg.kiln, dir, &storage) < 0) {
		console_stderr(&so);
		die("storage");
	}
	/*
	 * After the attestation start, which on Nitro seeds the RNG from the NSM
	 * before our RSA key is made; secrets open an NSM handle of their own
	 * (the API thread serves only the app, which is not running yet). Their
	 * context names the sim NSM: the channel directory, "" over vsock, NULL
	 * for /dev/nsm.
	 */
	struct kiln_init_secrets *secrets = NULL;
	if (kiln_init_secrets_run(cfg.kiln, kiln_init_secrets_nsm_attest,
				  sim ? (void *)(dir ? dir : "") : NULL, &user, &cfg, &secrets) < 0) {
		console_stderr(&so);
		die("secrets");
	}
	app.env = cfg.env;
	app.forked = kiln_init_secrets_forked;
	app.forked_ctx = secrets;
	fprintf(stderr, "kiln-init: starting %s as %u:%u in %s\n", cfg.argv[0],
		(unsigned int)user.uid, (unsigned int)user.gid, cfg.workdir);
	rc = kiln_supervise(&app, &so, &code);
	console_stderr(&so);
	kiln_init_storage_stop(storage);
	if (rc < 0)
		die("supervise");
	kiln_init_config_free(&cfg);
	return code;
}
