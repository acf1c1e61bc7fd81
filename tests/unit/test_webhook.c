/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-webhook: quantities, the HTTP head parser, the Pod policy and AdmissionReview replies. */
#include <jansson.h>

#include "t.h"
#include "webhook/webhook.h"

TEST(quantities)
{
	uint64_t m;

	CHECK(kw_quantity_milli("2", &m) == 0 && m == 2000);
	CHECK(kw_quantity_milli("500m", &m) == 0 && m == 500);
	CHECK(kw_quantity_milli("1.5", &m) == 0 && m == 1500);
	CHECK(kw_quantity_milli("512Mi", &m) == 0 && m == 512ull * 1048576 * 1000);
	CHECK(kw_quantity_milli("1.5Gi", &m) == 0 && m == 1536ull * 1048576 * 1000);
	CHECK(kw_quantity_milli("1G", &m) == 0 && m == 1000000000000ull);
	CHECK(kw_quantity_milli("1e3", &m) == 0 && m == 1000000);
	CHECK_ERR(kw_quantity_milli("", &m), "not a Kubernetes quantity");
	CHECK_ERR(kw_quantity_milli("12Qi", &m), "not a Kubernetes quantity");
	CHECK_ERR(kw_quantity_milli("-1", &m), "not a Kubernetes quantity");
	CHECK_ERR(kw_quantity_milli("99999999999999999999Ti", &m), "quantity");
	CHECK_ERR(kw_quantity_milli("16777216Ti", &m), "out of range");
	CHECK_ERR(kw_quantity_milli(NULL, &m), "not a Kubernetes quantity");
}

#define PARSE(s, r, st) kw_http_parse((s), strlen(s), (r), (st))

TEST(http_head)
{
	struct kw_http_req r;
	int st;
	const char *ok = "POST /mutate?timeout=10s HTTP/1.1\r\nHost: x\r\n"
			 "Content-Type: application/json; charset=utf-8\r\nContent-Length: 12\r\n\r\n{}";
	char big[KW_MAX_HEAD + 10];

	CHECK(kw_http_parse(ok, strlen(ok), &r, &st) == 0);
	CHECK(!strcmp(r.method, "POST") && !strcmp(r.path, "/mutate") && r.content_length == 12);
	CHECK(r.head_len == strlen(ok) - 2 && !r.close);
	CHECK(kw_http_check_review(&r, 100) == 0);
	CHECK(kw_http_check_review(&r, 10) == 413);
	CHECK(kw_http_parse(ok, 20, &r, &st) == -EAGAIN);
	CHECK_ERR(PARSE("GET\r\n\r\n", &r, &st), "malformed request line");
	CHECK(st == 400);
	CHECK_ERR(PARSE("GET / HTTP/2.0\r\n\r\n", &r, &st), "HTTP version");
	CHECK_ERR(PARSE("GET / HTTP/1.1\nX: y\r\n\r\n", &r, &st), "CRLF");
	CHECK_ERR(PARSE("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", &r, &st), "Content-Length");
	CHECK_ERR(PARSE("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &r, &st),
		  "Content-Length");
	CHECK_ERR(PARSE("GET / HTTP/1.1\r\nNoColon\r\n\r\n", &r, &st), "header");
	memset(big, 'a', sizeof(big));
	CHECK_ERR(kw_http_parse(big, sizeof(big), &r, &st), "16 KiB");
	CHECK(st == 431);
	CHECK(PARSE("POST /mutate HTTP/1.0\r\nContent-Type: text/json\r\n\r\n", &r, &st) == 0);
	CHECK(r.close && kw_http_check_review(&r, 100) == 411);
	CHECK(PARSE("POST /m HTTP/1.1\r\nContent-Length: 2\r\nContent-Type: text/json\r\n\r\n", &r, &st) == 0);
	CHECK(kw_http_check_review(&r, 100) == 415);
	CHECK(PARSE("POST /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r, &st) == 0);
	CHECK(kw_http_check_review(&r, 100) == 411);
}

/* The patch ops of pod (JSON text) as one compact string; "" when untouched; "DENY: why". */
static char *mutate(const struct kw_config *c, const char *pod_text)
{
	static char out[8192];
	json_t *pod = json_loads(pod_text, 0, NULL), *check;
	char why[512] = "", *s = NULL;
	int rc = pod ? kw_mutate(c, pod, &s, why, sizeof(why)) : -1;

	/* the patch text is JSON: an array of ops */
	check = s ? json_loads(s, 0, NULL) : NULL;
	if (s && !json_is_array(check)) {
		fprintf(stderr, "patch is not a JSON array: %s\n", s);
		t_failures++;
	}
	json_decref(check);
	snprintf(out, sizeof(out), "%s%s", rc == 1 ? "DENY: " : "", rc == 1 ? why : s ? s : "");
	free(s);
	json_decref(pod);
	return out;
}

#define LABELLED "\"labels\":{\"enclave.kiln/managed\":\"true\"}"

TEST(policy)
{
	struct kw_config c;
	char *p;

	kw_config_default(&c);
	/* untouched: no label, label not "true", already mutated */
	CHECK(!strcmp(mutate(&c, "{\"metadata\":{},\"spec\":{\"containers\":[{}]}}"), ""));
	CHECK(!strcmp(mutate(&c, "{\"metadata\":{\"labels\":{\"enclave.kiln/managed\":\"yes\"}}}"), ""));
	CHECK(!strcmp(mutate(&c, "{\"metadata\":{" LABELLED ",\"annotations\":{\"enclave.kiln/mutated\":\"v1\"}},"
			     "\"spec\":{\"containers\":[{\"name\":\"a\"}]}}"), ""));
	/* no memory anywhere: denied, unless the webhook has a default */
	p = mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
	CHECK(strstr(p, "DENY: annotation enclave.kiln/memory is missing") == p);
	c.default_mib = 300;
	p = mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
	/* no cpu limit: the default, added to a new resources object; 300 MiB stays (even) */
	CHECK(strstr(p, "\"path\":\"/spec/containers/0/resources\",\"value\":{\"limits\":"
			"{\"aws.ec2.nitro/nitro_enclaves\":\"1\",\"hugepages-2Mi\":\"300Mi\",\"cpu\":\"2\"}") != NULL);
	CHECK(strstr(p, "\"--memory\",\"300\"") != NULL);
	/* no annotations object: added whole */
	CHECK(strstr(p, "{\"op\":\"add\",\"path\":\"/metadata/annotations\",\"value\":{\"enclave.kiln/mutated\":\"v1\"}}") != NULL);
	/* odd sizes round up to whole pages; 1Gi pages */
	c.default_mib = 301;
	CHECK(strstr(mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}"),
		     "\"hugepages-2Mi\":\"302Mi\"") != NULL);
	c.hugepages_1g = true;
	p = mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
	CHECK(strstr(p, "\"hugepages-1Gi\":\"1Gi\"") && strstr(p, "\"--memory\",\"1024\""));
	c.hugepages_1g = false;
	/* cpu: odd (pairs) denied with why; fine without pairs; fractions denied */
	p = mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[{\"name\":\"a\","
		       "\"resources\":{\"limits\":{\"cpu\":\"3\"}}}]}}");
	CHECK(strstr(p, "vCPUs come in pairs") != NULL);
	c.cpu_pairs = false;
	p = mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[{\"name\":\"a\","
		       "\"resources\":{\"limits\":{\"cpu\":3}}}]}}");
	CHECK(strstr(p, "\"--cpus\",\"3\"") != NULL);
	p = mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[{\"name\":\"a\","
		       "\"resources\":{\"limits\":{\"cpu\":\"2500m\"}}}]}}");
	CHECK(strstr(p, "whole number of vCPUs") != NULL);
	/* no cpu limit: the request's count, the limit added to match */
	c.cpu_pairs = true;
	p = mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[{\"name\":\"a\","
		       "\"resources\":{\"requests\":{\"cpu\":\"4\"}}}]}}");
	CHECK(strstr(p, "\"--cpus\",\"4\"") && strstr(p, "\"path\":\"/spec/containers/0/resources/limits\","
		     "\"value\":{\"aws.ec2.nitro/nitro_enclaves\":\"1\",\"hugepages-2Mi\":\"302Mi\"}},"
		     "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/limits/cpu\",\"value\":\"4\"}"));
	CHECK(!strstr(p, "requests/cpu"));
	CHECK(strstr(mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[{\"name\":\"a\","
				"\"resources\":{\"requests\":{\"cpu\":\"3\"}}}]}}"),
		     "resources.requests.cpu is 3, an odd count") != NULL);
	c.cpu_pairs = false;
	/* conflicts the patch must not override */
	CHECK(strstr(mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"nodeSelector\":"
				"{\"aws-nitro-enclaves-k8s-dp\":\"off\"},\"containers\":[{\"name\":\"a\"}]}}"),
		     "conflicts with enclave nodes") != NULL);
	CHECK(strstr(mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"volumes\":[{\"name\":\"kiln-state\"}],"
				"\"containers\":[{\"name\":\"a\"}]}}"), "already has a volume") != NULL);
	CHECK(strstr(mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[]}}"),
		     "no containers") != NULL);
	CHECK(strstr(mutate(&c, "{\"metadata\":{" LABELLED "}}"), "no spec") != NULL);
	/* the operator's settings are escaped into the patch's JSON */
	c.tol_value = "a\"b\\c\n";
	p = mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
	CHECK(strstr(p, "\"value\":\"a\\\"b\\\\c\\u000a\"") != NULL);
	/* keys with '/' and '~' are escaped in JSON Pointers */
	c.node_key = "a/b~c";
	CHECK(strstr(mutate(&c, "{\"metadata\":{" LABELLED "},\"spec\":{\"nodeSelector\":{},"
				"\"containers\":[{\"name\":\"a\"}]}}"), "/spec/nodeSelector/a~1b~0c") != NULL);
}

/* Storage: the Pod's mounts are kept; enclave.kiln/storage paths need a writable PVC mounted there. */
#define STORAGE_POD(ann, mounts, vols)                                                         \
	"{\"metadata\":{" LABELLED ",\"annotations\":{\"enclave.kiln/memory\":\"512Mi\"" ann "}},"  \
	"\"spec\":{\"volumes\":[" vols "],\"containers\":[{\"name\":\"a\",\"volumeMounts\":[" mounts \
	"]}]}}"
#define PVC_VOL "{\"name\":\"d\",\"persistentVolumeClaim\":{\"claimName\":\"c\"}}"

TEST(storage)
{
	struct kw_config c;
	char *p;

	kw_config_default(&c);
	/* a PVC mount with no annotation: left alone, kiln-state appended after it */
	p = mutate(&c, STORAGE_POD("", "{\"name\":\"d\",\"mountPath\":\"/data\"}", PVC_VOL));
	CHECK(strstr(p, "\"path\":\"/spec/containers/0/volumeMounts/-\",\"value\":{\"name\":"
			"\"kiln-state\",\"mountPath\":\"/run/kiln\"}") != NULL);
	CHECK(!strstr(p, "claimName") && !strstr(p, "/data"));
	/* the hugepages reach kiln launch through the downward API */
	CHECK(strstr(p, "{\"name\":\"KILN_HUGEPAGES_MIB\",\"valueFrom\":{\"resourceFieldRef\":"
			"{\"resource\":\"limits.hugepages-2Mi\",\"divisor\":\"1Mi\"}}}") != NULL);
	/* annotated paths: each must be a writable PVC (or ephemeral claim) mount */
	p = mutate(&c, STORAGE_POD(",\"enclave.kiln/storage\":\" /data/ , /logs\"",
				   "{\"name\":\"d\",\"mountPath\":\"/data\"},"
				   "{\"name\":\"e\",\"mountPath\":\"/logs/\"}",
				   PVC_VOL ",{\"name\":\"e\",\"ephemeral\":{}}"));
	CHECK(strncmp(p, "DENY", 4) != 0);
	p = mutate(&c, STORAGE_POD(",\"enclave.kiln/storage\":\"/data,/logs\"",
				   "{\"name\":\"d\",\"mountPath\":\"/data\"}", PVC_VOL));
	CHECK(strstr(p, "DENY: annotation enclave.kiln/storage: container a mounts no volume at "
			"/logs: mount a persistentVolumeClaim there") == p);
	p = mutate(&c, STORAGE_POD(",\"enclave.kiln/storage\":\"/data\"",
				   "{\"name\":\"d\",\"mountPath\":\"/data\"}",
				   "{\"name\":\"d\",\"emptyDir\":{}}"));
	CHECK(strstr(p, "volume d at /data is not a persistentVolumeClaim") != NULL);
	p = mutate(&c, STORAGE_POD(",\"enclave.kiln/storage\":\"/data\"",
				   "{\"name\":\"d\",\"mountPath\":\"/data\",\"readOnly\":true}",
				   PVC_VOL));
	CHECK(strstr(p, "the volumeMount at /data is readOnly") != NULL);
	p = mutate(&c, STORAGE_POD(",\"enclave.kiln/storage\":\"data\"", "", ""));
	CHECK(strstr(p, "\"data\" is not an absolute path") != NULL);
	p = mutate(&c, STORAGE_POD(",\"enclave.kiln/storage\":\"/a,/b,/c,/d,/e,/f,/g,/h,/i,/j,"
				   "/k,/l,/m,/n,/o,/p,/q\"", "", ""));
	CHECK(strstr(p, "more than 16 paths") != NULL);
	/* a mount over kilnd's state would hide it (or be hidden): denied */
	p = mutate(&c, STORAGE_POD("", "{\"name\":\"d\",\"mountPath\":\"/run/kiln/store\"}",
				   PVC_VOL));
	CHECK(strstr(p, "mounts a volume at /run/kiln/store, inside kilnd's state") != NULL);
	CHECK(strncmp(mutate(&c, STORAGE_POD("", "{\"name\":\"d\",\"mountPath\":\"/run/kilnx\"}",
					     PVC_VOL)), "DENY", 4) != 0);
}

TEST(review)
{
	struct kw_config c;
	struct kw_reply r;
	const char *pod_review =
		"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"
		"{\"uid\":\"u1\",\"kind\":{\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"object\":"
		"{\"metadata\":{\"name\":\"p\"},\"spec\":{}}}}";

	kw_config_default(&c);
	CHECK(kw_review(&c, pod_review, strlen(pod_review), false, &r) == 0);
	CHECK(r.status == 200 && strstr(r.body, "\"uid\":\"u1\",\"allowed\":true}") != NULL);
	free(r.body);
	CHECK(kw_review(&c, "{\"a\":1,\"a\":2}", 13, false, &r) == 0);
	CHECK(r.status == 400 && strstr(r.body, "malformed JSON") != NULL);
	free(r.body);
	CHECK(kw_review(&c, "[]", 2, false, &r) == 0);
	CHECK(r.status == 400 && strstr(r.body, "not a JSON object") != NULL);
	free(r.body);
	CHECK(kw_review(&c, "{\"apiVersion\":\"admission.k8s.io/v1beta1\"}", 41, false, &r) == 0);
	CHECK(r.status == 400 && strstr(r.body, "v1beta1") != NULL);
	free(r.body);
	/* a review whose parse outgrows the stack arena (many labels): the rest is malloc'd */
	{
		size_t cap = 400000, n = 0;
		char *big = malloc(cap);

		n += (size_t)snprintf(big + n, cap - n, "{\"apiVersion\":\"admission.k8s.io/v1\","
				      "\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u2\","
				      "\"kind\":{\"kind\":\"Pod\"},\"operation\":\"CREATE\","
				      "\"object\":{\"metadata\":{\"annotations\":{\"enclave.kiln/"
				      "memory\":\"512Mi\"},\"labels\":{\"enclave.kiln/managed\":\"true\"");
		for (int i = 0; i < 5000; i++)
			n += (size_t)snprintf(big + n, cap - n, ",\"l%d\":\"v%d\"", i, i);
		n += (size_t)snprintf(big + n, cap - n, "}},\"spec\":{\"containers\":[{\"name\":"
				      "\"a\"}]}}}}");
		c.max_body = cap;
		for (int round = 0; round < 3; round++) {
			CHECK(kw_review(&c, big, n, false, &r) == 0);
			CHECK(r.status == 200 && strstr(r.body, "\"uid\":\"u2\",\"allowed\":true,"
							"\"patchType\":\"JSONPatch\"") != NULL);
			free(r.body);
		}
		free(big);
	}
	c.max_body = 4;
	CHECK(kw_review(&c, "{}   ", 5, false, &r) == 0 && r.status == 400);
	free(r.body);
}

int main(void)
{
	RUN(quantities);
	RUN(http_head);
	RUN(policy);
	RUN(storage);
	RUN(review);
	return t_done();
}
