/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's storage: volumes from the parent's store, mounted with FUSE or NFS before the app. */
#include "init/storage.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/creds.h"
#include "aws/kms.h"
#include "chan/addr.h"
#include "chan/vsock_buf.h"
#include "fs/fs.h"
#include "fs/plain.h"
#include "fs/wire.h"
#include "init/storage_fuse.h"
#include "init/secrets.h"
#include "init/storage_nfs.h"

struct vol {
	char path[256];
	struct kfs *fs;
	struct kiln_nfs *nfs; /* the NFS frontend, when it serves this volume */
	int fuse_fd;
	pthread_t thread;
	bool serving;
	int rc;
};

/* Who the files of plain volumes belong to, as the app sees them (kiln_init_storage_owner). */
static uint32_t owner_uid, owner_gid;

void kiln_init_storage_owner(uint32_t uid, uint32_t gid)
{
	owner_uid = uid;
	owner_gid = gid;
}

struct kiln_storage {
	struct vol v[KILN_STORAGE_MAX];
	size_t n;
};

/*
 * key: kms volumes share one KMS client (made at the first such volume)
 * and the boot's one recipient (RSA key and attestation document) with
 * secrets; the client is gone once the volumes are mounted, since the key
 * wrap is used only while mounting.
 */
struct kms_ctx {
	const json_t *config;
	const char *dir;
	bool ready;
	struct aws_creds_src creds;
	struct aws_kms *kms;
	const struct aws_kms_recipient *r;
};

static int kms_ready(struct kms_ctx *k)
{
	int conns, rc;

	if (k->ready)
		return 0;
	rc = kiln_init_kms_new(json_object_get(k->config, "kms"), &k->creds, &k->kms, &conns);
	if (rc < 0)
		return rc;
	k->ready = true;
	/* The sim NSM behind the channel directory ("" over vsock); /dev/nsm when present. */
	return kiln_init_kms_recipient(kiln_init_secrets_nsm_attest,
				       (void *)(k->dir ? k->dir : ""), &k->r);
}

static void kms_done(struct kms_ctx *k)
{
	if (!k->ready)
		return;
	aws_kms_free(k->kms);
	aws_creds_src_free(&k->creds);
	k->ready = false;
}

static void on_log(void *ctx, const char *line)
{
	fprintf(stderr, "kiln-init: storage %s: %s\n", ((struct vol *)ctx)->path, line);
}

static void *serve(void *arg)
{
	struct vol *v = arg;

	v->rc = kiln_fuse_serve(v->fuse_fd, v->fs);
	if (v->rc < 0)
		fprintf(stderr, "kiln-init: storage %s: %s\n", v->path, kiln_errmsg());
	return NULL;
}

/*
 * The key wrap named by "key": kms (GenerateDataKey with the attestation
 * document wraps, Decrypt with it unwraps, so only enclaves whose PCRs the
 * key policy admits can mount) or sim (a key anyone can compute).
 */
static int keywrap(const json_t *e, const char *path, struct kms_ctx *k, struct kfs_keywrap **kw)
{
	const char *key = json_string_value(json_object_get(e, "key")) ?: "kms";
	const char *id = json_string_value(json_object_get(e, "kms_key_id"));
	int rc;

	if (!strcmp(key, "sim")) {
		fprintf(stderr, "kiln-init: WARNING: storage %s: key: sim wraps the volume key with a "
				"key anyone can compute; the parent can read this volume. Use key: kms "
				"in production.\n", path);
		return kfs_keywrap_sim(NULL, kw);
	}
	if (strcmp(key, "kms"))
		return kiln_err(EINVAL, "key: \"%s\" is not sim or kms", key);
	if (!id || !id[0])
		return kiln_err(EINVAL, "key: kms needs storage[].kms_key_id (the KMS key that "
					"wraps the volume key)");
	rc = kms_ready(k);
	return rc < 0 ? rc : kfs_keywrap_kms(k->kms, id, k->r, kw);
}

/*
 * Over vsock the buffer of kiln-init's end is the credit kilnd answers
 * against: at the default 256 KiB, kilnd stops after a few of the gets in
 * flight and waits for each read. Without it the volume still works.
 */
int kiln_init_storage_dial(const char *dir)
{
	static atomic_flag said = ATOMIC_FLAG_INIT;
	struct kiln_chan_addr a;
	int rc = kiln_chan_parent_addr(dir, KILN_PORT_STORAGE, &a);
	int fd = rc < 0 ? rc : kiln_chan_connect(&a, 10000, 0);

	if (fd >= 0 && kiln_chan_vsock_buf(fd, KILN_STORAGE_VSOCK_BUF) < 0 &&
	    !atomic_flag_test_and_set(&said))
		fprintf(stderr, "kiln-init: storage channel: %s; kept the kernel's\n", kiln_errmsg());
	return fd;
}

static int open_volume(struct vol *v, const json_t *e, struct kms_ctx *k, const char *dir)
{
	struct kfs_keywrap *kw = NULL;
	struct kfs_store *st;
	char name[KFS_ID_MAX + 1];
	int rc = kfs_volume_name(v->path, name, sizeof(name)), fd;

	if (rc == 0)
		rc = keywrap(e, v->path, k, &kw);
	if (rc < 0)
		return rc;
	fd = kiln_init_storage_dial(dir);
	if (fd < 0) {
		if (kw->free)
			kw->free(kw);
		return kiln_err_wrap(fd, "storage channel");
	}
	rc = kfs_store_remote(fd, name, &st);
	if (rc < 0) {
		if (kw->free)
			kw->free(kw);
		return rc;
	}
	return kfs_mount(st, kw, KFS_MOUNT_CREATE, on_log, v, &v->fs);
}

/* mode: plain: the parent's directory as ordinary files, over the same channel (fs/plain.h). */
static int open_plain(struct vol *v, const char *dir)
{
	char name[KFS_ID_MAX + 1];
	int rc = kfs_volume_name(v->path, name, sizeof(name)), fd;

	fd = rc < 0 ? rc : kiln_init_storage_dial(dir);
	if (fd < 0)
		return kiln_err_wrap(fd, "storage channel");
	fprintf(stderr, "kiln-init: WARNING: storage %s: mode: plain: the parent reads and changes "
			"these files at will; nothing in it is encrypted or authenticated.\n", v->path);
	return kfs_plain_mount(fd, name, owner_uid, owner_gid, &v->fs);
}

static int start_thread(struct vol *v)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&v->thread, NULL, serve, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return kiln_err(rc, "thread: %s", strerror(rc));
	v->serving = true;
	return 0;
}

static int mount_one(struct vol *v, json_t *e, struct kms_ctx *k, const char *dir)
{
	const char *path = json_string_value(json_object_get(e, "path"));
	const char *mode = json_string_value(json_object_get(e, "mode"));
	const char *key = json_string_value(json_object_get(e, "key"));
	const char *fe = json_string_value(json_object_get(e, "frontend"));
	bool nfs = fe ? !strcmp(fe, "nfs") : !kiln_fuse_works();
	int rc;

	if (!path || path[0] != '/' || strlen(path) >= sizeof(v->path))
		return kiln_err(EINVAL, "storage: path missing, relative or too long");
	snprintf(v->path, sizeof(v->path), "%s", path);
	v->fuse_fd = -1;
	bool plain = mode && !strcmp(mode, "plain");
	if (mode && !plain && strcmp(mode, "encrypted"))
		return kiln_err(EINVAL, "storage %s: mode: %s is not encrypted or plain", path, mode);
	rc = plain ? open_plain(v, dir) : open_volume(v, e, k, dir);
	if (rc == 0 && mkdir(path, 0755) < 0 && errno != EEXIST)
		rc = kiln_err(errno, "mkdir %s: %s", path, strerror(errno));
	if (rc == 0 && nfs)
		rc = kiln_nfs_mount(v->fs, path, &v->nfs);
	else if (rc == 0 && (v->fuse_fd = kiln_fuse_mount(path)) < 0)
		rc = v->fuse_fd;
	if (rc == 0 && !nfs)
		rc = start_thread(v);
	if (rc == 0 && plain)
		fprintf(stderr, "kiln-init: storage %s: mounted (plain, %s)\n", path, nfs ? "nfs" : "fuse");
	else if (rc == 0)
		fprintf(stderr, "kiln-init: storage %s: mounted (encrypted, key: %s, %s)\n", path,
			key ? key : "kms", nfs ? "nfs" : "fuse");
	return rc < 0 ? kiln_err_wrap(rc, "storage %s", path) : 0;
}

int kiln_init_storage_start(json_t *config, const char *dir, struct kiln_storage **out)
{
	json_t *list = json_object_get(config, "storage"), *e;
	struct kiln_storage *s;
	struct kms_ctx k = { .config = config, .dir = dir };
	size_t i;
	int rc = 0;

	*out = NULL;
	if (json_array_size(list) == 0)
		return 0;
	if (json_array_size(list) > KILN_STORAGE_MAX)
		return kiln_err(EINVAL, "storage: more than %d volumes", KILN_STORAGE_MAX);
	s = calloc(1, sizeof(*s));
	if (!s)
		return kiln_err(ENOMEM, "storage: out of memory");
	json_array_foreach(list, i, e) {
		rc = mount_one(&s->v[s->n], e, &k, dir);
		s->n++;
		if (rc < 0)
			break;
	}
	kms_done(&k);
	if (rc < 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", kiln_errmsg());
		kiln_init_storage_stop(s);
		return kiln_err(-rc, "%s", msg);
	}
	*out = s;
	return 0;
}

static void stop_one(struct vol *v)
{
	if (v->nfs && kiln_nfs_unmount(v->nfs) < 0)
		fprintf(stderr, "kiln-init: storage %s: %s\n", v->path, kiln_errmsg());
	v->nfs = NULL;
	if (v->serving && umount2(v->path, 0) < 0 && umount2(v->path, MNT_DETACH) < 0)
		fprintf(stderr, "kiln-init: storage %s: umount: %s\n", v->path, strerror(errno));
	if (v->serving)
		pthread_join(v->thread, NULL);
	else if (v->fuse_fd >= 0)
		umount2(v->path, MNT_DETACH);
	if (v->fuse_fd >= 0)
		close(v->fuse_fd);
	if (v->fs && kfs_unmount(v->fs) < 0)
		fprintf(stderr, "kiln-init: storage %s: final commit failed: %s\n", v->path,
			kiln_errmsg());
	else if (v->fs && v->serving)
		fprintf(stderr, "kiln-init: storage %s: committed and unmounted\n", v->path);
	v->fs = NULL;
}

void kiln_init_storage_stop(struct kiln_storage *s)
{
	if (!s)
		return;
	for (size_t i = s->n; i > 0; i--)
		stop_one(&s->v[i - 1]);
	free(s);
}
