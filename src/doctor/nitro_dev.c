/* SPDX-License-Identifier: Apache-2.0 */
/* kiln doctor: /dev/nitro_enclaves exists, is the driver's char device, and this user may open it. */
#include "doctor/doctor.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#define ID "nitro.device"
#define DEV "/dev/nitro_enclaves"
#define NGROUPS 256

bool kiln_doc_may_rw(uid_t uid, const gid_t *gids, size_t ngids, mode_t mode, uid_t owner,
		     gid_t group)
{
	if (uid == 0)
		return true; /* CAP_DAC_OVERRIDE */
	if (uid == owner)
		return (mode & (S_IRUSR | S_IWUSR)) == (S_IRUSR | S_IWUSR);
	for (size_t i = 0; i < ngids; i++)
		if (gids[i] == group)
			return (mode & (S_IRGRP | S_IWGRP)) == (S_IRGRP | S_IWGRP);
	return (mode & (S_IROTH | S_IWOTH)) == (S_IROTH | S_IWOTH);
}

/*
 * The group's name and whether user is listed in it, from ROOT/etc/group
 * (read directly, so a fake tree's names are used and no NSS is needed).
 */
static void group_info(const struct kiln_doc *d, gid_t gid, const char *user, char *name,
		       size_t len, bool *member)
{
	char path[4200];
	_cleanup_fclose_ FILE *f = NULL;
	struct group *g;

	snprintf(name, len, "%u", (unsigned)gid);
	*member = false;
	if (kiln_doc_path(d, "/etc/group", path, sizeof(path)) < 0 || !(f = fopen(path, "re")))
		return;
	while ((g = fgetgrent(f))) {
		if (g->gr_gid != gid)
			continue;
		snprintf(name, len, "%s", g->gr_name);
		for (char **m = g->gr_mem; m && *m; m++)
			*member |= !strcmp(*m, user);
		return;
	}
}

static void user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "%u", (unsigned)uid);
}

static int no_device(struct kiln_doc *d, const char *path)
{
	char mod[4200];
	struct stat st;

	if (kiln_doc_path(d, "/sys/module/nitro_enclaves", mod, sizeof(mod)) < 0)
		return -ENAMETOOLONG;
	if (stat(mod, &st) == 0)
		return kiln_doc_add(d, ID, KILN_DOC_NITRO, KILN_DOC_FAIL,
				    "udevadm trigger (or reinstall aws-nitro-enclaves-cli, whose udev "
				    "rule makes the device)",
				    "%s: missing, though the nitro_enclaves driver is loaded", path);
	return kiln_doc_add(d, ID, KILN_DOC_NITRO, KILN_DOC_FAIL,
			    "on an EC2 instance launched with enclaves enabled "
			    "(--enclave-options 'Enabled=true'): modprobe nitro_enclaves",
			    "%s: missing: not a Nitro Enclaves parent instance, or the "
			    "nitro_enclaves driver is not loaded", path);
}

static int no_access(struct kiln_doc *d, const char *path, const struct stat *st)
{
	char user[64], group[64], fix[512];
	bool member;

	user_name(d->uid, user, sizeof(user));
	group_info(d, st->st_gid, user, group, sizeof(group), &member);
	if (st->st_gid == 0 || !(st->st_mode & S_IRGRP) || !(st->st_mode & S_IWGRP))
		snprintf(fix, sizeof(fix), "run as root, or give the device to a group: "
			 "chgrp ne %s && chmod 0660 %s (aws-nitro-enclaves-cli's udev rule does)",
			 DEV, DEV);
	else if (member)
		snprintf(fix, sizeof(fix), "log in again (or run `newgrp %s`): %s is in the group "
			 "%s, but this session is not yet", group, user, group);
	else
		snprintf(fix, sizeof(fix), "usermod -aG %s %s, then log in again", group, user);
	return kiln_doc_add(d, ID, KILN_DOC_NITRO, KILN_DOC_FAIL, fix,
			    "%s: %s may not open it (mode %04o, group %s)", path, user,
			    (unsigned)(st->st_mode & 07777), group);
}

int kiln_doc_nitro_device(struct kiln_doc *d)
{
	char path[4200];
	gid_t gids[NGROUPS + 1];
	struct stat st;
	int n;

	if (kiln_doc_path(d, DEV, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0)
		return no_device(d, path);
	if (!S_ISCHR(st.st_mode))
		return kiln_doc_add(d, ID, KILN_DOC_NITRO, KILN_DOC_FAIL,
				    "rm it, then: modprobe -r nitro_enclaves && "
				    "modprobe nitro_enclaves",
				    "%s: not a character device", path);
	/* This process's groups: a group joined since login does not count yet. */
	n = getgroups(NGROUPS, gids);
	if (n < 0)
		n = 0;
	gids[n++] = getegid();
	if (!kiln_doc_may_rw(d->uid, gids, (size_t)n, st.st_mode, st.st_uid, st.st_gid))
		return no_access(d, path, &st);
	return kiln_doc_add(d, ID, KILN_DOC_NITRO, KILN_DOC_OK, NULL,
			    "%s: present, and this user may open it", path);
}
