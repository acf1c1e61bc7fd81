/* SPDX-License-Identifier: Apache-2.0 */
/* kiln ps: the enclaves kilnd knows, as an aligned table or JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/kilnd_rpc.h"

#define NCOLS 8

static const char *const headers[NCOLS] = { "NAME", "ID",     "CID",    "STATE",
					    "UPTIME", "CPUS", "MEMORY", "MODE" };

struct row {
	char col[NCOLS][80];
};

static int ps_usage(FILE *f)
{
	fputs("usage: kiln ps [--all] [--json] [--state-dir DIR]\n"
	      "  -a, --all         also enclaves that have ended (kept until `kiln rm`)\n"
	      "  --json            a JSON array of kilnd's records instead of the table\n"
	      "  --state-dir DIR   kilnd's state (default $KILN_STATE_DIR, /run/kiln as root,\n"
	      "                    else $XDG_RUNTIME_DIR/kiln)\n"
	      "STATE is starting, running, exited (CODE) or stopped (killed by `kiln stop`\n"
	      "after its timeout); CODE is the app's exit code, 128 + signal when killed.\n",
	      f);
	return f == stderr ? 2 : 0;
}

static int running(json_t *e)
{
	const char *s = json_string_value(json_object_get(e, "state")) ?: "";

	return !strcmp(s, "running") || !strcmp(s, "starting");
}

static void fill_row(json_t *e, uint64_t now, struct row *r)
{
	json_t *cid = json_object_get(e, "cid");
	uint64_t started = (uint64_t)json_integer_value(json_object_get(e, "started_ns"));
	uint64_t ended = (uint64_t)json_integer_value(json_object_get(e, "ended_ns"));
	char d[32];

	snprintf(r->col[0], sizeof(r->col[0]), "%s", json_string_value(json_object_get(e, "name")) ?: "?");
	snprintf(r->col[1], sizeof(r->col[1]), "%s", json_string_value(json_object_get(e, "id")) ?: "?");
	if (json_is_integer(cid))
		snprintf(r->col[2], sizeof(r->col[2]), "%lld", (long long)json_integer_value(cid));
	else
		snprintf(r->col[2], sizeof(r->col[2]), "-");
	kiln_rpc_state_text(e, r->col[3], sizeof(r->col[3]));
	if (running(e)) {
		kiln_rpc_duration(now > started ? (now - started) / 1000000000u : 0, d, sizeof(d));
		snprintf(r->col[4], sizeof(r->col[4]), "%s", d);
	} else if (ended) {
		kiln_rpc_duration(now > ended ? (now - ended) / 1000000000u : 0, d, sizeof(d));
		snprintf(r->col[4], sizeof(r->col[4]), "%s %s ago",
			 json_string_value(json_object_get(e, "state")) ?: "ended", d);
	} else {
		snprintf(r->col[4], sizeof(r->col[4]), "-");
	}
	snprintf(r->col[5], sizeof(r->col[5]), "%lld",
		 (long long)json_integer_value(json_object_get(e, "cpus")));
	snprintf(r->col[6], sizeof(r->col[6]), "%lldMiB",
		 (long long)json_integer_value(json_object_get(e, "memory_mib")));
	snprintf(r->col[7], sizeof(r->col[7]), "%s",
		 json_string_value(json_object_get(e, "mode")) ?: "?");
}

static void print_row(const char *const *col, const size_t *w)
{
	for (int i = 0; i < NCOLS; i++) {
		if (i == NCOLS - 1)
			printf("%s\n", col[i]);
		else
			printf("%-*s   ", (int)w[i], col[i]);
	}
}

static int print_table(json_t *list)
{
	size_t n = json_array_size(list), w[NCOLS], i;
	struct row *rows = calloc(n ? n : 1, sizeof(*rows));
	uint64_t now = kiln_rpc_now_ns();

	if (!rows)
		return kiln_err(ENOMEM, "out of memory");
	for (int c = 0; c < NCOLS; c++)
		w[c] = strlen(headers[c]);
	for (i = 0; i < n; i++) {
		fill_row(json_array_get(list, i), now, &rows[i]);
		for (int c = 0; c < NCOLS; c++)
			if (strlen(rows[i].col[c]) > w[c])
				w[c] = strlen(rows[i].col[c]);
	}
	print_row(headers, w);
	for (i = 0; i < n; i++) {
		const char *col[NCOLS];

		for (int c = 0; c < NCOLS; c++)
			col[c] = rows[i].col[c];
		print_row(col, w);
	}
	free(rows);
	return 0;
}

int kiln_cmd_ps(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_opt = NULL;
	char state[4096];
	json_t *reply = NULL, *list, *e;
	bool all = false, as_json = false;
	size_t i;
	int c, rc;

	while ((c = getopt_long(argc, argv, "ah", longs, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'j': as_json = true; break;
		case 's': state_opt = optarg; break;
		case 'h': return ps_usage(stdout);
		default: return ps_usage(stderr);
		}
	}
	if (optind != argc)
		return ps_usage(stderr);
	rc = kiln_rpc_state_dir(state_opt, state, sizeof(state));
	if (rc == 0)
		rc = kiln_rpc_call(state, json_pack("{s:s}", "op", "ps"), 10000, "no enclaves",
				   &reply);
	if (rc < 0)
		return kiln_cli_fail("ps");
	list = json_array();
	json_array_foreach(json_object_get(reply, "enclaves"), i, e)
		if (all || running(e))
			json_array_append(list, e);
	if (as_json) {
		char *text = json_dumps(list, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (text)
			printf("%s\n", text);
		free(text);
	} else {
		rc = print_table(list);
	}
	json_decref(list);
	json_decref(reply);
	return rc < 0 ? kiln_cli_fail("ps") : 0;
}
