/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's app isolation: the AF_VSOCK seccomp filter, the capability drop, app.allow_vsock. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include "init/config.h"
#include "init/seccomp.h"
#include "init/supervise.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

/* Bits a child reports in its exit status (one per failed expectation). */
enum {
	BAD_VSOCK = 1,	     /* socket(AF_VSOCK) was not EPERM */
	BAD_PAIR = 2,	     /* socketpair(AF_VSOCK) was not EPERM */
	BAD_INET = 4,	     /* socket(AF_INET) failed */
	BAD_URING = 8,	     /* io_uring_setup was not ENOSYS */
	BAD_I386 = 16,	     /* the i386 socket syscall made an AF_VSOCK socket */
	BAD_INSTALL = 32,    /* the filter could not be installed */
	BAD_UNIX = 64,	     /* socketpair(AF_UNIX) failed */
	BAD_X32 = 128,	     /* an x32 socket syscall was not ENOSYS (as it is without x32) */
};

static int sock_errno(int domain)
{
	int fd = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno;
}

#if defined(__x86_64__)
/* The i386 ABI's socket syscall (359), from this 64-bit process. */
static long socket_i386(int domain)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(359L), "b"((long)domain),
			 "c"((long)SOCK_STREAM), "d"(0L) : "memory");
	return ret;
}
#endif

/* -1: the i386 ABI is not there to test; else errno of an AF_VSOCK socket (0: made). */
static int i386_vsock(void)
{
#if defined(__x86_64__)
	long r = socket_i386(AF_VSOCK);

	if (r == -ENOSYS)
		return -1;
	if (r >= 0) {
		close((int)r);
		return 0;
	}
	return (int)-r;
#else
	return -1;
#endif
}

static int probe_filtered(void)
{
	int bad = 0, sv[2];

	if (sock_errno(AF_VSOCK) != EPERM)
		bad |= BAD_VSOCK;
	errno = 0;
	if (socketpair(AF_VSOCK, SOCK_STREAM, 0, sv) == 0 || errno != EPERM)
		bad |= BAD_PAIR;
	if (sock_errno(AF_INET) != 0)
		bad |= BAD_INET;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		bad |= BAD_UNIX;
	errno = 0;
	if (syscall(__NR_io_uring_setup, 4, NULL) != -1 || errno != ENOSYS)
		bad |= BAD_URING;
	if (i386_vsock() == 0)
		bad |= BAD_I386;
#if defined(__x86_64__)
	errno = 0;
	if (syscall(0x40000000 | __NR_socket, AF_VSOCK, SOCK_STREAM, 0) != -1 || errno != ENOSYS)
		bad |= BAD_X32;
#endif
	return bad;
}

static int run_child(int (*fn)(void))
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

static int install_and_probe(void)
{
	if (kiln_seccomp_deny_vsock() < 0) {
		fprintf(stderr, "%s\n", kiln_errmsg());
		return BAD_INSTALL;
	}
	return probe_filtered();
}

static int root(void)
{
	if (geteuid() == 0)
		return 1;
	fprintf(stderr, "  (skipped: needs root for the filter without no_new_privs)\n");
	return 0;
}

/* The premise: without a filter this host does make AF_VSOCK sockets. */
TEST(vsock_without_filter)
{
	CHECK(sock_errno(AF_VSOCK) == 0);
	CHECK(i386_vsock() != EPERM);
}

TEST(filter_denies_vsock)
{
	int r;

	if (!root())
		return;
	r = run_child(install_and_probe);
	if (r != 0)
		fprintf(stderr, "  child reported 0x%x\n", (unsigned)r);
	CHECK(r == 0);
	/* The filter stays in the child: this process is untouched. */
	CHECK(sock_errno(AF_VSOCK) == 0);
}

/* ---- through kiln_app_start: the app as kiln-init starts it ---- */

/* "--probe": run as the app; prints what it may do, one word each. */
/* A field of /proc/self/status as a number (base 16 or 10), 0 when absent. */
static unsigned long long status_field(const char *name, int base)
{
	char status[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, status, sizeof(status) - 1) : -1;
	const char *f;

	if (fd >= 0)
		close(fd);
	status[n > 0 ? n : 0] = '\0';
	f = strstr(status, name);
	return f ? strtoull(f + strlen(name), NULL, base) : 0;
}

static int probe_main(void)
{
	unsigned long long caps = status_field("CapBnd:", 16);

	printf("vsock=%s ptrace=%s inet=%s nnp=%llu\n",
	       sock_errno(AF_VSOCK) == EPERM ? "denied" : "allowed",
	       caps & (1ULL << CAP_SYS_PTRACE) ? "kept" : "dropped",
	       sock_errno(AF_INET) == 0 ? "ok" : "fail", status_field("NoNewPrivs:", 10));
	return 0;
}

static char exe[4096];

static int app_output(bool allow_vsock, char *buf, size_t len)
{
	char *argv[] = { exe, "--probe", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct kiln_user u = { .uid = getuid(), .gid = getgid(), .ngroups = 1 };
	struct kiln_app app = { argv, env, "/", &u, .gate_fd = -1, .started_fd = -1,
				.allow_vsock = allow_vsock };
	struct pollfd p;
	size_t got = 0;
	int out[2], status;
	pid_t pid;

	u.groups[0] = u.gid;
	if (kiln_app_start(&app, &pid, out) < 0)
		return -1;
	p = (struct pollfd){ .fd = out[0], .events = POLLIN };
	while (got + 1 < len && poll(&p, 1, 10000) == 1) {
		ssize_t n = read(out[0], buf + got, len - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(out[0]);
	close(out[1]);
	waitpid(pid, &status, 0);
	return 0;
}

/* What the app must say: no_new_privs as this process has it (the filter does not set it). */
static void expect(char *want, size_t len, const char *what)
{
	snprintf(want, len, "%s nnp=%llu", what, status_field("NoNewPrivs:", 10));
}

TEST(app_isolated_by_default)
{
	char out[256], want[128];

	if (!root())
		return;
	expect(want, sizeof(want), "vsock=denied ptrace=dropped inet=ok");
	CHECK(app_output(false, out, sizeof(out)) == 0);
	if (!strstr(out, want))
		fprintf(stderr, "  app said: %s\n", out);
	CHECK(strstr(out, want) != NULL);
}

TEST(app_allow_vsock)
{
	char out[256], want[128];

	if (!root())
		return;
	expect(want, sizeof(want), "vsock=allowed ptrace=kept inet=ok");
	CHECK(app_output(true, out, sizeof(out)) == 0);
	if (!strstr(out, want))
		fprintf(stderr, "  app said: %s\n", out);
	CHECK(strstr(out, want) != NULL);
}

/* The switch comes from the measured config: config.app.allow_vsock. */
TEST(config_allow_vsock)
{
	struct kiln_init_config c;
	const char *on = "{\"entrypoint\":[\"/a\"],\"config\":{\"app\":{\"allow_vsock\":true}}}";
	const char *off = "{\"entrypoint\":[\"/a\"],\"config\":{\"app\":{\"allow_vsock\":false}}}";
	const char *none = "{\"entrypoint\":[\"/a\"]}";
	const char *bad = "{\"entrypoint\":[\"/a\"],\"config\":{\"app\":{\"allow_vsock\":1}}}";

	CHECK(kiln_init_config_parse(on, strlen(on), &c) == 0 && c.allow_vsock);
	kiln_init_config_free(&c);
	CHECK(kiln_init_config_parse(off, strlen(off), &c) == 0 && !c.allow_vsock);
	kiln_init_config_free(&c);
	CHECK(kiln_init_config_parse(none, strlen(none), &c) == 0 && !c.allow_vsock);
	kiln_init_config_free(&c);
	CHECK_ERR(kiln_init_config_parse(bad, strlen(bad), &c), "allow_vsock: not a boolean");
}

int main(int argc, char **argv)
{
	ssize_t n;

	if (argc == 2 && !strcmp(argv[1], "--probe"))
		return probe_main();
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	RUN(vsock_without_filter);
	RUN(filter_denies_vsock);
	RUN(app_isolated_by_default);
	RUN(app_allow_vsock);
	RUN(config_allow_vsock);
	return t_done();
}
