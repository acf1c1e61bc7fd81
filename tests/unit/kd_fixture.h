/* SPDX-License-Identifier: Apache-2.0 */
/* A kilnd state (struct kd) for unit tests: its state directory under a test's tmp, no listeners. */
#ifndef KILN_TEST_KD_FIXTURE_H
#define KILN_TEST_KD_FIXTURE_H

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kilnd/internal.h"

/* d gets an epoll set and TMP/state with enclaves/ and logs/, as kilnd makes them. */
static inline void kd_fixture_setup(struct kd *d, const char *tmp)
{
	char p[PATH_MAX + 64];

	memset(d, 0, sizeof(*d));
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->sock.fd = d->sig.fd = d->vsock_ctl.fd = d->vsock_hb.fd = d->vsock_store.fd = -1;
	d->log_max = KILND_LOG_MAX_DEFAULT;
	snprintf(d->state_dir, sizeof(d->state_dir), "%s/state", tmp);
	mkdir(d->state_dir, 0700);
	snprintf(p, sizeof(p), "%s/enclaves", d->state_dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/logs", d->state_dir);
	mkdir(p, 0700);
}

/* Closes every connection, frees every enclave and the shared vsock listener. */
static inline void kd_fixture_teardown(struct kd *d)
{
	for (struct kd_conn *c = d->conns; c; c = c->next)
		kd_conn_close(d, c);
	while (d->enclaves) {
		struct kd_enclave *e = d->enclaves;

		d->enclaves = e->next;
		kd_enclave_free(d, e);
	}
	kd_watch_close(d, &d->vsock_ctl); /* a vsock registration's shared listeners */
	kd_watch_close(d, &d->vsock_hb);
	kd_watch_close(d, &d->vsock_store);
	close(d->epfd);
}

#endif
