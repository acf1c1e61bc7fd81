/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the sim runtime: cmd/env files, names, state lock, unpacking, kilnd client. */
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chan/frame.h"
#include "eif/cpio.h"
#include "eif/eif.h"
#include "sim/sim.h"
#include "t.h"

static char tmp[80];

static void mktmp(void)
{
	int n = snprintf(tmp, sizeof(tmp), "%s/kiln-test-sim.XXXXXX", getenv("TMPDIR") ?: "/tmp");

	if (n < 0 || (size_t)n >= sizeof(tmp) || !mkdtemp(tmp)) {
		perror("mkdtemp");
		exit(1);
	}
}

static void rm_tmp(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: %s not removed\n", tmp);
}

TEST(test_parse_cmd)
{
	struct kiln_sim_lines l;

	CHECK(kiln_sim_parse_cmd("/.kiln/kiln-init\n", 17, &l) == 0);
	CHECK(l.n == 1 && !strcmp(l.v[0], "/.kiln/kiln-init") && l.v[1] == NULL);
	kiln_sim_lines_free(&l);
	CHECK(kiln_sim_parse_cmd("a\n\nb", 4, &l) == 0);
	CHECK(l.n == 3 && !strcmp(l.v[1], "") && !strcmp(l.v[2], "b"));
	kiln_sim_lines_free(&l);
	CHECK_ERR(kiln_sim_parse_cmd("", 0, &l), "no command");
	CHECK_ERR(kiln_sim_parse_cmd("\nx", 2, &l), "no command");
	CHECK_ERR(kiln_sim_parse_cmd("a\0b", 3, &l), "NUL");
}

TEST(test_parse_env)
{
	struct kiln_sim_lines l;
	char many[3 * (KILN_SIM_LINES_MAX + 2)];

	CHECK(kiln_sim_parse_env("A=1\n\nB=x=y\n", 11, &l) == 0);
	CHECK(l.n == 2 && !strcmp(l.v[1], "B=x=y") && l.v[2] == NULL);
	CHECK(kiln_sim_env_set(&l, "A=2") == 0);
	CHECK(kiln_sim_env_default(&l, "B=no") == 0);
	CHECK(kiln_sim_env_default(&l, "PATH=/bin") == 0);
	CHECK(l.n == 3 && !strcmp(l.v[0], "A=2") && !strcmp(l.v[1], "B=x=y") &&
	      !strcmp(l.v[2], "PATH=/bin") && l.v[3] == NULL);
	CHECK_ERR(kiln_sim_env_set(&l, "=x"), "not NAME=VALUE");
	kiln_sim_lines_free(&l);
	CHECK(kiln_sim_parse_env("", 0, &l) == 0 && l.n == 0);
	kiln_sim_lines_free(&l);
	CHECK_ERR(kiln_sim_parse_env("A=1\nnoequals\n", 13, &l), "line 2");
	CHECK_ERR(kiln_sim_parse_env("=v", 2, &l), "line 1");
	for (size_t i = 0; i < KILN_SIM_LINES_MAX + 2; i++)
		memcpy(many + 3 * i, "a=\n", 3);
	CHECK_ERR(kiln_sim_parse_env(many, sizeof(many), &l), "more than");
}

TEST(test_default_name)
{
	char n[64];

	CHECK(kiln_sim_default_name("/x/My App.eif", n, sizeof(n)) == 0);
	CHECK(!strncmp(n, "My-App-", 7) && strlen(n) == 13);
	CHECK(kiln_sim_default_name(".eif", n, sizeof(n)) == 0 && !strncmp(n, "enclave-", 8));
	CHECK(kiln_sim_default_name("_x.eif", n, sizeof(n)) == 0 && !strncmp(n, "ex-", 3));
	CHECK(kiln_sim_default_name("/a/averyveryveryveryveryveryveryverylongname.eif", n,
				    sizeof(n)) == 0);
	CHECK(kiln_name_check(n) == 0);
}

TEST(test_state_lock)
{
	struct kiln_sim_state a, b;
	char path[sizeof(a.chan) + 16], buf[32] = { 0 };
	int fd;

	mktmp();
	CHECK(kiln_sim_state_open(tmp, "one", &a) == 0);
	CHECK_ERR(kiln_sim_state_open(tmp, "one", &b), "already in use");
	CHECK_ERR(kiln_sim_state_open(tmp, "../x", &b), "not allowed");
	snprintf(path, sizeof(path), "%s/lock", a.dir);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0 && atoi(buf) == getpid());
	close(fd);
	CHECK(access(a.root, F_OK) == 0 && access(a.chan, F_OK) == 0);
	kiln_sim_state_close(&a);
	kiln_sim_state_close(&a);
	CHECK(access(a.dir, F_OK) < 0);

	/* A killed monitor's leftovers (unlocked): cleaned and reused. */
	CHECK(kiln_sim_state_open(tmp, "two", &a) == 0);
	snprintf(path, sizeof(path), "%s/7000", a.chan);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	close(a.lock_fd); /* the monitor dies without cleaning up */
	a.lock_fd = -1;
	CHECK(kiln_sim_state_open(tmp, "two", &b) == 0);
	CHECK(access(path, F_OK) < 0);
	kiln_sim_state_close(&b);
	snprintf(path, sizeof(path), "%s/sim", tmp);
	CHECK(rmdir(path) == 0); /* nothing else left */
	rm_tmp();
}

/* ---- unpacking ---- */

struct mem {
	uint8_t *buf;
	size_t len, cap;
};

static int mem_out(const void *p, size_t n, void *arg)
{
	struct mem *m = arg;

	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2 + 64;
		m->buf = realloc(m->buf, m->cap);
		if (!m->buf)
			return kiln_err(ENOMEM, "oom");
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	return 0;
}

struct ent {
	const char *name;
	uint32_t mode;
	const char *data;
	uint32_t nlink;
	uint64_t group;
};

static void archive(struct mem *m, const struct ent *e, size_t n)
{
	struct cpio_writer *w = NULL;

	memset(m, 0, sizeof(*m));
	CHECK(cpio_writer_new(mem_out, m, 1700000000u, &w) == 0);
	for (size_t i = 0; i < n; i++) {
		struct cpio_entry ce = { .name = e[i].name, .mode = e[i].mode,
					 .size = e[i].data ? strlen(e[i].data) : 0,
					 .nlink = e[i].nlink, .link_group = e[i].group };

		CHECK(cpio_add_bytes(w, &ce, e[i].data ? e[i].data : "") == 0);
	}
	CHECK(cpio_finish(w) == 0);
	cpio_writer_free(w);
}

/* A file holding ramdisk sections back to back, and the eif_info describing them. */
static int fake_eif(struct mem *rd, size_t n, struct eif_info *info)
{
	char path[300];
	uint8_t hdr[EIF_SECTION_HEADER_SIZE] = { 0 };
	uint64_t off = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/fake.eif", tmp);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	memset(info, 0, sizeof(*info));
	for (size_t i = 0; i < n; i++) {
		info->sections[i] = (struct eif_section){ .type = EIF_SECTION_RAMDISK,
							  .offset = off, .size = rd[i].len };
		CHECK(write(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr));
		CHECK(write(fd, rd[i].buf, rd[i].len) == (ssize_t)rd[i].len);
		off += sizeof(hdr) + rd[i].len;
		free(rd[i].buf);
	}
	info->num_sections = (uint16_t)n;
	return fd;
}

static int open_root(const char *sub)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s", tmp, sub);
	CHECK(mkdir(path, 0755) == 0);
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static const char *slurp(const char *rel)
{
	static char buf[256];
	char path[600];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return "";
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

TEST(test_unpack)
{
	static const struct ent r0[] = { { "init", S_IFREG | 0755, "bootstrap", 0, 0 } };
	static const struct ent r1[] = {
		{ "rootfs", S_IFDIR | 0755, NULL, 0, 0 },
		{ "rootfs/bin", S_IFDIR | 0755, NULL, 0, 0 },
		{ "rootfs/bin/sh", S_IFREG | 0755, "#!sh\n", 0, 0 },
		{ "rootfs/bin/a", S_IFREG | 0644, "same", 2, 9 },
		{ "rootfs/bin/b", S_IFREG | 0644, NULL, 2, 9 },
		{ "rootfs/lib", S_IFLNK | 0777, "usr/lib", 0, 0 },
		{ "rootfs/etc/deep/file", S_IFREG | 0600, "x", 0, 0 },
		{ "rootfs/fifo", S_IFIFO | 0644, NULL, 0, 0 },
		{ "cmd", S_IFREG | 0644, "/.kiln/kiln-init\n", 0, 0 },
		{ "env", S_IFREG | 0644, "A=1\n", 0, 0 },
	};
	static const struct ent r2[] = { { "rootfs/bin/sh", S_IFREG | 0700, "replaced", 0, 0 } };
	struct mem rd[3];
	struct eif_info info;
	struct stat a, b;
	char path[600];
	int fd, root;

	mktmp();
	archive(&rd[0], r0, 1);
	archive(&rd[1], r1, sizeof(r1) / sizeof(r1[0]));
	archive(&rd[2], r2, 1);
	fd = fake_eif(rd, 3, &info);
	root = open_root("root");
	CHECK(kiln_sim_unpack(fd, &info, root) == 0);
	CHECK(access(strcat(strcpy(path, tmp), "/root/init"), F_OK) < 0); /* ramdisk0 skipped */
	CHECK(!strcmp(slurp("root/rootfs/bin/sh"), "replaced")); /* ramdisk2 wins */
	CHECK(!strcmp(slurp("root/rootfs/bin/b"), "same"));
	CHECK(!strcmp(slurp("root/cmd"), "/.kiln/kiln-init\n"));
	CHECK(!strcmp(slurp("root/rootfs/etc/deep/file"), "x"));
	CHECK(fstatat(root, "rootfs/bin/a", &a, 0) == 0 && fstatat(root, "rootfs/bin/b", &b, 0) == 0);
	CHECK(a.st_ino == b.st_ino && a.st_nlink == 2 && (a.st_mode & 07777) == 0644);
	CHECK(fstatat(root, "rootfs/bin/sh", &a, 0) == 0 && (a.st_mode & 07777) == 0700);
	CHECK(a.st_mtime == 1700000000);
	CHECK(fstatat(root, "rootfs/fifo", &a, 0) == 0 && S_ISFIFO(a.st_mode));
	CHECK(readlinkat(root, "rootfs/lib", path, sizeof(path)) == 7 && !memcmp(path, "usr/lib", 7));
	close(root);
	close(fd);
	rm_tmp();
}

TEST(test_unpack_refuses_escape)
{
	char outside[120], link[140];
	struct ent r1[] = {
		{ "rootfs", S_IFDIR | 0755, NULL, 0, 0 },
		{ "rootfs/evil", S_IFLNK | 0777, outside, 0, 0 },
		{ "rootfs/evil/pwned", S_IFREG | 0644, "gotcha", 0, 0 },
	};
	struct ent r1b[] = {
		{ "rootfs/evil", S_IFLNK | 0777, outside, 0, 0 },
		{ "rootfs/evil", S_IFREG | 0644, "replaces the link, not its target", 0, 0 },
	};
	struct mem rd[2];
	struct eif_info info;
	int fd, root;

	mktmp();
	snprintf(outside, sizeof(outside), "%s/outside", tmp);
	CHECK(mkdir(outside, 0755) == 0);
	archive(&rd[0], r1, 1);
	archive(&rd[1], r1, 3);
	fd = fake_eif(rd, 2, &info);
	root = open_root("root");
	CHECK_ERR(kiln_sim_unpack(fd, &info, root), "symlink");
	snprintf(link, sizeof(link), "%s/pwned", outside);
	CHECK(access(link, F_OK) < 0);
	close(root);
	close(fd);

	archive(&rd[0], r1, 1);
	archive(&rd[1], r1b, 2);
	fd = fake_eif(rd, 2, &info);
	root = open_root("root2");
	CHECK(kiln_sim_unpack(fd, &info, root) == 0);
	CHECK(!strcmp(slurp("root2/rootfs/evil"), "replaces the link, not its target"));
	CHECK(!strcmp(slurp("outside"), ""));
	close(root);
	close(fd);
	rm_tmp();
}

TEST(test_unpack_bad_input)
{
	static const struct ent r0[] = { { "init", S_IFREG | 0755, "x", 0, 0 } };
	struct mem rd[2];
	struct eif_info info;
	int fd, root;

	mktmp();
	archive(&rd[0], r0, 1);
	fd = fake_eif(rd, 1, &info);
	root = open_root("root");
	CHECK_ERR(kiln_sim_unpack(fd, &info, root), "no customer ramdisk");
	close(fd);

	/* A truncated ramdisk1. */
	archive(&rd[0], r0, 1);
	archive(&rd[1], r0, 1);
	rd[1].len -= 20;
	fd = fake_eif(rd, 2, &info);
	CHECK_ERR(kiln_sim_unpack(fd, &info, root), "ramdisk1");
	close(fd);

	/* Garbage instead of cpio. */
	archive(&rd[0], r0, 1);
	rd[1].buf = malloc(200);
	memset(rd[1].buf, 'Z', 200);
	rd[1].len = 200;
	fd = fake_eif(rd, 2, &info);
	CHECK_ERR(kiln_sim_unpack(fd, &info, root), "bad magic");
	close(fd);
	close(root);
	rm_tmp();
}

/* ---- kilnd client against a fake kilnd ---- */

/* Serve one connection: check the request, send reply, exit. */
static pid_t fake_kilnd(const char *reply)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/kilnd.sock", tmp);
	unlink(sa.sun_path);
	CHECK(bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 1) == 0);
	pid = fork();
	if (pid == 0) {
		char buf[4096] = { 0 };
		int c = accept(l, NULL, NULL);
		ssize_t n = read(c, buf, sizeof(buf) - 1);
		json_t *o = n > 0 ? json_loads(buf, 0, NULL) : NULL;
		int ok = o && !strcmp(json_string_value(json_object_get(o, "op")), "register") &&
			 !strcmp(json_string_value(json_object_get(o, "mode")), "sim") &&
			 json_integer_value(json_object_get(o, "memory_mib")) == 512 &&
			 strchr(buf, '\n') == buf + n - 1;

		if (write(c, reply, strlen(reply)) < 0)
			_exit(3);
		_exit(ok ? 0 : 1);
	}
	close(l);
	return pid;
}

TEST(test_kilnd_client)
{
	struct kiln_sim_register req = { .name = "e1", .chan_dir = "/tmp", .eif = "/x.eif",
					 .cpus = 2, .memory_mib = 512, .pid = 1 };
	char id[KILN_SIM_ID_LEN + 1] = "", sock[300];
	int status;
	pid_t pid;

	mktmp();
	CHECK(kiln_sim_kilnd_register(tmp, &req, id) == -ENOENT);
	pid = fake_kilnd("{\"ok\":true,\"name\":\"e1\",\"id\":\"0123456789ab\"}\n");
	CHECK(kiln_sim_kilnd_register(tmp, &req, id) == 0 && !strcmp(id, "0123456789ab"));
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

	pid = fake_kilnd("{\"ok\":false,\"error\":\"enclave e1 is already registered (running)\"}\n");
	CHECK(kiln_sim_kilnd_register(tmp, &req, id) == -EEXIST);
	CHECK(strstr(kiln_errmsg(), "already registered") != NULL);
	waitpid(pid, &status, 0);

	pid = fake_kilnd("not json\n");
	CHECK_ERR(kiln_sim_kilnd_register(tmp, &req, id), "unreadable reply");
	waitpid(pid, &status, 0);

	pid = fake_kilnd("{\"ok\":true,\"id\":\"way-too-long-for-an-id\"}\n");
	CHECK_ERR(kiln_sim_kilnd_register(tmp, &req, id), "no valid");
	waitpid(pid, &status, 0);

	/* A stale socket file and no kilnd executable: the caller runs without kilnd. */
	CHECK(kiln_sim_kilnd_socket(tmp, sock, sizeof(sock)) == 0);
	CHECK(access(sock, F_OK) == 0);
	CHECK(kiln_sim_ensure_kilnd(tmp, "/nonexistent/kilnd") == -ENOENT);
	pid = fake_kilnd("{}\n");
	CHECK(kiln_sim_ensure_kilnd(tmp, "/nonexistent/kilnd") == 0); /* one serves */
	waitpid(pid, &status, 0);
	rm_tmp();
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_parse_cmd);
	RUN(test_parse_env);
	RUN(test_default_name);
	RUN(test_state_lock);
	RUN(test_unpack);
	RUN(test_unpack_refuses_escape);
	RUN(test_unpack_bad_input);
	RUN(test_kilnd_client);
	return t_done();
}
