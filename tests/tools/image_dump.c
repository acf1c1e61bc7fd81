/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: print an image's flattened tree, one line per path, and its config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "image/image.h"

/*
 * Output, in kiln_image_foreach order:
 *   d MODE UID GID 0 PATH
 *   f MODE UID GID SIZE PATH SHA256HEX [link=GROUP/NLINK] [data]
 *   l MODE UID GID 0 PATH -> TARGET
 *   c|b MODE UID GID 0 PATH MAJOR,MINOR   (char and block devices)
 *   p MODE UID GID 0 PATH                 (fifos)
 * plus "x PATH NAME=HEX" per xattr. With --config, the config instead.
 */

static int sink(const void *buf, size_t len, void *arg)
{
	return EVP_DigestUpdate(arg, buf, len) ? 0 : -EIO;
}

static int file_hash(struct kiln_image *img, const struct kiln_fs_entry *e, char hex[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char out[32];
	int rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) ? 0 : -ENOMEM;

	if (rc == 0)
		rc = kiln_image_read(img, e, sink, md);
	if (rc == 0 && !EVP_DigestFinal_ex(md, out, NULL))
		rc = -EIO;
	for (int i = 0; rc == 0 && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
	EVP_MD_CTX_free(md);
	return rc;
}

static void print_xattrs(const struct kiln_fs_entry *e)
{
	for (size_t i = 0; i < e->n_xattrs; i++) {
		printf("x %s %s=", e->path, e->xattrs[i].name);
		for (size_t j = 0; j < e->xattrs[i].len; j++)
			printf("%02x", e->xattrs[i].value[j]);
		printf("\n");
	}
}

static int print_entry(const struct kiln_fs_entry *e, void *arg)
{
	char hex[65];
	char type = S_ISDIR(e->mode) ? 'd' : S_ISLNK(e->mode) ? 'l' : S_ISCHR(e->mode) ? 'c'
		  : S_ISBLK(e->mode) ? 'b' : S_ISFIFO(e->mode) ? 'p' : 'f';
	int rc;

	printf("%c %04o %u %u %llu %s", type, e->mode & 07777, e->uid, e->gid,
	       (unsigned long long)e->size, e->path);
	if (S_ISLNK(e->mode))
		printf(" -> %s", e->link_target);
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
		printf(" %u,%u", e->rdev_major, e->rdev_minor);
	if (S_ISREG(e->mode)) {
		rc = file_hash(arg, e, hex);
		if (rc < 0)
			return rc;
		printf(" %s", hex);
		if (e->link_group)
			printf(" link=%llu/%u", (unsigned long long)e->link_group, e->nlink);
		if (e->data_here)
			printf(" data");
	}
	printf("\n");
	print_xattrs(e);
	return 0;
}

static void print_strv(const char *key, char **v)
{
	printf("%s:", key);
	for (size_t i = 0; v && v[i]; i++)
		printf(" [%s]", v[i]);
	printf("%s\n", v ? "" : " (none)");
}

static void print_config(const struct kiln_image_config *c)
{
	print_strv("entrypoint", c->entrypoint);
	print_strv("cmd", c->cmd);
	print_strv("env", c->env);
	printf("working_dir: %s\nuser: %s\ncreated: %s\narchitecture: %s\n",
	       c->working_dir ? c->working_dir : "(none)", c->user ? c->user : "(none)",
	       c->created ? c->created : "(none)", c->architecture ? c->architecture : "(none)");
	printf("config_json: %s\ndigest: %s\n", c->config_json, c->digest);
}

int main(int argc, char **argv)
{
	bool config = argc > 1 && strcmp(argv[1], "--config") == 0;
	struct kiln_image *img;
	int rc;

	if (argc < 2 + config) {
		fprintf(stderr, "usage: image_dump [--config] REF [TMPDIR]\n");
		return 2;
	}
	rc = kiln_image_open(argv[1 + config], argv[2 + config], &img);
	if (rc < 0) {
		fprintf(stderr, "image_dump: %s\n", kiln_errmsg());
		return 1;
	}
	if (config)
		print_config(kiln_image_config(img));
	else
		rc = kiln_image_foreach(img, print_entry, img);
	if (rc < 0)
		fprintf(stderr, "image_dump: %s\n", kiln_errmsg());
	fprintf(stderr, "image_dump: %u warnings\n", kiln_image_warnings(img));
	kiln_image_free(img);
	return rc < 0 ? 1 : 0;
}
