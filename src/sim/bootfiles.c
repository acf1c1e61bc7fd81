/* SPDX-License-Identifier: Apache-2.0 */
/* The ramdisk's cmd and env files, parsed as AWS's bootstrap init reads them. */
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

/* Copy buf into a NUL-separated vector of its lines ('\n' ends a line). */
static int split(const char *buf, size_t len, struct kiln_sim_lines *out)
{
	size_t lines = 1;

	memset(out, 0, sizeof(*out));
	if (len > KILN_SIM_FILE_MAX)
		return kiln_err(EFBIG, "%zu bytes, limit %d", len, KILN_SIM_FILE_MAX);
	if (memchr(buf, '\0', len))
		return kiln_err(EINVAL, "contains a NUL byte");
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	if (lines > KILN_SIM_LINES_MAX + 1)
		return kiln_err(E2BIG, "more than %d lines", KILN_SIM_LINES_MAX);
	out->buf = malloc(len + 1);
	out->v = calloc(lines + 1, sizeof(char *));
	if (!out->buf || !out->v) {
		kiln_sim_lines_free(out);
		return kiln_err(ENOMEM, "out of memory");
	}
	memcpy(out->buf, buf, len);
	out->buf[len] = '\0';
	for (char *p = out->buf; p < out->buf + len;) {
		char *nl = memchr(p, '\n', (size_t)(out->buf + len - p));

		if (nl)
			*nl = '\0';
		out->v[out->n++] = p;
		p = nl ? nl + 1 : out->buf + len;
	}
	return 0;
}

int kiln_sim_parse_cmd(const char *buf, size_t len, struct kiln_sim_lines *out)
{
	int rc = split(buf, len, out);

	if (rc < 0)
		return kiln_err_wrap(rc, "cmd");
	if (out->n == 0 || out->v[0][0] == '\0') {
		kiln_sim_lines_free(out);
		return kiln_err(EINVAL, "cmd: no command (first line empty)");
	}
	return 0;
}

int kiln_sim_parse_env(const char *buf, size_t len, struct kiln_sim_lines *out)
{
	size_t keep = 0;
	int rc = split(buf, len, out);

	if (rc < 0)
		return kiln_err_wrap(rc, "env");
	for (size_t i = 0; i < out->n; i++) {
		const char *eq = strchr(out->v[i], '=');

		if (out->v[i][0] == '\0')
			continue;
		if (!eq || eq == out->v[i]) {
			kiln_sim_lines_free(out);
			return kiln_err(EINVAL, "env: line %zu is not NAME=VALUE", i + 1);
		}
		out->v[keep++] = out->v[i];
	}
	out->n = keep;
	out->v[keep] = NULL;
	return 0;
}

static ssize_t find(const struct kiln_sim_lines *env, const char *entry)
{
	size_t klen = strcspn(entry, "=");

	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], entry, klen) && env->v[i][klen] == '=')
			return (ssize_t)i;
	return -1;
}

/* Entries added after parsing are not copied: the caller keeps them alive. */
static int append(struct kiln_sim_lines *env, const char *entry)
{
	char **v = realloc(env->v, (env->n + 2) * sizeof(char *));

	if (!v)
		return kiln_err(ENOMEM, "out of memory");
	env->v = v;
	v[env->n] = (char *)entry;
	v[++env->n] = NULL;
	return 0;
}

int kiln_sim_env_set(struct kiln_sim_lines *env, const char *entry)
{
	ssize_t i = find(env, entry);

	if (!strchr(entry, '=') || entry[0] == '=')
		return kiln_err(EINVAL, "env entry \"%s\" is not NAME=VALUE", entry);
	if (i < 0)
		return append(env, entry);
	env->v[i] = (char *)entry;
	return 0;
}

int kiln_sim_env_default(struct kiln_sim_lines *env, const char *entry)
{
	return find(env, entry) < 0 ? kiln_sim_env_set(env, entry) : 0;
}

void kiln_sim_lines_free(struct kiln_sim_lines *l)
{
	free(l->buf);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
