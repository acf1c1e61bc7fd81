/* SPDX-License-Identifier: Apache-2.0 */
/* dev-kms key store: one 0600 file per key in STATE_DIR/keys, written atomically. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devkms/devkms.h"
#include "util/secure.h"

/*
 * How this works: STATE_DIR/keys/ID.key holds the line "kiln-devkms-key 1",
 * the 32 bytes of key material, then the metadata as JSON (created,
 * enabled, description, policy). A write goes to a unique temporary file
 * in the same directory (0600, O_EXCL), is fsynced, renamed over the old
 * file, and the directory is fsynced: a reader sees the old or the new
 * key, never a torn one. Material lives in memory only while an operation
 * uses it (kiln_devkms_key_clear wipes it); file buffers are wiped too.
 */

static const char file_magic[] = "kiln-devkms-key 1\n";
#define MAGIC_LEN (sizeof(file_magic) - 1)
#define MAX_FILE (MAGIC_LEN + KILN_DEVKMS_KEY_LEN + 4 * (KILN_DEVKMS_MAX_POLICY + KILN_DEVKMS_MAX_DESC) + 256)

bool kiln_devkms_is_key_id(const char *s)
{
	if (strlen(s) != KILN_DEVKMS_KEY_ID_LEN)
		return false;
	for (int i = 0; i < KILN_DEVKMS_KEY_ID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

void kiln_devkms_key_clear(struct kiln_devkms_key *key)
{
	free(key->description);
	free(key->policy);
	kiln_wipe(key, sizeof(*key));
}

static int keys_dir(struct kiln_devkms *d, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/keys", d->state_dir) >= size)
		return kiln_err(ENAMETOOLONG, "state dir path too long");
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return kiln_err(errno, "mkdir %s: %m", buf);
	return 0;
}

static int write_all_fd(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Serialise a key: magic, material, JSON metadata. *out is wiped by the caller. */
static int encode_key(const struct kiln_devkms_key *key, uint8_t **out, size_t *len)
{
	json_t *j = json_pack("{s:I, s:b, s:s, s:s?}", "created", (json_int_t)key->created_s,
			      "enabled", key->enabled, "description",
			      key->description ? key->description : "", "policy", key->policy);
	char *meta = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!meta)
		return kiln_err(ENOMEM, "encoding key metadata");
	size_t ml = strlen(meta), n = MAGIC_LEN + KILN_DEVKMS_KEY_LEN + ml;
	uint8_t *b = malloc(n);
	if (b) {
		memcpy(b, file_magic, MAGIC_LEN);
		memcpy(b + MAGIC_LEN, key->material, KILN_DEVKMS_KEY_LEN);
		memcpy(b + MAGIC_LEN + KILN_DEVKMS_KEY_LEN, meta, ml);
	}
	free(meta);
	if (!b)
		return kiln_err(ENOMEM, "out of memory");
	*out = b;
	*len = n;
	return 0;
}

static int write_key(struct kiln_devkms *d, const struct kiln_devkms_key *key)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 64], path[PATH_MAX + 64];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = keys_dir(d, dir, sizeof(dir));
	if (rc == 0)
		rc = encode_key(key, &buf, &len);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s.key", dir, key->id);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", dir, key->id, (int)gettid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = kiln_err(errno, "create %s: %m", tmp);
	} else {
		rc = write_all_fd(fd, buf, len);
		if (rc == 0 && fsync(fd) < 0)
			rc = -errno;
		if (close(fd) < 0 && rc == 0)
			rc = -errno;
		if (rc == 0 && rename(tmp, path) < 0)
			rc = -errno;
		if (rc < 0) {
			unlink(tmp);
			rc = kiln_err(-rc, "write %s: %s", path, strerror(-rc));
		}
	}
	kiln_free_secret(buf, len);
	int dfd = rc == 0 ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			rc = kiln_err(errno, "fsync %s: %m", dir);
		close(dfd);
	}
	return rc;
}

static void new_uuid(char out[KILN_DEVKMS_KEY_ID_LEN + 1])
{
	uint8_t r[16];
	static const char hex[] = "0123456789abcdef";

	RAND_bytes(r, sizeof(r));
	r[6] = (r[6] & 0x0f) | 0x40; /* version 4 */
	r[8] = (r[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	for (int i = 0, o = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[r[i] >> 4];
		out[o++] = hex[r[i] & 15];
	}
	out[KILN_DEVKMS_KEY_ID_LEN] = '\0';
}

int kiln_devkms_store_create(struct kiln_devkms *d, const char *description, const char *policy,
			     struct kiln_devkms_key *key)
{
	memset(key, 0, sizeof(*key));
	new_uuid(key->id);
	key->created_s = kiln_devkms_now(d);
	key->enabled = true;
	key->description = strdup(description ? description : "");
	key->policy = policy ? strdup(policy) : NULL;
	if (!key->description || (policy && !key->policy))
		return kiln_err(ENOMEM, "out of memory");
	if (RAND_bytes(key->material, KILN_DEVKMS_KEY_LEN) != 1)
		return kiln_err(EIO, "no randomness for key material");
	key->has_material = true;
	pthread_mutex_lock(&d->store_lock);
	int rc = write_key(d, key);
	pthread_mutex_unlock(&d->store_lock);
	return rc;
}

/* key_ref -> key id: a UUID or a key ARN; aliases are not kept by dev-kms. */
static int resolve_ref(const char *ref, char id[KILN_DEVKMS_KEY_ID_LEN + 1])
{
	const char *slash = strrchr(ref, '/');

	if (!strncmp(ref, "alias/", 6) || (!strncmp(ref, "arn:", 4) && strstr(ref, ":alias/")))
		return kiln_err(ENOENT, "Alias %s is not found.", ref);
	if (!strncmp(ref, "arn:aws:kms:", 12) && slash && !strncmp(slash - 4, ":key/", 5))
		ref = slash + 1;
	if (!kiln_devkms_is_key_id(ref))
		return kiln_err(ENOENT, "Invalid keyId '%s'", ref);
	memcpy(id, ref, KILN_DEVKMS_KEY_ID_LEN + 1);
	return 0;
}

static int read_file_bounded(const char *path, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	uint8_t *b = malloc(MAX_FILE + 1);
	size_t n = 0;
	ssize_t r = 1;
	while (b && n <= MAX_FILE && (r = read(fd, b + n, MAX_FILE + 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (!b || r < 0 || n > MAX_FILE) {
		kiln_free_secret(b, n);
		return -EIO;
	}
	*out = b;
	*len = n;
	return 0;
}

static int decode_meta(const uint8_t *p, size_t n, struct kiln_devkms_key *key)
{
	json_error_t e;
	json_int_t created = 0;
	int enabled = 0;
	const char *desc = NULL, *policy = NULL;
	json_t *pol = NULL;
	json_t *j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &e);
	int rc = 0;

	if (!j || json_unpack(j, "{s:I, s:b, s:s, s?o}", "created", &created, "enabled", &enabled,
			      "description", &desc, "policy", &pol) < 0 ||
	    (pol && !json_is_null(pol) && !json_is_string(pol)))
		rc = -EBADMSG;
	policy = json_string_value(pol);
	if (rc == 0) {
		key->created_s = created;
		key->enabled = enabled;
		key->description = strdup(desc);
		key->policy = policy ? strdup(policy) : NULL;
		if (!key->description || (policy && !key->policy))
			rc = -ENOMEM;
	}
	json_decref(j);
	return rc;
}

int kiln_devkms_store_load(struct kiln_devkms *d, const char *key_ref, bool with_material,
			   struct kiln_devkms_key *key)
{
	char path[PATH_MAX + 64];
	uint8_t *buf = NULL;
	size_t len = 0;

	memset(key, 0, sizeof(*key));
	int rc = resolve_ref(key_ref, key->id);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/keys/%s.key", d->state_dir, key->id);
	rc = read_file_bounded(path, &buf, &len);
	if (rc == -ENOENT)
		return kiln_err(ENOENT, "Key '%s' does not exist", key_ref);
	if (rc < 0)
		return kiln_err(EIO, "reading key %s failed", key->id);
	if (len < MAGIC_LEN + KILN_DEVKMS_KEY_LEN || memcmp(buf, file_magic, MAGIC_LEN))
		rc = -EBADMSG;
	if (rc == 0)
		rc = decode_meta(buf + MAGIC_LEN + KILN_DEVKMS_KEY_LEN,
				 len - MAGIC_LEN - KILN_DEVKMS_KEY_LEN, key);
	if (rc == 0 && with_material) {
		memcpy(key->material, buf + MAGIC_LEN, KILN_DEVKMS_KEY_LEN);
		key->has_material = true;
	}
	kiln_free_secret(buf, len);
	if (rc < 0) {
		kiln_devkms_key_clear(key);
		return kiln_err(EIO, "key file %s is corrupt", path);
	}
	return 0;
}

int kiln_devkms_store_set_policy(struct kiln_devkms *d, const char *id, const char *policy)
{
	struct kiln_devkms_key key;

	pthread_mutex_lock(&d->store_lock);
	int rc = kiln_devkms_store_load(d, id, true, &key);
	if (rc == 0) {
		free(key.policy);
		key.policy = strdup(policy);
		rc = key.policy ? write_key(d, &key) : kiln_err(ENOMEM, "out of memory");
		kiln_devkms_key_clear(&key);
	}
	pthread_mutex_unlock(&d->store_lock);
	return rc;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

int kiln_devkms_store_list(struct kiln_devkms *d, char (**ids)[KILN_DEVKMS_KEY_ID_LEN + 1],
			   size_t *n)
{
	char dir[PATH_MAX];
	int rc = keys_dir(d, dir, sizeof(dir));
	if (rc < 0)
		return rc;
	DIR *dp = opendir(dir);
	if (!dp)
		return kiln_err(errno, "opendir %s: %m", dir);
	char(*v)[KILN_DEVKMS_KEY_ID_LEN + 1] = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(dp))) {
		size_t l = strlen(e->d_name);
		if (l != KILN_DEVKMS_KEY_ID_LEN + 4 || strcmp(e->d_name + KILN_DEVKMS_KEY_ID_LEN, ".key"))
			continue;
		if (cnt == cap) {
			void *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(dp);
				return kiln_err(ENOMEM, "out of memory");
			}
			v = nv;
		}
		memcpy(v[cnt], e->d_name, KILN_DEVKMS_KEY_ID_LEN);
		v[cnt][KILN_DEVKMS_KEY_ID_LEN] = '\0';
		if (kiln_devkms_is_key_id(v[cnt]))
			cnt++;
	}
	closedir(dp);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_id);
	*ids = v;
	*n = cnt;
	return 0;
}
