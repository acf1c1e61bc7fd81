/* SPDX-License-Identifier: Apache-2.0 */
/* kiln run --nitro: launch, register with kilnd, show the app's output, hold the enclave until it ends. */
#include "nitro/nitro.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "chan/frame.h"
#include "cli/kilnd_rpc.h"
#include "eif/eif.h"
#include "eif/ingress.h"
#include "fs/wire.h"
#include "kilnd/client.h"
#include "net/portmap.h"
#include "util/cleanup.h"
#include "util/detach.h"
#include "util/io.h"

/*
 * How this works (nitro-cli's "enclave process", without nitro-cli):
 *   1. the EIF is validated (CRC, sections), resources chosen, and the
 *      published ports taken from -p or else from the EIF config's
 *      network.ingress (the sim does the same); a name kilnd has running is
 *      refused before anything is launched;
 *   2. kiln_nitro_launch() runs the ioctl sequence; its started hook
 *      registers {"mode":"nitro","cid":CID,"ports":[...]} with kilnd before
 *      the boot heartbeat, so kilnd knows the CID when kiln-init connects to
 *      vsock 3:7000, and listens on the host ports (dialling CID:7100 per
 *      client). A busy port fails the registration, which terminates the
 *      enclave: kiln run exits 125 as in the sim. kilnd does not listen on
 *      vsock 9000 in nitro mode: this process answers the heartbeat (as
 *      nitro-cli does) and then tells kilnd with the "heartbeat" op;
 *   3. this process keeps the enclave fd and the hugepages: the enclave runs
 *      as long as it lives. It follows the enclave's log in kilnd (the lines
 *      kiln-init sends on the control channel), writing the app's lines to
 *      the terminal in the foreground; the stream's end record carries the
 *      app's exit status, which becomes our exit code. The enclave itself
 *      ends with POLLHUP on the enclave fd (kiln-init exited after the app,
 *      the bootstrap rebooted the VM). A signal from the user becomes a
 *      kilnd stop with that signal (the app gets it from kiln-init, as the
 *      sim forwards signals to PID 1); a second one, or KILN_NITRO_KILL_SIGNAL
 *      from kilnd's stop timeout, closes the enclave fd (the driver stops
 *      the enclave) at once.
 * kilnd watches this process's pid, so a crash of it also ends the record.
 */

#define MIB (UINT64_C(1) << 20)
#define KILND_TIMEOUT_MS 5000
/* After the enclave halted: the time kiln-init's last STATUS (sent just
 * before it exits) may take to pass through kilnd to us. */
#define STATUS_WAIT_MS 5000
/* After the app ended: the time kiln-init gets to finish (flush, unmount,
 * exit; the bootstrap reboots) before the enclave is terminated anyway. */
#define HALT_WAIT_MS 10000
/* Re-opening the log stream when kilnd dropped it (restart, slow reader). */
#define FOLLOW_REOPENS 8

struct nrun {
	const struct kiln_nitro_run *r;
	char id[16];
	uint64_t memory_mib;
	unsigned cpus;
	struct kiln_portmap ports[KILN_PORTMAP_MAX];
	size_t n_ports;
	bool registered;
	int report_fd;			/* r->report_fd until "ok" is sent */
	struct kilnd_client logs;	/* the followed log; fd -1: not following */
	uint64_t last_ts;		/* of the last record seen, to resume after it */
	int reopens;
	bool ended;			/* kilnd's end record arrived */
	int code;			/* from it: exit code, 128 + signal, -1 unknown */
	bool stopping;			/* a signal was turned into a kilnd stop */
};

/* ---- before the launch ---- */

/*
 * -p as given (checked again: the caller may be a library user), else the
 * host ports of the config's network.ingress, on every address like
 * `docker -p HOSTPORT:PORT`, from the metadata section where kiln build
 * records the config.
 */
static int choose_ports(struct nrun *n, int fd, const struct eif_info *info)
{
	size_t i;

	if (n->r->n_ports > KILN_PORTMAP_MAX)
		return kiln_err(E2BIG, "-p: at most %d mappings", KILN_PORTMAP_MAX);
	for (i = 0; i < n->r->n_ports; i++) {
		int rc = kiln_portmap_parse(n->r->ports[i], &n->ports[i]);

		if (rc < 0)
			return kiln_err_wrap(rc, "-p");
	}
	n->n_ports = n->r->n_ports;
	/* A port the enclave would refuse fails here, before the launch (eif/ingress.h). */
	if (n->n_ports)
		return eif_ingress_check(fd, info, n->ports, n->n_ports);
	n->n_ports = eif_ingress_ports(fd, info, n->ports, KILN_PORTMAP_MAX);
	return 0;
}

/* Does the EIF's measured config (its metadata section) mount a volume named name? */
static bool eif_mounts(int fd, const struct eif_info *info, const char *name)
{
	json_t *md = NULL, *v;
	char got[KFS_ID_MAX + 1];
	bool found = false;
	size_t i;

	for (unsigned s = 0; s < info->num_sections && !md; s++) {
		uint8_t *data = NULL;
		if (info->sections[s].type == EIF_SECTION_METADATA &&
		    eif_read_section(fd, info, s, &data, 1u << 20) == 0)
			md = json_loads((char *)data, 0, NULL);
		free(data);
	}
	json_array_foreach(json_object_get(json_object_get(md, "KilnConfig"), "storage"), i, v)
		found |= kfs_volume_name(json_string_value(json_object_get(v, "path")) ?: "", got,
					 sizeof(got)) == 0 && !strcmp(got, name);
	json_decref(md);
	return found;
}

/* -v for a volume the EIF's config does not mount fails before the launch, as in sim. */
static int check_volumes(const struct nrun *n, int fd, const struct eif_info *info)
{
	for (size_t k = 0; k < n->r->n_volumes; k++)
		if (!eif_mounts(fd, info, n->r->vol_names[k]))
			return kiln_err(EINVAL, "-v: the EIF's config mounts no storage volume \"%s\" "
						"(storage[].path in kiln.yaml)", n->r->vol_names[k]);
	return 0;
}

static int read_eif(struct nrun *n)
{
	_cleanup_close_ int fd = open(n->r->eif_path, O_RDONLY | O_CLOEXEC);
	struct eif_info info;
	uint64_t need;
	int rc;

	if (fd < 0)
		return kiln_err(errno, "EIF %s: %s", n->r->eif_path,
				errno == ENOENT ? "not found" : strerror(errno));
	rc = eif_read_info(fd, &info, NULL);
	if (rc < 0)
		return kiln_err_wrap(rc, "corrupt EIF %s", n->r->eif_path);
	need = (KILN_NITRO_EIF_MEM_RATIO * info.file_size + MIB - 1) / MIB;
	need += need & 1;
	n->memory_mib = n->r->memory_mib ? n->r->memory_mib : info.default_mem / MIB;
	if (!n->memory_mib)
		n->memory_mib = need > 512 ? need : 512;
	n->memory_mib += n->memory_mib & 1; /* whole 2 MiB hugepages */
	n->cpus = n->r->cpus ? n->r->cpus : (unsigned)info.default_cpus;
	if (!n->cpus)
		n->cpus = 2;
	rc = check_volumes(n, fd, &info);
	return rc < 0 ? rc : choose_ports(n, fd, &info);
}

/* This enclave's ps record (a new reference), or NULL. */
static json_t *kilnd_record(const struct nrun *n)
{
	json_t *e = NULL;

	(void)!kiln_rpc_find(n->r->state_dir, n->r->name, KILND_TIMEOUT_MS, &e);
	return e;
}

/*
 * The name is checked here, before an enclave exists: kilnd would refuse a
 * bad or running name only at registration, after the boot had begun.
 */
static int check_name(const struct nrun *n)
{
	const char *state;
	json_t *e;
	int rc = kiln_name_check(n->r->name);

	if (rc < 0 || !n->r->state_dir)
		return rc;
	e = kilnd_record(n);
	state = json_string_value(json_object_get(e, "state")) ?: "";
	if (!strcmp(state, "running") || !strcmp(state, "starting"))
		rc = kiln_err(EEXIST, "name %s is in use by a running enclave (id %s)",
			      n->r->name, json_string_value(json_object_get(e, "id")) ?: "?");
	json_decref(e);
	return rc;
}

/* ---- kilnd ---- */

/* -v: [{name, host, mode}], as the sim registers them (checked by the CLI). */
static json_t *volumes_json(const struct kiln_nitro_run *r)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < r->n_volumes; i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "name", r->vol_names[i], "host",
						   r->vol_hosts[i], "mode",
						   r->vol_plain && r->vol_plain[i] ? "plain" : "encrypted"));
	return a;
}

/* memory_mib is what the enclave got: more than asked for when only
 * larger hugepages were left (nitro-cli reports its allocated_memory_mib). */
static json_t *register_request(const struct nrun *n, const struct kiln_nitro_enclave *enc)
{
	char abs[PATH_MAX];
	json_t *ports, *req = json_pack(
		"{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:I,s:b,s:i}", "op", "register", "name",
		n->r->name, "mode", "nitro", "cid", (json_int_t)enc->cid, "cpus",
		(json_int_t)enc->ncpus, "memory_mib", (json_int_t)enc->memory_mib, "eif",
		realpath(n->r->eif_path, abs) ? abs : n->r->eif_path, "pid", (json_int_t)getpid(),
		"debug", n->r->debug, "kill_signal", KILN_NITRO_KILL_SIGNAL);

	if (req && n->r->n_volumes)
		json_object_set_new(req, "volumes", volumes_json(n->r));
	if (!req || !n->n_ports)
		return req;
	ports = json_array();
	for (size_t i = 0; i < n->n_ports; i++)
		json_array_append_new(ports, kiln_portmap_to_json(&n->ports[i]));
	json_object_set_new(req, "ports", ports);
	return req;
}

/* The started hook: register the CID with kilnd before the heartbeat. */
static int register_cid(void *arg, const struct kiln_nitro_enclave *enc)
{
	struct nrun *n = arg;
	json_t *reply, *req;
	int rc;

	if (enc->memory_mib != n->memory_mib)
		kiln_detach_say(n->report_fd, "kiln: notice: the enclave has %" PRIu64 " MiB of "
				"memory (%" PRIu64 " MiB asked for): only larger hugepages were free",
				enc->memory_mib, n->memory_mib);
	if (!n->r->state_dir)
		return 0;
	req = register_request(n, enc);
	if (!req)
		return kiln_err(ENOMEM, "out of memory");
	rc = kilnd_client_call(n->r->state_dir, req, KILND_TIMEOUT_MS, &reply);
	if (rc == 0)
		snprintf(n->id, sizeof(n->id), "%s",
			 json_string_value(json_object_get(reply, "id")) ?: "");
	json_decref(reply);
	if (rc == 0) {
		n->registered = true;
		return 0;
	}
	/* As the sim: published ports and a name in use are fatal; anything
	 * else leaves an enclave that runs without logs, ps or stop. */
	if (n->n_ports || rc == -EEXIST)
		return kiln_err_wrap(rc, "kilnd");
	kiln_detach_say(n->report_fd, "kiln: notice: running without kilnd: %s", kiln_errmsg());
	return 0;
}

static void tell_kilnd(struct nrun *n, const char *op)
{
	json_t *reply = NULL;

	if (n->registered &&
	    kilnd_client_call(n->r->state_dir, json_pack("{s:s,s:s}", "op", op, "name", n->r->name),
			      KILND_TIMEOUT_MS, &reply) < 0)
		kiln_detach_say(n->report_fd, "kiln: notice: kilnd: %s", kiln_errmsg());
	json_decref(reply);
}

/* ---- the followed log ---- */

static int follow_open(struct nrun *n, uint64_t since)
{
	return kiln_rpc_logs_start(&n->logs, n->r->state_dir, n->r->name, true, since,
				   KILND_TIMEOUT_MS);
}

/*
 * What the sim's console shows, as it was: the app's stdout to out, its
 * stderr and kiln-init's own lines to err; kilnd's events are not shown.
 */
static void show(const struct nrun *n, json_t *rec)
{
	const char *stream = json_string_value(json_object_get(rec, "stream")) ?: "";
	json_t *line = json_object_get(rec, "line");
	FILE *f = !strcmp(stream, "stdout") ? n->r->out :
		  !strcmp(stream, "stderr") || !strcmp(stream, "kiln-init") ? n->r->err : NULL;

	if (!f || !json_is_string(line))
		return;
	/* Keep the two streams in record order when both are a terminal. */
	fflush(f == n->r->out ? n->r->err : n->r->out);
	fwrite(json_string_value(line), 1, json_string_length(line), f);
	if (!json_is_true(json_object_get(rec, "partial")))
		fputc('\n', f);
}

/* Everything that arrived on the log stream; the end record ends following. */
static void follow_read(struct nrun *n)
{
	json_t *rec;
	int rc;

	while ((rc = kilnd_client_recv(&n->logs, 0, &rec)) == 0) {
		json_t *ts = json_object_get(rec, "ts");

		if (json_is_true(json_object_get(rec, "end"))) {
			n->ended = true;
			n->code = kiln_rpc_exit_code(rec);
			json_decref(rec);
			break;
		}
		show(n, rec);
		if (json_is_integer(ts) && (uint64_t)json_integer_value(ts) > n->last_ts)
			n->last_ts = (uint64_t)json_integer_value(ts);
		json_decref(rec);
	}
	if (n->r->out)
		fflush(n->r->out);
	if (n->r->err)
		fflush(n->r->err);
	if (rc == -ETIMEDOUT)
		return; /* no complete line yet */
	kilnd_client_close(&n->logs);
	if (n->ended)
		return;
	/* kilnd restarted or dropped a reader too far behind: resume after the last line. */
	if (n->reopens++ < FOLLOW_REOPENS && follow_open(n, n->last_ts + 1) == 0)
		return;
	kiln_detach_say(n->report_fd,
			"kiln: notice: lost the enclave's log stream (%s); it keeps running: "
			"kiln logs -f %s", kiln_errmsg(), n->r->name);
}

/* ---- signals ---- */

static int block_signals(sigset_t *old)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, KILN_NITRO_KILL_SIGNAL);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return kiln_err(errno, "sigprocmask: %s", strerror(errno));
	fd = signalfd(-1, &set, SFD_CLOEXEC);
	return fd < 0 ? kiln_err(errno, "signalfd: %s", strerror(errno)) : fd;
}

/*
 * Ask kilnd to stop the app with sig through kiln-init. The reply is not
 * awaited: kilnd answers a stop only once this process has exited.
 */
static int ask_stop(struct nrun *n, int sig)
{
	struct kilnd_client c;
	int rc = kilnd_client_open(&c, n->r->state_dir);

	if (rc == 0)
		rc = kilnd_client_send(&c, json_pack("{s:s,s:s,s:i}", "op", "stop", "name",
						     n->r->name, "signal", sig));
	kilnd_client_close(&c);
	return rc;
}

/* The first signal stops the app gracefully when kiln-init can be told:
 * -1 (keep holding); otherwise the code to terminate with now. */
static int on_signal(struct nrun *n, int sig)
{
	json_t *e;
	bool connected;

	if (sig == KILN_NITRO_KILL_SIGNAL)
		return 128 + SIGKILL; /* kilnd's stop timed out: as the sim's SIGKILL */
	if (n->ended && n->code >= 0)
		return n->code;	      /* the app is done; only the halt was awaited */
	if (n->stopping || !n->registered)
		return 128 + sig;
	/* With no control channel (kiln-init not up yet) nobody could signal
	 * the app; kilnd's own stop then signals this process, landing here. */
	e = kilnd_record(n);
	connected = json_is_true(json_object_get(e, "connected"));
	json_decref(e);
	if (!connected)
		return 128 + sig;
	if (ask_stop(n, sig) < 0) {
		kiln_detach_say(n->report_fd, "kiln: notice: could not ask kilnd to stop the app: %s",
				kiln_errmsg());
		return 128 + sig;
	}
	n->stopping = true;
	return -1;
}

/* ---- holding the enclave ---- */

/*
 * Until the enclave has halted and the app's outcome is known, or a signal
 * or a grace time ends the wait. *code: the exit code to terminate with, or
 * -1 when the enclave halted without an outcome.
 */
static int hold(struct nrun *n, const struct kiln_nitro_enclave *enc, int sig_fd, int *code)
{
	int64_t deadline = -1;
	bool halted = false;

	for (;;) {
		struct pollfd p[3] = { { .fd = halted ? -1 : enc->enclave_fd, .events = POLLIN },
				       { .fd = sig_fd, .events = POLLIN },
				       { .fd = n->logs.fd, .events = POLLIN } };
		int64_t now = kiln_now_ms();
		struct signalfd_siginfo si;
		int r;

		if (halted && (n->ended || n->logs.fd < 0))
			break;
		if (deadline >= 0 && now >= deadline)
			break;
		r = poll(p, 3, deadline < 0 ? -1 : (int)(deadline - now));
		if (r < 0 && errno != EINTR)
			return kiln_err(errno, "poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			halted = true;
			deadline = kiln_now_ms() + STATUS_WAIT_MS;
		}
		if (p[2].revents) {
			follow_read(n);
			if (n->ended && !halted)
				deadline = kiln_now_ms() + HALT_WAIT_MS;
		}
		if ((p[1].revents & POLLIN) &&
		    read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			*code = on_signal(n, (int)si.ssi_signo);
			if (*code >= 0)
				return 0;
		}
	}
	*code = n->ended ? n->code : -1;
	return 0;
}

/* After an enclave that ended without a followed outcome: what kilnd recorded. */
static int final_code(struct nrun *n, int code)
{
	json_t *e;

	if (code >= 0 || !n->registered)
		return code >= 0 ? code : 0; /* without kilnd the app's code is unknown */
	e = kilnd_record(n);
	code = kiln_rpc_exit_code(e);
	json_decref(e);
	if (code >= 0)
		return code;
	return kiln_err(EIO, "enclave %s ended without reporting the app's exit status "
			"(see kiln logs --stream all %s)", n->r->name, n->r->name);
}

int kiln_nitro_run(const struct kiln_nitro_ops *ops, const struct kiln_nitro_run *r)
{
	struct nrun n = { .r = r, .report_fd = r->report_fd, .logs = { .fd = -1 }, .code = -1 };
	struct kiln_nitro_launch req = { .eif_path = r->eif_path, .debug = r->debug,
					 .cid = r->cid, .started = register_cid,
					 .started_arg = &n };
	struct kiln_nitro_enclave enc = { .enclave_fd = -1 };
	sigset_t old;
	int sig_fd = -1, rc, trc, code = -1;

	rc = read_eif(&n);
	if (rc == 0 && n.n_ports && !r->state_dir)
		rc = kiln_err(EINVAL, "published ports (%s) need kilnd",
			      r->n_ports ? "-p" : "the EIF's network.ingress");
	if (rc == 0 && r->n_volumes && !r->state_dir)
		rc = kiln_err(EINVAL, "-v needs kilnd, which serves the volumes");
	if (rc == 0)
		rc = check_name(&n);
	if (rc < 0)
		goto out;
	req.memory_mib = n.memory_mib;
	req.cpus = n.cpus;
	/* Before the launch: a SIGTERM must not kill us between NE_START_ENCLAVE
	 * and holding the fd. */
	sig_fd = rc = block_signals(&old);
	if (rc < 0)
		goto out;
	rc = kiln_nitro_launch(ops, &req, &enc);
	if (rc < 0)
		goto out;
	tell_kilnd(&n, "heartbeat");
	if (n.registered && follow_open(&n, 0) < 0)
		kiln_detach_say(n.report_fd, "kiln: notice: cannot follow the enclave's log: %s",
				kiln_errmsg());
	if (r->debug)
		kiln_detach_say(n.report_fd,
				"kiln: nitro: enclave %s booted (CID %" PRIu64 ", %u vCPUs, %" PRIu64
				" MiB)", r->name, enc.cid, enc.ncpus, enc.memory_mib);
	if (n.report_fd >= 0) {
		dprintf(n.report_fd, "ok %s\n", n.id[0] ? n.id : "-");
		close(n.report_fd);
		n.report_fd = -1;
	}
	rc = hold(&n, &enc, sig_fd, &code);
	trc = kiln_nitro_terminate(&enc);
	if (rc == 0)
		rc = trc;
	if (rc == 0)
		rc = final_code(&n, code);
out:
	kilnd_client_close(&n.logs);
	if (rc < 0 && n.report_fd >= 0)
		dprintf(n.report_fd, "error %s\n", kiln_errmsg());
	if (n.report_fd >= 0)
		close(n.report_fd);
	if (sig_fd >= 0) {
		close(sig_fd);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	return rc;
}
