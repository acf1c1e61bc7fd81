/* SPDX-License-Identifier: Apache-2.0 */
/* kiln build: parse options, build, print nitro-cli style measurements. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/build.h"
#include "build/ociout.h"
#include "cli/cli.h"

int kiln_cli_fail(const char *cmd)
{
	fprintf(stderr, "kiln: %s: %s\n", cmd, kiln_errmsg());
	return 1;
}

static int build_usage(FILE *f)
{
	fputs("usage: kiln build IMAGE -o FILE.eif [OPTIONS]\n"
	      "  IMAGE                        docker-archive:FILE or oci:DIR[:TAG]\n"
	      "                               (optional when kiln.yaml names the image)\n"
	      "  -o, --output FILE            the EIF to write (atomically)\n"
	      "  -c, --config FILE            kiln.yaml (measured into PCR2)\n"
	      "      --blobs DIR              AWS enclave blobs (default " KILN_DEFAULT_BLOBS ")\n"
	      "      --kernel FILE            kernel image, overrides the blobs'\n"
	      "      --cmdline TEXT           kernel command line, overrides the blobs'\n"
	      "      --signing-key PEM        EC private key: sign the EIF (adds PCR8)\n"
	      "      --signing-certificate PEM  its certificate\n"
	      "      --metadata FILE          JSON object recorded as CustomMetadata\n"
	      "      --name NAME              ImageName in the metadata\n"
	      "      --version VERSION        ImageVersion in the metadata\n"
	      "      --kiln-init FILE         kiln-init binary to embed\n"
	      "      --bootstrap FILE         kiln-bootstrap binary (no AWS blobs)\n"
	      "      --tmpdir DIR             staging directory (default $TMPDIR or /tmp)\n"
	      "      --output-image DEST      also write a launcher image for Kubernetes:\n"
	      "                               docker-archive:FILE or oci:DIR[:TAG] holding\n"
	      "                               the EIF, kiln and kilnd; PCRs as annotations\n"
	      "                               (-o may be left out then)\n"
	      "  -q, --quiet                  no notices\n"
	      "Reproducible: SOURCE_DATE_EPOCH (default: the image's creation time) fixes\n"
	      "every timestamp; the same inputs give the same bytes and PCRs.\n",
	      f);
	return f == stderr ? 2 : 0;
}

enum { OPT_BLOBS = 256, OPT_KERNEL, OPT_CMDLINE, OPT_KEY, OPT_CERT, OPT_METADATA,
       OPT_NAME, OPT_VERSION, OPT_INIT, OPT_BOOTSTRAP, OPT_TMPDIR, OPT_IMAGE_OUT };

static const struct option build_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "config", required_argument, NULL, 'c' },
	{ "blobs", required_argument, NULL, OPT_BLOBS },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "signing-key", required_argument, NULL, OPT_KEY },
	{ "signing-certificate", required_argument, NULL, OPT_CERT },
	{ "metadata", required_argument, NULL, OPT_METADATA },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "version", required_argument, NULL, OPT_VERSION },
	{ "kiln-init", required_argument, NULL, OPT_INIT },
	{ "bootstrap", required_argument, NULL, OPT_BOOTSTRAP },
	{ "tmpdir", required_argument, NULL, OPT_TMPDIR },
	{ "output-image", required_argument, NULL, OPT_IMAGE_OUT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int set_opt(struct kiln_build_opts *o, int c, char *arg)
{
	switch (c) {
	case 'o': o->output = arg; break;
	case 'c': o->config = arg; break;
	case 'q': o->quiet = 1; break;
	case OPT_BLOBS: o->blobs = arg; break;
	case OPT_KERNEL: o->kernel = arg; break;
	case OPT_CMDLINE: o->cmdline = arg; break;
	case OPT_KEY: o->signing_key = arg; break;
	case OPT_CERT: o->signing_cert = arg; break;
	case OPT_METADATA: o->metadata = arg; break;
	case OPT_NAME: o->name = arg; break;
	case OPT_VERSION: o->version = arg; break;
	case OPT_INIT: o->kiln_init = arg; break;
	case OPT_BOOTSTRAP: o->bootstrap = arg; break;
	case OPT_TMPDIR: o->tmpdir = arg; break;
	default: return -1;
	}
	return 0;
}

/* --output-image: the EIF (-o, else a temporary file), then the image around it. */
static int build_image(struct kiln_build_opts *o, const char *dest, struct eif_pcrs *pcrs)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	struct kiln_oci_out img = { .dest = dest, .pcrs = pcrs, .name = o->name };
	char tmp[4096];
	int rc;

	/* a typo in the destination fails before minutes of building */
	if (strncmp(dest, "oci:", 4) && strncmp(dest, "docker-archive:", 15))
		return kiln_err(EINVAL, "--output-image %s: want docker-archive:FILE or oci:DIR[:TAG]",
				dest);
	if (!o->output) {
		snprintf(tmp, sizeof(tmp), "%s/kiln-image-XXXXXX.eif",
			 o->tmpdir ? o->tmpdir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		rc = mkstemps(tmp, 4);
		if (rc < 0)
			return kiln_err(errno, "%s: %s", tmp, strerror(errno));
		close(rc);
		o->output = tmp;
	}
	img.eif_path = o->output;
	img.epoch = sde ? strtoll(sde, NULL, 10) : 0;
	rc = kiln_build(o, pcrs);
	if (rc == 0)
		rc = kiln_oci_write(&img);
	if (o->output == tmp)
		unlink(tmp);
	return rc;
}

int kiln_cmd_build(int argc, char **argv)
{
	struct kiln_build_opts o = { 0 };
	struct eif_pcrs pcrs;
	const char *image_out = NULL;
	char *json;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:c:qh", build_opts, NULL)) != -1) {
		if (c == 'h')
			return build_usage(stdout);
		if (c == OPT_IMAGE_OUT) {
			image_out = optarg;
			continue;
		}
		if (set_opt(&o, c, optarg) < 0)
			return build_usage(stderr);
	}
	if (optind < argc)
		o.image = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "kiln: build: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (image_out && build_image(&o, image_out, &pcrs) < 0)
		return kiln_cli_fail("build");
	if (!image_out && kiln_build(&o, &pcrs) < 0)
		return kiln_cli_fail("build");
	json = eif_measurements_json(&pcrs);
	if (!json)
		return 1;
	printf("%s\n", json);
	free(json);
	return 0;
}
