/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's storage channel: volumes per enclave, roots kept apart, caps, bad requests, the core over it. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fs/fs.h"
#include "fs/store_local.h"
#include "fs/wire.h"
#include "kilnd/store.h"
#include "kilnd/store_in.h"
#include "kilnd/store_int.h"
#include "store_srv.h"
#include "t.h"

static char base[] = "/tmp/kiln-store-XXXXXX";

static struct kd_store *make_store(uint64_t max_objects)
{
	struct kd_store_cfg cfg = { .n = 2, .caps = { .max_objects = max_objects } };
	struct kd_store *s = NULL;

	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "data");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s/a", base);
	snprintf(cfg.vol[1].name, sizeof(cfg.vol[1].name), "var-lib");
	snprintf(cfg.vol[1].root, sizeof(cfg.vol[1].root), "%s/b", base);
	CHECK(kd_store_new("t", &cfg, &s) == 0);
	return s;
}

TEST(core_over_channel)
{
	struct kd_store *s = make_store(0);
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs = NULL;
	struct kfs_attr a;
	struct srv v;
	char buf[16], cmd[256];

	for (int round = 0; round < 2; round++) {
		int fd = connect_to(s, &v);
		CHECK(kfs_store_remote(fd, "data", &st) == 0);
		CHECK(kfs_keywrap_sim(NULL, &kw) == 0);
		CHECK(kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, &fs) == 0);
		if (round == 0) {
			CHECK(kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0600, 0, 0, &a) == 0);
			CHECK(kfs_write(fs, a.ino, 0, "persisted", 9) == 9);
		} else {
			CHECK(kfs_lookup(fs, KFS_ROOT_INO, "f", &a) == 0);
			CHECK(kfs_read(fs, a.ino, 0, buf, 9) == 9 && !memcmp(buf, "persisted", 9));
		}
		CHECK(kfs_unmount(fs) == 0);
		pthread_join(v.t, NULL);
	}
	snprintf(cmd, sizeof(cmd), "test -s %s/a/seg_0000000000000001 && ! test -e %s/b", base, base);
	CHECK(system(cmd) == 0); /* only volume "data"'s root was touched */
	kd_store_stop(s);
}

/* Until s's serving threads have all ended (an adopted one is not joined). */
static void wait_idle(struct kd_store *s)
{
	for (bool busy = true; busy; usleep(1000)) {
		busy = false;
		pthread_mutex_lock(&s->slots.lock);
		for (int i = 0; i < KD_STORE_CONNS; i++)
			busy |= s->slots.fd[i] >= 0;
		pthread_mutex_unlock(&s->slots.lock);
	}
}

/* A connection kilnd's vsock listener accepted is handed over and served in the store's thread. */
TEST(adopted_connection)
{
	struct kd_store_cfg cfg = { .n = 1 };
	struct kd_store *s = NULL;
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs = NULL;
	struct kfs_attr a;
	char buf[8];

	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "var-lib");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s/adopted", base);
	CHECK(kd_store_new("t", &cfg, &s) == 0);

	for (int round = 0; round < 2; round++) {
		int sv[2];

		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		kd_store_adopt(s, sv[1]);
		CHECK(kfs_store_remote(sv[0], "var-lib", &st) == 0);
		CHECK(kfs_keywrap_sim(NULL, &kw) == 0);
		CHECK(kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, &fs) == 0);
		if (round == 0) {
			CHECK(kfs_mknod(fs, KFS_ROOT_INO, "g", S_IFREG | 0600, 0, 0, &a) == 0);
			CHECK(kfs_write(fs, a.ino, 0, "adopted", 7) == 7);
		} else {
			CHECK(kfs_lookup(fs, KFS_ROOT_INO, "g", &a) == 0);
			CHECK(kfs_read(fs, a.ino, 0, buf, 7) == 7 && !memcmp(buf, "adopted", 7));
		}
		CHECK(kfs_unmount(fs) == 0);
		wait_idle(s);
	}
	kd_store_stop(s); /* the serving threads hold their own references */
}

static int raw_call(int fd, const void *req, size_t len, uint8_t *status)
{
	uint8_t *rep = NULL;
	size_t rl;
	int rc = kfs_wire_send(fd, req, len, NULL, 0);

	if (rc == 0)
		rc = kfs_wire_recv(fd, &rep, &rl);
	if (rc == 0)
		*status = rep[0];
	free(rep);
	return rc;
}

TEST(refusals)
{
	struct kd_store *s = make_store(3);
	struct kfs_store *st, *st2;
	struct srv v, v2;
	uint8_t status;
	int fd;

	/* a volume of another name is not served */
	fd = connect_to(s, &v);
	CHECK_ERR(kfs_store_remote(fd, "other", &st), "No such file");
	pthread_join(v.t, NULL);
	/* an id escaping the root: the connection is dropped, nothing written */
	fd = connect_to(s, &v);
	CHECK(raw_call(fd, "\x01\x00\x04" "data", 7, &status) == 0 && status == 0);
	CHECK(raw_call(fd, "\x03\x00\x05../xx" "abc", 11, &status) < 0);
	close(fd);
	pthread_join(v.t, NULL);
	CHECK(access("/tmp/xx", F_OK) != 0);
	/* one connection per volume */
	fd = connect_to(s, &v);
	CHECK(kfs_store_remote(fd, "var-lib", &st) == 0); /* empty so far */
	fd = connect_to(s, &v2);
	CHECK_ERR(kfs_store_remote(fd, "var-lib", &st2), "busy");
	pthread_join(v2.t, NULL);
	/* the object cap */
	CHECK(st->put(st, "o1", "x", 1, 0) == 0);
	CHECK(st->put(st, "o2", "x", 1, 0) == 0);
	CHECK(st->put(st, "o3", "x", 1, 0) == 0);
	CHECK_ERR(st->put(st, "o4", "x", 1, KFS_PUT_DURABLE), "No space");
	CHECK(st->put(st, "o3", "yy", 2, 0) == 0); /* replacing is fine */
	CHECK(st->del(st, "o1") == 0 && st->put(st, "o4", "x", 1, 0) == 0);
	CHECK(st->sync(st) == 0);
	st->close(st);
	pthread_join(v.t, NULL);
	kd_store_stop(s);
}

/* Whether id can be read back (1), is missing (0), or the get failed otherwise (-1). */
static int stored(struct kfs_store *st, const char *id)
{
	uint8_t *buf = NULL;
	size_t len;
	int rc = st->get(st, id, &buf, &len);

	free(buf);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : -1;
}

/*
 * Commit points (KFS_PUT_BARRIER), offered in OPEN's reply: one is refused
 * after a put that failed since the last SYNC or commit point, even with
 * room again, and stored otherwise; a refusal, like a SYNC, starts the
 * count again. The volume holds at most 3 objects.
 */
TEST(commit_points)
{
	struct kd_store_cfg cfg = { .n = 1, .caps = { .max_objects = 3 } };
	struct kd_store *s = NULL;
	struct kfs_store *st;
	struct srv v;
	const unsigned point = KFS_PUT_DURABLE | KFS_PUT_BARRIER;

	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "points");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s/points", base);
	CHECK(kd_store_new("t", &cfg, &s) == 0);
	CHECK(kfs_store_remote(connect_to(s, &v), "points", &st) == 0);
	const struct kfs_put_pipe *p = kfs_store_put_pipe(st);
	CHECK(p && p->barriers(st));
	CHECK(st->put(st, "o1", "x", 1, 0) == 0 && st->put(st, "o2", "x", 1, 0) == 0);
	CHECK(st->put(st, "j1", "r", 1, point) == 0 && stored(st, "j1") == 1);
	CHECK_ERR(st->put(st, "o3", "x", 1, 0), "No space");
	CHECK(st->del(st, "o2") == 0); /* room again */
	CHECK_ERR(st->put(st, "j2", "r", 1, point), "No space"); /* o3's failure */
	CHECK(stored(st, "j2") == 0);
	CHECK(st->put(st, "j2", "r", 1, point) == 0 && stored(st, "j2") == 1);
	CHECK_ERR(st->put(st, "o3", "x", 1, 0), "No space");
	CHECK(st->sync(st) == 0 && st->del(st, "j2") == 0);
	CHECK(st->put(st, "j3", "r", 1, point) == 0 && stored(st, "j3") == 1);
	st->close(st);
	pthread_join(v.t, NULL);
	kd_store_stop(s);
}

/*
 * A commit's deletes behind its record (kfs_put_pipe.point): kilnd does
 * them only if it stored the record. Refused (a put failed before it): the
 * objects stay (ECANCELED, and point says the record's refusal); stored:
 * they go. The volume holds at most 4 objects.
 */
TEST(deletes_after_a_point)
{
	struct kd_store_cfg cfg = { .n = 1, .caps = { .max_objects = 4 } };
	struct kd_store *s = NULL;
	struct kfs_store *st;
	struct srv v;
	char dels[2][KFS_ID_MAX + 1] = { "o1", "o2" };
	struct kfs_obj rec = { .id = "j1", .buf = (uint8_t *)"r", .len = 1 };
	bool deleted = false;

	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "dels");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s/dels", base);
	CHECK(kd_store_new("t", &cfg, &s) == 0);
	CHECK(kfs_store_remote(connect_to(s, &v), "dels", &st) == 0);
	const struct kfs_put_pipe *p = kfs_store_put_pipe(st);
	CHECK(p && p->point);
	CHECK(st->put(st, "o1", "x", 1, 0) == 0 && st->put(st, "o2", "x", 1, 0) == 0);
	CHECK(st->put(st, "o3", "x", 1, 0) == 0 && st->put(st, "o4", "x", 1, 0) == 0);
	CHECK_ERR(st->put(st, "o5", "x", 1, 0), "No space");
	deleted = true;
	CHECK_ERR(p->point(st, &rec, dels, 2, &deleted), "No space"); /* o5's failure: refused */
	CHECK(!deleted); /* they went, and kilnd did not do them */
	CHECK(stored(st, "j1") == 0 && stored(st, "o1") == 1 && stored(st, "o2") == 1);
	CHECK(st->del(st, "o3") == 0);
	deleted = false;
	CHECK(p->point(st, &rec, dels, 2, &deleted) == 0 && deleted);
	CHECK(stored(st, "j1") == 1 && stored(st, "o1") == 0 && stored(st, "o2") == 0);
	st->close(st);
	pthread_join(v.t, NULL);
	kd_store_stop(s);
}

/* A store serving one volume, "lone", of its own (base/lone). */
static struct kd_store *make_lone_store(void)
{
	struct kd_store_cfg cfg = { .n = 1 };
	struct kd_store *s = NULL;

	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "lone");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s/lone", base);
	CHECK(kd_store_new("t", &cfg, &s) == 0);
	return s;
}

#define LONE_OBJS 8
#define LONE_LEN 32768

/*
 * A GET alone and a batch of GETs (read at once, advised ahead) are each
 * answered with their own objects, in order; a hostile GET still ends the
 * connection.
 */
TEST(gets_alone_and_batched)
{
	struct kd_store *s = make_lone_store();
	struct kfs_obj v[4];
	struct kfs_store *st;
	uint8_t *obj = NULL, status;
	char ids[LONE_OBJS][8];
	static uint8_t data[LONE_OBJS][LONE_LEN];
	struct srv sv;
	size_t len = 0;
	int fd = connect_to(s, &sv);

	CHECK(kfs_store_remote(fd, "lone", &st) == 0);
	for (int i = 0; i < LONE_OBJS; i++) {
		snprintf(ids[i], sizeof(ids[i]), "b%d", i);
		memset(data[i], 'a' + i, LONE_LEN);
		CHECK(st->put(st, ids[i], data[i], LONE_LEN, 0) == 0);
	}
	CHECK(st->sync(st) == 0);
	/* alone: answered with its own object */
	CHECK(st->get(st, ids[0], &obj, &len) == 0 && len == LONE_LEN && !memcmp(obj, data[0], len));
	free(obj);
	/* a batch: every GET answered, each with its own object */
	for (int i = 0; i < 4; i++)
		v[i] = (struct kfs_obj){ .id = ids[3 + i] };
	CHECK(st->getv(st, v, 4) == 0);
	for (int i = 0; i < 4; i++) {
		CHECK(v[i].rc == 0 && v[i].len == LONE_LEN && !memcmp(v[i].buf, data[3 + i], LONE_LEN));
		free(v[i].buf);
	}
	CHECK_ERR(st->get(st, "missing", &obj, &len), "No such file");
	st->close(st);
	pthread_join(sv.t, NULL);
	/* a GET of an id escaping the root, alone on the channel: the connection is dropped */
	fd = connect_to(s, &sv);
	CHECK(raw_call(fd, "\x01\x00\x04" "lone", 7, &status) == 0 && status == 0);
	CHECK(raw_call(fd, "\x02\x00\x05../b0", 8, &status) < 0);
	close(fd);
	pthread_join(sv.t, NULL);
	kd_store_stop(s);
}

/*
 * Read syscalls (read, pread, readv, sendfile; not recv) the process (or,
 * in the _of form, the thread reading the file io names) has made, this
 * call's own not yet counted.
 */
static long read_calls_of(const char *io)
{
	char text[512];
	int fd = open(io, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	const char *at;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	at = strstr(text, "syscr: ");
	return at ? atol(at + 7) : -1;
}

static long read_calls(void)
{
	return read_calls_of("/proc/self/io");
}

/*
 * Requests that arrive together are read together: a batch of 8 GETs in one
 * write costs kilnd one read (and per GET the pread of its record's header
 * and the sendfile of its data, which counts as a read), not two reads per
 * request.
 */
TEST(batch_read_at_once)
{
	struct kd_store *s = make_lone_store();
	uint8_t frames[8 * 9], rep[5], obj[LONE_LEN], want[LONE_LEN], status;
	struct srv sv;
	long before, reads;
	int fd = connect_to(s, &sv);

	CHECK(raw_call(fd, "\x01\x00\x04" "lone", 7, &status) == 0 && status == 0);
	for (int i = 0; i < 8; i++)
		memcpy(frames + 9 * i, (uint8_t[]){ 0, 0, 0, 5, KFS_OP_GET, 0, 2, 'b', (uint8_t)('0' + i) }, 9);
	before = read_calls();
	CHECK(write(fd, frames, sizeof(frames)) == (ssize_t)sizeof(frames));
	for (int i = 0; i < 8; i++) {
		memset(want, 'a' + i, LONE_LEN);
		CHECK(recv(fd, rep, sizeof(rep), MSG_WAITALL) == 5 && rep[3] == 1 && rep[4] == 0);
		CHECK(recv(fd, obj, LONE_LEN, MSG_WAITALL) == LONE_LEN && !memcmp(obj, want, LONE_LEN));
	}
	reads = read_calls() - before - 1; /* less the first read_calls' own read */
	CHECK(before >= 0 && reads <= 2 * 8 + 2);
	if (reads > 2 * 8 + 2)
		fprintf(stderr, "  %ld reads for 8 GETs sent at once\n", reads);
	close(fd);
	pthread_join(sv.t, NULL);
	kd_store_stop(s);
}

/* Byte at of base/lone's first segment overwritten with v, or the file cut to at (v < 0), behind kilnd's back. */
static void seg_tamper(off_t at, int v)
{
	char p[128];
	int fd;

	snprintf(p, sizeof(p), "%s/lone/seg_0000000000000001", base);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	if (v < 0)
		CHECK(ftruncate(fd, at) == 0);
	else
		CHECK(pwrite(fd, (uint8_t[]){ (uint8_t)v }, 1, at) == 1);
	close(fd);
}

#define LONE_REC (20 + 2 + LONE_LEN) /* a record of "bN": header, id, data */

/* kilnd's end of a connection can queue KD_STORE_SNDBUF of answers (as far as net.core.wmem_max allows). */
static bool send_buffer_fits_answers(int fd)
{
	char text[32] = "";
	int got = 0, cap;
	socklen_t sl = sizeof(got);
	FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");

	if (!f || !fgets(text, sizeof(text), f))
		text[0] = '\0';
	if (f)
		fclose(f);
	cap = atoi(text) < KD_STORE_SNDBUF ? atoi(text) : KD_STORE_SNDBUF;
	return getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &sl) == 0 && cap > 0 && got >= 2 * cap;
}

/*
 * A GET's data goes from the segment to the channel unread by kilnd: the
 * bytes are the object's, and the client reads a reply in two reads (its
 * length and status together, then its data in place). A record whose
 * data was damaged is sent as it is (its CRC is not checked: the enclave's
 * AES-GCM tag is); one whose header no longer names it, or that the file
 * no longer holds, is refused as missing and the connection goes on.
 */
TEST(gets_from_the_page_cache)
{
	struct kd_store *s = make_lone_store();
	static uint8_t data[LONE_OBJS][LONE_LEN];
	struct kfs_store *st;
	uint8_t *obj = NULL;
	char id[8], cmd[128];
	struct srv sv;
	size_t len = 0;
	long before, reads;
	int fd;

	snprintf(cmd, sizeof(cmd), "rm -rf %s/lone", base);
	CHECK(system(cmd) == 0); /* records at known offsets */
	fd = connect_to(s, &sv);
	CHECK(kfs_store_remote(fd, "lone", &st) == 0);
	for (int i = 0; i < LONE_OBJS; i++) {
		snprintf(id, sizeof(id), "b%d", i);
		memset(data[i], 'a' + i, LONE_LEN);
		CHECK(st->put(st, id, data[i], LONE_LEN, 0) == 0);
	}
	CHECK(st->sync(st) == 0);
	CHECK(send_buffer_fits_answers(sv.fd));
	before = read_calls_of("/proc/thread-self/io");
	CHECK(st->get(st, "b0", &obj, &len) == 0 && len == LONE_LEN && !memcmp(obj, data[0], len));
	reads = read_calls_of("/proc/thread-self/io") - before - 1;
	CHECK(before >= 0 && reads == 2);
	free(obj);
	/* damaged data: sent as the disk has it */
	seg_tamper(LONE_REC + 22 + 100, 'X');
	data[1][100] = 'X';
	CHECK(st->get(st, "b1", &obj, &len) == 0 && len == LONE_LEN && !memcmp(obj, data[1], len));
	free(obj);
	/* a header overwritten, a record cut short: missing, and the channel still serves */
	seg_tamper(2 * LONE_REC + 21, 'z');
	CHECK_ERR(st->get(st, "b2", &obj, &len), "No such file");
	seg_tamper(7 * LONE_REC + 22 + LONE_LEN / 2, -1);
	CHECK_ERR(st->get(st, "b7", &obj, &len), "No such file");
	CHECK(st->get(st, "b3", &obj, &len) == 0 && len == LONE_LEN && !memcmp(obj, data[3], len));
	free(obj);
	st->close(st);
	pthread_join(sv.t, NULL);
	kd_store_stop(s);
}

/* A message sent from a file that ends before the range: the rest is zeros, so the framing holds. */
TEST(wire_send_file)
{
	uint8_t got[4 + 1 + 100], want[4 + 1 + 100] = { 0, 0, 0, 101, 0 };
	int sv[2], fd = memfd_create("seg", MFD_CLOEXEC);

	CHECK(fd >= 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	memset(want + 5, 'x', 100);
	CHECK(write(fd, want + 5, 100) == 100);
	CHECK(kfs_wire_send_file(sv[0], (uint8_t[]){ 0 }, 1, fd, 0, 100) == 0);
	CHECK(recv(sv[1], got, sizeof(got), MSG_WAITALL) == (ssize_t)sizeof(got) &&
	      !memcmp(got, want, sizeof(got)));
	memset(want + 5 + 50, 0, 50);
	CHECK(kfs_wire_send_file(sv[0], (uint8_t[]){ 0 }, 1, fd, 50, 100) == 1);
	CHECK(recv(sv[1], got, sizeof(got), MSG_WAITALL) == (ssize_t)sizeof(got) &&
	      !memcmp(got, want, sizeof(got)));
	close(sv[0]);
	close(sv[1]);
	close(fd);
}

/* The request reader against lying lengths, a message cut short, one of the largest size, exact reads. */
TEST(store_in_hostile)
{
	static uint8_t big[4 + KFS_WIRE_MAX];
	struct kd_store_in in = { 0 };
	const uint8_t *msg;
	size_t len;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* exact: the message and not a byte more is read; then two at once; then a zero length */
	CHECK(write(sv[0], "\0\0\0\2hi\0\0\0\1a\0\0\0\1b\0\0\0\0", 20) == 20);
	in.exact = true;
	CHECK(kd_store_in_next(&in, sv[1], &msg, &len) == 0 && len == 2 && !memcmp(msg, "hi", 2));
	CHECK(kd_store_in_rest(&in, &len) && len == 0);
	in.exact = false;
	CHECK(kd_store_in_next(&in, sv[1], &msg, &len) == 0 && len == 1 && msg[0] == 'a');
	CHECK(kd_store_in_rest(&in, &len) && len == 9); /* "b" and the bad prefix came with it */
	CHECK(kd_store_in_top_up(&in, sv[1]) == 0);
	CHECK(kd_store_in_next(&in, sv[1], &msg, &len) == 0 && len == 1 && msg[0] == 'b');
	CHECK_ERR(kd_store_in_next(&in, sv[1], &msg, &len), "message of 0 bytes refused");
	kd_store_in_free(&in);
	/* over the limit: refused before anything is allocated for it */
	CHECK(write(sv[0], "\x00\x10\x20\x01", 4) == 4);
	CHECK_ERR(kd_store_in_next(&in, sv[1], &msg, &len), "refused");
	CHECK(in.cap <= KD_STORE_IN_ROOM);
	kd_store_in_free(&in);
	/* the largest message, behind a small one: the buffer grows for it */
	big[0] = (uint8_t)(KFS_WIRE_MAX >> 24);
	big[1] = (uint8_t)(KFS_WIRE_MAX >> 16);
	big[2] = (uint8_t)(KFS_WIRE_MAX >> 8);
	big[3] = (uint8_t)KFS_WIRE_MAX;
	big[4 + KFS_WIRE_MAX - 1] = 'z';
	CHECK(write(sv[0], "\0\0\0\1x", 5) == 5);
	pid_t pid = fork();
	if (pid == 0)
		_exit(write(sv[0], big, sizeof(big)) == (ssize_t)sizeof(big) ? 0 : 1);
	CHECK(kd_store_in_next(&in, sv[1], &msg, &len) == 0 && len == 1 && msg[0] == 'x');
	CHECK(kd_store_in_next(&in, sv[1], &msg, &len) == 0 && len == KFS_WIRE_MAX &&
	      msg[len - 1] == 'z');
	CHECK(waitpid(pid, NULL, 0) == pid);
	/* cut short: the sender goes away mid-message, then between messages */
	CHECK(write(sv[0], "\0\0\0\5ab", 6) == 6);
	close(sv[0]);
	CHECK_ERR(kd_store_in_next(&in, sv[1], &msg, &len), "closed mid-message");
	CHECK(in.cap == KD_STORE_IN_ROOM); /* the largest message's room given back */
	kd_store_in_free(&in);
	CHECK_ERR(kd_store_in_next(&in, sv[1], &msg, &len), "storage channel: closed");
	kd_store_in_free(&in);
	close(sv[1]);
}

/*
 * Over the channel, compaction waits for a quiet moment: a segment left
 * mostly garbage by the enclave's deletes goes once the enclave sends
 * nothing (waited for up to 20 s: a bound, not a timing), and every
 * object still reads back.
 */
TEST(compaction_while_idle)
{
	struct kd_store *s = make_lone_store();
	static uint8_t data[6][1200];
	struct kfs_store *st;
	char id[8], path[256];
	uint8_t *obj = NULL;
	size_t len = 0;
	struct srv sv;
	int fd, gone = 0;

	kfs_seg_tuning.seg_max = 4096; /* three objects of 1200 bytes per segment */
	fd = connect_to(s, &sv);
	CHECK(kfs_store_remote(fd, "lone", &st) == 0);
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		memset(data[i], 'a' + i, sizeof(data[i]));
		CHECK(st->put(st, id, data[i], sizeof(data[i]), 0) == 0);
	}
	CHECK(st->del(st, "c0") == 0 && st->del(st, "c1") == 0);
	CHECK(st->sync(st) == 0);
	snprintf(path, sizeof(path), "%s/lone/seg_0000000000000001", base);
	for (int i = 0; i < 2000 && !gone; i++, usleep(10000))
		gone = access(path, F_OK) < 0;
	CHECK(gone);
	for (int i = 2; i < 6; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		CHECK(st->get(st, id, &obj, &len) == 0 && len == sizeof(data[i]) &&
		      !memcmp(obj, data[i], len));
		free(obj);
		obj = NULL;
	}
	st->close(st);
	pthread_join(sv.t, NULL);
	kd_store_stop(s);
	kfs_seg_tuning.seg_max = 0;
}

TEST(vol_names)
{
	char n[KFS_ID_MAX + 1];

	CHECK(kfs_volume_name("/data", n, sizeof(n)) == 0 && !strcmp(n, "data"));
	CHECK(kfs_volume_name("/var/lib/Pg_x/", n, sizeof(n)) == 0 && !strcmp(n, "var-lib-pg-x"));
	CHECK_ERR(kfs_volume_name("/", n, sizeof(n)), "no usable name");
	CHECK_ERR(kfs_volume_name("/a b", n, sizeof(n)), "only letters");
}

TEST(wire_decode)
{
	struct kfs_wire_req r;
	uint8_t out[64];
	size_t len;

	CHECK(kfs_wire_req_decode((const uint8_t *)"\x03\x01\x02" "abDATA", 9, &r) == 0);
	CHECK(r.op == KFS_OP_PUT && r.flags == 1 && !strcmp(r.id, "ab") && r.len == 4);
	CHECK(kfs_wire_req_encode(&r, out, sizeof(out), &len) == 0 && len == 9);
	CHECK_ERR(kfs_wire_req_decode((const uint8_t *)"\x02\x00\x02" "abX", 6, &r), "trailing");
	CHECK_ERR(kfs_wire_req_decode((const uint8_t *)"\x09\x00\x00", 3, &r), "unknown op");
	CHECK_ERR(kfs_wire_req_decode((const uint8_t *)"\x02\x01\x01" "a", 4, &r), "bad flags");
	CHECK(kfs_wire_req_decode((const uint8_t *)"\x03\x03\x01" "aD", 5, &r) == 0 && r.flags == 3);
	CHECK_ERR(kfs_wire_req_decode((const uint8_t *)"\x03\x04\x01" "aD", 5, &r), "bad flags");
	CHECK_ERR(kfs_wire_req_decode((const uint8_t *)"\x05\x02\x00", 3, &r), "bad flags");
	CHECK_ERR(kfs_wire_req_decode((const uint8_t *)"\x02\x00\x05" "a", 4, &r), "truncated");
	CHECK_ERR(kfs_wire_req_decode((const uint8_t *)"\x05\x00\x01" "a", 4, &r), "bad object id");
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(base))
		return 1;
	RUN(core_over_channel);
	RUN(adopted_connection);
	RUN(refusals);
	RUN(commit_points);
	RUN(deletes_after_a_point);
	RUN(gets_alone_and_batched);
	RUN(batch_read_at_once);
	RUN(gets_from_the_page_cache);
	RUN(wire_send_file);
	RUN(store_in_hostile);
	RUN(compaction_while_idle);
	RUN(vol_names);
	RUN(wire_decode);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
