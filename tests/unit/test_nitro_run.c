/* SPDX-License-Identifier: Apache-2.0 */
/* kiln run --nitro's wiring against a small fake device: the started hook, holding, signals. */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/nitro_enclaves.h>

#include "eif/writer.h"
#include "nitro/nitro.h"
#include "t.h"

#define MIB (UINT64_C(1) << 20)

/*
 * The fake: NE_CREATE_VM hands out the read end of a pipe as the enclave fd,
 * so that poll() on it works; closing the write end is "the enclave ended"
 * (POLLHUP). Only 2 MiB pages exist, unless a test limits them and offers
 * 1 GiB pages. The fake sysfs lists no sizes: every size nitro-cli tries is
 * asked for. Events are logged in order as letters:
 * S start, H started hook, A heartbeat accept, T enclave fd closed.
 * The fake kilnd below may end the enclave too, from its thread: the write
 * end is taken with an atomic exchange so that it is closed once.
 */
struct fake {
	char events[32];
	int enclave_rd, enclave_wr;
	uint64_t hook_cid;
	int hook_rc;
	int end_at_heartbeat;	/* 1: close the write end; 2: queue a SIGTERM;
				 * 3: queue KILN_NITRO_KILL_SIGNAL */
	int maps;
	int max_2m;		/* > 0: 2 MiB pages in the pool */
	int used_2m;
	bool pages_1g;		/* 1 GiB pages exist too */
};

static struct fake F;

static void ev(char c)
{
	size_t n = strlen(F.events);

	if (n + 1 < sizeof(F.events))
		F.events[n] = c;
}

static int f_open(void *ctx, int *fd)
{
	*fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return *fd < 0 ? -errno : 0;
}

static int f_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	int p[2];

	switch (req) {
	case NE_CREATE_VM:
		if (pipe2(p, O_CLOEXEC) < 0)
			return -errno;
		F.enclave_rd = p[0];
		F.enclave_wr = p[1];
		*(uint64_t *)arg = 7;
		return p[0];
	case NE_GET_IMAGE_LOAD_INFO:
		((struct ne_image_load_info *)arg)->memory_offset = 2 * MIB;
		return 0;
	case NE_START_ENCLAVE:
		ev('S');
		((struct ne_enclave_start_info *)arg)->enclave_cid = 17;
		return 0;
	default:
		return 0;
	}
}

static int f_map(void *ctx, uint64_t size, void **addr)
{
	void *p;

	if (size == KILN_NITRO_PAGE_2M && F.max_2m && F.used_2m == F.max_2m)
		return -ENOMEM;
	if (size != KILN_NITRO_PAGE_2M && !(size == KILN_NITRO_PAGE_1G && F.pages_1g))
		return -ENOMEM;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	F.used_2m += size == KILN_NITRO_PAGE_2M;
	F.maps++;
	*addr = p;
	return 0;
}

static int f_unmap(void *ctx, void *addr, uint64_t len)
{
	F.maps--;
	return munmap(addr, len) < 0 ? -errno : 0;
}

/* "The enclave halted": its fd polls POLLHUP. */
static void enclave_halt(void)
{
	int wr = __atomic_exchange_n(&F.enclave_wr, -1, __ATOMIC_SEQ_CST);

	if (wr >= 0)
		close(wr);
}

static int f_close(void *ctx, int fd)
{
	if (fd == F.enclave_rd) {
		ev('T');
		enclave_halt();
	}
	return close(fd) < 0 ? -errno : 0;
}

static int f_listen(void *ctx, uint32_t cid, uint32_t port, int *fd)
{
	return f_open(ctx, fd);
}

static int f_accept(void *ctx, int lfd, int timeout_ms, int *fd, uint32_t *peer)
{
	ev('A');
	*peer = 17;
	return f_open(ctx, fd);
}

static int f_connect(void *ctx, uint32_t cid, uint32_t port, int timeout_ms, int *fd)
{
	return -ECONNREFUSED;
}

static ssize_t f_read(void *ctx, int fd, void *buf, size_t len, int timeout_ms)
{
	*(uint8_t *)buf = KILN_NITRO_HEARTBEAT_BYTE;
	if (F.end_at_heartbeat == 1)
		enclave_halt();
	else if (F.end_at_heartbeat == 2)
		kill(getpid(), SIGTERM); /* blocked by kiln_nitro_run: stays pending */
	else if (F.end_at_heartbeat == 3)
		kill(getpid(), KILN_NITRO_KILL_SIGNAL);
	return 1;
}

static ssize_t f_write(void *ctx, int fd, const void *buf, size_t len)
{
	return (ssize_t)len;
}

static uint64_t f_now(void *ctx)
{
	return 1000;
}

static const struct kiln_nitro_ops fake_ops = {
	.sysfs = "/nonexistent/kiln-test-sysfs",
	.open_dev = f_open, .ioctl = f_ioctl, .map_hugepage = f_map, .unmap = f_unmap,
	.close = f_close, .vsock_listen = f_listen, .vsock_accept = f_accept,
	.vsock_connect = f_connect, .read = f_read, .write = f_write, .now_ms = f_now,
};

static char eif_path[64];

static void fake_reset(void)
{
	memset(&F, 0, sizeof(F));
	F.enclave_rd = F.enclave_wr = -1;
}

static int hook(void *arg, const struct kiln_nitro_enclave *enc)
{
	ev('H');
	F.hook_cid = enc->cid;
	return F.hook_rc ? kiln_err(-F.hook_rc, "kilnd: name x is in use") : 0;
}

TEST(started_hook_before_heartbeat)
{
	struct kiln_nitro_launch req = { .eif_path = eif_path, .memory_mib = 8, .cpus = 1,
					 .started = hook };
	struct kiln_nitro_enclave enc;

	fake_reset();
	CHECK(kiln_nitro_launch(&fake_ops, &req, &enc) == 0);
	CHECK(!strcmp(F.events, "SHA"));
	CHECK(F.hook_cid == 17 && enc.cid == 17);
	CHECK(kiln_nitro_terminate(&enc) == 0);
	CHECK(F.maps == 0);
}

TEST(started_hook_failure_terminates)
{
	struct kiln_nitro_launch req = { .eif_path = eif_path, .memory_mib = 8, .cpus = 1,
					 .started = hook };
	struct kiln_nitro_enclave enc;

	fake_reset();
	F.hook_rc = -EEXIST;
	CHECK_ERR(kiln_nitro_launch(&fake_ops, &req, &enc),
		  "enclave CID 17 was terminated: kilnd: name x is in use");
	CHECK(!strcmp(F.events, "SHT")); /* no heartbeat wait; the enclave fd closed */
	CHECK(F.maps == 0 && enc.enclave_fd == -1);
}

TEST(run_holds_until_the_enclave_ends)
{
	struct kiln_nitro_run r = { .eif_path = eif_path, .name = "n1", .report_fd = -1 };

	fake_reset();
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0); /* no kilnd: exit code unknown, 0 */
	CHECK(!strcmp(F.events, "SAT"));
	CHECK(F.maps == 0);
}

TEST(run_sigterm_terminates)
{
	struct kiln_nitro_run r = { .eif_path = eif_path, .name = "n2", .report_fd = -1 };
	int p[2];
	char buf[32] = "";

	fake_reset();
	F.end_at_heartbeat = 2;
	CHECK(pipe(p) == 0);
	r.report_fd = p[1];
	CHECK(kiln_nitro_run(&fake_ops, &r) == 128 + SIGTERM);
	CHECK(read(p[0], buf, sizeof(buf) - 1) > 0 && !strcmp(buf, "ok -\n"));
	close(p[0]);
	CHECK(!strcmp(F.events, "SAT"));
	CHECK(F.maps == 0);
}

TEST(run_errors)
{
	struct kiln_nitro_run r = { .eif_path = "/nonexistent.eif", .name = "n3",
				    .report_fd = -1 };
	char bad[80];
	int fd;

	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "EIF /nonexistent.eif: not found");
	snprintf(bad, sizeof(bad), "%s.bad", eif_path);
	fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, ".eif", 4) == 4);
	close(fd);
	r.eif_path = bad;
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "corrupt EIF");
	unlink(bad);
	/* --memory is rounded up to whole 2 MiB pages, then checked by the launch. */
	r.eif_path = eif_path;
	r.memory_mib = 1;
	fake_reset();
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "EIF does not fit: load offset 2097152");
	CHECK(!strchr(F.events, 'S')); /* never started */
}

/*
 * A fake kilnd on STATE/kilnd.sock, in a thread: one connection at a time,
 * one request line each (as kiln_nitro_run makes them). It records what it
 * was asked and answers from a script:
 *   register  -> ok with id "0123456789ab", or {"ok":false,"error":reg_error}
 *   ps        -> this enclave once registered (state running, "connected"),
 *                else one named `other_name` in state `other_state`
 *   heartbeat -> ok
 *   logs      -> ok, the script's records, then the end record
 *                {"end":true,"exit_code":end_code} and close (end_code
 *                -1: close without one; end_on_stop: keep the stream open
 *                until a stop, whose end record carries its signal)
 *   stop      -> the end record on the open log stream; the enclave halts
 */
#define FK_ID "0123456789ab"

struct fake_kilnd {
	char dir[64];
	int lfd;
	pthread_t th;
	/* script */
	const char *reg_error;
	const char *other_name, *other_state;
	bool connected;
	const char *records;	/* JSON lines sent on every log stream */
	int end_code;
	bool end_on_stop;
	/* seen */
	json_t *reg;
	char ops[256];
	int logs_opens;
	json_int_t last_since;
	int stop_signal;
	int logs_fd;
	bool registered;
};

static struct fake_kilnd K;

static void k_send(int fd, const char *text)
{
	size_t n = strlen(text);

	while (n) {
		ssize_t w = send(fd, text, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		text += w;
		n -= (size_t)w;
	}
}

static void k_send_json(int fd, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	if (text) {
		k_send(fd, text);
		k_send(fd, "\n");
	}
	free(text);
}

static json_t *k_read(int fd)
{
	char buf[65536];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, 1);

		if (n <= 0)
			return NULL;
		if (buf[len] == '\n')
			return json_loadb(buf, len, 0, NULL);
		len++;
	}
	return NULL;
}

static void k_op(const char *op)
{
	size_t n = strlen(K.ops);

	snprintf(K.ops + n, sizeof(K.ops) - n, "%s%s", n ? " " : "", op);
}

/* Returns 1 when fd was kept (the open log stream). */
static int k_handle(int fd, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op")) ?: "?";
	json_t *list;

	k_op(op);
	if (!strcmp(op, "register")) {
		K.reg = json_incref(req);
		K.registered = !K.reg_error;
		k_send_json(fd, K.reg_error ? json_pack("{s:b,s:s}", "ok", 0, "error", K.reg_error)
					    : json_pack("{s:b,s:s,s:s}", "ok", 1, "name", "x",
							"id", FK_ID));
	} else if (!strcmp(op, "ps")) {
		list = json_array();
		if (K.registered)
			json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:b,s:n,s:n}", "name",
				json_string_value(json_object_get(K.reg, "name")), "id", FK_ID,
				"state", "running", "connected", K.connected, "exit_code",
				"signal"));
		else if (K.other_name)
			json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "name", K.other_name,
							      "id", "feedfeedfeed", "state",
							      K.other_state));
		k_send_json(fd, json_pack("{s:b,s:o}", "ok", 1, "enclaves", list));
	} else if (!strcmp(op, "logs")) {
		K.logs_opens++;
		K.last_since = json_integer_value(json_object_get(req, "since"));
		k_send_json(fd, json_pack("{s:b}", "ok", 1));
		k_send(fd, K.records ? K.records : "");
		if (K.end_on_stop) {
			K.logs_fd = fd;
			return 1;
		}
		if (K.end_code >= 0)
			k_send_json(fd, json_pack("{s:b,s:s,s:i}", "end", 1, "state", "exited",
						  "exit_code", K.end_code));
	} else if (!strcmp(op, "stop")) {
		K.stop_signal = (int)json_integer_value(json_object_get(req, "signal"));
		if (K.logs_fd >= 0) {
			k_send_json(K.logs_fd, json_pack("{s:b,s:s,s:n,s:i}", "end", 1, "state",
							 "exited", "exit_code", "signal",
							 K.stop_signal));
			close(K.logs_fd);
			K.logs_fd = -1;
		}
		enclave_halt(); /* kiln-init exited after the app: the VM reboots */
	} else {
		k_send_json(fd, json_pack("{s:b}", "ok", 1));
	}
	return 0;
}

static void *k_main(void *arg)
{
	int fd;

	while ((fd = accept4(K.lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		json_t *req = k_read(fd);

		if (!req || !k_handle(fd, req))
			close(fd);
		json_decref(req);
	}
	return NULL;
}

static void kilnd_start(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	sigset_t all, old;

	memset(&K, 0, sizeof(K));
	K.logs_fd = -1;
	snprintf(K.dir, sizeof(K.dir), "/tmp/kiln-nitro-kd-%d", (int)getpid());
	mkdir(K.dir, 0700);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/kilnd.sock", K.dir);
	unlink(sa.sun_path);
	K.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (K.lfd < 0 || bind(K.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(K.lfd, 8) < 0) {
		perror("fake kilnd");
		exit(1);
	}
	/* The test queues signals for kiln_nitro_run's signalfd: never for this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_create(&K.th, NULL, k_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void kilnd_stop(void)
{
	char path[128];

	shutdown(K.lfd, SHUT_RDWR); /* wakes accept() */
	pthread_join(K.th, NULL);
	close(K.lfd);
	if (K.logs_fd >= 0)
		close(K.logs_fd);
	json_decref(K.reg);
	K.reg = NULL;
	snprintf(path, sizeof(path), "%s/kilnd.sock", K.dir);
	unlink(path);
	rmdir(K.dir);
}

/* A fresh fake device and a fresh fake kilnd, whose state directory r uses. */
static void fresh_with_kilnd(struct kiln_nitro_run *r)
{
	fake_reset();
	kilnd_start();
	r->state_dir = K.dir;
}

/* What a FILE got, as a string (static). */
static const char *contents(FILE *f)
{
	static char buf[4][256];
	static int i;
	char *b = buf[i++ % 4];
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(b, 1, sizeof(buf[0]) - 1, f);
	b[n] = '\0';
	return b;
}

static char eif_ingress_path[80];
static char eif_p_path[80];	/* admits 80 and 90 (network.ingress without host ports) */
static char eif_v_path[80];	/* mounts /data and /var/lib (storage) */

static bool json_eq_text(json_t *j, const char *text)
{
	json_t *want = json_loads(text, 0, NULL);
	bool eq = want && json_equal(j, want);

	if (!eq) {
		char *got = json_dumps(j, JSON_COMPACT);

		fprintf(stderr, "    got  %s\n    want %s\n", got ? got : "(null)", text);
		free(got);
	}
	json_decref(want);
	return eq;
}

/* -p mappings become the "ports" of the nitro registration, with its CID and pid. */
TEST(register_sends_cid_and_published_ports)
{
	static const char *const ports[] = { "127.0.0.1:8080:80", "9090:90" };
	struct kiln_nitro_run r = { .eif_path = eif_p_path, .name = "web",
				    .report_fd = -1, .ports = ports, .n_ports = 2 };

	fresh_with_kilnd(&r);
	K.end_code = 0;
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0);
	CHECK(!strcmp(K.ops, "ps register heartbeat logs"));
	CHECK(json_eq_text(json_object_get(K.reg, "ports"),
			   "[{\"host_ip\":\"127.0.0.1\",\"host_port\":8080,\"port\":80},"
			   "{\"host_ip\":null,\"host_port\":9090,\"port\":90}]"));
	CHECK(!strcmp(json_string_value(json_object_get(K.reg, "mode")) ?: "", "nitro"));
	CHECK(json_integer_value(json_object_get(K.reg, "cid")) == 17);
	CHECK(json_integer_value(json_object_get(K.reg, "pid")) == getpid());
	CHECK(json_integer_value(json_object_get(K.reg, "kill_signal")) == KILN_NITRO_KILL_SIGNAL);
	CHECK(!json_object_get(K.reg, "chan_dir"));
	kilnd_stop();
}

/* -v volumes go to kilnd as the registration's "volumes" (served on vsock 7003 by CID). */
TEST(register_sends_volumes)
{
	static const char *const names[] = { "data", "var-lib" };
	static const char *const hosts[] = { "/srv/a", "/srv/b" };
	static const bool plain[] = { false, true };
	struct kiln_nitro_run r = { .eif_path = eif_v_path, .name = "vol", .report_fd = -1,
				    .vol_names = names, .vol_hosts = hosts, .vol_plain = plain,
				    .n_volumes = 2 };

	fresh_with_kilnd(&r);
	K.end_code = 0;
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0);
	CHECK(json_eq_text(json_object_get(K.reg, "volumes"),
			   "[{\"name\":\"data\",\"host\":\"/srv/a\",\"mode\":\"encrypted\"},"
			   "{\"name\":\"var-lib\",\"host\":\"/srv/b\",\"mode\":\"plain\"}]"));
	kilnd_stop();
	/* Without kilnd nothing would serve them: refused before the launch. */
	r.state_dir = NULL;
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "-v needs kilnd");
	/* A volume the EIF's config does not mount: refused before anything starts. */
	fresh_with_kilnd(&r);
	r.eif_path = eif_path;
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r),
		  "-v: the EIF's config mounts no storage volume \"data\"");
	CHECK(!strcmp(K.ops, ""));
	kilnd_stop();
}

/*
 * The memory the enclave has is what kilnd records (ps): 512 MiB asked, ten
 * 2 MiB pages and then a 1 GiB page taken, the ten given back: 1024 MiB,
 * as nitro-cli reports its allocated_memory_mib.
 */
TEST(register_reports_the_memory_the_enclave_has)
{
	struct kiln_nitro_run r = { .eif_path = eif_path, .name = "mem", .report_fd = -1,
				    .memory_mib = 512, .cpus = 2 };

	fresh_with_kilnd(&r);
	F.max_2m = 10;
	F.pages_1g = true;
	K.end_code = 0;
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0);
	CHECK(json_integer_value(json_object_get(K.reg, "memory_mib")) == 1024);
	CHECK(json_integer_value(json_object_get(K.reg, "cpus")) == 2);
	CHECK(F.maps == 0);
	kilnd_stop();
	/* all 2 MiB pages there: what was asked */
	fresh_with_kilnd(&r);
	K.end_code = 0;
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0);
	CHECK(json_integer_value(json_object_get(K.reg, "memory_mib")) == 512);
	kilnd_stop();
}

/* Without -p, the EIF config's network.ingress host ports are published (as the sim). */
TEST(register_publishes_eif_ingress)
{
	struct kiln_nitro_run r = { .eif_path = eif_ingress_path, .name = "web", .report_fd = -1 };

	fresh_with_kilnd(&r);
	K.end_code = 0;
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0);
	CHECK(json_eq_text(json_object_get(K.reg, "ports"),
			   "[{\"host_ip\":null,\"host_port\":8443,\"port\":443},"
			   "{\"host_ip\":null,\"host_port\":80,\"port\":80}]"));
	kilnd_stop();
	/* An EIF without ingress: no "ports" at all. */
	fresh_with_kilnd(&r);
	r.eif_path = eif_path;
	K.end_code = 0;
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0);
	CHECK(K.reg && !json_object_get(K.reg, "ports"));
	kilnd_stop();
}

/* kilnd refusing a port: the enclave is terminated and kiln run fails with kilnd's line. */
TEST(port_conflict_fails_the_run)
{
	static const char *const ports[] = { "8080:80" };
	struct kiln_nitro_run r = { .eif_path = eif_p_path, .name = "web", .report_fd = -1,
				    .ports = ports, .n_ports = 1 };

	fresh_with_kilnd(&r);
	K.reg_error = "enclave web: port 8080 already in use (*:8080->80)";
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "kilnd: enclave web: port 8080 already in use");
	CHECK(!strcmp(F.events, "ST")); /* started, terminated: no heartbeat awaited */
	CHECK(F.maps == 0);
	CHECK(!strcmp(K.ops, "ps register"));
	kilnd_stop();
	/* Another refusal without ports: the enclave runs without kilnd (as the sim). */
	fresh_with_kilnd(&r);
	r.n_ports = 0;
	K.reg_error = "register: \"cpus\" must be an integer in [1, 1024]";
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0);
	CHECK(!strcmp(F.events, "SAT"));
	CHECK(!strcmp(K.ops, "ps register")); /* no heartbeat op, no log stream */
	kilnd_stop();
}

TEST(refusals_before_the_launch)
{
	static const char *const ports[] = { "8080:80" };
	struct kiln_nitro_run r = { .eif_path = eif_path, .name = "web", .report_fd = -1 };

	fresh_with_kilnd(&r);
	K.other_name = "web";
	K.other_state = "running";
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "name web is in use by a running enclave");
	K.other_state = "exited"; /* a finished one is replaced by kilnd */
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0);
	kilnd_stop();
	fake_reset();
	r.name = "bad/name";
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "character 4 not allowed");
	r.name = "web";
	r.state_dir = NULL;
	r.ports = ports;
	r.n_ports = 1;
	r.eif_path = eif_p_path;
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "published ports (-p) need kilnd");
	r.n_ports = 0;
	r.eif_path = eif_ingress_path;
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "(the EIF's network.ingress) need kilnd");
	CHECK(F.events[0] == '\0'); /* nothing was ever started */
}

/*
 * -p to a port the EIF does not admit (issue 10: the parent reaching
 * kiln-init's attestation API on 50123) fails before anything starts,
 * naming the port and what is admitted.
 */
TEST(unadmitted_port_refused_before_the_launch)
{
	static const char *const attack[] = { "80:80", "18099:50123" };
	static const char *const other[] = { "8080:8080" };
	struct kiln_nitro_run r = { .eif_path = eif_p_path, .name = "web", .report_fd = -1,
				    .ports = attack, .n_ports = 2 };

	fresh_with_kilnd(&r);
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r),
		  "-p *:18099->50123: the enclave does not admit port 50123 (admitted: 80, 90 "
		  "(network.ingress)); it is kiln-init's own");
	r.ports = other;
	r.n_ports = 1;
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "does not admit port 8080 (admitted: 80, 90");
	/* No kiln config recorded at all: no port is known to be admitted. */
	r.eif_path = eif_path;
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "the EIF records no kiln config");
	CHECK(F.events[0] == '\0'); /* nothing was ever started */
	CHECK(!K.reg);
	kilnd_stop();
}

/* Foreground: the app's lines go to out/err; its exit code is the run's. */
TEST(foreground_streams_logs_and_exit_code)
{
	struct kiln_nitro_run r = { .eif_path = eif_path, .name = "app", .report_fd = -1 };

	fresh_with_kilnd(&r);
	r.out = tmpfile();
	r.err = tmpfile();
	K.records = "{\"ts\":10,\"stream\":\"kilnd\",\"event\":\"hello\",\"line\":\"hello\"}\n"
		    "{\"ts\":10,\"seq\":1,\"stream\":\"kiln-init\",\"line\":\"kiln-init: go\"}\n"
		    "{\"ts\":11,\"seq\":1,\"stream\":\"stdout\",\"line\":\"hello\"}\n"
		    "{\"ts\":12,\"seq\":2,\"stream\":\"stderr\",\"line\":\"oo\",\"partial\":true}\n"
		    "{\"ts\":13,\"seq\":3,\"stream\":\"stderr\",\"line\":\"ps\"}\n"
		    "{\"ts\":14,\"seq\":4,\"stream\":\"stdout\",\"line\":\"bye\"}\n";
	K.end_code = 3;
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 3);
	CHECK(!strcmp(contents(r.out), "hello\nbye\n"));
	CHECK(!strcmp(contents(r.err), "kiln-init: go\noops\n"));
	CHECK(K.logs_opens == 1 && K.last_since == 0);
	CHECK(F.maps == 0);
	fclose(r.out);
	fclose(r.err);
	kilnd_stop();
}

/* kilnd closing the stream without an end: resumed after the last line seen,
 * then, with no outcome anywhere, a clear error (not a made-up exit code). */
TEST(halt_without_status_is_an_error)
{
	struct kiln_nitro_run r = { .eif_path = eif_path, .name = "app", .report_fd = -1 };

	fresh_with_kilnd(&r);
	K.records = "{\"ts\":41,\"seq\":1,\"stream\":\"stdout\",\"line\":\"x\"}\n";
	K.end_code = -1;
	F.end_at_heartbeat = 1;
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r),
		  "enclave app ended without reporting the app's exit status");
	CHECK(K.logs_opens > 1 && K.last_since == 42);
	kilnd_stop();
}

/* A signal becomes a kilnd stop with that signal; the app's outcome is the run's. */
TEST(signal_stops_the_app_through_kilnd)
{
	struct kiln_nitro_run r = { .eif_path = eif_path, .name = "app", .report_fd = -1 };

	fresh_with_kilnd(&r);
	K.connected = true;
	K.end_on_stop = true;
	F.end_at_heartbeat = 2;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 128 + SIGTERM);
	CHECK(K.stop_signal == SIGTERM);
	CHECK(!strcmp(K.ops, "ps register heartbeat logs ps stop"));
	CHECK(!strcmp(F.events, "SAT"));
	kilnd_stop();
	/* No control channel: nobody can signal the app, so the enclave goes at once. */
	fresh_with_kilnd(&r);
	K.connected = false;
	K.end_on_stop = true;
	F.end_at_heartbeat = 2;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 128 + SIGTERM);
	CHECK(!strstr(K.ops, "stop"));
	kilnd_stop();
	/* kilnd's stop timeout: terminated at once, as the sim's SIGKILL. */
	fresh_with_kilnd(&r);
	K.connected = true;
	K.end_on_stop = true;
	F.end_at_heartbeat = 3;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 128 + SIGKILL);
	CHECK(!strstr(K.ops, "stop") && !strcmp(F.events, "SAT"));
	kilnd_stop();
}

/* -d: notices and "ok ID" through the report pipe, which is closed afterwards. */
TEST(detached_report)
{
	struct kiln_nitro_run r = { .eif_path = eif_path, .name = "app" };
	char buf[256] = "";
	int p[2];

	fresh_with_kilnd(&r);
	K.end_code = 0;
	F.end_at_heartbeat = 1;
	CHECK(pipe(p) == 0);
	r.report_fd = p[1];
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0);
	CHECK(read(p[0], buf, sizeof(buf) - 1) > 0 && !strcmp(buf, "ok " FK_ID "\n"));
	CHECK(read(p[0], buf, sizeof(buf)) == 0); /* closed: the parent's read ends */
	close(p[0]);
	kilnd_stop();
	/* A failure before "ok" is reported as "error MSG". */
	fake_reset();
	r.name = "bad/name";
	CHECK(pipe(p) == 0);
	r.report_fd = p[1];
	CHECK(kiln_nitro_run(&fake_ops, &r) < 0);
	memset(buf, 0, sizeof(buf));
	CHECK(read(p[0], buf, sizeof(buf) - 1) > 0 && !strncmp(buf, "error enclave name", 18));
	CHECK(read(p[0], buf, sizeof(buf)) == 0);
	close(p[0]);
}

static int make_eif(const char *path, const char *metadata)
{
	static const char kernel[4096], cmdline[] = "console=ttyS0";
	static uint8_t ramdisk[8192];
	struct eif_writer *w = NULL;
	int rc = eif_writer_open(path, &w);

	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_KERNEL, kernel, sizeof(kernel));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_CMDLINE, cmdline, strlen(cmdline));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_METADATA, metadata, strlen(metadata));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_RAMDISK, ramdisk, sizeof(ramdisk));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_RAMDISK, ramdisk, sizeof(ramdisk));
	if (rc == 0)
		rc = eif_writer_commit(w, 8 * MIB, 1, 0, NULL);
	eif_writer_free(w);
	return rc;
}

int main(void)
{
	int rc;

	snprintf(eif_path, sizeof(eif_path), "/tmp/kiln-nitro-run-%d.eif", (int)getpid());
	snprintf(eif_ingress_path, sizeof(eif_ingress_path), "/tmp/kiln-nitro-run-%d-in.eif",
		 (int)getpid());
	snprintf(eif_p_path, sizeof(eif_p_path), "/tmp/kiln-nitro-run-%d-p.eif", (int)getpid());
	snprintf(eif_v_path, sizeof(eif_v_path), "/tmp/kiln-nitro-run-%d-v.eif", (int)getpid());
	if (make_eif(eif_path, "{}") < 0 ||
	    make_eif(eif_ingress_path, "{\"KilnConfig\":{\"network\":{\"ingress\":["
				       "{\"port\":443,\"host_port\":8443},{\"port\":80,"
				       "\"host_port\":80},{\"port\":0}]}}}") < 0 ||
	    make_eif(eif_p_path, "{\"KilnConfig\":{\"network\":{\"ingress\":["
				 "{\"port\":80},{\"port\":90}]}},\"KilnExposedPorts\":[8080]}") < 0 ||
	    make_eif(eif_v_path, "{\"KilnConfig\":{\"storage\":[{\"path\":\"/data\"},"
				 "{\"path\":\"/var/lib\"}]}}") < 0) {
		fprintf(stderr, "cannot build the test EIF: %s\n", kiln_errmsg());
		return 1;
	}
	RUN(started_hook_before_heartbeat);
	RUN(started_hook_failure_terminates);
	RUN(run_holds_until_the_enclave_ends);
	RUN(run_sigterm_terminates);
	RUN(run_errors);
	RUN(register_sends_cid_and_published_ports);
	RUN(register_sends_volumes);
	RUN(register_publishes_eif_ingress);
	RUN(register_reports_the_memory_the_enclave_has);
	RUN(port_conflict_fails_the_run);
	RUN(refusals_before_the_launch);
	RUN(unadmitted_port_refused_before_the_launch);
	RUN(foreground_streams_logs_and_exit_code);
	RUN(halt_without_status_is_an_error);
	RUN(signal_stops_the_app_through_kilnd);
	RUN(detached_report);
	rc = t_done();
	unlink(eif_path);
	unlink(eif_ingress_path);
	unlink(eif_p_path);
	unlink(eif_v_path);
	return rc;
}
