/* SPDX-License-Identifier: Apache-2.0 */
/* Choose the EIF kernel, cmdline and bootstrap: AWS blobs, flags, or fallback. */
#include "build/internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *path_join(const char *dir, const char *name)
{
	char *s = NULL;

	if (asprintf(&s, "%s/%s", dir, name) < 0)
		return NULL;
	return s;
}

/* Read a small text file, trailing whitespace removed. */
static int read_text(const char *path, size_t max, char **out)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	size_t n;

	if (!f)
		return kiln_err(errno, "%s: %s", path, strerror(errno));
	buf = malloc(max + 1);
	if (!buf)
		return kiln_err(ENOMEM, "out of memory");
	n = fread(buf, 1, max + 1, f);
	if (n > max)
		return kiln_err(EFBIG, "%s: longer than %zu bytes", path, max);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	*out = KILN_STEAL_PTR(buf);
	return 0;
}

int kiln_self_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n < 0)
		return kiln_err(errno, "cannot find the kiln executable: %s", strerror(errno));
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	return 0;
}

/* kiln-bootstrap beside kiln (build tree) or in /usr/lib/kiln (installed). */
int kiln_find_helper(const char *given, const char *name, char **out)
{
	char dir[PATH_MAX];
	char *p;
	int rc;

	if (given) {
		if (!is_file(given))
			return kiln_err(ENOENT, "%s: not found", given);
		*out = strdup(given);
		return *out ? 0 : kiln_err(ENOMEM, "out of memory");
	}
	rc = kiln_self_dir(dir, sizeof(dir));
	if (rc < 0)
		return rc;
	p = path_join(dir, name);
	if (p && is_file(p)) {
		*out = p;
		return 0;
	}
	free(p);
	p = path_join("/usr/lib/kiln", name);
	if (p && is_file(p)) {
		*out = p;
		return 0;
	}
	free(p);
	return kiln_err(ENOENT, "%s not found beside kiln or in /usr/lib/kiln (pass --%s)", name,
			!strcmp(name, "kiln-init") ? "kiln-init" : "bootstrap");
}

/* "6.1.0-56-cloud-amd64" from a bzImage's setup header (offset 0x20e). */
static char *bzimage_version(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "rb");
	unsigned char hdr[0x210];
	char ver[128];
	unsigned off;

	if (!f || fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr))
		return NULL;
	if (memcmp(hdr + 0x202, "HdrS", 4))
		return NULL;
	off = (unsigned)(hdr[0x20e] | hdr[0x20f] << 8) + 0x200;
	if (fseek(f, off, SEEK_SET) || !fgets(ver, sizeof(ver), f))
		return NULL;
	ver[strcspn(ver, " ")] = '\0';
	return strdup(ver);
}

static int from_blobs(const struct kiln_build_opts *o, const char *dir, struct kiln_boot_parts *p)
{
	_cleanup_free_ char *cmdline_path = path_join(dir, "cmdline");
	int rc;

	p->aws = true;
	p->kernel = path_join(dir, "bzImage");
	p->init = path_join(dir, "init");
	p->nsm_ko = path_join(dir, "nsm.ko");
	if (!p->kernel || !p->init || !p->nsm_ko || !cmdline_path)
		return kiln_err(ENOMEM, "out of memory");
	if (!is_file(p->kernel) || !is_file(p->init) || !is_file(p->nsm_ko))
		return kiln_err(ENOENT, "%s: AWS blobs directory lacks bzImage, init or nsm.ko", dir);
	rc = read_text(cmdline_path, 4096, &p->cmdline);
	return rc;
}

static int from_fallback(const struct kiln_build_opts *o, struct kiln_boot_parts *p)
{
	const char *dir = getenv("KILN_KERNEL_DIR");
	int rc;

	if (!dir)
		dir = KILN_DEFAULT_KERNEL_DIR;
	p->kernel = path_join(dir, "vmlinuz");
	if (!p->kernel)
		return kiln_err(ENOMEM, "out of memory");
	if (!is_file(p->kernel))
		return kiln_err(ENOENT,
				"no kernel: no AWS blobs (%s), no --kernel, and no fallback kernel "
				"at %s (run scripts/deps)",
				o->blobs ? o->blobs : KILN_DEFAULT_BLOBS, p->kernel);
	rc = kiln_find_helper(o->bootstrap, "kiln-bootstrap", &p->init);
	if (rc < 0)
		return rc;
	p->cmdline = strdup(KILN_AWS_CMDLINE_X86);
	if (!o->quiet)
		fprintf(stderr,
			"kiln: note: no AWS blobs in %s, using the fallback kernel %s: this EIF "
			"boots in sim and QEMU but not on Nitro, which needs the AWS enclave "
			"kernel (install aws-nitro-enclaves-cli or pass --blobs DIR)\n",
			o->blobs ? o->blobs : KILN_DEFAULT_BLOBS, p->kernel);
	return p->cmdline ? 0 : kiln_err(ENOMEM, "out of memory");
}

int kiln_boot_parts_resolve(const struct kiln_build_opts *o, struct kiln_boot_parts *p)
{
	const char *blobs = o->blobs ? o->blobs : KILN_DEFAULT_BLOBS;
	_cleanup_free_ char *probe = path_join(blobs, "bzImage");
	int rc;

	memset(p, 0, sizeof(*p));
	if (o->blobs || (probe && is_file(probe)))
		rc = from_blobs(o, blobs, p);
	else if (o->kernel)
		rc = kiln_find_helper(o->bootstrap, "kiln-bootstrap", &p->init);
	else
		rc = from_fallback(o, p);
	if (rc < 0)
		return rc;
	if (o->kernel) {
		free(p->kernel);
		p->kernel = strdup(o->kernel);
		if (!p->kernel || !is_file(p->kernel))
			return kiln_err(ENOENT, "--kernel %s: not found", o->kernel);
		p->aws = false;
	}
	if (o->cmdline || !p->cmdline) {
		free(p->cmdline);
		p->cmdline = strdup(o->cmdline ? o->cmdline : KILN_AWS_CMDLINE_X86);
	}
	p->kernel_version = bzimage_version(p->kernel);
	if (!p->kernel_version)
		p->kernel_version = strdup("unknown");
	return p->cmdline && p->kernel_version ? 0 : kiln_err(ENOMEM, "out of memory");
}

void kiln_boot_parts_free(struct kiln_boot_parts *p)
{
	free(p->kernel);
	free(p->cmdline);
	free(p->kernel_version);
	free(p->init);
	free(p->nsm_ko);
	memset(p, 0, sizeof(*p));
}
