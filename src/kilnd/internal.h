/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd internals shared by its files: the daemon, enclaves, connections. */
#ifndef KILN_KILND_INTERNAL_H
#define KILN_KILND_INTERNAL_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "chan/addr.h"
#include "chan/frame.h"
#include "kilnd/kilnd.h"
#include "util/bytebuf.h"

#define KD_REQ_MAX (64 * 1024)		/* one CLI request line */
#define KD_OUT_HIGH (256 * 1024)	/* stop reading history above this */
#define KD_OUT_MAX (8u << 20)		/* a follower this far behind is dropped */
#define KD_HIST_FILES 4
#define KD_HELLO_MS 5000		/* a control connection's time to say HELLO */
#define KD_PREHELLO_MAX 4		/* per enclave: control connections before HELLO */

struct kd;
struct kd_watch;
typedef void (*kd_fn)(struct kd *d, struct kd_watch *w, uint32_t events);

/* An fd in the epoll set; epoll's data.ptr points here. fd < 0: closed. */
struct kd_watch {
	int fd;
	uint32_t events;
	kd_fn fn;
};

enum kd_state { KD_STARTING, KD_RUNNING, KD_EXITED, KD_STOPPED };

struct kd_enclave {
	struct kd_enclave *next;
	int dead;			/* forgotten: freed after this loop turn */
	char name[KILN_NAME_MAX + 1];
	char id[13];
	int nitro;			/* mode: 0 sim, 1 nitro */
	int vsock;			/* channels over vsock, known by cid: nitro, or a
					 * sim registered with a cid (the guest lab) */
	char chan_dir[KILN_CHAN_PATH_MAX];
	uint32_t cid;
	enum kd_state state;
	int exit_code, signal;		/* -1: unknown / none */
	uint64_t started_ns, ended_ns;
	int64_t cpus, memory_mib;
	char *eif;
	int pid;			/* runtime-side process, 0: none */
	uint32_t init_pid;
	char pcr0[KILN_PCR_HEX + 1];
	uint64_t last_seq, dropped, missing;
	int heartbeat;			/* the boot heartbeat was seen */
	int debug;			/* started in debug mode (has a console) */
	int kill_signal;		/* sent to pid when a stop times out (0: SIGKILL) */
	int stop_requested;
	int stop_phase;			/* 0 asked, 1 kill_signal sent, 2 SIGKILL sent */
	int64_t stop_deadline;		/* monotonic ms, 0: none */
	struct kd_watch ctl_listen, hb_listen, pidfd;
	struct kd_conn *ctl;		/* the live control connection */
	int log_fd;
	uint64_t log_size;
	struct kd_net_encl *net;	/* egress, DNS, ingress listeners (kilnd/net.h) */
	struct kd_sim_nsm *nsm;		/* sim: the sim NSM on port 7004 (kilnd/sim_nsm.h) */
	json_t *volumes;		/* register's "volumes" (kilnd/store.h), or NULL */
	struct kd_store *store;		/* the storage channel on port 7003 (own listener in
					 * sim; over vsock kilnd's shared one) */
};

enum kd_conn_kind { KD_CONN_CTL, KD_CONN_HB, KD_CONN_CLIENT };
enum kd_client_mode { KD_IDLE, KD_LOGS, KD_STOPWAIT };

struct kd_conn {
	struct kd_watch w;		/* first: epoll data points at it */
	struct kd_conn *next;
	int dead;
	enum kd_conn_kind kind;
	struct kd_enclave *e;
	struct kiln_bytebuf in, out;
	struct kiln_frame_dec *dec;	/* CTL */
	int hello;			/* CTL: HELLO received */
	int64_t deadline;		/* CTL before HELLO, HB: closed at this monotonic ms */
	/* CLIENT */
	enum kd_client_mode mode;
	int follow, close_after, rd_eof, dispatching;
	uint64_t since;
	FILE *hist[KD_HIST_FILES];
	int nhist, ihist;
};

struct kd {
	int epfd;
	struct kd_watch sock, sig;
	struct kd_watch vsock_ctl, vsock_hb;	/* vsock: shared by all enclaves (hb: sim only) */
	struct kd_watch vsock_store;		/* vsock: the storage channel (7003), all enclaves */
	char state_dir[PATH_MAX];
	char sock_path[KILN_CHAN_PATH_MAX];
	uint64_t log_max;
	struct kd_enclave *enclaves;
	struct kd_conn *conns;
	int quit;
	struct kd_net *net;		/* the networking thread (kilnd/net.h) */
	int hello_ms;			/* HELLO deadline (0: KD_HELLO_MS; tests set it) */
	int64_t chan_resume_at;		/* > 0: channel listeners paused until then (chan.c) */
};

/* loop.c */
int kd_watch_add(struct kd *d, struct kd_watch *w, int fd, uint32_t events, kd_fn fn) KILN_MUST;
void kd_watch_mod(struct kd *d, struct kd_watch *w, uint32_t events);
void kd_watch_close(struct kd *d, struct kd_watch *w);
void kd_log(const char *fmt, ...) KILN_PRINTF(1, 2);
uint64_t kd_now_ns(void);
int64_t kd_mono_ms(void);
struct kd_conn *kd_conn_new(struct kd *d, int fd, enum kd_conn_kind kind, kd_fn fn);
void kd_conn_close(struct kd *d, struct kd_conn *c);

/* enclave.c */
const char *kd_state_name(enum kd_state s);
int kd_state_final(enum kd_state s);
/* Final, and the runtime pid (if any) has exited: nothing of it is left. */
int kd_enclave_gone(const struct kd_enclave *e);
struct kd_enclave *kd_enclave_find(struct kd *d, const char *name);
json_t *kd_enclave_json(const struct kd_enclave *e);
int kd_enclave_register(struct kd *d, json_t *req, struct kd_enclave **out) KILN_MUST;
int kd_enclave_persist(struct kd *d, struct kd_enclave *e) KILN_MUST;
int kd_enclave_load_all(struct kd *d) KILN_MUST;
void kd_enclave_set_state(struct kd *d, struct kd_enclave *e, enum kd_state s);
void kd_enclave_stop(struct kd *d, struct kd_enclave *e, int sig, unsigned timeout_s);
/* The runtime's report of how the enclave ended (op "exited"). */
void kd_enclave_exited(struct kd *d, struct kd_enclave *e, int code, int sig);
int kd_enclave_forget(struct kd *d, struct kd_enclave *e) KILN_MUST;
void kd_enclave_tick(struct kd *d);
void kd_enclave_free(struct kd *d, struct kd_enclave *e);
int kd_enclave_listen(struct kd *d, struct kd_enclave *e) KILN_MUST;

/* chan.c: control and heartbeat connections */
void kd_chan_accept_ctl(struct kd *d, struct kd_watch *w, uint32_t events);
void kd_chan_accept_hb(struct kd *d, struct kd_watch *w, uint32_t events);
void kd_chan_accept_store(struct kd *d, struct kd_watch *w, uint32_t events);
/* The live enclave reached over vsock at cid, or NULL. */
struct kd_enclave *kd_chan_by_cid(struct kd *d, uint32_t cid);
int kd_chan_send_stop(struct kd *d, struct kd_enclave *e, int sig, unsigned timeout_ms) KILN_MUST;
/* Close control connections without HELLO and heartbeats past their deadline. */
void kd_chan_tick(struct kd *d, int64_t now);

/* logstore.c */
int kd_logs_open(struct kd *d, struct kd_enclave *e) KILN_MUST;
void kd_logs_close(struct kd_enclave *e);
/* On reload: last_seq from the log itself when it is past the state file's. */
void kd_logs_recover_seq(struct kd *d, struct kd_enclave *e);
/* Append one record (a JSON object) and push it to followers. */
void kd_logs_append(struct kd *d, struct kd_enclave *e, json_t *rec);
/* A kilnd event line in the enclave's log (stream "kilnd"). */
void kd_logs_event(struct kd *d, struct kd_enclave *e, const char *event, json_t *extra,
		   const char *fmt, ...) KILN_PRINTF(5, 6);
json_t *kd_logs_record(const struct kiln_log *l, uint16_t flags);
int kd_logs_paths(struct kd *d, const char *name, char *cur, char *old, size_t len) KILN_MUST;
/* Bytes as a JSON string, invalid UTF-8 replaced by U+FFFD. */
json_t *kd_json_bytes(const uint8_t *p, size_t n);

/* api.c: CLI clients */
void kd_api_accept(struct kd *d, struct kd_watch *w, uint32_t events);
/* The enclave reached a final state: end followers and stop waiters. */
void kd_api_enclave_ended(struct kd *d, struct kd_enclave *e);
/* A record was appended: push it to live followers. */
void kd_api_push(struct kd *d, struct kd_enclave *e, const char *line, size_t n);
/* The current log was rotated: readers still in history mode add the new file. */
void kd_api_rotated(struct kd *d, struct kd_enclave *e, const char *path);
void kd_api_free_client(struct kd_conn *c);
/* Each loop turn: resume a CLI listener paused for lack of descriptors. */
void kd_api_tick(struct kd *d);

#endif
