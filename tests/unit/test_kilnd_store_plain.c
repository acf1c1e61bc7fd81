/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's plain-volume handlers: files beneath the root only, no symlink followed, caps, modes, handles. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>

#include "fs/plain.h"
#include "fs/wire.h"
#include "kilnd/store.h"
#include "kilnd/store_plain.h"
#include "store_srv.h"
#include "t.h"

static char base[] = "/tmp/kiln-plain-XXXXXX";
static char root[256], outside[256];
static uint8_t out[KFS_PLAIN_IO_MAX + 64];
static size_t olen;
static uint64_t dev;

/* One request through the decoder (as kilnd gets it) and the handler. */
static int req(struct kd_plain *p, struct kfs_plain_req r, const void *data, size_t len)
{
	static uint8_t buf[2 * KFS_PLAIN_PATH_MAX + 64 + 4096];
	static struct kfs_plain_req d;
	size_t hl;
	int rc;

	r.l1 = r.s1 ? strlen(r.s1) : 0;
	r.l2 = r.s2 ? strlen(r.s2) : 0;
	if (kfs_plain_req_encode(&r, buf, sizeof(buf), &hl) < 0 || hl + len > sizeof(buf))
		return -EMSGSIZE;
	memcpy(buf + hl, data, len);
	rc = kfs_plain_req_decode(buf, hl + len, &d);
	return rc < 0 ? rc : kd_plain_handle(p, &d, out, sizeof(out), &olen);
}

static uint64_t handle_of(void)
{
	uint64_t h = 0;

	for (int i = 0; i < 8; i++)
		h = h << 8 | out[i];
	return h;
}

static struct kd_plain *open_vol(void)
{
	struct kd_plain *p = NULL;

	CHECK(kd_plain_open(root, 1 << 20, &p) == 0);
	return p;
}

/* A shell command with two paths substituted (each %s in order). */
static void sh2(const char *pre, const char *a, const char *mid, const char *b, const char *post)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s%s%s%s%s", pre, a, mid, b, post);
	CHECK(system(cmd) == 0);
}

TEST(files_and_dirs)
{
	struct kd_plain *p = open_vol();
	struct kfs_attr a;
	uint64_t h;
	char buf[300];
	int fd;

	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_MKDIR, .s1 = "d", .mode = 0750 }, NULL, 0) == 0);
	CHECK(kfs_plain_attr_decode(out, olen, &a, &dev) == 0 && a.mode == (S_IFDIR | 0750));
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_OPEN, .s1 = "d/f", .mode = 06755,
					     .flags = KFS_PF_CREATE | KFS_PF_EXCL | KFS_PF_WRITE |
						      KFS_PF_DURABLE }, NULL, 0) == 0);
	h = handle_of();
	CHECK(olen == 8 + KFS_PLAIN_ATTR_LEN && kfs_plain_attr_decode(out + 8, olen - 8, &a, &dev) == 0);
	CHECK(a.mode == (S_IFREG | 0755)); /* setuid and setgid dropped, the rest exact */
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_WRITE, .handle = h, .a = 0,
					     .flags = KFS_PF_DURABLE }, "hello world", 11) == 0);
	CHECK(olen == 4 && out[3] == 11);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_READ, .handle = h, .a = 6, .b = 100 }, NULL, 0) == 0);
	CHECK(olen == 5 && !memcmp(out, "world", 5));
	/* an ordinary file on the host, with that content */
	snprintf(buf, sizeof(buf), "%s/d/f", root);
	fd = open(buf, O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == 11 && !memcmp(buf, "hello world", 11));
	close(fd);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_CHMOD, .s1 = "d/f", .mode = 04600 }, NULL, 0) == 0);
	CHECK(kfs_plain_attr_decode(out, olen, &a, &dev) == 0 && a.mode == (S_IFREG | 0600));
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_UTIMENS, .s1 = "d/f", .a = 0,
					     .b = 1000000000ll * 86400 + 5, .flags = KFS_PF_MTIME }, NULL, 0) == 0);
	CHECK(kfs_plain_attr_decode(out, olen, &a, &dev) == 0 && a.mtime_ns == 1000000000ll * 86400 + 5);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_TRUNCATE, .handle = h, .a = 5,
					     .flags = KFS_PF_BY_HANDLE }, NULL, 0) == 0);
	CHECK(kfs_plain_attr_decode(out, olen, &a, &dev) == 0 && a.size == 5);
	/* caps: a write past the volume's file cap, a read larger than the message cap */
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_WRITE, .handle = h, .a = 1 << 20 }, "x", 1) == -EFBIG);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_READ, .handle = h, .b = KFS_PLAIN_IO_MAX + 1 },
		  NULL, 0) == -EMSGSIZE);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_SYMLINK, .s1 = "d/l", .s2 = "f" }, NULL, 0) == 0);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_READLINK, .s1 = "d/l" }, NULL, 0) == 0);
	CHECK(olen == 1 && out[0] == 'f');
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_RENAME, .s1 = "d/f", .s2 = "g",
					     .flags = KFS_PF_NOREPLACE }, NULL, 0) == 0);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_LINK, .s1 = "g", .s2 = "d/g2" }, NULL, 0) == 0);
	CHECK(kfs_plain_attr_decode(out, olen, &a, &dev) == 0 && a.nlink == 2);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_RENAME, .s1 = "g", .s2 = "d/g2",
					     .flags = KFS_PF_NOREPLACE }, NULL, 0) == -EEXIST);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_RMDIR, .s1 = "d" }, NULL, 0) == -ENOTEMPTY);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_FSYNC }, NULL, 0) == 0);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_STATFS }, NULL, 0) == 0 && olen == KFS_PLAIN_STATFS_LEN);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_CLOSE, .handle = h }, NULL, 0) == 0);
	kd_plain_close(p);
}

/* Handles are the enclave's word: unknown, stale (closed, reused slot) and forged ones are EBADF. */
TEST(handles)
{
	struct kd_plain *p = open_vol();
	struct kfs_plain_req o = { .op = KFS_POP_OPEN, .s1 = "h", .mode = 0600,
				   .flags = KFS_PF_CREATE | KFS_PF_WRITE };
	uint64_t h1, h2;
	int n = 0;

	CHECK(req(p, o, NULL, 0) == 0);
	h1 = handle_of();
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_CLOSE, .handle = h1 }, NULL, 0) == 0);
	CHECK(req(p, o, NULL, 0) == 0);
	h2 = handle_of();
	CHECK((uint32_t)h1 == (uint32_t)h2 && h1 != h2); /* same slot, new generation */
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_READ, .handle = h1, .b = 1 }, NULL, 0) == -EBADF);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_READ, .handle = (h2 & ~0xffffffffull) | 9999,
					     .b = 1 }, NULL, 0) == -EBADF);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_CLOSE, .handle = h1 }, NULL, 0) == -EBADF);
	while (req(p, o, NULL, 0) == 0)
		n++;
	CHECK(n == KD_PLAIN_HANDLES - 1); /* capped; the last one failed with EMFILE */
	kd_plain_close(p);
}

/* Escapes: .., absolute names, symlinks planted by the parent, a directory swapped for a symlink. */
TEST(escapes)
{
	struct kd_plain *p = open_vol();
	struct kfs_plain_req o = { .op = KFS_POP_OPEN, .flags = KFS_PF_WRITE };
	char path[512];

	sh2("mkdir -p ", outside, " && echo secret >", outside, "/s.txt");
	sh2("ln -s ", outside, " ", root, "/evil");
	sh2("ln -s ", outside, "/s.txt ", root, "/evil-file");
	o.s1 = "../outside/s.txt";
	CHECK(req(p, o, NULL, 0) < 0);
	o.s1 = "evil/s.txt";
	CHECK(req(p, o, NULL, 0) == -ELOOP);
	o.s1 = "evil-file";
	CHECK(req(p, o, NULL, 0) == -ELOOP);
	o.s1 = "evil-file";
	o.flags |= KFS_PF_TRUNC;
	CHECK(req(p, o, NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_GETATTR, .s1 = "evil/s.txt" }, NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_TRUNCATE, .s1 = "evil-file" }, NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_CHMOD, .s1 = "evil-file", .mode = 0777 },
		  NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_UTIMENS, .s1 = "evil",
					     .flags = KFS_PF_MTIME }, NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_MKDIR, .s1 = "evil/new", .mode = 0700 },
		  NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_UNLINK, .s1 = "evil/s.txt" }, NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_RENAME, .s1 = "evil/s.txt", .s2 = "stolen" },
		  NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_LINK, .s1 = "evil/s.txt", .s2 = "stolen" },
		  NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_READDIR, .s1 = "evil", .b = 4096 }, NULL, 0) == -ELOOP);
	/* the links themselves are entries: their attributes and text, never their targets */
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_GETATTR, .s1 = "evil" }, NULL, 0) == 0);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_UNLINK, .s1 = "evil-file" }, NULL, 0) == 0);
	/* a directory the enclave used, replaced by a symlink between two calls */
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_MKDIR, .s1 = "sw", .mode = 0700 }, NULL, 0) == 0);
	o = (struct kfs_plain_req){ .op = KFS_POP_OPEN, .s1 = "sw/s.txt", .mode = 0600,
				    .flags = KFS_PF_CREATE | KFS_PF_WRITE };
	CHECK(req(p, o, NULL, 0) == 0);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_CLOSE, .handle = handle_of() }, NULL, 0) == 0);
	sh2("mv ", root, "/sw ", root, "/sw-old");
	sh2("ln -s ", outside, " ", root, "/sw");
	CHECK(req(p, o, NULL, 0) == -ELOOP);
	o.flags = KFS_PF_WRITE | KFS_PF_TRUNC;
	CHECK(req(p, o, NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_UNLINK, .s1 = "sw/s.txt" }, NULL, 0) == -ELOOP);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_SYMLINK, .s1 = "sw/x", .s2 = "y" }, NULL, 0) == -ELOOP);
	/* outside is untouched */
	snprintf(path, sizeof(path), "%s/s.txt", outside);
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size == 7);
	snprintf(path, sizeof(path), "%s/x", outside);
	CHECK(access(path, F_OK) < 0);
	kd_plain_close(p);
}

/* Only regular files, directories and symlinks: a device node the parent planted is never opened. */
TEST(special_files)
{
	struct kd_plain *p = open_vol();
	char path[512];
	bool seen = false;
	size_t off = 0;
	struct kfs_plain_dirent e;

	snprintf(path, sizeof(path), "%s/null", root);
	if (mknod(path, S_IFCHR | 0666, makedev(1, 3)) < 0) {
		/* a socket instead: not served either (FIFOs are) */
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		fprintf(stderr, "  (mknod: %s; a socket instead of a device)\n", strerror(errno));
		CHECK(strlen(path) < sizeof(sa.sun_path));
		memcpy(sa.sun_path, path, strlen(path));
		CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
		close(fd);
	}
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_OPEN, .s1 = "null" }, NULL, 0) == -EACCES);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_GETATTR, .s1 = "null" }, NULL, 0) == -EACCES);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_READDIR, .b = 4096 }, NULL, 0) == 0);
	while (kfs_plain_dirent_decode(out, olen, &off, &e) == 0)
		seen |= !strcmp(e.name, "null");
	CHECK(!seen);
	/* a FIFO is listed and has attributes, but is never opened: EACCES, not ENXIO from an open attempt */
	snprintf(path, sizeof(path), "%s/fifo", root);
	CHECK(mkfifo(path, 0666) == 0);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_TRUNCATE, .s1 = "fifo" }, NULL, 0) == -EACCES);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_OPEN, .s1 = "fifo", .flags = KFS_PF_CREATE |
					     KFS_PF_WRITE, .mode = 0600 }, NULL, 0) == -EACCES);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_OPEN, .s1 = "fifo" }, NULL, 0) == -EACCES);
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_GETATTR, .s1 = "fifo" }, NULL, 0) == 0);
	off = 0;
	seen = false;
	CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_READDIR, .b = 4096 }, NULL, 0) == 0);
	while (kfs_plain_dirent_decode(out, olen, &off, &e) == 0)
		seen |= !strcmp(e.name, "fifo") && e.mode == S_IFIFO;
	CHECK(seen);
	kd_plain_close(p);
}

/* Directory listing in small rounds resumes at each cookie: every name once. */
TEST(readdir_rounds)
{
	struct kd_plain *p;
	char name[300], sub[300];
	int count = 0;
	uint64_t cookie = 0;

	snprintf(sub, sizeof(sub), "%s/many", root);
	CHECK(mkdir(sub, 0700) == 0);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "%s/many/file-%03d", root, i);
		close(open(name, O_CREAT | O_WRONLY, 0600));
	}
	p = open_vol();
	for (;;) {
		struct kfs_plain_dirent e;
		size_t off = 0;
		CHECK(req(p, (struct kfs_plain_req){ .op = KFS_POP_READDIR, .s1 = "many", .a = cookie,
						     .b = 200 }, NULL, 0) == 0);
		if (olen == 0)
			break;
		while (kfs_plain_dirent_decode(out, olen, &off, &e) == 0) {
			count++;
			cookie = e.cookie;
		}
	}
	CHECK(count == 200);
	kd_plain_close(p);
}

/* Through kilnd's channel dispatch: the mode is the registered one; the client over it. */
TEST(channel_modes)
{
	struct kd_store_cfg cfg = { .n = 2 };
	struct kd_store *s = NULL;
	struct kfs_store *st = NULL;
	struct kfs *fs = NULL;
	struct kfs_attr a, b;
	struct srv v;
	char buf[16];

	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "data");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s/chan-plain", base);
	cfg.vol[0].plain = true;
	snprintf(cfg.vol[1].name, sizeof(cfg.vol[1].name), "enc");
	snprintf(cfg.vol[1].root, sizeof(cfg.vol[1].root), "%s/chan-enc", base);
	CHECK(kd_store_new("t", &cfg, &s) == 0);

	CHECK_ERR(kfs_store_remote(connect_to(s, &v), "data", &st), "the parent keeps this volume as plain files");
	pthread_join(v.t, NULL);
	CHECK_ERR(kfs_plain_mount(connect_to(s, &v), "enc", 0, 0, &fs), "the parent keeps this volume encrypted");
	pthread_join(v.t, NULL);

	CHECK(kfs_plain_mount(connect_to(s, &v), "data", 1000, 1001, &fs) == 0);
	CHECK(kfs_mkdir(fs, KFS_ROOT_INO, "dir", 0755, 0, 0, &a) == 0);
	CHECK(kfs_mknod(fs, a.ino, "f", S_IFREG | 0444, 0, 0, &b) == 0 && b.uid == 1000 && b.gid == 1001);
	CHECK(kfs_open(fs, b.ino) == 0);
	CHECK(kfs_write(fs, b.ino, 0, "via the channel", 15) == 15); /* 0444: the create's handle */
	/* nothing is kept back, yet a sync still reaches the parent: never "synced" (NFS COMMIT) */
	CHECK(!kfs_dirty(fs) && !kfs_synced(fs));
	CHECK(kfs_release(fs, b.ino) == 0);
	CHECK(kfs_rename(fs, a.ino, "f", KFS_ROOT_INO, "moved", 0) == 0);
	CHECK(kfs_rename(fs, KFS_ROOT_INO, "dir", KFS_ROOT_INO, "dir2", 0) == 0);
	CHECK(kfs_read(fs, b.ino, 0, buf, sizeof(buf)) == 15 && !memcmp(buf, "via the channel", 15));
	CHECK(kfs_lookup(fs, a.ino, "f", &b) == -ENOENT);
	CHECK(kfs_unlink(fs, KFS_ROOT_INO, "moved") == 0);
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "null", S_IFCHR | 0600, 0, 0, &b) == -EPERM);
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "sock", S_IFSOCK | 0600, 0, 0, &b) == -EPERM);
	/* the parent replaces a file by a directory: the name gets a new inode */
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "swap", S_IFREG | 0600, 0, 0, &a) == 0);
	sh2("rm ", base, "/chan-plain/swap && mkdir ", base, "/chan-plain/swap");
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "swap", &b) == 0 && S_ISDIR(b.mode) && b.ino != a.ino);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "swap", &a) == 0 && a.ino == b.ino);
	CHECK(kfs_unmount(fs) == 0);
	pthread_join(v.t, NULL);
	kd_store_stop(s);
}

static struct kd_plain *serve_p;

static void *serve_plain(void *arg)
{
	int fd = *(int *)arg;
	uint8_t *buf = NULL, ok = 0;
	size_t len;

	/* VOLUME first (as kilnd's channel answers it), then the handlers until EOF */
	if (kfs_wire_recv(fd, &buf, &len) == 0 && kfs_wire_send(fd, &ok, 1, NULL, 0) == 0)
		CHECK(kd_plain_serve(serve_p, fd) == 0);
	free(buf);
	close(fd);
	return NULL;
}

/* A plain volume in base/NAME through the client on kilnd's handlers (a socketpair, no channel). */
struct vol {
	char dir[300];
	struct kd_plain *p;
	pthread_t t;
	int srv;
	struct kfs *fs;
};

static struct kfs *vol_up(struct vol *v, const char *name, size_t max)
{
	int sv[2];

	snprintf(v->dir, sizeof(v->dir), "%s/%s", base, name);
	v->fs = NULL;
	CHECK(kd_plain_open(v->dir, 0, &v->p) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	v->srv = sv[1];
	serve_p = v->p;
	pthread_create(&v->t, NULL, serve_plain, &v->srv);
	CHECK(kfs_plain_mount_max(sv[0], "data", 1000, 1000, max ? max : KFS_PLAIN_NODES_MAX, &v->fs) == 0);
	return v->fs;
}

static void vol_down(struct vol *v)
{
	CHECK(kfs_unmount(v->fs) == 0);
	pthread_join(v->t, NULL);
	kd_plain_close(v->p);
}

/* user.* xattrs are the host file's; other namespaces, symlinks and FIFOs have none. */
TEST(xattrs)
{
	char path[320], buf[64];
	struct kfs_attr f, l, q;
	struct vol v;
	struct kfs *fs = vol_up(&v, "xa", 0);
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0600, 0, 0, &f) == 0);
	CHECK(kfs_setxattr(fs, f.ino, "user.colour", "blue", 4, XATTR_CREATE) == 0);
	CHECK(kfs_setxattr(fs, f.ino, "user.colour", "red", 3, XATTR_CREATE) == -EEXIST);
	CHECK(kfs_setxattr(fs, f.ino, "user.size", "9", 1, XATTR_REPLACE) == -ENODATA);
	CHECK(kfs_setxattr(fs, KFS_ROOT_INO, "user.on-root", "1", 1, 0) == 0);
	snprintf(path, sizeof(path), "%s/f", v.dir);
	CHECK(getxattr(path, "user.colour", buf, sizeof(buf)) == 4 && !memcmp(buf, "blue", 4));
	CHECK(setxattr(path, "user.parent", "p", 1, 0) == 0); /* the parent's own */
	CHECK(kfs_getxattr(fs, f.ino, "user.colour", NULL, 0) == 4);
	CHECK(kfs_getxattr(fs, f.ino, "user.colour", buf, 2) == -ERANGE);
	CHECK(kfs_getxattr(fs, f.ino, "user.parent", buf, sizeof(buf)) == 1 && buf[0] == 'p');
	CHECK(kfs_getxattr(fs, f.ino, "user.none", buf, sizeof(buf)) == -ENODATA);
	CHECK(kfs_getxattr(fs, f.ino, "security.capability", buf, sizeof(buf)) == -ENODATA);
	CHECK(kfs_setxattr(fs, f.ino, "trusted.x", "1", 1, 0) == -EOPNOTSUPP);
	CHECK(kfs_listxattr(fs, f.ino, NULL, 0) == 24);
	CHECK(kfs_listxattr(fs, f.ino, buf, sizeof(buf)) == 24 && memmem(buf, 24, "user.colour", 12) &&
	      memmem(buf, 24, "user.parent", 12));
	CHECK(kfs_removexattr(fs, f.ino, "user.colour") == 0);
	CHECK(kfs_removexattr(fs, f.ino, "user.colour") == -ENODATA);
	CHECK(kfs_listxattr(fs, f.ino, buf, sizeof(buf)) == 12 && !strcmp(buf, "user.parent"));
	CHECK(kfs_symlink(fs, KFS_ROOT_INO, "l", "f", 0, 0, &l) == 0);
	CHECK(kfs_listxattr(fs, l.ino, buf, sizeof(buf)) == 0);
	CHECK(kfs_setxattr(fs, l.ino, "user.x", "1", 1, 0) == -EPERM);
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "q", S_IFIFO | 0640, 0, 0, &q) == 0);
	CHECK(kfs_getxattr(fs, q.ino, "user.x", buf, sizeof(buf)) == -ENODATA);
	vol_down(&v);
}

/* FIFOs are made on the parent (inert there); device nodes and sockets are refused. */
TEST(fifos)
{
	char path[320];
	struct kfs_attr q, a;
	struct stat st;
	struct vol v;
	struct kfs *fs = vol_up(&v, "fifo", 0);
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "q", S_IFIFO | 0640, 0, 0, &q) == 0 && S_ISFIFO(q.mode) &&
	      (q.mode & 07777) == 0640);
	snprintf(path, sizeof(path), "%s/q", v.dir);
	CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0640);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "q", &a) == 0 && a.ino == q.ino && S_ISFIFO(a.mode));
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "d", S_IFBLK | 0600, 0, 0, &a) == -EPERM);
	snprintf(path, sizeof(path), "%s/d", v.dir);
	CHECK(lstat(path, &st) < 0 && errno == ENOENT);
	CHECK(kfs_unlink(fs, KFS_ROOT_INO, "q") == 0);
	vol_down(&v);
}

/* RENAME_EXCHANGE swaps two names on the parent, and their inodes in the enclave. */
TEST(rename_exchange)
{
	struct kfs_attr a, b, x;
	char buf[8];
	struct vol v;
	struct kfs *fs = vol_up(&v, "xchg", 0);
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "a", S_IFREG | 0600, 0, 0, &a) == 0);
	CHECK(kfs_open(fs, a.ino) == 0 && kfs_write(fs, a.ino, 0, "A", 1) == 1 &&
	      kfs_release(fs, a.ino) == 0);
	CHECK(kfs_mkdir(fs, KFS_ROOT_INO, "b", 0700, 0, 0, &b) == 0);
	CHECK(kfs_rename(fs, KFS_ROOT_INO, "a", KFS_ROOT_INO, "b", RENAME_EXCHANGE) == 0);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "b", &x) == 0 && S_ISREG(x.mode) && x.ino == a.ino);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "a", &x) == 0 && S_ISDIR(x.mode) && x.ino == b.ino);
	CHECK(kfs_read(fs, a.ino, 0, buf, sizeof(buf)) == 1 && buf[0] == 'A');
	CHECK(kfs_rename(fs, KFS_ROOT_INO, "a", KFS_ROOT_INO, "none", RENAME_EXCHANGE) == -ENOENT);
	CHECK(kfs_rename(fs, KFS_ROOT_INO, "a", KFS_ROOT_INO, "b",
			 RENAME_EXCHANGE | RENAME_NOREPLACE) == -EINVAL);
	vol_down(&v);
}

/* Two names of one host file are one inode with the host's link count, made here or by the parent. */
TEST(hard_links)
{
	struct kfs_attr a, b, c, x;
	struct vol v;
	struct kfs *fs = vol_up(&v, "links", 0);
	const char *dir = v.dir;
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "a", S_IFREG | 0600, 0, 0, &a) == 0 && a.nlink == 1);
	CHECK(kfs_mkdir(fs, KFS_ROOT_INO, "sub", 0700, 0, 0, &x) == 0);
	CHECK(kfs_link(fs, a.ino, x.ino, "b", &b) == 0 && b.ino == a.ino && b.nlink == 2);
	sh2("ln ", dir, "/a ", dir, "/c");
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "c", &c) == 0 && c.ino == a.ino && c.nlink == 3);
	CHECK(kfs_getattr(fs, a.ino, &x) == 0 && x.nlink == 3);
	/* the name requests use goes; the file stays reachable by another */
	CHECK(kfs_unlink(fs, KFS_ROOT_INO, "c") == 0);
	CHECK(kfs_getattr(fs, a.ino, &x) == 0 && x.nlink == 2);
	CHECK(kfs_unlink(fs, KFS_ROOT_INO, "a") == 0);
	CHECK(kfs_getattr(fs, a.ino, &x) == 0 && x.nlink == 1);
	/* a rename between two names of one file does nothing, as rename(2) */
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "sub", &x) == 0);
	CHECK(kfs_link(fs, a.ino, KFS_ROOT_INO, "d", &c) == 0 && c.ino == a.ino);
	CHECK(kfs_rename(fs, KFS_ROOT_INO, "d", x.ino, "b", 0) == 0);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "d", &c) == 0 && c.ino == a.ino && c.nlink == 2);
	/* a file the parent puts in place of a name is a new inode */
	sh2("rm ", dir, "/d && echo new >", dir, "/d");
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "d", &c) == 0 && c.ino != a.ino && c.nlink == 1);
	vol_down(&v);
}

/*
 * File churn never fills the inode table: 20 times its size in files made,
 * looked up, forgotten (as FUSE does) and deleted. Without trimming the
 * table is full after max files and the next one is ENFILE.
 */
TEST(table_churn)
{
	char name[32];
	struct kfs_attr a, x;
	uint64_t first = 0;
	struct vol v;
	struct kfs *fs = vol_up(&v, "churn", 64);
	kfs_count_lookups(fs);
	for (int i = 0; i < 64 * 20; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK(kfs_mknod(fs, KFS_ROOT_INO, name, S_IFREG | 0600, 0, 0, &a) == 0);
		CHECK(kfs_open(fs, a.ino) == 0 && kfs_release(fs, a.ino) == 0);
		CHECK(kfs_lookup(fs, KFS_ROOT_INO, name, &x) == 0 && x.ino == a.ino);
		CHECK(kfs_unlink(fs, KFS_ROOT_INO, name) == 0);
		kfs_forget(fs, a.ino, 2);
		if (i == 0)
			first = a.ino;
		if (t_failures)
			break;
	}
	/* the first file's number is stale: its slot's generation moved on */
	CHECK(kfs_getattr(fs, first, &x) == -ENOENT);
	/* without forgets (NFS), entries nothing holds are trimmed when the table is full */
	for (int i = 0; i < 64 * 4; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		CHECK(kfs_mknod(fs, KFS_ROOT_INO, name, S_IFREG | 0600, 0, 0, &a) == 0);
		CHECK(kfs_open(fs, a.ino) == 0 && kfs_release(fs, a.ino) == 0);
		kfs_forget(fs, a.ino, 1);
		if (t_failures)
			break;
	}
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "k0", &x) == 0); /* trimmed, then known again */
	vol_down(&v);
}

TEST(register_modes)
{
	struct kd_store_cfg cfg;
	json_t *v = json_loads("[{\"name\": \"data\", \"host\": \"/srv/a\", \"mode\": \"plain\"},"
			       " {\"name\": \"enc\", \"host\": \"/srv/b\"}]", 0, NULL);

	CHECK(kd_store_cfg_parse(v, NULL, "t", &cfg) == 0 && cfg.n == 2 && cfg.vol[0].plain &&
	      !cfg.vol[1].plain);
	json_object_set_new(json_array_get(v, 1), "mode", json_string("clear"));
	CHECK_ERR(kd_store_cfg_parse(v, NULL, "t", &cfg), "mode must be plain or encrypted");
	json_decref(v);
}

int main(void)
{
	if (!mkdtemp(base))
		return 1;
	snprintf(root, sizeof(root), "%s/vol", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	RUN(files_and_dirs);
	RUN(handles);
	RUN(escapes);
	RUN(special_files);
	RUN(readdir_rounds);
	RUN(channel_modes);
	RUN(xattrs);
	RUN(fifos);
	RUN(rename_exchange);
	RUN(hard_links);
	RUN(table_churn);
	RUN(register_modes);
	sh2("rm -rf ", base, "", "", "");
	return t_done();
}
