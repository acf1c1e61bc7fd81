/* SPDX-License-Identifier: Apache-2.0 */
/* The ports ingress admits: network.ingress, else ExposedPorts, never kiln-init's own; their recording. */
#include "t.h"

#include "build/internal.h"
#include "image/internal.h"
#include "init/admit.h"

static json_t *J(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	if (!j)
		fprintf(stderr, "bad test JSON: %s\n", text);
	return j;
}

/* The admitted list as text ("8080,9001+p|network.ingress"); "" on error. */
static const char *admitted(const char *cfg_text, const char *exposed_text)
{
	static char out[256];
	json_t *cfg = J(cfg_text), *exp = exposed_text ? J(exposed_text) : NULL;
	struct kiln_admit a;
	size_t used = 0;

	out[0] = '\0';
	if (kiln_admit_from_json(cfg, exp, &a, NULL, NULL) == 0) {
		for (size_t i = 0; i < a.n; i++)
			used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%u%s",
						 i ? "," : "", a.ports[i].port,
						 a.ports[i].proxy_protocol ? "+p" : "");
		snprintf(out + used, sizeof(out) - used, "|%s", a.source);
		kiln_admit_free(&a);
	}
	json_decref(cfg);
	json_decref(exp);
	return out;
}

TEST(test_rule)
{
	struct kiln_admit a;
	json_t *str, *obj;

	/* No ports anywhere: no ingress (the default used to admit every port). */
	CHECK(!strcmp(admitted("{}", NULL), "|nothing"));
	CHECK(!strcmp(admitted("{\"network\":{\"ingress\":[]}}", "[]"), "|nothing"));
	/* ExposedPorts when network.ingress is empty; network.ingress replaces them. */
	CHECK(!strcmp(admitted("{\"network\":{\"ingress\":[]}}", "[80,443]"),
		      "80,443|the image's ExposedPorts"));
	CHECK(!strcmp(admitted("{\"network\":{\"ingress\":[{\"port\":8080},"
			       "{\"port\":9001,\"proxy_protocol\":true}]}}", "[80]"),
		      "8080,9001+p|network.ingress"));
	/* kiln-init's own ports are dropped from either list. */
	CHECK(!strcmp(admitted("{}", "[53,80,15001,50123]"), "80|the image's ExposedPorts"));
	CHECK(!strcmp(admitted("{\"network\":{\"ingress\":[{\"port\":53},{\"port\":15001},"
			       "{\"port\":50123},{\"port\":81}]}}", NULL),
		      "81|network.ingress"));
	/* The attestation port follows attestation_api.listen; 50123 is then an app port. */
	CHECK(!strcmp(admitted("{\"attestation_api\":{\"listen\":\"[::1]:9443\"}}",
			       "[9443,50123]"), "50123|the image's ExposedPorts"));
	/* Malformed measured config: an error, never "admit everything". */
	CHECK(!strcmp(admitted("{}", "[0]"), ""));
	str = J("[\"80\"]");
	CHECK_ERR(kiln_admit_from_json(NULL, str, &a, NULL, NULL),
		  "exposed_ports[0]: expected a port in 1..65535");
	obj = J("{\"network\":{\"ingress\":{}}}");
	CHECK_ERR(kiln_admit_from_json(obj, NULL, &a, NULL, NULL),
		  "network.ingress: expected a list");
	json_decref(str);
	json_decref(obj);
}

TEST(test_reserved_and_format)
{
	json_t *cfg = J("{\"network\":{\"ingress\":[{\"port\":8080},{\"port\":15001}]}}");
	struct kiln_admit a = { 0 };
	char buf[64];

	CHECK(!strcmp(kiln_admit_reserved(NULL, 53), "kiln-init's DNS resolver"));
	CHECK(!strcmp(kiln_admit_reserved(NULL, 15001), "kiln-init's egress listener"));
	CHECK(strstr(kiln_admit_reserved(NULL, 50123), "attestation API") != NULL);
	CHECK(kiln_admit_reserved(NULL, 8080) == NULL);
	CHECK_ERR(kiln_admit_check_config(cfg),
		  "network.ingress[1].port: 15001 is kiln-init's egress listener");
	CHECK(kiln_admit_check_config(NULL) == 0);
	CHECK(kiln_admit_from_json(cfg, NULL, &a, NULL, NULL) == 0);
	kiln_admit_format(&a, buf, sizeof(buf));
	CHECK(!strcmp(buf, "8080 (network.ingress)"));
	kiln_admit_format(&a, buf, 8);
	CHECK(strlen(buf) == 7);
	kiln_admit_free(&a);
	kiln_admit_format(&a, buf, sizeof(buf));
	CHECK(!strcmp(buf, "none"));
	json_decref(cfg);
}

static const char DIFF[] = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static int parse_exposed(const char *ports, struct kiln_image *img)
{
	char cfg[1024];

	memset(img, 0, sizeof(*img));
	snprintf(cfg, sizeof(cfg), "{\"config\":{\"ExposedPorts\":%s},"
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", ports, DIFF);
	return img_config_parse(img, cfg, strlen(cfg), DIFF);
}

static void image_free(struct kiln_image *img)
{
	img_config_free(&img->cfg);
	img_strv_free(img->diff_ids);
}

TEST(test_image_exposed_ports)
{
	struct kiln_image img;

	/* tcp only (no protocol is tcp), ascending, once each. */
	CHECK(parse_exposed("{\"8080/tcp\":{},\"53/udp\":{},\"443\":{},\"80/tcp\":{},"
			    "\"132/sctp\":{},\"443/tcp\":{}}", &img) == 0);
	CHECK(img.cfg.n_exposed_tcp == 3);
	if (img.cfg.n_exposed_tcp == 3)
		CHECK(img.cfg.exposed_tcp[0] == 80 && img.cfg.exposed_tcp[1] == 443 &&
		      img.cfg.exposed_tcp[2] == 8080);
	image_free(&img);
	CHECK(parse_exposed("null", &img) == 0 && img.cfg.n_exposed_tcp == 0);
	image_free(&img);
	CHECK_ERR(parse_exposed("{\"http/tcp\":{}}", &img), "\"http/tcp\" is not PORT[/PROTO]");
	image_free(&img);
	CHECK_ERR(parse_exposed("{\"70000/tcp\":{}}", &img), "with PORT in 1..65535");
	image_free(&img);
	CHECK_ERR(parse_exposed("{\"80/quic\":{}}", &img), "\"80/quic\": unknown protocol");
	image_free(&img);
	CHECK_ERR(parse_exposed("[80]", &img), "ExposedPorts is not an object");
	image_free(&img);
}

/* kiln build: the measured app config records exposed_ports and refuses reserved ingress. */
TEST(test_app_config)
{
	char *ep[] = { "/bin/app", NULL };
	uint16_t ports[] = { 80, 8443 };
	struct kiln_image_config ic = { .entrypoint = ep, .digest = (char *)DIFF,
					.exposed_tcp = ports, .n_exposed_tcp = 2 };
	json_t *cfg = J("{\"network\":{\"ingress\":[]}}"), *out = NULL, *want = J("[80, 8443]");
	json_t *bad = J("{\"network\":{\"ingress\":[{\"port\":53}]}}");
	json_t *bad_attest = J("{\"network\":{\"ingress\":[{\"port\":9443}]},"
			       "\"attestation_api\":{\"listen\":\"127.0.0.1:9443\"}}");

	CHECK(kiln_app_config(cfg, &ic, &out) == 0);
	CHECK(json_equal(json_object_get(out, "exposed_ports"), want));
	json_decref(out);
	json_decref(want);
	CHECK_ERR(kiln_app_config(bad, &ic, &out),
		  "network.ingress[0].port: 53 is kiln-init's DNS resolver");
	CHECK_ERR(kiln_app_config(bad_attest, &ic, &out),
		  "network.ingress[0].port: 9443 is kiln-init's attestation API");
	json_decref(cfg);
	json_decref(bad);
	json_decref(bad_attest);
}

int main(void)
{
	RUN(test_rule);
	RUN(test_reserved_and_format);
	RUN(test_image_exposed_ports);
	RUN(test_app_config);
	return t_done();
}
