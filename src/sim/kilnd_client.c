/* SPDX-License-Identifier: Apache-2.0 */
/* The sim's side of kilnd: start one when none serves, and register the enclave. */
#include "sim/sim.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kilnd/client.h"
#include "net/portmap.h"
#include "util/cleanup.h"

/*
 * kilnd's CLI protocol is one JSON object per line each way on
 * STATE/kilnd.sock (docs/protocol.md). The sim uses one request:
 *   {"op":"register","name":N,"mode":"sim","chan_dir":DIR,"cpus":C,
 *    "memory_mib":M,"eif":PATH,"pid":MONITOR_PID}
 *   -> {"ok":true,"id":ID,...} | {"ok":false,"error":MSG}
 * kilnd then listens on DIR/7000 and DIR/9000 and watches the pid. With
 * --channel vsock "cid":CID replaces "chan_dir" and kilnd listens on vsock
 * as for Nitro, knowing the enclave by that peer CID. The
 * request is built in build_register() and the reply read in parse_reply(),
 * so a protocol change touches one function each.
 */
#define REPLY_MAX (64 * 1024)
#define TIMEOUT_MS 5000

int kiln_sim_kilnd_socket(const char *state_dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/kilnd.sock", state_dir);

	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return kiln_err(ENAMETOOLONG, "kilnd socket path too long: %s/kilnd.sock",
				state_dir);
	return 0;
}

/* A connected socket, or -ENOENT / -ECONNREFUSED when no kilnd serves it. */
static int kilnd_connect(const char *state_dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int rc = kiln_sim_kilnd_socket(state_dir, sa.sun_path, sizeof(sa.sun_path));

	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kiln_err(errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return kiln_err(errno, "kilnd at %s: %s", sa.sun_path, strerror(errno));
	return KILN_STEAL_FD(fd);
}

/* "ports": [{host_ip, host_port, port}]; the specs were checked by the CLI. */
static int add_ports(json_t *o, const struct kiln_sim_register *r)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < r->n_ports; i++) {
		struct kiln_portmap m;

		if (kiln_portmap_parse(r->ports[i], &m) < 0 ||
		    json_array_append_new(a, kiln_portmap_to_json(&m)) < 0) {
			json_decref(a);
			return -EINVAL;
		}
	}
	return a ? json_object_set_new(o, "ports", a) : -ENOMEM;
}

/* "volumes": [{name, host, mode}]; checked by the CLI. */
static int add_volumes(json_t *o, const struct kiln_sim_register *r)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < r->n_volumes; i++)
		if (json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "name", r->vol_names[i], "host",
						       r->vol_hosts[i], "mode",
						       r->vol_plain && r->vol_plain[i] ? "plain"
										: "encrypted")) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
	return a ? json_object_set_new(o, "volumes", a) : -ENOMEM;
}

static json_t *build_register(const struct kiln_sim_register *r)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:I,s:b}", "op", "register", "name",
			      r->name, "mode", "sim", "cpus", (json_int_t)r->cpus, "memory_mib",
			      (json_int_t)r->memory_mib, "eif", r->eif, "pid", (json_int_t)r->pid,
			      "debug", r->debug);

	if (o)
		json_object_set_new(o, r->chan_dir ? "chan_dir" : "cid",
				    r->chan_dir ? json_string(r->chan_dir) : json_integer(r->cid));

	if (o && r->kill_signal)
		json_object_set_new(o, "kill_signal", json_integer(r->kill_signal));
	if (o && r->n_volumes && add_volumes(o, r) < 0) {
		json_decref(o);
		return NULL;
	}
	if (o && r->n_ports && add_ports(o, r) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int parse_reply(const char *line, char id[KILN_SIM_ID_LEN + 1])
{
	json_error_t jerr;
	json_t *o = json_loads(line, 0, &jerr);
	const char *msg = json_string_value(json_object_get(o, "error"));
	const char *got = json_string_value(json_object_get(o, "id"));
	int rc = 0;

	if (!json_is_object(o))
		rc = kiln_err(EPROTO, "kilnd: unreadable reply: %s", jerr.text);
	else if (!json_is_true(json_object_get(o, "ok")))
		rc = kiln_err(msg && (strstr(msg, "already") || strstr(msg, "in use")) ? EEXIST :
									      EINVAL,
			      "kilnd: %s", msg ? msg : "register refused");
	else if (!got || strlen(got) > KILN_SIM_ID_LEN)
		rc = kiln_err(EPROTO, "kilnd: reply has no valid \"id\"");
	else
		snprintf(id, KILN_SIM_ID_LEN + 1, "%s", got);
	json_decref(o);
	return rc;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return kiln_err(errno, "kilnd: send: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One reply line (without the '\n') into a malloc'd string. */
static int recv_line(int fd, char **out)
{
	_cleanup_free_ char *buf = malloc(REPLY_MAX + 1);
	size_t len = 0;

	if (!buf)
		return kiln_err(ENOMEM, "out of memory");
	while (len < REPLY_MAX) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		char *nl;

		if (poll(&p, 1, TIMEOUT_MS) == 0)
			return kiln_err(ETIMEDOUT, "kilnd did not answer within %d s",
					TIMEOUT_MS / 1000);
		n = recv(fd, buf + len, REPLY_MAX - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kiln_err(n ? errno : EPROTO, "kilnd closed the connection");
		len += (size_t)n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			*out = KILN_STEAL_PTR(buf);
			return 0;
		}
	}
	return kiln_err(EPROTO, "kilnd reply longer than %d bytes", REPLY_MAX);
}

int kiln_sim_kilnd_register_send(const char *state_dir, const struct kiln_sim_register *req)
{
	_cleanup_close_ int fd = kilnd_connect(state_dir);
	_cleanup_free_ char *text = NULL;
	json_t *o;
	int rc;

	if (fd < 0)
		return fd;
	o = build_register(req);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return kiln_err(ENOMEM, "kilnd: cannot encode the register request");
	rc = send_all(fd, text, strlen(text));
	if (rc == 0)
		rc = send_all(fd, "\n", 1);
	return rc < 0 ? rc : KILN_STEAL_FD(fd);
}

int kiln_sim_kilnd_register_recv(int fd, char id[KILN_SIM_ID_LEN + 1])
{
	_cleanup_free_ char *reply = NULL;
	int rc = recv_line(fd, &reply);

	close(fd);
	return rc < 0 ? rc : parse_reply(reply, id);
}

int kiln_sim_kilnd_register(const char *state_dir, const struct kiln_sim_register *req,
			    char id[KILN_SIM_ID_LEN + 1])
{
	int fd = kiln_sim_kilnd_register_send(state_dir, req);

	return fd < 0 ? fd : kiln_sim_kilnd_register_recv(fd, id);
}

/* kilnd_path, else kilnd beside this executable, else in PATH. */
static int find_kilnd(const char *kilnd_path, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n;
	const char *path = getenv("PATH");

	if (kilnd_path) {
		snprintf(out, len, "%s", kilnd_path);
		return access(out, X_OK) == 0 ? 0 : kiln_err(errno, "%s: %s", out, strerror(errno));
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		snprintf(out, len, "%s/kilnd", self);
		if (access(out, X_OK) == 0)
			return 0;
	}
	for (const char *p = path ? path : ""; *p;) {
		size_t m = strcspn(p, ":");

		snprintf(out, len, "%.*s/kilnd", (int)m, p);
		if (m && access(out, X_OK) == 0)
			return 0;
		p += m;
		p += *p == ':';
	}
	return kiln_err(ENOENT, "no kilnd executable found");
}

/* Start kilnd; it detaches by itself and its first process exits once it serves. */
static int spawn_kilnd(const char *exe, const char *state_dir)
{
	char *const argv[] = { (char *)exe, "--state-dir", (char *)state_dir, NULL };
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return kiln_err(errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* A daemon must not hold the caller's pipes open ($(kiln run) would hang). */
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execv(exe, argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return kiln_err(errno, "waitpid kilnd: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return kiln_err(EIO, "%s --state-dir %s failed to start (run it with "
				     "--foreground to see why)", exe, state_dir);
	return 0;
}

int kiln_sim_ensure_kilnd(const char *state_dir, const char *kilnd_path)
{
	char exe[PATH_MAX + 8];
	int fd = kilnd_connect(state_dir), rc;

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	rc = find_kilnd(kilnd_path, exe, sizeof(exe));
	if (rc == 0)
		rc = spawn_kilnd(exe, state_dir);
	if (rc < 0)
		return rc;
	fd = kilnd_connect(state_dir);
	if (fd < 0)
		return kiln_err_wrap(fd, "kilnd started but does not serve");
	close(fd);
	return 0;
}

int kiln_sim_kilnd_exited(const char *state_dir, const char *name, const char *id,
			  int wait_status)
{
	json_t *req = json_pack("{s:s,s:s,s:s}", "op", "exited", "name", name, "id", id), *reply;
	int rc;

	if (!req)
		return kiln_err(ENOMEM, "out of memory");
	if (WIFSIGNALED(wait_status))
		json_object_set_new(req, "signal", json_integer(WTERMSIG(wait_status)));
	else
		json_object_set_new(req, "exit_code", json_integer(WEXITSTATUS(wait_status)));
	rc = kilnd_client_call(state_dir, req, TIMEOUT_MS, &reply);
	json_decref(reply);
	return rc;
}
