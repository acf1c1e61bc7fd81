/* SPDX-License-Identifier: Apache-2.0 */
/* kiln logs: an enclave's stdout and stderr lines as kilnd keeps them, optionally followed. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/kilnd_rpc.h"

enum { SHOW_STDOUT = 1, SHOW_STDERR = 2, SHOW_KILND = 4, SHOW_INIT = 8 };

struct logs_opts {
	const char *name;
	const char *state_opt;
	uint64_t since;
	unsigned show;
	bool follow, timestamps;
};

static int logs_usage(FILE *f)
{
	fputs("usage: kiln logs [-f] [--since WHEN] [-t] [--stream S] [--state-dir DIR] NAME\n"
	      "  -f, --follow      keep printing new lines until the enclave ends (or Ctrl-C)\n"
	      "  --since WHEN      only lines from WHEN on: a duration before now (10m, 1h30m),\n"
	      "                    an RFC 3339 time (2024-05-01T10:00:00Z) or unix seconds\n"
	      "  -t, --timestamps  prefix each line with its RFC 3339 time (ns)\n"
	      "  --stream S        stdout, stderr, kiln-init (its own lines: start, network\n"
	      "                    denials, attestation), kilnd (kilnd's events) or all\n"
	      "                    (default: stdout and stderr)\n"
	      "The app's stdout lines go to stdout, everything else to stderr.\n",
	      f);
	return f == stderr ? 2 : 0;
}

static int parse_stream(const char *s, unsigned *show)
{
	if (!strcmp(s, "stdout"))
		*show = SHOW_STDOUT;
	else if (!strcmp(s, "stderr"))
		*show = SHOW_STDERR;
	else if (!strcmp(s, "kilnd"))
		*show = SHOW_KILND;
	else if (!strcmp(s, "kiln-init"))
		*show = SHOW_INIT;
	else if (!strcmp(s, "all"))
		*show = SHOW_STDOUT | SHOW_STDERR | SHOW_KILND | SHOW_INIT;
	else
		return kiln_err(EINVAL, "--stream \"%s\": use stdout, stderr, kiln-init, kilnd or all",
				s);
	return 0;
}

static int parse_args(int argc, char **argv, struct logs_opts *o)
{
	static const struct option longs[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 'S' },
		{ "timestamps", no_argument, NULL, 't' },
		{ "stream", required_argument, NULL, 'o' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "fth", longs, NULL)) != -1) {
		switch (c) {
		case 'f': o->follow = true; break;
		case 't': o->timestamps = true; break;
		case 'S':
			if (kiln_rpc_parse_since(optarg, kiln_rpc_now_ns(), &o->since) < 0)
				return kiln_cli_fail("logs") + 1;
			break;
		case 'o':
			if (parse_stream(optarg, &o->show) < 0)
				return kiln_cli_fail("logs") + 1;
			break;
		case 's': o->state_opt = optarg; break;
		case 'h': return logs_usage(stdout);
		default: return logs_usage(stderr);
		}
	}
	if (optind != argc - 1)
		return logs_usage(stderr);
	o->name = argv[optind];
	return -1;
}

static void print_ts(FILE *f, json_t *ts)
{
	uint64_t ns = (uint64_t)json_integer_value(ts);
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	char buf[32];

	if (gmtime_r(&t, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm))
		fprintf(f, "%s.%09lluZ ", buf, (unsigned long long)(ns % 1000000000u));
}

/* One record to its stream; records of other streams are skipped. */
static void print_record(const struct logs_opts *o, json_t *rec)
{
	const char *stream = json_string_value(json_object_get(rec, "stream")) ?: "";
	json_t *line = json_object_get(rec, "line");
	unsigned kind = !strcmp(stream, "stdout") ? SHOW_STDOUT :
			!strcmp(stream, "stderr") ? SHOW_STDERR :
			!strcmp(stream, "kiln-init") ? SHOW_INIT : SHOW_KILND;
	FILE *f = kind == SHOW_STDOUT ? stdout : stderr;

	if (!(o->show & kind) || !json_is_string(line))
		return;
	fflush(f == stdout ? stderr : stdout); /* keep the two streams in record order */
	if (o->timestamps)
		print_ts(f, json_object_get(rec, "ts"));
	if (kind == SHOW_KILND)
		fputs("kilnd: ", f);
	fwrite(json_string_value(line), 1, json_string_length(line), f);
	if (!json_is_true(json_object_get(rec, "partial")))
		fputc('\n', f);
}

int kiln_cmd_logs(int argc, char **argv)
{
	struct logs_opts o = { .show = SHOW_STDOUT | SHOW_STDERR };
	struct kilnd_client c;
	char state[4096];
	json_t *rec;
	int rc = parse_args(argc, argv, &o);

	if (rc >= 0)
		return rc;
	rc = kiln_rpc_state_dir(o.state_opt, state, sizeof(state));
	if (rc == 0)
		rc = kiln_rpc_logs_open(state, o.name, o.follow, o.since, &c);
	if (rc < 0)
		return kiln_cli_fail("logs");
	while ((rc = kilnd_client_recv(&c, -1, &rec)) == 0) {
		int end = json_is_true(json_object_get(rec, "end"));

		if (!end)
			print_record(&o, rec);
		json_decref(rec);
		if (end)
			break;
		if (o.follow && c.len == 0)
			fflush(NULL);
	}
	fflush(NULL);
	kilnd_client_close(&c);
	return rc < 0 ? kiln_cli_fail("logs") : 0;
}
