/* SPDX-License-Identifier: Apache-2.0 */
/* kiln run --nitro: launch, register with kilnd, hold the enclave until it ends or is stopped. */
#include "nitro/nitro.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "eif/eif.h"
#include "kilnd/client.h"
#include "util/cleanup.h"

/*
 * How this works (nitro-cli's "enclave process", without nitro-cli):
 *   1. the EIF is validated (CRC, sections) and resources chosen;
 *   2. kiln_nitro_launch() runs the ioctl sequence; its started hook
 *      registers {"mode":"nitro","cid":CID} with kilnd before the boot
 *      heartbeat, so kilnd knows the CID when kiln-init connects to vsock
 *      3:7000. kilnd does not listen on vsock 9000 in nitro mode: this
 *      process answers the heartbeat (as nitro-cli does) and then tells kilnd
 *      with the "heartbeat" op;
 *   3. this process keeps the enclave fd and the hugepages: the enclave runs
 *      as long as it lives. It waits for POLLHUP on the enclave fd (the
 *      enclave rebooted or halted: kiln-init exited after the app) or for a
 *      signal: SIGTERM/SIGINT/SIGHUP from the user, KILN_NITRO_KILL_SIGNAL
 *      from kilnd's stop timeout. Either way it closes the enclave fd (the
 *      driver stops the enclave) and frees the memory. A kilnd stop goes to
 *      kiln-init over the control channel first; the app exits, kiln-init
 *      exits, the bootstrap reboots the VM: POLLHUP here.
 * kilnd watches this process's pid, so a crash of it also ends the record.
 */

#define MIB (UINT64_C(1) << 20)
#define KILND_TIMEOUT_MS 5000

struct nrun {
	const struct kiln_nitro_run *r;
	char id[16];
	uint64_t memory_mib;
	unsigned cpus;
	bool registered;
};

static int choose_resources(struct nrun *n)
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
	return 0;
}

/* The started hook: register the CID with kilnd before the heartbeat. */
static int register_cid(void *arg, uint64_t cid)
{
	struct nrun *n = arg;
	char abs[4096];
	json_t *reply, *req;
	int rc;

	if (!n->r->state_dir)
		return 0;
	req = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:I,s:b,s:i}", "op", "register", "name",
			n->r->name, "mode", "nitro", "cid", (json_int_t)cid, "cpus",
			(json_int_t)n->cpus, "memory_mib", (json_int_t)n->memory_mib, "eif",
			realpath(n->r->eif_path, abs) ? abs : n->r->eif_path, "pid",
			(json_int_t)getpid(), "debug", n->r->debug, "kill_signal",
			KILN_NITRO_KILL_SIGNAL);
	rc = kilnd_client_call(n->r->state_dir, req, KILND_TIMEOUT_MS, &reply);
	if (rc == 0)
		snprintf(n->id, sizeof(n->id), "%s",
			 json_string_value(json_object_get(reply, "id")) ?: "");
	json_decref(reply);
	if (rc < 0)
		return kiln_err_wrap(rc, "kilnd");
	n->registered = true;
	return 0;
}

static void tell_kilnd(struct nrun *n, const char *op)
{
	json_t *reply = NULL;

	if (n->registered &&
	    kilnd_client_call(n->r->state_dir, json_pack("{s:s,s:s}", "op", op, "name", n->r->name),
			      KILND_TIMEOUT_MS, &reply) < 0)
		fprintf(stderr, "kiln: notice: kilnd: %s\n", kiln_errmsg());
	json_decref(reply);
}

/* The app's exit code as kilnd heard it from kiln-init; 0 when unknown. */
static int kilnd_exit_code(struct nrun *n)
{
	json_t *reply = NULL, *e;
	size_t i;
	int code = 0;

	if (!n->registered ||
	    kilnd_client_call(n->r->state_dir, json_pack("{s:s}", "op", "ps"), KILND_TIMEOUT_MS,
			      &reply) < 0)
		return 0;
	json_array_foreach(json_object_get(reply, "enclaves"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "name")) ?: "", n->r->name))
			continue;
		if (json_is_integer(json_object_get(e, "exit_code")))
			code = (int)json_integer_value(json_object_get(e, "exit_code"));
		else if (json_is_integer(json_object_get(e, "signal")))
			code = 128 + (int)json_integer_value(json_object_get(e, "signal"));
	}
	json_decref(reply);
	return code;
}

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

/* Until the enclave ends (0) or a signal asks to end it (128 + signal). */
static int hold(const struct kiln_nitro_enclave *enc, int sig_fd)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = enc->enclave_fd, .events = POLLIN },
				       { .fd = sig_fd, .events = POLLIN } };
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return kiln_err(errno, "poll: %s", strerror(errno));
		}
		if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			return 0;
		if ((p[1].revents & POLLIN) &&
		    read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			return 128 + ((int)si.ssi_signo == KILN_NITRO_KILL_SIGNAL ? SIGKILL
										 : (int)si.ssi_signo);
	}
}

int kiln_nitro_run(const struct kiln_nitro_ops *ops, const struct kiln_nitro_run *r)
{
	struct nrun n = { .r = r };
	struct kiln_nitro_launch req = { .eif_path = r->eif_path, .debug = r->debug,
					 .cid = r->cid, .started = register_cid,
					 .started_arg = &n };
	struct kiln_nitro_enclave enc = { .enclave_fd = -1 };
	sigset_t old;
	int sig_fd, rc, code;

	rc = choose_resources(&n);
	if (rc < 0)
		return rc;
	req.memory_mib = n.memory_mib;
	req.cpus = n.cpus;
	sig_fd = block_signals(&old); /* before the launch: a SIGTERM must not kill us
				       * between NE_START_ENCLAVE and holding the fd */
	if (sig_fd < 0)
		return sig_fd;
	rc = kiln_nitro_launch(ops, &req, &enc);
	if (rc < 0)
		goto out;
	tell_kilnd(&n, "heartbeat");
	if (r->report_fd >= 0) {
		dprintf(r->report_fd, "ok %s\n", n.id[0] ? n.id : "-");
		close(r->report_fd);
	} else {
		fprintf(stderr, "kiln: enclave %s booted (CID %" PRIu64 ", %u vCPUs, %" PRIu64
				" MiB)%s\n", r->name, enc.cid, enc.ncpus, enc.memory_mib,
			n.registered ? "; its output: kiln logs -f" : "");
	}
	code = hold(&enc, sig_fd);
	rc = kiln_nitro_terminate(&enc);
	if (rc == 0)
		rc = code != 0 ? code : kilnd_exit_code(&n);
out:
	close(sig_fd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
