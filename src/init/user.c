/* SPDX-License-Identifier: Apache-2.0 */
/* The image's USER: "uid[:gid]" or "name[:group]" against its own /etc/passwd and /etc/group. */
#include "init/user.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init/file.h"

/*
 * How this works: the files belong to the image, so every line is treated
 * as hostile. Lines and fields are (pointer, length) views into the caller's
 * buffer, found with memchr within bounds; nothing is NUL-terminated or
 * copied until a field has passed its checks. A line that does not parse is
 * skipped, as glibc's NSS "files" module does, never half-used.
 */

struct view {
	const char *p;
	size_t len;
};

#define PW_FIELDS 7
#define GR_FIELDS 4
#define ID_MAX 4294967294ULL /* (uid_t)-1 means "no change" to setuid */

static bool next_line(const char *buf, size_t len, size_t *pos, struct view *line)
{
	const char *nl;

	if (*pos >= len)
		return false;
	line->p = buf + *pos;
	nl = memchr(line->p, '\n', len - *pos);
	line->len = nl ? (size_t)(nl - line->p) : len - *pos;
	*pos += line->len + 1;
	return true;
}

/* Split at ':' into at most max fields; the last one keeps any extra ':'. */
static size_t split_fields(struct view line, struct view *f, size_t max)
{
	size_t n = 0;

	while (n + 1 < max) {
		const char *c = memchr(line.p, ':', line.len);

		if (!c)
			break;
		f[n].p = line.p;
		f[n++].len = (size_t)(c - line.p);
		line.len -= (size_t)(c - line.p) + 1;
		line.p = c + 1;
	}
	f[n++] = line;
	return n;
}

static bool view_eq(struct view v, const char *s)
{
	size_t n = strlen(s);

	return v.len == n && memcmp(v.p, s, n) == 0;
}

static bool parse_id(const char *p, size_t len, unsigned int *out)
{
	unsigned long long v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned int)(p[i] - '0');
	}
	if (v > ID_MAX)
		return false;
	*out = (unsigned int)v;
	return true;
}

/* A line worth splitting: not empty, not a comment or NIS entry, no NUL. */
static bool line_usable(struct view l)
{
	if (l.len == 0 || l.p[0] == '#' || l.p[0] == '+' || l.p[0] == '-')
		return false;
	return memchr(l.p, '\0', l.len) == NULL;
}

static bool pw_from_fields(const struct view *f, size_t n, struct kiln_pwent *pw)
{
	unsigned int uid, gid;
	struct view home = { "", 0 };

	if (n < 4 || f[0].len == 0 || f[0].len >= sizeof(pw->name))
		return false;
	if (!parse_id(f[2].p, f[2].len, &uid) || !parse_id(f[3].p, f[3].len, &gid))
		return false;
	if (n >= 6)
		home = f[5];
	if (home.len >= sizeof(pw->home))
		return false;
	memcpy(pw->name, f[0].p, f[0].len);
	pw->name[f[0].len] = '\0';
	memcpy(pw->home, home.p, home.len);
	pw->home[home.len] = '\0';
	pw->uid = uid;
	pw->gid = gid;
	return true;
}

int kiln_passwd_find(const char *buf, size_t len, const char *name, uid_t uid,
		     struct kiln_pwent *out)
{
	struct view line, f[PW_FIELDS];
	size_t pos = 0;

	while (buf && next_line(buf, len, &pos, &line)) {
		struct kiln_pwent pw;
		size_t n;

		if (!line_usable(line))
			continue;
		n = split_fields(line, f, PW_FIELDS);
		if (name && !view_eq(f[0], name))
			continue;
		if (!pw_from_fields(f, n, &pw))
			continue;
		if (!name && pw.uid != uid)
			continue;
		*out = pw;
		return 0;
	}
	return name ? kiln_err(ENOENT, "user \"%s\" not in /etc/passwd", name)
		    : kiln_err(ENOENT, "uid %u not in /etc/passwd", (unsigned int)uid);
}

/* Calls fn for each well-formed group line; stops when fn returns true. */
static bool each_group(const char *buf, size_t len,
		       bool (*fn)(struct view name, gid_t gid, struct view members, void *arg),
		       void *arg)
{
	struct view line, f[GR_FIELDS];
	size_t pos = 0;

	while (buf && next_line(buf, len, &pos, &line)) {
		struct view none = { "", 0 };
		unsigned int gid;
		size_t n;

		if (!line_usable(line))
			continue;
		n = split_fields(line, f, GR_FIELDS);
		if (n < 3 || f[0].len == 0 || !parse_id(f[2].p, f[2].len, &gid))
			continue;
		if (fn(f[0], gid, n == GR_FIELDS ? f[3] : none, arg))
			return true;
	}
	return false;
}

struct find_arg {
	const char *name;
	gid_t gid;
};

static bool match_name(struct view name, gid_t gid, struct view members, void *arg)
{
	struct find_arg *a = arg;

	if (!view_eq(name, a->name))
		return false;
	a->gid = gid;
	return true;
}

int kiln_group_find(const char *buf, size_t len, const char *name, gid_t *gid)
{
	struct find_arg a = { name, 0 };

	if (!each_group(buf, len, match_name, &a))
		return kiln_err(ENOENT, "group \"%s\" not in /etc/group", name);
	*gid = a.gid;
	return 0;
}

struct member_arg {
	const char *user;
	struct kiln_user *u;
	int rc;
};

static bool has_member(struct view members, const char *user)
{
	while (members.len) {
		const char *c = memchr(members.p, ',', members.len);
		struct view m = { members.p, c ? (size_t)(c - members.p) : members.len };

		if (view_eq(m, user))
			return true;
		members.len -= m.len + (c ? 1 : 0);
		members.p += m.len + (c ? 1 : 0);
	}
	return false;
}

static int add_group(struct kiln_user *u, gid_t gid)
{
	for (size_t i = 0; i < u->ngroups; i++) {
		if (u->groups[i] == gid)
			return 0;
	}
	if (u->ngroups == KILN_USER_MAX_GROUPS)
		return kiln_err(E2BIG, "more than %d supplementary groups", KILN_USER_MAX_GROUPS);
	u->groups[u->ngroups++] = gid;
	return 0;
}

static bool collect_member(struct view name, gid_t gid, struct view members, void *arg)
{
	struct member_arg *a = arg;

	if (!has_member(members, a->user))
		return false;
	a->rc = add_group(a->u, gid);
	return a->rc < 0;
}

static int resolve_user(const char *upart, const char *passwd, size_t plen,
			struct kiln_user *u, struct kiln_pwent *pw, bool *found)
{
	unsigned int id;
	int rc;

	*found = false;
	if (parse_id(upart, strlen(upart), &id)) {
		u->uid = id;
		*found = passwd && kiln_passwd_find(passwd, plen, NULL, id, pw) == 0;
		return 0;
	}
	if (!passwd)
		return kiln_err(ENOENT, "user \"%s\": the image has no /etc/passwd", upart);
	rc = kiln_passwd_find(passwd, plen, upart, 0, pw);
	if (rc < 0)
		return rc;
	u->uid = pw->uid;
	*found = true;
	return 0;
}

static int resolve_group(const char *gpart, const char *group, size_t glen, gid_t *gid)
{
	unsigned int id;

	if (*gpart == '\0')
		return kiln_err(EINVAL, "empty group name");
	if (parse_id(gpart, strlen(gpart), &id)) {
		*gid = id;
		return 0;
	}
	if (!group)
		return kiln_err(ENOENT, "group \"%s\": the image has no /etc/group", gpart);
	return kiln_group_find(group, glen, gpart, gid);
}

int kiln_user_resolve(const char *spec, const char *passwd, size_t plen, const char *group,
		      size_t glen, struct kiln_user *out)
{
	char upart[KILN_USER_NAME_MAX];
	const char *colon = strchr(spec, ':'), *gpart = colon ? colon + 1 : NULL;
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	struct kiln_user u = { 0 };
	struct kiln_pwent pw;
	bool found;
	int rc;

	if (ulen >= sizeof(upart))
		return kiln_err(ENAMETOOLONG, "user \"%.32s...\": name too long", spec);
	if (ulen == 0 && *spec != '\0')
		return kiln_err(EINVAL, "user \"%s\": empty user name", spec);
	memcpy(upart, spec, ulen);
	upart[ulen] = '\0';
	rc = resolve_user(ulen ? upart : "0", passwd, plen, &u, &pw, &found);
	if (rc < 0)
		return rc;
	u.gid = found ? pw.gid : 0;
	snprintf(u.home, sizeof(u.home), "%s", found && pw.home[0] ? pw.home : "/");
	if (gpart) {
		rc = resolve_group(gpart, group, glen, &u.gid);
		if (rc < 0)
			return kiln_err_wrap(rc, "user \"%s\"", spec);
		u.groups[u.ngroups++] = u.gid;
	} else {
		struct member_arg a = { pw.name, &u, 0 };

		u.groups[u.ngroups++] = u.gid;
		if (found && group)
			each_group(group, glen, collect_member, &a);
		if (a.rc < 0)
			return kiln_err_wrap(a.rc, "user \"%s\"", spec);
	}
	*out = u;
	return 0;
}

/* root/etc/NAME, or NULL (not an error) when the image has none. */
static int read_db(const char *root, const char *name, char **buf, size_t *len)
{
	char path[4096];
	int rc;

	snprintf(path, sizeof(path), "%s/etc/%s", strcmp(root, "/") ? root : "", name);
	rc = kiln_init_read_file(path, KILN_USER_FILE_MAX, buf, len);
	if (rc == -ENOENT) {
		*buf = NULL;
		*len = 0;
		return 0;
	}
	return rc < 0 ? kiln_err_wrap(rc, "%s", path) : 0;
}

int kiln_user_lookup(const char *root, const char *spec, struct kiln_user *out)
{
	char *passwd = NULL, *group = NULL;
	size_t plen = 0, glen = 0;
	int rc = read_db(root, "passwd", &passwd, &plen);

	if (rc == 0)
		rc = read_db(root, "group", &group, &glen);
	if (rc == 0)
		rc = kiln_user_resolve(spec, passwd, plen, group, glen, out);
	free(passwd);
	free(group);
	return rc;
}
