/* SPDX-License-Identifier: Apache-2.0 */
/* kiln doctor: check this host for the sim and for Nitro, one line per check with its fix. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/build.h"
#include "cli/cli.h"
#include "cli/kilnd_rpc.h"
#include "doctor/doctor.h"

static int doctor_usage(FILE *f)
{
	fputs("usage: kiln doctor [--sim] [--nitro] [--json] [--blobs DIR] [--state-dir DIR]\n"
	      "Check this host for kiln run --sim and --nitro; each line is ok, warn, FAIL\n"
	      "(with the command that fixes it) or skip.\n"
	      "  --sim             check the sim only; exit by its result\n"
	      "  --nitro           check Nitro only; exit by its result\n"
	      "  --json            one JSON object: {version, sim, nitro, checks: [{id, mode,\n"
	      "                    status: ok|warn|fail|skip, message, fix}]}\n"
	      "  --blobs DIR       the AWS blobs (default " KILN_DEFAULT_BLOBS ")\n"
	      "  --state-dir DIR   kilnd's state (default $KILN_STATE_DIR, /run/kiln as root,\n"
	      "                    else $XDG_RUNTIME_DIR/kiln)\n"
	      "Exit status: 0 when a mode checked is ready (no FAIL line of its own or of both\n"
	      "modes): with neither flag, either mode; with --sim or --nitro, that mode; with\n"
	      "both flags, both. 1 otherwise, 2 on a usage error. Warnings never fail.\n"
	      "Environment: KILN_DOCTOR_ROOT=DIR reads DIR/dev, DIR/sys, DIR/etc, DIR/run and\n"
	      "DIR/usr/share instead of /dev, /sys... (for tests with fake trees; the sim's\n"
	      "namespace, cgroup, iptables and overlay probes still try the live kernel);\n"
	      "KILN_KERNEL_DIR: the fallback kernel's directory (default "
	      KILN_DEFAULT_KERNEL_DIR ").\n",
	      f);
	return f == stderr ? 2 : 0;
}

static int setup(struct kiln_doc *d, const char *blobs, const char *state)
{
	const char *root = getenv("KILN_DOCTOR_ROOT");
	const char *kdir = getenv("KILN_KERNEL_DIR");
	int n;

	n = snprintf(d->root, sizeof(d->root), "%s", root ? root : "");
	if (n < 0 || (size_t)n >= sizeof(d->root))
		return kiln_err(ENAMETOOLONG, "KILN_DOCTOR_ROOT is too long");
	while (n > 0 && d->root[n - 1] == '/')
		d->root[--n] = '\0'; /* "/" and "" both mean the real tree */
	if (blobs)
		n = snprintf(d->blobs, sizeof(d->blobs), "%s", blobs);
	else
		n = snprintf(d->blobs, sizeof(d->blobs), "%s%s", d->root, KILN_DEFAULT_BLOBS);
	if (n < 0 || (size_t)n >= sizeof(d->blobs))
		return kiln_err(ENAMETOOLONG, "blobs directory path too long");
	n = snprintf(d->kernel_dir, sizeof(d->kernel_dir), "%s",
		     kdir && *kdir ? kdir : KILN_DEFAULT_KERNEL_DIR);
	if (n < 0 || (size_t)n >= sizeof(d->kernel_dir))
		return kiln_err(ENAMETOOLONG, "KILN_KERNEL_DIR is too long");
	d->uid = geteuid();
	/* No state dir (no XDG_RUNTIME_DIR) is the kilnd line's news, not an error. */
	if (kiln_rpc_state_dir(state, d->state_dir, sizeof(d->state_dir)) < 0)
		d->state_dir[0] = '\0';
	return 0;
}

int kiln_cmd_doctor(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "sim", no_argument, NULL, 's' },
		{ "nitro", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "blobs", required_argument, NULL, 'b' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_doc d = { 0 };
	const char *blobs = NULL, *state = NULL;
	bool json = false, either;
	int c, rc, code;

	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 's': d.modes |= KILN_DOC_SIM; break;
		case 'n': d.modes |= KILN_DOC_NITRO; break;
		case 'j': json = true; break;
		case 'b': blobs = optarg; break;
		case 'd': state = optarg; break;
		case 'h': return doctor_usage(stdout);
		default: return doctor_usage(stderr);
		}
	}
	if (optind != argc)
		return doctor_usage(stderr);
	either = !d.modes;
	if (either)
		d.modes = KILN_DOC_BOTH;
	rc = setup(&d, blobs, state);
	if (rc == 0)
		rc = kiln_doc_run(&d);
	if (rc == 0 && json)
		rc = kiln_doc_print_json(&d, stdout);
	else if (rc == 0)
		kiln_doc_print_text(&d, stdout);
	if (rc < 0) {
		kiln_doc_free(&d);
		return kiln_cli_fail("doctor");
	}
	if (either)
		code = kiln_doc_mode_failed(&d, KILN_DOC_SIM) &&
		       kiln_doc_mode_failed(&d, KILN_DOC_NITRO);
	else
		code = ((d.modes & KILN_DOC_SIM) && kiln_doc_mode_failed(&d, KILN_DOC_SIM)) ||
		       ((d.modes & KILN_DOC_NITRO) && kiln_doc_mode_failed(&d, KILN_DOC_NITRO));
	kiln_doc_free(&d);
	return code;
}
