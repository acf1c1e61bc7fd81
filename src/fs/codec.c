/* SPDX-License-Identifier: Apache-2.0 */
/* Encoding and bounds-checked decoding of the storage core's header, root and inodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/internal.h"
#include "util/cursor.h"

#define HDR_MAGIC "KILNFS01"
/*
 * Roots are written as "KRT2": records may follow them (fs/journal.c) and
 * the map may be in parts (fs/root.c). A kiln from before reads only
 * "KROT" or "KRTJ" and so refuses such a volume instead of mounting it
 * without its records or parts. Both older roots are still read: they
 * have the map inline and say nothing of their predecessor.
 */
#define ROOT_MAGIC 0x4b525432u	    /* "KRT2" */
#define ROOT_MAGIC_JRNL 0x4b52544au /* "KRTJ" */
#define ROOT_MAGIC_OLD 0x4b524f54u  /* "KROT" */
#define PART_MAGIC 0x4b525054u	    /* "KRPT" */
#define INODE_MAGIC 0x4b494e4fu /* "KINO" */
#define JRNL_MAGIC 0x4b4a524eu  /* "KJRN" */
#define MAX_ENTRIES (1u << 20)
/*
 * A directory in pages says so where the count of its entries would be:
 * a kiln from before takes it for a count over MAX_ENTRIES and reports the
 * directory damaged instead of reading it without its entries.
 */
#define DIR_IN_PAGES 0xffffffffu
#define DPAGE_MAGIC 0x4b445047u /* "KDPG" */
#define MAX_XATTRS 1024

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

/* Room for n more bytes (grown by doubling); false once out of memory. */
static bool w_room(struct wbuf *w, size_t n)
{
	if (w->err)
		return false;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *np = realloc(w->p, cap);
		if (!np) {
			w->err = -ENOMEM;
			return false;
		}
		w->p = np;
		w->cap = cap;
	}
	return true;
}

static void w_add(struct wbuf *w, const void *p, size_t n)
{
	if (!w_room(w, n))
		return;
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

/* Stored in place, not through a memcpy call: a directory's inode is mostly these (its entries). */
static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void w_be(struct wbuf *w, uint64_t v, int bytes)
{
	if (!w_room(w, (size_t)bytes))
		return;
	put_be(w->p + w->len, v, bytes);
	w->len += (size_t)bytes;
}

/* A directory entry: ino, cookie, type bits, name length, name; one room check for all of it. */
static void w_dent(struct wbuf *w, const struct kfs_dent *e)
{
	if (!w_room(w, 22u + e->nlen))
		return;
	uint8_t *p = w->p + w->len;
	put_be(p, e->ino, 8);
	put_be(p + 8, e->cookie, 8);
	put_be(p + 16, e->mode, 4);
	put_be(p + 20, e->nlen, 2);
	memcpy(p + 22, e->name, e->nlen);
	w->len += 22u + e->nlen;
}

/* An object's plaintext, at most max bytes (one store object's worth, or an inode's in parts). */
static int w_done_max(struct wbuf *w, size_t max, uint8_t **out, size_t *len, const char *what)
{
	if (w->err || w->len > max) {
		free(w->p);
		return kiln_err(w->err ? ENOMEM : EFBIG, "%s: too large to store", what);
	}
	*out = w->p;
	*len = w->len;
	return 0;
}

static int w_done(struct wbuf *w, uint8_t **out, size_t *len, const char *what)
{
	return w_done_max(w, KFS_OBJ_MAX - KFS_SEAL_OVERHEAD, out, len, what);
}

int kfs_hdr_encode(const struct kfs_hdr *h, uint8_t **out, size_t *len)
{
	struct wbuf w = { 0 };
	size_t wl = strnlen(h->wrap, sizeof(h->wrap) - 1);

	w_add(&w, HDR_MAGIC, 8);
	w_add(&w, h->uuid, KFS_UUID_LEN);
	w_be(&w, wl, 1);
	w_add(&w, h->wrap, wl);
	w_be(&w, h->wrapped_len, 4);
	w_add(&w, h->wrapped, h->wrapped_len);
	return w_done(&w, out, len, "volume header");
}

int kfs_hdr_decode(const uint8_t *buf, size_t len, struct kfs_hdr *h)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	const uint8_t *magic, *name;
	uint8_t nl;
	uint32_t wl;

	memset(h, 0, sizeof(*h));
	if (kiln_cursor_bytes(&c, 8, &magic) < 0 || memcmp(magic, HDR_MAGIC, 8))
		return kiln_err(EBADMSG, "volume header: bad magic (not a kiln volume?)");
	if (kiln_cursor_copy(&c, h->uuid, KFS_UUID_LEN) < 0 || kiln_cursor_u8(&c, &nl) < 0 ||
	    nl >= sizeof(h->wrap) || kiln_cursor_bytes(&c, nl, &name) < 0 ||
	    kiln_cursor_be32(&c, &wl) < 0 || wl > KFS_HDR_WRAPPED_MAX ||
	    kiln_cursor_bytes(&c, wl, &h->wrapped) < 0 || kiln_cursor_left(&c))
		return kiln_err(EBADMSG, "volume header: malformed");
	memcpy(h->wrap, name, nl);
	for (size_t i = 0; i < nl; i++)
		if (h->wrap[i] < 'a' || h->wrap[i] > 'z')
			return kiln_err(EBADMSG, "volume header: bad key wrap name");
	h->wrapped_len = wl;
	return 0;
}

/*
 * The root and a journal record share a layout; a record adds its sequence
 * number after gen, a root (KRT2) what its predecessor left and its parts
 * after the counters, then the pairs unless they are in parts.
 */
static int map_encode(const struct kfs_root *r, uint32_t magic, uint8_t **out, size_t *len,
		      const char *what)
{
	struct wbuf w = { 0 };

	w_be(&w, magic, 4);
	w_be(&w, r->gen, 8);
	if (magic == JRNL_MAGIC)
		w_be(&w, r->seq, 8);
	w_be(&w, r->next_ino, 8);
	w_be(&w, r->next_ver, 8);
	w_be(&w, r->n, 8);
	if (magic == ROOT_MAGIC) {
		w_be(&w, r->prev_jseq, 8);
		w_be(&w, r->prev_parts, 4);
		w_be(&w, r->nparts, 4);
		w_be(&w, r->pid, 8);
	}
	for (uint64_t i = 0; r->nparts == 0 && i < 2 * r->n; i++)
		w_be(&w, r->map[i], 8);
	return w_done(&w, out, len, what);
}

static int root_tail_decode(struct kiln_cursor *c, struct kfs_root *r)
{
	return kiln_cursor_be64(c, &r->prev_jseq) < 0 || kiln_cursor_be32(c, &r->prev_parts) < 0 ||
			       kiln_cursor_be32(c, &r->nparts) < 0 || kiln_cursor_be64(c, &r->pid) < 0 ||
			       r->nparts > KFS_ROOT_PARTS_MAX || r->prev_parts > KFS_ROOT_PARTS_MAX ||
			       (r->nparts && (r->n > (uint64_t)r->nparts * KFS_ROOT_PART_PAIRS ||
					      kiln_cursor_left(c)))
		       ? -EBADMSG
		       : 0;
}

static int map_decode(const uint8_t *buf, size_t len, uint32_t want, struct kfs_root *r,
		      const char *what)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint32_t magic;
	bool root = want == ROOT_MAGIC;

	memset(r, 0, sizeof(*r));
	if (kiln_cursor_be32(&c, &magic) < 0 ||
	    (magic != want && !(root && (magic == ROOT_MAGIC_JRNL || magic == ROOT_MAGIC_OLD))) ||
	    kiln_cursor_be64(&c, &r->gen) < 0 ||
	    (want == JRNL_MAGIC && kiln_cursor_be64(&c, &r->seq) < 0) ||
	    kiln_cursor_be64(&c, &r->next_ino) < 0 ||
	    kiln_cursor_be64(&c, &r->next_ver) < 0 || kiln_cursor_be64(&c, &r->n) < 0 ||
	    (magic == ROOT_MAGIC && root_tail_decode(&c, r) < 0))
		return kiln_err(EBADMSG, "%s: malformed", what);
	if (r->nparts)
		return 0; /* the pairs are in the parts: fs/root.c */
	if (r->n > kiln_cursor_left(&c) / 16 || kiln_cursor_left(&c) != r->n * 16)
		return kiln_err(EBADMSG, "%s: malformed", what);
	r->map = malloc(r->n ? r->n * 16 : 1);
	if (!r->map)
		return kiln_err(ENOMEM, "%s: out of memory", what);
	for (uint64_t i = 0; i < 2 * r->n; i++)
		if (kiln_cursor_be64(&c, &r->map[i]) < 0) {
			free(r->map);
			r->map = NULL;
			return kiln_err(EBADMSG, "%s: malformed", what);
		}
	return 0;
}

int kfs_root_encode(const struct kfs_root *r, uint8_t **out, size_t *len)
{
	return map_encode(r, ROOT_MAGIC, out, len, "volume root");
}

int kfs_root_decode(const uint8_t *buf, size_t len, struct kfs_root *r)
{
	return map_decode(buf, len, ROOT_MAGIC, r, "volume root");
}

int kfs_root_part_encode(const uint64_t *pairs, uint32_t count, uint8_t **out, size_t *len)
{
	struct wbuf w = { 0 };

	w_be(&w, PART_MAGIC, 4);
	w_be(&w, count, 4);
	for (uint64_t i = 0; i < 2 * (uint64_t)count; i++)
		w_be(&w, pairs[i], 8);
	return w_done(&w, out, len, "volume root part");
}

int kfs_root_part_decode(const uint8_t *buf, size_t len, uint64_t *dst, uint32_t max,
			 uint32_t *count)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint32_t magic;

	if (kiln_cursor_be32(&c, &magic) < 0 || magic != PART_MAGIC ||
	    kiln_cursor_be32(&c, count) < 0 || *count > max ||
	    kiln_cursor_left(&c) != (size_t)*count * 16)
		return kiln_err(EBADMSG, "volume root part: malformed");
	for (uint64_t i = 0; i < 2 * (uint64_t)*count; i++)
		if (kiln_cursor_be64(&c, &dst[i]) < 0)
			return kiln_err(EBADMSG, "volume root part: malformed");
	return 0;
}

/* The head of an inode object in parts (fs/meta_parts.c): "KPRT", total, parts, part id. */
#define META_HEAD_MAGIC 0x4b505254u /* "KPRT" */

int kfs_meta_head_encode(uint64_t total, uint32_t parts, uint64_t pid, uint8_t **out, size_t *len)
{
	struct wbuf w = { 0 };

	w_be(&w, META_HEAD_MAGIC, 4);
	w_be(&w, total, 8);
	w_be(&w, parts, 4);
	w_be(&w, pid, 8);
	return w_done(&w, out, len, "object head");
}

int kfs_meta_head_decode(const uint8_t *buf, size_t len, uint64_t *total, uint32_t *parts,
			 uint64_t *pid)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint32_t magic;

	if (kiln_cursor_be32(&c, &magic) < 0 || magic != META_HEAD_MAGIC)
		return 0;
	if (kiln_cursor_be64(&c, total) < 0 || kiln_cursor_be32(&c, parts) < 0 ||
	    kiln_cursor_be64(&c, pid) < 0)
		return -EBADMSG;
	return 1;
}

int kfs_journal_encode(const struct kfs_root *r, uint8_t **out, size_t *len)
{
	return map_encode(r, JRNL_MAGIC, out, len, "journal record");
}

int kfs_journal_decode(const uint8_t *buf, size_t len, struct kfs_root *r)
{
	return map_decode(buf, len, JRNL_MAGIC, r, "journal record");
}

static void enc_xattrs(struct wbuf *w, const struct kfs_inode *n)
{
	w_be(w, n->nxa, 4);
	for (uint32_t i = 0; i < n->nxa; i++) {
		size_t nl = strlen(n->xa[i].name);
		w_be(w, nl, 2);
		w_add(w, n->xa[i].name, nl);
		w_be(w, n->xa[i].len, 4);
		w_add(w, n->xa[i].val, n->xa[i].len);
	}
}

int kfs_inode_encode(const struct kfs_inode *n, uint8_t **out, size_t *len)
{
	struct wbuf w = { 0 };

	w_be(&w, INODE_MAGIC, 4);
	w_be(&w, n->a.mode, 4);
	w_be(&w, n->a.uid, 4);
	w_be(&w, n->a.gid, 4);
	w_be(&w, n->a.nlink, 4);
	w_be(&w, n->a.size, 8);
	w_be(&w, (uint64_t)n->a.atime_ns, 8);
	w_be(&w, (uint64_t)n->a.mtime_ns, 8);
	w_be(&w, (uint64_t)n->a.ctime_ns, 8);
	enc_xattrs(&w, n);
	if (S_ISREG(n->a.mode)) {
		w_be(&w, n->nblk, 4);
		for (uint32_t i = 0; i < n->nblk; i++)
			w_be(&w, n->blk[i], 8);
	} else if (S_ISDIR(n->a.mode)) {
		w_be(&w, n->parent, 8);
		w_be(&w, n->next_cookie, 8);
		if (n->npages) {
			w_be(&w, DIR_IN_PAGES, 4);
			w_be(&w, n->page_cookies, 4);
			w_be(&w, n->npages, 4);
			for (uint32_t i = 0; i < n->npages; i++) {
				w_be(&w, n->pages[i].key, 8);
				w_be(&w, n->pages[i].ver, 8);
				w_be(&w, n->pages[i].count, 4);
			}
		} else {
			w_be(&w, n->nent, 4);
			for (uint32_t i = 0; i < n->nent; i++)
				w_dent(&w, &n->ents[i]);
		}
	} else if (S_ISLNK(n->a.mode)) {
		size_t tl = strlen(n->target);
		w_be(&w, tl, 2);
		w_add(&w, n->target, tl);
	}
	return w_done_max(&w, KFS_INODE_MAX, out, len, "inode");
}

/* A NUL-terminated copy of a length-prefixed string: no NUL or '/' when name. */
static int dec_str(struct kiln_cursor *c, size_t max, bool name, char **out)
{
	uint16_t l;
	const uint8_t *p;

	if (kiln_cursor_be16(c, &l) < 0 || l > max || (name && l == 0) ||
	    kiln_cursor_bytes(c, l, &p) < 0 || memchr(p, 0, l) || (name && memchr(p, '/', l)))
		return -EBADMSG;
	*out = malloc((size_t)l + 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, p, l);
	(*out)[l] = '\0';
	return 0;
}

static int dec_xattrs(struct kiln_cursor *c, struct kfs_inode *n)
{
	uint32_t cnt, vl;
	const uint8_t *v;

	if (kiln_cursor_be32(c, &cnt) < 0 || cnt > MAX_XATTRS)
		return -EBADMSG;
	n->xa = calloc(cnt ? cnt : 1, sizeof(*n->xa));
	if (!n->xa)
		return -ENOMEM;
	for (; n->nxa < cnt; n->nxa++) {
		struct kfs_xattr *x = &n->xa[n->nxa];
		if (dec_str(c, KFS_XATTR_NAME_MAX, false, &x->name) < 0)
			return -EBADMSG;
		if (kiln_cursor_be32(c, &vl) < 0 || vl > KFS_XATTR_VALUE_MAX ||
		    kiln_cursor_bytes(c, vl, &v) < 0 || !(x->val = malloc(vl ? vl : 1))) {
			free(x->name);
			return -EBADMSG;
		}
		memcpy(x->val, v, vl);
		x->len = vl;
	}
	return 0;
}

/*
 * A directory's list of pages: how many cookies a page takes, then the
 * pages, keys ascending, each holding 1 to that many entries below the
 * next cookie, at most MAX_ENTRIES in all. The entries come from the pages
 * (kfs_dpages_load).
 */
static int dec_pages(struct kiln_cursor *c, struct kfs_inode *n)
{
	uint32_t cnt, w;
	uint64_t total = 0;

	if (kiln_cursor_be32(c, &w) < 0 || w == 0 || w > KFS_DPAGE_COOKIES_MAX ||
	    kiln_cursor_be32(c, &cnt) < 0 || cnt == 0 || cnt > kiln_cursor_left(c) / 20)
		return -EBADMSG;
	n->page_cookies = w;
	n->pages = calloc(cnt, sizeof(*n->pages));
	if (!n->pages)
		return -ENOMEM;
	for (; n->npages < cnt; n->npages++) {
		struct kfs_dpage *p = &n->pages[n->npages];
		if (kiln_cursor_be64(c, &p->key) < 0 || kiln_cursor_be64(c, &p->ver) < 0 ||
		    kiln_cursor_be32(c, &p->count) < 0 || p->ver == 0 || p->count == 0 ||
		    p->count > w || p->key >= n->next_cookie / w + 1 ||
		    (n->npages && p->key <= n->pages[n->npages - 1].key))
			return -EBADMSG;
		total += p->count;
	}
	return total > MAX_ENTRIES ? -EBADMSG : 0;
}

/* One entry at c into e: cookies ascend after prev (0: the first), below next. */
static int dec_dent(struct kiln_cursor *c, struct kfs_dent *e, uint64_t prev, uint64_t next)
{
	if (kiln_cursor_be64(c, &e->ino) < 0 || kiln_cursor_be64(c, &e->cookie) < 0 ||
	    kiln_cursor_be32(c, &e->mode) < 0)
		return -EBADMSG;
	/* cookies ascend (readdir's order and resume point) */
	if ((prev && e->cookie <= prev) || e->cookie < 3 || e->cookie >= next)
		return -EBADMSG;
	if (dec_str(c, KFS_NAME_MAX, true, &e->name) < 0)
		return -EBADMSG;
	e->nlen = (uint16_t)strlen(e->name);
	return 0;
}

static int dec_dir(struct kiln_cursor *c, struct kfs_inode *n)
{
	uint32_t cnt;

	if (kiln_cursor_be64(c, &n->parent) < 0 || kiln_cursor_be64(c, &n->next_cookie) < 0 ||
	    kiln_cursor_be32(c, &cnt) < 0)
		return -EBADMSG;
	if (cnt == DIR_IN_PAGES)
		return dec_pages(c, n);
	if (cnt > MAX_ENTRIES || cnt > kiln_cursor_left(c) / 23)
		return -EBADMSG;
	n->ents = calloc(cnt ? cnt : 1, sizeof(*n->ents));
	if (!n->ents)
		return -ENOMEM;
	n->entcap = cnt ? cnt : 1;
	for (; n->nent < cnt; n->nent++)
		if (dec_dent(c, &n->ents[n->nent], n->nent ? n->ents[n->nent - 1].cookie : 0,
			     n->next_cookie) < 0)
			return -EBADMSG;
	return 0;
}

int kfs_dpage_encode(const struct kfs_dent *ents, uint32_t count, uint8_t **out, size_t *len)
{
	struct wbuf w = { 0 };

	w_be(&w, DPAGE_MAGIC, 4);
	w_be(&w, count, 4);
	for (uint32_t i = 0; i < count; i++)
		w_dent(&w, &ents[i]);
	return w_done(&w, out, len, "directory page");
}

int kfs_dpage_decode(const uint8_t *buf, size_t len, uint64_t key, uint32_t count,
		     struct kfs_inode *n)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint64_t w = n->page_cookies ? n->page_cookies : KFS_DPAGE_COOKIES, lo = key * w,
		 prev = n->nent ? n->ents[n->nent - 1].cookie : 0,
		 next = lo + w < n->next_cookie ? lo + w : n->next_cookie;
	uint32_t magic, cnt, i;

	if (lo && prev < lo - 1) /* the page's cookies are its key's */
		prev = lo - 1;

	if (kiln_cursor_be32(&c, &magic) < 0 || magic != DPAGE_MAGIC ||
	    kiln_cursor_be32(&c, &cnt) < 0 || cnt != count || n->nent + cnt > n->entcap)
		return kiln_err(EBADMSG, "directory page %llu: malformed", (unsigned long long)key);
	for (i = 0; i < cnt; i++, n->nent++) {
		struct kfs_dent *e = &n->ents[n->nent];
		if (dec_dent(&c, e, prev, next) < 0)
			break;
		prev = e->cookie;
	}
	if (i < cnt || kiln_cursor_left(&c))
		return kiln_err(EBADMSG, "directory page %llu: malformed entry", (unsigned long long)key);
	return 0;
}

static int dec_body(struct kiln_cursor *c, struct kfs_inode *n)
{
	uint32_t cnt;

	if (S_ISREG(n->a.mode)) {
		if (kiln_cursor_be32(c, &cnt) < 0 || cnt > kiln_cursor_left(c) / 8)
			return -EBADMSG;
		n->blk = calloc(cnt ? cnt : 1, sizeof(uint64_t));
		if (!n->blk)
			return -ENOMEM;
		for (n->nblk = cnt; cnt; cnt--)
			if (kiln_cursor_be64(c, &n->blk[n->nblk - cnt]) < 0)
				return -EBADMSG;
		if ((uint64_t)n->nblk * KFS_BLOCK < n->a.size)
			return -EBADMSG;
		return 0;
	}
	if (S_ISDIR(n->a.mode))
		return dec_dir(c, n);
	if (S_ISLNK(n->a.mode))
		return dec_str(c, KFS_SYMLINK_MAX, false, &n->target);
	return -EBADMSG;
}

int kfs_inode_decode(const uint8_t *buf, size_t len, struct kfs_inode *n)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint32_t magic;
	uint64_t t[3];
	int rc;

	if (kiln_cursor_be32(&c, &magic) < 0 || magic != INODE_MAGIC ||
	    kiln_cursor_be32(&c, &n->a.mode) < 0 || kiln_cursor_be32(&c, &n->a.uid) < 0 ||
	    kiln_cursor_be32(&c, &n->a.gid) < 0 || kiln_cursor_be32(&c, &n->a.nlink) < 0 ||
	    kiln_cursor_be64(&c, &n->a.size) < 0 || kiln_cursor_be64(&c, &t[0]) < 0 ||
	    kiln_cursor_be64(&c, &t[1]) < 0 || kiln_cursor_be64(&c, &t[2]) < 0)
		return kiln_err(EBADMSG, "inode: malformed attributes");
	n->a.atime_ns = (int64_t)t[0];
	n->a.mtime_ns = (int64_t)t[1];
	n->a.ctime_ns = (int64_t)t[2];
	rc = dec_xattrs(&c, n);
	if (rc == 0)
		rc = dec_body(&c, n);
	if (rc == 0 && kiln_cursor_left(&c))
		rc = -EBADMSG;
	if (rc < 0) {
		kfs_inode_free_fields(n);
		return kiln_err(-rc, "inode: malformed %s", rc == -ENOMEM ? "(out of memory)" : "body");
	}
	return 0;
}

void kfs_inode_free_fields(struct kfs_inode *n)
{
	for (uint32_t i = 0; i < n->nxa; i++) {
		free(n->xa[i].name);
		free(n->xa[i].val);
	}
	free(n->xa);
	for (uint32_t i = 0; i < n->nent; i++)
		free(n->ents[i].name);
	free(n->ents);
	kfs_dix_free(n);
	free(n->blk);
	free(n->target);
	free(n->pages);
	free(n->dirty_keys);
	n->pages = NULL;
	n->dirty_keys = NULL;
	n->npages = n->ndirty = n->dirtycap = n->page_cookies = 0;
	n->all_dirty = false;
	n->xa = NULL;
	n->ents = NULL;
	n->blk = NULL;
	n->target = NULL;
	n->nxa = n->nent = n->entcap = n->nblk = 0;
}

void kfs_dpage_id(uint64_t ino, uint64_t key, uint64_t ver, char id[KFS_ID_MAX + 1])
{
	snprintf(id, KFS_ID_MAX + 1, "d-%llx-%llx-%llx", (unsigned long long)ino,
		 (unsigned long long)key, (unsigned long long)ver);
}

void kfs_inode_id(uint64_t ino, uint64_t ver, char id[KFS_ID_MAX + 1])
{
	snprintf(id, KFS_ID_MAX + 1, "i-%llx-%llx", (unsigned long long)ino,
		 (unsigned long long)ver);
}

void kfs_block_id(uint64_t ino, uint64_t blk, uint64_t ver, char id[KFS_ID_MAX + 1])
{
	snprintf(id, KFS_ID_MAX + 1, "b-%llx-%llx-%llx", (unsigned long long)ino,
		 (unsigned long long)blk, (unsigned long long)ver);
}

void kfs_journal_id(uint64_t gen, uint64_t seq, char id[KFS_ID_MAX + 1])
{
	snprintf(id, KFS_ID_MAX + 1, "j-%llx-%llx", (unsigned long long)gen, (unsigned long long)seq);
}

void kfs_root_part_id(uint64_t gen, uint32_t k, char id[KFS_ID_MAX + 1])
{
	snprintf(id, KFS_ID_MAX + 1, "r-%llx-%x", (unsigned long long)gen, k);
}
