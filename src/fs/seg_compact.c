/* SPDX-License-Identifier: Apache-2.0 */
/* Compaction of the segment store: copy a segment's live records forward, then delete it. */
/*
 * How this works: the records the index points at in segment S are copied
 * byte for byte to the end of the active segment and the index repointed;
 * the copies are made durable (fdatasync) before S is unlinked, and the
 * directory fsync'd after. A crash before the unlink leaves both copies:
 * the newer (the active segment's) wins at the next open. A tombstone is
 * copied too unless S is the oldest segment: an older record it deletes
 * may live in an older segment. The directory fsync after each unlink
 * keeps a deleted segment from coming back once a later compaction has
 * dropped the tombstones that deleted its records.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/seg_file.h"
#include "fs/seg_store.h"

struct copy {
	struct kfs_seg_store *s;
	uint64_t num; /* the segment compacted */
	int fd;
	bool oldest;
	uint8_t *buf;
};

static int copy_visit(void *ctx, const struct kfs_seg_rec *r, uint64_t off)
{
	struct copy *c = ctx;
	struct kfs_seg_ent *e = kfs_seg_index_find(&c->s->idx, r->id);
	uint64_t size = kfs_seg_rec_size(r), to;
	struct iovec iov = { c->buf, (size_t)size };
	ssize_t n;
	int rc;

	if (!e || e->seg != c->num || e->off != off)
		return 0; /* garbage: a newer record of the id is elsewhere */
	if (e->del && c->oldest) {
		kfs_seg_find(c->s, c->num)->live -= kfs_seg_ent_size(e);
		kfs_seg_index_drop(&c->s->idx, r->id);
		return 0;
	}
	n = pread(c->fd, c->buf, (size_t)size, (off_t)off);
	if (n != (ssize_t)size)
		return kiln_err(EIO, "record of %s at %llu: short read", r->id, (unsigned long long)off);
	rc = kfs_seg_room(c->s, size);
	if (rc == 0)
		rc = kfs_seg_append(c->s, &iov, 1, size, &to);
	if (rc == 0)
		kfs_seg_repoint(c->s, e, e->del, e->len, to);
	return rc;
}

/* Simulated crash for tests: stop at step as if the process died. */
static int crash_here(int step)
{
	return kfs_seg_tuning.crash_at == step ? kiln_err(ECANCELED, "simulated crash at step %d", step)
					       : 0;
}

static void seg_forget(struct kfs_seg_store *s, uint64_t num)
{
	struct kfs_seg *g = kfs_seg_find(s, num);
	size_t i = (size_t)(g - s->segs);

	close(g->fd);
	s->disk -= g->size;
	memmove(g, g + 1, (s->nsegs - i - 1) * sizeof(*g));
	s->nsegs--;
}

static int compact(struct kfs_seg_store *s, uint64_t num)
{
	struct kfs_seg *g = kfs_seg_find(s, num);
	struct copy c = { s, num, g->fd, g == s->segs, malloc(KFS_SEG_REC_MAX) };
	char name[KFS_SEG_NAME_LEN + 1];
	struct kfs_seg_end end;
	int rc = c.buf ? 0 : kiln_err(ENOMEM, "out of memory");

	kfs_seg_name(num, name);
	if (rc == 0)
		rc = kfs_seg_scan(c.fd, g->size, false, copy_visit, &c, &end);
	free(c.buf);
	g = kfs_seg_find(s, num); /* the copies may have grown s->segs */
	if (rc == 0 && g->live)
		rc = kiln_err(EIO, "%llu live bytes not found by the scan", (unsigned long long)g->live);
	if (rc == 0 && (rc = crash_here(1)) == 0 && (rc = kfs_seg_flush(s)) == 0 &&
	    (rc = crash_here(2)) == 0 && unlinkat(s->dirfd, name, 0) < 0)
		rc = kiln_err(errno, "unlink: %s", strerror(errno));
	if (rc == 0 && (rc = crash_here(3)) == 0 && fsync(s->dirfd) < 0)
		rc = kiln_err(errno, "fsync directory: %s", strerror(errno));
	if (rc == -ECANCELED)
		return rc;
	if (rc < 0) {
		kfs_seg_log("compacting %s: %s (left as it is)", name, kiln_errmsg());
		kfs_seg_find(s, num)->stuck = true;
		return rc;
	}
	seg_forget(s, num);
	return 0;
}

/* Bytes of g that no record in force is in. */
static uint64_t garbage(const struct kfs_seg *g)
{
	return g->size - g->live;
}

/* The sealed segment with the smallest share of live bytes under half; *n: how many are under half. */
static struct kfs_seg *worth_compacting(struct kfs_seg_store *s, size_t *n)
{
	struct kfs_seg *best = NULL;

	*n = 0;
	for (size_t i = 0; i + s->appendable < s->nsegs; i++) {
		struct kfs_seg *g = &s->segs[i];
		if (g->stuck || g->live * 2 >= g->size)
			continue;
		(*n)++;
		if (!best || g->live * best->size < best->live * g->size)
			best = g;
	}
	return best;
}

int kfs_seg_compact_some(struct kfs_seg_store *s)
{
	size_t n;
	struct kfs_seg *best = worth_compacting(s, &n);
	int rc;

	if (!best)
		return 0;
	if (s->idle_compaction && n < KFS_SEG_BACKLOG) {
		s->idle_work = true; /* left for a quiet moment (kfs_seg_compact_idle) */
		return 0;
	}
	rc = compact(s, best->num);
	return rc == -ECANCELED ? rc : 0; /* a failed compaction is logged, the write stands */
}

int kfs_seg_compact_idle(struct kfs_seg_store *s)
{
	size_t n;
	struct kfs_seg *best = worth_compacting(s, &n);
	int rc;

	if (!best) {
		s->idle_work = false;
		return 0;
	}
	rc = compact(s, best->num);
	if (rc == -ECANCELED)
		return rc;
	return rc < 0 ? 0 : 1; /* a failure is logged and the segment marked stuck: not tried again */
}

int kfs_seg_reclaim(struct kfs_seg_store *s)
{
	for (size_t tries = s->nsegs + 1; tries && s->disk > s->caps.max_bytes; tries--) {
		struct kfs_seg *best = NULL;
		uint64_t num;
		for (size_t i = 0; i < s->nsegs; i++)
			if (!s->segs[i].stuck && garbage(&s->segs[i]) &&
			    (!best || garbage(&s->segs[i]) > garbage(best)))
				best = &s->segs[i];
		if (!best)
			break;
		num = best->num;
		if (s->appendable && best == kfs_seg_active(s) && kfs_seg_create(s) < 0) {
			kfs_seg_log("sealing the active segment: %s", kiln_errmsg());
			return 0; /* the write stands; the next one tries again */
		}
		if (compact(s, num) == -ECANCELED)
			return -ECANCELED;
	}
	return 0;
}
