/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: a memory store that counts the storage core's calls (and can refuse a block put). */
#ifndef KILN_TEST_COUNTING_STORE_H
#define KILN_TEST_COUNTING_STORE_H

#include "fs/fs.h"

/* A memory store that counts the calls the core makes and can refuse the k-th block put. */
struct counting {
	struct kfs_store ops;
	struct kfs_store *in;
	int gets, getv_calls, getv_objs, puts, putv_calls, putv_objs, dels, syncs;
	int fail_in; /* > 0: the fail_in-th block put from now on fails with ENOSPC */
	bool fail_sync; /* every sync fails with EIO */
};

static struct counting cs;

static bool refuse(const char *id)
{
	return id[0] == 'b' && cs.fail_in > 0 && --cs.fail_in == 0;
}

static int c_get(struct kfs_store *s, const char *id, uint8_t **buf, size_t *len)
{
	cs.gets++;
	return cs.in->get(cs.in, id, buf, len);
}

static int c_put(struct kfs_store *s, const char *id, const void *buf, size_t len, unsigned fl)
{
	cs.puts++;
	return refuse(id) ? kiln_err(ENOSPC, "refused") : cs.in->put(cs.in, id, buf, len, fl);
}

static int c_del(struct kfs_store *s, const char *id)
{
	cs.dels++;
	return cs.in->del(cs.in, id);
}

static int c_sync(struct kfs_store *s)
{
	cs.syncs++;
	return cs.fail_sync ? kiln_err(EIO, "sync refused") : cs.in->sync(cs.in);
}

static void c_close(struct kfs_store *s)
{
}

static int c_putv(struct kfs_store *s, struct kfs_obj *v, size_t n)
{
	int first = 0;

	cs.putv_calls++;
	cs.putv_objs += (int)n;
	for (size_t i = 0; i < n; i++) {
		v[i].rc = refuse(v[i].id) ? -ENOSPC : cs.in->put(cs.in, v[i].id, v[i].buf, v[i].len, 0);
		first = first ? first : v[i].rc;
	}
	return first;
}

static int c_getv(struct kfs_store *s, struct kfs_obj *v, size_t n)
{
	int first = 0;

	cs.getv_calls++;
	cs.getv_objs += (int)n;
	for (size_t i = 0; i < n; i++) {
		uint8_t *buf = NULL;
		v[i].rc = cs.in->get(cs.in, v[i].id, v[i].cap ? &buf : &v[i].buf, &v[i].len);
		if (v[i].rc == 0 && v[i].cap)
			v[i].rc = v[i].len <= v[i].cap ? 0 : -EMSGSIZE;
		if (v[i].rc == 0 && v[i].cap)
			memcpy(v[i].buf, buf, v[i].len);
		free(buf);
		first = first ? first : v[i].rc;
	}
	return first;
}

static void counts_reset(void)
{
	cs.gets = cs.getv_calls = cs.getv_objs = cs.puts = cs.putv_calls = cs.putv_objs = 0;
	cs.dels = cs.fail_in = cs.syncs = 0;
	cs.fail_sync = false;
}

/* Mount (or remount) the volume in the memory store behind the counting one. */
static struct kfs *mount_counting(unsigned flags)
{
	struct kfs_keywrap *kw;
	struct kfs *fs = NULL;

	if (!cs.in && kfs_store_mem(&cs.in) < 0)
		return NULL;
	cs.ops = (struct kfs_store){ c_get, c_put, c_del, c_sync, c_close, c_putv, c_getv };
	if (kfs_keywrap_sim(NULL, &kw) < 0 || kfs_mount(&cs.ops, kw, flags, NULL, NULL, &fs) < 0)
		return NULL;
	counts_reset();
	return fs;
}

static inline void fresh_store(void)
{
	if (cs.in)
		cs.in->close(cs.in);
	cs.in = NULL;
}

#endif
