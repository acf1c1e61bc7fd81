/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bootstrap's pure parsers: kernel cmdline flags, /env, /cmd, /proc/cgroups. */
#include "boot/parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * How this works: every parser takes (buf, len) and never reads outside it;
 * the input need not be NUL-terminated. Line parsers copy the input once,
 * turn each '\n' into a NUL and point v[] at the line starts, so the result
 * is one allocation for the bytes plus one for the pointers.
 */

typedef int (*line_check_fn)(const char *line, size_t len, size_t lineno);

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next token of the cmdline at *pos: [*start, *start + *tlen). */
static bool next_token(const char *s, size_t len, size_t *pos, size_t *start, size_t *tlen)
{
	size_t i = *pos;
	bool quoted = false;

	while (i < len && is_space(s[i]))
		i++;
	if (i >= len || s[i] == '\0')
		return false;
	*start = i;
	for (; i < len && s[i] != '\0'; i++) {
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && is_space(s[i]))
			break;
	}
	*tlen = i - *start;
	*pos = i;
	return true;
}

static int parse_bool_value(const char *v, size_t vlen, bool *out)
{
	static const char *const yes[] = { "1", "y", "yes", "on", "true" };
	static const char *const no[] = { "0", "n", "no", "off", "false" };

	if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
		v++;
		vlen -= 2;
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strlen(yes[i]) == vlen && strncasecmp(v, yes[i], vlen) == 0) {
			*out = true;
			return 0;
		}
		if (strlen(no[i]) == vlen && strncasecmp(v, no[i], vlen) == 0) {
			*out = false;
			return 0;
		}
	}
	return kiln_err(EINVAL, "not a boolean: \"%.*s\"", (int)(vlen > 64 ? 64 : vlen), v);
}

int boot_cmdline_bool(const char *cmdline, size_t len, const char *key, bool def, bool *out)
{
	size_t klen = strlen(key), pos = 0, start, tlen;
	bool val = def;
	int rc;

	while (next_token(cmdline, len, &pos, &start, &tlen)) {
		const char *t = cmdline + start;

		if (tlen == 2 && t[0] == '-' && t[1] == '-')
			break;
		if (tlen < klen || memcmp(t, key, klen) != 0)
			continue;
		if (tlen == klen) {
			val = true;
			continue;
		}
		if (t[klen] != '=')
			continue;
		rc = parse_bool_value(t + klen + 1, tlen - klen - 1, &val);
		if (rc < 0)
			return kiln_err_wrap(rc, "kernel parameter %s", key);
	}
	*out = val;
	return 0;
}

static int parse_u32_value(const char *v, size_t vlen, uint32_t min, uint32_t max,
			   uint32_t *out)
{
	uint64_t n = 0;

	if (vlen == 0 || vlen > 10 || (vlen > 1 && v[0] == '0'))
		return kiln_err(EINVAL, "not a number: \"%.*s\"", (int)(vlen > 64 ? 64 : vlen), v);
	for (size_t i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return kiln_err(EINVAL, "not a number: \"%.*s\"",
					(int)(vlen > 64 ? 64 : vlen), v);
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (n < min || n > max)
		return kiln_err(ERANGE, "%llu is not in [%u, %u]", (unsigned long long)n, min, max);
	*out = (uint32_t)n;
	return 0;
}

int boot_cmdline_u32(const char *cmdline, size_t len, const char *key, uint32_t def,
		     uint32_t min, uint32_t max, uint32_t *out)
{
	size_t klen = strlen(key), pos = 0, start, tlen;
	uint32_t val = def;
	int rc;

	while (next_token(cmdline, len, &pos, &start, &tlen)) {
		const char *t = cmdline + start;

		if (tlen == 2 && t[0] == '-' && t[1] == '-')
			break;
		if (tlen <= klen || memcmp(t, key, klen) != 0 || t[klen] != '=')
			continue;
		rc = parse_u32_value(t + klen + 1, tlen - klen - 1, min, max, &val);
		if (rc < 0)
			return kiln_err_wrap(rc, "kernel parameter %s", key);
	}
	*out = val;
	return 0;
}

void boot_lines_free(struct boot_lines *l)
{
	free(l->v);
	free(l->buf);
	l->v = NULL;
	l->buf = NULL;
	l->n = 0;
}

static int check_size(const char *buf, size_t len)
{
	const char *nul;

	if (len > BOOT_FILE_MAX)
		return kiln_err(EFBIG, "%zu bytes, the limit is %d", len, BOOT_FILE_MAX);
	nul = memchr(buf, '\0', len);
	if (nul) {
		size_t lineno = 1;

		for (const char *p = buf; p < nul; p++)
			lineno += *p == '\n';
		return kiln_err(EINVAL, "line %zu: NUL byte", lineno);
	}
	return 0;
}

/* Lines in buf: '\n' count, plus one for an unterminated last line. */
static size_t count_lines(const char *buf, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	if (len > 0 && buf[len - 1] != '\n')
		n++;
	return n;
}

/* Split buf into lines; check (optional) vets each kept line. */
static int split_lines(const char *buf, size_t len, bool skip_empty, line_check_fn check,
		       struct boot_lines *out)
{
	struct boot_lines l = { 0 };
	size_t nlines, pos = 0, lineno = 0;
	int rc = check_size(buf, len);

	if (rc < 0)
		return rc;
	nlines = count_lines(buf, len);
	if (nlines > BOOT_LINES_MAX)
		return kiln_err(E2BIG, "%zu lines, the limit is %d", nlines, BOOT_LINES_MAX);
	l.buf = malloc(len + 1);
	l.v = calloc(nlines + 1, sizeof(*l.v));
	if (!l.buf || !l.v) {
		rc = kiln_err(ENOMEM, "out of memory");
		goto out;
	}
	if (len)
		memcpy(l.buf, buf, len);
	l.buf[len] = '\0';
	while (pos < len) {
		char *line = l.buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - line) : len - pos;

		line[llen] = '\0';
		pos += llen + 1;
		lineno++;
		if (skip_empty && llen == 0)
			continue;
		rc = check ? check(line, llen, lineno) : 0;
		if (rc < 0)
			goto out;
		l.v[l.n++] = line;
	}
	*out = l;
	return 0;
out:
	boot_lines_free(&l);
	return rc;
}

static int check_arg(const char *line, size_t len, size_t lineno)
{
	if (lineno == 1 && len == 0)
		return kiln_err(EINVAL, "line 1: empty command name");
	return 0;
}

int boot_parse_cmd(const char *buf, size_t len, struct boot_lines *out)
{
	int rc = split_lines(buf, len, false, check_arg, out);

	if (rc == 0 && out->n == 0) {
		boot_lines_free(out);
		rc = kiln_err(EINVAL, "no command");
	}
	return rc;
}

static int check_env(const char *line, size_t len, size_t lineno)
{
	const char *eq = memchr(line, '=', len);

	if (!eq)
		return kiln_err(EINVAL, "line %zu: no '=' in environment entry", lineno);
	if (eq == line)
		return kiln_err(EINVAL, "line %zu: empty variable name", lineno);
	return 0;
}

int boot_parse_env(const char *buf, size_t len, struct boot_lines *out)
{
	return split_lines(buf, len, true, check_env, out);
}

static const char *env_find(const struct boot_lines *env, const char *name, size_t nlen)
{
	for (size_t i = 0; i < env->n; i++) {
		if (strncmp(env->v[i], name, nlen) == 0 && env->v[i][nlen] == '=')
			return env->v[i] + nlen + 1;
	}
	return NULL;
}

const char *boot_env_get(const struct boot_lines *env, const char *name)
{
	return env_find(env, name, strlen(name));
}

/*
 * The default is appended to a fresh copy of all bytes, so every v[i]
 * still points into the one buffer that boot_lines_free() releases.
 */
int boot_env_default(struct boot_lines *env, const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t used = 0, elen = strlen(entry) + 1;
	char *buf;
	char **v;

	if (!eq || eq == entry)
		return kiln_err(EINVAL, "bad default environment entry \"%s\"", entry);
	if (env_find(env, entry, (size_t)(eq - entry)))
		return 0;
	for (size_t i = 0; i < env->n; i++)
		used += strlen(env->v[i]) + 1;
	buf = malloc(used + elen);
	v = calloc(env->n + 2, sizeof(*v));
	if (!buf || !v) {
		free(buf);
		free(v);
		return kiln_err(ENOMEM, "out of memory");
	}
	used = 0;
	for (size_t i = 0; i <= env->n; i++) {
		const char *s = i < env->n ? env->v[i] : entry;
		size_t slen = strlen(s) + 1;

		memcpy(buf + used, s, slen);
		v[i] = buf + used;
		used += slen;
	}
	free(env->buf);
	free(env->v);
	env->buf = buf;
	env->v = v;
	env->n++;
	return 0;
}

static bool cgroup_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* Split line (NUL-terminated, writable) into at most max fields in place. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		if (n == max)
			return max + 1;
		f[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	return n;
}

int boot_parse_cgroups(const char *buf, size_t len, struct boot_lines *out)
{
	struct boot_lines l;
	size_t keep = 0;
	int rc = split_lines(buf, len, true, NULL, &l);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < l.n; i++) {
		char *f[4];

		if (l.v[i][0] == '#')
			continue;
		if (split_fields(l.v[i], f, 4) != 4 || !cgroup_name_ok(f[0], strlen(f[0])) ||
		    strspn(f[3], "0123456789") != strlen(f[3])) {
			boot_lines_free(&l);
			return kiln_err(EINVAL, "entry %zu: malformed controller line", i + 1);
		}
		if (strspn(f[3], "0") != strlen(f[3]))
			l.v[keep++] = f[0];
	}
	l.v[keep] = NULL;
	l.n = keep;
	*out = l;
	return 0;
}
