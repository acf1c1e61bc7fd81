/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI side of kilnd: --since, --signal, state text, durations, the not-running message. */
#include "t.h"

#include <signal.h>
#include <unistd.h>

#include "cli/kilnd_rpc.h"

#define NS UINT64_C(1000000000)

TEST(since)
{
	uint64_t now = UINT64_C(1714557600) * NS, v = 0;

	CHECK(kiln_rpc_parse_since("10m", now, &v) == 0 && v == now - 600 * NS);
	CHECK(kiln_rpc_parse_since("1h30m", now, &v) == 0 && v == now - 5400 * NS);
	CHECK(kiln_rpc_parse_since("250ms", now, &v) == 0 && v == now - NS / 4);
	CHECK(kiln_rpc_parse_since("1.5s", now, &v) == 0 && v == now - 3 * NS / 2);
	CHECK(kiln_rpc_parse_since("2d", now, &v) == 0 && v == now - 2 * 86400 * NS);
	CHECK(kiln_rpc_parse_since("1714557600", now, &v) == 0 && v == now);
	CHECK(kiln_rpc_parse_since("1714557600.25", now, &v) == 0 && v == now + NS / 4);
	CHECK(kiln_rpc_parse_since("2024-05-01T10:00:00Z", now, &v) == 0 && v == now);
	CHECK(kiln_rpc_parse_since("2024-05-01T12:00:00+02:00", now, &v) == 0 && v == now);
	CHECK(kiln_rpc_parse_since("2024-05-01T09:30:00.123456789-00:30", now, &v) == 0 &&
	      v == now + 123456789);
	CHECK(kiln_rpc_parse_since("1000000h", now, &v) == 0 && v == 0); /* before the epoch */
	CHECK_ERR(kiln_rpc_parse_since("", now, &v), "not a duration");
	CHECK_ERR(kiln_rpc_parse_since("yesterday", now, &v), "not a duration");
	CHECK(kiln_rpc_parse_since("10", now, &v) == 0 && v == 10 * NS); /* unix, as docker */
	CHECK_ERR(kiln_rpc_parse_since("10x", now, &v), "not a duration");
	CHECK_ERR(kiln_rpc_parse_since("-5m", now, &v), "not a duration");
	CHECK_ERR(kiln_rpc_parse_since("2024-13-01T00:00:00Z", now, &v), "RFC 3339");
	CHECK_ERR(kiln_rpc_parse_since("2024-05-01T10:00:00", now, &v), "RFC 3339");
	CHECK_ERR(kiln_rpc_parse_since("2024-05-01", now, &v), "RFC 3339");
	CHECK_ERR(kiln_rpc_parse_since("99999999999999999999", now, &v), "unix seconds");
}

TEST(signals)
{
	int s = 0;

	CHECK(kiln_rpc_parse_signal("TERM", &s) == 0 && s == SIGTERM);
	CHECK(kiln_rpc_parse_signal("sigint", &s) == 0 && s == SIGINT);
	CHECK(kiln_rpc_parse_signal("SIGKILL", &s) == 0 && s == SIGKILL);
	CHECK(kiln_rpc_parse_signal("10", &s) == 0 && s == 10);
	CHECK(kiln_rpc_parse_signal("64", &s) == 0 && s == 64);
	CHECK_ERR(kiln_rpc_parse_signal("0", &s), "not a signal name");
	CHECK_ERR(kiln_rpc_parse_signal("65", &s), "not a signal name");
	CHECK_ERR(kiln_rpc_parse_signal("SIG", &s), "not a signal name");
	CHECK_ERR(kiln_rpc_parse_signal("BOGUS", &s), "not a signal name");
}

static int state_is(const char *json, const char *want)
{
	json_t *o = json_loads(json, 0, NULL);
	char buf[64];

	kiln_rpc_state_text(o, buf, sizeof(buf));
	json_decref(o);
	if (strcmp(buf, want))
		fprintf(stderr, "state text \"%s\", want \"%s\"\n", buf, want);
	return !strcmp(buf, want);
}

TEST(state_text)
{
	CHECK(state_is("{\"state\":\"running\",\"exit_code\":null}", "running"));
	CHECK(state_is("{\"state\":\"exited\",\"exit_code\":3,\"signal\":null}", "exited (3)"));
	CHECK(state_is("{\"state\":\"exited\",\"exit_code\":null,\"signal\":11}", "exited (139)"));
	CHECK(state_is("{\"state\":\"exited\",\"exit_code\":null,\"signal\":null}", "exited"));
	CHECK(state_is("{\"state\":\"stopped\",\"exit_code\":null,\"signal\":null}", "stopped"));
	CHECK(state_is("{\"state\":\"stopped\",\"exit_code\":137}", "stopped (137)"));
	CHECK(state_is("{}", "?"));
}

TEST(durations)
{
	char b[32];

	kiln_rpc_duration(0, b, sizeof(b));
	CHECK(!strcmp(b, "0s"));
	kiln_rpc_duration(192, b, sizeof(b));
	CHECK(!strcmp(b, "3m12s"));
	kiln_rpc_duration(7500, b, sizeof(b));
	CHECK(!strcmp(b, "2h5m"));
	kiln_rpc_duration(3 * 86400 + 4 * 3600 + 5, b, sizeof(b));
	CHECK(!strcmp(b, "3d4h"));
}

TEST(not_running)
{
	json_t *reply = (json_t *)1;

	CHECK_ERR(kiln_rpc_call("/nonexistent-kiln-state", json_pack("{s:s}", "op", "ps"), 1000,
				"no enclaves", &reply),
		  "kilnd is not running (no /nonexistent-kiln-state/kilnd.sock): no enclaves");
	CHECK(reply == NULL);
	CHECK_ERR(kiln_rpc_find("/nonexistent-kiln-state", "web", KILN_RPC_TIMEOUT_MS, &reply),
		  "kilnd is not running (no /nonexistent-kiln-state/kilnd.sock): no such enclave: web");
}

int main(void)
{
	RUN(since);
	RUN(signals);
	RUN(state_text);
	RUN(durations);
	RUN(not_running);
	return t_done();
}
