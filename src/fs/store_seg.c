/* SPDX-License-Identifier: Apache-2.0 */
/* The segment layout of a directory store: objects appended to a few large files. */
/*
 * How this works: a volume directory holds segment files seg_<16 hex>, the
 * highest number the newest. Each is a sequence of records (seg_record.h);
 * a PUT appends one to the newest (the active) segment, a DEL appends a
 * tombstone. An in-memory index maps each id to its newest record, so a GET
 * is one pread on an open fd. Opening scans the segments oldest first to
 * rebuild the index: a later record of an id replaces an earlier one.
 *
 * Crashes: a record is in force once its bytes are all there; a torn
 * append is the tail of the active segment and is cut off at the next open,
 * leaving the previous record of its id in force. A sealed segment was
 * fdatasync'd before the next one was created, so it is never torn. SYNC
 * and durable PUTs fdatasync the active segment (and the directory after a
 * segment was created): everything appended before is then durable.
 * Compaction (seg_compact.c) copies live records forward and deletes the
 * old segment only once the copies are durable.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/seg_file.h"
#include "fs/seg_store.h"
#include "util/crc32.h"

struct kfs_seg_tuning kfs_seg_tuning;

void kfs_seg_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "kiln: object store: %s\n", line);
}

struct kfs_seg *kfs_seg_find(struct kfs_seg_store *s, uint64_t num)
{
	size_t lo = 0, hi = s->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->segs[mid].num == num)
			return &s->segs[mid];
		if (s->segs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int seg_push(struct kfs_seg_store *s, uint64_t num, int fd, uint64_t size)
{
	if (s->nsegs == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct kfs_seg *n = realloc(s->segs, cap * sizeof(*n));
		if (!n)
			return kiln_err(ENOMEM, "object store: out of memory");
		s->segs = n;
		s->cap = cap;
	}
	s->segs[s->nsegs++] = (struct kfs_seg){ .num = num, .fd = fd, .size = size };
	s->disk += size;
	if (num >= s->next_num)
		s->next_num = num + 1;
	return 0;
}

int kfs_seg_flush(struct kfs_seg_store *s)
{
	if (s->dirty && fdatasync(kfs_seg_active(s)->fd) < 0)
		return kiln_err(errno, "object store: fdatasync segment: %s", strerror(errno));
	s->dirty = false;
	if (s->nsegs) {
		kfs_seg_active(s)->flushed = kfs_seg_active(s)->size;
		s->unsure = false;
	}
	if (s->dir_dirty && fsync(s->dirfd) < 0)
		return kiln_err(errno, "object store: fsync directory: %s", strerror(errno));
	s->dir_dirty = false;
	return 0;
}

/* A new, empty active segment. The old one is made durable first: only the newest can be torn. */
int kfs_seg_create(struct kfs_seg_store *s)
{
	char name[KFS_SEG_NAME_LEN + 1];
	int fd, rc;

	if (s->nsegs && (rc = kfs_seg_flush(s)) < 0)
		return rc;
	kfs_seg_name(s->next_num, name);
	fd = kfs_open_beneath(s->dirfd, name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return kiln_err(-fd, "object store: create %s: %s", name, strerror(-fd));
	rc = seg_push(s, s->next_num, fd, 0);
	if (rc < 0) {
		close(fd);
		unlinkat(s->dirfd, name, 0);
		return rc;
	}
	s->dir_dirty = true;
	s->appendable = true;
	return 0;
}

int kfs_seg_room(struct kfs_seg_store *s, uint64_t len)
{
	struct kfs_seg *a = s->appendable ? kfs_seg_active(s) : NULL;

	return !a || (a->size && a->size + len > s->seg_max) ? kfs_seg_create(s) : 0;
}

/* Drop the first k bytes of v[0..n): the pieces a short write did not reach. */
static int iov_advance(struct iovec *v, int n, size_t k)
{
	int i = 0;

	while (i < n && k >= v[i].iov_len)
		k -= v[i++].iov_len;
	if (i < n) {
		v[i].iov_base = (uint8_t *)v[i].iov_base + k;
		v[i].iov_len -= k;
	}
	memmove(v, v + i, (size_t)(n - i) * sizeof(*v));
	return n - i;
}

int kfs_seg_append(struct kfs_seg_store *s, const struct iovec *iov, int n, uint64_t len,
		   uint64_t *off)
{
	struct kfs_seg *a = kfs_seg_active(s);
	struct iovec v[4];
	uint64_t done = 0;

	if (n > 4)
		return kiln_err(EINVAL, "object store: append of %d pieces", n);
	memcpy(v, iov, (size_t)n * sizeof(*v));
	while (done < len) {
		ssize_t w = pwritev(a->fd, v, n, (off_t)(a->size + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			/* leave no partial record behind: the next append goes here */
			(void)!ftruncate(a->fd, (off_t)a->size);
			return kiln_err(e, "object store: append: %s", strerror(e));
		}
		done += (uint64_t)w;
		n = iov_advance(v, n, (size_t)w);
	}
	*off = a->size;
	a->size += len;
	s->disk += len;
	s->dirty = true;
	/*
	 * Start writing the appends out now, without waiting: the flush at a
	 * commit or when the segment is sealed then finds little left to do,
	 * instead of stalling the writer while all of it goes out at once.
	 */
	if (a->size - a->kicked >= KFS_SEG_KICK) {
		(void)sync_file_range(a->fd, (off_t)a->kicked, (off_t)(a->size - a->kicked),
				      SYNC_FILE_RANGE_WRITE);
		a->kicked = a->size;
	}
	return 0;
}

void kfs_seg_repoint(struct kfs_seg_store *s, struct kfs_seg_ent *e, bool del, uint32_t len,
		     uint64_t off)
{
	struct kfs_seg *old = e->seg ? kfs_seg_find(s, e->seg) : NULL;
	struct kfs_seg *a = kfs_seg_active(s);

	if (old)
		old->live -= kfs_seg_ent_size(e);
	e->del = del;
	e->len = len;
	e->seg = a->num;
	e->off = off;
	a->live += kfs_seg_ent_size(e);
}

/* Ids from '-' on are the store's own records (the mark), never objects. */
static int seg_id_ok(const char *id, size_t idlen)
{
	int rc = kfs_id_check(id, idlen);

	if (rc == 0 && id[0] == '-')
		rc = kiln_err(EINVAL, "object id \"%s\": reserved for the store", id);
	return rc;
}

/* The index entry of object id when it exists (*e NULL when it does not); -EINVAL for a bad id. */
static int seg_lookup(struct kfs_seg_store *s, const char *id, struct kfs_seg_ent **e)
{
	int rc = seg_id_ok(id, strlen(id));

	*e = rc < 0 ? NULL : kfs_seg_index_find(&s->idx, id);
	if (*e && (*e)->del)
		*e = NULL;
	return rc;
}

/*
 * The answer for object id (entry e) given what reading its record found
 * (check): a record found damaged is logged and answered as missing,
 * detection, never wrong data.
 */
static int seg_damaged(struct kfs_seg_ent *e, const char *id, int check)
{
	char name[KFS_SEG_NAME_LEN + 1];

	if (check != -EBADMSG)
		return check;
	/* the enclave reports the object missing (EIO) */
	kfs_seg_name(e->seg, name);
	kfs_seg_log("%s: %s", name, kiln_errmsg());
	return kiln_err(ENOENT, "object %s: its record in %s is damaged", id, name);
}

/* Index entry of an object that exists, or -ENOENT (-EINVAL for a bad id). */
static int seg_existing(struct kfs_seg_store *s, const char *id, struct kfs_seg_ent **e)
{
	int rc = seg_lookup(s, id, e);

	if (rc == 0 && !*e)
		rc = kiln_err(ENOENT, "object %s: no such object", id);
	return rc;
}

static int seg_get(struct kfs_store *st, const char *id, uint8_t **buf, size_t *len)
{
	struct kfs_seg_store *s = (struct kfs_seg_store *)st;
	struct kfs_seg_ent *e;
	int rc = seg_existing(s, id, &e);

	if (rc == 0)
		rc = seg_damaged(e, id, kfs_seg_read(kfs_seg_find(s, e->seg)->fd, e->off, id, e->len, buf));
	if (rc == 0)
		*len = e->len;
	return rc;
}

/* A GET that kilnd sends from the page cache: the header is checked here, the data by the enclave. */
static int seg_locate(struct kfs_store *st, const char *id, struct kfs_extent *x)
{
	struct kfs_seg_store *s = (struct kfs_seg_store *)st;
	struct kfs_seg_ent *e;
	int rc = seg_existing(s, id, &e);

	if (rc == 0) {
		x->fd = kfs_seg_find(s, e->seg)->fd;
		x->len = e->len;
		rc = seg_damaged(e, id, kfs_seg_check_head(x->fd, e->off, id, e->len, &x->off));
	}
	return rc;
}

/*
 * Records one after the other (a stream's blocks, written in order) are
 * advised as one range: one call, and the disk reads them in few large
 * requests instead of one per record. id NULL advises what is pending.
 */
static void seg_prefetch(struct kfs_store *st, const char *id)
{
	struct kfs_seg_store *s = (struct kfs_seg_store *)st;
	struct kfs_seg_advice *a = &s->advice;
	struct kfs_seg_ent *e = NULL;
	int fd;

	if (id && (seg_lookup(s, id, &e) < 0 || !e))
		return;
	fd = e ? kfs_seg_find(s, e->seg)->fd : -1;
	if (e && a->len && fd == a->fd && e->off == a->off + a->len) {
		a->len += kfs_seg_ent_size(e);
		return;
	}
	if (a->len)
		(void)posix_fadvise(a->fd, (off_t)a->off, (off_t)a->len, POSIX_FADV_WILLNEED);
	*a = e ? (struct kfs_seg_advice){ fd, e->off, kfs_seg_ent_size(e) } : (struct kfs_seg_advice){ -1, 0, 0 };
}

/*
 * The caps: objects, and the bytes of the records in force (a replacement
 * counts the difference, so a full volume can still rewrite its root and
 * delete). Garbage on top is compacted away after the write (seg_put).
 */
static int seg_caps_ok(struct kfs_seg_store *s, const char *id, uint64_t rec,
		       const struct kfs_seg_ent *old)
{
	uint64_t live = 0;

	for (size_t i = 0; i < s->nsegs; i++)
		live += s->segs[i].live;
	live -= old ? kfs_seg_ent_size(old) : 0;
	if (s->caps.max_objects && (!old || old->del) && s->objects + 1 > s->caps.max_objects)
		return kiln_err(ENOSPC, "object %s: volume object cap %llu reached", id,
				(unsigned long long)s->caps.max_objects);
	if (s->caps.max_bytes && live + rec > s->caps.max_bytes)
		return kiln_err(ENOSPC, "object %s: volume byte cap %llu reached", id,
				(unsigned long long)s->caps.max_bytes);
	return 0;
}

/*
 * Append a PUT (data) or a DEL (data NULL) record of id and point the
 * index at it; marked: a commit point's mark goes right before it, in the
 * same write (seg_record.h), naming where the active segment's last flush
 * left off.
 */
static int seg_write(struct kfs_seg_store *s, struct kfs_seg_ent *e, const void *data,
		     size_t len, bool marked)
{
	struct kfs_seg_rec r = { .kind = data ? KFS_SEG_PUT : KFS_SEG_DEL, .idlen = e->idlen,
				 .len = (uint32_t)len },
			   m = { .kind = KFS_SEG_PUT, .idlen = strlen(KFS_SEG_MARK_ID),
				 .len = KFS_SEG_MARK_LEN };
	uint8_t hdr[KFS_SEG_HDR + KFS_ID_MAX], mhdr[KFS_SEG_HDR + sizeof(KFS_SEG_MARK_ID)],
		since[KFS_SEG_MARK_LEN];
	struct iovec iov[4] = { { mhdr, KFS_SEG_HDR + m.idlen }, { since, sizeof(since) },
				{ hdr, KFS_SEG_HDR + r.idlen }, { (void *)data, len } };
	uint64_t msize = marked ? kfs_seg_rec_size(&m) : 0, off;
	int rc = kfs_seg_room(s, msize + kfs_seg_rec_size(&r));

	memcpy(r.id, e->id, (size_t)e->idlen + 1);
	r.data_crc = kiln_crc32(0, data, len);
	kfs_seg_rec_encode(&r, hdr);
	if (rc == 0 && marked) {
		memcpy(m.id, KFS_SEG_MARK_ID, sizeof(KFS_SEG_MARK_ID));
		kfs_seg_mark_encode(kfs_seg_active(s)->flushed, since);
		m.data_crc = kiln_crc32(0, since, sizeof(since));
		kfs_seg_rec_encode(&m, mhdr);
	}
	if (rc == 0)
		rc = kfs_seg_append(s, iov + (marked ? 0 : 2), (marked ? 2 : 0) + (data ? 2 : 1),
				    msize + kfs_seg_rec_size(&r), &off);
	if (rc == 0)
		kfs_seg_repoint(s, e, !data, (uint32_t)len, off + msize);
	return rc;
}

/*
 * A put; KFS_PUT_DURABLE: durable when this returns. KFS_PUT_BARRIER with
 * it, a commit point: everything appended before is made durable in the
 * same flush, the mark before it telling a scan what that flush covered,
 * where a point without marks would need a flush of its own first.
 */
static int seg_put(struct kfs_store *st, const char *id, const void *buf, size_t len,
		   unsigned flags)
{
	struct kfs_seg_store *s = (struct kfs_seg_store *)st;
	size_t idlen = strlen(id);
	struct kfs_seg_ent *e;
	bool new_obj, point = (flags & KFS_PUT_BARRIER) && (flags & KFS_PUT_DURABLE);
	int rc = seg_id_ok(id, idlen);

	if (rc < 0)
		return rc;
	if (len > KFS_SEG_DATA_MAX)
		return kiln_err(EFBIG, "object %s: %zu bytes is over the object limit", id, len);
	e = kfs_seg_index_find(&s->idx, id);
	new_obj = !e || e->del;
	rc = seg_caps_ok(s, id, KFS_SEG_HDR + idlen + len, e);
	if (rc == 0)
		rc = kfs_seg_index_get(&s->idx, id, &e);
	/* records a process before us left may not be on disk: they get a flush of their own */
	if (rc == 0 && point && s->unsure)
		rc = kfs_seg_flush(s);
	if (rc == 0)
		rc = seg_write(s, e, buf ? buf : "", len, point);
	if (rc < 0) {
		if (e && !e->seg)
			kfs_seg_index_drop(&s->idx, id); /* created above, never written */
		return rc;
	}
	s->objects += new_obj;
	if ((flags & KFS_PUT_DURABLE) && (rc = kfs_seg_flush(s)) < 0)
		return rc;
	if (s->caps.max_bytes && s->disk > s->caps.max_bytes)
		return kfs_seg_reclaim(s);
	return kfs_seg_compact_some(s);
}

static int seg_del(struct kfs_store *st, const char *id)
{
	struct kfs_seg_store *s = (struct kfs_seg_store *)st;
	struct kfs_seg_ent *e;
	int rc = seg_lookup(s, id, &e);

	if (rc < 0 || !e)
		return rc;
	/* a tombstone, so that the next open does not bring the old record back */
	rc = seg_write(s, e, NULL, 0, false);
	if (rc < 0)
		return rc;
	s->objects--;
	return kfs_seg_compact_some(s);
}

static void seg_defer_compaction(struct kfs_store *st)
{
	((struct kfs_seg_store *)st)->idle_compaction = true;
}

static int seg_idle(struct kfs_store *st)
{
	return kfs_seg_compact_idle((struct kfs_seg_store *)st);
}

static bool seg_idle_pending(struct kfs_store *st)
{
	return ((struct kfs_seg_store *)st)->idle_work;
}

static int seg_sync(struct kfs_store *st)
{
	return kfs_seg_flush((struct kfs_seg_store *)st);
}

static void seg_close(struct kfs_store *st)
{
	struct kfs_seg_store *s = (struct kfs_seg_store *)st;

	for (size_t i = 0; i < s->nsegs; i++)
		close(s->segs[i].fd);
	free(s->segs);
	kfs_seg_index_free(&s->idx);
	close(s->dirfd);
	free(s);
}

/* Point the index at the record r at off of the segment being scanned. */
static int scan_index(struct kfs_seg_store *s, const struct kfs_seg_rec *r, uint64_t off)
{
	struct kfs_seg_ent *e;
	bool was_obj;
	int rc = kfs_seg_index_get(&s->idx, r->id, &e);

	if (rc < 0)
		return rc;
	was_obj = e->seg && !e->del;
	kfs_seg_repoint(s, e, r->kind == KFS_SEG_DEL, r->len, off);
	s->objects += (uint64_t)(r->kind == KFS_SEG_PUT) - was_obj;
	return 0;
}

static bool is_mark(const struct kfs_seg_rec *r)
{
	return r->idlen == strlen(KFS_SEG_MARK_ID) && !strcmp(r->id, KFS_SEG_MARK_ID);
}

/*
 * A commit point's mark at off, in the newest segment: suspect when a
 * record between where its flush began (its data: since) and the mark is
 * damaged. A mark that cannot say where its flush began is taken to cover
 * everything before it.
 */
static void scan_mark(struct kfs_seg_store *s, const struct kfs_seg_rec *r, uint64_t off)
{
	struct kfs_seg_scan_marks *m = &s->marks;
	uint8_t *since = NULL;
	uint64_t from = 0;

	if (!m->newest || !m->damaged)
		return;
	if (r->damaged || kfs_seg_read(kfs_seg_active(s)->fd, off, r->id, r->len, &since) < 0 ||
	    kfs_seg_mark_decode(since, r->len, &from) < 0)
		from = 0;
	kiln_err_clear();
	free(since);
	m->suspect = m->damaged_at >= from;
	m->mark_at = off;
}

static int scan_visit(void *ctx, const struct kfs_seg_rec *r, uint64_t off)
{
	struct kfs_seg_store *s = ctx;
	struct kfs_seg_scan_marks *m = &s->marks;
	int rc = 0;

	if (m->held) { /* a record after the point: its flush was done */
		rc = scan_index(s, &m->held_rec, m->held_at);
		m->held = m->suspect = false;
	} else if (m->suspect && !is_mark(r)) { /* the point after a suspect mark: held */
		m->held_rec = *r;
		m->held_at = off;
		m->held = true;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (is_mark(r)) { /* not an object: never indexed */
		scan_mark(s, r, off);
		return 0;
	}
	if (r->damaged) { /* indexed all the same: a GET reports it, no older record stands in */
		kfs_seg_log("%s: record of %s at offset %llu fails its data CRC", s->scanning, r->id,
			    (unsigned long long)off);
		m->damaged = true;
		m->damaged_at = off;
	}
	return scan_index(s, r, off);
}

/*
 * After the newest segment's scan (up to scanned, of size bytes): whether
 * its last commit point was cut short by a crash (a suspect mark whose
 * point is the last thing in the file, or missing). If so the segment is
 * to end at the mark; else the held point is indexed.
 */
static int scan_marks_end(struct kfs_seg_store *s, uint64_t scanned, uint64_t size, bool *cut)
{
	struct kfs_seg_scan_marks *m = &s->marks;

	*cut = m->suspect &&
	       (!m->held || (m->held_at + kfs_seg_rec_size(&m->held_rec) == scanned && scanned == size));
	if (*cut) {
		kiln_err(EBADMSG, "the record at offset %llu is damaged, and the flush of the commit "
				  "point marked at %llu after it never finished",
			 (unsigned long long)m->damaged_at, (unsigned long long)m->mark_at);
		return 0;
	}
	return m->held ? scan_index(s, &m->held_rec, m->held_at) : 0;
}

/*
 * Index the records of segment num (pushed as the active one while it is
 * scanned). A bad record ends the segment's scan. In the newest segment an
 * interrupted append is cut off; anything else the parent or the disk
 * damaged, and the objects after it read as missing.
 */
static int seg_load(struct kfs_seg_store *s, uint64_t num, bool newest)
{
	struct kfs_seg_end end;
	struct stat st;
	bool cut = false;
	int fd, rc;

	kfs_seg_name(num, s->scanning);
	fd = kfs_open_beneath(s->dirfd, s->scanning, O_RDWR, 0);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -EINVAL;
	}
	if (fd < 0) {
		kfs_seg_log("%s: not a regular file beneath the volume (%s): skipped", s->scanning,
			    strerror(-fd));
		return 0;
	}
	rc = seg_push(s, num, fd, 0);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	s->marks = (struct kfs_seg_scan_marks){ .newest = newest };
	rc = kfs_seg_scan(fd, (uint64_t)st.st_size, newest, scan_visit, s, &end);
	if (rc == 0)
		rc = scan_marks_end(s, end.off, (uint64_t)st.st_size, &cut);
	if (rc < 0)
		return kiln_err_wrap(rc, "%s", s->scanning);
	if (cut) { /* as a torn tail, from the mark on */
		end.off = s->marks.mark_at;
		end.torn = true;
	}
	if (end.off < (uint64_t)st.st_size && newest && end.torn) {
		kfs_seg_log("%s: %s: torn tail of %llu bytes cut off", s->scanning, kiln_errmsg(),
			    (unsigned long long)(st.st_size - end.off));
		if (ftruncate(fd, (off_t)end.off) < 0)
			return kiln_err(errno, "%s: truncate: %s", s->scanning, strerror(errno));
		st.st_size = (off_t)end.off;
	} else if (end.off < (uint64_t)st.st_size) {
		kfs_seg_log("%s: %s: the %llu bytes from there on are skipped", s->scanning,
			    kiln_errmsg(), (unsigned long long)(st.st_size - end.off));
		s->appendable = false; /* never append after bytes a scan cannot pass */
	}
	kiln_err_clear();
	kfs_seg_active(s)->size = (uint64_t)st.st_size;
	s->disk += (uint64_t)st.st_size;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The numbers of the segment files in the directory, sorted. */
static int seg_list(int dirfd, uint64_t **nums, size_t *n)
{
	size_t cap = 0;
	struct dirent *e;
	uint64_t num;
	DIR *dir;
	int rc = kfs_dir_list(dirfd, &dir);

	*nums = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	while (rc == 0 && (e = readdir(dir))) {
		if (!kfs_seg_name_parse(e->d_name, &num))
			continue;
		if (*n == cap) {
			uint64_t *m = realloc(*nums, (cap = cap ? cap * 2 : 16) * sizeof(*m));
			if (!m) {
				rc = kiln_err(ENOMEM, "object store: out of memory");
				continue;
			}
			*nums = m;
		}
		(*nums)[(*n)++] = num;
	}
	closedir(dir);
	if (rc == 0)
		qsort(*nums, *n, sizeof(**nums), cmp_u64);
	return rc;
}

static int seg_open_all(struct kfs_seg_store *s)
{
	uint64_t *nums;
	size_t n;
	int rc = seg_list(s->dirfd, &nums, &n);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (nums[i] >= s->next_num)
			s->next_num = nums[i] + 1;
		s->appendable = true;
		rc = seg_load(s, nums[i], i + 1 == n);
	}
	/*
	 * Append to the newest segment only when it is the newest file and
	 * scanned to its end; else the first write makes a new one (opening
	 * writes nothing).
	 */
	s->appendable = s->appendable && s->nsegs && kfs_seg_active(s)->num + 1 == s->next_num;
	/*
	 * What the scan found may be a process's appends that never reached
	 * the disk: the first commit point flushes it before its own mark, so
	 * that no mark covers it (seg_put).
	 */
	s->unsure = s->dirty = s->nsegs > 0;
	free(nums);
	return rc;
}

int kfs_store_seg(int dirfd, const struct kfs_dir_caps *caps, struct kfs_store **out)
{
	struct kfs_seg_store *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		close(dirfd);
		return kiln_err(ENOMEM, "object store: out of memory");
	}
	s->ops.ops = (struct kfs_store){ seg_get, seg_put, seg_del, seg_sync, seg_close, NULL, NULL };
	s->ops.prefetch = seg_prefetch;
	s->ops.locate = seg_locate;
	s->ops.defer_compaction = seg_defer_compaction;
	s->ops.idle = seg_idle;
	s->ops.idle_pending = seg_idle_pending;
	s->ops.marks = true;
	s->dirfd = dirfd;
	s->next_num = 1;
	s->seg_max = kfs_seg_tuning.seg_max ? kfs_seg_tuning.seg_max : KFS_SEG_MAX_DEFAULT;
	if (caps)
		s->caps = *caps;
	rc = seg_open_all(s);
	if (rc < 0) {
		seg_close(&s->ops.ops);
		return rc;
	}
	*out = &s->ops.ops;
	return 0;
}
