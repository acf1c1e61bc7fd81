/* SPDX-License-Identifier: Apache-2.0 */
/* bench/webhook's client: N POSTs of one body over C keep-alive TLS connections; p50/p99 latency. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

/* usage: webhook_client PORT BODY_FILE REQUESTS CONCURRENCY; prints "p50_us P p99_us P ok N" */

static int port;
static char *req;
static size_t req_len;
static SSL_CTX *ctx;

struct worker {
	pthread_t t;
	double *lat;
	long todo, ok;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static SSL *dial(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	SSL *s;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return NULL;
	s = SSL_new(ctx);
	SSL_set_fd(s, fd);
	if (SSL_connect(s) != 1)
		return NULL;
	return s;
}

/* Read one response (head + Content-Length body); 1 when it was a 200. */
static int response(SSL *s)
{
	static __thread char buf[65536];
	size_t have = 0;
	char *end = NULL, *cl;
	long want;

	while (!end) {
		int n = SSL_read(s, buf + have, (int)(sizeof(buf) - 1 - have));

		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	cl = strcasestr(buf, "Content-Length:");
	want = cl ? atol(cl + 15) : 0;
	while ((long)(have - (size_t)(end + 4 - buf)) < want) {
		int n = SSL_read(s, buf + have, (int)(sizeof(buf) - 1 - have));

		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return !strncmp(buf, "HTTP/1.1 200", 12);
}

static void *run(void *arg)
{
	struct worker *w = arg;
	SSL *s = dial();

	for (long i = 0; s && i < w->todo; i++) {
		double t0 = now_us();

		if (SSL_write(s, req, (int)req_len) != (int)req_len || response(s) < 0)
			break;
		w->lat[w->ok++] = now_us() - t0;
	}
	if (s)
		SSL_free(s);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long total, conc, n = 0;
	FILE *f;
	char *body;
	long blen;
	struct worker *w;
	double *all;

	if (argc != 5)
		return 2;
	port = atoi(argv[1]);
	total = atol(argv[3]);
	conc = atol(argv[4]);
	f = fopen(argv[2], "rb");
	if (!f || fseek(f, 0, SEEK_END) || (blen = ftell(f)) < 0)
		return 2;
	rewind(f);
	body = malloc((size_t)blen);
	if (fread(body, 1, (size_t)blen, f) != (size_t)blen)
		return 2;
	req = malloc((size_t)blen + 256);
	req_len = (size_t)sprintf(req, "POST /mutate?timeout=10s HTTP/1.1\r\nHost: b\r\n"
					"Content-Type: application/json\r\nContent-Length: %ld\r\n\r\n", blen);
	memcpy(req + req_len, body, (size_t)blen);
	req_len += (size_t)blen;
	ctx = SSL_CTX_new(TLS_client_method()); /* loopback bench: no verification */
	w = calloc((size_t)conc, sizeof(*w));
	for (long i = 0; i < conc; i++) {
		w[i].todo = total / conc + (i < total % conc); /* exactly total in all */
		w[i].lat = calloc((size_t)w[i].todo + 1, sizeof(double));
		pthread_create(&w[i].t, NULL, run, &w[i]);
	}
	all = calloc((size_t)total, sizeof(double));
	for (long i = 0; i < conc; i++) {
		pthread_join(w[i].t, NULL);
		memcpy(all + n, w[i].lat, (size_t)w[i].ok * sizeof(double));
		n += w[i].ok;
	}
	if (n == 0) {
		fprintf(stderr, "webhook_client: no request succeeded\n");
		return 1;
	}
	qsort(all, (size_t)n, sizeof(double), cmp);
	printf("p50_us %.1f p99_us %.1f ok %ld\n", all[n / 2], all[(size_t)(n * 0.99)], n);
	return n == total ? 0 : 1;
}
