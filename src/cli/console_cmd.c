/* SPDX-License-Identifier: Apache-2.0 */
/* kiln console: a debug-mode enclave's console (Nitro), or its live log stream (sim). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/kilnd_rpc.h"
#include "nitro/nitro.h"

/*
 * Nitro: the hypervisor serves a debug-mode enclave's serial console on
 * vsock CID 0, port CID + 10000 (read-only, as `nitro-cli console`): the
 * kernel's boot messages and everything written to /dev/console.
 * Sim: there is no serial console; /dev/console of a sim enclave is the
 * terminal of `kiln run` (or /dev/null with -d). The closest live view is
 * kilnd's stream of the enclave, so `kiln console` follows it from now on:
 * the app's stdout and stderr plus kilnd's events (heartbeat, connect, exit).
 * Both modes require --debug at `kiln run`, so that a production enclave
 * behaves the same in the sim as on Nitro (where it has no console at all).
 */

static int console_usage(FILE *f)
{
	fputs("usage: kiln console [--state-dir DIR] NAME\n"
	      "  Attach to a debug-mode enclave (kiln run --debug) until it ends or Ctrl-C.\n"
	      "  Nitro: the enclave's serial console (vsock CID 0, port CID + 10000).\n"
	      "  Sim: the console is the `kiln run` terminal; this follows the enclave's\n"
	      "  live log stream (stdout, stderr and kilnd's events) instead.\n",
	      f);
	return f == stderr ? 2 : 0;
}

static int nitro_console(json_t *e)
{
	json_t *cid = json_object_get(e, "cid");
	int fd = -1, rc;

	if (!json_is_integer(cid))
		return kiln_err(EPROTO, "kilnd's record has no CID");
	rc = kiln_nitro_console_connect(&kiln_nitro_real_ops, (uint64_t)json_integer_value(cid),
					&fd);
	if (rc < 0)
		return rc;
	rc = kiln_nitro_console_copy(fd, stdout);
	close(fd);
	return rc;
}

static void print_rec(json_t *rec)
{
	const char *stream = json_string_value(json_object_get(rec, "stream")) ?: "";
	json_t *line = json_object_get(rec, "line");
	FILE *f = !strcmp(stream, "stdout") ? stdout : stderr;

	if (!json_is_string(line))
		return;
	fflush(f == stdout ? stderr : stdout);
	if (!strcmp(stream, "kilnd"))
		fputs("kilnd: ", f);
	fwrite(json_string_value(line), 1, json_string_length(line), f);
	if (!json_is_true(json_object_get(rec, "partial")))
		fputc('\n', f);
	fflush(f);
}

static int sim_console(const char *state, const char *name)
{
	struct kilnd_client c;
	json_t *rec;
	int rc;

	fprintf(stderr, "kiln: console: %s runs in the sim: its console is the terminal of "
			"`kiln run`; following its live log stream instead (Ctrl-C to detach)\n",
		name);
	rc = kiln_rpc_logs_open(state, name, true, kiln_rpc_now_ns(), &c);
	if (rc < 0)
		return rc;
	while ((rc = kilnd_client_recv(&c, -1, &rec)) == 0) {
		int end = json_is_true(json_object_get(rec, "end"));

		if (!end)
			print_rec(rec);
		json_decref(rec);
		if (end)
			break;
	}
	kilnd_client_close(&c);
	return rc;
}

int kiln_cmd_console(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "state-dir", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_opt = NULL, *name, *mode, *st;
	char state[4096];
	json_t *e = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'D': state_opt = optarg; break;
		case 'h': return console_usage(stdout);
		default: return console_usage(stderr);
		}
	}
	if (optind != argc - 1)
		return console_usage(stderr);
	name = argv[optind];
	rc = kiln_rpc_state_dir(state_opt, state, sizeof(state));
	if (rc == 0)
		rc = kiln_rpc_find(state, name, KILN_RPC_TIMEOUT_MS, &e);
	if (rc < 0)
		return kiln_cli_fail("console");
	mode = json_string_value(json_object_get(e, "mode")) ?: "";
	st = json_string_value(json_object_get(e, "state")) ?: "";
	if (strcmp(st, "running") && strcmp(st, "starting"))
		rc = kiln_err(ESRCH, "enclave %s is not running (%s): see kiln logs %s", name, st,
			      name);
	else if (!json_is_true(json_object_get(e, "debug")))
		rc = kiln_err(EPERM, "enclave %s was not started with --debug: it has no console "
				     "(production enclaves have none); see kiln logs %s",
			      name, name);
	else if (!strcmp(mode, "nitro"))
		rc = nitro_console(e);
	else
		rc = sim_console(state, name);
	json_decref(e);
	return rc < 0 ? kiln_cli_fail("console") : 0;
}
