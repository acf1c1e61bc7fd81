/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's narrow object API: get/put/delete/sync opaque objects by id. */
#ifndef KILN_FS_STORE_H
#define KILN_FS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * Object ids are 1..KFS_ID_MAX bytes of [a-z0-9.-], not starting with '.'
 * (so never "." or ".." and never a hidden temp file): safe as a file name
 * in one flat directory. Objects are at most KFS_OBJ_MAX bytes.
 */
#define KFS_ID_MAX 64
#define KFS_OBJ_MAX (1u << 20)

/* PUT flags. */
#define KFS_PUT_DURABLE 0x01 /* fsync the object and its directory entry before answering */
/*
 * A commit point (the storage channel only, when the parent offers it:
 * kfs_put_pipe.barriers): stored only if every PUT since the last SYNC or
 * commit point succeeded, and only once they are durable (as SYNC); else
 * answered with the first failure's errno. So a commit's record can follow
 * its objects without waiting for their answers.
 */
#define KFS_PUT_BARRIER 0x02

/*
 * One object of a batch: put sends buf/len; get fills buf and len: when
 * cap is 0 buf is malloc'd for the caller, else buf is the caller's (cap
 * bytes) and is filled in place (a larger object: rc -EMSGSIZE).
 */
struct kfs_obj {
	const char *id;
	uint8_t *buf;
	size_t len, cap;
	int rc; /* this object's result */
};
#define KFS_BATCH_MAX 32 /* objects per putv/getv call */

struct kfs_store {
	/* *buf is malloc'd, caller frees. Missing object: -ENOENT. */
	int (*get)(struct kfs_store *s, const char *id, uint8_t **buf, size_t *len);
	/* Atomic replace: readers see the old or the new object, never a mix. */
	int (*put)(struct kfs_store *s, const char *id, const void *buf, size_t len, unsigned flags);
	/* Missing object is not an error. */
	int (*del)(struct kfs_store *s, const char *id);
	/* Every put before this call is durable when it returns. */
	int (*sync)(struct kfs_store *s);
	void (*close)(struct kfs_store *s);
	/*
	 * Optional batches of at most KFS_BATCH_MAX (NULL: one put or get
	 * each): every v[i].rc is set; returns 0 or the first error. A
	 * remote store sends the whole batch before it waits for an answer.
	 */
	int (*putv)(struct kfs_store *s, struct kfs_obj *v, size_t n);
	int (*getv)(struct kfs_store *s, struct kfs_obj *v, size_t n);
};

/*
 * Pipelined puts and gets, a second table beside the one every store
 * fills (only the remote store has them; kfs_store_put_pipe is NULL for
 * the others): send puts without waiting for the answer, which reap
 * returns later: it waits for the oldest n puts sent and not reaped and
 * sets rc[i] for each. Every other call keeps the order: the parent sees
 * a get or delete after the puts sent before it. The caller reaps so that
 * at most KFS_PUT_AHEAD are unreaped. Both return a channel failure
 * (reap: then also in every rc[i]).
 *
 * get_send sends a get without waiting: o (cap set) must stay where it is
 * until its answer is in, which is when o->rc is no longer
 * KFS_OBJ_IN_FLIGHT: read by get_wait, or earlier by any call that reads
 * the replies before it (every put with data reads them first, so the
 * parent never blocks on a large reply while we block on a large request).
 */
struct kfs_put_pipe {
	int (*send)(struct kfs_store *s, const struct kfs_obj *o);
	int (*reap)(struct kfs_store *s, int *rc, size_t n);
	int (*get_send)(struct kfs_store *s, struct kfs_obj *o);
	int (*get_wait)(struct kfs_store *s, struct kfs_obj *o);
	bool (*barriers)(struct kfs_store *s); /* the parent takes KFS_PUT_BARRIER */
	/*
	 * A commit's record (rec) as a commit point, durable, and right behind
	 * it, in the same send, the deletes of dels (ndel ids) that only that
	 * point makes safe: the parent does them only if it stored the record.
	 * Waits for the record's answer only, which it returns; *deleted: the
	 * record was stored and the deletes went with it (not when the parent
	 * takes no such deletes, or there was no room for them all).
	 */
	int (*point)(struct kfs_store *s, const struct kfs_obj *rec, char (*dels)[KFS_ID_MAX + 1],
		     size_t ndel, bool *deleted);
};
#define KFS_OBJ_IN_FLIGHT 1 /* kfs_obj.rc of a get sent and not answered yet */
const struct kfs_put_pipe *kfs_store_put_pipe(struct kfs_store *s);
#define KFS_PUT_AHEAD 64 /* puts in flight at most: 2 MiB of blocks */

/* 0 when id is a valid object id, else -EINVAL with a message quoting it. */
int kfs_id_check(const char *id, size_t len) KILN_MUST;

/* An in-memory store (unit tests). */
int kfs_store_mem(struct kfs_store **out) KILN_MUST;
/* Tamper hooks for the in-memory store (tests): raw access to an object. */
int kfs_store_mem_raw(struct kfs_store *s, const char *id, uint8_t **buf, size_t **len) KILN_MUST;

/*
 * A store in a local directory: one file per object, opened beneath dirfd
 * only (openat2 RESOLVE_BENEATH). Takes ownership of dirfd. Used by tests
 * and by kilnd's store channel.
 */
struct kfs_dir_caps {
	uint64_t max_bytes;   /* 0: unlimited */
	uint64_t max_objects; /* 0: unlimited */
};
int kfs_store_dir(int dirfd, const struct kfs_dir_caps *caps, struct kfs_store **out) KILN_MUST;
int kfs_store_dir_open(const char *path, const struct kfs_dir_caps *caps, struct kfs_store **out) KILN_MUST;
/*
 * Start reading object id of a directory store from disk (a hint: errors
 * are ignored). Objects stored one after the other are advised as one
 * range, once a prefetch of another object or of id NULL ends the run.
 */
void kfs_store_dir_prefetch(struct kfs_store *s, const char *id);
/*
 * Where the data of object id of a directory store lies: len bytes at off
 * of fd (the store's; valid until its next call), for a reader that sends
 * them on unread. The record's header is checked, its data's CRC is not.
 * -ENOENT as get; -EOPNOTSUPP for the layout with a file per object.
 */
struct kfs_extent {
	int fd;
	uint64_t off;
	uint32_t len;
};
int kfs_store_dir_locate(struct kfs_store *s, const char *id, struct kfs_extent *x) KILN_MUST;
/*
 * A commit point put to a directory store: object id is durable when this
 * returns, and so is everything put before it. The segment layout does
 * that in one flush (a mark before the record tells a later scan what the
 * flush covered: fs/seg_record.h); the layout with a file per object syncs
 * first, then puts.
 */
int kfs_store_dir_put_point(struct kfs_store *s, const char *id, const void *buf,
			    size_t len) KILN_MUST;

/*
 * A segment store compacts a segment that is mostly garbage inside the
 * write that finds it (up to 32 MiB copied while that write waits). Once
 * deferred, writes leave that to kfs_store_dir_idle, which the server
 * calls while the channel has nothing to read, unless garbage piles up
 * (then writes compact again). idle: one step of it; 1 when it did one
 * (call again while still idle), 0 when there is nothing to do, -errno
 * only for a simulated crash (tests). Both do nothing on the layout with a
 * file per object.
 */
void kfs_store_dir_defer_compaction(struct kfs_store *s);
int kfs_store_dir_idle(struct kfs_store *s) KILN_MUST;
/* Whether a write left compaction for kfs_store_dir_idle (cheap: no system call). */
bool kfs_store_dir_idle_pending(struct kfs_store *s);

#endif
