/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: a parent in a thread, a memory store behind the storage channel, that can hold, fail and gate requests. */
#ifndef KILN_TEST_WIRE_PARENT_H
#define KILN_TEST_WIRE_PARENT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fs/fs.h"
#include "fs/wire.h"
#include "t.h"

/*
 * The parent: a memory store behind the wire. It holds the answers to
 * block puts until hold of them wait or another request comes (answers
 * stay in order): with hold above KFS_BATCH_MAX, a client that waited for
 * a batch of puts before sending the next would wait for ever. fail_in >
 * 0: that block put (counting from when it was set) fails with ENOSPC.
 * gate > 0: a get of a block from gate - 1 on stops the parent (gated is
 * then set) until the test sets gate to 0. block_gets counts block gets.
 * hold_inodes: answers to inode puts are held until another request
 * comes. fail_inode_in > 0: that inode put fails with ENOSPC.
 * points: it takes commit points (KFS_PUT_BARRIER) as kilnd does:
 * refused (counted in refused) after a put that failed since the last
 * SYNC or commit point, stored otherwise. syncs counts SYNCs.
 * hold_point: a commit point stops the parent (gated is then set) until
 * the test clears it, before anything else is done with it.
 */
#define HOLD_MAX 64
static struct {
	struct kfs_store *mem;
	int hold, fail_in, dels, held, fail_inode_in;
	bool hold_inodes, points, hold_point;
	int failed, refused, syncs;
	uint8_t status[HOLD_MAX];
	int gate, block_gets;
	bool gated;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int logs;
	char log[256];
} par = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* A get of a block past the gate waits for the test to open it. */
static void gate(const char *id)
{
	unsigned long long ino, blk, ver;

	if (sscanf(id, "b-%llx-%llx-%llx", &ino, &blk, &ver) != 3)
		return;
	pthread_mutex_lock(&par.mu);
	par.block_gets++;
	if (par.gate && blk + 1 >= (unsigned long long)par.gate) {
		par.gated = true;
		pthread_cond_broadcast(&par.cv);
		while (par.gate)
			pthread_cond_wait(&par.cv, &par.mu);
	}
	pthread_mutex_unlock(&par.mu);
}

/* A commit point waits while the test holds them. */
static void point_gate(void)
{
	pthread_mutex_lock(&par.mu);
	if (par.hold_point) {
		par.gated = true;
		pthread_cond_broadcast(&par.cv);
		while (par.hold_point)
			pthread_cond_wait(&par.cv, &par.mu);
	}
	pthread_mutex_unlock(&par.mu);
}

/* The test: wait until the parent is stopped at the gate (or a point). */
static void gate_reached(void)
{
	pthread_mutex_lock(&par.mu);
	while (!par.gated)
		pthread_cond_wait(&par.cv, &par.mu); /* a client that waits here never returns: alarm */
	pthread_mutex_unlock(&par.mu);
}

/* The test: wait until the parent is stopped at the gate (or a point), then open it. */
static bool gate_reached_then_open(void)
{
	bool was;

	gate_reached();
	pthread_mutex_lock(&par.mu);
	was = par.gated;
	par.gate = 0;
	par.hold_point = false;
	par.gated = false;
	pthread_cond_broadcast(&par.cv);
	pthread_mutex_unlock(&par.mu);
	return was;
}

static void flush_held(int fd)
{
	for (int i = 0; i < par.held; i++)
		(void)!kfs_wire_send(fd, &par.status[i], 1, NULL, 0);
	par.held = 0;
}

static int parent_put(const struct kfs_wire_req *r)
{
	if (r->flags & KFS_PUT_BARRIER) {
		point_gate();
		int f = par.failed;
		par.failed = 0;
		par.refused += f < 0;
		return f < 0 ? f : par.mem->put(par.mem, r->id, r->data, r->len, 0);
	}
	int rc = (r->id[0] == 'b' && par.fail_in > 0 && --par.fail_in == 0) ||
			 (r->id[0] == 'i' && par.fail_inode_in > 0 && --par.fail_inode_in == 0)
		 ? -ENOSPC
		 : par.mem->put(par.mem, r->id, r->data, r->len, 0);
	if (rc < 0 && !par.failed)
		par.failed = rc;
	return rc;
}

static int parent_handle(const struct kfs_wire_req *r, uint8_t **data, size_t *len)
{
	switch (r->op) {
	case KFS_OP_GET:
		gate(r->id);
		return par.mem->get(par.mem, r->id, data, len);
	case KFS_OP_PUT:
		return parent_put(r);
	case KFS_OP_DEL:
		par.dels++;
		return par.mem->del(par.mem, r->id);
	case KFS_OP_SYNC:
		par.syncs++;
		par.failed = 0;
		return 0;
	default: /* OPEN: the features, when it takes commit points */
		par.failed = 0;
		if (par.points && (*data = malloc(1))) {
			**data = KFS_WIRE_BARRIERS;
			*len = 1;
		}
		return 0;
	}
}

static void *parent(void *arg)
{
	int fd = *(int *)arg;
	struct kfs_wire_req r;
	uint8_t *req, *data, st;
	size_t len, dlen;

	while (kfs_wire_recv(fd, &req, &len) == 0) {
		int rc;
		data = NULL;
		dlen = 0;
		rc = kfs_wire_req_decode(req, len, &r) == 0 ? parent_handle(&r, &data, &dlen) : -EPROTO;
		st = (uint8_t)(rc < 0 ? -rc : 0);
		bool inode = r.op == KFS_OP_PUT && r.id[0] == 'i' && par.hold_inodes;
		if ((r.op == KFS_OP_PUT && r.id[0] == 'b') || inode) {
			par.status[par.held++] = st;
			if (par.held >= (inode ? HOLD_MAX : par.hold))
				flush_held(fd);
		} else {
			flush_held(fd);
			(void)!kfs_wire_send(fd, &st, 1, data, rc < 0 ? 0 : dlen);
		}
		free(data);
		free(req);
	}
	flush_held(fd);
	close(fd);
	return NULL;
}

static pthread_t thread;
static int parent_fd;

/* The core's integrity log: counted, the last line kept. */
static void log_line(void *ctx, const char *line)
{
	par.logs++;
	snprintf(par.log, sizeof(par.log), "%s", line);
}

/* Mount the volume in par.mem over a new channel to the parent thread. */
static struct kfs *mount_remote(unsigned flags)
{
	struct kfs_keywrap *kw;
	struct kfs_store *st;
	struct kfs *fs = NULL;
	int sv[2];

	if (!par.mem && kfs_store_mem(&par.mem) < 0)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return NULL;
	parent_fd = sv[1];
	if (pthread_create(&thread, NULL, parent, &parent_fd) != 0 ||
	    kfs_store_remote(sv[0], "vol", &st) < 0)
		return NULL;
	if (kfs_keywrap_sim(NULL, &kw) < 0 || kfs_mount(st, kw, flags, log_line, NULL, &fs) < 0)
		return NULL;
	return fs;
}

static int unmount_remote(struct kfs *fs)
{
	int rc = kfs_unmount(fs); /* closes the channel: the parent thread ends */

	pthread_join(thread, NULL);
	return rc;
}

/* Unmount, and drop the volume from the parent's memory. */
static void end_volume(struct kfs *fs)
{
	CHECK(unmount_remote(fs) == 0);
	alarm(0);
	par.mem->close(par.mem);
	par.mem = NULL;
}

#endif
