/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init: the enclave half of kiln; for now, runs the image's process as Docker would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init/config.h"
#include "init/supervise.h"
#include "init/user.h"
#include "init/xattrs.h"

/*
 * Started by the bootstrap init (AWS's or kiln-bootstrap) as the enclave's
 * command, inside the image's root: apply recorded xattrs, resolve USER,
 * run ENTRYPOINT+CMD with Env and WorkingDir, and exit with its status.
 * Usage: kiln-init [CONFIG]   (default /.kiln/config.json)
 */

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "kiln-init: %s: %s\n", what, kiln_errmsg());
	exit(125);
}

static void apply_xattrs(void)
{
	size_t applied, failed;

	if (access(KILN_INIT_XATTRS_PATH, F_OK) < 0)
		return;
	if (kiln_xattrs_apply(KILN_INIT_XATTRS_PATH, &applied, &failed) < 0) {
		fprintf(stderr, "kiln-init: warning: %s\n", kiln_errmsg());
		return;
	}
	fprintf(stderr, "kiln-init: applied %zu xattr(s), %zu failed\n", applied, failed);
}

static void app_env(struct kiln_init_config *cfg, const struct kiln_user *u)
{
	char home[KILN_USER_HOME_MAX + 8];

	snprintf(home, sizeof(home), "HOME=%s", u->home);
	if (kiln_init_config_env_default(cfg, KILN_INIT_DEFAULT_PATH) < 0 ||
	    kiln_init_config_env_default(cfg, home) < 0)
		die("environment");
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : KILN_INIT_CONFIG_PATH;
	struct kiln_init_config cfg;
	struct kiln_user user;
	struct kiln_app app;
	int code = 0;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: kiln-init [CONFIG]\n");
		return 2;
	}
	if (kiln_init_config_load(path, &cfg) < 0)
		die("config");
	apply_xattrs();
	if (kiln_user_lookup("/", cfg.user, &user) < 0)
		die("user");
	app_env(&cfg, &user);
	app = (struct kiln_app){ cfg.argv, cfg.env, cfg.workdir, &user };
	fprintf(stderr, "kiln-init: starting %s as %u:%u in %s\n", cfg.argv[0],
		(unsigned int)user.uid, (unsigned int)user.gid, cfg.workdir);
	if (kiln_supervise(&app, &code) < 0)
		die("supervise");
	kiln_init_config_free(&cfg);
	return code;
}
