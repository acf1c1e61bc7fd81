/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's networking: transparent TCP egress, the DNS resolver, ingress from the parent. */
#ifndef KILN_INIT_NET_H
#define KILN_INIT_NET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "chan/addr.h"
#include "init/admit.h"
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
 *   ingress  the parent connects to 7100 per client: header, then, if the
 *            measured config admits the port (init/admit.h), a connection
 *            to the enclave's own address KILN_ENCLAVE_IP4:PORT, else
 *            [KILN_ENCLAVE_IP6]:PORT (PROXY v2 first if configured); never
 *            to a loopback address, so nothing bound to 127.0.0.1 or ::1
 *            (kiln-init's DNS, egress and attestation listeners, the app's
 *            loopback-only services) is reachable from the parent.
 * The networking thread shares nothing with the supervisor loop except
 * stderr, which it writes through its own non-blocking file description,
 * dropping lines rather than ever blocking, so a stalled console or log
 * channel never stalls a network flow and vice versa.
 */
#define KILN_EGRESS_PORT 15001
#define KILN_DNS_PORT 53

/*
 * The enclave's own addresses, a /32 and a /128 on lo (no dummy or veth
 * module needed: the stock enclave kernels have lo only). Chosen so they
 * never shadow anything an app reaches through egress: 192.0.0.8 is
 * RFC 7600's IPv4 dummy address, never a destination on any network (it
 * is also the source of the app's redirected flows, see setup_interception);
 * fd6b:696c:6e00::8 is in a Unique Local /48 (RFC 4193) whose global ID is
 * "kiln" in ASCII, so a clash needs a private network that picked that
 * exact /48 and the ::8 host in it. Both are exempt from the egress
 * REDIRECT (net/redirect.h), and neither is loopback, so the attestation
 * API (attest/http_api.c: loopback peers only) refuses flows from them.
 */
#define KILN_ENCLAVE_IP4 { .family = 4, .a = { 192, 0, 0, 8 } }
#define KILN_ENCLAVE_IP6 \
	{ .family = 6, .a = { 0xfd, 0x6b, 0x69, 0x6c, 0x6e, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8 } }
#define KILN_ENCLAVE_IP4_TEXT "192.0.0.8"
#define KILN_ENCLAVE_IP6_TEXT "fd6b:696c:6e00::8"

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
	struct kiln_admit admit;	/* the ports ingress admits */
	bool ingress_fam[2];		/* IPv4, IPv6: the enclave address is usable */
	int log_fd;
	int ready_fd;			/* the gate's write end until setup is done */
	struct kiln_dnsfwd *fwd;	/* net_dns.c */
};

/*
 * Read network settings from config ("network" of kiln.yaml as JSON, from
 * struct kiln_init_config.kiln; may be NULL) and the image's exposed_ports
 * (the ingress admission rule, init/admit.h), then start the networking
 * thread, which sets up interception, writes /etc/resolv.conf and
 * /etc/hosts and binds the listeners while kiln-init goes on (the app's
 * start overlaps them), then writes one byte into the gate pipe whose read
 * end (CLOEXEC) goes to *gate: the app reads it before its exec, so it
 * never runs without its network. Failures of single parts are logged and
 * that part is skipped (the app still starts); only a broken config is an
 * error.
 */
int kiln_init_net_start(const json_t *config, const json_t *exposed_ports, const char *chan_dir,
			int *gate) KILN_MUST;

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
