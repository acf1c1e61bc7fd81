/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-webhook: the mutating admission webhook that turns labelled Pods into enclaves. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "webhook/server.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(FILE *f)
{
	fputs("usage: kiln-webhook --cert FILE --key FILE [OPTIONS]\n"
	      "Kubernetes mutating admission webhook (POST /mutate, GET /healthz): Pods\n"
	      "labelled enclave.kiln/managed=true get the Nitro Enclaves device, hugepages,\n"
	      "CPUs and kiln launch's flags.\n"
	      "  --cert FILE            TLS certificate chain (PEM), reloaded when it changes\n"
	      "  --key FILE             its private key (PEM)\n"
	      "  --listen [HOST]:PORT   default :8443\n"
	      "  --hugepages 2Mi|1Gi    page size the enclave nodes reserve (default 2Mi)\n"
	      "  --node-selector K=V    enclave nodes (default aws-nitro-enclaves-k8s-dp=enabled)\n"
	      "  --toleration K=V:EFFECT  tolerated taint (default enclave.kiln/nitro=true:NoSchedule;\n"
	      "                         \"none\": add none)\n"
	      "  --default-cpus N       vCPUs when a Pod sets no cpu limit (default 2)\n"
	      "  --default-memory Q     enclave memory when a Pod has no enclave.kiln/memory\n"
	      "                         annotation (default: none, such Pods are denied)\n"
	      "  --no-cpu-pairs         allow odd vCPU counts (nodes without SMT, e.g. Graviton)\n"
	      "  --max-body BYTES       largest AdmissionReview accepted (default 1048576)\n"
	      "  --reload-interval MS   how often the certificate files are checked (default 2000)\n"
	      "  --max-connections N    default 256\n"
	      "  --shutdown-delay MS    after SIGTERM, serve this long with /readyz failing\n"
	      "                         (default 5000: the endpoints update meanwhile)\n"
	      "  -v, --verbose          log every decision (default: denials and errors)\n",
	      f);
	return f == stderr ? 2 : 0;
}

static int number(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || *out == 0 || *out > max || s[0] == '-') {
		fprintf(stderr, "kiln-webhook: %s: \"%s\" is not a number in [1, %lu]\n", opt, s, max);
		return -1;
	}
	return 0;
}

static int split(const char *opt, char *s, char sep, char **a, char **b)
{
	char *p = strchr(s, sep);

	if (!p || p == s || !p[1]) {
		fprintf(stderr, "kiln-webhook: %s: \"%s\" is not KEY%cVALUE\n", opt, s, sep);
		return -1;
	}
	*p = '\0';
	*a = s;
	*b = p + 1;
	return 0;
}

static int toleration(char *s, struct kw_config *c)
{
	char *kv, *eff, *k, *v;

	if (!strcmp(s, "none")) {
		c->tol_key = NULL;
		return 0;
	}
	if (split("--toleration", s, ':', &kv, &eff) < 0 || split("--toleration", kv, '=', &k, &v) < 0)
		return -1;
	if (strcmp(eff, "NoSchedule") && strcmp(eff, "NoExecute") && strcmp(eff, "PreferNoSchedule")) {
		fprintf(stderr, "kiln-webhook: --toleration: effect \"%s\" is not NoSchedule, "
			"NoExecute or PreferNoSchedule\n", eff);
		return -1;
	}
	c->tol_key = k;
	c->tol_value = v;
	c->tol_effect = eff;
	return 0;
}

static int set_opt(int c, char *arg, struct kw_server_opts *o, struct kw_config *cfg)
{
	unsigned long v;
	uint64_t milli;

	switch (c) {
	case 'C': o->cert = arg; return 0;
	case 'K': o->key = arg; return 0;
	case 'l': o->listen = arg; return 0;
	case 'v': o->verbose = true; return 0;
	case 'P': cfg->cpu_pairs = false; return 0;
	case 'H':
		if (strcmp(arg, "2Mi") && strcmp(arg, "1Gi")) {
			fprintf(stderr, "kiln-webhook: --hugepages: \"%s\" is not 2Mi or 1Gi\n", arg);
			return -1;
		}
		cfg->hugepages_1g = !strcmp(arg, "1Gi");
		return 0;
	case 'n': return split("--node-selector", arg, '=', (char **)&cfg->node_key,
			       (char **)&cfg->node_value);
	case 't': return toleration(arg, cfg);
	case 'c': return number("--default-cpus", arg, 1024, &v) ?: (cfg->default_cpus = (unsigned)v, 0);
	case 'b': return number("--max-body", arg, 64ul << 20, &v) ?: (cfg->max_body = v, 0);
	case 'r': return number("--reload-interval", arg, 3600000, &v) ?: (o->reload_ms = (int)v, 0);
	case 'd': return number("--shutdown-delay", arg, 600000, &v) ?: (o->shutdown_ms = (int)v, 0);
	case 'm': return number("--max-connections", arg, 65536, &v) ?: (o->max_conns = (unsigned)v, 0);
	case 'M':
		if (kw_quantity_milli(arg, &milli) < 0 || milli / 1000 < (64u << 20)) {
			fprintf(stderr, "kiln-webhook: --default-memory: \"%s\" is not a quantity of "
				"at least 64Mi\n", arg);
			return -1;
		}
		cfg->default_mib = (milli / 1000 + (1 << 20) - 1) >> 20;
		return 0;
	default: return -1;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, 'C' }, { "key", required_argument, NULL, 'K' },
		{ "listen", required_argument, NULL, 'l' }, { "hugepages", required_argument, NULL, 'H' },
		{ "node-selector", required_argument, NULL, 'n' },
		{ "toleration", required_argument, NULL, 't' },
		{ "default-cpus", required_argument, NULL, 'c' },
		{ "default-memory", required_argument, NULL, 'M' },
		{ "no-cpu-pairs", no_argument, NULL, 'P' }, { "max-body", required_argument, NULL, 'b' },
		{ "reload-interval", required_argument, NULL, 'r' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "shutdown-delay", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kw_config cfg;
	struct kw_server_opts o = { .listen = ":8443", .reload_ms = 2000, .max_conns = 256, .shutdown_ms = 5000,
				    .cfg = &cfg };
	struct kw_server *s;
	struct sigaction sa = { .sa_handler = on_term };
	int c, rc;

	kw_config_default(&cfg);
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		if (c == 'h')
			return usage(stdout);
		if (c == '?' || set_opt(c, optarg, &o, &cfg) < 0)
			return c == '?' ? usage(stderr) : 2;
	}
	if (optind < argc || !o.cert || !o.key) {
		fprintf(stderr, optind < argc ? "kiln-webhook: unexpected argument '%s'\n"
					      : "kiln-webhook: --cert and --key are required%s\n",
			optind < argc ? argv[optind] : "");
		return 2;
	}
	/* nothing it runs may gain privileges (it runs nothing: belt and braces) */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fprintf(stderr, "kiln-webhook: notice: no_new_privs: %s\n", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (kw_server_open(&o, &s) < 0) {
		fprintf(stderr, "kiln-webhook: %s\n", kiln_errmsg());
		return 1;
	}
	fprintf(stderr, "kiln-webhook: serving on port %d\n", kw_server_port(s));
	rc = kw_server_run(s, &stop);
	kw_server_free(s);
	if (rc < 0)
		fprintf(stderr, "kiln-webhook: %s\n", kiln_errmsg());
	return rc < 0 ? 1 : 0;
}
