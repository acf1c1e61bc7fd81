/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's networking: transparent TCP egress, the DNS resolver, ingress from the parent. */
#ifndef KILN_INIT_NET_H
#define KILN_INIT_NET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "chan/addr.h"
#include "net/dns.h"
#include "net/dnsmap.h"
#include "net/evloop.h"
#include "net/policy.h"
#include "util/err.h"

/*
 * How this works: before the app starts, kiln-init (root, in the enclave's
 * network namespace) brings lo up, routes every IPv4 and IPv6 destination
 * to lo, and installs the iptables-legacy nat rule that REDIRECTs every TCP
 * connection not to loopback to KILN_EGRESS_PORT, where it listens on
 * 127.0.0.1 and [::1]. All listeners are bound before the app runs, so the
 * app never sees a connection fail for lack of them. Then one thread with
 * its own epoll (net/evloop.h) serves:
 *   egress   accept, SO_ORIGINAL_DST, the names the resolver learnt for that
 *            IP, the measured policy; deny: RST and a log line; allow: one
 *            connection to the parent's 7001 per flow, request header, wait
 *            for the status (non-OK: RST), then relay both ways.
 *   DNS      UDP and TCP on 127.0.0.1:53: answers from the TTL cache, else
 *            forwarded over one connection to the parent's 7002 with IDs
 *            rewritten; every answer is learnt into the IP -> name map.
 *   ingress  the parent connects to 7100 per client: header, then a
 *            connection to 127.0.0.1:PORT (PROXY v2 first if configured).
 * The networking thread shares nothing with the supervisor loop except
 * stderr, which it writes through its own non-blocking file description,
 * dropping lines rather than ever blocking, so a stalled console or log
 * channel never stalls a network flow and vice versa.
 */
#define KILN_EGRESS_PORT 15001
#define KILN_DNS_PORT 53

struct kiln_init_ingress {
	uint16_t port;
	bool proxy_protocol;
};

struct kiln_init_net {
	struct kiln_evloop loop;
	const char *chan_dir;		/* sim channel directory, NULL on Nitro */
	struct kiln_chan_addr egress_addr, dns_addr;
	struct kiln_policy policy;
	struct kiln_dnsmap *map;
	struct kiln_dns_cache *cache;
	struct kiln_dns_msg *msg;	/* scratch (large) */
	bool dns;			/* network.dns == "parent" */
	uint32_t idle_ms;
	struct kiln_init_ingress *ingress;
	size_t n_ingress;
	int log_fd;
	int ready_fd;			/* the gate's write end until setup is done */
	struct kiln_dnsfwd *fwd;	/* net_dns.c */
};

/*
 * Read network settings from the config file, then start the networking
 * thread, which sets up interception, writes /etc/resolv.conf and
 * /etc/hosts and binds the listeners while kiln-init goes on (the app's
 * start overlaps them), then writes one byte into the gate pipe whose read
 * end (CLOEXEC) goes to *gate: the app reads it before its exec, so it
 * never runs without its network. Failures of single parts are logged and
 * that part is skipped (the app still starts); only a broken config is an
 * error.
 */
int kiln_init_net_start(const char *config_path, const char *chan_dir, int *gate) KILN_MUST;

/* net_egress.c, net_dns.c, net_ingress.c: listeners registered in n->loop. */
int kiln_init_egress_listen(struct kiln_init_net *n) KILN_MUST;
int kiln_init_dns_listen(struct kiln_init_net *n) KILN_MUST;
/* Queries the resolver is waiting on the parent for (tests). */
size_t kiln_init_dns_pending(const struct kiln_init_net *n);
int kiln_init_ingress_listen(struct kiln_init_net *n) KILN_MUST;
/* A TCP listener on a loopback address (v6only for [::1]); CLOEXEC, NONBLOCK. */
int kiln_init_tcp_listen(int family, uint16_t port) KILN_MUST;
/*
 * Take ownership of listening socket fd: every accepted connection (CLOEXEC,
 * NONBLOCK) goes to on_accept; accept errors other than EAGAIN are logged
 * under what. On failure fd is closed.
 */
int kiln_init_listener_add(struct kiln_init_net *n, int fd, const char *what,
			   void (*on_accept)(struct kiln_init_net *n, int fd)) KILN_MUST;

#endif
