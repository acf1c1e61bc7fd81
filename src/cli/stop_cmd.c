/* SPDX-License-Identifier: Apache-2.0 */
/* kiln stop and kiln rm: end an enclave through kilnd, forget a finished one. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/kilnd_rpc.h"

#define STOP_TIMEOUT_DEFAULT 10
#define STOP_TIMEOUT_MAX 3600
/* kilnd answers a stop once the enclave is gone: the timeout, its grace
 * periods (kiln-init's kill, then the runtime's), and some slack. */
#define STOP_REPLY_SLACK_MS 20000

static int stop_usage(FILE *f)
{
	fputs("usage: kiln stop [--timeout S] [--signal SIG] [--state-dir DIR] NAME...\n"
	      "  -t, --timeout S   seconds to wait after the signal before the enclave is\n"
	      "                    killed (default 10, at most 3600)\n"
	      "  -s, --signal SIG  the signal for the app (default TERM), sent by kiln-init\n"
	      "Returns once the enclave has ended; prints each NAME stopped.\n",
	      f);
	return f == stderr ? 2 : 0;
}

static int rm_usage(FILE *f)
{
	fputs("usage: kiln rm [-f] [--state-dir DIR] NAME...\n"
	      "  Forget finished enclaves: their kilnd record and logs.\n"
	      "  -f, --force       stop a running enclave at once (SIGKILL) first\n",
	      f);
	return f == stderr ? 2 : 0;
}

static int parse_timeout(const char *s, unsigned *t)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > STOP_TIMEOUT_MAX)
		return kiln_err(EINVAL, "--timeout \"%s\": not a number of seconds in [0, %d]", s,
				STOP_TIMEOUT_MAX);
	*t = (unsigned)v;
	return 0;
}

static int stop_one(const char *state, const char *name, unsigned timeout, int sig)
{
	char nokilnd[128];
	json_t *reply;
	int rc;

	snprintf(nokilnd, sizeof(nokilnd), "no such enclave: %s", name);
	rc = kiln_rpc_call(state,
			   json_pack("{s:s,s:s,s:I,s:I}", "op", "stop", "name", name, "timeout",
				     (json_int_t)timeout, "signal", (json_int_t)sig),
			   (int)timeout * 1000 + STOP_REPLY_SLACK_MS, nokilnd, &reply);
	json_decref(reply);
	return rc;
}

int kiln_cmd_stop(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "time", required_argument, NULL, 't' },
		{ "signal", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_opt = NULL;
	unsigned timeout = STOP_TIMEOUT_DEFAULT;
	char state[4096];
	int sig = SIGTERM, c, failed = 0;

	while ((c = getopt_long(argc, argv, "t:s:h", longs, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_timeout(optarg, &timeout) < 0)
				return kiln_cli_fail("stop") + 1;
			break;
		case 's':
			if (kiln_rpc_parse_signal(optarg, &sig) < 0)
				return kiln_cli_fail("stop") + 1;
			break;
		case 'D': state_opt = optarg; break;
		case 'h': return stop_usage(stdout);
		default: return stop_usage(stderr);
		}
	}
	if (optind >= argc)
		return stop_usage(stderr);
	if (kiln_rpc_state_dir(state_opt, state, sizeof(state)) < 0)
		return kiln_cli_fail("stop");
	for (int i = optind; i < argc; i++) {
		if (stop_one(state, argv[i], timeout, sig) < 0) {
			failed = kiln_cli_fail("stop");
			continue;
		}
		printf("%s\n", argv[i]);
		fflush(stdout);
	}
	return failed;
}

static int rm_one(const char *state, const char *name, bool force)
{
	char nokilnd[128];
	json_t *reply = NULL;
	int rc = 0;

	snprintf(nokilnd, sizeof(nokilnd), "no such enclave: %s", name);
	if (force)
		rc = kiln_rpc_call(state,
				   json_pack("{s:s,s:s,s:I,s:I}", "op", "stop", "name", name,
					     "timeout", (json_int_t)0, "signal", (json_int_t)SIGKILL),
				   STOP_REPLY_SLACK_MS, nokilnd, &reply);
	json_decref(reply);
	if (rc == 0)
		rc = kiln_rpc_call(state, json_pack("{s:s,s:s}", "op", "forget", "name", name),
				   10000, nokilnd, &reply);
	json_decref(reply);
	if (rc == -EBUSY || (rc < 0 && strstr(kiln_errmsg(), "stop it first")))
		return kiln_err(EBUSY, "enclave %s is running: stop it first (or kiln rm -f)",
				name);
	return rc;
}

int kiln_cmd_rm(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_opt = NULL;
	char state[4096];
	bool force = false;
	int c, failed = 0;

	while ((c = getopt_long(argc, argv, "fh", longs, NULL)) != -1) {
		switch (c) {
		case 'f': force = true; break;
		case 'D': state_opt = optarg; break;
		case 'h': return rm_usage(stdout);
		default: return rm_usage(stderr);
		}
	}
	if (optind >= argc)
		return rm_usage(stderr);
	if (kiln_rpc_state_dir(state_opt, state, sizeof(state)) < 0)
		return kiln_cli_fail("rm");
	for (int i = optind; i < argc; i++) {
		if (rm_one(state, argv[i], force) < 0) {
			failed = kiln_cli_fail("rm");
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return failed;
}
