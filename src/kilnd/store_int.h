/* SPDX-License-Identifier: Apache-2.0 */
/* The storage channel's per-enclave state, shared by its two files. */
#ifndef KILN_KILND_STORE_INT_H
#define KILN_KILND_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "chan/addr.h"
#include "chan/frame.h"
#include "kilnd/conn_slots.h"
#include "kilnd/store.h"

struct kd_store {
	pthread_mutex_t lock;		 /* busy[] and cfg */
	bool busy[KD_STORE_VOLS];	 /* volume served to a connection */
	struct kd_conn_slots slots;	 /* live connections; the owner's references */
	int listen_fd, stop_fd;
	bool listening;
	pthread_t acceptor;
	char path[KILN_CHAN_PATH_MAX];
	char name[KILN_NAME_MAX + 1];
	struct kd_store_cfg cfg;
};

/* The storage channel's connections: kd_store_serve each, and freeing the store. */
extern const struct kd_conn_ops kd_store_conn_ops;

#endif
