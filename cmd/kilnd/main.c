/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd: the parent-side daemon for kiln enclaves (CLI socket, channels, logs). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "kilnd/kilnd.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: kilnd [--state-dir DIR] [--socket PATH] [--foreground]\n"
		   "             [--log-max BYTES] [--resolver IP[:PORT]]...\n"
		   "             [--egress-deny RULE[,RULE...]] [--version]\n"
		   "  --state-dir DIR  state, logs and the CLI socket (default /run/kiln as root,\n"
		   "                   else $XDG_RUNTIME_DIR/kiln)\n"
		   "  --socket PATH    CLI socket (default STATE/kilnd.sock)\n"
		   "  --foreground     do not detach (systemd, tests)\n"
		   "  --log-max BYTES  per-enclave log cap before rotation (default 16 MiB)\n"
		   "  --resolver IP[:PORT]  DNS server for enclaves' queries (repeatable, up to 4;\n"
		   "                   default: the nameservers of /etc/resolv.conf)\n"
		   "  --egress-deny RULES  egress destinations refused for every enclave, in the\n"
		   "                   egress policy syntax (10.0.0.0/8,169.254.169.254:80, ...)\n");
}

static int parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s || *end || x < 4096 || s[0] == '-') {
		fprintf(stderr, "kilnd: --log-max: \"%s\" is not a byte count >= 4096\n", s);
		return -1;
	}
	*v = x;
	return 0;
}

#define RESOLVERS_MAX 4

static int parse_args(int argc, char **argv, struct kilnd_opts *o, int *fg)
{
	static const char *resolvers[RESOLVERS_MAX];
	static const struct option longs[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-max", required_argument, NULL, 'l' },
		{ "resolver", required_argument, NULL, 'r' },
		{ "egress-deny", required_argument, NULL, 'e' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'd': o->state_dir = optarg; break;
		case 's': o->socket = optarg; break;
		case 'f': *fg = 1; break;
		case 'l':
			if (parse_size(optarg, &o->log_max) < 0)
				return 2;
			break;
		case 'r':
			if (o->n_resolvers == RESOLVERS_MAX) {
				fprintf(stderr, "kilnd: at most %d --resolver\n", RESOLVERS_MAX);
				return 2;
			}
			resolvers[o->n_resolvers++] = optarg;
			o->resolvers = resolvers;
			break;
		case 'e': o->egress_deny = optarg; break;
		case 'V': printf("kilnd %s\n", KILN_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kilnd: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	return -1;
}

/* Detach; the parent exits 0 only once the child serves its socket. */
static int daemonize(struct kilnd_opts *o)
{
	int p[2], null;
	char b;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		perror("kilnd: fork");
		return 1;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &b, 1) == 1)
			_exit(0);
		fprintf(stderr, "kilnd: failed to start (see above)\n");
		_exit(1);
	}
	close(p[0]);
	o->ready_fd = p[1];
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct kilnd_opts o = { .ready_fd = -1 };
	int fg = 0, rc = parse_args(argc, argv, &o, &fg);

	if (rc >= 0)
		return rc;
	if (!fg && (rc = daemonize(&o)) >= 0)
		return rc;
	if (kilnd_drop_privileges() < 0) {
		fprintf(stderr, "kilnd: %s\n", kiln_errmsg());
		return 1;
	}
	if (kilnd_run(&o) < 0) {
		fprintf(stderr, "kilnd: %s\n", kiln_errmsg());
		return 1;
	}
	return 0;
}
