/* SPDX-License-Identifier: Apache-2.0 */
/* Freshness of attestation documents: DURATION parsing, ages, `kiln attest verify --max-age`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/attest.h"
#include "nsm/nsm.h"
#include "nsm/sim.h"
#include "t.h"

#define FIXTURE "attestation/debug-mode-2022-10-12.cbor"
#define FIXTURE_TS 1665582606081LL /* its timestamp, from the fixtures' README */
#define MIN 60000LL
#define HOUR 3600000LL

TEST(durations)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
		{ "500ms", 500 }, { "30s", 30000 }, { "5m", 5 * MIN }, { "1h", HOUR },
		{ "1h30m", HOUR + 30 * MIN }, { "7d", 7 * 24 * HOUR }, { "1m1ms", MIN + 1 },
		{ "0h5s", 5000 },
	};
	static const char *const bad[] = { "", "5", "m", "1x", "1hh", "30s5", "-1s", "1.5h",
					   " 1h", "1h ", "1H" };
	int64_t ms;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = -1;
		CHECK(kiln_attest_parse_duration(good[i].s, &ms) == 0 && ms == good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_ERR(kiln_attest_parse_duration(bad[i], &ms), "want NUMBER UNIT groups");
	CHECK_ERR(kiln_attest_parse_duration("0s", &ms), "is zero");
	CHECK_ERR(kiln_attest_parse_duration("36700d", &ms), "longer than 100 years");
	CHECK_ERR(kiln_attest_parse_duration("99999999999999999999999ms", &ms),
		  "longer than 100 years");
}

TEST(formatting)
{
	char b[32];

	kiln_attest_format_duration(450, b, sizeof(b));
	CHECK(!strcmp(b, "450ms"));
	kiln_attest_format_duration(45000, b, sizeof(b));
	CHECK(!strcmp(b, "45s"));
	kiln_attest_format_duration(2 * HOUR + 5 * MIN + 3000, b, sizeof(b));
	CHECK(!strcmp(b, "2h5m"));
	kiln_attest_format_duration(812 * 24 * HOUR + 3 * HOUR, b, sizeof(b));
	CHECK(!strcmp(b, "812d3h"));
	kiln_attest_format_duration(HOUR, b, sizeof(b));
	CHECK(!strcmp(b, "1h"));
}

static struct kiln_attest_doc *load_fixture(void)
{
	static uint8_t buf[1 << 16];
	struct kiln_attest_doc *doc = NULL;
	FILE *f = fopen(t_fixture(FIXTURE), "rb");
	size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;

	if (f)
		fclose(f);
	CHECK(n > 0 && kiln_attest_parse(buf, n, &doc) == 0);
	return doc;
}

/* The real document's age against chosen times: stale, fresh, and from the future. */
TEST(real_document_ages)
{
	struct kiln_attest_doc *doc = load_fixture();

	if (!doc)
		return;
	CHECK(doc->timestamp_ms == (uint64_t)FIXTURE_TS);
	CHECK_ERR(kiln_attest_check_age(doc, FIXTURE_TS + 2 * HOUR + 5 * MIN, HOUR),
		  "document is 2h5m old, more than the maximum age 1h");
	CHECK(kiln_attest_check_age(doc, FIXTURE_TS + 2 * HOUR, 2 * HOUR) == 0);
	CHECK(kiln_attest_check_age(doc, FIXTURE_TS, 1) == 0);
	CHECK(kiln_attest_check_age(doc, FIXTURE_TS - 30000, HOUR) == 0); /* within the skew */
	CHECK_ERR(kiln_attest_check_age(doc, FIXTURE_TS - 2 * MIN, HOUR),
		  "document timestamp is 2m in the future");
	kiln_attest_doc_free(doc);
}

static int cli(const char *doc, const char *root, const char *max_age, const char *at)
{
	const char *argv[16] = { "attest", "verify", doc, "--max-age", max_age };
	int argc = 5;

	if (root) {
		argv[argc++] = "--root";
		argv[argc++] = root;
	}
	if (at) {
		argv[argc++] = "--at";
		argv[argc++] = at;
	}
	return kiln_attest_cli(argc, (char **)argv);
}

/* The command with the real document: verified at its own time, aged by the clock or --at. */
TEST(cli_real_document)
{
	const char *path = t_fixture(FIXTURE);
	char at[32], dur[32];
	int64_t age = (int64_t)time(NULL) * 1000 - FIXTURE_TS;

	CHECK(cli(path, NULL, "1h", "doc") == 1);
	CHECK(strstr(kiln_errmsg(), "old, more than the maximum age 1h") != NULL);
	snprintf(dur, sizeof(dur), "%lldd", (long long)(age / (24 * HOUR) + 2));
	CHECK(cli(path, NULL, dur, "doc") == 0); /* longer than its age */
	snprintf(at, sizeof(at), "%lld", FIXTURE_TS + 90 * MIN); /* inside the leaf's 3 hours */
	CHECK(cli(path, NULL, "1h", at) == 1);
	CHECK(!strcmp(kiln_errmsg(), "document is 1h30m old, more than the maximum age 1h"));
	CHECK(cli(path, NULL, "2h", at) == 0);
	CHECK(cli(path, NULL, "soon", "doc") == 2);
}

/* A sim document, made now: fresh by the clock, stale as of a later --at. */
TEST(cli_sim_document)
{
	char dir[] = "/tmp/kiln-test-age-XXXXXX", path[600], root[600], at[32], cmd[700];
	struct kiln_nsm_sim_opts o = { .instance_id = "i-00000000000000001" };
	struct kiln_nsm_sim *s = NULL;
	struct kiln_nsm *n = NULL;
	struct kiln_attest_doc *doc = NULL;
	uint8_t *raw = NULL;
	size_t len = 0;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	o.state_dir = dir;
	CHECK(kiln_nsm_sim_new(&o, &s) == 0);
	CHECK(s && kiln_nsm_sim_client(s, &n) == 0);
	CHECK(n && kiln_nsm_attestation(n, NULL, NULL, NULL, &raw, &len) == 0);
	CHECK(raw && kiln_attest_parse(raw, len, &doc) == 0);
	snprintf(path, sizeof(path), "%s/doc.cbor", dir);
	snprintf(root, sizeof(root), "%s/sim-ca/root.pem", dir);
	f = fopen(path, "wb");
	CHECK(f && fwrite(raw, 1, len, f) == len);
	if (f)
		fclose(f);
	if (doc) {
		CHECK(cli(path, root, "5m", NULL) == 0);
		CHECK(cli(path, root, "5m", "now") == 0);
		snprintf(at, sizeof(at), "%llu", (unsigned long long)doc->timestamp_ms + 10 * MIN);
		CHECK(cli(path, root, "5m", at) == 1);
		CHECK(!strcmp(kiln_errmsg(), "document is 10m old, more than the maximum age 5m"));
		CHECK(cli(path, root, "15m", at) == 0);
	}
	kiln_attest_doc_free(doc);
	free(raw);
	kiln_nsm_close(n);
	kiln_nsm_sim_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	RUN(durations);
	RUN(formatting);
	RUN(real_document_ages);
	RUN(cli_real_document);
	RUN(cli_sim_document);
	return t_done();
}
