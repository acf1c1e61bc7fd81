/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's storage channel: serving one enclave connection's object requests beneath its volume root. */
#include "kilnd/store.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chan/vsock_buf.h"
#include "fs/wire.h"
#include "kilnd/internal.h"
#include "kilnd/store_in.h"
#include "kilnd/store_int.h"
#include "kilnd/store_plain.h"

int kd_store_cfg_parse(json_t *vols, const char *state_dir, const char *enclave,
		       struct kd_store_cfg *cfg)
{
	size_t i;
	json_t *v;

	memset(cfg, 0, sizeof(*cfg));
	if (vols && (!json_is_array(vols) || json_array_size(vols) > KD_STORE_VOLS))
		return kiln_err(EINVAL, "register: \"volumes\" must be an array of at most %d",
				KD_STORE_VOLS);
	json_array_foreach(vols, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *host = json_string_value(json_object_get(v, "host"));
		const char *mode = json_string_value(json_object_get(v, "mode"));
		if (mode && strcmp(mode, "plain") && strcmp(mode, "encrypted"))
			return kiln_err(EINVAL, "register: volumes[%zu]: mode must be plain or encrypted", i);
		cfg->vol[i].plain = mode && !strcmp(mode, "plain");
		if (!name || kfs_id_check(name, strlen(name)) < 0 || !host || host[0] != '/' ||
		    strlen(host) >= PATH_MAX)
			return kiln_err(EINVAL, "register: volumes[%zu]: needs a valid name and an absolute host path", i);
		snprintf(cfg->vol[i].name, sizeof(cfg->vol[i].name), "%s", name);
		snprintf(cfg->vol[i].root, sizeof(cfg->vol[i].root), "%s", host);
		cfg->n++;
	}
	if (state_dir && snprintf(cfg->default_root, sizeof(cfg->default_root), "%s/volumes/%s",
				  state_dir, enclave) >= (int)sizeof(cfg->default_root))
		return kiln_err(ENAMETOOLONG, "register: state directory path too long");
	return 0;
}

int kd_store_new(const char *enclave, const struct kd_store_cfg *cfg, struct kd_store **out)
{
	struct kd_store *s = calloc(1, sizeof(*s));

	if (!s)
		return kiln_err(ENOMEM, "storage channel: out of memory");
	pthread_mutex_init(&s->lock, NULL);
	kd_conn_slots_init(&s->slots, KD_STORE_CONNS, &kd_store_conn_ops, s);
	s->listen_fd = s->stop_fd = -1;
	s->cfg = *cfg;
	snprintf(s->name, sizeof(s->name), "%s", enclave);
	*out = s;
	return 0;
}

/* Mark volume i busy; false when another connection has it. */
static bool vol_take(struct kd_store *s, size_t i, bool take)
{
	bool ok;

	pthread_mutex_lock(&s->lock);
	ok = !take || !s->busy[i];
	if (ok)
		s->busy[i] = take;
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static int open_root(const char *root, struct kfs_store **out, const struct kfs_dir_caps *caps)
{
	char parent[PATH_MAX];
	char *slash;

	/* STATE/volumes/ENCLAVE/NAME: the two levels above may not exist yet */
	snprintf(parent, sizeof(parent), "%s", root);
	if ((slash = strrchr(parent, '/')) && slash != parent) {
		*slash = '\0';
		char *up = strrchr(parent, '/');
		if (up && up != parent) {
			*up = '\0';
			(void)mkdir(parent, 0700);
			*up = '/';
		}
		(void)mkdir(parent, 0700);
	}
	if (mkdir(root, 0700) < 0 && errno != EEXIST)
		return kiln_err(errno, "volume directory %s: %s", root, strerror(errno));
	return kfs_store_dir_open(root, caps, out);
}

/*
 * Answers wait here while more requests are already read in (at most
 * OUT_HELD of them): the answers to requests the enclave sent together go
 * back in one send, one wake-up of its reader. None is held while kilnd
 * reads the socket (serve_vol sends them first) or sends an answer of its
 * own (a GET's data goes after them).
 */
#define OUT_HELD 16
#define OUT_ONE 8 /* an answer held: length, status, a byte or three of data */
struct out {
	int fd;
	unsigned n;
	size_t len;
	uint8_t buf[OUT_HELD * OUT_ONE];
};

static int out_flush(struct out *o)
{
	int rc = o->len ? kfs_wire_send_frames(o->fd, o->buf, o->len) : 0;

	o->len = 0;
	o->n = 0;
	return rc;
}

static int reply(struct out *o, int err, const void *data, size_t len)
{
	uint8_t st = (uint8_t)(err < 0 ? (-err < 256 ? -err : EIO) : 0);

	len = err < 0 ? 0 : len;
	if (5 + len <= OUT_ONE) {
		o->len += kfs_wire_frame(o->buf + o->len, &st, 1, data, len);
		return ++o->n == OUT_HELD ? out_flush(o) : 0;
	}
	int rc = kfs_wire_send_after(o->fd, o->buf, o->len, &st, 1, data, len);

	o->len = 0;
	o->n = 0;
	return rc;
}

/*
 * A GET answered from the page cache: the segment's pages go to the
 * socket without a copy into kilnd, whose data CRC is then not checked:
 * the enclave authenticates every object (AES-GCM) and reports a damaged
 * one as it does a missing one. A layout without segments is read.
 */
static int send_get(struct out *o, struct kfs_store *st, const char *id)
{
	struct kfs_extent x;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc = kfs_store_dir_locate(st, id, &x);

	if (rc == 0 && (rc = out_flush(o)) == 0) {
		rc = kfs_wire_send_file(o->fd, (uint8_t[]){ 0 }, 1, x.fd, x.off, x.len);
		if (rc > 0)
			kd_log("storage: object %s: its segment was cut short while it was sent", id);
		return rc < 0 ? rc : 0;
	}
	if (rc == -EOPNOTSUPP)
		rc = st->get(st, id, &obj, &len);
	rc = reply(o, rc, obj, len);
	free(obj);
	return rc;
}

/*
 * A commit point (KFS_PUT_BARRIER): refused with the first failure of a
 * PUT since the last SYNC or commit point (failed, then cleared), else
 * stored once everything before it is durable.
 */
static int put_barrier(struct kfs_store *st, const struct kfs_wire_req *r, int *failed)
{
	int rc = *failed;

	*failed = 0;
	if (rc < 0)
		return kiln_err(-rc, "object %s: a put before it failed", r->id);
	return kfs_store_dir_put_point(st, r->id, r->data, r->len);
}

/*
 * What a connection's requests leave for the ones after them: the first
 * failed PUT since the last SYNC or commit point (put_barrier), and
 * whether the last commit point was refused (a DEL flagged
 * KFS_DEL_AFTER_POINT then deletes nothing: the commit it followed did
 * not happen, and its old objects are still named).
 */
struct chan_state {
	int failed;
	bool refused;
};

/* One request against the opened volume; the reply is sent (or held) here. */
static int handle(struct out *o, struct kfs_store *st, const struct kfs_wire_req *r,
		  struct chan_state *cs)
{
	int rc;

	switch (r->op) {
	case KFS_OP_GET:
		return send_get(o, st, r->id);
	case KFS_OP_PUT:
		if (r->flags & KFS_PUT_BARRIER) {
			rc = put_barrier(st, r, &cs->failed);
			cs->refused = rc < 0;
			return reply(o, rc, NULL, 0);
		}
		rc = st->put(st, r->id, r->data, r->len, r->flags);
		if (rc < 0 && cs->failed == 0)
			cs->failed = rc;
		break;
	case KFS_OP_DEL:
		if ((r->flags & KFS_DEL_AFTER_POINT) && cs->refused)
			return reply(o, -ECANCELED, NULL, 0);
		rc = st->del(st, r->id);
		break;
	case KFS_OP_SYNC:
		rc = st->sync(st);
		cs->failed = 0;
		break;
	default:
		rc = kiln_err(EPROTO, "storage request: OPEN twice");
		break;
	}
	return reply(o, rc, NULL, 0);
}

static void prefetch_get(void *ctx, const struct kfs_wire_req *r)
{
	if (r->op == KFS_OP_GET)
		kfs_store_dir_prefetch(ctx, r->id);
}

/*
 * Before answering a GET, start the disk reads of the GETs already queued
 * behind it (a batch: the enclave's readahead), which the kernel would
 * otherwise read only when asked, one at a time; what has come since the
 * last read is looked at too. A GET alone is left to the kernel: advising
 * just its record (no read-ahead past it) was measured slower on random
 * reads (bench/README.md, "One cold 4 KiB random read"). Returns how many
 * requests were looked at (not to be looked at again).
 */
static size_t read_ahead(struct kd_store_in *in, int fd, struct kfs_store *st)
{
	size_t n;
	const uint8_t *rest = kd_store_in_rest(in, &n);
	size_t queued = kfs_wire_frames(rest, n, prefetch_get, st);

	if (queued == 0 && kd_store_in_top_up(in, fd) > 0) {
		rest = kd_store_in_rest(in, &n);
		queued = kfs_wire_frames(rest, n, prefetch_get, st);
	}
	kfs_store_dir_prefetch(st, NULL);
	return queued;
}

/* The volume named id: listed, or added under the default root while there is room. */
static int find_vol(struct kd_store *s, const char *id, size_t *vi)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	for (*vi = 0; *vi < s->cfg.n && strcmp(s->cfg.vol[*vi].name, id); (*vi)++)
		;
	if (*vi == s->cfg.n && (!s->cfg.default_root[0] || s->cfg.n == KD_STORE_VOLS))
		rc = -ENOENT;
	else if (*vi == s->cfg.n) {
		snprintf(s->cfg.vol[*vi].name, sizeof(s->cfg.vol[*vi].name), "%s", id);
		snprintf(s->cfg.vol[*vi].root, sizeof(s->cfg.vol[*vi].root), "%.*s/%s",
			 PATH_MAX - KFS_ID_MAX - 2, s->cfg.default_root, id);
		s->cfg.vol[*vi].any_mode = true;
		s->cfg.n++;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/*
 * A connection whose first request is PLAIN_VOLUME: the named volume's
 * directory as ordinary files. A volume listed as encrypted is refused,
 * as is an encrypted OPEN of one listed as plain (serve_vol): the mode is
 * the enclave's measured config's, the parent only says where.
 */
static int serve_plain(struct kd_store *s, int fd, const uint8_t *buf, size_t len)
{
	struct kfs_plain_req *r = malloc(sizeof(*r));
	struct kd_plain *p = NULL;
	size_t vi = SIZE_MAX;
	int rc = r ? kfs_plain_req_decode(buf, len, r) : kiln_err(ENOMEM, "out of memory");

	if (rc == 0 && (rc = find_vol(s, r->s1, &vi)) == 0 && vi < s->cfg.n && !s->cfg.vol[vi].plain &&
	    !s->cfg.vol[vi].any_mode)
		rc = kiln_err(EMEDIUMTYPE, "volume %s is registered encrypted (kiln run -v DIR:/PATH "
					   "without :plain)", r->s1);
	if (rc == 0 && !vol_take(s, vi, true))
		rc = kiln_err(EBUSY, "volume %s is in use", r->s1);
	if (rc == 0 && (rc = kd_plain_open(s->cfg.vol[vi].root, s->cfg.caps.max_bytes, &p)) < 0)
		vol_take(s, vi, false);
	if (rc < 0 && rc != -ENOENT)
		kd_log("enclave %s: storage: %s", s->name, kiln_errmsg());
	free(r);
	rc = kfs_wire_send(fd, (uint8_t[]){ (uint8_t)(rc < 0 ? (-rc < 256 ? -rc : EIO) : 0) }, 1,
			   NULL, 0) < 0 ? -EPIPE : rc;
	if (rc < 0)
		return rc == -EPIPE ? rc : 0;
	rc = kd_plain_serve(p, fd);
	kd_plain_close(p);
	vol_take(s, vi, false);
	return rc;
}

/*
 * While the enclave sends nothing, compact what its writes left, a segment
 * at a time, each after IDLE_MS of quiet: a write then no longer waits for
 * up to 32 MiB of copying (only once garbage piles up does a write compact
 * again). A request that comes ends the wait at once; one that comes
 * during a step waits for that step only.
 */
#define IDLE_MS 50
static void compact_while_idle(const struct kd_store_in *in, int fd, struct kfs_store *st)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t queued;

	kd_store_in_rest(in, &queued);
	while (queued == 0 && kfs_store_dir_idle_pending(st) && poll(&p, 1, IDLE_MS) == 0)
		if (kfs_store_dir_idle(st) < 0)
			break;
}

/* Read requests until EOF; the first must OPEN one of this enclave's volumes. */
static int serve_vol(struct kd_store *s, int fd, struct kd_store_in *in, size_t *vi,
		     struct kfs_store **st)
{
	struct kfs_wire_req r;
	struct out o = { .fd = fd };
	struct chan_state cs = { 0 };
	const uint8_t *buf;
	size_t len, ahead = 0;
	int rc;

	/*
	 * No idle timeout: the connection is the mounted volume of a live
	 * enclave, which may be idle for days; it ends at the enclave's EOF.
	 */
	for (;;) {
		in->exact = !*st; /* until OPEN, the connection may become a plain volume's */
		if (*st)
			compact_while_idle(in, fd, *st);
		rc = kd_store_in_next(in, fd, &buf, &len);
		if (rc == -EPIPE && !strcmp(kiln_errmsg(), "storage channel: closed"))
			return 0;
		if (rc == 0 && !*st && kfs_plain_is_volume_req(buf, len))
			return serve_plain(s, fd, buf, len);
		if (rc == 0)
			rc = kfs_wire_req_decode(buf, len, &r);
		if (rc == 0 && !*st && r.op != KFS_OP_OPEN)
			rc = kiln_err(EPROTO, "storage request before OPEN");
		if (rc == 0 && r.op == KFS_OP_OPEN && !*st) {
			rc = find_vol(s, r.id, vi);
			if (rc == 0 && s->cfg.vol[*vi].plain)
				rc = kiln_err(EMEDIUMTYPE, "volume %s is registered plain", r.id);
			if (rc < 0)
				rc = reply(&o, rc, NULL, 0);
			else if (!vol_take(s, *vi, true))
				rc = reply(&o, -EBUSY, NULL, 0);
			else if ((rc = open_root(s->cfg.vol[*vi].root, st, &s->cfg.caps)) < 0) {
				kd_log("enclave %s: storage: %s", s->name, kiln_errmsg());
				vol_take(s, *vi, false);
				*vi = SIZE_MAX;
				rc = reply(&o, rc, NULL, 0);
			} else {
				kfs_store_dir_defer_compaction(*st);
				rc = reply(&o, 0, (uint8_t[]){ KFS_WIRE_BARRIERS | KFS_WIRE_DEL_AFTER }, 1);
			}
		} else if (rc == 0) {
			if (ahead)
				ahead--;
			else if (r.op == KFS_OP_GET)
				ahead = read_ahead(in, fd, *st);
			rc = handle(&o, *st, &r, &cs);
		}
		if (rc == 0 && !kd_store_in_ready(in))
			rc = out_flush(&o); /* before the next read may wait */
		if (rc < 0)
			return rc;
	}
}

_Static_assert(KILN_STORAGE_VSOCK_BUF == 2ull * KD_STORE_SNDBUF,
	       "vsock gets what AF_UNIX gets after the kernel's doubling");

/*
 * Room for the answers of all the gets kiln-init may have sent ahead (32 in
 * flight and a batch; the kernel doubles it for its overhead), so that
 * answering them does not block kilnd, woken by each answer read; the
 * kernel caps it at net.core.wmem_max. An enclave that stops reading holds
 * that much of kilnd's memory (the answers' pages) per connection. vsock
 * has credit instead: kiln-init's buffer bounds the answers, kilnd's (set
 * here) the requests kiln-init may send ahead, puts included. An old
 * kernel that refuses it only costs speed, said once.
 */
static void tune_conn(int fd)
{
	static atomic_flag said = ATOMIC_FLAG_INIT;

	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ KD_STORE_SNDBUF }, sizeof(int));
	if (kiln_chan_vsock_buf(fd, KILN_STORAGE_VSOCK_BUF) < 0 && !atomic_flag_test_and_set(&said))
		kd_log("storage channel: %s; kept the kernel's", kiln_errmsg());
}

int kd_store_serve(struct kd_store *s, int fd)
{
	struct kd_store_in in = { 0 };
	struct kfs_store *st = NULL;
	size_t vi = SIZE_MAX;
	int rc;

	tune_conn(fd);
	rc = serve_vol(s, fd, &in, &vi, &st);

	if (rc < 0)
		kd_log("enclave %s: storage channel: %s; connection closed", s->name, kiln_errmsg());
	if (st) {
		st->close(st);
		vol_take(s, vi, false);
	}
	kd_store_in_free(&in);
	return rc;
}
