/* SPDX-License-Identifier: Apache-2.0 */
/* kiln run: start an EIF as an enclave, on Nitro or in the sim. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "cli/cli.h"
#include "eif/eif.h"
#include "eif/ingress.h"
#include "fs/wire.h"
#include "nitro/nitro.h"
#include "net/portmap.h"
#include "sim/sim.h"
#include "util/detach.h"

/* As docker and podman: the runtime's own failures are 125, the app's codes pass through. */
#define RUN_FAILED KILN_DETACH_FAILED

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
	      "  --debug           debug mode (sim: print each setup step; Nitro: console,\n"
	      "                    zero PCRs); needed by `kiln console`\n"
	      "  --cid N           Nitro: the enclave's vsock CID, 4..4294967294 (default 0:\n"
	      "                    the hypervisor chooses)\n"
	      "  --channel unix|vsock\n"
	      "                    sim: the enclave's channels to kilnd as AF_UNIX sockets\n"
	      "                    (default) or vsock with the parent at CID 1, Nitro's code\n"
	      "                    paths (a machine with vsock_loopback: the guest lab)\n"
	      "  -d, --detach      run in the background and print the enclave id\n"
	      "  --state-dir DIR   runtime state (default /run/kiln as root,\n"
	      "                    else $XDG_RUNTIME_DIR/kiln; or $KILN_STATE_DIR)\n"
	      "  --no-kilnd        neither start nor register with kilnd\n"
	      "  -v, --volume HOSTDIR:/PATH[:plain]\n"
	      "                    keep the encrypted storage volume the EIF's config\n"
	      "                    mounts at PATH in HOSTDIR (sim and --nitro; default:\n"
	      "                    STATE/volumes/NAME/VOLUME); :plain for a mode: plain\n"
	      "                    volume (ordinary files, not protected)\n"
	      "  -p, --publish [HOSTIP:]HOSTPORT:ENCLAVEPORT\n"
	      "                    kilnd listens on HOSTPORT and forwards each connection to\n"
	      "                    ENCLAVEPORT inside (repeatable; default HOSTIP: all;\n"
	      "                    without -p: the EIF config's network.ingress host ports);\n"
	      "                    ENCLAVEPORT must be one the EIF admits: network.ingress,\n"
	      "                    else the image's ExposedPorts\n"
	      "In the foreground the app's output is shown (Nitro: as kilnd receives it)\n"
	      "and Ctrl-C or SIGTERM is passed on to the app. The exit code is the app's\n"
	      "(128 + signal when killed); 125 when kiln itself fails.\n",
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

/* --cid: 0 lets the hypervisor choose; else the driver's rule. */
static int parse_cid(const char *s, uint64_t *cid)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-') {
		fprintf(stderr, "kiln: run: --cid: \"%s\" is not a number\n", s);
		return -1;
	}
	if (kiln_nitro_check_cid(x) < 0) {
		fprintf(stderr, "kiln: run: --cid: %s\n", kiln_errmsg());
		return -1;
	}
	*cid = x;
	return 0;
}

/* -p: checked here, sent to kilnd by the runtime (kiln_sim_register, kiln_nitro_run). */
static int add_port(struct kiln_sim_opts *o, const char *spec)
{
	static const char *ports[KILN_PORTMAP_MAX];
	struct kiln_portmap m;

	if (kiln_portmap_parse(spec, &m) < 0) {
		fprintf(stderr, "kiln: run: -p: %s\n", kiln_errmsg());
		return -1;
	}
	if (o->n_ports == KILN_PORTMAP_MAX) {
		fprintf(stderr, "kiln: run: -p: at most %d mappings\n", KILN_PORTMAP_MAX);
		return -1;
	}
	ports[o->n_ports++] = spec;
	o->ports = ports;
	return 0;
}

/*
 * -v HOSTDIR:PATH[:encrypted|:plain]: where the volume the EIF's config mounts at
 * PATH lives on this host (made when missing). The list of mounts is the
 * measured config's storage entries: the parent places volumes, it never
 * chooses what the enclave mounts. ":plain" says HOSTDIR holds the plain
 * volume's ordinary files; kilnd refuses to serve it in the other mode.
 */
static int add_volume(struct kiln_sim_opts *o, const char *spec)
{
	static char names[16][KFS_ID_MAX + 1], hosts[16][4096];
	static const char *np[16], *hp[16];
	static bool plain[16];
	char host[4096], *path, *mode, cwd[2048];
	size_t i = o->n_volumes;

	snprintf(host, sizeof(host), "%s", spec);
	path = strchr(host, ':');
	mode = path ? strchr(path + 1, ':') : NULL;
	if (path)
		*path++ = '\0';
	if (mode)
		*mode++ = '\0';
	if (!path || !host[0] || kfs_volume_name(path, names[i < 16 ? i : 0], KFS_ID_MAX + 1) < 0 ||
	    (mode && strcmp(mode, "encrypted") && strcmp(mode, "plain"))) {
		fprintf(stderr, "kiln: run: -v %s: expected HOSTDIR:/PATH[:encrypted|:plain]%s%s\n",
			spec, path && path[0] == '/' ? ": " : "",
			path && path[0] == '/' ? kiln_errmsg() : "");
		return -1;
	}
	if (i == 16) {
		fprintf(stderr, "kiln: run: -v: at most 16 volumes\n");
		return -1;
	}
	if (host[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		snprintf(hosts[i], sizeof(hosts[i]), "%s", host);
	else
		snprintf(hosts[i], sizeof(hosts[i]), "%.2047s/%.2000s", cwd, host);
	np[i] = names[i];
	hp[i] = hosts[i];
	plain[i] = mode && !strcmp(mode, "plain");
	o->vol_plain = plain;
	o->vol_names = np;
	o->vol_hosts = hp;
	o->n_volumes++;
	return 0;
}

/* --channel unix|vsock (sim): vsock puts the parent at VMADDR_CID_LOCAL (the guest lab). */
static int parse_channel(const char *s, struct kiln_sim_opts *o)
{
	if (!strcmp(s, "unix") || !strcmp(s, "vsock")) {
		o->vsock_cid = strcmp(s, "vsock") ? 0 : VMADDR_CID_LOCAL;
		return 0;
	}
	fprintf(stderr, "kiln: run: --channel: \"%s\" is not unix or vsock\n", s);
	return -1;
}

static int parse_args(int argc, char **argv, struct kiln_sim_opts *o, enum run_mode *mode,
		      uint64_t *cid)
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
		{ "cid", required_argument, NULL, 'C' },
		{ "channel", required_argument, NULL, 'T' },
		{ "publish", required_argument, NULL, 'p' },
		{ "volume", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "dhp:v:", longs, NULL)) != -1) {
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
		case 'p':
			if (add_port(o, optarg) < 0)
				return 2;
			break;
		case 'v':
			if (add_volume(o, optarg) < 0)
				return 2;
			break;
		case 'C':
			if (parse_cid(optarg, cid) < 0)
				return 2;
			break;
		case 'T':
			if (parse_channel(optarg, o) < 0)
				return 2;
			break;
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
	return kiln_nitro_available() < 0 ? -1 : 0;
}

/* ---- --nitro ---- */

/*
 * kilnd's state dir (absolute) and a running kilnd (started when missing);
 * *use false: run without one. As in the sim, -p needs kilnd.
 */
static int nitro_kilnd(const struct kiln_sim_opts *o, char *state, size_t len, bool *use)
{
	char dir[4096], cwd[2048];
	int rc = 0;

	*use = false;
	if (o->no_kilnd && o->n_ports)
		return kiln_err(EINVAL, "-p needs kilnd (drop --no-kilnd)");
	if (o->no_kilnd)
		return 0;
	if (o->state_dir)
		snprintf(dir, sizeof(dir), "%s", o->state_dir);
	else
		rc = kiln_sim_state_dir(dir, sizeof(dir));
	if (rc < 0)
		return rc;
	if (dir[0] != '/' && getcwd(cwd, sizeof(cwd)))
		rc = snprintf(state, len, "%s/%s", cwd, dir) >= (int)len ? -1 : 0;
	else
		rc = snprintf(state, len, "%s", dir) >= (int)len ? -1 : 0;
	if (rc < 0)
		return kiln_err(ENAMETOOLONG, "state directory path too long");
	rc = kiln_sim_ensure_kilnd(state, o->kilnd_path);
	if (rc == -ENOENT && o->n_ports)
		return kiln_err(ENOENT, "-p needs kilnd, and no kilnd executable was found");
	if (rc == -ENOENT) {
		fprintf(stderr, "kiln: notice: no kilnd found; running without logs or `kiln ps`\n");
		return 0;
	}
	*use = rc == 0;
	return rc;
}

/*
 * -d, as the sim: the child holds the enclave with its stdio on /dev/null
 * (so `$(kiln run -d ...)` returns), and reports through a pipe: notices,
 * then "ok ID" or "error MSG". The parent prints them and exits.
 */
static int nitro_detached(struct kiln_nitro_run *r)
{
	int code = RUN_FAILED, rc = kiln_detach(&r->report_fd, &code,
						"the enclave process ended during the launch");

	if (rc == 0) { /* the background child: the report fd is closed by kiln_nitro_run */
		rc = kiln_nitro_run(&kiln_nitro_real_ops, r);
		_exit(rc < 0 ? RUN_FAILED : rc);
	}
	return rc < 0 ? rc : code;
}

/*
 * --nitro: a -p the enclave would refuse fails before kilnd is started or
 * anything is launched (the sim checks in kiln_sim_run, as early).
 * kiln_nitro_run checks again, for library callers.
 */
static int nitro_check_ports(const struct kiln_sim_opts *o)
{
	struct kiln_portmap pm[KILN_PORTMAP_MAX];
	struct eif_info info;
	int fd, rc = 0;

	if (!o->n_ports)
		return 0;
	for (size_t i = 0; i < o->n_ports && rc == 0; i++)
		rc = kiln_portmap_parse(o->ports[i], &pm[i]);
	if (rc < 0)
		return rc;
	fd = open(o->eif_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err(errno, "EIF %s: %s", o->eif_path,
				errno == ENOENT ? "not found" : strerror(errno));
	rc = eif_read_layout(fd, &info);
	if (rc < 0)
		rc = kiln_err_wrap(rc, "corrupt EIF %s", o->eif_path);
	else
		rc = eif_ingress_check(fd, &info, pm, o->n_ports);
	close(fd);
	return rc;
}

static int run_nitro(const struct kiln_sim_opts *o, uint64_t cid)
{
	struct kiln_nitro_run r = { .eif_path = o->eif_path, .name = o->name,
				    .memory_mib = o->memory_mib, .cpus = o->cpus, .cid = cid,
				    .debug = o->debug, .ports = o->ports, .n_ports = o->n_ports,
				    .vol_names = o->vol_names, .vol_hosts = o->vol_hosts,
				    .vol_plain = o->vol_plain,
				    .n_volumes = o->n_volumes, .report_fd = -1 };
	char name[64], state[4200];
	bool use_kilnd;
	int rc;

	/* An explicit name goes as given: kiln_nitro_run checks it whole. */
	if (!o->name && kiln_sim_default_name(o->eif_path, name, sizeof(name)) < 0)
		return -1;
	if (!o->name)
		r.name = name;
	rc = nitro_check_ports(o);
	if (rc < 0)
		return rc;
	rc = nitro_kilnd(o, state, sizeof(state), &use_kilnd);
	if (rc < 0)
		return rc;
	r.state_dir = use_kilnd ? state : NULL;
	if (o->detach)
		return nitro_detached(&r);
	/* In the foreground the app's output appears here, as in the sim. */
	r.out = stdout;
	r.err = stderr;
	return kiln_nitro_run(&kiln_nitro_real_ops, &r);
}

int kiln_cmd_run(int argc, char **argv)
{
	struct kiln_sim_opts o = { 0 };
	enum run_mode mode = MODE_AUTO;
	uint64_t cid = 0;
	int rc = parse_args(argc, argv, &o, &mode, &cid);

	if (rc >= 0)
		return rc;
	if (pick_mode(&mode) < 0) {
		fprintf(stderr, "kiln: run: %s\n", kiln_errmsg());
		return RUN_FAILED;
	}
	if (cid && mode != MODE_NITRO) {
		fprintf(stderr, "kiln: run: --cid is for --nitro\n");
		return RUN_FAILED;
	}
	if (o.vsock_cid && mode != MODE_SIM) {
		fprintf(stderr, "kiln: run: --channel is for --sim (Nitro's channels are vsock)\n");
		return RUN_FAILED;
	}
	rc = mode == MODE_NITRO ? run_nitro(&o, cid) : kiln_sim_run(&o);
	if (rc < 0) {
		fprintf(stderr, "kiln: run: %s\n", kiln_errmsg());
		return RUN_FAILED;
	}
	return rc;
}
