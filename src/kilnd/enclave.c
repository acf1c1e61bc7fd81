/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd enclave records: register, state changes, stop, persistence and reload. */
#include "kilnd/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kilnd/net.h"
#include "kilnd/sim_nsm.h"
#include "kilnd/store.h"
#include "util/cleanup.h"

/* How long kiln-init, then the runtime, get beyond a stop's timeout. */
#define STOP_GRACE_MS 3000

static const char *const state_names[] = { "starting", "running", "exited", "stopped" };

const char *kd_state_name(enum kd_state s)
{
	return (unsigned)s < 4 ? state_names[s] : "?";
}

int kd_state_final(enum kd_state s)
{
	return s == KD_EXITED || s == KD_STOPPED;
}

struct kd_enclave *kd_enclave_find(struct kd *d, const char *name)
{
	for (struct kd_enclave *e = d->enclaves; e; e = e->next)
		if (!e->dead && !strcmp(e->name, name))
			return e;
	return NULL;
}

static struct kd_enclave *enclave_new(void)
{
	struct kd_enclave *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->ctl_listen.fd = e->hb_listen.fd = e->pidfd.fd = e->log_fd = -1;
	e->exit_code = e->signal = -1;
	return e;
}

void kd_enclave_free(struct kd *d, struct kd_enclave *e)
{
	kd_watch_close(d, &e->ctl_listen);
	kd_watch_close(d, &e->hb_listen);
	kd_watch_close(d, &e->pidfd);
	kd_logs_close(e);
	kd_net_encl_free(d->net, e->net);
	kd_sim_nsm_stop(e->nsm);
	kd_store_stop(e->store);
	json_decref(e->volumes);
	free(e->eif);
	free(e);
}

/* ---- JSON form (ps and the state file) ---- */

static void set_new(json_t *o, const char *k, json_t *v)
{
	json_object_set_new(o, k, v);
}

static json_t *opt_int(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

static json_t *rfc3339(uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char buf[40];

	if (!ns || !gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return json_null();
	return json_string(buf);
}

json_t *kd_enclave_json(const struct kd_enclave *e)
{
	json_t *o = json_object();

	set_new(o, "name", json_string(e->name));
	set_new(o, "id", json_string(e->id));
	set_new(o, "mode", json_string(e->nitro ? "nitro" : "sim"));
	if (e->vsock)
		set_new(o, "cid", json_integer(e->cid));
	else
		set_new(o, "chan_dir", json_string(e->chan_dir));
	set_new(o, "state", json_string(kd_state_name(e->state)));
	set_new(o, "exit_code", opt_int(e->exit_code));
	set_new(o, "signal", opt_int(e->signal));
	set_new(o, "started", rfc3339(e->started_ns));
	set_new(o, "started_ns", json_integer((json_int_t)e->started_ns));
	set_new(o, "ended_ns", json_integer((json_int_t)e->ended_ns));
	set_new(o, "cpus", json_integer(e->cpus));
	set_new(o, "memory_mib", json_integer(e->memory_mib));
	set_new(o, "eif", e->eif ? json_string(e->eif) : json_null());
	set_new(o, "pid", json_integer(e->pid));
	set_new(o, "init_pid", json_integer(e->init_pid));
	set_new(o, "pcr0", json_string(e->pcr0));
	set_new(o, "last_seq", json_integer((json_int_t)e->last_seq));
	set_new(o, "dropped", json_integer((json_int_t)e->dropped));
	set_new(o, "missing", json_integer((json_int_t)e->missing));
	set_new(o, "heartbeat", json_boolean(e->heartbeat));
	set_new(o, "debug", json_boolean(e->debug));
	set_new(o, "kill_signal", json_integer(e->kill_signal ? e->kill_signal : SIGKILL));
	set_new(o, "ports", kd_net_encl_ports_json(e->net));
	if (e->volumes)
		set_new(o, "volumes", json_incref(e->volumes));
	set_new(o, "connected", json_boolean(e->ctl != NULL));
	return o;
}

/* ---- persistence: STATE/enclaves/NAME.json, written to a tmp file and renamed ---- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int kd_enclave_persist(struct kd *d, struct kd_enclave *e)
{
	char path[PATH_MAX + 80], tmp[PATH_MAX + 90];
	json_t *o = kd_enclave_json(e);
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	int rc;

	json_object_del(o, "connected");
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return kiln_err(ENOMEM, "enclave %s: cannot serialise state", e->name);
	snprintf(path, sizeof(path), "%s/enclaves/%s.json", d->state_dir, e->name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return kiln_err(errno, "%s: %s", tmp, strerror(errno));
	rc = write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = write_all(fd, "\n", 1);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return kiln_err(-rc, "%s: %s", path, strerror(-rc));
	}
	return 0;
}

/* ---- channel listeners and the runtime pid ---- */

static void on_pid_exit(struct kd *d, struct kd_watch *w, uint32_t events)
{
	struct kd_enclave *e = (struct kd_enclave *)((char *)w - offsetof(struct kd_enclave, pidfd));

	kd_watch_close(d, w);
	if (kd_state_final(e->state)) {
		kd_api_enclave_ended(d, e); /* now gone: stop waiters get their answer */
		return;
	}
	kd_logs_event(d, e, "pid-exit", NULL, "runtime pid %d exited", e->pid);
	kd_enclave_set_state(d, e, e->stop_requested ? KD_STOPPED : KD_EXITED);
}

static int watch_pid(struct kd *d, struct kd_enclave *e)
{
	int fd = (int)syscall(SYS_pidfd_open, e->pid, 0);

	if (fd >= 0)
		return kd_watch_add(d, &e->pidfd, fd, EPOLLIN, on_pid_exit);
	if (errno == ESRCH)
		return kiln_err(ESRCH, "pid %d is not running", e->pid);
	return 0; /* no pidfd (old kernel): kd_enclave_tick() polls with kill(0) */
}

static int listen_at(struct kd *d, struct kd_watch *w, const struct kiln_chan_addr *a, kd_fn fn)
{
	int fd = kiln_chan_listen(a, 16);

	if (fd < 0)
		return fd;
	return kd_watch_add(d, w, fd, EPOLLIN, fn);
}

static int listen_sim(struct kd *d, struct kd_enclave *e)
{
	struct kiln_chan_addr a;
	int rc = kiln_chan_addr_in_dir(e->chan_dir, KILN_PORT_CONTROL, &a);

	if (rc == 0)
		rc = listen_at(d, &e->ctl_listen, &a, kd_chan_accept_ctl);
	if (rc == 0)
		rc = kiln_chan_addr_in_dir(e->chan_dir, KILN_PORT_HEARTBEAT, &a);
	if (rc == 0)
		rc = listen_at(d, &e->hb_listen, &a, kd_chan_accept_hb);
	return rc;
}

/*
 * Nitro: one vsock control listener for all enclaves; peers are told apart by
 * CID. kilnd does not listen on the heartbeat port 9000 in nitro mode: the
 * runtime (kiln_nitro_launch) must listen there itself before
 * NE_START_ENCLAVE, as nitro-cli does, and reports the heartbeat with the
 * "heartbeat" op. Two listeners on one vsock port would race for the byte.
 */
static int listen_vsock(struct kd *d, struct kd_watch *w, uint32_t port, kd_fn fn)
{
	struct kiln_chan_addr a = { .family = KILN_CHAN_VSOCK, .cid = KILN_CID_ANY, .port = port };

	if (w->fd >= 0)
		return 0;
	return listen_at(d, w, &a, fn);
}

/*
 * A sim enclave registered with a cid (`kiln run --sim --channel vsock`, the
 * guest lab) uses Nitro's listeners; with no Nitro runtime on this machine
 * to take the heartbeat port, kilnd answers it there as it does in sim.
 */
static int listen_by_cid(struct kd *d, struct kd_enclave *e)
{
	int rc = listen_vsock(d, &d->vsock_ctl, KILN_PORT_CONTROL, kd_chan_accept_ctl);

	if (rc == 0 && !e->nitro)
		rc = listen_vsock(d, &d->vsock_hb, KILN_PORT_HEARTBEAT, kd_chan_accept_hb);
	return rc;
}

/*
 * The storage channel (kilnd/store.h): a sim enclave's own listener in its
 * channel directory; over vsock (nitro, sim --channel vsock) kilnd's one
 * listener on 7003, which finds the store by the peer's CID.
 */
static int store_start(struct kd *d, struct kd_enclave *e)
{
	struct kd_store_cfg cfg;
	int rc = kd_store_cfg_parse(e->volumes, d->state_dir, e->name, &cfg);

	if (rc == 0)
		rc = kd_store_new(e->name, &cfg, &e->store);
	if (rc == 0)
		rc = e->vsock ? listen_vsock(d, &d->vsock_store, KILN_PORT_STORAGE,
					     kd_chan_accept_store) :
				kd_store_listen(e->store, e->chan_dir);
	if (rc < 0) {
		kd_store_stop(e->store);
		e->store = NULL;
	}
	return rc;
}

int kd_enclave_listen(struct kd *d, struct kd_enclave *e)
{
	int rc = e->vsock ? listen_by_cid(d, e) : listen_sim(d, e);

	if (rc == 0)
		rc = kd_net_encl_listen(d->net, e->net, e->name, e->vsock, e->cid, e->chan_dir);
	if (rc == 0 && !e->nitro && !e->nsm)
		rc = kd_sim_nsm_start(d->state_dir, e->vsock ? NULL : e->chan_dir, e->eif,
				      e->name, &e->nsm);
	if (rc == 0 && !e->store)
		rc = store_start(d, e);
	if (rc == 0 && e->pid > 0 && e->pidfd.fd < 0)
		rc = watch_pid(d, e);
	return rc < 0 ? kiln_err_wrap(rc, "enclave %s", e->name) : 0;
}

/*
 * The heartbeat port a sim by cid made kilnd take is given back once no such
 * enclave runs: a later `kiln run --nitro` listens there itself.
 */
static void unlisten_hb(struct kd *d, const struct kd_enclave *gone)
{
	for (const struct kd_enclave *o = d->enclaves; o; o = o->next)
		if (o != gone && !o->dead && o->vsock && !o->nitro && !kd_state_final(o->state))
			return;
	kd_watch_close(d, &d->vsock_hb);
}

static void unlisten(struct kd *d, struct kd_enclave *e)
{
	struct kiln_chan_addr a;

	if (e->vsock && !e->nitro)
		unlisten_hb(d, e);

	if (!e->vsock && e->ctl_listen.fd >= 0 &&
	    kiln_chan_addr_in_dir(e->chan_dir, KILN_PORT_CONTROL, &a) == 0)
		unlink(a.path);
	if (!e->vsock && e->hb_listen.fd >= 0 &&
	    kiln_chan_addr_in_dir(e->chan_dir, KILN_PORT_HEARTBEAT, &a) == 0)
		unlink(a.path);
	kd_watch_close(d, &e->ctl_listen);
	kd_watch_close(d, &e->hb_listen);
	kd_net_encl_unlisten(d->net, e->net);
	kd_sim_nsm_stop(e->nsm);
	e->nsm = NULL;
	kd_store_stop(e->store);
	e->store = NULL;
	/* The pidfd stays: a stop is answered once the runtime has cleaned up too. */
}

int kd_enclave_gone(const struct kd_enclave *e)
{
	return kd_state_final(e->state) && e->pidfd.fd < 0;
}

void kd_enclave_set_state(struct kd *d, struct kd_enclave *e, enum kd_state s)
{
	if (e->state == s)
		return;
	e->state = s;
	if (kd_state_final(s)) {
		e->ended_ns = kd_now_ns();
		/* A stop is answered once the runtime has exited too; one that
		 * lingers after its enclave ended is killed after the grace time. */
		e->stop_deadline = e->stop_requested && e->pidfd.fd >= 0 ?
			kd_mono_ms() + STOP_GRACE_MS : 0;
		unlisten(d, e);
		kd_logs_event(d, e, "state", NULL, "enclave %s", kd_state_name(s));
	}
	if (kd_enclave_persist(d, e) < 0)
		kd_log("%s", kiln_errmsg());
	if (kd_state_final(s))
		kd_api_enclave_ended(d, e);
}

/* ---- register ---- */

static const char *const reg_keys[] = { "op", "name", "mode", "chan_dir", "cid", "cpus",
					"memory_mib", "eif", "pid", "debug", "kill_signal", "ports",
					"volumes", NULL };

static int reg_unknown_keys(json_t *req)
{
	const char *k;
	json_t *v;

	json_object_foreach(req, k, v) {
		size_t i;

		for (i = 0; reg_keys[i] && strcmp(reg_keys[i], k); i++)
			;
		if (!reg_keys[i])
			return kiln_err(EINVAL, "register: unknown key \"%s\"", k);
	}
	return 0;
}

/* An optional integer field in [min, max]; absent leaves *v alone. */
static int reg_int(json_t *req, const char *k, int64_t min, int64_t max, int64_t *v)
{
	json_t *j = json_object_get(req, k);

	if (!j)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < min || json_integer_value(j) > max)
		return kiln_err(EINVAL, "register: \"%s\" must be an integer in [%lld, %lld]", k,
				(long long)min, (long long)max);
	*v = json_integer_value(j);
	return 0;
}

static int reg_chan_dir(struct kd_enclave *e, json_t *req)
{
	const char *dir = json_string_value(json_object_get(req, "chan_dir"));
	struct kiln_chan_addr a;
	struct stat st;
	int rc;

	if (!dir || dir[0] != '/')
		return kiln_err(EINVAL, "register: sim mode needs \"chan_dir\", an absolute path");
	rc = kiln_chan_addr_in_dir(dir, KILN_PORT_CONTROL, &a);
	if (rc < 0)
		return kiln_err_wrap(rc, "register");
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return kiln_err(ENOTDIR, "register: chan_dir %s is not a directory", dir);
	snprintf(e->chan_dir, sizeof(e->chan_dir), "%s", dir);
	return 0;
}

static int reg_mode(struct kd_enclave *e, json_t *req)
{
	const char *mode = json_string_value(json_object_get(req, "mode"));
	int64_t cid = -1;
	int rc;

	if (mode && !strcmp(mode, "sim") && json_object_get(req, "cid")) {
		/* sim over vsock: CID 1 (VMADDR_CID_LOCAL) in the guest lab */
		if (json_object_get(req, "chan_dir"))
			return kiln_err(EINVAL, "register: sim mode takes \"chan_dir\" or \"cid\", "
					"not both");
		e->vsock = 1;
		rc = reg_int(req, "cid", 1, UINT32_MAX - 1, &cid);
		e->cid = (uint32_t)cid;
		return rc;
	}
	if (mode && !strcmp(mode, "sim"))
		return reg_chan_dir(e, req);
	if (!mode || strcmp(mode, "nitro"))
		return kiln_err(EINVAL, "register: \"mode\" must be \"sim\" or \"nitro\"");
	e->nitro = e->vsock = 1;
	if (json_object_get(req, "chan_dir"))
		return kiln_err(EINVAL, "register: \"chan_dir\" is for sim mode");
	rc = reg_int(req, "cid", 4, UINT32_MAX - 1, &cid);
	if (rc == 0 && cid < 0)
		rc = kiln_err(EINVAL, "register: nitro mode needs \"cid\" (>= 4)");
	e->cid = (uint32_t)cid;
	return rc;
}

static int reg_fields(struct kd_enclave *e, json_t *req)
{
	json_t *eif = json_object_get(req, "eif"), *debug = json_object_get(req, "debug");
	int64_t pid = 0, kill_signal = SIGKILL;
	int rc = reg_unknown_keys(req);

	if (rc == 0)
		rc = reg_mode(e, req);
	if (rc == 0)
		rc = reg_int(req, "cpus", 1, 1024, &e->cpus);
	if (rc == 0)
		rc = reg_int(req, "memory_mib", 1, INT64_C(1) << 40, &e->memory_mib);
	if (rc == 0)
		rc = reg_int(req, "pid", 1, INT32_MAX, &pid);
	if (rc == 0)
		rc = reg_int(req, "kill_signal", 1, 64, &kill_signal);
	if (rc == 0)
		rc = kd_net_encl_parse(json_object_get(req, "ports"), &e->net);
	if (rc == 0 && (e->volumes = json_incref(json_object_get(req, "volumes"))))
		rc = kd_store_cfg_parse(e->volumes, NULL, e->name, &(struct kd_store_cfg){ 0 });
	if (rc == 0 && debug && !json_is_boolean(debug))
		rc = kiln_err(EINVAL, "register: \"debug\" must be true or false");
	if (rc == 0 && eif && !json_is_string(eif))
		rc = kiln_err(EINVAL, "register: \"eif\" must be a string");
	if (rc == 0 && eif)
		e->eif = strdup(json_string_value(eif));
	e->pid = (int)pid;
	e->kill_signal = (int)kill_signal;
	e->debug = json_is_true(debug);
	return rc;
}

/*
 * Name reuse: a running (or starting) enclave keeps its name. A finished one
 * is replaced: *old is returned and forgotten (record and logs) once the new
 * registration is known to be valid, as `podman run --replace` does.
 */
static int reg_name(struct kd *d, struct kd_enclave *e, json_t *req, struct kd_enclave **old)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	int rc;

	if (!name)
		return kiln_err(EINVAL, "register: \"name\" (a string) is required");
	rc = kiln_name_check(name);
	if (rc < 0)
		return kiln_err_wrap(rc, "register");
	*old = kd_enclave_find(d, name);
	if (*old && !kd_state_final((*old)->state))
		return kiln_err(EEXIST, "name %s is in use by a running enclave (%s, id %s)", name,
				kd_state_name((*old)->state), (*old)->id);
	snprintf(e->name, sizeof(e->name), "%s", name);
	return 0;
}

/* "exited (3)", "exited (signal 9)", "stopped": for the replacement note. */
static void outcome_text(const struct kd_enclave *e, char *buf, size_t len)
{
	if (e->exit_code >= 0)
		snprintf(buf, len, "%s (%d)", kd_state_name(e->state), e->exit_code);
	else if (e->signal >= 0)
		snprintf(buf, len, "%s (signal %d)", kd_state_name(e->state), e->signal);
	else
		snprintf(buf, len, "%s", kd_state_name(e->state));
}

static int new_id(char id[13])
{
	uint8_t r[6];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return kiln_err(errno ? errno : EIO, "getrandom: %s", strerror(errno));
	for (int i = 0; i < 6; i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/*
 * kilnd tells enclaves over vsock apart by the peer's CID alone (the
 * control, heartbeat and storage listeners are shared), so two running
 * with one CID would get each other's channels. On Nitro each enclave has
 * its own CID; every sim over vsock is CID 1 (VMADDR_CID_LOCAL, the guest
 * lab), so a second one is refused, saying why.
 */
static int cid_taken(struct kd *d, const struct kd_enclave *e)
{
	for (struct kd_enclave *o = d->enclaves; o; o = o->next) {
		if (o->dead || !o->vsock || o->cid != e->cid || kd_state_final(o->state))
			continue;
		if (!e->nitro)
			return kiln_err(EEXIST, "register: cid %u is in use by enclave %s: kilnd "
					"tells vsock enclaves apart by CID, and a sim over vsock "
					"is always CID %u, so only one runs at a time",
					e->cid, o->name, e->cid);
		return kiln_err(EEXIST, "register: cid %u is in use by enclave %s", e->cid,
				o->name);
	}
	return 0;
}

int kd_enclave_register(struct kd *d, json_t *req, struct kd_enclave **out)
{
	struct kd_enclave *e = enclave_new(), *old = NULL;
	char old_id[sizeof(e->id)] = "", old_outcome[64] = "";
	int rc;

	if (!e)
		return kiln_err(ENOMEM, "out of memory");
	rc = reg_name(d, e, req, &old);
	if (rc == 0)
		rc = reg_fields(e, req);
	if (rc == 0 && e->vsock)
		rc = cid_taken(d, e);
	if (rc == 0)
		rc = new_id(e->id);
	e->started_ns = kd_now_ns();
	if (rc == 0 && old) {
		snprintf(old_id, sizeof(old_id), "%s", old->id);
		outcome_text(old, old_outcome, sizeof(old_outcome));
		rc = kd_enclave_forget(d, old);
	}
	if (rc == 0)
		rc = kd_logs_open(d, e);
	if (rc == 0)
		rc = kd_enclave_listen(d, e);
	if (rc == 0)
		rc = kd_enclave_persist(d, e);
	if (rc < 0) {
		kd_enclave_free(d, e);
		return rc;
	}
	e->next = d->enclaves;
	d->enclaves = e;
	kd_logs_event(d, e, "registered", NULL, "registered (%s, id %s)",
		      e->nitro ? "nitro" : "sim", e->id);
	if (old_id[0])
		kd_logs_event(d, e, "replaced", NULL, "replaces the finished enclave %s (id %s, %s)",
			      e->name, old_id, old_outcome);
	*out = e;
	return 0;
}

/* ---- stop, forget, timers ---- */

static int pid_alive(int pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/*
 * Stop: sig (SIGTERM unless asked otherwise) goes to the app through
 * kiln-init's STOP, which also carries the timeout after which kiln-init
 * SIGKILLs the app itself; kilnd waits STOP_GRACE_MS longer for that. With
 * no control channel the signal goes to the runtime pid, which forwards it.
 * Past the deadline: the runtime's kill_signal (the sim monitor then kills
 * the enclave and reports the exit), and STOP_GRACE_MS later SIGKILL.
 * A second stop request joins the first one and never extends its deadline.
 */
void kd_enclave_stop(struct kd *d, struct kd_enclave *e, int sig, unsigned timeout_s)
{
	int64_t deadline = kd_mono_ms() + (int64_t)timeout_s * 1000;

	if (e->stop_requested) {
		if (deadline < e->stop_deadline && e->stop_phase == 0)
			e->stop_deadline = deadline;
		return;
	}
	e->stop_requested = 1;
	e->stop_deadline = deadline;
	if (e->ctl && kd_chan_send_stop(d, e, sig, timeout_s * 1000) == 0) {
		kd_logs_event(d, e, "stop", NULL, "sent STOP (signal %d, %u s) to kiln-init", sig,
			      timeout_s);
		e->stop_deadline += STOP_GRACE_MS;
		return;
	}
	if (pid_alive(e->pid)) {
		/* SIGKILL for the app means "kill the enclave", not its runtime. */
		int rsig = sig == SIGKILL && e->kill_signal ? e->kill_signal : sig;

		kd_logs_event(d, e, "stop", NULL,
			      "no control channel: signal %d to runtime pid %d", rsig, e->pid);
		kill(e->pid, rsig);
		return;
	}
	kd_enclave_set_state(d, e, KD_STOPPED);
}

static void stop_expired(struct kd *d, struct kd_enclave *e)
{
	int sig = e->kill_signal ? e->kill_signal : SIGKILL;

	if (e->stop_phase == 0 && sig != SIGKILL && pid_alive(e->pid)) {
		kd_logs_event(d, e, "kill", NULL, "stop timeout: signal %d (kill the enclave) to "
			      "runtime pid %d", sig, e->pid);
		kill(e->pid, sig);
		e->stop_phase = 1;
		e->stop_deadline = kd_mono_ms() + STOP_GRACE_MS;
		return;
	}
	if (pid_alive(e->pid)) {
		kd_logs_event(d, e, "kill", NULL, "stop timeout: SIGKILL to runtime pid %d",
			      e->pid);
		kill(e->pid, SIGKILL);
	}
	e->stop_phase = 2;
	kd_enclave_set_state(d, e, KD_STOPPED);
}

void kd_enclave_exited(struct kd *d, struct kd_enclave *e, int code, int sig)
{
	if (kd_state_final(e->state))
		return; /* kiln-init's STATUS came first: it knows best */
	e->exit_code = code;
	e->signal = sig;
	kd_logs_event(d, e, "runtime-exit", NULL, "the runtime reports the enclave ended (%s %d)",
		      code >= 0 ? "exit code" : "signal", code >= 0 ? code : sig);
	kd_enclave_set_state(d, e, KD_EXITED);
}

void kd_enclave_tick(struct kd *d)
{
	int64_t now = kd_mono_ms();

	kd_chan_tick(d, now);
	for (struct kd_enclave *e = d->enclaves; e; e = e->next) {
		if (e->dead)
			continue;
		if (kd_state_final(e->state)) {
			if (e->stop_deadline && now >= e->stop_deadline && pid_alive(e->pid)) {
				kd_logs_event(d, e, "kill", NULL, "runtime pid %d still running after "
					      "its enclave ended: SIGKILL", e->pid);
				kill(e->pid, SIGKILL);
			}
			if (e->stop_deadline && now >= e->stop_deadline)
				e->stop_deadline = 0;
			continue;
		}
		if (e->stop_deadline && now >= e->stop_deadline)
			stop_expired(d, e);
		else if (e->pid > 0 && e->pidfd.fd < 0 && !pid_alive(e->pid))
			kd_enclave_set_state(d, e, e->stop_requested ? KD_STOPPED : KD_EXITED);
	}
}

int kd_enclave_forget(struct kd *d, struct kd_enclave *e)
{
	char path[PATH_MAX + 80], old[PATH_MAX + 80];

	if (!kd_state_final(e->state))
		return kiln_err(EBUSY, "enclave %s is %s; stop it first", e->name,
				kd_state_name(e->state));
	snprintf(path, sizeof(path), "%s/enclaves/%s.json", d->state_dir, e->name);
	if (unlink(path) < 0 && errno != ENOENT)
		return kiln_err(errno, "%s: %s", path, strerror(errno));
	if (kd_logs_paths(d, e->name, path, old, sizeof(path)) == 0) {
		unlink(path);
		unlink(old);
	}
	for (struct kd_conn *c = d->conns; c; c = c->next) {
		if (c->e != e)
			continue;
		if (c->kind != KD_CONN_CLIENT)
			kd_conn_close(d, c);
		c->e = NULL;
	}
	e->dead = 1;
	return 0;
}

/* ---- reload at start ---- */

static void load_str(json_t *o, const char *k, char *dst, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, k));

	snprintf(dst, cap, "%s", s ? s : "");
}

static int64_t load_int(json_t *o, const char *k, int64_t dflt)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static enum kd_state load_state(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (s && !strcmp(s, state_names[i]))
			return (enum kd_state)i;
	return KD_EXITED;
}

static void load_fields(struct kd_enclave *e, json_t *o)
{
	const char *eif = json_string_value(json_object_get(o, "eif"));

	load_str(o, "id", e->id, sizeof(e->id));
	e->nitro = !strcmp(json_string_value(json_object_get(o, "mode")) ?: "", "nitro");
	load_str(o, "chan_dir", e->chan_dir, sizeof(e->chan_dir));
	e->cid = (uint32_t)load_int(o, "cid", 0);
	e->vsock = e->nitro || json_object_get(o, "cid");
	e->state = load_state(json_string_value(json_object_get(o, "state")));
	e->exit_code = (int)load_int(o, "exit_code", -1);
	e->signal = (int)load_int(o, "signal", -1);
	e->started_ns = (uint64_t)load_int(o, "started_ns", 0);
	e->ended_ns = (uint64_t)load_int(o, "ended_ns", 0);
	e->cpus = load_int(o, "cpus", 0);
	e->memory_mib = load_int(o, "memory_mib", 0);
	e->eif = eif ? strdup(eif) : NULL;
	e->pid = (int)load_int(o, "pid", 0);
	e->init_pid = (uint32_t)load_int(o, "init_pid", 0);
	load_str(o, "pcr0", e->pcr0, sizeof(e->pcr0));
	e->last_seq = (uint64_t)load_int(o, "last_seq", 0);
	e->dropped = (uint64_t)load_int(o, "dropped", 0);
	e->missing = (uint64_t)load_int(o, "missing", 0);
	e->heartbeat = json_is_true(json_object_get(o, "heartbeat"));
	e->debug = json_is_true(json_object_get(o, "debug"));
	kd_net_encl_load(json_object_get(o, "ports"), &e->net);
	e->volumes = json_incref(json_object_get(o, "volumes"));
	e->kill_signal = (int)load_int(o, "kill_signal", SIGKILL);
	if (e->kill_signal < 1 || e->kill_signal > 64)
		e->kill_signal = SIGKILL;
}

/* Running enclaves whose runtime is still alive get their channels back. */
static void load_resume(struct kd *d, struct kd_enclave *e)
{
	if (kd_state_final(e->state))
		return;
	if (e->pid > 0 && !pid_alive(e->pid)) {
		kd_logs_event(d, e, "lost", NULL, "runtime pid %d exited while kilnd was down",
			      e->pid);
		kd_enclave_set_state(d, e, KD_EXITED);
		return;
	}
	if (kd_enclave_listen(d, e) < 0) {
		kd_log("%s", kiln_errmsg());
		kd_enclave_set_state(d, e, KD_EXITED);
		return;
	}
	kd_logs_event(d, e, "resumed", NULL, "kilnd restarted: channels listening again");
}

static int load_one(struct kd *d, const char *dir, const char *file)
{
	char path[PATH_MAX + 300];
	json_error_t jerr;
	struct kd_enclave *e;
	json_t *o;
	const char *name;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	o = json_load_file(path, 0, &jerr);
	name = json_string_value(json_object_get(o, "name"));
	if (!o || !name || kiln_name_check(name) < 0 || strncmp(file, name, strlen(name)) ||
	    strcmp(file + strlen(name), ".json")) {
		json_decref(o);
		return kiln_err(EINVAL, "%s: not a kilnd enclave record; skipped", path);
	}
	e = enclave_new();
	if (!e) {
		json_decref(o);
		return kiln_err(ENOMEM, "out of memory");
	}
	snprintf(e->name, sizeof(e->name), "%s", name);
	load_fields(e, o);
	json_decref(o);
	e->next = d->enclaves;
	d->enclaves = e;
	if (kd_logs_open(d, e) < 0)
		kd_log("%s", kiln_errmsg());
	kd_logs_recover_seq(d, e);
	load_resume(d, e);
	return 0;
}

int kd_enclave_load_all(struct kd *d)
{
	char dir[PATH_MAX + 16];
	struct dirent *de;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/enclaves", d->state_dir);
	dp = opendir(dir);
	if (!dp)
		return kiln_err(errno, "%s: %s", dir, strerror(errno));
	while ((de = readdir(dp))) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		if (load_one(d, dir, de->d_name) < 0)
			kd_log("%s", kiln_errmsg());
	}
	closedir(dp);
	return 0;
}
