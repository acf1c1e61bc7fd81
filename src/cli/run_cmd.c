/* SPDX-License-Identifier: Apache-2.0 */
/* kiln run: start an EIF as an enclave, on Nitro or in the sim. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "nitro/nitro.h"
#include "sim/sim.h"

/* As docker and podman: the runtime's own failures are 125, the app's codes pass through. */
#define RUN_FAILED 125

enum run_mode { MODE_AUTO, MODE_SIM, MODE_NITRO };

static int run_usage(FILE *f)
{
	fputs("usage: kiln run [--sim | --nitro] FILE.eif [OPTIONS]\n"
	      "  --sim             run in namespaces on this machine (no Nitro needed)\n"
	      "  --nitro           run on AWS Nitro Enclaves (/dev/nitro_enclaves)\n"
	      "                    (neither: Nitro when the device exists, else sim)\n"
	      "  --name NAME       enclave name (default: the EIF's name and a suffix)\n"
	      "  --cpus N          vCPUs (default: the EIF's default)\n"
	      "  --memory MIB      memory in MiB, at least 4 x the EIF size (default: EIF's)\n"
	      "  --debug           debug mode (sim: print each setup step)\n"
	      "  -d, --detach      run in the background and print the enclave id\n"
	      "  --state-dir DIR   runtime state (default /run/kiln as root,\n"
	      "                    else $XDG_RUNTIME_DIR/kiln; or $KILN_STATE_DIR)\n"
	      "  --no-kilnd        neither start nor register with kilnd\n"
	      "The exit code is the app's (128 + signal when killed); 125 when kiln\n"
	      "itself fails.\n",
	      f);
	return f == stderr ? 2 : 0;
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || x == 0 || x > max) {
		fprintf(stderr, "kiln: run: %s: \"%s\" is not a number in [1, %llu]\n", opt, s,
			(unsigned long long)max);
		return -1;
	}
	*v = x;
	return 0;
}

static int parse_args(int argc, char **argv, struct kiln_sim_opts *o, enum run_mode *mode)
{
	static const struct option longs[] = {
		{ "sim", no_argument, NULL, 'S' },
		{ "nitro", no_argument, NULL, 'N' },
		{ "name", required_argument, NULL, 'n' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "debug", no_argument, NULL, 'g' },
		{ "detach", no_argument, NULL, 'd' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "no-kilnd", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "dh", longs, NULL)) != -1) {
		switch (c) {
		case 'S': *mode = MODE_SIM; break;
		case 'N': *mode = MODE_NITRO; break;
		case 'n': o->name = optarg; break;
		case 'c':
			if (parse_u64("--cpus", optarg, 1024, &v) < 0)
				return 2;
			o->cpus = (unsigned)v;
			break;
		case 'm':
			if (parse_u64("--memory", optarg, UINT64_C(1) << 32, &o->memory_mib) < 0)
				return 2;
			break;
		case 'g': o->debug = true; break;
		case 'd': o->detach = true; break;
		case 's': o->state_dir = optarg; break;
		case 'K': o->no_kilnd = true; break;
		case 'h': return run_usage(stdout);
		default: return run_usage(stderr);
		}
	}
	if (optind != argc - 1)
		return run_usage(stderr);
	o->eif_path = argv[optind];
	return -1;
}

/* Nitro when asked for (or, without a mode, when the device exists); else sim. */
static int pick_mode(enum run_mode *mode)
{
	if (*mode == MODE_AUTO) {
		if (access(KILN_NITRO_DEVICE, F_OK) == 0) {
			*mode = MODE_NITRO;
		} else {
			fprintf(stderr, "kiln: notice: no %s here: running in sim mode\n",
				KILN_NITRO_DEVICE);
			*mode = MODE_SIM;
		}
	}
	if (*mode == MODE_SIM)
		return 0;
	if (kiln_nitro_available() < 0)
		return -1;
	kiln_err(ENOSYS, "Nitro launch from kiln run is not wired yet; use --sim");
	return -1;
}

int kiln_cmd_run(int argc, char **argv)
{
	struct kiln_sim_opts o = { 0 };
	enum run_mode mode = MODE_AUTO;
	int rc = parse_args(argc, argv, &o, &mode);

	if (rc >= 0)
		return rc;
	if (pick_mode(&mode) < 0) {
		fprintf(stderr, "kiln: run: %s\n", kiln_errmsg());
		return RUN_FAILED;
	}
	rc = kiln_sim_run(&o);
	if (rc < 0) {
		fprintf(stderr, "kiln: run: %s\n", kiln_errmsg());
		return RUN_FAILED;
	}
	return rc;
}
