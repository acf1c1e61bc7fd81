/* SPDX-License-Identifier: Apache-2.0 */
/* The sim runtime: an EIF run in namespaces on any Linux machine, without Nitro. */
#ifndef KILN_SIM_SIM_H
#define KILN_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/*
 * How `kiln run --sim` works (docs/architecture.md):
 *
 *   monitor (the kiln process, like conmon)       enclave (clone3: new mount, PID,
 *   -------------------------------------         net, UTS, IPC [+ user] namespaces)
 *   validate the EIF, memory >= 4 x EIF size
 *   lock STATE/sim/NAME, make root/ and chan/
 *   register with kilnd (it listens in chan/)
 *   v2: cgroup child with the cpu/memory limits
 *   clone3 (v2: CLONE_INTO_CGROUP) ------------>  wait for "go" (EOF: monitor died)
 *   uid/gid map (user namespace)
 *   "go" -------------------------------------->  private mounts, tmpfs on root/ (size =
 *   v1: cgroup child with the limits              memory), unpack ramdisk1..N there
 *   the cgroup ------------------------------->   (or mount the cached tree under it),
 *                                                 lo up, hostname, /proc /sys(ro) /dev
 *                                                 /dev/pts /dev/shm /run /tmp, chan/ at
 *                                                 /run/kiln-chan (kiln-init detaches it
 *                                                 before the app starts); wait for the
 *                                                 cgroup, v1: join it (tasks <- 0);
 *                                                 pivot_root,
 *                                                 exec cmd
 *   <-- error pipe: a message, or EOF on exec --  as PID 1 with env + KILN_CHAN
 *   forward signals, wait, exit status
 *   remove cgroup, chan/, root/, lock
 *
 * Every mount is made inside the enclave's own mount namespace, so the kernel
 * frees all of them (and the tmpfs holding the rootfs) when the enclave's
 * last process exits, even if the monitor is SIGKILLed. The enclave gets
 * PR_SET_PDEATHSIG(SIGKILL), so it never outlives its monitor.
 */

/* Where the channel directory appears inside the enclave. */
#define KILN_SIM_CHAN_MOUNT "/run/kiln-chan"
/* The variable kiln-init reads to find the channels in sim. */
#define KILN_SIM_CHAN_ENV "KILN_CHAN=unix:" KILN_SIM_CHAN_MOUNT
#define KILN_SIM_ID_LEN 12

struct kiln_sim_opts {
	const char *eif_path;
	const char *name;	/* NULL: derived from the EIF file name */
	const char *state_dir;	/* NULL: kiln_sim_state_dir() */
	const char *kilnd_path;	/* NULL: kilnd beside the kiln executable, then PATH */
	uint64_t memory_mib;	/* 0: the EIF's default */
	unsigned cpus;		/* 0: the EIF's default */
	bool debug;		/* print each setup step */
	bool detach;		/* -d: print the id and run in the background */
	bool no_kilnd;		/* neither start nor register with kilnd */
	uint32_t vsock_cid;	/* 0: AF_UNIX channel directory; else --channel vsock: the
				 * channels are vsock, the parent at this CID (Nitro's paths) */
	const char *const *ports; /* -p [HOSTIP:]HOSTPORT:ENCLAVEPORT (kilnd listens) */
	size_t n_ports;
	const char *const *vol_names; /* -v HOSTDIR:PATH: volume names (fs/wire.h) */
	const char *const *vol_hosts; /* and their absolute host directories */
	const bool *vol_plain;	      /* and whether -v said :plain (NULL: none did) */
	size_t n_volumes;
};

/*
 * Run the EIF and return the process exit code: the app's (128 + signal
 * when killed), or with detach 0 once it has started. Setup failures return
 * a negative errno with one clear line in kiln_errmsg().
 */
int kiln_sim_run(const struct kiln_sim_opts *opts) KILN_MUST;

/* --- state.c: STATE/sim/NAME, locked by the running monitor --- */

/* $KILN_STATE_DIR, else /run/kiln as root, else $XDG_RUNTIME_DIR/kiln. */
int kiln_sim_state_dir(char *buf, size_t len) KILN_MUST;

/* A valid enclave name from an EIF path ("dir/app.eif" -> "app-1a2b3c"). */
int kiln_sim_default_name(const char *eif_path, char *buf, size_t len) KILN_MUST;

struct kiln_sim_state {
	char dir[4096];	 /* STATE/sim/NAME */
	char root[4200]; /* DIR/root: the tmpfs mount point (inside the enclave only) */
	char chan[4200]; /* DIR/chan: the AF_UNIX channel directory */
	int lock_fd;	 /* flock()ed for the monitor's lifetime */
};

/* Create and lock STATE/sim/NAME; -EBUSY "name already in use" when locked.
 * Leftovers of a monitor that was killed are cleaned first. */
int kiln_sim_state_open(const char *state_dir, const char *name,
			struct kiln_sim_state *st) KILN_MUST;
/* Remove everything kiln_sim_state_open() created; safe to call twice. */
void kiln_sim_state_close(struct kiln_sim_state *st);

/* --- unpack.c: ramdisks -> a directory --- */

/*
 * Unpack the customer ramdisks (ramdisk1..N, in order, as the kernel would)
 * of a validated EIF into dirfd, through the bounds-checked cpio reader.
 * Names are resolved beneath dirfd without following symlinks; ownership is
 * kept where the caller may chown (else the files stay the caller's).
 */
struct eif_info;
int kiln_sim_unpack(int eif_fd, const struct eif_info *info, int dirfd) KILN_MUST;

/* --- rootfs_cache.c: one unpacked rootfs per EIF content, shared read-only --- */

struct eif_pcrs;
struct kiln_sim_rootfs {
	char dir[4096];	 /* $KILN_CACHE_DIR, else /var/cache/kiln/rootfs (root only) */
	char key[64];	 /* "v1-" + hex of PCR0's first 24 bytes: the tree's name */
	char fill[96];	 /* not ready: the name this run unpacks into first */
	bool ready;	 /* dir/key is complete */
	int dir_fd;	 /* -1: no cache for this run (unpack into the tmpfs) */
	int lock_fd;	 /* shared flock on dir/key.lock while the enclave may use it */
};

/*
 * In the monitor, before the clone: lock the tree for the EIF whose (full,
 * recorded) check gave pcrs, and say whether it still has to be unpacked.
 * Fails (no cache: the caller unpacks into the tmpfs as before) when there
 * is no usable cache directory.
 */
int kiln_sim_rootfs_open(const struct eif_pcrs *pcrs, const char *id,
			 struct kiln_sim_rootfs *rf) KILN_MUST;
/* In the enclave (by names: rf's fds are the monitor's): unpack into
 * rf->fill and publish it as rf->key (not ready only). */
int kiln_sim_rootfs_fill(const struct kiln_sim_rootfs *rf, int eif_fd,
			 const struct eif_info *info) KILN_MUST;
/* In the monitor once the enclave is gone: unlock; after a fill, prune old trees. */
void kiln_sim_rootfs_close(struct kiln_sim_rootfs *rf);

/* --- bootfiles.c: the ramdisk's cmd and env files --- */

#define KILN_SIM_FILE_MAX (1024 * 1024)
#define KILN_SIM_LINES_MAX 4096

/* NULL-terminated vector of NUL-terminated lines; v[i] point into buf. */
struct kiln_sim_lines {
	char *buf;
	char **v;
	size_t n;
};

/* cmd: one argv element per line, at least one, argv[0] not empty. */
int kiln_sim_parse_cmd(const char *buf, size_t len, struct kiln_sim_lines *out) KILN_MUST;
/* env: NAME=VALUE per line; empty lines skipped; anything else is an error. */
int kiln_sim_parse_env(const char *buf, size_t len, struct kiln_sim_lines *out) KILN_MUST;
/* Set entry ("NAME=value"): replace NAME's value when present, else append.
 * entry is not copied and must outlive env. */
int kiln_sim_env_set(struct kiln_sim_lines *env, const char *entry) KILN_MUST;
/* Add entry unless NAME is present. */
int kiln_sim_env_default(struct kiln_sim_lines *env, const char *entry) KILN_MUST;
void kiln_sim_lines_free(struct kiln_sim_lines *l);

/* --- cgroup.c: cpu and memory limits --- */

enum kiln_sim_cg_kind { KILN_SIM_CG_NONE, KILN_SIM_CG_V1, KILN_SIM_CG_V2 };

#define KILN_SIM_CG_MAX 3
struct kiln_sim_cgroup {
	enum kiln_sim_cg_kind kind;
	char dirs[KILN_SIM_CG_MAX][4200]; /* one per v1 controller, or one v2 dir */
	unsigned ndirs;
	bool weighted; /* dirs[0] has a cpu weight, which its parent kiln/ sums */
};

/*
 * Where the limits go: true with the cgroup2 mount in base when it offers
 * the cpu and memory controllers (a pure v2 host); false: v1, if anything.
 */
bool kiln_sim_cgroup_v2_here(char *base, size_t len);
/*
 * Create the cgroup child kiln/NAME with cpu.max = cpus x 100 ms per 100 ms
 * (v1: cfs_quota_us/cfs_period_us, cpuset of cpus CPUs), cpu.weight = cpus
 * x 100 (v1: cpu.shares = cpus x 1024) with kiln/'s weight the sum of its
 * children's (cgroup.c says why), and memory.max =
 * memory_mib (v1: memory.limit_in_bytes), under v2_base (what
 * kiln_sim_cgroup_v2_here found) or, when it is empty, the v1 hierarchies.
 * Fails (kind NONE, why in kiln_errmsg()) when that cannot be used; the
 * caller says so.
 */
int kiln_sim_cgroup_create(const char *v2_base, const char *name, unsigned cpus,
			   uint64_t memory_mib, struct kiln_sim_cgroup *cg) KILN_MUST;
/*
 * The two ways of kiln_sim_cgroup_create under given mounts: base is the
 * cgroup2 mount; bases are the v1 cpu, cpuset and memory mounts ("" when
 * absent). The caller removes cg on failure. (Tests run them on a copy of
 * the files the kernel provides.)
 */
int kiln_sim_cgroup_v2_at(const char *base, const char *name, unsigned cpus,
			  uint64_t memory_mib, struct kiln_sim_cgroup *cg) KILN_MUST;
int kiln_sim_cgroup_v1_at(const char *const base[KILN_SIM_CG_MAX], const char *name,
			  unsigned cpus, uint64_t memory_mib, struct kiln_sim_cgroup *cg) KILN_MUST;
/* Move pid into every directory of cg. */
int kiln_sim_cgroup_add(const struct kiln_sim_cgroup *cg, pid_t pid) KILN_MUST;
/*
 * v1: move the calling thread (the whole process while it has one thread)
 * into every directory of cg through its "tasks" file. Unlike writing a pid
 * to cgroup.procs, a thread moving itself takes no global lock and waits
 * for no RCU grace period (kernel/cgroup: "we can skip the global lock"),
 * which is milliseconds of every sim start.
 */
int kiln_sim_cgroup_join_self(const struct kiln_sim_cgroup *cg) KILN_MUST;
/* v2: an O_DIRECTORY fd of the cgroup for clone3's CLONE_INTO_CGROUP, or -1. */
int kiln_sim_cgroup_dirfd(const struct kiln_sim_cgroup *cg);
/* rmdir every directory (retrying while the last tasks exit), then reweigh kiln/. */
void kiln_sim_cgroup_remove(struct kiln_sim_cgroup *cg);

/* --- enclave.c: the process inside the namespaces --- */

struct kiln_sim_enclave {
	const char *name;	/* hostname */
	const char *root;	/* tmpfs mount point */
	const char *chan;	/* bind-mounted at KILN_SIM_CHAN_MOUNT (unless vsock_cid) */
	uint32_t vsock_cid;	/* channels over vsock to this parent CID; 0: chan */
	int eif_fd;
	const struct eif_info *info;
	uint64_t memory_mib;	/* tmpfs size */
	bool userns;		/* running as a mapped root in a user namespace */
	bool debug;
	int console_fd;		/* -1: no terminal, /dev/console is /dev/null */
	int limits_fd;		/* before exec: a struct kiln_sim_cgroup arrives here (v1:
				 * the enclave moves itself in; v2: it is in already) */
	const struct kiln_sim_rootfs *rootfs; /* NULL: no cache, unpack into the tmpfs */
};

/*
 * In the enclave child, before "go" where it may (it is root of its
 * namespaces): private mount propagation, lo up, the hostname. Needs no
 * state directory, so it overlaps with the monitor's preparations.
 */
int kiln_sim_enclave_early(const struct kiln_sim_enclave *e) KILN_MUST;
/*
 * In the enclave child after "go" and the early steps: build the enclave's
 * filesystem and exec its cmd as PID 1. Returns only on failure (negative
 * errno, message set).
 */
int kiln_sim_enclave_exec(const struct kiln_sim_enclave *e) KILN_MUST;

/* --- idmap.c --- */

/*
 * Write the user namespace maps of pid (an ordinary user's enclave): the
 * caller as root plus its /etc/subuid and /etc/subgid ranges through
 * newuidmap/newgidmap (*full), else the caller alone as root.
 */
int kiln_sim_map_ids(pid_t pid, bool *full) KILN_MUST;

/* --- nsprobe.c --- */

/* Explain why the namespaces in flags cannot be created here: which one, and
 * the sysctl or privilege behind it. Always returns a negative errno. */
int kiln_sim_ns_explain(unsigned long flags, int clone_errno) KILN_MUST;

/* --- kilnd_client.c: the register op of kilnd's CLI protocol --- */

struct kiln_sim_register {
	const char *name;
	const char *chan_dir;	/* or, when NULL, the enclave is known by cid */
	uint32_t cid;
	const char *eif;
	unsigned cpus;
	uint64_t memory_mib;
	pid_t pid;		/* the monitor: kilnd watches it */
	int kill_signal;	/* kilnd sends it to pid when a stop times out */
	const char *const *ports; /* -p specs (net/portmap.h), sent as "ports" */
	size_t n_ports;
	const char *const *vol_names, *const *vol_hosts; /* -v, sent as "volumes" */
	const bool *vol_plain; /* -v ...:plain (NULL: none) */
	size_t n_volumes;
	bool debug;
};

/* The signal the monitor takes as "kill the enclave now" (kilnd's stop timeout). */
#define KILN_SIM_KILL_SIGNAL (SIGRTMIN + 2)

/* STATE/kilnd.sock into buf. */
int kiln_sim_kilnd_socket(const char *state_dir, char *buf, size_t len) KILN_MUST;
/*
 * Send {"op":"register",...} on STATE/kilnd.sock and read the reply line.
 * 0 with the id kilnd assigned; -ENOENT/-ECONNREFUSED when no kilnd serves
 * the socket; kilnd's own error (e.g. the name in use) as -EEXIST/-EINVAL.
 */
int kiln_sim_kilnd_register(const char *state_dir, const struct kiln_sim_register *req,
			    char id[KILN_SIM_ID_LEN + 1]) KILN_MUST;
/* The same in two halves, so kilnd works on it while the caller goes on:
 * send returns the connection (or a negative errno), recv reads the reply
 * and closes it. */
int kiln_sim_kilnd_register_send(const char *state_dir,
				 const struct kiln_sim_register *req) KILN_MUST;
int kiln_sim_kilnd_register_recv(int fd, char id[KILN_SIM_ID_LEN + 1]) KILN_MUST;
/*
 * Tell kilnd how the enclave ended (PID 1's wait status as exit code / signal),
 * before the monitor exits: kilnd then has the exit code even when kiln-init
 * could not report it. Best effort; the message says why when it fails.
 */
int kiln_sim_kilnd_exited(const char *state_dir, const char *name, const char *id,
			  int wait_status) KILN_MUST;
/*
 * Make sure a kilnd serves STATE/kilnd.sock: when none answers, start
 * kilnd --state-dir STATE (it detaches and returns once serving). 0 when one
 * serves; -ENOENT when no kilnd executable is found (the caller then runs
 * without one).
 */
int kiln_sim_ensure_kilnd(const char *state_dir, const char *kilnd_path) KILN_MUST;

#endif
