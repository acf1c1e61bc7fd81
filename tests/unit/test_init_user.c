/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for kiln-init's USER resolution over hand-written /etc/passwd and /etc/group. */
#include "t.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/user.h"

static const char passwd[] =
	"root:x:0:0:root:/root:/bin/sh\n"
	"# a comment:x:5:5::/c:/bin/sh\n"
	"+nis::::::\n"
	"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
	"app:x:1000:1001:App User:/home/app:/bin/sh\n"
	"short:x:1002:1002\n"
	"nohome:x:1003:1003::\n"
	"app:x:2000:2000:second app, ignored:/x:/bin/sh\n"
	"last:x:1004:1004::/last:/bin/sh"; /* no final newline */

static const char group[] =
	"root:x:0:\n"
	"wheel:x:10:root,app\n"
	"appgrp:x:1001:\n"
	"audio:x:29:daemon,app\n"
	"video:x:44:application,xapp,app2\n"
	"dup:x:10:app\n"
	"staff:x:50:app";

static int resolve(const char *spec, struct kiln_user *u)
{
	return kiln_user_resolve(spec, passwd, sizeof(passwd) - 1, group, sizeof(group) - 1, u);
}

static bool has_group(const struct kiln_user *u, gid_t g)
{
	for (size_t i = 0; i < u->ngroups; i++) {
		if (u->groups[i] == g)
			return true;
	}
	return false;
}

TEST(passwd_lookup)
{
	struct kiln_pwent pw;
	size_t len = sizeof(passwd) - 1;

	CHECK(kiln_passwd_find(passwd, len, "app", 0, &pw) == 0);
	CHECK(pw.uid == 1000 && pw.gid == 1001 && strcmp(pw.home, "/home/app") == 0);
	CHECK(kiln_passwd_find(passwd, len, NULL, 1000, &pw) == 0 && strcmp(pw.name, "app") == 0);
	CHECK(kiln_passwd_find(passwd, len, NULL, 2000, &pw) == 0); /* by uid: the second "app" */
	CHECK(kiln_passwd_find(passwd, len, "short", 0, &pw) == 0 && pw.home[0] == '\0');
	CHECK(kiln_passwd_find(passwd, len, "last", 0, &pw) == 0 && pw.uid == 1004);
	CHECK_ERR(kiln_passwd_find(passwd, len, "nobody", 0, &pw), "not in /etc/passwd");
	CHECK_ERR(kiln_passwd_find(passwd, len, NULL, 5, &pw), "uid 5");
	CHECK_ERR(kiln_passwd_find(passwd, len, "+nis", 0, &pw), "not in");
	CHECK_ERR(kiln_passwd_find(passwd, len, "", 0, &pw), "not in");
	/* the buffer's length is the limit: "last" cut short is a different name */
	CHECK_ERR(kiln_passwd_find(passwd, len - 20, "last", 0, &pw), "not in");
}

TEST(passwd_hostile_lines)
{
	static const char bad[] =
		"neg:x:-1:0::/:/bin/sh\n"
		"big:x:4294967295:0::/:/bin/sh\n"    /* (uid_t)-1 */
		"huge:x:99999999999:0::/:/bin/sh\n"
		"plus:x:+5:0::/:/bin/sh\n"
		"space:x: 5:0::/:/bin/sh\n"
		"hex:x:0x10:0::/:/bin/sh\n"
		"empty:x::0::/:/bin/sh\n"
		"nogid:x:7\n"
		"nul:x:8:8::/\0:/bin/sh\n"
		":x:9:9::/:/bin/sh\n"
		"colons:x:10:10::/h:/bin/sh:extra:fields\n"
		"max:x:4294967294:0::/:/bin/sh\n";
	struct kiln_pwent pw;
	char *longname, *longhome;
	size_t n = 5000;

	for (const char *const *s = (const char *const[]){ "neg", "big", "huge", "plus", "space",
							     "hex", "empty", "nogid", "nul", NULL };
	     *s; s++)
		CHECK_ERR(kiln_passwd_find(bad, sizeof(bad) - 1, *s, 0, &pw), "not in");
	CHECK_ERR(kiln_passwd_find(bad, sizeof(bad) - 1, NULL, 8, &pw), "uid 8");
	CHECK_ERR(kiln_passwd_find(bad, sizeof(bad) - 1, NULL, 9, &pw), "uid 9");
	CHECK(kiln_passwd_find(bad, sizeof(bad) - 1, "colons", 0, &pw) == 0 &&
	      strcmp(pw.home, "/h") == 0);
	CHECK(kiln_passwd_find(bad, sizeof(bad) - 1, "max", 0, &pw) == 0 &&
	      pw.uid == 4294967294U);

	/* over-long name and home: skipped, not truncated */
	longname = malloc(n + 32);
	longhome = malloc(n + 32);
	CHECK(longname && longhome);
	if (!longname || !longhome)
		return;
	memset(longname, 'a', n);
	strcpy(longname + n, ":x:1:1::/:/bin/sh\n");
	CHECK_ERR(kiln_passwd_find(longname, strlen(longname), NULL, 1, &pw), "uid 1");
	strcpy(longhome, "lh:x:2:2::/");
	memset(longhome + 11, 'h', n);
	strcpy(longhome + 11 + n, ":/bin/sh");
	CHECK_ERR(kiln_passwd_find(longhome, strlen(longhome), "lh", 0, &pw), "not in");
	free(longname);
	free(longhome);

	/* binary junk and empty input */
	static const char junk[] = "\n\n\n:::\n::::::\n\xff\xfe:x";

	CHECK_ERR(kiln_passwd_find(junk, sizeof(junk) - 1, "x", 0, &pw), "not in");
	CHECK_ERR(kiln_passwd_find("", 0, "root", 0, &pw), "not in");
	CHECK_ERR(kiln_passwd_find(NULL, 0, "root", 0, &pw), "not in");
}

TEST(group_lookup)
{
	gid_t g = 0;

	CHECK(kiln_group_find(group, sizeof(group) - 1, "wheel", &g) == 0 && g == 10);
	CHECK(kiln_group_find(group, sizeof(group) - 1, "staff", &g) == 0 && g == 50);
	CHECK_ERR(kiln_group_find(group, sizeof(group) - 1, "wheels", &g), "not in /etc/group");
	CHECK_ERR(kiln_group_find("g:x:-1:\ng2:x:\n:x:5:\n", 20, "g", &g), "not in");
	CHECK_ERR(kiln_group_find("g:x:-1:\ng2:x:\n:x:5:\n", 20, "g2", &g), "not in");
}

TEST(resolve_specs)
{
	struct kiln_user u;

	/* no USER: root, with root's home */
	CHECK(resolve("", &u) == 0 && u.uid == 0 && u.gid == 0 && strcmp(u.home, "/root") == 0);
	CHECK(has_group(&u, 0) && has_group(&u, 10) && u.ngroups == 2);

	/* a name: primary group from passwd, supplementary from group members */
	CHECK(resolve("app", &u) == 0 && u.uid == 1000 && u.gid == 1001);
	CHECK(strcmp(u.home, "/home/app") == 0);
	CHECK(u.ngroups == 4 && u.groups[0] == 1001); /* "dup" repeats gid 10 */
	CHECK(has_group(&u, 10) && has_group(&u, 29) && has_group(&u, 50));
	CHECK(!has_group(&u, 44)); /* "application", "app2" are other users */

	/* a uid in passwd behaves like its name */
	CHECK(resolve("1000", &u) == 0 && u.gid == 1001 && u.ngroups == 4);
	/* a uid not in passwd: gid 0, home / */
	CHECK(resolve("4242", &u) == 0 && u.uid == 4242 && u.gid == 0 && u.ngroups == 1);
	CHECK(strcmp(u.home, "/") == 0);

	/* an explicit group replaces the supplementary list */
	CHECK(resolve("app:audio", &u) == 0 && u.uid == 1000 && u.gid == 29 && u.ngroups == 1);
	CHECK(resolve("1000:7", &u) == 0 && u.gid == 7 && u.ngroups == 1 && u.groups[0] == 7);
	CHECK(resolve("5000:5001", &u) == 0 && u.uid == 5000 && u.gid == 5001);
	/* a passwd entry with an empty home gets "/" */
	CHECK(resolve("nohome", &u) == 0 && strcmp(u.home, "/") == 0);

	CHECK_ERR(resolve("nobody", &u), "not in /etc/passwd");
	CHECK_ERR(resolve("app:nogroup", &u), "not in /etc/group");
	CHECK_ERR(resolve("app:", &u), "empty group");
	CHECK_ERR(resolve(":10", &u), "empty user");
	CHECK_ERR(resolve("4294967295", &u), "not in /etc/passwd"); /* not a valid uid */
	CHECK_ERR(resolve("-1", &u), "not in /etc/passwd");
}

TEST(resolve_without_files)
{
	struct kiln_user u;

	CHECK(kiln_user_resolve("", NULL, 0, NULL, 0, &u) == 0 && u.uid == 0 && u.gid == 0);
	CHECK(strcmp(u.home, "/") == 0 && u.ngroups == 1);
	CHECK(kiln_user_resolve("65534:65534", NULL, 0, NULL, 0, &u) == 0 && u.gid == 65534);
	CHECK_ERR(kiln_user_resolve("app", NULL, 0, NULL, 0, &u), "no /etc/passwd");
	CHECK_ERR(kiln_user_resolve("0:wheel", NULL, 0, NULL, 0, &u), "no /etc/group");
}

TEST(too_many_groups)
{
	size_t n = KILN_USER_MAX_GROUPS + 1, len = 0;
	char *g = malloc(n * 32);
	struct kiln_user u;

	CHECK(g != NULL);
	if (!g)
		return;

	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(g + len, "g%zu:x:%zu:app\n", i, 3000 + i);
	CHECK_ERR(kiln_user_resolve("app", passwd, sizeof(passwd) - 1, g, len, &u),
		  "supplementary groups");
	/* one fewer fits (the primary group is one of the slots) */
	len = 0;
	for (size_t i = 0; i + 2 < n; i++)
		len += (size_t)sprintf(g + len, "g%zu:x:%zu:app\n", i, 3000 + i);
	CHECK(kiln_user_resolve("app", passwd, sizeof(passwd) - 1, g, len, &u) == 0);
	CHECK(u.ngroups == KILN_USER_MAX_GROUPS);
	free(g);
}

TEST(lookup_files)
{
	char dir[] = "/tmp/kiln-test-user.XXXXXX", path[64];
	struct kiln_user u;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(kiln_user_lookup(dir, "", &u) == 0 && u.uid == 0); /* no /etc at all */
	snprintf(path, sizeof(path), "%s/etc", dir);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/etc/passwd", dir);
	f = fopen(path, "w");
	fputs(passwd, f);
	fclose(f);
	CHECK(kiln_user_lookup(dir, "app", &u) == 0 && u.uid == 1000 && u.ngroups == 1);
	CHECK_ERR(kiln_user_lookup(dir, "app:wheel", &u), "no /etc/group");
	unlink(path);
	snprintf(path, sizeof(path), "%s/etc", dir);
	rmdir(path);
	rmdir(dir);
}

int main(void)
{
	RUN(passwd_lookup);
	RUN(passwd_hostile_lines);
	RUN(group_lookup);
	RUN(resolve_specs);
	RUN(resolve_without_files);
	RUN(too_many_groups);
	RUN(lookup_files);
	return t_done();
}
