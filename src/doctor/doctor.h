/* SPDX-License-Identifier: Apache-2.0 */
/* kiln doctor: host checks for the sim and for Nitro, each a line with its fix. */
#ifndef KILN_DOCTOR_DOCTOR_H
#define KILN_DOCTOR_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "util/err.h"

/*
 * Every check adds one or more lines: ok, warn (works, but something is
 * worth knowing or only the demo/tests need it), fail (that mode cannot
 * work until it is fixed) or skip (not checked, e.g. no driver to ask).
 * A mode is usable when none of its lines (nor those of both modes) fails.
 */
enum kiln_doc_status { KILN_DOC_OK, KILN_DOC_WARN, KILN_DOC_FAIL, KILN_DOC_SKIP };

#define KILN_DOC_SIM 1u
#define KILN_DOC_NITRO 2u
#define KILN_DOC_BOTH (KILN_DOC_SIM | KILN_DOC_NITRO)

struct kiln_doc_line {
	char id[32];
	unsigned mode;
	enum kiln_doc_status status;
	char msg[512];
	char fix[512];
};

/* Where the checks look; every path is overridable so tests can build fake trees. */
struct kiln_doc {
	char root[2048];       /* $KILN_DOCTOR_ROOT: prefixes the /dev, /sys, /etc, /run and
				* /usr/share reads ("" for the real ones); the sim's probes
				* (namespaces, cgroups, iptables, overlay) act on the live kernel */
	char blobs[4096];      /* --blobs, else ROOT/usr/share/nitro_enclaves/blobs */
	char kernel_dir[4096]; /* $KILN_KERNEL_DIR, else /var/lib/kiln/kernel */
	char state_dir[4096];  /* --state-dir, $KILN_STATE_DIR, or kilnd's default */
	uid_t uid;	       /* whose access to the device is judged */
	unsigned modes;	       /* which checks run */
	struct kiln_doc_line *lines;
	size_t n, cap;
	/* Shared between checks: what allocator.yaml asks for (0: unknown). */
	uint64_t want_mib;
	unsigned want_cpus;
};

/* Add a line; fix may be NULL. Returns 0 or -ENOMEM. */
int kiln_doc_add(struct kiln_doc *d, const char *id, unsigned mode, enum kiln_doc_status st,
		 const char *fix, const char *fmt, ...) KILN_PRINTF(6, 7);
/* ROOT + abs into buf. */
int kiln_doc_path(const struct kiln_doc *d, const char *abs, char *buf, size_t len) KILN_MUST;
/* The first line of a file, without its newline; -errno when unreadable. */
int kiln_doc_read_line(const char *path, char *buf, size_t len) KILN_MUST;
/* An unsigned decimal file (a sysfs counter). */
int kiln_doc_read_u64(const char *path, uint64_t *v) KILN_MUST;
/*
 * Run fn(arg) in a forked child (to unshare or mount without touching this
 * process); its return and its kiln_errmsg() come back. 0 or -errno.
 */
int kiln_doc_in_child(int (*fn)(void *arg), void *arg) KILN_MUST;
/* The number of CPUs in a kernel CPU list ("0-3,8,10-11"); -EINVAL when malformed. */
int kiln_doc_cpu_count(const char *list, unsigned *n) KILN_MUST;
/* The status names (ok, warn, fail, skip). */
const char *kiln_doc_status_name(enum kiln_doc_status st);
/* 0 when no line of mode m (or of both modes) fails, else 1. */
int kiln_doc_mode_failed(const struct kiln_doc *d, unsigned m);
void kiln_doc_free(struct kiln_doc *d);

/* Output: aligned text lines with "fix:" under failures, or one JSON object. */
void kiln_doc_print_text(const struct kiln_doc *d, FILE *f);
int kiln_doc_print_json(const struct kiln_doc *d, FILE *f) KILN_MUST;

/* --- the checks (each adds its lines; returns 0 or -ENOMEM) --- */

/* nitro_dev.c: /dev/nitro_enclaves, a char device this user may open. */
int kiln_doc_nitro_device(struct kiln_doc *d) KILN_MUST;
/* Whether uid (in groups gids) may read and write a node of mode, owner, group. */
bool kiln_doc_may_rw(uid_t uid, const gid_t *gids, size_t ngids, mode_t mode, uid_t owner,
		     gid_t group);

/* nitro_pool.c: allocator.yaml, the CPU pool (ne_cpus), the hugepages. */
struct kiln_doc_alloc {
	uint64_t memory_mib; /* 0: not set */
	unsigned cpu_count;  /* 0: not set (cpu_pool counts too) */
};
/* The keys kiln needs from allocator.yaml (memory_mib, cpu_count, cpu_pool). */
int kiln_doc_parse_allocator(const char *text, struct kiln_doc_alloc *a) KILN_MUST;
int kiln_doc_nitro_allocator(struct kiln_doc *d) KILN_MUST;
int kiln_doc_nitro_cpus(struct kiln_doc *d) KILN_MUST;
int kiln_doc_nitro_hugepages(struct kiln_doc *d) KILN_MUST;

/* nitro_blobs.c: the AWS blobs (whether EIFs built here boot on Nitro). */
int kiln_doc_nitro_blobs(struct kiln_doc *d) KILN_MUST;
/* Whether d->blobs has what kiln build takes from it. */
bool kiln_doc_blobs_usable(const struct kiln_doc *d);
/* nitro_service.c: the nitro-enclaves-allocator unit (a hint). */
int kiln_doc_nitro_service(struct kiln_doc *d) KILN_MUST;

/* kilnd.c: kilnd's socket under the state dir, and its version. */
int kiln_doc_kilnd(struct kiln_doc *d) KILN_MUST;

/* sim_ns.c: namespaces, iptables-legacy and overlayfs tried in a child. */
int kiln_doc_sim_namespaces(struct kiln_doc *d) KILN_MUST;
int kiln_doc_sim_iptables(struct kiln_doc *d) KILN_MUST;
int kiln_doc_sim_overlay(struct kiln_doc *d) KILN_MUST;
/* sim_host.c: cgroups, /dev/fuse, the fallback kernel, buildah and umoci. */
int kiln_doc_sim_cgroups(struct kiln_doc *d) KILN_MUST;
int kiln_doc_sim_fuse(struct kiln_doc *d) KILN_MUST;
int kiln_doc_sim_kernel(struct kiln_doc *d) KILN_MUST;
int kiln_doc_sim_tools(struct kiln_doc *d) KILN_MUST;

/* Run the checks of d->modes in order. */
int kiln_doc_run(struct kiln_doc *d) KILN_MUST;

#endif
