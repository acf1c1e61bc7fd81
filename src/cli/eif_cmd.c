/* SPDX-License-Identifier: Apache-2.0 */
/* kiln describe-eif and kiln pcr: inspect an EIF without trusting it. */
#include <fcntl.h>
#include <jansson.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "eif/eif.h"
#include "eif/sign.h"
#include "util/cleanup.h"

#define METADATA_MAX (16u << 20)

static const char *section_name(uint16_t type)
{
	switch (type) {
	case EIF_SECTION_KERNEL: return "kernel";
	case EIF_SECTION_CMDLINE: return "cmdline";
	case EIF_SECTION_RAMDISK: return "ramdisk";
	case EIF_SECTION_SIGNATURE: return "signature";
	case EIF_SECTION_METADATA: return "metadata";
	default: return "unknown";
	}
}

static int open_eif(const char *path, struct eif_info *info, struct eif_pcrs *pcrs)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return kiln_err(errno, "%s: %s", path, strerror(errno));
	rc = eif_read_info(fd, info, pcrs);
	if (rc < 0) {
		close(fd);
		return kiln_err_wrap(rc, "%s", path);
	}
	return fd;
}

static json_t *sections_json(const struct eif_info *info)
{
	json_t *arr = json_array();

	for (unsigned i = 0; i < info->num_sections; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "Type",
						     section_name(info->sections[i].type), "Offset",
						     (json_int_t)info->sections[i].offset, "Size",
						     (json_int_t)info->sections[i].size));
	return arr;
}

/* The first section of a type as JSON (metadata) or a string (cmdline). */
static json_t *section_value(int fd, const struct eif_info *info, uint16_t type)
{
	for (unsigned i = 0; i < info->num_sections; i++) {
		_cleanup_free_ uint8_t *data = NULL;

		if (info->sections[i].type != type)
			continue;
		if (eif_read_section(fd, info, i, &data, METADATA_MAX) < 0)
			return json_null();
		if (type == EIF_SECTION_METADATA) {
			json_t *md = json_loadb((char *)data, info->sections[i].size, 0, NULL);

			return md ? md : json_string("(metadata is not valid JSON)");
		}
		return json_stringn((char *)data, info->sections[i].size);
	}
	return json_null();
}

static json_t *signature_json(int fd, const struct eif_info *info, const struct eif_pcrs *pcrs)
{
	X509 *cert = NULL;
	char subject[256] = "";
	json_t *j;

	if (!pcrs->has_pcr8)
		return json_pack("{s:b}", "Signed", 0);
	if (eif_verify_signature(fd, info, pcrs, &cert) < 0)
		return json_pack("{s:b, s:b, s:s}", "Signed", 1, "Valid", 0, "Error",
				 kiln_errmsg());
	X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	j = json_pack("{s:b, s:b, s:s}", "Signed", 1, "Valid", 1, "Subject", subject);
	X509_free(cert);
	return j;
}

static json_t *measurements(const struct eif_pcrs *pcrs)
{
	char *s = eif_measurements_json(pcrs);
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;

	free(s);
	return j ? json_incref(json_object_get(j, "Measurements")) : json_null();
}

int kiln_cmd_describe_eif(int argc, char **argv)
{
	struct eif_info info;
	struct eif_pcrs pcrs;
	_cleanup_close_ int fd = -1;
	json_t *out, *m;

	if (argc != 2 || argv[1][0] == '-') {
		fputs("usage: kiln describe-eif FILE\n", argc == 2 ? stdout : stderr);
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	fd = open_eif(argv[1], &info, &pcrs);
	if (fd < 0)
		return kiln_cli_fail("describe-eif");
	m = measurements(&pcrs);
	out = json_pack("{s:i, s:s, s:I, s:I, s:o, s:s, s:o, s:o, s:o, s:o}",
			"EifVersion", info.version,
			"Arch", info.flags & EIF_FLAG_ARM64 ? "aarch64" : "x86_64",
			"DefaultMemory", (json_int_t)info.default_mem,
			"DefaultCpus", (json_int_t)info.default_cpus,
			"Sections", sections_json(&info),
			"CheckCRC", "ok",
			"Measurements", m,
			"Signature", signature_json(fd, &info, &pcrs),
			"Cmdline", section_value(fd, &info, EIF_SECTION_CMDLINE),
			"Metadata", section_value(fd, &info, EIF_SECTION_METADATA));
	if (!out)
		return kiln_cli_fail("describe-eif");
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(out);
	return 0;
}

int kiln_cmd_pcr(int argc, char **argv)
{
	struct eif_info info;
	struct eif_pcrs pcrs;
	_cleanup_close_ int fd = -1;
	char *s;

	if (argc != 2 || argv[1][0] == '-') {
		fputs("usage: kiln pcr FILE\n", argc == 2 ? stdout : stderr);
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	fd = open_eif(argv[1], &info, &pcrs);
	if (fd < 0)
		return kiln_cli_fail("pcr");
	s = eif_measurements_json(&pcrs);
	if (!s)
		return 1;
	printf("%s\n", s);
	free(s);
	return 0;
}
