/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the storage core shared by its files (and its fuzz targets). */
#ifndef KILN_FS_INTERNAL_H
#define KILN_FS_INTERNAL_H

#include "fs/fs.h"

struct kfs_dent {
	char *name;
	uint64_t ino, cookie;
	uint32_t mode; /* type bits of the target, for readdir */
	uint16_t nlen; /* strlen(name): a commit encodes every entry of a changed directory */
};

struct kfs_xattr {
	char *name;
	uint8_t *val;
	size_t len;
};

/* A stored page of a large directory (fs/dir_pages.c): the entries whose cookies are key's. */
struct kfs_dpage {
	uint64_t key, ver;
	uint32_t count;
};

struct kfs_inode {
	struct kfs_inode *next; /* hash chain */
	uint64_t ino;
	uint64_t ver;		/* version of the stored inode object; 0: none yet */
	bool loaded, dirty;
	bool touched; /* in kfs.touched: handed out since the last commit */
	uint32_t opens;
	struct kfs_attr a;
	struct kfs_xattr *xa;
	uint32_t nxa;
	/* regular files: version of each block, 0 for a hole */
	uint64_t *blk;
	uint32_t nblk;
	/* read-ahead: the block after the last read, the window (blocks; 0: not sequential) */
	uint64_t ra_next;
	uint32_t ra_win;
	/* directories */
	struct kfs_dent *ents;
	uint32_t nent, entcap;
	struct kfs_dix *dix; /* names to entries, in a large directory (fs/dir_index.c) */
	uint64_t parent, next_cookie;
	/* a large directory's stored pages, by key, and the keys changed since (fs/dir_pages.c) */
	struct kfs_dpage *pages;
	uint32_t npages, ndirty, dirtycap;
	uint32_t page_cookies; /* cookies per stored page (when npages) */
	uint64_t *dirty_keys;
	bool all_dirty;
	/* symlinks */
	char *target;
	uint32_t parts; /* objects beyond the first that the stored version takes (fs/meta_parts.c) */
};

/*
 * A directory's name index (fs/dir_index.c), from KFS_DIX_MIN entries on.
 * find: the entry named name, or NULL. added: after an entry was appended;
 * removing: before entry idx is freed and the ones after it moved down;
 * free: with the inode's fields.
 */
#define KFS_DIX_MIN 32
struct kfs_dent *kfs_dent_find(struct kfs_inode *d, const char *name);
void kfs_dix_added(struct kfs_inode *d);
void kfs_dix_removing(struct kfs_inode *d, uint32_t idx);
void kfs_dix_free(struct kfs_inode *d);

#define KFS_BUCKETS 4096

/*
 * Decrypted blocks kept in the enclave (bounded: KFS_CACHE_BLOCKS of them,
 * 8 MiB, made at mount), in slots by (inode, block), checked by version
 * (fs/cache.c); ver 0 is an empty slot. Reading an inode in order fills it
 * ahead of the reader by a window of KFS_RA_MIN doubling to KFS_RA_MAX
 * blocks (1 MiB).
 */
#define KFS_CACHE_BLOCKS 256
#define KFS_RA_MIN 4
#define KFS_RA_MAX 32
/*
 * A slot is whole (every piece valid: the content of version ver) or, once
 * a write was deferred into it (fs/rmw.c), dirty: the new bytes of the
 * pieces in valid over version ver, the one the inode still names, which
 * is fetched and merged under them when the block is sealed.
 */
#define KFS_PIECE 4096
#define KFS_PIECES (KFS_BLOCK / KFS_PIECE)
#define KFS_PIECES_ALL ((uint8_t)((1u << KFS_PIECES) - 1))
_Static_assert(KFS_PIECES == 8, "a block's pieces fit the 8-bit valid map");
struct kfs_cblk {
	uint64_t ino, blk, ver;
	uint8_t valid; /* the pieces that hold this block's bytes */
	bool dirty;    /* written since ver: to be sealed as a new version */
	/*
	 * data[zero_from..] are zeros: a small block put or opened zeroes only
	 * what its slot held past it, not the whole 32 KiB (that memset was a
	 * quarter of a 1-byte write's instructions, by callgrind).
	 */
	uint32_t zero_from;
	uint8_t data[KFS_BLOCK];
};
/* Bytes len.. of slot c are zeros from now on (len: what was just written). */
void kfs_cache_zero_past(struct kfs_cblk *c, size_t len);
/* Bytes before end of slot c may be other than zeros now (written, or about to be). */
void kfs_cache_written_to(struct kfs_cblk *c, size_t end);

/* A put in flight (fs/pipeline.c): its block, its version and the one it replaced; ino 0: an inode object. */
struct kfs_flight {
	uint64_t ino, blk, ver, old;
};

/*
 * A block get in flight (fs/inflight.c): which version of which block,
 * and the object its answer goes to (its room is its slot of fs->ahead).
 * At most KFS_GET_AHEAD: their answers, 1 MiB, wait in fs->ahead.
 */
#define KFS_GET_AHEAD 32
struct kfs_getf {
	uint64_t ino, blk, ver;
	char id[KFS_ID_MAX + 1];
	struct kfs_obj o;
};

struct kfs {
	const struct kfs_alt_ops *alt; /* set: not the encrypted core (kfs_alt_new) */
	void *alt_ctx;
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	kfs_log_fn log;
	void *log_ctx;
	uint8_t uuid[KFS_UUID_LEN];
	uint8_t vkey[KFS_KEY_LEN];  /* the volume key */
	uint8_t mkey[KFS_KEY_LEN];  /* metadata key: root and inodes */
	struct kfs_sealer *sealer;  /* keys, cipher contexts, nonces: made once per mount (fs/seal.c) */
	uint64_t gen, next_ino, next_ver;
	uint64_t commit_ver;	    /* versions below this are referenced by the stored root */
	struct kfs_inode *tab[KFS_BUCKETS];
	uint64_t ninodes;
	/*
	 * The inodes handed out since the last commit (every change goes
	 * through kfs_ifind, kfs_iget or kfs_inode_new): a commit looks at
	 * these, not at every inode of the volume. touched_all: the list could
	 * not grow, so the next commit walks them all.
	 */
	uint64_t *touched;
	size_t ntouched, touchedcap;
	bool touched_all;
	/*
	 * The journal (fs/journal.c): records written after the root of gen
	 * (jseq of them), whether this mount wrote that root (jok: only then
	 * may records follow it), and the (ino, ver) pairs changed since the
	 * last commit (chg_lost: one could not be kept, so a root is written).
	 */
	uint64_t jseq;
	uint64_t root_stamp; /* the root's nonce stamp: bound into its records */
	uint32_t root_parts;  /* how many parts the current root has (fs/root.c) */
	uint32_t part_pairs;  /* pairs per part: KFS_ROOT_PART_PAIRS (tests make it small) */
	uint64_t left_gen, left_jseq; /* what the loaded root's predecessor may have left */
	uint32_t left_parts;
	bool jok, chg_lost;
	uint64_t *chg;
	size_t nchg, chgcap;
	struct kfs_cblk *cache;	 /* KFS_CACHE_BLOCKS slots */
	uint8_t *merge;		 /* KFS_BLOCK: an old block opened to go under a dirty slot's pieces */
	uint8_t *edge;		 /* 2 * KFS_BLOCK: a write's partly written end blocks (fs/data.c) */
	/*
	 * Per-file keys derived lately, direct-mapped by inode (ino 0: empty).
	 * A file key depends only on the volume key and the inode number, so an
	 * entry is never stale; HKDF through OpenSSL's EVP layer cost a third of
	 * a cached 4 KiB read. Wiped with the rest of struct kfs at unmount.
	 */
	struct {
		uint64_t ino;
		uint8_t key[KFS_KEY_LEN];
	} fkey[16];
	uint8_t *sealed;	 /* KFS_BATCH_MAX sealed blocks: the batch being put or got */
	const struct kfs_put_pipe *pipe; /* set: block puts do not wait (fs/pipeline.c) */
	struct kfs_flight flight[KFS_PUT_AHEAD]; /* oldest first */
	size_t nflight;
	int meta_err; /* the first inode object put of this commit that failed */
	int put_err; /* the first put that failed since the last commit, for the next one */
	uint8_t *ahead; /* KFS_GET_AHEAD sealed blocks, made at first use */
	struct kfs_getf getf[KFS_GET_AHEAD]; /* a ring, oldest at getf_at */
	size_t getf_at, ngetf;
	char (*garbage)[KFS_ID_MAX + 1]; /* objects to delete after the next root commit */
	size_t ngarbage, garbagecap;
	bool garbage_sent; /* this commit's record took their deletes with it (kfs_put_pipe.point) */
};

/* The volume header (plaintext): magic, uuid, wrap name, wrapped key. */
struct kfs_hdr {
	uint8_t uuid[KFS_UUID_LEN];
	char wrap[16];
	const uint8_t *wrapped; /* points into the decoded buffer */
	size_t wrapped_len;
};
#define KFS_HDR_WRAPPED_MAX 8192
int kfs_hdr_encode(const struct kfs_hdr *h, uint8_t **out, size_t *len) KILN_MUST;
int kfs_hdr_decode(const uint8_t *buf, size_t len, struct kfs_hdr *h) KILN_MUST;

/*
 * Root plaintext: counters and the version map of every live inode. A
 * journal record (fs/journal.c) has the same shape plus its sequence
 * number: the counters after its commit and the pairs that commit changed
 * (ver 0: the inode is gone).
 */
struct kfs_root {
	uint64_t gen, seq, next_ino, next_ver;
	uint64_t n;
	uint64_t *map; /* n pairs: ino, ver (NULL from decode when they are in parts) */
	/*
	 * Roots only (fs/root.c): the map is in nparts objects of their own
	 * when it is too large for one (0: inline), sealed with pid; and what
	 * the root before this one may have left on the parent (its records
	 * and parts), to delete again should a crash have kept them.
	 */
	uint32_t nparts, prev_parts;
	uint64_t pid, prev_jseq;
};
int kfs_root_encode(const struct kfs_root *r, uint8_t **out, size_t *len) KILN_MUST;
int kfs_root_decode(const uint8_t *buf, size_t len, struct kfs_root *r) KILN_MUST;
/* A root part: count pairs; decode refuses more than max (dst has room for max pairs). */
int kfs_root_part_encode(const uint64_t *pairs, uint32_t count, uint8_t **out, size_t *len) KILN_MUST;
int kfs_root_part_decode(const uint8_t *buf, size_t len, uint64_t *dst, uint32_t max,
			 uint32_t *count) KILN_MUST;
int kfs_journal_encode(const struct kfs_root *r, uint8_t **out, size_t *len) KILN_MUST;
int kfs_journal_decode(const uint8_t *buf, size_t len, struct kfs_root *r) KILN_MUST;
void kfs_journal_id(uint64_t gen, uint64_t seq, char id[KFS_ID_MAX + 1]);
void kfs_root_part_id(uint64_t gen, uint32_t k, char id[KFS_ID_MAX + 1]);

/*
 * The root on the parent (fs/root.c). A map of up to KFS_ROOT_PART_PAIRS
 * inodes is inside the root object; a larger one is in parts (at most
 * KFS_ROOT_PARTS_MAX), each an object of its own, written and made durable
 * before the root that names them. fetch: the root and its whole map (the
 * caller frees r->map); store: r (gen, counters, map) with its parts, then
 * the root, durable; the old root's parts are retired.
 */
#define KFS_ROOT_ID "root"
#define KFS_ROOT_PART_PAIRS 65528u
#define KFS_ROOT_PARTS_MAX 1024u
int kfs_root_fetch(struct kfs *fs, struct kfs_root *r) KILN_MUST;
int kfs_root_store(struct kfs *fs, struct kfs_root *r) KILN_MUST;
/* After the first new root of a mount: what the loaded root said its predecessor may have left. */
void kfs_root_retire_leftovers(struct kfs *fs);

/* Inode plaintext; decode fills a zeroed inode (ino and ver set by the caller). */
int kfs_inode_encode(const struct kfs_inode *n, uint8_t **out, size_t *len) KILN_MUST;
int kfs_inode_decode(const uint8_t *buf, size_t len, struct kfs_inode *n) KILN_MUST;
void kfs_inode_free_fields(struct kfs_inode *n);

/*
 * A large directory in pages (fs/dir_pages.c): from KFS_DPAGE_MIN entries
 * on, the inode lists pages (key, version, count) instead of its entries,
 * and page key holds the entries whose cookies are in [key, key + 1) *
 * cookies (the inode says how many: KFS_DPAGE_COOKIES when written here),
 * each its own object: a commit rewrites only the pages whose entries
 * changed. encode: entries [0, count) of ents, in page key; decode: a
 * page's entries appended to n->ents (room made by the caller), checked
 * against its key, its count and the directory's next cookie. Tests may
 * set smaller pages (kfs_dpage_tuning; 0: the defaults).
 * KFS_DPAGE_COOKIES is the smallest page; a larger directory's pages
 * are larger (dir_pages.c, page_cookies). Over NFS each small file
 * created is a commit, which seals the last page: with pages of 256 from
 * 256 entries on, that page averaged 128 entries, more than the rest of
 * the commit together (bench/README.md, "Thirteenth pass").
 */
#define KFS_DPAGE_MIN 64
#define KFS_DPAGE_COOKIES 64
#define KFS_DPAGE_COOKIES_MAX 65536
struct kfs_dpage_tuning {
	uint32_t min, cookies;
};
extern struct kfs_dpage_tuning kfs_dpage_tuning;
int kfs_dpage_encode(const struct kfs_dent *ents, uint32_t count, uint8_t **out,
		     size_t *len) KILN_MUST;
int kfs_dpage_decode(const uint8_t *buf, size_t len, uint64_t key, uint32_t count,
		     struct kfs_inode *n) KILN_MUST;
/* A change to the entry with this cookie: its page is rewritten at the next commit. */
void kfs_dpage_touch(struct kfs_inode *d, uint64_t cookie);
/* At a commit, before the inode is encoded: its pages as of now, under version ver. */
int kfs_dpages_store(struct kfs *fs, struct kfs_inode *d, uint64_t ver) KILN_MUST;
/* After its inode decoded with pages: the entries, from the pages. */
int kfs_dpages_load(struct kfs *fs, struct kfs_inode *d) KILN_MUST;
/* The directory leaves the volume: its stored pages go with it. */
int kfs_dpages_retire(struct kfs *fs, struct kfs_inode *d) KILN_MUST;

/* Object ids. */
void kfs_dpage_id(uint64_t ino, uint64_t key, uint64_t ver, char id[KFS_ID_MAX + 1]);
void kfs_inode_id(uint64_t ino, uint64_t ver, char id[KFS_ID_MAX + 1]);
void kfs_block_id(uint64_t ino, uint64_t blk, uint64_t ver, char id[KFS_ID_MAX + 1]);

/*
 * Sealed metadata (fs/core.c): seal pt under the metadata key and put it as
 * id; get id and open it (-ENOENT missing, -EBADMSG not authentic, else the
 * store's error; *pt is freed by the caller). stamp, if not NULL: the
 * first 8 bytes of the object's random nonce, unique per write.
 */
int kfs_seal_put(struct kfs *fs, const struct kfs_aad *aad, const char *id, const uint8_t *pt,
		 size_t len, unsigned flags, uint64_t *stamp) KILN_MUST;
#define KFS_SEAL_META 0x100 /* kfs_seal_put's flags: an inode object of the commit (kfs_put_meta) */
int kfs_get_opened(struct kfs *fs, const struct kfs_aad *aad, const char *id, uint8_t **pt,
		   size_t *len, uint64_t *stamp) KILN_MUST;
/* The same for object id's sealed bytes (cl of them) already got: *pt (caller frees), *len. */
int kfs_open_meta(struct kfs *fs, const struct kfs_aad *aad, const char *id, const uint8_t *ct,
		  size_t cl, uint8_t **pt, size_t *len) KILN_MUST;
/*
 * An inode's plaintext may outgrow one object (a directory of some 25 000
 * entries, a file's block list): fs/meta_parts.c puts the rest in parts,
 * ID.K. put and get as kfs_seal_put and kfs_get_opened, with the number of
 * parts; a part that fails is logged by name and gives -EIO. put is a
 * commit's: through kfs_put_meta, so kfs_puts_settle has its answers.
 * retire: the object and its parts.
 */
#define KFS_INODE_MAX (64u << 20)
int kfs_meta_put(struct kfs *fs, const struct kfs_aad *aad, const char *id, const uint8_t *pt,
		 size_t len, uint32_t *parts) KILN_MUST;
int kfs_meta_get(struct kfs *fs, const struct kfs_aad *aad, const char *id, uint8_t **pt,
		 size_t *len, uint32_t *parts) KILN_MUST;
int kfs_meta_retire(struct kfs *fs, const char *id, uint64_t ver, uint32_t parts) KILN_MUST;
/* A head's 24 bytes (fs/codec.c); decode: 1 a head, 0 not one (a whole object), -EBADMSG cut short. */
#define KFS_META_HEAD_LEN 24
int kfs_meta_head_encode(uint64_t total, uint32_t parts, uint64_t pid, uint8_t **out,
			 size_t *len) KILN_MUST;
int kfs_meta_head_decode(const uint8_t *buf, size_t len, uint64_t *total, uint32_t *parts,
			 uint64_t *pid) KILN_MUST;
/* A head's fields, checked against its size: 1 when buf is a head, 0 when it is a whole object, -EBADMSG when malformed. */
int kfs_meta_head_parse(const uint8_t *buf, size_t len, uint64_t *total, uint32_t *parts,
			uint64_t *pid) KILN_MUST;
/* Mount: the stored version of ino is ver (0: the inode is gone). */
int kfs_iset(struct kfs *fs, uint64_t ino, uint64_t ver) KILN_MUST;

/* The journal (fs/journal.c). */
#define KFS_JOURNAL_MAX 64	   /* records before they are folded into a new root */
#define KFS_JOURNAL_PAIRS 4096 /* a commit that changed more writes a root */
void kfs_journal_change(struct kfs *fs, uint64_t ino, uint64_t ver);
bool kfs_journal_fits(const struct kfs *fs);
int kfs_journal_put(struct kfs *fs, unsigned flags) KILN_MUST;
void kfs_journal_retire(struct kfs *fs, uint64_t gen, uint64_t upto);
int kfs_journal_replay(struct kfs *fs) KILN_MUST;
void kfs_journal_committed(struct kfs *fs);

/* Core helpers. */
int kfs_iget(struct kfs *fs, uint64_t ino, struct kfs_inode **out) KILN_MUST;
int kfs_inode_new(struct kfs *fs, uint32_t mode, uint32_t uid, uint32_t gid,
		  struct kfs_inode **out) KILN_MUST;
void kfs_inode_drop(struct kfs *fs, struct kfs_inode *n);
/* Forget object (id at version ver): now if uncommitted, else after the next commit. */
int kfs_retire(struct kfs *fs, const char *id, uint64_t ver) KILN_MUST;
/* Keep object id after all: true when it was waiting for the next commit to go. */
bool kfs_unretire(struct kfs *fs, const char *id);
/* The inode ino if it is in the table (loaded or not), else NULL. */
struct kfs_inode *kfs_ifind(struct kfs *fs, uint64_t ino);
int kfs_integrity(struct kfs *fs, int rc, const char *what, const char *id);
/* The associated data of an object of this volume: kind and its three numbers. */
void kfs_aad_of(const struct kfs *fs, uint8_t kind, uint64_t ino, uint64_t blk, uint64_t ver,
		struct kfs_aad *a);
int64_t kfs_now(void);
int kfs_truncate_blocks(struct kfs *fs, struct kfs_inode *n, uint64_t size) KILN_MUST;
void kfs_touch(struct kfs_inode *n, bool m, bool c);

/*
 * The block cache (fs/cache.c): the slot of a position, a lookup (NULL:
 * not there), a lookup of some pieces only (need: a piece map), a fill.
 */
struct kfs_cblk *kfs_cache_slot(struct kfs *fs, uint64_t ino, uint64_t blk);
const uint8_t *kfs_cache_find(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver);
const uint8_t *kfs_cache_pieces(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver,
				uint8_t need);
/* len bytes of data, zeros after; skipped when the slot holds another block's deferred write. */
void kfs_cache_put(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver, const uint8_t *data,
		   size_t len);
void kfs_cache_forget(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver);
/* Does slot c hold a deferred write still to be sealed (dirty, and its inode still names ver)? */
bool kfs_cache_pending(struct kfs *fs, const struct kfs_cblk *c);
/* Would filling the slot of (ino, blk) throw away another block's deferred write? */
bool kfs_cache_taken(struct kfs *fs, uint64_t ino, uint64_t blk);
/* The pieces of block blk that bytes [off, off + len) of the file touch. */
uint8_t kfs_pieces(uint64_t blk, uint64_t off, size_t len);

/*
 * Deferred read-modify-write (fs/rmw.c). kfs_write_defer stores a write of
 * len bytes at byte in of stored block blk (within the block) in its cache
 * slot without the old block, when it can: 1 deferred, 0 not (the caller
 * merges now), or an error. kfs_write_defers says whether it would.
 * kfs_flush_deferred seals every deferred block: the gets of their old
 * versions in batches, each merged under the new pieces, sealed as a new
 * version and put. A block whose old version cannot be fetched or opened
 * is logged, dropped, and its error kept for the next commit (as a failed
 * put's is); the first such error is also returned.
 */
int kfs_write_defer(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t blk,
		    size_t in, const uint8_t *data, size_t len) KILN_MUST;
bool kfs_write_defers(struct kfs *fs, const struct kfs_inode *n, uint64_t blk, size_t in,
		      size_t len);
int kfs_flush_deferred(struct kfs *fs) KILN_MUST;
/* Any deferred write waiting to be sealed? */
bool kfs_deferred(struct kfs *fs);

/* From fs/data.c for fs/rmw.c: fetch what bytes [off, off + len) of blocks b0 .. end-1 need; store blocks. */
int kfs_fetch_blocks(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t b0,
		     uint64_t end, uint64_t off, size_t len) KILN_MUST;
int kfs_write_blocks(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t b0,
		     size_t cnt, const uint8_t *const *pt, const size_t *lens) KILN_MUST;
size_t kfs_block_len(uint64_t b, uint64_t size);

/*
 * Pipelined block puts (fs/pipeline.c; only when fs->pipe is set). Put one
 * sealed block (version ver of block blk, replacing old) without waiting;
 * reap the answers of the oldest cnt in flight (a failed one is repaired
 * and remembered); settle: reap all, then the remembered failure, once
 * (a failed block put, else a failed inode object put).
 */
int kfs_put_block(struct kfs *fs, const struct kfs_obj *o, uint64_t ino, uint64_t blk,
		  uint64_t ver, uint64_t old) KILN_MUST;
int kfs_puts_reap(struct kfs *fs, size_t cnt) KILN_MUST;
int kfs_puts_settle(struct kfs *fs) KILN_MUST;
/*
 * A commit's inode objects (fs/pipeline.c): put without waiting, behind
 * the block puts in flight (in their window, as an entry of ino 0), when
 * fs->pipe is set; at once otherwise. The commit's SYNC or commit point,
 * sent after them, reads all their answers in on its way (one round
 * trip); then kfs_puts_settle reaps them.
 */
int kfs_put_meta(struct kfs *fs, const char *id, const uint8_t *buf, size_t len) KILN_MUST;

/*
 * Block gets in flight (fs/inflight.c), a hint that only warms the cache.
 * kfs_gets_send puts the gets of the given blocks (stored, not cached,
 * not in flight yet; at most KFS_GET_AHEAD) in flight in one batch, first
 * taking the oldest in flight when there is no room. kfs_gets_take takes,
 * in channel order, every get in flight up to the last one for blocks b0
 * .. end-1 of ino: waits for its answer and authenticates it into the
 * cache if the inode still names that version; a failure is not reported
 * (the block is then fetched, and its failure reported, when it is read).
 * Over a store without a pipe, kfs_gets_send is one getv round trip.
 */
struct kfs_want {
	struct kfs_inode *n;
	uint64_t blk;
};
void kfs_gets_send(struct kfs *fs, const struct kfs_want *w, size_t cnt);
void kfs_gets_take(struct kfs *fs, uint64_t ino, uint64_t b0, uint64_t end);
bool kfs_get_in_flight(const struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver);

/*
 * Shared by fs/data.c and fs/inflight.c: the per-file key, a batch of
 * gets or puts, a block opened into its cache slot.
 */
int kfs_file_key(struct kfs *fs, uint64_t ino, uint8_t *key) KILN_MUST;
int kfs_store_batch(struct kfs_store *st, bool put, struct kfs_obj *v, size_t n);
int kfs_open_block(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver, const uint8_t *key,
		   const struct kfs_obj *o) KILN_MUST;
#define KFS_SEALED_BLOCK (KFS_BLOCK + KFS_SEAL_OVERHEAD)

/* Unmount a kfs_alt_new volume and free it (fs/alt.c). */
int kfs_alt_free(struct kfs *fs);

/* At the top of each public kfs_* call: a kfs_alt_new volume goes to its ops. */
#define KFS_ALT(fs, fn, ...)                                                   \
	do {                                                                   \
		if ((fs)->alt)                                                 \
			return (fs)->alt->fn((fs)->alt_ctx, __VA_ARGS__);      \
	} while (0)

#endif
