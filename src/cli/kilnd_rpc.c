/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the CLI commands that talk to kilnd: state dir, calls, time and signal parsing. */
#include "cli/kilnd_rpc.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sim/sim.h"

#define NS UINT64_C(1000000000)

int kiln_rpc_state_dir(const char *opt, char *buf, size_t len)
{
	int n;

	if (!opt)
		return kiln_sim_state_dir(buf, len);
	n = snprintf(buf, len, "%s", opt);
	if (n < 0 || (size_t)n >= len)
		return kiln_err(ENAMETOOLONG, "state directory path too long");
	return 0;
}

/* "kilnd is not running (no S/kilnd.sock)" gets what that means for the caller. */
static int no_kilnd(int rc, const char *meaning)
{
	char msg[512];

	if ((rc != -ENOENT && rc != -ECONNREFUSED) || !strstr(kiln_errmsg(), "kilnd is not running"))
		return rc;
	snprintf(msg, sizeof(msg), "%s", kiln_errmsg());
	return kiln_err(-rc, "%s: %s", msg, meaning);
}

int kiln_rpc_call(const char *state_dir, json_t *req, int timeout_ms, const char *nokilnd,
		  json_t **reply)
{
	int rc = kilnd_client_call(state_dir, req, timeout_ms, reply);

	return rc < 0 && nokilnd ? no_kilnd(rc, nokilnd) : rc;
}

int kiln_rpc_find(const char *state_dir, const char *name, int timeout_ms, json_t **enclave)
{
	char nokilnd[128];
	json_t *reply, *arr, *e;
	size_t i;
	int rc;

	snprintf(nokilnd, sizeof(nokilnd), "no such enclave: %s", name);
	*enclave = NULL;
	rc = kiln_rpc_call(state_dir, json_pack("{s:s}", "op", "ps"), timeout_ms, nokilnd, &reply);
	if (rc < 0)
		return rc;
	arr = json_object_get(reply, "enclaves");
	json_array_foreach(arr, i, e) {
		if (!strcmp(json_string_value(json_object_get(e, "name")) ?: "", name)) {
			*enclave = json_incref(e);
			break;
		}
	}
	json_decref(reply);
	return *enclave ? 0 : kiln_err(ENOENT, "no such enclave: %s", name);
}

int kiln_rpc_logs_start(struct kilnd_client *c, const char *state_dir, const char *name,
			bool follow, uint64_t since_ns, int timeout_ms)
{
	json_t *reply = NULL;
	int rc = kilnd_client_open(c, state_dir);

	if (rc < 0)
		return rc;
	rc = kilnd_client_send(c, json_pack("{s:s,s:s,s:b,s:I}", "op", "logs", "name", name,
					    "follow", follow, "since", (json_int_t)since_ns));
	if (rc == 0)
		rc = kilnd_client_recv(c, timeout_ms, &reply);
	if (rc == 0)
		rc = kilnd_client_check(reply);
	json_decref(reply);
	if (rc < 0)
		kilnd_client_close(c);
	return rc;
}

int kiln_rpc_logs_open(const char *state_dir, const char *name, bool follow, uint64_t since_ns,
		       struct kilnd_client *c)
{
	char meaning[128];
	int rc = kiln_rpc_logs_start(c, state_dir, name, follow, since_ns, KILN_RPC_TIMEOUT_MS);

	snprintf(meaning, sizeof(meaning), "no such enclave: %s", name);
	return rc < 0 ? no_kilnd(rc, meaning) : rc;
}

int kiln_rpc_exit_code(json_t *o)
{
	json_t *code = json_object_get(o, "exit_code"), *sig = json_object_get(o, "signal");

	if (json_is_integer(code))
		return (int)json_integer_value(code);
	if (json_is_integer(sig))
		return 128 + (int)json_integer_value(sig);
	return -1;
}

void kiln_rpc_state_text(json_t *o, char *buf, size_t len)
{
	const char *state = json_string_value(json_object_get(o, "state")) ?: "?";
	int code = kiln_rpc_exit_code(o);

	if (!strcmp(state, "exited") || !strcmp(state, "stopped")) {
		if (code >= 0) {
			snprintf(buf, len, "%s (%d)", state, code);
			return;
		}
	}
	snprintf(buf, len, "%s", state);
}

void kiln_rpc_duration(uint64_t s, char *buf, size_t len)
{
	if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%lluh%llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%llud%lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
}

uint64_t kiln_rpc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* ---- --since ---- */

/* Decimal digits at *p into v (at most 18 of them); the count read. */
static int digits(const char **p, uint64_t *v)
{
	int n = 0;

	*v = 0;
	while (isdigit((unsigned char)**p) && n < 18) {
		*v = *v * 10 + (uint64_t)(**p - '0');
		(*p)++;
		n++;
	}
	return isdigit((unsigned char)**p) ? -1 : n;
}

/* ".123456789" -> ns (at most 9 digits); nothing -> 0. */
static int fraction(const char **p, uint64_t *ns)
{
	uint64_t scale = NS / 10;
	int n = 0;

	*ns = 0;
	if (**p != '.')
		return 0;
	(*p)++;
	while (isdigit((unsigned char)**p) && n < 9) {
		*ns += (uint64_t)(**p - '0') * scale;
		scale /= 10;
		(*p)++;
		n++;
	}
	return n ? 0 : -1;
}

static int parse_duration(const char *s, uint64_t *ns)
{
	static const struct { const char *u; uint64_t ns; } units[] = {
		{ "ms", NS / 1000 }, { "us", NS / 1000000 }, { "ns", 1 }, { "s", NS },
		{ "m", 60 * NS },   { "h", 3600 * NS },     { "d", 86400 * NS },
	};
	const char *p = s;
	uint64_t total = 0;

	while (*p) {
		uint64_t v, frac = 0;
		size_t i;

		if (digits(&p, &v) <= 0 || fraction(&p, &frac) < 0)
			return -1;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strncmp(p, units[i].u, strlen(units[i].u)))
				break;
		if (i == sizeof(units) / sizeof(units[0]) || v > UINT64_MAX / units[i].ns / 2)
			return -1;
		total += v * units[i].ns + frac * units[i].ns / NS;
		p += strlen(units[i].u);
	}
	*ns = total;
	return 0;
}

static int fixed(const char **p, int n, char sep, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		*v = *v * 10 + (**p - '0');
	}
	if (sep) {
		if (**p != sep)
			return -1;
		(*p)++;
	}
	return 0;
}

/* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
static int parse_rfc3339(const char *s, uint64_t *ns)
{
	const char *p = s;
	struct tm tm = { 0 };
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	uint64_t frac;
	time_t t;

	if (fixed(&p, 4, '-', &y) || fixed(&p, 2, '-', &mo) || fixed(&p, 2, 0, &d))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (fixed(&p, 2, ':', &h) || fixed(&p, 2, ':', &mi) || fixed(&p, 2, 0, &se) ||
	    fraction(&p, &frac) < 0)
		return -1;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (fixed(&p, 2, ':', &oh) || fixed(&p, 2, 0, &om))
			return -1;
	} else {
		return -1;
	}
	if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60 || oh > 23 || om > 59)
		return -1;
	tm = (struct tm){ .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			  .tm_min = mi, .tm_sec = se };
	t = timegm(&tm) - sign * (oh * 3600 + om * 60);
	if (t < 0)
		return -1;
	*ns = (uint64_t)t * NS + frac;
	return 0;
}

static int parse_unix(const char *s, uint64_t *ns)
{
	const char *p = s;
	uint64_t sec, frac;

	if (digits(&p, &sec) <= 0 || fraction(&p, &frac) < 0 || *p || sec > UINT64_MAX / NS / 2)
		return -1;
	*ns = sec * NS + frac;
	return 0;
}

int kiln_rpc_parse_since(const char *s, uint64_t now_ns, uint64_t *ns)
{
	uint64_t d;

	if (parse_unix(s, ns) == 0 || parse_rfc3339(s, ns) == 0)
		return 0;
	if (parse_duration(s, &d) == 0 && *s) {
		*ns = d < now_ns ? now_ns - d : 0;
		return 0;
	}
	return kiln_err(EINVAL, "--since \"%s\": not a duration (10m, 1h30m), an RFC 3339 time "
			"(2024-05-01T10:00:00Z) or unix seconds", s);
}

/* ---- signals ---- */

static const struct { const char *name; int sig; } signames[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },	  { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
	{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "ALRM", SIGALRM },
	{ "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "WINCH", SIGWINCH },
};

int kiln_rpc_parse_signal(const char *s, int *sig)
{
	const char *n = strncasecmp(s, "SIG", 3) ? s : s + 3;
	char *end;
	long v;

	for (size_t i = 0; i < sizeof(signames) / sizeof(signames[0]); i++) {
		if (!strcasecmp(n, signames[i].name)) {
			*sig = signames[i].sig;
			return 0;
		}
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 64)
		return kiln_err(EINVAL, "--signal \"%s\": not a signal name (TERM, INT, HUP, "
				"QUIT, USR1, USR2, KILL) or number 1..64", s);
	*sig = (int)v;
	return 0;
}
