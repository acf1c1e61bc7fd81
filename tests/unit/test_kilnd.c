/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd internals: register validation, state persistence round trip, UTF-8 repair. */
#include "t.h"

#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kd_fixture.h"
#include "kilnd/internal.h"
#include "kilnd/net.h"
#include "sim/sim.h"
#include "util/state_dir.h"

static char tmp[64];

static void setup(struct kd *d)
{
	kd_fixture_setup(d, tmp);
}

static void teardown(struct kd *d)
{
	kd_fixture_teardown(d);
}

/* Register from a JSON text built with printf (the channel dir is passed as %s). */
static int KILN_PRINTF(3, 4) reg(struct kd *d, struct kd_enclave **e, const char *fmt, ...)
{
	char buf[1024];
	json_t *req;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	req = json_loads(buf, 0, NULL);
	if (!req)
		return kiln_err(EINVAL, "test JSON: %s", buf);
	rc = kd_enclave_register(d, req, e);
	json_decref(req);
	return rc;
}

TEST(register_validation)
{
	struct kd d;
	struct kd_enclave *e = NULL;

	setup(&d);
	CHECK_ERR(reg(&d, &e, "{\"op\":\"register\",\"mode\":\"sim\",\"chan_dir\":\"%s\"}", tmp),
		  "\"name\" (a string) is required");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"-x\",\"mode\":\"sim\",\"chan_dir\":\"%s\"}", tmp),
		  "character 1 not allowed");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"qemu\",\"chan_dir\":\"%s\"}", tmp),
		  "\"mode\" must be \"sim\" or \"nitro\"");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"chan_dir\":\"%s\"}", tmp), "\"mode\" must be");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"chan_dir\":\"rel%s\"}", tmp),
		  "absolute path");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"chan_dir\":\"%s\",\"cid\":5}", tmp),
		  "sim mode takes \"chan_dir\" or \"cid\", not both");
	/* sim by cid (--channel vsock, the guest lab): CID 1 and up. */
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"cid\":0}"),
		  "\"cid\" must be an integer in [1,");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"cid\":\"1\"}"),
		  "\"cid\" must be an integer");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"nitro\",\"cid\":3}"),
		  "\"cid\" must be an integer in [4,");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"nitro\",\"cid\":\"5\"}"),
		  "\"cid\" must be an integer");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"nitro\",\"cid\":5,\"chan_dir\":\"%s\"}", tmp),
		  "\"chan_dir\" is for sim mode");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"chan_dir\":\"%s\",\"cpus\":0}", tmp),
		  "\"cpus\" must be an integer in [1,");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"chan_dir\":\"%s\",\"pid\":-4}", tmp),
		  "\"pid\" must be");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"chan_dir\":\"%s\",\"eif\":1}", tmp),
		  "\"eif\" must be a string");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"chan_dir\":\"%s\",\"x\":1}", tmp),
		  "unknown key \"x\"");
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"chan_dir\":\"%s\","
			      "\"pid\":2147483647}", tmp),
		  "is not running");
	CHECK(d.enclaves == NULL);
	CHECK(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"chan_dir\":\"%s\",\"cpus\":2}", tmp) == 0);
	CHECK_ERR(reg(&d, &e, "{\"name\":\"a\",\"mode\":\"sim\",\"chan_dir\":\"%s\"}", tmp),
		  "name a is in use by a running enclave (starting");
	teardown(&d);
}

TEST(state_roundtrip)
{
	struct kd d, d2;
	struct kd_enclave *e = NULL, *r;
	char p[PATH_MAX + 64];

	setup(&d);
	CHECK(reg(&d, &e, "{\"name\":\"web.1\",\"mode\":\"sim\",\"chan_dir\":\"%s\",\"cpus\":4,"
		      "\"memory_mib\":2048,\"eif\":\"/x/app.eif\",\"pid\":1}", tmp) == 0);
	if (!e) {
		teardown(&d);
		return;
	}
	e->last_seq = 77;
	e->exit_code = 3;
	kd_enclave_set_state(&d, e, KD_EXITED);
	snprintf(p, sizeof(p), "%s/enclaves/web.1.json.tmp", d.state_dir);
	CHECK(access(p, F_OK) < 0); /* written atomically: no tmp left */
	setup(&d2);
	/* Debris in the directory is skipped with a message, not fatal. */
	snprintf(p, sizeof(p), "%s/enclaves/other.json", d.state_dir);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs("{\"name\":\"web.1\"}", f);
		fclose(f);
	}
	CHECK(kd_enclave_load_all(&d2) == 0);
	r = kd_enclave_find(&d2, "web.1");
	CHECK(r && !strcmp(r->id, e->id) && r->state == KD_EXITED && r->exit_code == 3 &&
	      r->last_seq == 77 && r->cpus == 4 && r->memory_mib == 2048 && r->pid == 1 &&
	      r->eif && !strcmp(r->eif, "/x/app.eif") && !strcmp(r->chan_dir, tmp));
	CHECK(kd_enclave_find(&d2, "other") == NULL);
	unlink(p);
	CHECK(kd_enclave_forget(&d2, r) == 0);
	teardown(&d2);
	teardown(&d);
}

/* A nitro registration keeps its CID, published ports and debug flag across a reload. */
TEST(nitro_ports_roundtrip)
{
	static const char ports[] = "[{\"host_ip\":\"127.0.0.1\",\"host_port\":8080,\"port\":80},"
				    "{\"host_ip\":null,\"host_port\":8443,\"port\":443}]";
	struct kd d, d2;
	struct kd_enclave *e = NULL, *r;
	json_t *want = json_loads(ports, 0, NULL), *o;
	int rc;

	setup(&d);
	CHECK_ERR(reg(&d, &e, "{\"name\":\"n1\",\"mode\":\"nitro\",\"cid\":9,\"ports\":"
			      "[{\"host_port\":80,\"port\":1},{\"host_port\":80,\"port\":2}]}"),
		  "host port 80 is mapped twice");
	rc = reg(&d, &e, "{\"name\":\"n1\",\"mode\":\"nitro\",\"cid\":9,\"debug\":true,"
			 "\"kill_signal\":36,\"ports\":%s}", ports);
	if (rc == -EAFNOSUPPORT) { /* kilnd's vsock listener: no AF_VSOCK in this kernel */
		fprintf(stderr, "  (no AF_VSOCK here: %s)\n", kiln_errmsg());
		json_decref(want);
		teardown(&d);
		return;
	}
	CHECK(rc == 0 && e);
	if (!e) {
		json_decref(want);
		teardown(&d);
		return;
	}
	o = kd_enclave_json(e);
	CHECK(json_equal(json_object_get(o, "ports"), want));
	CHECK(json_integer_value(json_object_get(o, "cid")) == 9 && !json_object_get(o, "chan_dir"));
	CHECK(!strcmp(json_string_value(json_object_get(o, "mode")) ?: "", "nitro"));
	json_decref(o);
	CHECK_ERR(reg(&d, &r, "{\"name\":\"n2\",\"mode\":\"nitro\",\"cid\":9}"),
		  "cid 9 is in use by enclave n1");
	kd_enclave_set_state(&d, e, KD_EXITED); /* a reload would not listen again */
	setup(&d2);
	CHECK(kd_enclave_load_all(&d2) == 0);
	r = kd_enclave_find(&d2, "n1");
	CHECK(r && r->nitro && r->cid == 9 && r->debug && r->kill_signal == 36 && !r->chan_dir[0]);
	o = r ? kd_enclave_json(r) : NULL;
	CHECK(o && json_equal(json_object_get(o, "ports"), want));
	json_decref(o);
	json_decref(want);
	teardown(&d2);
	teardown(&d);
}

static int bytes_are(const char *in, size_t n, const char *want)
{
	json_t *s = kd_json_bytes((const uint8_t *)in, n);
	int ok = s && json_string_length(s) == strlen(want) &&
		 !memcmp(json_string_value(s), want, strlen(want));

	if (!ok)
		fprintf(stderr, "got \"%s\"\n", s ? json_string_value(s) : "(null)");
	json_decref(s);
	return ok;
}

TEST(utf8_repair)
{
	json_t *s;

	CHECK(bytes_are("plain", 5, "plain"));
	CHECK(bytes_are("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5", 14,
			"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5"));
	CHECK(bytes_are("a\xff" "b", 3, "a\xef\xbf\xbd" "b"));
	CHECK(bytes_are("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"));	  /* overlong */
	CHECK(bytes_are("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd")); /* surrogate */
	CHECK(bytes_are("\xf4\x90\x80\x80", 4,
			"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd")); /* > U+10FFFF */
	CHECK(bytes_are("\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd"));	  /* truncated */
	s = kd_json_bytes((const uint8_t *)"a\0b", 3);
	CHECK(s && json_string_length(s) == 3);
	json_decref(s);
}

TEST(default_state_dir)
{
	char buf[64], small[8];

	/* kilnd's default and the CLI's (without KILN_STATE_DIR) are one rule. */
	unsetenv("KILN_STATE_DIR");
	CHECK(kiln_state_dir_default(buf, sizeof(buf)) == 0);
	CHECK(kiln_sim_state_dir(buf, sizeof(buf)) == 0);
	if (geteuid() == 0)
		CHECK(!strcmp(buf, "/run/kiln"));
	CHECK(kiln_state_dir_for(true, NULL, buf, sizeof(buf)) == 0 && !strcmp(buf, "/run/kiln"));
	CHECK(kiln_state_dir_for(false, "/run/user/1000", buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "/run/user/1000/kiln"));
	CHECK_ERR(kiln_state_dir_for(false, NULL, buf, sizeof(buf)), "pass --state-dir");
	CHECK_ERR(kiln_state_dir_for(false, "", buf, sizeof(buf)), "pass --state-dir");
	/* A relative XDG_RUNTIME_DIR is invalid (XDG base directory rules): kilnd refused it, the CLI took it. */
	CHECK_ERR(kiln_state_dir_for(false, "run/user", buf, sizeof(buf)), "not an absolute path");
	CHECK_ERR(kiln_state_dir_for(false, "/run/user/1000", small, sizeof(small)), "too long");
}

/*
 * Enclaves over vsock (nitro, sim --channel vsock) get their storage channel
 * too: kilnd's one listener on 7003, the enclave found by the peer's CID.
 */
TEST(vsock_store_by_cid)
{
	struct kd d;
	struct kd_enclave *n = NULL, *s = NULL;
	int rc;

	setup(&d);
	rc = reg(&d, &n, "{\"name\":\"vn\",\"mode\":\"nitro\",\"cid\":17,\"volumes\":"
			 "[{\"name\":\"data\",\"host\":\"%s/vn-data\"}]}", tmp);
	if (rc == -EAFNOSUPPORT) {
		fprintf(stderr, "  (no AF_VSOCK here: %s)\n", kiln_errmsg());
		teardown(&d);
		return;
	}
	CHECK(rc == 0 && n);
	CHECK(reg(&d, &s, "{\"name\":\"vs\",\"mode\":\"sim\",\"cid\":18}") == 0 && s);
	CHECK(d.vsock_store.fd >= 0);
	CHECK(n && n->store && s && s->store);
	CHECK(kd_chan_by_cid(&d, 17) == n && kd_chan_by_cid(&d, 18) == s);
	CHECK(kd_chan_by_cid(&d, 19) == NULL);
	if (n) {
		kd_enclave_set_state(&d, n, KD_EXITED); /* ended: its CID names nothing */
		CHECK(kd_chan_by_cid(&d, 17) == NULL && !n->store);
	}
	CHECK(kd_chan_by_cid(&d, 18) == s);
	teardown(&d);
}

/*
 * Every sim over vsock is CID 1 and kilnd finds enclaves by CID: a second
 * one while the first runs is refused, saying why; once the first has
 * ended, the CID is free again.
 */
TEST(sim_by_cid_one_at_a_time)
{
	struct kd d;
	struct kd_enclave *a = NULL, *b = NULL;
	int rc;

	setup(&d);
	rc = reg(&d, &a, "{\"name\":\"a\",\"mode\":\"sim\",\"cid\":1}");
	if (rc == -EAFNOSUPPORT) {
		fprintf(stderr, "  (no AF_VSOCK here: %s)\n", kiln_errmsg());
		teardown(&d);
		return;
	}
	CHECK(rc == 0 && a);
	CHECK_ERR(reg(&d, &b, "{\"name\":\"b\",\"mode\":\"sim\",\"cid\":1}"),
		  "cid 1 is in use by enclave a: kilnd tells vsock enclaves apart by CID, and a "
		  "sim over vsock is always CID 1, so only one runs at a time");
	CHECK(kd_enclave_find(&d, "b") == NULL && kd_chan_by_cid(&d, 1) == a);
	if (a)
		kd_enclave_set_state(&d, a, KD_EXITED);
	CHECK(reg(&d, &b, "{\"name\":\"b\",\"mode\":\"sim\",\"cid\":1}") == 0 && b);
	CHECK(kd_chan_by_cid(&d, 1) == b);
	teardown(&d);
}

/* The next message written to a SOCK_SEQPACKET stderr: one write() each. */
static ssize_t next_write(int fd, char *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* A log line is one write, prefix and all: kilnd's threads never interleave half lines. */
TEST(log_one_write)
{
	char buf[4096], big[3000];
	int sv[2], saved = dup(STDERR_FILENO);

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(dup2(sv[1], STDERR_FILENO) == STDERR_FILENO);
	kd_log("hello %d", 42);
	kd_net_log("flow %s", "closed");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kd_log("%s", big);
	dup2(saved, STDERR_FILENO);
	close(saved);
	CHECK(next_write(sv[0], buf, sizeof(buf)) > 0 && !strcmp(buf, "kilnd: hello 42\n"));
	CHECK(next_write(sv[0], buf, sizeof(buf)) > 0 && !strcmp(buf, "kilnd: net: flow closed\n"));
	CHECK(next_write(sv[0], buf, sizeof(buf)) == 1199 && !strncmp(buf, "kilnd: xxx", 10) &&
	      buf[1198] == '\n');
	CHECK(next_write(sv[0], buf, sizeof(buf)) < 0);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	char cmd[128];
	int rc;

	snprintf(tmp, sizeof(tmp), "/tmp/kiln-kilnd-XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	RUN(register_validation);
	RUN(state_roundtrip);
	RUN(nitro_ports_roundtrip);
	RUN(vsock_store_by_cid);
	RUN(sim_by_cid_one_at_a_time);
	RUN(utf8_repair);
	RUN(default_state_dir);
	RUN(log_one_write);
	rc = t_done();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
