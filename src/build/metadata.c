/* SPDX-License-Identifier: Apache-2.0 */
/* The EIF metadata section: nitro-cli's fields, deterministic values. */
#include "build/internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config/config.h"

#define CUSTOM_METADATA_MAX (1 << 20)

static json_t *docker_info(const struct kiln_image_config *ic)
{
	json_t *cfg = ic->config_json ? json_loads(ic->config_json, 0, NULL) : NULL;

	return json_pack("{s:s?, s:s?, s:s?, s:o}", "Id", ic->digest, "Created", ic->created,
			 "Architecture", ic->architecture, "Config", cfg ? cfg : json_object());
}

static int custom_metadata(const char *path, json_t **out)
{
	json_error_t e;

	*out = NULL;
	if (!path)
		return 0;
	*out = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (!*out)
		return kiln_err(EINVAL, "--metadata %s:%d: %s", path, e.line, e.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		return kiln_err(EINVAL, "--metadata %s: expected a JSON object", path);
	}
	return 0;
}

/*
 * BuildTime comes from the build epoch (SOURCE_DATE_EPOCH or the image's
 * creation time), never the clock, and no host facts are recorded, so the
 * same inputs give the same bytes on any machine.
 */
int kiln_build_metadata(const struct kiln_build_opts *o, const json_t *cfg,
			const struct kiln_image_config *ic, const struct kiln_boot_parts *p,
			uint64_t epoch, char **out)
{
	const char *name = o->name ? o->name : json_string_value(json_object_get(cfg, "name"));
	char when[32];
	time_t t = (time_t)epoch;
	struct tm tm;
	json_t *custom, *md;
	int rc = custom_metadata(o->metadata, &custom);

	if (rc < 0)
		return rc;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/*
	 * KilnConfig and KilnExposedPorts repeat the measured config for the
	 * parent's use (kiln run publishes network.ingress host ports from it and
	 * refuses a -p the enclave would not admit); the metadata is not
	 * measured, so the enclave never trusts it.
	 */
	md = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:o, s:o, s:O, s:o}",
		       "ImageName", name, "ImageVersion", o->version ? o->version : "latest", "BuildMetadata",
		       "BuildTime", when, "BuildTool", "kiln", "BuildToolVersion", KILN_VERSION,
		       "OperatingSystem", "Linux", "KernelVersion", p->kernel_version,
		       "DockerInfo", docker_info(ic), "CustomMetadata",
		       custom ? custom : json_object(), "KilnConfig", cfg, "KilnExposedPorts",
		       kiln_exposed_ports(ic));
	if (!md)
		return kiln_err(ENOMEM, "cannot build the metadata");
	*out = kiln_json_canonical(md);
	json_decref(md);
	return *out ? 0 : kiln_err(ENOMEM, "out of memory");
}
