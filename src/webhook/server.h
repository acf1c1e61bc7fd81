/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-webhook's HTTPS server: TLS from mounted files (reloaded), one thread per connection. */
#ifndef KILN_WEBHOOK_SERVER_H
#define KILN_WEBHOOK_SERVER_H

#include <signal.h>
#include <stdbool.h>

#include "webhook/webhook.h"

struct kw_server_opts {
	const char *listen;  /* [HOST]:PORT; HOST empty: every address */
	const char *cert;    /* PEM certificate chain (a mounted Secret's tls.crt) */
	const char *key;     /* PEM private key (tls.key) */
	int reload_ms;       /* how often the files are checked for a change */
	unsigned max_conns;  /* connections served at once; more are closed */
	bool verbose;        /* log every decision, not only denials and errors */
	int shutdown_ms;     /* after SIGTERM: keep serving this long, /readyz failing */
	const struct kw_config *cfg;
};

/* Bind and load the certificate: fails with the reason before serving. */
struct kw_server;
int kw_server_open(const struct kw_server_opts *o, struct kw_server **out) KILN_MUST;
/* The port bound (for :0). */
int kw_server_port(const struct kw_server *s);
/* Serve until *stop is set (a signal handler), then shutdown_ms more; 0 or -errno. */
int kw_server_run(struct kw_server *s, volatile sig_atomic_t *stop) KILN_MUST;
void kw_server_free(struct kw_server *s);

#endif
