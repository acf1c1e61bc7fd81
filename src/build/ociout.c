/* SPDX-License-Identifier: Apache-2.0 */
/* kiln build --output-image: the launcher image (EIF + kiln + kilnd) as OCI layout or docker-archive. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "build/ociout.h"
#include "eif/ingress.h"
#include "util/cleanup.h"
#include "util/io.h"

/*
 * How this works: one gzip layer holds /kiln/app.eif, /kiln/bin/{kiln,kilnd}
 * and the shared libraries kilnd loads (at the paths its loader looks for
 * them, as `ldd` names them); kiln is static. Entries are sorted, owned by
 * 0:0 and stamped with one epoch, so the layer, the config, the manifest and
 * the archive are the same bytes for the same inputs. The PCRs and the memory
 * the EIF needs are manifest annotations (oci:) and config labels (both), so
 * `skopeo inspect` or a registry's manifest API shows them without a pull.
 */

#define MAX_ENTRIES 64
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"

struct entry {
	char path[PATH_MAX]; /* in the tar: relative, dirs end in '/' */
	char src[PATH_MAX];  /* host file; "" for a directory */
	unsigned mode;
};

struct img {
	const struct kiln_oci_out *o;
	struct entry *e;
	size_t n;
	char layer_hex[65], diff_hex[65], config_hex[65], manifest_hex[65];
	uint64_t layer_size, config_size, manifest_size;
	json_t *labels;
	char *config, *manifest;
};

static int add(struct img *m, const char *path, const char *src, unsigned mode)
{
	if (m->n == MAX_ENTRIES)
		return kiln_err(E2BIG, "image: more than %d files", MAX_ENTRIES);
	snprintf(m->e[m->n].path, sizeof(m->e[0].path), "%s", path);
	snprintf(m->e[m->n].src, sizeof(m->e[0].src), "%s", src ? src : "");
	m->e[m->n++].mode = mode;
	return 0;
}

/* A file at abs path /a/b/c, with its parent directories a/ and a/b/. */
static int add_with_parents(struct img *m, const char *abs, const char *src, unsigned mode)
{
	char dir[PATH_MAX];
	int rc = 0;

	for (const char *p = strchr(abs + 1, '/'); p && rc == 0; p = strchr(p + 1, '/')) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(p - abs), abs + 1);
		rc = add(m, dir, NULL, 0755);
	}
	return rc < 0 ? rc : add(m, abs + 1, src, mode);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

/* Sorted, directories once each (a directory's path ends in '/'). */
static void sort_entries(struct img *m)
{
	size_t w = 0;

	for (size_t i = 0; i < m->n; i++)
		if (!m->e[i].src[0] && m->e[i].path[strlen(m->e[i].path) - 1] != '/')
			strncat(m->e[i].path, "/", sizeof(m->e[i].path) - strlen(m->e[i].path) - 1);
	qsort(m->e, m->n, sizeof(*m->e), cmp_entry);
	for (size_t i = 0; i < m->n; i++)
		if (w == 0 || strcmp(m->e[w - 1].path, m->e[i].path))
			m->e[w++] = m->e[i];
	m->n = w;
}

/* ---- kiln, kilnd and kilnd's libraries ---- */

static int self_dir(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return kiln_err(errno, "/proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(out, len, "%s", self);
	return 0;
}

/* Run `ldd FILE` and read its output (at most len - 1 bytes). */
static int run_ldd(const char *file, char *out, size_t len)
{
	int p[2], status;
	size_t got = 0;
	pid_t pid;
	int rc;

	if (pipe2(p, O_CLOEXEC) < 0)
		return kiln_err(errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execlp("ldd", "ldd", file, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	rc = pid < 0 ? kiln_err(errno, "fork: %s", strerror(errno))
		     : kiln_read_upto(p[0], out, len - 1, &got, "ldd");
	close(p[0]);
	out[got] = '\0';
	if (pid > 0 && waitpid(pid, &status, 0) == pid && rc == 0 &&
	    !(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || strstr(out, "not a dynamic"))))
		rc = kiln_err(ENOEXEC, "ldd %s failed (is ldd installed?)", file);
	return rc;
}

/* Each "name => /path (addr)" and "/interp (addr)" line of ldd. */
static int add_libs(struct img *m, const char *exe)
{
	char out[16384], path[PATH_MAX];
	int rc = run_ldd(exe, out, sizeof(out));

	for (char *line = strtok(out, "\n"); rc == 0 && line; line = strtok(NULL, "\n")) {
		char *a = strstr(line, "=> "), *s = a ? a + 3 : line + strspn(line, " \t");

		if (*s != '/' || sscanf(s, "%4095s", path) != 1)
			continue;
		if (access(path, R_OK) < 0)
			return kiln_err(errno, "%s needs %s: %s", exe, path, strerror(errno));
		rc = add_with_parents(m, path, path, 0755);
	}
	return rc;
}

static int add_files(struct img *m)
{
	char dir[PATH_MAX], kiln[PATH_MAX], kilnd[PATH_MAX];
	int rc = self_dir(dir, sizeof(dir));

	if (rc < 0)
		return rc;
	snprintf(kiln, sizeof(kiln), "%s", m->o->kiln ? m->o->kiln : "/proc/self/exe");
	snprintf(kilnd, sizeof(kilnd), m->o->kilnd ? "%s" : "%s/kilnd",
		 m->o->kilnd ? m->o->kilnd : dir);
	if (access(kilnd, X_OK) < 0)
		return kiln_err(errno, "kilnd %s: %s (the image needs it)", kilnd, strerror(errno));
	rc = add_with_parents(m, KILN_IMG_EIF, m->o->eif_path, 0644);
	if (rc == 0)
		rc = add_with_parents(m, KILN_IMG_KILN, kiln, 0755);
	if (rc == 0)
		rc = add_with_parents(m, "/kiln/bin/kilnd", kilnd, 0755);
	if (rc == 0)
		rc = add_libs(m, kilnd);
	if (rc == 0)
		rc = add_with_parents(m, KILN_IMG_STATE "/", NULL, 0755);
	if (rc == 0)
		rc = add(m, "tmp", NULL, 01777);
	if (rc == 0)
		sort_entries(m);
	return rc;
}

/* ---- blobs ---- */

static int write_layer(struct img *m, int fd)
{
	struct kiln_osink *s;
	int rc = kiln_osink_open(fd, 1, &s);

	for (size_t i = 0; rc == 0 && i < m->n; i++) {
		_cleanup_close_ int in = -1;

		if (!m->e[i].src[0]) {
			rc = kiln_tar_dir(s, m->e[i].path, m->e[i].mode, m->o->epoch);
			continue;
		}
		in = open(m->e[i].src, O_RDONLY | O_CLOEXEC);
		rc = in < 0 ? kiln_err(errno, "%s: %s", m->e[i].src, strerror(errno))
			    : kiln_tar_file_fd(s, m->e[i].path, m->e[i].mode, m->o->epoch, in);
	}
	if (rc == 0)
		rc = kiln_tar_end(s);
	if (rc == 0)
		rc = kiln_osink_close(s, m->layer_hex, m->diff_hex, &m->layer_size);
	if (s)
		kiln_osink_free(s);
	return rc;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char d[32];

	EVP_Digest(data, len, d, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void rfc3339(int64_t epoch, char out[32])
{
	time_t t = (time_t)epoch;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int set_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, json_string(v));
}

static void pcr_hex(const uint8_t *p, char out[97])
{
	for (int i = 0; i < KILN_SHA384_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* KILN_ANN_STORAGE: kiln.yaml's storage paths, comma-separated (none: no label). */
static int storage_label(json_t *labels, int fd, const struct eif_info *info)
{
	json_t *md = eif_read_metadata(fd, info), *v;
	char paths[4096] = "";
	size_t i, o = 0;
	int rc = 0;

	json_array_foreach(json_object_get(json_object_get(md, "KilnConfig"), "storage"), i, v) {
		const char *p = json_string_value(json_object_get(v, "path"));
		int n = p ? snprintf(paths + o, sizeof(paths) - o, "%s%s", o ? "," : "", p) : 0;

		if (n < 0 || (size_t)n >= sizeof(paths) - o) {
			rc = kiln_err(E2BIG, "storage paths: over %zu bytes for the %s label",
				      sizeof(paths), KILN_ANN_STORAGE);
			break;
		}
		o += (size_t)n;
	}
	json_decref(md);
	if (rc == 0 && o && set_str(labels, KILN_ANN_STORAGE, paths))
		rc = kiln_err(ENOMEM, "out of memory");
	return rc;
}

/* The labels/annotations: PCRs, the memory the EIF needs, its default CPUs, storage paths. */
static int make_labels(struct img *m)
{
	_cleanup_close_ int fd = open(m->o->eif_path, O_RDONLY | O_CLOEXEC);
	struct eif_info info;
	char h[97], n[32];
	uint64_t min_mib, mib;
	int rc;

	if (fd < 0)
		return kiln_err(errno, "EIF %s: %s", m->o->eif_path, strerror(errno));
	rc = eif_read_layout(fd, &info);
	if (rc < 0)
		return kiln_err_wrap(rc, "EIF %s", m->o->eif_path);
	/* kiln run: memory >= 4 x the EIF's size, in 2 MiB steps */
	min_mib = (4 * info.file_size + (1 << 20) - 1) >> 20;
	min_mib += min_mib & 1;
	mib = info.default_mem >> 20;
	mib = mib + (mib & 1) < min_mib ? min_mib : mib + (mib & 1);
	m->labels = json_object();
	rc = m->labels ? 0 : -ENOMEM;
	pcr_hex(m->o->pcrs->pcr0, h);
	rc |= set_str(m->labels, KILN_ANN_PREFIX "pcr0", h);
	pcr_hex(m->o->pcrs->pcr1, h);
	rc |= set_str(m->labels, KILN_ANN_PREFIX "pcr1", h);
	pcr_hex(m->o->pcrs->pcr2, h);
	rc |= set_str(m->labels, KILN_ANN_PREFIX "pcr2", h);
	if (m->o->pcrs->has_pcr8) {
		pcr_hex(m->o->pcrs->pcr8, h);
		rc |= set_str(m->labels, KILN_ANN_PREFIX "pcr8", h);
	}
	snprintf(n, sizeof(n), "%lluMi", (unsigned long long)mib);
	rc |= set_str(m->labels, KILN_ANN_MEMORY, n);
	snprintf(n, sizeof(n), "%lluMi", (unsigned long long)min_mib);
	rc |= set_str(m->labels, KILN_ANN_MIN_MEMORY, n);
	snprintf(n, sizeof(n), "%llu", (unsigned long long)info.default_cpus);
	rc |= set_str(m->labels, KILN_ANN_CPUS, n);
	rfc3339(m->o->epoch, n);
	rc |= set_str(m->labels, "org.opencontainers.image.created", n);
	if (rc)
		return kiln_err(ENOMEM, "out of memory");
	return storage_label(m->labels, fd, &info);
}

#if defined(__aarch64__)
#define IMG_ARCH "arm64"
#else
#define IMG_ARCH "amd64"
#endif

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	return s;
}

static int make_config(struct img *m)
{
	char created[32], diff[80];

	rfc3339(m->o->epoch, created);
	snprintf(diff, sizeof(diff), "sha256:%s", m->diff_hex);
	m->config = dump(json_pack(
		"{s:s,s:s,s:s,s:{s:[ss],s:[ss],s:O,s:s,s:s},s:{s:s,s:[s]},s:[{s:s,s:s}]}",
		"architecture", IMG_ARCH, "os", "linux", "created", created,
		"config", "Entrypoint", KILN_IMG_KILN, "launch",
		"Env", "PATH=/kiln/bin:/usr/bin:/bin", "KILN_EIF=" KILN_IMG_EIF,
		"Labels", m->labels, "StopSignal", "SIGTERM", "WorkingDir", "/",
		"rootfs", "type", "layers", "diff_ids", diff,
		"history", "created", created, "created_by", "kiln build --output-image"));
	if (!m->config)
		return kiln_err(ENOMEM, "image config: out of memory");
	m->config_size = strlen(m->config);
	sha256_hex(m->config, m->config_size, m->config_hex);
	return 0;
}

static int make_manifest(struct img *m)
{
	char cfg[80], layer[80];

	snprintf(cfg, sizeof(cfg), "sha256:%s", m->config_hex);
	snprintf(layer, sizeof(layer), "sha256:%s", m->layer_hex);
	m->manifest = dump(json_pack(
		"{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}],s:O}", "schemaVersion", 2,
		"mediaType", MT_MANIFEST, "config", "mediaType", MT_CONFIG, "digest", cfg, "size",
		(json_int_t)m->config_size, "layers", "mediaType", MT_LAYER, "digest", layer,
		"size", (json_int_t)m->layer_size, "annotations", m->labels));
	if (!m->manifest)
		return kiln_err(ENOMEM, "image manifest: out of memory");
	m->manifest_size = strlen(m->manifest);
	sha256_hex(m->manifest, m->manifest_size, m->manifest_hex);
	return 0;
}

/* ---- oci:DIR[:TAG] ---- */

static int write_file(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX + 8];
	_cleanup_close_ int fd = -1;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return kiln_err(errno, "%s: %s", tmp, strerror(errno));
	rc = kiln_write_all(fd, data, len, -1, path);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = kiln_err(errno, "rename %s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

static int mkdirs(const char *dir)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s", dir);
	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return kiln_err(errno, "mkdir %s: %s", p, strerror(errno));
		if (!s)
			return 0;
		*s = '/';
	}
}

static int oci_index(struct img *m, const char *dir, const char *tag)
{
	_cleanup_free_ char *idx = NULL;
	char path[PATH_MAX + 16], digest[80];
	json_t *ann = json_deep_copy(m->labels);

	json_object_set_new(ann, "org.opencontainers.image.ref.name", json_string(tag));
	snprintf(digest, sizeof(digest), "sha256:%s", m->manifest_hex);
	idx = dump(json_pack("{s:i,s:s,s:[{s:s,s:s,s:I,s:o,s:{s:s,s:s}}]}", "schemaVersion", 2,
			     "mediaType", "application/vnd.oci.image.index.v1+json", "manifests",
			     "mediaType", MT_MANIFEST, "digest", digest, "size",
			     (json_int_t)m->manifest_size, "annotations", ann, "platform",
			     "architecture", IMG_ARCH, "os", "linux"));
	if (!idx)
		return kiln_err(ENOMEM, "index.json: out of memory");
	snprintf(path, sizeof(path), "%s/index.json", dir);
	return write_file(path, idx, strlen(idx));
}

static int write_oci(struct img *m, const char *spec)
{
	char dir[PATH_MAX], blobs[PATH_MAX + 16], path[PATH_MAX + 96];
	const char *colon = strchr(spec, ':');
	_cleanup_close_ int fd = -1;
	int rc;

	snprintf(dir, sizeof(dir), "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
	snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", dir);
	rc = mkdirs(blobs);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/layer.tmp", blobs);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return kiln_err(errno, "%s: %s", path, strerror(errno));
	rc = write_layer(m, fd);
	if (rc == 0) {
		char final[PATH_MAX + 96];

		snprintf(final, sizeof(final), "%s/%s", blobs, m->layer_hex);
		rc = rename(path, final) < 0 ? kiln_err(errno, "rename: %s", strerror(errno)) : 0;
	}
	if (rc < 0) {
		unlink(path);
		return rc;
	}
	rc = make_config(m);
	if (rc == 0)
		rc = make_manifest(m);
	snprintf(path, sizeof(path), "%s/%s", blobs, m->config_hex);
	if (rc == 0)
		rc = write_file(path, m->config, m->config_size);
	snprintf(path, sizeof(path), "%s/%s", blobs, m->manifest_hex);
	if (rc == 0)
		rc = write_file(path, m->manifest, m->manifest_size);
	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	if (rc == 0)
		rc = write_file(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	return rc < 0 ? rc : oci_index(m, dir, colon && colon[1] ? colon + 1 : "latest");
}

/* ---- docker-archive:FILE ---- */

static int archive_members(struct img *m, struct kiln_osink *s, int layer_fd)
{
	_cleanup_free_ char *mf = NULL;
	char cfg[80], layer[80], tag[512];
	int rc;

	snprintf(cfg, sizeof(cfg), "%s.json", m->config_hex);
	snprintf(layer, sizeof(layer), "%s.tar.gz", m->layer_hex);
	snprintf(tag, sizeof(tag), "%s%s", m->o->name ? m->o->name : "kiln-enclave",
		 m->o->name && strchr(m->o->name, ':') ? "" : ":latest");
	mf = dump(json_pack("[{s:s,s:[s],s:[s]}]", "Config", cfg, "RepoTags", tag, "Layers", layer));
	if (!mf)
		return kiln_err(ENOMEM, "manifest.json: out of memory");
	/* sorted by name: hex digests, then manifest.json */
	if (strcmp(cfg, layer) < 0) {
		rc = kiln_tar_file_mem(s, cfg, 0644, m->o->epoch, m->config, m->config_size);
		if (rc == 0)
			rc = kiln_tar_file_fd(s, layer, 0644, m->o->epoch, layer_fd);
	} else {
		rc = kiln_tar_file_fd(s, layer, 0644, m->o->epoch, layer_fd);
		if (rc == 0)
			rc = kiln_tar_file_mem(s, cfg, 0644, m->o->epoch, m->config,
					       m->config_size);
	}
	if (rc == 0)
		rc = kiln_tar_file_mem(s, "manifest.json", 0644, m->o->epoch, mf, strlen(mf));
	return rc < 0 ? rc : kiln_tar_end(s);
}

static int write_archive(struct img *m, const char *file)
{
	char tmp[PATH_MAX + 16], hex[65];
	_cleanup_close_ int lfd = -1, fd = -1;
	struct kiln_osink *s = NULL;
	uint64_t size;
	int rc;

	/* the layer first, unnamed, to know its digest and size */
	{
		const char *slash = strrchr(file, '/');

		snprintf(tmp, sizeof(tmp), "%.*s", slash ? (int)(slash - file) + 1 : 1,
			 slash ? file : ".");
	}
	lfd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (lfd < 0)
		return kiln_err(errno, "temporary file in %s: %s", tmp, strerror(errno));
	rc = write_layer(m, lfd);
	if (rc == 0)
		rc = make_config(m);
	if (rc == 0)
		rc = make_manifest(m);
	if (rc == 0 && lseek(lfd, 0, SEEK_SET) < 0)
		rc = kiln_err(errno, "lseek: %s", strerror(errno));
	if (rc < 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return kiln_err(errno, "%s: %s", tmp, strerror(errno));
	rc = kiln_osink_open(fd, 0, &s);
	if (rc == 0)
		rc = archive_members(m, s, lfd);
	if (rc == 0)
		rc = kiln_osink_close(s, hex, NULL, &size);
	kiln_osink_free(s);
	if (rc == 0 && rename(tmp, file) < 0)
		rc = kiln_err(errno, "rename %s: %s", file, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int kiln_oci_write(const struct kiln_oci_out *o)
{
	struct img m = { .o = o };
	int rc;

	m.e = calloc(MAX_ENTRIES, sizeof(*m.e));
	if (!m.e)
		return kiln_err(ENOMEM, "out of memory");
	rc = add_files(&m);
	if (rc == 0)
		rc = make_labels(&m);
	if (rc == 0 && !strncmp(o->dest, "oci:", 4))
		rc = write_oci(&m, o->dest + 4);
	else if (rc == 0 && !strncmp(o->dest, "docker-archive:", 15))
		rc = write_archive(&m, o->dest + 15);
	else if (rc == 0)
		rc = kiln_err(EINVAL, "--output-image %s: want docker-archive:FILE or oci:DIR[:TAG]",
			      o->dest);
	json_decref(m.labels);
	free(m.config);
	free(m.manifest);
	free(m.e);
	return rc;
}
