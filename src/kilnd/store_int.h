/* SPDX-License-Identifier: Apache-2.0 */
/* The storage channel's per-enclave state, shared by its two files. */
#ifndef KILN_KILND_STORE_INT_H
#define KILN_KILND_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "chan/addr.h"
#include "chan/frame.h"
#include "kilnd/store.h"

struct kd_store {
	pthread_mutex_t lock;
	int refs;			 /* the owner, the acceptor, each live connection */
	bool stopping;
	bool busy[KD_STORE_VOLS];	 /* volume served to a connection */
	int conns[KD_STORE_CONNS];	 /* live connection fds, -1: free slot */
	int listen_fd, stop_fd;
	bool listening;
	pthread_t acceptor;
	char path[KILN_CHAN_PATH_MAX];
	char name[KILN_NAME_MAX + 1];
	struct kd_store_cfg cfg;
};

void kd_store_unref(struct kd_store *s);

#endif
