/* SPDX-License-Identifier: Apache-2.0 */
/* kiln build: the steps from image and config to a committed EIF. */
#include "build/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "util/cleanup.h"

/* SOURCE_DATE_EPOCH, else the image's creation time, else 0. */
static int build_epoch(const struct kiln_image_config *ic, uint64_t *epoch)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	struct tm tm = { 0 };
	char *end;

	*epoch = 0;
	if (s && *s) {
		errno = 0;
		unsigned long long v = strtoull(s, &end, 10);

		if (errno || *end || v > UINT32_MAX)
			return kiln_err(EINVAL, "SOURCE_DATE_EPOCH=%s: expected seconds since 1970 "
					"(below 2^32)", s);
		*epoch = v;
		return 0;
	}
	if (ic->created && strptime(ic->created, "%Y-%m-%dT%H:%M:%S", &tm)) {
		time_t t = timegm(&tm);

		*epoch = t > 0 && (uint64_t)t <= UINT32_MAX ? (uint64_t)t : 0;
	}
	return 0;
}

static char *env_file_text(const json_t *app_cfg)
{
	json_t *env = json_object_get(app_cfg, "env"), *v;
	size_t len = 1, i;
	char *s, *p;

	json_array_foreach(env, i, v)
		len += strlen(json_string_value(v)) + 1;
	p = s = malloc(len);
	if (!s)
		return NULL;
	json_array_foreach(env, i, v) {
		/* /env is line-based: a value with a newline cannot be carried there. */
		if (strchr(json_string_value(v), '\n'))
			continue;
		p = stpcpy(p, json_string_value(v));
		*p++ = '\n';
	}
	*p = '\0';
	return s;
}

struct build_state {
	const struct kiln_build_opts *o;
	json_t *cfg;
	json_t *app_cfg;
	struct kiln_boot_parts parts;
	char *kiln_init;
	struct kiln_image *img;
	char *metadata;
	char *config_json;
	char *env_file;
	uint64_t epoch;
};

static int prepare(struct build_state *s)
{
	const struct kiln_build_opts *o = s->o;
	const char *ref;
	int rc;

	rc = o->config ? kiln_config_load(o->config, &s->cfg) : 0;
	if (rc < 0)
		return rc;
	if (!s->cfg)
		s->cfg = kiln_config_default();
	ref = o->image ? o->image : json_string_value(json_object_get(s->cfg, "image"));
	if (!ref)
		return kiln_err(EINVAL, "no image: give IMAGE or set image: in kiln.yaml");
	rc = kiln_boot_parts_resolve(o, &s->parts);
	if (rc == 0)
		rc = kiln_find_helper(o->kiln_init, "kiln-init", &s->kiln_init);
	if (rc == 0)
		rc = kiln_image_open_deferred(ref, o->tmpdir, &s->img); /* checked in write_eif */
	if (rc == 0)
		rc = kiln_warn_hidden_paths(s->img);
	if (rc < 0)
		return rc;
	rc = kiln_app_config(s->cfg, kiln_image_config(s->img), &s->app_cfg);
	if (rc == 0)
		rc = build_epoch(kiln_image_config(s->img), &s->epoch);
	if (rc == 0)
		rc = kiln_build_metadata(o, s->cfg, kiln_image_config(s->img), &s->parts, s->epoch,
					 &s->metadata);
	if (rc < 0)
		return rc;
	s->config_json = kiln_json_canonical(s->app_cfg);
	s->env_file = env_file_text(s->app_cfg);
	return s->config_json && s->env_file ? 0 : kiln_err(ENOMEM, "out of memory");
}

static int write_eif(struct build_state *s, struct eif_writer *w)
{
	struct kiln_ramdisk1 r1 = { .img = s->img, .config_json = s->config_json,
				    .kiln_init = s->kiln_init, .env_file = s->env_file,
				    .mtime = (uint32_t)s->epoch };
	int rc = eif_writer_begin(w, EIF_SECTION_KERNEL);

	if (rc == 0)
		rc = kiln_copy_file_to_section(w, s->parts.kernel);
	if (rc == 0)
		rc = eif_writer_end(w);
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_CMDLINE, s->parts.cmdline,
					strlen(s->parts.cmdline));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_METADATA, s->metadata, strlen(s->metadata));
	if (rc == 0)
		rc = kiln_write_ramdisk0(w, &s->parts, (uint32_t)s->epoch);
	if (rc == 0)
		rc = kiln_write_ramdisk1(w, &r1);
	/* The layers' digests were computing while the EIF was written: nothing is signed or
	 * published unless they match and the files read in place did not change since. */
	if (rc == 0)
		rc = kiln_image_verify(s->img);
	if (rc == 0)
		rc = kiln_image_check_unchanged(s->img);
	if (rc == 0 && s->o->signing_key)
		rc = eif_writer_sign(w, s->o->signing_key, s->o->signing_cert);
	return rc;
}

static void build_state_free(struct build_state *s)
{
	json_decref(s->cfg);
	json_decref(s->app_cfg);
	kiln_boot_parts_free(&s->parts);
	free(s->kiln_init);
	kiln_image_free(s->img);
	free(s->metadata);
	free(s->config_json);
	free(s->env_file);
}

int kiln_build(const struct kiln_build_opts *o, struct eif_pcrs *pcrs)
{
	struct build_state s = { .o = o };
	_cleanup_eif_writer_ struct eif_writer *w = NULL;
	const json_t *res;
	int rc;

	if (!o->output)
		return kiln_err(EINVAL, "no output: pass -o FILE.eif");
	if (!o->signing_key != !o->signing_cert)
		return kiln_err(EINVAL, "--signing-key and --signing-certificate go together");
	rc = prepare(&s);
	if (rc == 0)
		rc = eif_writer_open(o->output, &w);
	if (rc == 0)
		rc = write_eif(&s, w);
	if (rc == 0) {
		res = json_object_get(s.cfg, "resources");
		rc = eif_writer_commit(
			w, (uint64_t)json_integer_value(json_object_get(res, "memory_mib")) << 20,
			(uint64_t)json_integer_value(json_object_get(res, "cpus")), 0, pcrs);
	}
	build_state_free(&s);
	return rc;
}
