/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's networking: settings, interception setup, resolver files, the networking thread. */
#include "init/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/file.h"
#include "net/redirect.h"
#include "util/thread.h"
#include "util/cleanup.h"

#define MAP_ENTRIES 16384
#define MAP_MIN_TTL_S 300	/* apps keep addresses well past short TTLs */
#define MAP_MAX_TTL_S 86400
#define CACHE_ENTRIES 2048
#define CACHE_BYTES (2u << 20)
#define CACHE_MAX_TTL_S 3600
#define IDLE_DEFAULT_S 3600

static void net_log(void *ctx, const char *line)
{
	struct kiln_init_net *n = ctx;
	char buf[900];
	int len = snprintf(buf, sizeof(buf), "kiln-init: net: %s\n", line);

	if (len <= 0)
		return;
	if ((size_t)len >= sizeof(buf))
		len = sizeof(buf) - 1;
	/* Non-blocking and best effort: a stalled console never stalls a flow. */
	if (write(n->log_fd, buf, (size_t)len) < 0)
		return;
}

/* stderr through a description of our own, so O_NONBLOCK does not leak to the app. */
static int open_log(void)
{
	int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_APPEND);

	return fd >= 0 ? fd : fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}


int kiln_init_tcp_listen(int family, uint16_t port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	_cleanup_close_ int fd = socket(family == 6 ? AF_INET6 : AF_INET,
					SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;

	if (fd < 0)
		return kiln_err(errno, "socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return kiln_err(errno, "IPV6_V6ONLY: %s", strerror(errno));
	if ((family == 6 ? bind(fd, (struct sockaddr *)&s6, sizeof(s6)) :
			   bind(fd, (struct sockaddr *)&s4, sizeof(s4))) < 0)
		return kiln_err(errno, "bind %s:%u: %s", family == 6 ? "[::1]" : "127.0.0.1", port,
				strerror(errno));
	if (listen(fd, 1024) < 0)
		return kiln_err(errno, "listen: %s", strerror(errno));
	return KILN_STEAL_FD(fd);
}

/* ---- settings from config.json: {"config": {"network": {...}}} ---- */

static void ingress_dropped(void *ctx, uint16_t port, const char *owner)
{
	kiln_evloop_logf(&((struct kiln_init_net *)ctx)->loop,
			 "ingress: port %u is %s: not admitted", port, owner);
}

static int read_settings(struct kiln_init_net *n, const json_t *config,
			 const json_t *exposed_ports)
{
	const json_t *net, *dns, *idle;
	int rc;

	net = json_object_get(config, "network");
	dns = json_object_get(net, "dns");
	idle = json_object_get(net, "idle_timeout_s");
	n->dns = !dns || json_is_null(dns) || !strcmp(json_string_value(dns) ?: "", "parent");
	n->idle_ms = (uint32_t)(json_integer_value(idle) > 0 && json_integer_value(idle) <= 86400 * 7 ?
				json_integer_value(idle) : IDLE_DEFAULT_S) * 1000u;
	rc = kiln_policy_from_json(json_object_get(net, "egress"), &n->policy);
	if (rc == 0)
		rc = kiln_admit_from_json(config, exposed_ports, &n->admit, ingress_dropped, n);
	return rc < 0 ? kiln_err_wrap(rc, "config.json") : 0;
}

/* ---- interception and resolver files ---- */

/*
 * The enclave's address of one family on lo, exempt from the egress
 * REDIRECT: 0 when both are in place, 1 when only the address is (no nat
 * table, say), negative when not even that (failures are logged).
 */
static int enclave_addr(struct kiln_init_net *n, const struct kiln_ip *ip)
{
	int rc = kiln_lo_addr_add(ip);

	if (rc < 0) {
		kiln_evloop_logf(&n->loop, "warning: IPv%d enclave address: %s", ip->family,
				 kiln_errmsg());
		return rc;
	}
	if (kiln_redirect_exempt(ip) < 0) {
		kiln_evloop_logf(&n->loop, "warning: IPv%d enclave address exemption: %s",
				 ip->family, kiln_errmsg());
		return 1;
	}
	return 0;
}

static void setup_interception(struct kiln_init_net *n)
{
	static const int fams[] = { 4, 6 };
	static const struct kiln_ip addr[] = { KILN_ENCLAVE_IP4, KILN_ENCLAVE_IP6 };
	int rc = kiln_lo_up();

	if (rc < 0)
		kiln_evloop_logf(&n->loop, "warning: lo: %s", kiln_errmsg());
	if (kiln_tcp_cc_default_unpaced() < 0)
		kiln_evloop_logf(&n->loop, "warning: TCP congestion control: %s", kiln_errmsg());
	for (size_t i = 0; i < 2; i++) {
		/*
		 * The IPv4 address is also the source of the app's redirected
		 * flows: a 127.0.0.1 source with a non-loopback destination
		 * would have the listener's replies dropped (net/redirect.h).
		 */
		int addr_rc = enclave_addr(n, &addr[i]);

		rc = kiln_route_default_lo(fams[i]);
		if (rc >= 0)
			rc = kiln_redirect_install(fams[i], KILN_EGRESS_PORT);
		/*
		 * Ingress dials the address only when the exemption is in
		 * place or no REDIRECT is (a missing nat table): otherwise its
		 * connections would land on the egress listener.
		 */
		n->ingress_fam[i] = addr_rc == 0 || (addr_rc == 1 && rc < 0);
		if (!n->ingress_fam[i])
			kiln_evloop_logf(&n->loop, "warning: no ingress over IPv%d", fams[i]);
		if (rc < 0)
			kiln_evloop_logf(&n->loop, "warning: IPv%d egress interception: %s", fams[i],
					 kiln_errmsg());
	}
}

/* Replace path (a symlink too: never write through one) with text. */
static int write_etc(const char *path, const char *text)
{
	char tmp[64];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text);

	snprintf(tmp, sizeof(tmp), "%s.kiln-tmp", path);
	if (mkdir("/etc", 0755) < 0 && errno != EEXIST)
		return kiln_err(errno, "mkdir /etc: %s", strerror(errno));
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return kiln_err(errno, "%s: %s", tmp, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || rename(tmp, path) < 0) {
		int e = errno ? errno : EIO;

		unlink(tmp);
		return kiln_err(e, "%s: %s", path, strerror(e));
	}
	return 0;
}

static void setup_files(struct kiln_init_net *n)
{
	char host[256] = "", hosts[700];

	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "enclave");
	snprintf(hosts, sizeof(hosts),
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "127.0.1.1\t%s\n", host);
	if (write_etc("/etc/hosts", hosts) < 0)
		kiln_evloop_logf(&n->loop, "warning: %s", kiln_errmsg());
	if (n->dns && write_etc("/etc/resolv.conf", "nameserver 127.0.0.1\n"
				"options timeout:5 attempts:2\n") < 0)
		kiln_evloop_logf(&n->loop, "warning: %s", kiln_errmsg());
}

/* ---- the thread ---- */

/* Interception, /etc files and listeners: everything the app must find in place. */
static void setup(struct kiln_init_net *n)
{
	setup_interception(n);
	setup_files(n);
	if (kiln_init_egress_listen(n) < 0)
		kiln_evloop_logf(&n->loop, "warning: egress: %s", kiln_errmsg());
	if (n->dns && kiln_init_dns_listen(n) < 0)
		kiln_evloop_logf(&n->loop, "warning: DNS: %s", kiln_errmsg());
	if (kiln_init_ingress_listen(n) < 0)
		kiln_evloop_logf(&n->loop, "warning: ingress: %s", kiln_errmsg());
}

static void *net_main(void *arg)
{
	struct kiln_init_net *n = arg;

	setup(n);
	/* The app may start. A byte, not EOF: the app's fork copied this end. */
	if (write(n->ready_fd, "r", 1) != 1)
		kiln_evloop_logf(&n->loop, "warning: the app's gate: %s", strerror(errno));
	close(n->ready_fd);
	n->ready_fd = -1;
	for (;;)
		kiln_evloop_turn(&n->loop, -1);
	return NULL;
}

int kiln_init_net_start(const json_t *config, const json_t *exposed_ports, const char *chan_dir,
			int *gate)
{
	struct kiln_init_net *n = calloc(1, sizeof(*n));
	int rc, p[2];

	if (!n)
		return kiln_err(ENOMEM, "out of memory");
	rc = kiln_evloop_init(&n->loop);
	if (rc < 0)
		return rc;
	n->log_fd = open_log();
	n->loop.log = net_log;
	n->loop.log_ctx = n;
	n->chan_dir = chan_dir;
	signal(SIGPIPE, SIG_IGN);
	rc = read_settings(n, config, exposed_ports);
	if (rc < 0)
		return rc; /* the policy is the data owner's: never run with a broken one */
	n->map = kiln_dnsmap_new(MAP_ENTRIES, MAP_MIN_TTL_S, MAP_MAX_TTL_S);
	n->cache = kiln_dns_cache_new(CACHE_ENTRIES, CACHE_BYTES, CACHE_MAX_TTL_S);
	n->msg = malloc(sizeof(*n->msg));
	if (!n->map || !n->cache || !n->msg)
		return kiln_err(ENOMEM, "out of memory");
	if (pipe2(p, O_CLOEXEC) < 0)
		return kiln_err(errno, "pipe: %s", strerror(errno));
	n->ready_fd = p[1];
	rc = kiln_thread_start_quiet(net_main, n);
	if (rc < 0) {
		close(p[1]);
		close(p[0]);
		return rc;
	}
	*gate = p[0];
	return 0;
}

struct listener {
	struct kiln_evh h;
	struct kiln_init_net *n;
	int fd;
	const char *what;
	void (*on_accept)(struct kiln_init_net *n, int fd);
};

static void listener_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct listener *ls = (struct listener *)h;

	for (;;) {
		int fd = accept4(ls->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				kiln_evloop_logf(l, "%s: accept: %s", ls->what, strerror(errno));
			return; /* EMFILE and the like: the next connection retries */
		}
		ls->on_accept(ls->n, fd);
	}
}

static void listener_destroy(struct kiln_evh *h)
{
	close(((struct listener *)h)->fd);
	free(h);
}

int kiln_init_listener_add(struct kiln_init_net *n, int fd, const char *what,
			   void (*on_accept)(struct kiln_init_net *n, int fd))
{
	struct listener *ls = calloc(1, sizeof(*ls));

	if (!ls) {
		close(fd);
		return kiln_err(ENOMEM, "out of memory");
	}
	ls->n = n;
	ls->fd = fd;
	ls->what = what;
	ls->on_accept = on_accept;
	ls->h.fn = listener_fn;
	ls->h.destroy = listener_destroy;
	kiln_evloop_link(&n->loop, &ls->h);
	return kiln_evloop_add(&n->loop, fd, EPOLLIN | EPOLLET, &ls->h);
}
