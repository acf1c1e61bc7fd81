/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's sim NSM channel: served per connection, malformed frames, stop with live peers. */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chan/addr.h"
#include "kilnd/sim_nsm.h"
#include "nsm/nsm.h"
#include "nsm/sim.h"
#include "t.h"

static char dir[] = "/tmp/kiln-test-kdnsm-XXXXXX";
static char sock[256];

static int dial(void)
{
	struct kiln_chan_addr a;

	if (kiln_chan_addr_in_dir(dir, KILN_PORT_NSM, &a) < 0)
		return -1;
	return kiln_chan_connect(&a, 2000, 0);
}

/* The peer closed: EOF within the time (no hang). */
static int eof_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b;

	return poll(&p, 1, ms) == 1 && read(fd, &b, 1) == 0;
}

TEST(serves_requests)
{
	struct kd_sim_nsm *n = NULL;
	struct kiln_nsm *c = NULL, *c2 = NULL;
	uint8_t v[KILN_NSM_PCR_MAX], zero[KILN_SIM_NSM_PCR_LEN] = { 0 }, *doc = NULL;
	struct kiln_nsm_blob nonce = { (const uint8_t *)"abc", 3 };
	size_t len = 0, doc_len = 0;
	bool locked = false;

	/* An unreadable EIF is logged and gives zero PCRs; the channel still serves. */
	CHECK(kd_sim_nsm_start(dir, dir, "/nonexistent.eif", "t1", &n) == 0);
	CHECK(access(sock, F_OK) == 0);
	CHECK(kiln_nsm_open_stream(dial(), 5000, &c) == 0);
	CHECK(kiln_nsm_open_stream(dial(), 5000, &c2) == 0);
	CHECK(kiln_nsm_describe_pcr(c, 0, &locked, v, &len) == 0);
	CHECK(len == KILN_SIM_NSM_PCR_LEN && locked && !memcmp(v, zero, len));
	CHECK(kiln_nsm_attestation(c2, NULL, &nonce, NULL, &doc, &doc_len) == 0);
	CHECK(doc && doc_len > 1000);
	free(doc);
	/* NSM errors come back as answers; the connection stays usable. */
	CHECK_ERR(kiln_nsm_describe_pcr(c, 99, &locked, v, &len), "InvalidIndex");
	CHECK(kiln_nsm_get_random(c, v, sizeof(v), &len) == 0 && len > 0);
	kiln_nsm_close(c);
	kiln_nsm_close(c2);
	kd_sim_nsm_stop(n);
	CHECK(access(sock, F_OK) < 0);
}

TEST(malformed_frame_closes)
{
	struct kd_sim_nsm *n = NULL;
	uint8_t empty[4] = { 0 }, huge[4] = { 0xff, 0xff, 0xff, 0xff };
	int fd;

	CHECK(kd_sim_nsm_start(dir, dir, NULL, "t2", &n) == 0);
	fd = dial();
	CHECK(fd >= 0 && write(fd, empty, 4) == 4 && eof_within(fd, 5000));
	close(fd);
	fd = dial();
	CHECK(fd >= 0 && write(fd, huge, 4) == 4 && eof_within(fd, 5000));
	close(fd);
	kd_sim_nsm_stop(n);
}

TEST(stop_ends_live_connections)
{
	struct kd_sim_nsm *n = NULL;
	int fds[KD_SIM_NSM_CONNS];
	uint8_t v[KILN_NSM_PCR_MAX];
	struct kiln_nsm *c = NULL;
	size_t len;
	bool locked;

	CHECK(kd_sim_nsm_start(dir, dir, NULL, "t3", &n) == 0);
	/* c takes a slot (answered: the acceptor is up); idle peers take the others. */
	CHECK(kiln_nsm_open_stream(dial(), 5000, &c) == 0);
	CHECK(kiln_nsm_describe_pcr(c, 1, &locked, v, &len) == 0);
	for (int i = 0; i < KD_SIM_NSM_CONNS - 1; i++)
		fds[i] = dial();
	/* One over the limit is refused: closed at once. */
	fds[KD_SIM_NSM_CONNS - 1] = dial();
	CHECK(eof_within(fds[KD_SIM_NSM_CONNS - 1], 5000));
	kd_sim_nsm_stop(n);
	for (int i = 0; i < KD_SIM_NSM_CONNS - 1; i++)
		CHECK(eof_within(fds[i], 5000));
	for (int i = 0; i < KD_SIM_NSM_CONNS; i++)
		close(fds[i]);
	CHECK_ERR(kiln_nsm_describe_pcr(c, 1, &locked, v, &len), "nsm stream");
	kiln_nsm_close(c);
}

TEST(start_errors)
{
	struct kd_sim_nsm *n = NULL;
	int fd = open(sock, O_CREAT | O_WRONLY, 0600);

	/* A regular file where the socket goes is not replaced. */
	CHECK(fd >= 0);
	close(fd);
	CHECK(kd_sim_nsm_start(dir, dir, NULL, "t4", &n) < 0);
	CHECK(n == NULL);
	unlink(sock);
	CHECK(kd_sim_nsm_start(dir, "/nonexistent/dir", NULL, "t4", &n) < 0);
	kd_sim_nsm_stop(NULL);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir))
		return 1;
	snprintf(sock, sizeof(sock), "%s/%u", dir, KILN_PORT_NSM);
	RUN(serves_requests);
	RUN(malformed_frame_closes);
	RUN(stop_ends_live_connections);
	RUN(start_errors);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return t_done();
}
