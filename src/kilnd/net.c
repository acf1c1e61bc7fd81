/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd networking: the thread, resolvers, local deny rules, per-enclave listeners. */
#include "kilnd/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kilnd/kilnd.h"
#include "kilnd/shed.h"
#include "util/cleanup.h"

/* SO_SNDBUF of flows within this host; the kernel doubles it. */
#define HOST_TCP_BUF (256u << 10)

void kd_net_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kd_vlog("net: ", fmt, ap);
	va_end(ap);
}

static void loop_log(void *ctx, const char *line)
{
	KD_LOG_RL("net: %s", line); /* relay ends: as many as the enclave opens flows */
}

/* ---- listeners ---- */

static void listener_destroy(struct kiln_evh *h)
{
	struct kd_net_listener *ls = (struct kd_net_listener *)h;

	if (ls->fd >= 0)
		close(ls->fd);
	free(ls);
}

struct kd_net_listener *kd_net_listener_new(struct kd_net *net, struct kd_net_encl *ne, int fd,
					    kiln_ev_fn fn)
{
	struct kd_net_listener *ls = calloc(1, sizeof(*ls));

	if (!ls) {
		close(fd);
		kiln_err(ENOMEM, "out of memory");
		return NULL;
	}
	ls->net = net;
	ls->encl = ne;
	ls->fd = fd;
	ls->h.fn = fn;
	ls->h.destroy = listener_destroy;
	kiln_evloop_link(&net->loop, &ls->h);
	if (kiln_evloop_add(&net->loop, fd, EPOLLIN | EPOLLET, &ls->h) < 0) {
		kd_net_listener_close(net, ls);
		return NULL;
	}
	return ls;
}

/* Caller holds net->lock (or is the networking thread). */
void kd_net_listener_close(struct kd_net *net, struct kd_net_listener *ls)
{
	if (!ls)
		return;
	if (ls->fd >= 0)
		close(ls->fd); /* now, so a host port is free again at once */
	ls->fd = -1;
	ls->encl = NULL;
	kiln_evloop_release(&net->loop, &ls->h);
}

#define ACCEPT_RETRY_MS 200

void kd_net_accept_all(struct kd_net_listener *ls, kd_net_accept_fn fn)
{
	ls->h.deadline = 0;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = kd_accept(ls->fd, (struct sockaddr *)&peer, &plen,
				   SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd == -EMFILE) {
			KD_LOG_RL("net: out of descriptors: a connection was closed unserved");
			continue;
		}
		if (fd == -ENFILE) {
			/* Edge-triggered: nothing wakes us for what is pending; look again soon. */
			ls->h.deadline = ls->net->loop.now + ACCEPT_RETRY_MS;
			KD_LOG_RL("net: out of descriptors: accepting paused");
			return;
		}
		if (fd < 0) {
			if (fd != -EAGAIN)
				KD_LOG_RL("net: accept: %s", strerror(-fd));
			return;
		}
		fn(ls->net, ls, fd, &peer, plen);
		if (ls->h.dead)
			return;
	}
}

struct kd_net_encl *kd_net_peer_encl(struct kd_net *net, struct kd_net_listener *ls,
				     const struct sockaddr_storage *peer)
{
	const struct sockaddr_vm *vm = (const struct sockaddr_vm *)peer;

	if (ls->encl)
		return ls->encl;
	if (peer->ss_family != AF_VSOCK)
		return NULL;
	for (struct kd_net_encl *e = net->encls; e; e = e->next)
		if (e->nitro && e->cid == vm->svm_cid)
			return e;
	return NULL;
}

/* ---- per enclave ---- */

static const unsigned quota_cost[KD_NET_KINDS] = {
	[KD_NET_EGRESS] = 2, [KD_NET_DNS] = 1, [KD_NET_DNS_QUERY] = 1, [KD_NET_INGRESS] = 2,
};
static const char *const quota_what[KD_NET_KINDS] = {
	[KD_NET_EGRESS] = "egress flow",
	[KD_NET_DNS] = "DNS channel connection",
	[KD_NET_DNS_QUERY] = "DNS query",
	[KD_NET_INGRESS] = "ingress flow",
	[KD_NET_LOOKUP] = "name lookup",
};

int kd_net_quota_take(struct kd_net_quota *q, enum kd_net_kind kind)
{
	if (kind == KD_NET_DNS && q->used[kind] >= KD_NET_DNS_CONNS_MAX) {
		KD_LOG_RL("net: enclave %s: more than %d DNS channel connections; one closed",
			  q->name, KD_NET_DNS_CONNS_MAX);
		return -EMFILE;
	}
	if (kind == KD_NET_LOOKUP && q->used[kind] >= KD_NET_LOOKUPS_MAX)
		return -EAGAIN; /* the flow's own log line says why */
	if (q->fds + quota_cost[kind] > q->fd_budget) {
		KD_LOG_RL("net: enclave %s: its %lu descriptors are in use; %s refused", q->name,
			  q->fd_budget, quota_what[kind]);
		return -EMFILE;
	}
	q->used[kind]++;
	q->fds += quota_cost[kind];
	q->refs++;
	return 0;
}

static void quota_unref(struct kd_net_quota *q)
{
	if (q && --q->refs == 0)
		free(q);
}

void kd_net_quota_give(struct kd_net_quota *q, enum kd_net_kind kind)
{
	q->used[kind]--;
	q->fds -= quota_cost[kind];
	quota_unref(q);
}

int kd_net_encl_parse(json_t *ports, struct kd_net_encl **out)
{
	struct kd_net_encl *ne = calloc(1, sizeof(*ne));
	size_t i;
	json_t *v;
	int rc = 0;

	if (ne)
		ne->quota = calloc(1, sizeof(*ne->quota));
	if (!ne || !ne->quota) {
		free(ne);
		return kiln_err(ENOMEM, "out of memory");
	}
	ne->quota->refs = 1;
	if (ports && !json_is_null(ports) &&
	    (!json_is_array(ports) || json_array_size(ports) > KILN_PORTMAP_MAX))
		rc = kiln_err(EINVAL, "\"ports\" must be a list of at most %d mappings",
			      KILN_PORTMAP_MAX);
	json_array_foreach(ports, i, v) {
		if (rc < 0)
			break;
		rc = kiln_portmap_from_json(v, &ne->ports[ne->n_ports]);
		for (size_t j = 0; rc == 0 && j < ne->n_ports; j++)
			if (ne->ports[j].host_port == ne->ports[ne->n_ports].host_port)
				rc = kiln_err(EINVAL, "host port %u is mapped twice",
					      ne->ports[j].host_port);
		ne->n_ports++;
	}
	if (rc < 0) {
		free(ne->quota);
		free(ne);
		return kiln_err_wrap(rc, "register: ports[%zu]", i);
	}
	*out = ne;
	return 0;
}

void kd_net_encl_load(json_t *ports, struct kd_net_encl **out)
{
	if (kd_net_encl_parse(ports, out) == 0)
		return;
	kd_net_log("state file: %s; no port mappings", kiln_errmsg());
	if (kd_net_encl_parse(NULL, out) < 0)
		*out = NULL;
}

json_t *kd_net_encl_ports_json(const struct kd_net_encl *ne)
{
	json_t *a = json_array();

	for (size_t i = 0; ne && i < ne->n_ports; i++)
		json_array_append_new(a, kiln_portmap_to_json(&ne->ports[i]));
	return a;
}

static int chan_listener(struct kd_net *net, struct kd_net_encl *ne, uint32_t port,
			 kiln_ev_fn fn, struct kd_net_listener **out)
{
	struct kiln_chan_addr a = { .family = KILN_CHAN_VSOCK, .cid = KILN_CID_ANY, .port = port };
	int rc = ne ? kiln_chan_addr_in_dir(ne->chan_dir, port, &a) : 0;
	int fd;

	if (*out)
		return 0;
	if (rc < 0)
		return rc;
	fd = kiln_chan_listen(&a, 1024);
	if (fd < 0)
		return fd;
	*out = kd_net_listener_new(net, ne, fd, fn);
	return *out ? 0 : -ENOMEM;
}

static void encl_unlisten_locked(struct kd_net *net, struct kd_net_encl *ne)
{
	struct kiln_chan_addr a;

	for (struct kd_net_encl **p = &net->encls; *p; p = &(*p)->next)
		if (*p == ne) {
			*p = ne->next;
			break;
		}
	ne->listed = false;
	if (!ne->nitro && ne->egress && kiln_chan_addr_in_dir(ne->chan_dir, KILN_PORT_EGRESS, &a) == 0)
		unlink(a.path);
	if (!ne->nitro && ne->dns && kiln_chan_addr_in_dir(ne->chan_dir, KILN_PORT_DNS, &a) == 0)
		unlink(a.path);
	kd_net_listener_close(net, ne->egress);
	kd_net_listener_close(net, ne->dns);
	ne->egress = ne->dns = NULL;
	for (size_t i = 0; i < ne->n_ports; i++) {
		kd_net_listener_close(net, ne->ingress[i]);
		ne->ingress[i] = NULL;
	}
}

int kd_net_encl_listen(struct kd_net *net, struct kd_net_encl *ne, const char *name, bool nitro,
		       uint32_t cid, const char *chan_dir)
{
	int rc;

	if (!net)
		return 0; /* kilnd without its networking thread (unit tests) */
	if (!ne)
		return kiln_err(ENOMEM, "enclave %s: no networking state", name);
	snprintf(ne->name, sizeof(ne->name), "%s", name);
	snprintf(ne->quota->name, sizeof(ne->quota->name), "%s", name);
	ne->quota->fd_budget = net->fd_budget;
	ne->nitro = nitro;
	ne->cid = cid;
	snprintf(ne->chan_dir, sizeof(ne->chan_dir), "%s", chan_dir ? chan_dir : "");
	pthread_mutex_lock(&net->lock);
	if (nitro) {
		rc = chan_listener(net, NULL, KILN_PORT_EGRESS, kd_net_egress_accept,
				   &net->vsock_egress);
		if (rc == 0)
			rc = chan_listener(net, NULL, KILN_PORT_DNS, kd_net_dns_accept,
					   &net->vsock_dns);
	} else {
		rc = chan_listener(net, ne, KILN_PORT_EGRESS, kd_net_egress_accept, &ne->egress);
		if (rc == 0)
			rc = chan_listener(net, ne, KILN_PORT_DNS, kd_net_dns_accept, &ne->dns);
	}
	if (rc == 0)
		rc = kd_net_ingress_listen(net, ne);
	if (rc == 0 && !ne->listed) {
		ne->next = net->encls;
		net->encls = ne;
		ne->listed = true;
	}
	if (rc < 0)
		encl_unlisten_locked(net, ne);
	pthread_mutex_unlock(&net->lock);
	return rc;
}

void kd_net_encl_unlisten(struct kd_net *net, struct kd_net_encl *ne)
{
	if (!net || !ne)
		return;
	pthread_mutex_lock(&net->lock);
	encl_unlisten_locked(net, ne);
	pthread_mutex_unlock(&net->lock);
}

void kd_net_encl_free(struct kd_net *net, struct kd_net_encl *ne)
{
	if (!ne)
		return;
	if (!net) {
		quota_unref(ne->quota);
		free(ne);
		return;
	}
	pthread_mutex_lock(&net->lock);
	encl_unlisten_locked(net, ne);
	quota_unref(ne->quota); /* flows still running keep it until they end */
	pthread_mutex_unlock(&net->lock);
	free(ne);
}

/* ---- settings ---- */

static int add_resolver(struct kd_net *net, const char *text)
{
	char host[KILN_IP_STRLEN + 8];
	const char *colon = strrchr(text, ':');
	struct kiln_ip ip;
	unsigned long port = 53;
	size_t hl = strlen(text);
	size_t i = net->n_resolvers;

	if (i >= KD_RESOLVERS_MAX)
		return 0;
	/* "1.2.3.4", "1.2.3.4:5353", "[::1]:53", "::1" */
	if (text[0] == '[' && (colon = strstr(text, "]:"))) {
		hl = (size_t)(colon - text - 1);
		text++;
		port = strtoul(colon + 2, NULL, 10);
	} else if (colon && strchr(text, ':') == colon) {
		hl = (size_t)(colon - text);
		port = strtoul(colon + 1, NULL, 10);
	}
	if (hl >= sizeof(host) || port < 1 || port > 65535)
		return kiln_err(EINVAL, "resolver \"%s\": expected IP[:PORT]", text);
	memcpy(host, text, hl);
	host[hl] = '\0';
	if (host[hl ? hl - 1 : 0] == ']')
		host[hl - 1] = '\0';
	if (kiln_ip_parse(host, &ip) < 0)
		return kiln_err(EINVAL, "resolver \"%s\": expected IP[:PORT]", text);
	if (ip.family == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&net->resolvers[i];

		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		memcpy(&s->sin_addr, ip.a, 4);
		net->resolver_len[i] = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&net->resolvers[i];

		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)port);
		memcpy(&s->sin6_addr, ip.a, 16);
		net->resolver_len[i] = sizeof(*s);
	}
	net->n_resolvers++;
	return 0;
}

static void resolvers_from_system(struct kd_net *net)
{
	_cleanup_fclose_ FILE *f = fopen("/etc/resolv.conf", "re");
	char line[256], addr[128];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, " nameserver %127s", addr) == 1 && add_resolver(net, addr) < 0)
			kd_net_log("/etc/resolv.conf: %s", kiln_errmsg());
	if (!net->n_resolvers && add_resolver(net, "127.0.0.1") < 0)
		kd_net_log("%s", kiln_errmsg());
}

static int parse_deny(struct kd_net *net, const char *list)
{
	_cleanup_free_ char *copy = strdup(list);
	const char *rules[64];
	size_t n = 0;

	if (!copy)
		return kiln_err(ENOMEM, "out of memory");
	for (char *save, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == 64)
			return kiln_err(E2BIG, "--egress-deny: at most 64 rules");
		rules[n++] = t;
	}
	net->have_deny = true;
	return kiln_policy_init(&net->deny, NULL, 0, rules, n) < 0 ?
		       kiln_err_wrap(-EINVAL, "--egress-deny") : 0;
}

/* Descriptors one enclave may hold: kilnd's limit (raised at start) minus the reserve. */
static unsigned long fd_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1ul << 20;
	if (rl.rlim_cur <= 2 * KD_NET_FD_RESERVE)
		return rl.rlim_cur / 2;
	return rl.rlim_cur - KD_NET_FD_RESERVE;
}

/* ---- the thread ---- */

static void stop_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
}

static void *net_main(void *arg)
{
	struct kd_net *net = arg;
	char b;

	while (read(net->stop_pipe[0], &b, 1) != 1)
		kiln_evloop_turn(&net->loop, -1);
	return NULL;
}

static int setup(struct kd_net *net, const struct kilnd_opts *o)
{
	static struct kiln_evh stop_h = { .fn = stop_fn };
	int rc = kiln_evloop_init(&net->loop);

	if (rc < 0)
		return rc;
	net->loop.lock = &net->lock;
	net->loop.log = loop_log;
	/*
	 * Flows to a server on this host get a fixed send buffer and reno
	 * (relay.c says why). Only here: inside the enclave kiln-init's TCP is
	 * unpaced already and autotuning measured as well or better.
	 */
	net->loop.host_tcp_buf = HOST_TCP_BUF;
	net->fd_budget = fd_budget();
	for (size_t i = 0; rc == 0 && i < o->n_resolvers; i++)
		rc = add_resolver(net, o->resolvers[i]);
	if (rc == 0 && !net->n_resolvers)
		resolvers_from_system(net);
	if (rc == 0 && o->egress_deny)
		rc = parse_deny(net, o->egress_deny);
	net->msg = malloc(sizeof(*net->msg));
	if (rc == 0 && !net->msg)
		rc = kiln_err(ENOMEM, "out of memory");
	if (rc == 0 && (pipe2(net->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0 ||
			pipe2(net->resolved, O_CLOEXEC | O_NONBLOCK) < 0))
		rc = kiln_err(errno, "pipe: %s", strerror(errno));
	if (rc == 0)
		rc = kiln_evloop_add(&net->loop, net->stop_pipe[0], EPOLLIN, &stop_h);
	if (rc == 0) {
		net->resolved_h = kd_net_listener_new(net, NULL, net->resolved[0],
						      kd_net_egress_resolved);
		net->resolved[0] = -1; /* owned by the listener now */
		rc = net->resolved_h ? 0 : -ENOMEM;
	}
	return rc;
}

int kd_net_start(struct kd_net **out, const struct kilnd_opts *o)
{
	struct kd_net *net = calloc(1, sizeof(*net));
	sigset_t all, old;
	int rc;

	if (!net)
		return kiln_err(ENOMEM, "out of memory");
	net->stop_pipe[0] = net->stop_pipe[1] = net->resolved[0] = net->resolved[1] = -1;
	pthread_mutex_init(&net->lock, NULL);
	rc = setup(net, o);
	if (rc == 0) {
		/* Signals stay with the main loop's signalfd. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		rc = -pthread_create(&net->thread, NULL, net_main, net);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc < 0)
			rc = kiln_err(-rc, "pthread_create: %s", strerror(-rc));
	}
	net->running = rc == 0;
	*out = net;
	return rc;
}

void kd_net_stop(struct kd_net *net)
{
	if (!net)
		return;
	if (net->running && write(net->stop_pipe[1], "q", 1) == 1)
		pthread_join(net->thread, NULL);
	for (struct kd_net_encl *e = net->encls; e; e = net->encls)
		encl_unlisten_locked(net, e);
	kiln_evloop_free(&net->loop);
	for (int i = 0; i < 2; i++) {
		if (net->stop_pipe[i] >= 0)
			close(net->stop_pipe[i]);
		if (net->resolved[i] >= 0)
			close(net->resolved[i]);
	}
	if (net->have_deny)
		kiln_policy_free(&net->deny);
	free(net->msg);
	pthread_mutex_destroy(&net->lock);
	free(net);
}
