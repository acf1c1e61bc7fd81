/* SPDX-License-Identifier: Apache-2.0 */
/* kiln doctor: the state of nitro-cli's allocator unit, a hint (the pool itself is checked from sysfs). */
#include "doctor/doctor.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define UNIT "nitro-enclaves-allocator"

/* `systemctl is-active UNIT`'s one word ("active", "inactive", "failed"...). */
static int unit_state(char *buf, size_t len)
{
	FILE *p = popen("systemctl is-active " UNIT " 2>/dev/null", "re");

	buf[0] = '\0';
	if (!p)
		return kiln_err(errno, "systemctl: %s", strerror(errno));
	if (!fgets(buf, (int)len, p))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	pclose(p);
	return buf[0] ? 0 : kiln_err(ENOENT, "systemctl said nothing");
}

int kiln_doc_nitro_service(struct kiln_doc *d)
{
	char run[4200], state[64];
	struct stat st;

	/* ROOT/run/systemd/system exists only when systemd is the init (sd_booted). */
	if (kiln_doc_path(d, "/run/systemd/system", run, sizeof(run)) < 0)
		return -ENAMETOOLONG;
	if (d->root[0] || stat(run, &st) < 0 || !S_ISDIR(st.st_mode))
		return kiln_doc_add(d, "nitro.service", KILN_DOC_NITRO, KILN_DOC_SKIP, NULL,
				    UNIT ": not asked (%s)", d->root[0] ? "a fake root" :
				    "systemd is not running here");
	if (unit_state(state, sizeof(state)) < 0 || strcmp(state, "active"))
		return kiln_doc_add(d, "nitro.service", KILN_DOC_NITRO, KILN_DOC_WARN,
				    "systemctl enable --now " UNIT,
				    UNIT ": %s (it reserves the pool at boot)",
				    state[0] ? state : "unknown");
	return kiln_doc_add(d, "nitro.service", KILN_DOC_NITRO, KILN_DOC_OK, NULL,
			    UNIT ": active");
}
