/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd self-restriction: no_new_privs and a capability set cut to what it uses. */
#include "kilnd/kilnd.h"

#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

/*
 * kilnd needs: CAP_KILL (the runtime pid it stops may belong to another
 * user), CAP_DAC_OVERRIDE (channel directories made by the runtime) and
 * CAP_NET_BIND_SERVICE (ingress host ports below 1024).
 * Everything else leaves the bounding, permitted, effective and ambient
 * sets; no_new_privs stops exec from gaining any back. Unprivileged, only
 * no_new_privs applies. kilnd installs no seccomp filter of its own; the
 * systemd unit (contrib/kilnd.service) adds one.
 */
static const int keep[] = { CAP_KILL, CAP_DAC_OVERRIDE, CAP_NET_BIND_SERVICE };

static int kept(int cap)
{
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (keep[i] == cap)
			return 1;
	return 0;
}

/* Leave the bounding set: only caps still in it (a systemd unit may have cut it). */
static int drop_bounding(void)
{
	for (int cap = 0; cap < 64; cap++) {
		if (kept(cap) || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return kiln_err(errno, "drop capability %d: %s", cap, strerror(errno));
	}
	return 0;
}

/* Permitted and effective become (kept & currently permitted); inheritable empty. */
static int drop_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct cur[2], data[2];
	int rc = drop_bounding();

	if (rc < 0)
		return rc;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capget, &hdr, cur) < 0)
		return kiln_err(errno, "capget: %s", strerror(errno));
	memset(data, 0, sizeof(data));
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		uint32_t bit = 1u << (keep[i] % 32);

		data[keep[i] / 32].permitted |= cur[keep[i] / 32].permitted & bit;
		data[keep[i] / 32].effective |= cur[keep[i] / 32].permitted & bit;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return kiln_err(errno, "capset: %s", strerror(errno));
	return 0;
}

int kilnd_drop_privileges(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kiln_err(errno, "no_new_privs: %s", strerror(errno));
	return geteuid() == 0 ? drop_caps() : 0;
}
