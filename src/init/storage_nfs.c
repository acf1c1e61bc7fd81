/* SPDX-License-Identifier: Apache-2.0 */
/* The NFSv4 frontend: serve the core on loopback from a thread and mount it with mount(2). */
#include "init/storage_nfs.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "nfs/server.h"

struct kiln_nfs {
	char path[256];
	struct nfs_srv *srv;
	int lfd, stop[2];
	pthread_t thread;
	bool serving, mounted, plain;
	int rc;
};

bool kiln_fuse_works(void)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void *serve(void *arg)
{
	struct kiln_nfs *n = arg;

	n->rc = nfs_serve(n->srv, n->lfd, n->stop[0]);
	if (n->rc < 0)
		fprintf(stderr, "kiln-init: storage %s: nfs: %s\n", n->path, kiln_errmsg());
	return NULL;
}

static void nfs_free(struct kiln_nfs *n)
{
	if (n->serving) {
		(void)!write(n->stop[1], "x", 1);
		pthread_join(n->thread, NULL);
	}
	if (n->lfd >= 0)
		close(n->lfd);
	if (n->stop[0] >= 0)
		close(n->stop[0]);
	if (n->stop[1] >= 0)
		close(n->stop[1]);
	nfs_srv_free(n->srv);
	free(n);
}

static int start(struct kiln_nfs *n)
{
	sigset_t all, old;
	int rc;

	/* signals stay with kiln-init's main thread (the supervisor) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&n->thread, NULL, serve, n);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return kiln_err(rc, "nfs: thread: %s", strerror(rc));
	n->serving = true;
	return 0;
}

/*
 * Text options as mount.nfs would pass them: the newest minor version the
 * kernel takes (4.2 for user xattrs; 4.1 sessions; 4.0), TCP on the chosen
 * port, a hard mount (an app never sees EIO for a slow server), 1 MiB
 * transfers, AUTH_SYS with numeric owners. Locks go to the server; the
 * client makes flock() a whole-file POSIX lock, so flock and fcntl locks of
 * one process conflict (nfs(5); local_lock is not honoured for NFSv4 by the
 * 6.1 client: the guest lab showed local_lock=none). For an encrypted
 * volume the enclave's kernel is the server's only client and nothing else
 * changes the volume (the parent can only break it), so its caches cannot
 * go stale: attributes are kept 600 seconds and open() does
 * not revalidate (nocto), where the defaults (3-60 s, close-to-open) guard
 * against other clients. A plain volume, which the parent changes too, keeps
 * close-to-open and has its attributes cached for 1 s (as FUSE does): a
 * change the parent makes is seen within a second (the client drops cached
 * data when the change attribute differs).
 */
/* attribute caching for encrypted and for plain volumes (see above) */
#define NFS_CACHE_ENCRYPTED "nocto,actimeo=600"
#define NFS_CACHE_PLAIN "actimeo=1"

static int mount_vers(struct kiln_nfs *n, uint16_t port, const char *vers)
{
	char opts[256];

	snprintf(opts, sizeof(opts),
		 "vers=%s,addr=127.0.0.1,clientaddr=127.0.0.1,port=%u,proto=tcp,hard,"
		 "timeo=600,retrans=2,rsize=%u,wsize=%u,sec=sys,%s",
		 vers, port, NFS_MAX_IO, NFS_MAX_IO,
		 n->plain ? NFS_CACHE_PLAIN : NFS_CACHE_ENCRYPTED);
	return mount("127.0.0.1:/", n->path, "nfs4", MS_NOSUID | MS_NODEV, opts) < 0 ? -errno : 0;
}

static int do_mount(struct kiln_nfs *n, uint16_t port)
{
	static const char *const vers[] = { "4.2", "4.1", "4.0" };
	int rc = -EINVAL;

	/* an older kernel refuses a minor version it lacks with EINVAL or EPROTONOSUPPORT */
	for (size_t i = 0; i < sizeof(vers) / sizeof(vers[0]); i++) {
		rc = mount_vers(n, port, vers[i]);
		if (rc == 0) {
			n->mounted = true;
			return 0;
		}
		if (rc != -EINVAL && rc != -EPROTONOSUPPORT)
			break;
	}
	return kiln_err(-rc, "mount nfs4 on %s: %s%s", n->path, strerror(-rc),
			rc == -ENODEV ? " (this kernel has no NFSv4 client)" : "");
}

/*
 * Under a write delegation the Linux client (6.1) asks no attributes back
 * with its WRITE and CLOSE, so the first stat of a file written under one
 * is a GETATTR round trip, and unlink returns the delegation (DELEGRETURN,
 * waited for) before its REMOVE. The client returns a delegation on the
 * last close, in the background, once it holds at least
 * delegation_watermark of them (fs/nfs/delegation.c,
 * nfs4_inode_return_delegation_on_close; the DELEGRETURN carries a GETATTR
 * that refreshes the cache). At 0 every delegation goes back after its
 * close: close() still does not wait for the file's WRITE (the delegation
 * is held when it starts the flush), and stat and unlink then cost what
 * they cost without delegations. The setting is the kernel's, for all its
 * NFSv4 mounts: in the enclave kiln's is the only one.
 */
#define NFS_DELEG_WATERMARK "/sys/module/nfsv4/parameters/delegation_watermark"

static void delegations_return_on_close(const struct kiln_nfs *n)
{
	int fd = open(NFS_DELEG_WATERMARK, O_WRONLY | O_CLOEXEC);

	if (fd >= 0 && write(fd, "0", 1) == 1) {
		close(fd);
		return;
	}
	/* still correct, only stat and unlink cost a round trip more */
	fprintf(stderr, "kiln-init: storage %s: nfs: %s: %s\n", n->path, NFS_DELEG_WATERMARK,
		strerror(errno));
	if (fd >= 0)
		close(fd);
}

int kiln_nfs_mount(struct kfs *fs, const char *path, struct kiln_nfs **out)
{
	return kiln_nfs_mount_opts(fs, path, KILN_NFS_DELEGATIONS, out); /* docs/storage.md */
}

int kiln_nfs_mount_opts(struct kfs *fs, const char *path, unsigned opts, struct kiln_nfs **out)
{
	uint8_t key[NFS_FH_KEY_LEN], volid[NFS_VOLID_LEN];
	struct kiln_nfs *n = calloc(1, sizeof(*n));
	uint16_t port;
	int rc;

	*out = NULL;
	if (!n)
		return kiln_err(ENOMEM, "nfs: out of memory");
	n->lfd = n->stop[0] = n->stop[1] = -1;
	snprintf(n->path, sizeof(n->path), "%s", path);
	n->plain = kfs_changes_behind(fs);
	rc = nfs_fh_key(fs, key, volid);
	if (rc == 0)
		rc = nfs_srv_new(fs, key, volid, &n->srv);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == 0)
		nfs_srv_set_delegations(n->srv, opts & KILN_NFS_DELEGATIONS);
	if (rc == 0 && pipe2(n->stop, O_CLOEXEC) < 0)
		rc = kiln_err(errno, "nfs: pipe: %s", strerror(errno));
	if (rc == 0)
		rc = nfs_listen(0, &n->lfd, &port);
	if (rc == 0)
		rc = start(n);
	if (rc == 0)
		rc = do_mount(n, port);
	if (rc == 0 && (opts & KILN_NFS_DELEGATIONS))
		delegations_return_on_close(n);
	if (rc < 0) {
		nfs_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/*
 * umount(2) can return before the client has flushed: open contexts that
 * async writes or CLOSEs still hold keep the superblock alive, and its
 * shutdown (the last writeback) happens when they drop, after the server
 * is gone. Under write delegations close() does not wait for its flush,
 * and a file written just before the unmount was seen lost this way. So
 * write everything back while the server still answers: syncfs waits for
 * the writes in flight and COMMITs them.
 */
static void client_flush(struct kiln_nfs *n)
{
	int fd = open(n->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return; /* umount2 then flushes what it can */
	if (syncfs(fd) < 0)
		fprintf(stderr, "kiln-init: storage %s: nfs: syncfs: %s\n", n->path, strerror(errno));
	close(fd);
}

int kiln_nfs_unmount(struct kiln_nfs *n)
{
	int rc = 0;

	if (!n)
		return 0;
	if (n->mounted)
		client_flush(n);
	/* a plain umount first: the client flushes and COMMITs while the server still runs */
	if (n->mounted && umount2(n->path, 0) < 0) {
		rc = kiln_err(errno, "nfs: umount %s: %s", n->path, strerror(errno));
		if (umount2(n->path, MNT_FORCE) < 0)
			(void)umount2(n->path, MNT_DETACH);
	}
	nfs_free(n);
	return rc;
}
