/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's networking: the parent half of egress (7001), DNS (7002) and ingress (7100). */
#ifndef KILN_KILND_NET_H
#define KILN_KILND_NET_H

#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "chan/addr.h"
#include "net/dns.h"
#include "net/evloop.h"
#include "net/policy.h"
#include "net/portmap.h"
#include "util/err.h"

/*
 * How this works: one thread with its own epoll (net/evloop.h) carries
 * every byte of every flow, so log forwarding and CLI requests on the main
 * loop never delay a flow and the other way round. The main thread only
 * adds and removes listeners, holding net->lock; the networking thread
 * holds it while it dispatches, and objects are freed by it only between
 * batches, so neither thread ever sees a freed object.
 *
 * Sim: per enclave, listeners on CHAN/7001 and CHAN/7002 (the enclave's
 * channel directory). Nitro: one vsock listener per port for all enclaves;
 * a connection's peer CID names the enclave, unknown CIDs are refused.
 * Ingress: a TCP listener per port mapping on the parent; each client gets
 * its own channel connection to the enclave's 7100.
 */
#define KD_RESOLVERS_MAX 4

struct kd_net_listener;

/*
 * What one enclave may hold in kilnd at once, so a hostile enclave runs
 * out of its own share and never out of kilnd's descriptors. Each enclave
 * may use kilnd's descriptor limit minus KD_NET_FD_RESERVE (kept for the
 * CLI, control channels and other enclaves): an egress or ingress flow
 * counts two (from its first byte to the relay's end), a DNS channel
 * connection and a DNS query in flight one each; DNS channel connections
 * are also capped at KD_NET_DNS_CONNS_MAX (kiln-init keeps one), and name
 * lookups in flight (a thread each) at KD_NET_LOOKUPS_MAX. A
 * connection over its enclave's share is closed at once, with a
 * rate-limited log line. The counts live in a small refcounted object, so
 * flows that outlive their enclave's listeners still give their share back
 * safely. Only touched under net->lock (or by the networking thread,
 * which holds it).
 */
#define KD_NET_FD_RESERVE 128
#define KD_NET_DNS_CONNS_MAX 4
#define KD_NET_LOOKUPS_MAX 32
#define KD_NET_DNS_IDLE_MS (300u * 1000) /* a DNS channel with nothing in flight */

enum kd_net_kind {
	KD_NET_EGRESS,
	KD_NET_DNS,
	KD_NET_DNS_QUERY,
	KD_NET_INGRESS,
	KD_NET_LOOKUP,
	KD_NET_KINDS
};

struct kd_net_quota {
	unsigned refs;
	unsigned used[KD_NET_KINDS];
	unsigned long fds, fd_budget;
	char name[64];
};

/* Take one unit of kind for the enclave of q: 0, or -EMFILE (logged) over its cap. */
int kd_net_quota_take(struct kd_net_quota *q, enum kd_net_kind kind);
/* Give one unit back (and the reference that came with it). */
void kd_net_quota_give(struct kd_net_quota *q, enum kd_net_kind kind);

/* The networking side of one enclave; owned by struct kd_enclave (e->net). */
struct kd_net_encl {
	char name[64];
	bool nitro;		/* channels over vsock, peers known by cid (also a sim by cid) */
	uint32_t cid;
	char chan_dir[KILN_CHAN_PATH_MAX];
	struct kiln_portmap ports[KILN_PORTMAP_MAX];
	size_t n_ports;
	struct kd_net_listener *egress, *dns;
	struct kd_net_listener *ingress[KILN_PORTMAP_MAX];
	struct kd_net_quota *quota;	/* shared with its live flows */
	struct kd_net_encl *next;	/* in net->encls while listening */
	bool listed;
};

struct kd_net {
	struct kiln_evloop loop;
	pthread_mutex_t lock;
	pthread_t thread;
	bool running;
	int stop_pipe[2];
	struct sockaddr_storage resolvers[KD_RESOLVERS_MAX];
	socklen_t resolver_len[KD_RESOLVERS_MAX];
	size_t n_resolvers;
	struct kiln_policy deny;	/* allow-all plus the local deny rules */
	bool have_deny;
	struct kd_net_listener *vsock_egress, *vsock_dns;
	struct kd_net_encl *encls;
	unsigned long fd_budget;	/* descriptors one enclave may hold */
	struct kiln_dns_msg *msg;	/* scratch */
	int resolved[2];		/* pipe: finished name lookups */
	struct kd_net_listener *resolved_h;
};

struct kd_net_listener {
	struct kiln_evh h;
	struct kd_net *net;
	struct kd_net_encl *encl;	/* NULL: the shared vsock listener */
	int fd;
	uint16_t port;			/* ingress: the enclave port */
};

struct kilnd_opts;
/* Resolvers and --egress-deny from o; *out is set (and freed by kd_net_stop) even on failure. */
int kd_net_start(struct kd_net **out, const struct kilnd_opts *o) KILN_MUST;
void kd_net_stop(struct kd_net *net);
/* register: parse "ports" ([{host_ip, host_port, port}]) into a new *out. */
int kd_net_encl_parse(json_t *ports, struct kd_net_encl **out) KILN_MUST;
/* Listen for this enclave; a host port in use fails with "port N already in use". */
int kd_net_encl_listen(struct kd_net *net, struct kd_net_encl *ne, const char *name, bool nitro,
		       uint32_t cid, const char *chan_dir) KILN_MUST;
void kd_net_encl_unlisten(struct kd_net *net, struct kd_net_encl *ne);
void kd_net_encl_free(struct kd_net *net, struct kd_net_encl *ne);
/* From the state file: bad or missing "ports" give none (logged). */
void kd_net_encl_load(json_t *ports, struct kd_net_encl **out);
/* "ports" for ps and the state file. */
json_t *kd_net_encl_ports_json(const struct kd_net_encl *ne);

/* Internal to src/kilnd/net*.c */
void kd_net_log(const char *fmt, ...) KILN_PRINTF(1, 2);
struct kd_net_listener *kd_net_listener_new(struct kd_net *net, struct kd_net_encl *ne, int fd,
					    kiln_ev_fn fn);
void kd_net_listener_close(struct kd_net *net, struct kd_net_listener *ls);
/* Accept everything pending on ls; peer CID for vsock (else 0). */
typedef void (*kd_net_accept_fn)(struct kd_net *net, struct kd_net_listener *ls, int fd,
				 const struct sockaddr_storage *peer, socklen_t plen);
void kd_net_accept_all(struct kd_net_listener *ls, kd_net_accept_fn fn);
/* The enclave a connection on ls came from: its own listener's, or by vsock CID. */
struct kd_net_encl *kd_net_peer_encl(struct kd_net *net, struct kd_net_listener *ls,
				     const struct sockaddr_storage *peer);

void kd_net_egress_accept(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events);
void kd_net_egress_resolved(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events);
void kd_net_dns_accept(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events);
void kd_net_ingress_accept(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events);
int kd_net_ingress_listen(struct kd_net *net, struct kd_net_encl *ne) KILN_MUST;

#endif
