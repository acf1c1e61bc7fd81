/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: run as an enclave's app, report whether it can reach the parent's channels or kiln-init's descriptors. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * usage: isolation_probe IP PORT
 * Built static (the test image has no libc). Prints one "key=value" line
 * per check, then "probe_done"; the test decides what each value must be.
 * The channel directory is sought by its sim name, through mountinfo, by
 * every socket file on the filesystem and every path in /proc/net/unix;
 * kiln-init (the parent process) by its fd, cwd and environ entries and by
 * pidfd_getfd (a same-uid environ stays readable on some kernels even from
 * a non-dumpable process; it names no channel the app could use). Exits 0 unless the probe itself could not run.
 */

#define CHAN_DIR "/run/kiln-chan"

static int unix_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		return -1;
	strcpy(a.sun_path, path);
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return rc;
}

static void vsock(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0)
		printf("vsock=allowed\n");
	else
		printf("vsock=%s\n", errno == EPERM ? "denied" : strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void chan_dir(void)
{
	struct stat st;
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int mounted = 0, reached = 0;
	const char *ports[] = { "7000", "7001", "7002", "7004", "9000" };

	printf("chandir=%s\n", stat(CHAN_DIR, &st) == 0 ? "present" : "absent");
	while (f && fgets(line, sizeof(line), f))
		mounted |= strstr(line, "kiln-chan") || strstr(line, "/chan ");
	if (f)
		fclose(f);
	printf("chanmount=%s\n", mounted ? "present" : "none");
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		char p[64];

		snprintf(p, sizeof(p), CHAN_DIR "/%s", ports[i]);
		reached += unix_connect(p) == 0;
	}
	printf("chanconnect=%d\n", reached);
}

static int sockets_found, sockets_reached;

static int each_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (!strncmp(path, "/proc", 5) || !strncmp(path, "/sys", 4))
		return FTW_SKIP_SUBTREE;
	if (type == FTW_F && S_ISSOCK(st->st_mode)) {
		sockets_found++;
		sockets_reached += unix_connect(path) == 0;
		printf("socket_file=%s\n", path);
	}
	return FTW_CONTINUE;
}

/* Every named unix socket in this network namespace, by the path it was bound to. */
static void proc_net_unix(void)
{
	char line[4096];
	FILE *f = fopen("/proc/net/unix", "r");
	int reached = 0;

	while (f && fgets(line, sizeof(line), f)) {
		char *path = strrchr(line, ' ');

		if (!path || (path[1] != '/' && path[1] != '.'))
			continue;
		path[strcspn(path, "\n")] = '\0';
		reached += unix_connect(path + 1) == 0;
	}
	if (f)
		fclose(f);
	printf("netunix_reached=%d\n", reached);
}

static void init_fds(pid_t init)
{
	char p[64], link[4096];
	int links = 0, opened = 0, taken = 0;
	int pidfd = (int)syscall(SYS_pidfd_open, init, 0);
	DIR *d;

	snprintf(p, sizeof(p), "/proc/%d/fd", (int)init);
	d = opendir(p);
	printf("initfd_list=%s\n", d ? "ok" : strerror(errno));
	if (d)
		closedir(d);
	for (int fd = 0; fd < 256; fd++) {
		int o;

		snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)init, fd);
		links += readlink(p, link, sizeof(link)) >= 0;
		o = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		opened += o >= 0;
		if (o >= 0)
			close(o);
		o = pidfd >= 0 ? (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0) : -1;
		taken += o >= 0;
		if (o >= 0)
			close(o);
	}
	printf("initfd_links=%d initfd_open=%d initfd_getfd=%d\n", links, opened, taken);
	snprintf(p, sizeof(p), "/proc/%d/cwd", (int)init);
	printf("initcwd=%s\n", readlink(p, link, sizeof(link)) >= 0 ? "readable" : "denied");
	snprintf(p, sizeof(p), "/proc/%d/environ", (int)init);
	opened = open(p, O_RDONLY | O_CLOEXEC);
	printf("initenv=%s\n", opened >= 0 && read(opened, link, sizeof(link)) > 0 ? "readable"
										 : "denied");
	if (opened >= 0)
		close(opened);
	if (pidfd >= 0)
		close(pidfd);
}

/* The app may still trace its own children (debuggers, strace). */
static void ptrace_child(void)
{
	pid_t c = fork();
	int status, ok;

	if (c == 0) {
		pause();
		_exit(0);
	}
	ok = c > 0 && ptrace(PTRACE_ATTACH, c, NULL, NULL) == 0 && waitpid(c, &status, 0) == c;
	printf("ptrace_child=%s\n", ok ? "ok" : strerror(errno));
	if (c > 0) {
		kill(c, SIGKILL);
		waitpid(c, &status, 0);
	}
}

static void egress(const char *ip, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char b = 0;

	inet_pton(AF_INET, ip, &a.sin_addr);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && read(fd, &b, 1) == 1)
		printf("egress=ok greeting=%c\n", b);
	else
		printf("egress=%s\n", strerror(errno));
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3) {
		fprintf(stderr, "usage: isolation_probe IP PORT\n");
		return 2;
	}
	vsock();
	chan_dir();
	nftw("/", each_file, 16, FTW_PHYS | FTW_ACTIONRETVAL);
	printf("sockets_found=%d sockets_reached=%d\n", sockets_found, sockets_reached);
	proc_net_unix();
	init_fds(getppid());
	ptrace_child();
	egress(argv[1], argv[2]);
	printf("probe_done\n");
	return 0;
}
