/* SPDX-License-Identifier: Apache-2.0 */
/* The image's USER: "uid[:gid]" or "name[:group]" against its own /etc/passwd and /etc/group. */
#ifndef KILN_INIT_USER_H
#define KILN_INIT_USER_H

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

#define KILN_USER_MAX_GROUPS 256
#define KILN_USER_NAME_MAX 256
#define KILN_USER_HOME_MAX 1024
#define KILN_USER_FILE_MAX (4 * 1024 * 1024) /* bytes of /etc/passwd or /etc/group */

/* One /etc/passwd entry (the fields kiln uses). */
struct kiln_pwent {
	char name[KILN_USER_NAME_MAX];
	uid_t uid;
	gid_t gid;
	char home[KILN_USER_HOME_MAX];
};

/* What the application runs as. */
struct kiln_user {
	uid_t uid;
	gid_t gid;
	gid_t groups[KILN_USER_MAX_GROUPS];
	size_t ngroups;
	char home[KILN_USER_HOME_MAX]; /* "/" when the user has no passwd entry */
};

/*
 * Find the passwd entry named name (or, when name is NULL, with uid uid) in
 * buf. Statically linked kiln-init cannot use NSS, so this reads the file
 * format itself: "name:password:uid:gid:gecos:home:shell" lines; comments,
 * NIS "+"/"-" lines, lines with NUL bytes, bad numbers or over-long fields
 * are skipped. The first match wins. -ENOENT when there is none.
 */
int kiln_passwd_find(const char *buf, size_t len, const char *name, uid_t uid,
		     struct kiln_pwent *out) KILN_MUST;

/* The gid of group name in an /etc/group buffer ("name:password:gid:members"). */
int kiln_group_find(const char *buf, size_t len, const char *name, gid_t *gid) KILN_MUST;

/*
 * Resolve a Docker/OCI USER spec the way runc does. passwd or group may be
 * NULL (file absent). "" means root. A numeric user need not exist; a named
 * one must. Supplementary groups: the explicit group alone when one is
 * given, else the primary gid plus every group listing the user by name.
 */
int kiln_user_resolve(const char *spec, const char *passwd, size_t plen, const char *group,
		      size_t glen, struct kiln_user *out) KILN_MUST;

/* kiln_user_resolve() against root/etc/passwd and root/etc/group. */
int kiln_user_lookup(const char *root, const char *spec, struct kiln_user *out) KILN_MUST;

#endif
