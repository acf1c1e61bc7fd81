/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's CLI protocol: JSON-lines requests and responses on STATE/kilnd.sock. */
#include "kilnd/internal.h"
#include "kilnd/shed.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * One JSON object per line each way. Every request gets {"ok":true,...} or
 * {"ok":false,"error":"..."}. "logs" then streams records (the log file's
 * lines) and ends with {"end":true,...}, after which the connection closes;
 * with "follow" the end comes when the enclave exits. "stop" answers once
 * the enclave has exited or been killed. See docs/protocol.md.
 */

#define STOP_TIMEOUT_DEFAULT 10
#define STOP_TIMEOUT_MAX 3600

static void pump(struct kd *d, struct kd_conn *c);

static void queue(struct kd_conn *c, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(o);
	if (!text || kiln_bytebuf_add(&c->out, text, strlen(text), SIZE_MAX) < 0 ||
	    kiln_bytebuf_add(&c->out, "\n", 1, SIZE_MAX) < 0)
		c->close_after = 1;
	free(text);
}

static void reply_err(struct kd_conn *c)
{
	queue(c, json_pack("{s:b,s:s}", "ok", 0, "error", kiln_errmsg()));
}

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

/* The enclave's outcome, for stop replies and the end of a followed log. */
static json_t *outcome(struct kd_enclave *e, json_t *o)
{
	if (!e) {
		json_object_set_new(o, "state", json_string("forgotten"));
		return o;
	}
	json_object_set_new(o, "name", json_string(e->name));
	json_object_set_new(o, "state", json_string(kd_state_name(e->state)));
	json_object_set_new(o, "exit_code", e->exit_code >= 0 ? json_integer(e->exit_code)
							     : json_null());
	json_object_set_new(o, "signal", e->signal >= 0 ? json_integer(e->signal) : json_null());
	return o;
}

/* ---- ops ---- */

static int op_register(struct kd *d, struct kd_conn *c, json_t *req)
{
	struct kd_enclave *e;
	struct kiln_chan_addr a;
	char ctl[160], hb[160];
	int rc = kd_enclave_register(d, req, &e);

	if (rc < 0)
		return rc;
	if (e->nitro) {
		/* The runtime answers the heartbeat itself (see listen_nitro()). */
		snprintf(ctl, sizeof(ctl), "vsock:%u:%u", KILN_CID_PARENT, KILN_PORT_CONTROL);
		snprintf(hb, sizeof(hb), "runtime");
	} else if (e->vsock) {
		/* sim by cid: parent and enclave share one machine, so the parent's
		 * CID is the enclave's own (VMADDR_CID_LOCAL in the guest lab). */
		snprintf(ctl, sizeof(ctl), "vsock:%u:%u", e->cid, KILN_PORT_CONTROL);
		snprintf(hb, sizeof(hb), "vsock:%u:%u", e->cid, KILN_PORT_HEARTBEAT);
	} else {
		if (kiln_chan_addr_in_dir(e->chan_dir, KILN_PORT_CONTROL, &a) == 0)
			snprintf(ctl, sizeof(ctl), "unix:%s", a.path);
		if (kiln_chan_addr_in_dir(e->chan_dir, KILN_PORT_HEARTBEAT, &a) == 0)
			snprintf(hb, sizeof(hb), "unix:%s", a.path);
	}
	queue(c, json_pack("{s:b,s:s,s:s,s:s,s:s}", "ok", 1, "name", e->name, "id", e->id,
			   "control", ctl, "heartbeat", hb));
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct kd_enclave *x = *(struct kd_enclave *const *)a;
	const struct kd_enclave *y = *(struct kd_enclave *const *)b;

	return strcmp(x->name, y->name);
}

static int op_ps(struct kd *d, struct kd_conn *c)
{
	struct kd_enclave **v;
	size_t n = 0, i = 0;
	json_t *arr = json_array(), *o = ok();

	for (struct kd_enclave *e = d->enclaves; e; e = e->next)
		n += !e->dead;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return kiln_err(ENOMEM, "out of memory");
	for (struct kd_enclave *e = d->enclaves; e; e = e->next)
		if (!e->dead)
			v[i++] = e;
	qsort(v, n, sizeof(*v), by_name);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, kd_enclave_json(v[i]));
	free(v);
	json_object_set_new(o, "enclaves", arr);
	queue(c, o);
	return 0;
}

static int need_enclave(struct kd *d, json_t *req, struct kd_enclave **e)
{
	const char *name = json_string_value(json_object_get(req, "name"));

	if (!name)
		return kiln_err(EINVAL, "\"name\" (a string) is required");
	*e = kd_enclave_find(d, name);
	return *e ? 0 : kiln_err(ENOENT, "no such enclave: %s", name);
}

static int opt_uint(json_t *req, const char *k, json_int_t max, json_int_t *v)
{
	json_t *j = json_object_get(req, k);

	if (!j || json_is_null(j))
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > max)
		return kiln_err(EINVAL, "\"%s\" must be an integer in [0, %lld]", k,
				(long long)max);
	*v = json_integer_value(j);
	return 0;
}

static void hist_add(struct kd_conn *c, const char *path)
{
	FILE *f;

	if (c->nhist >= KD_HIST_FILES) {
		c->close_after = 1; /* rotated faster than this reader reads */
		return;
	}
	f = fopen(path, "re");
	if (f)
		c->hist[c->nhist++] = f;
}

static int op_logs(struct kd *d, struct kd_conn *c, json_t *req)
{
	struct kd_enclave *e;
	json_t *follow = json_object_get(req, "follow");
	json_int_t since = 0;
	char cur[PATH_MAX + 80], old[PATH_MAX + 80];
	int rc = need_enclave(d, req, &e);

	if (rc == 0)
		rc = opt_uint(req, "since", INT64_MAX, &since);
	if (rc == 0 && follow && !json_is_boolean(follow))
		rc = kiln_err(EINVAL, "\"follow\" must be true or false");
	if (rc == 0)
		rc = kd_logs_paths(d, e->name, cur, old, sizeof(cur));
	if (rc < 0)
		return rc;
	c->e = e;
	c->mode = KD_LOGS;
	c->follow = json_is_true(follow);
	c->since = (uint64_t)since;
	hist_add(c, old);
	hist_add(c, cur);
	queue(c, ok());
	return 0;
}

static int op_stop(struct kd *d, struct kd_conn *c, json_t *req)
{
	struct kd_enclave *e;
	json_int_t timeout = STOP_TIMEOUT_DEFAULT, sig = SIGTERM;
	int rc = need_enclave(d, req, &e);

	if (rc == 0)
		rc = opt_uint(req, "timeout", STOP_TIMEOUT_MAX, &timeout);
	if (rc == 0)
		rc = opt_uint(req, "signal", 64, &sig);
	if (rc == 0 && sig == 0)
		rc = kiln_err(EINVAL, "\"signal\" must be in [1, 64]");
	if (rc < 0)
		return rc;
	if (kd_enclave_gone(e)) {
		queue(c, outcome(e, ok()));
		return 0;
	}
	c->e = e;
	c->mode = KD_STOPWAIT; /* before stopping: the stop may end it at once */
	if (!kd_state_final(e->state))
		kd_enclave_stop(d, e, (int)sig, (unsigned)timeout);
	return 0;
}

/* The runtime's report: {"op":"exited","name":N,"id":ID,"exit_code":C | "signal":S}. */
static int op_exited(struct kd *d, struct kd_conn *c, json_t *req)
{
	struct kd_enclave *e;
	const char *id = json_string_value(json_object_get(req, "id"));
	json_int_t code = -1, sig = -1;
	int rc = need_enclave(d, req, &e);

	if (rc == 0 && (!id || strcmp(id, e->id)))
		rc = kiln_err(ESRCH, "enclave %s has id %s, not %s", e->name, e->id,
			      id ? id : "(none)");
	if (rc == 0)
		rc = opt_uint(req, "exit_code", 255, &code);
	if (rc == 0)
		rc = opt_uint(req, "signal", 64, &sig);
	if (rc == 0 && (code >= 0) == (sig >= 0))
		rc = kiln_err(EINVAL, "exactly one of \"exit_code\" and \"signal\" is required");
	if (rc < 0)
		return rc;
	kd_enclave_exited(d, e, (int)code, (int)sig);
	queue(c, outcome(e, ok()));
	return 0;
}

/* The nitro runtime saw the boot heartbeat (kilnd does not listen on 9000 there). */
static int op_heartbeat(struct kd *d, struct kd_conn *c, json_t *req)
{
	struct kd_enclave *e;
	int rc = need_enclave(d, req, &e);

	if (rc == 0 && !e->nitro)
		rc = kiln_err(EINVAL, "enclave %s: in sim kilnd answers the heartbeat itself",
			      e->name);
	if (rc < 0)
		return rc;
	if (!e->heartbeat) {
		e->heartbeat = 1;
		kd_logs_event(d, e, "heartbeat", NULL, "boot heartbeat (answered by the runtime)");
		if (kd_enclave_persist(d, e) < 0)
			kd_log("%s", kiln_errmsg());
	}
	queue(c, ok());
	return 0;
}

static int op_forget(struct kd *d, struct kd_conn *c, json_t *req)
{
	struct kd_enclave *e;
	int rc = need_enclave(d, req, &e);

	if (rc == 0)
		rc = kd_enclave_forget(d, e);
	if (rc == 0)
		queue(c, ok());
	return rc;
}

static int dispatch(struct kd *d, struct kd_conn *c, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));

	if (!json_is_object(req))
		return kiln_err(EINVAL, "request is not a JSON object");
	if (!op)
		return kiln_err(EINVAL, "request has no \"op\"");
	if (!strcmp(op, "register"))
		return op_register(d, c, req);
	if (!strcmp(op, "ps"))
		return op_ps(d, c);
	if (!strcmp(op, "logs"))
		return op_logs(d, c, req);
	if (!strcmp(op, "stop"))
		return op_stop(d, c, req);
	if (!strcmp(op, "forget"))
		return op_forget(d, c, req);
	if (!strcmp(op, "exited"))
		return op_exited(d, c, req);
	if (!strcmp(op, "heartbeat"))
		return op_heartbeat(d, c, req);
	if (!strcmp(op, "version")) { /* kiln doctor; older kilnds say "unknown op" */
		queue(c, json_pack("{s:b,s:s}", "ok", 1, "version", KILN_VERSION));
		return 0;
	}
	return kiln_err(EINVAL, "unknown op \"%s\"", op);
}

static void handle_line(struct kd *d, struct kd_conn *c, const char *line, size_t n)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, n, 0, &jerr);
	int rc;

	if (!req)
		rc = kiln_err(EINVAL, "request is not JSON: %s", jerr.text);
	else
		rc = dispatch(d, c, req);
	json_decref(req);
	if (rc < 0)
		reply_err(c);
}

/* ---- streaming logs ---- */

static int wanted(struct kd_conn *c, const char *line, size_t n)
{
	json_t *rec, *ts;
	int keep;

	if (!c->since)
		return 1;
	rec = json_loadb(line, n, 0, NULL);
	ts = json_object_get(rec, "ts");
	keep = json_is_integer(ts) && (uint64_t)json_integer_value(ts) >= c->since;
	json_decref(rec);
	return keep;
}

static void read_history(struct kd_conn *c)
{
	char *line = NULL;
	size_t cap = 0;

	while (c->ihist < c->nhist && c->out.len < KD_OUT_HIGH) {
		ssize_t n = getline(&line, &cap, c->hist[c->ihist]);

		if (n < 0) {
			fclose(c->hist[c->ihist]);
			c->hist[c->ihist++] = NULL;
			continue;
		}
		if (n > 0 && line[n - 1] == '\n' && wanted(c, line, (size_t)n) &&
		    kiln_bytebuf_add(&c->out, line, (size_t)n, SIZE_MAX) < 0)
			c->close_after = 1;
	}
	free(line);
}

static int history_done(const struct kd_conn *c)
{
	return c->ihist >= c->nhist;
}

static void maybe_end_logs(struct kd_conn *c)
{
	if (c->mode != KD_LOGS || !history_done(c))
		return;
	if (c->follow && c->e && !kd_state_final(c->e->state))
		return;
	queue(c, outcome(c->e, json_pack("{s:b}", "end", 1)));
	c->mode = KD_IDLE;
	c->close_after = 1;
}

static void flush(struct kd *d, struct kd_conn *c)
{
	while (c->out.len) {
		ssize_t n = send(c->w.fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			kd_conn_close(d, c);
			return;
		}
		kiln_bytebuf_drop(&c->out, (size_t)n);
	}
}

static void pump(struct kd *d, struct kd_conn *c)
{
	int busy;

	if (c->dead)
		return;
	if (c->mode == KD_LOGS)
		read_history(c);
	maybe_end_logs(c);
	flush(d, c);
	if (c->dead)
		return;
	if (!c->out.len && (c->close_after || (c->rd_eof && c->mode == KD_IDLE))) {
		kd_conn_close(d, c);
		return;
	}
	busy = c->out.len || (c->mode == KD_LOGS && !history_done(c));
	kd_watch_mod(d, &c->w, (c->close_after || c->rd_eof ? 0 : EPOLLIN) |
			       (busy ? EPOLLOUT : 0));
}

/* ---- input ---- */

/*
 * Handle complete request lines while the connection is idle. A request can
 * finish synchronously and call back here (stop of an enclave that ends at
 * once), so each line leaves the buffer before it is handled and the
 * "dispatching" flag keeps the loop from nesting.
 */
static void process_input(struct kd *d, struct kd_conn *c)
{
	if (c->dispatching)
		return;
	c->dispatching = 1;
	while (c->mode == KD_IDLE && !c->close_after && !c->dead) {
		uint8_t *nl = c->in.len ? memchr(c->in.p, '\n', c->in.len) : NULL;
		char *line;
		size_t n;

		if (!nl) {
			if (c->in.len > KD_REQ_MAX) {
				kiln_err(EMSGSIZE, "request longer than %d bytes", KD_REQ_MAX);
				reply_err(c);
				c->close_after = 1;
			}
			break;
		}
		n = (size_t)(nl - c->in.p);
		line = strndup((const char *)c->in.p, n);
		kiln_bytebuf_drop(&c->in, n + 1);
		if (line)
			handle_line(d, c, line, n);
		free(line);
	}
	c->dispatching = 0;
}

/*
 * Buffer request bytes. The limit holds in every mode: while a "logs" or
 * "stop" runs nothing is parsed, so without it a client could grow this
 * buffer without bound. Over it: one error line, the request in progress
 * ends, and the connection closes once the error is out.
 */
static int in_add(struct kd_conn *c, const char *buf, size_t n)
{
	if (c->in.len + n <= KD_REQ_MAX + 1 &&
	    kiln_bytebuf_add(&c->in, buf, n, KD_REQ_MAX + 1) == 0)
		return 0;
	free(c->in.p);
	memset(&c->in, 0, sizeof(c->in));
	c->mode = KD_IDLE; /* no more records or outcome after the error */
	c->follow = 0;
	kiln_err(EMSGSIZE, "request longer than %d bytes", KD_REQ_MAX);
	reply_err(c);
	c->close_after = 1;
	return -EMSGSIZE;
}

static void on_client(struct kd *d, struct kd_watch *w, uint32_t events)
{
	struct kd_conn *c = (struct kd_conn *)w;
	char buf[8192];
	ssize_t n;

	if (events & EPOLLIN) {
		n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			/* The client is gone: a half-closed one still gets its answer. */
			if (c->mode == KD_IDLE && !c->out.len) {
				kd_conn_close(d, c);
				return;
			}
			c->rd_eof = 1;
		} else if (n > 0 && in_add(c, buf, (size_t)n) < 0) {
			pump(d, c); /* the error goes out, then the connection closes */
			return;
		}
		process_input(d, c);
	} else if (events & (EPOLLHUP | EPOLLERR)) {
		kd_conn_close(d, c);
		return;
	}
	pump(d, c);
}

#define ACCEPT_PAUSE_MS 200

static int64_t accept_resume_at; /* > 0: the listener is paused until then */

void kd_api_accept(struct kd *d, struct kd_watch *w, uint32_t events)
{
	int fd;

	while ((fd = kd_accept(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) != -EAGAIN) {
		if (fd == -EMFILE) {
			KD_LOG_RL("out of descriptors: a CLI connection was closed unserved");
			continue;
		}
		if (fd < 0) {
			/* Level-triggered: without a pause the loop would wake at once, forever. */
			KD_LOG_RL("accept on %s: %s; paused", d->sock_path, strerror(-fd));
			kd_watch_mod(d, w, 0);
			accept_resume_at = kd_mono_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		if (!kd_conn_new(d, fd, KD_CONN_CLIENT, on_client))
			KD_LOG_RL("cannot accept a CLI connection");
	}
}

void kd_api_tick(struct kd *d)
{
	if (accept_resume_at && kd_mono_ms() >= accept_resume_at) {
		accept_resume_at = 0;
		kd_watch_mod(d, &d->sock, EPOLLIN);
	}
}

/* ---- notifications from the enclave side ---- */

void kd_api_enclave_ended(struct kd *d, struct kd_enclave *e)
{
	for (struct kd_conn *c = d->conns; c; c = c->next) {
		if (c->dead || c->kind != KD_CONN_CLIENT || c->e != e)
			continue;
		if (c->mode == KD_STOPWAIT && kd_enclave_gone(e)) {
			queue(c, outcome(e, ok()));
			c->mode = KD_IDLE;
			process_input(d, c);
		}
		pump(d, c);
	}
}

void kd_api_push(struct kd *d, struct kd_enclave *e, const char *line, size_t n)
{
	for (struct kd_conn *c = d->conns; c; c = c->next) {
		if (c->dead || c->kind != KD_CONN_CLIENT || c->e != e || c->mode != KD_LOGS ||
		    !c->follow || !history_done(c))
			continue;
		if (c->out.len + n > KD_OUT_MAX || kiln_bytebuf_add(&c->out, line, n, SIZE_MAX) < 0) {
			kd_log("enclave %s: log follower %d MiB behind; dropped", e->name,
			       (int)(KD_OUT_MAX >> 20));
			kd_conn_close(d, c);
			continue;
		}
		pump(d, c);
	}
}

void kd_api_rotated(struct kd *d, struct kd_enclave *e, const char *path)
{
	for (struct kd_conn *c = d->conns; c; c = c->next)
		if (!c->dead && c->kind == KD_CONN_CLIENT && c->e == e && c->mode == KD_LOGS &&
		    !history_done(c))
			hist_add(c, path);
}

void kd_api_free_client(struct kd_conn *c)
{
	for (int i = 0; i < c->nhist; i++)
		if (c->hist[i])
			fclose(c->hist[i]);
	c->nhist = 0;
}
