/* SPDX-License-Identifier: Apache-2.0 */
/* dev-kms operations: the KMS JSON 1.1 API (TrentService.*), field for field. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "devkms/devkms.h"
#include "util/secure.h"

/*
 * How this works: the body is a JSON object; each operation reads its
 * fields, loads the key (material only when it encrypts or decrypts),
 * evaluates the key policy for "kms:OPERATION" with the attestation
 * document's PCRs when the request carries a Recipient, and answers the
 * fields KMS answers. Errors are negative errnos mapped to KMS error types
 * (errno_type below) with the message KMS would give. Plaintexts live in
 * buffers wiped before they are freed; jansson's allocator is the wiping
 * one (kiln_devkms_init), so the response text is wiped as well.
 */

#define MAX_PLAINTEXT 4096
#define MAX_BLOB 6144
#define MAX_DOC (16 * 1024)

static const char default_policy_fmt[] =
	"{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {\n"
	"    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n"
	"    \"Principal\" : {\n      \"AWS\" : \"arn:aws:iam::%s:root\"\n    },\n"
	"    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}";

/* The request's fields, as the operation's field list (ops[] below) read them. */
struct args {
	const char *key_id, *description, *policy, *policy_name, *marker, *key_spec;
	uint8_t *blob;		/* Plaintext or CiphertextBlob, decoded; wiped when freed */
	size_t blob_len;
	long limit, number_of_bytes; /* -1: absent */
	size_t data_key_len;	/* from KeySpec or NumberOfBytes */
	char *aad;		/* the EncryptionContext, canonical */
	size_t aad_len;
};

struct op {
	struct kiln_devkms *d;
	const char *region;
	json_t *req;
	json_t *resp;
	struct args a;
	struct kiln_devkms_key key;   /* the key the operation names, once loaded */
	char arn[160];
	struct kiln_attest_doc *doc;  /* the verified Recipient document, if any */
	char pcr_hex[KILN_ATTEST_MAX_PCRS][2 * 64 + 1];
};

/* ---- base64 ---- */

int kiln_devkms_b64_decode(const char *s, uint8_t **out, size_t *out_len)
{
	size_t n = strlen(s);
	if (n % 4 || n > 4 * (MAX_DOC + 2) / 3 + 4)
		return kiln_err(EINVAL, "invalid base64");
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool pad_ok = c == '=' && i >= n - 2 && (i == n - 1 || s[n - 1] == '=');
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || pad_ok))
			return kiln_err(EINVAL, "invalid base64");
	}
	uint8_t *b = malloc(n / 4 * 3 + 1);
	if (!b)
		return kiln_err(ENOMEM, "out of memory");
	int got = n ? EVP_DecodeBlock(b, (const unsigned char *)s, (int)n) : 0;
	if (got < 0) {
		kiln_free_secret(b, n / 4 * 3 + 1);
		return kiln_err(EINVAL, "invalid base64");
	}
	size_t pad = (n && s[n - 1] == '=') + (n > 1 && s[n - 2] == '=');
	*out = b;
	*out_len = (size_t)got - pad;
	return 0;
}

char *kiln_devkms_b64_encode(const uint8_t *p, size_t len)
{
	char *s = malloc(4 * ((len + 2) / 3) + 1);
	if (s)
		EVP_EncodeBlock((unsigned char *)s, p, (int)len);
	return s;
}

/* Set field to base64(p) on o->resp; the temporary string is wiped. */
static int set_b64(struct op *o, const char *field, const uint8_t *p, size_t len)
{
	char *s = kiln_devkms_b64_encode(p, len);
	if (!s)
		return kiln_err(ENOMEM, "out of memory");
	int rc = json_object_set_new(o->resp, field, json_string(s)) ? kiln_err(ENOMEM, "out of memory") : 0;
	kiln_free_secret(s, strlen(s));
	return rc;
}

/* ---- request fields ---- */

static int get_str(struct op *o, const char *field, bool required, const char **out)
{
	json_t *v = json_object_get(o->req, field);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return kiln_err(EINVAL, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field);
		return 0;
	}
	if (!json_is_string(v))
		return kiln_err(EINVAL, "Start of structure or map found where not expected at '%s'", field);
	*out = json_string_value(v);
	return 0;
}

/* A base64 blob field of 1..max bytes. */
static int get_blob(struct op *o, const char *field, bool required, size_t max, uint8_t **out,
		    size_t *len)
{
	const char *s;
	int rc = get_str(o, field, required, &s);
	*out = NULL;
	*len = 0;
	if (rc < 0 || !s)
		return rc;
	if (kiln_devkms_b64_decode(s, out, len) < 0)
		return kiln_err(EINVAL, "Value at '%s' is not valid base64", field);
	if (*len == 0 || *len > max) {
		kiln_free_secret(*out, *len);
		*out = NULL;
		return kiln_err(EINVAL, "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length between 1 and %zu", field, max);
	}
	return 0;
}

static int get_int(struct op *o, const char *field, long lo, long hi, long *out)
{
	json_t *v = json_object_get(o->req, field);
	*out = -1;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return kiln_err(EINVAL, "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have value between %ld and %ld", field, lo, hi);
	*out = (long)json_integer_value(v);
	return 0;
}

/* The encryption context as AAD: its JSON with sorted keys (string values only). */
static int context_aad(struct op *o, char **aad, size_t *len)
{
	json_t *c = json_object_get(o->req, "EncryptionContext");
	const char *k;
	json_t *v;

	*aad = NULL;
	*len = 0;
	if (!c || json_is_null(c) || (json_is_object(c) && json_object_size(c) == 0))
		return 0;
	if (!json_is_object(c))
		return kiln_err(EINVAL, "EncryptionContext must be a map of strings");
	json_object_foreach(c, k, v)
		if (!json_is_string(v))
			return kiln_err(EINVAL, "EncryptionContext must be a map of strings");
	*aad = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
	if (!*aad)
		return kiln_err(ENOMEM, "out of memory");
	*len = strlen(*aad);
	return 0;
}

/*
 * A field an operation reads (a string, a base64 blob, an integer in a
 * range, an enum with the one value dev-kms supports, the encryption
 * context) or a step checking fields read before it. An operation's list
 * is read in order and the first error is the answer: the list's order is
 * the order in which errors are reported.
 */
enum field_kind { F_STR, F_BLOB, F_INT, F_ONLY, F_CONTEXT, F_STEP };

struct field {
	enum field_kind kind;
	const char *name;
	bool required;	     /* F_STR, F_BLOB */
	size_t off;	     /* F_STR, F_BLOB, F_INT: where in struct args */
	long lo, hi;	     /* F_INT: the range; F_BLOB: hi is the largest length */
	const char *value;   /* F_ONLY */
	int (*check)(struct op *o);
};

#define STR(n, req, m) { .kind = F_STR, .name = n, .required = req, .off = offsetof(struct args, m) }
#define BLOB(n, max) { .kind = F_BLOB, .name = n, .required = true, .off = offsetof(struct args, blob), .hi = max }
#define INT(n, l, h, m) { .kind = F_INT, .name = n, .off = offsetof(struct args, m), .lo = l, .hi = h }
#define ONLY(n, v) { .kind = F_ONLY, .name = n, .value = v }
#define CONTEXT { .kind = F_CONTEXT }
#define STEP(fn) { .kind = F_STEP, .check = fn }

/* Optional enum field that dev-kms supports with one value only. */
static int only_value(struct op *o, const char *field, const char *value)
{
	const char *s;
	int rc = get_str(o, field, false, &s);
	if (rc == 0 && s && strcmp(s, value))
		rc = kiln_err(EOPNOTSUPP, "dev-kms supports only %s %s", field, value);
	return rc;
}

static int read_field(struct op *o, const struct field *f)
{
	void *at = (char *)&o->a + f->off;

	switch (f->kind) {
	case F_STR:
		return get_str(o, f->name, f->required, at);
	case F_BLOB:
		return get_blob(o, f->name, f->required, (size_t)f->hi, at, &o->a.blob_len);
	case F_INT:
		return get_int(o, f->name, f->lo, f->hi, at);
	case F_ONLY:
		return only_value(o, f->name, f->value);
	case F_CONTEXT:
		return context_aad(o, &o->a.aad, &o->a.aad_len);
	case F_STEP:
		return f->check(o);
	default:
		return kiln_err(EINVAL, "internal: bad field kind");
	}
}

static int read_fields(struct op *o, const struct field *f, size_t n)
{
	int rc = 0;

	o->a.limit = o->a.number_of_bytes = -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = read_field(o, &f[i]);
	return rc;
}

static void args_free(struct args *a)
{
	kiln_free_secret(a->blob, a->blob_len);
	free(a->aad);
}

/* ---- keys, policy, recipient ---- */

static void make_arn(struct op *o, const char *id, char *buf, size_t size)
{
	snprintf(buf, size, "arn:aws:kms:%s:%s:key/%s", o->region, KILN_DEVKMS_ACCOUNT, id);
}

/* Load the key the request names (KeyId, or key_ref when given) and check the policy. */
static int load_key(struct op *o, const char *key_ref, bool material, const char *action)
{
	int rc = kiln_devkms_store_load(o->d, key_ref, material, &o->key);
	if (rc < 0)
		return rc;
	make_arn(o, o->key.id, o->arn, sizeof(o->arn));
	if (!o->key.enabled)
		return kiln_err(ESHUTDOWN, "%s is disabled.", o->arn);
	struct kiln_devkms_ctx ctx = { .action = action, .key_arn = o->arn, .has_document = o->doc != NULL };
	for (int i = 0; o->doc && i < KILN_ATTEST_MAX_PCRS; i++)
		if (o->doc->pcr[i].data)
			ctx.pcr_hex[i] = o->pcr_hex[i];
	return kiln_devkms_policy_eval(o->key.policy, &ctx);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A Recipient field: check it, verify the document, keep its PCRs for the policy. */
static int load_recipient(struct op *o)
{
	json_t *r = json_object_get(o->req, "Recipient");
	if (!r || json_is_null(r))
		return 0;
	json_t *alg = json_object_get(r, "KeyEncryptionAlgorithm");
	json_t *doc = json_object_get(r, "AttestationDocument");
	if (!json_is_object(r) || !json_is_string(doc))
		return kiln_err(EINVAL, "Recipient needs an AttestationDocument");
	if (alg && !(json_is_string(alg) && !strcmp(json_string_value(alg), "RSAES_OAEP_SHA_256")))
		return kiln_err(EINVAL, "1 validation error detected: Value at 'recipient.keyEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RSAES_OAEP_SHA_256]");
	uint8_t *buf;
	size_t len;
	if (kiln_devkms_b64_decode(json_string_value(doc), &buf, &len) < 0)
		return kiln_err(EINVAL, "Recipient AttestationDocument is not valid base64");
	int rc = kiln_devkms_verify_document(o->d, buf, len, &o->doc);
	free(buf);
	for (int i = 0; rc == 0 && i < KILN_ATTEST_MAX_PCRS; i++)
		if (o->doc->pcr[i].data && o->doc->pcr[i].len <= 64)
			hex(o->doc->pcr[i].data, o->doc->pcr[i].len, o->pcr_hex[i]);
	return rc;
}

/* Hand pt out: Plaintext, or CiphertextForRecipient when the request had a Recipient. */
static int give_plaintext(struct op *o, const uint8_t *pt, size_t len)
{
	if (!o->doc)
		return set_b64(o, "Plaintext", pt, len);
	uint8_t *cms;
	size_t cms_len;
	int rc = kiln_devkms_cms_for_recipient(o->doc->public_key.data, o->doc->public_key.len, pt,
					       len, &cms, &cms_len);
	if (rc == 0) {
		rc = set_b64(o, "CiphertextForRecipient", cms, cms_len);
		free(cms);
	}
	return rc;
}

static int set_str(struct op *o, const char *field, const char *v)
{
	return json_object_set_new(o->resp, field, json_string(v)) ? kiln_err(ENOMEM, "out of memory") : 0;
}

/* ---- operations ---- */

static json_t *key_metadata(struct op *o, const struct kiln_devkms_key *k)
{
	char arn[160];

	make_arn(o, k->id, arn, sizeof(arn));
	return json_pack("{s:s, s:s, s:s, s:I, s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:b}",
			 "AWSAccountId", KILN_DEVKMS_ACCOUNT, "KeyId", k->id, "Arn", arn,
			 "CreationDate", (json_int_t)k->created_s, "Enabled", k->enabled,
			 "Description", k->description ? k->description : "", "KeyUsage",
			 "ENCRYPT_DECRYPT", "KeyState", k->enabled ? "Enabled" : "Disabled", "Origin",
			 "AWS_KMS", "KeyManager", "CUSTOMER", "CustomerMasterKeySpec",
			 "SYMMETRIC_DEFAULT", "KeySpec", "SYMMETRIC_DEFAULT", "EncryptionAlgorithms",
			 "SYMMETRIC_DEFAULT", "MultiRegion", 0);
}

/* A key policy's text: within the size KMS allows, and one the evaluator understands. */
static int policy_text(const char *policy)
{
	if (strlen(policy) > KILN_DEVKMS_MAX_POLICY)
		return kiln_err(EINVAL, "Policy is longer than %d characters", KILN_DEVKMS_MAX_POLICY);
	return kiln_devkms_policy_check(policy);
}

static int op_create_key(struct op *o)
{
	const char *desc = o->a.description, *policy = o->a.policy;
	int rc = 0;
	if (desc && strlen(desc) > KILN_DEVKMS_MAX_DESC)
		rc = kiln_err(EINVAL, "Description is longer than %d characters", KILN_DEVKMS_MAX_DESC);
	if (rc == 0 && policy)
		rc = policy_text(policy);
	if (rc == 0)
		rc = kiln_devkms_store_create(o->d, desc, policy, &o->key);
	if (rc == 0 && json_object_set_new(o->resp, "KeyMetadata", key_metadata(o, &o->key)))
		rc = kiln_err(ENOMEM, "out of memory");
	return rc;
}

static int op_describe_key(struct op *o)
{
	int rc = load_key(o, o->a.key_id, false, "kms:DescribeKey");
	if (rc == 0 && json_object_set_new(o->resp, "KeyMetadata", key_metadata(o, &o->key)))
		rc = kiln_err(ENOMEM, "out of memory");
	return rc;
}

static int op_list_keys(struct op *o)
{
	char(*ids)[KILN_DEVKMS_KEY_ID_LEN + 1] = NULL;
	const char *marker = o->a.marker;
	size_t n = 0, i = 0, shown = 0;
	long limit = o->a.limit;
	int rc = kiln_devkms_store_list(o->d, &ids, &n);
	if (rc < 0)
		return rc;
	if (limit < 0)
		limit = 100;
	while (marker && i < n && strcmp(ids[i], marker) <= 0)
		i++;
	json_t *keys = json_array();
	for (; i < n && shown < (size_t)limit; i++, shown++) {
		char arn[160];
		make_arn(o, ids[i], arn, sizeof(arn));
		json_array_append_new(keys, json_pack("{s:s, s:s}", "KeyId", ids[i], "KeyArn", arn));
	}
	json_object_set_new(o->resp, "Keys", keys);
	json_object_set_new(o->resp, "Truncated", json_boolean(i < n));
	if (i < n)
		json_object_set_new(o->resp, "NextMarker", json_string(ids[i - 1]));
	free(ids);
	return 0;
}

/* Seal pt under the loaded key with the request's context: CiphertextBlob. */
static int seal(struct op *o, const uint8_t *pt, size_t len)
{
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	int rc = kiln_devkms_ct_seal(&o->key, (uint8_t *)o->a.aad, o->a.aad_len, pt, len, &blob,
				     &blob_len);
	if (rc == 0)
		rc = set_b64(o, "CiphertextBlob", blob, blob_len);
	free(blob);
	return rc;
}

static int op_encrypt(struct op *o)
{
	int rc = load_key(o, o->a.key_id, true, "kms:Encrypt");
	if (rc == 0)
		rc = seal(o, o->a.blob, o->a.blob_len);
	if (rc == 0)
		rc = set_str(o, "KeyId", o->arn);
	if (rc == 0)
		rc = set_str(o, "EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
	return rc;
}

static int op_decrypt(struct op *o)
{
	const char *id = o->a.key_id;
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	char blob_key[KILN_DEVKMS_KEY_ID_LEN + 1];
	int rc = kiln_devkms_ct_key_id(o->a.blob, o->a.blob_len, blob_key);
	if (rc == 0)
		rc = load_recipient(o);
	if (rc == 0)
		rc = load_key(o, id ? id : blob_key, true, "kms:Decrypt");
	if (rc == 0 && strcmp(o->key.id, blob_key))
		rc = kiln_err(EXDEV, "The key ID in the request does not identify a CMK that can perform this operation.");
	if (rc == 0)
		rc = kiln_devkms_ct_open(&o->key, (uint8_t *)o->a.aad, o->a.aad_len, o->a.blob,
					 o->a.blob_len, &pt, &pt_len);
	if (rc == -EBADMSG)
		rc = kiln_err(EBADMSG, "The ciphertext is invalid or its encryption context does not match.");
	if (rc == 0)
		rc = give_plaintext(o, pt, pt_len);
	if (rc == 0)
		rc = set_str(o, "KeyId", o->arn);
	if (rc == 0)
		rc = set_str(o, "EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
	kiln_free_secret(pt, pt_len);
	return rc;
}

/* NumberOfBytes or KeySpec (AES_256, AES_128): exactly one. */
static int data_key_len(struct op *o)
{
	const char *spec = o->a.key_spec;
	long bytes = o->a.number_of_bytes;
	if ((spec != NULL) == (bytes >= 0))
		return kiln_err(EINVAL, "Please specify either number of bytes or key spec.");
	if (spec && strcmp(spec, "AES_256") && strcmp(spec, "AES_128"))
		return kiln_err(EINVAL, "1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", spec);
	o->a.data_key_len = spec ? (strcmp(spec, "AES_256") ? 16 : 32) : (size_t)bytes;
	return 0;
}

static int generate_data_key(struct op *o, bool with_plaintext)
{
	uint8_t pt[1024];
	size_t n = o->a.data_key_len;
	int rc = with_plaintext ? load_recipient(o) : 0;
	if (rc == 0)
		rc = load_key(o, o->a.key_id, true, with_plaintext ? "kms:GenerateDataKey" : "kms:GenerateDataKeyWithoutPlaintext");
	if (rc == 0 && RAND_bytes(pt, (int)n) != 1)
		rc = kiln_err(EIO, "no randomness");
	if (rc == 0)
		rc = seal(o, pt, n);
	if (rc == 0 && with_plaintext)
		rc = give_plaintext(o, pt, n);
	if (rc == 0)
		rc = set_str(o, "KeyId", o->arn);
	kiln_wipe(pt, sizeof(pt));
	return rc;
}

static int op_generate_data_key(struct op *o)
{
	return generate_data_key(o, true);
}

static int op_generate_data_key_wo(struct op *o)
{
	return generate_data_key(o, false);
}

static int op_generate_random(struct op *o)
{
	uint8_t buf[1024];
	long n = o->a.number_of_bytes;
	int rc = 0;
	if (n < 0)
		rc = kiln_err(EINVAL, "1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null");
	if (rc == 0)
		rc = load_recipient(o);
	if (rc == 0 && RAND_bytes(buf, (int)n) != 1)
		rc = kiln_err(EIO, "no randomness");
	if (rc == 0)
		rc = give_plaintext(o, buf, (size_t)n);
	kiln_wipe(buf, sizeof(buf));
	return rc;
}

/* PolicyName, when given, names the one policy a key has. */
static int policy_name(struct op *o)
{
	const char *name = o->a.policy_name;
	if (name && strcmp(name, "default"))
		return kiln_err(ENOENT, "Policy %s does not exist; a key has one policy, named default", name);
	return 0;
}

static int op_get_key_policy(struct op *o)
{
	char def[1024];
	int rc = load_key(o, o->a.key_id, false, "kms:GetKeyPolicy");
	snprintf(def, sizeof(def), default_policy_fmt, KILN_DEVKMS_ACCOUNT);
	if (rc == 0)
		rc = set_str(o, "Policy", o->key.policy ? o->key.policy : def);
	if (rc == 0)
		rc = set_str(o, "PolicyName", "default");
	return rc;
}

static int op_put_key_policy(struct op *o)
{
	int rc = policy_text(o->a.policy);
	if (rc == 0)
		rc = load_key(o, o->a.key_id, false, "kms:PutKeyPolicy");
	if (rc == 0)
		rc = kiln_devkms_store_set_policy(o->d, o->key.id, o->a.policy);
	return rc;
}

/* Each operation's fields, in the order KMS validates them. */
static const struct field create_key_fields[] = {
	STR("Description", false, description), STR("Policy", false, policy),
	ONLY("KeyUsage", "ENCRYPT_DECRYPT"), ONLY("KeySpec", "SYMMETRIC_DEFAULT"),
	ONLY("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"), ONLY("Origin", "AWS_KMS"),
};
static const struct field key_id_fields[] = { STR("KeyId", true, key_id) };
static const struct field list_keys_fields[] = {
	INT("Limit", 1, 1000, limit), STR("Marker", false, marker),
};
static const struct field encrypt_fields[] = {
	STR("KeyId", true, key_id), BLOB("Plaintext", MAX_PLAINTEXT),
	ONLY("EncryptionAlgorithm", "SYMMETRIC_DEFAULT"), CONTEXT,
};
static const struct field decrypt_fields[] = {
	STR("KeyId", false, key_id), BLOB("CiphertextBlob", MAX_BLOB),
	ONLY("EncryptionAlgorithm", "SYMMETRIC_DEFAULT"), CONTEXT,
};
static const struct field data_key_fields[] = {
	STR("KeyId", true, key_id), STR("KeySpec", false, key_spec),
	INT("NumberOfBytes", 1, 1024, number_of_bytes), STEP(data_key_len), CONTEXT,
};
static const struct field random_fields[] = { INT("NumberOfBytes", 1, 1024, number_of_bytes) };
static const struct field get_policy_fields[] = {
	STR("KeyId", true, key_id), STR("PolicyName", false, policy_name), STEP(policy_name),
};
static const struct field put_policy_fields[] = {
	STR("KeyId", true, key_id), STR("Policy", true, policy),
	STR("PolicyName", false, policy_name), STEP(policy_name),
};

#define FIELDS(list) list, sizeof(list) / sizeof(list[0])

static const struct {
	const char *name;
	int (*fn)(struct op *o);
	const struct field *fields;
	size_t nfields;
} ops[] = {
	{ "CreateKey", op_create_key, FIELDS(create_key_fields) },
	{ "DescribeKey", op_describe_key, FIELDS(key_id_fields) },
	{ "ListKeys", op_list_keys, FIELDS(list_keys_fields) },
	{ "Encrypt", op_encrypt, FIELDS(encrypt_fields) },
	{ "Decrypt", op_decrypt, FIELDS(decrypt_fields) },
	{ "GenerateDataKey", op_generate_data_key, FIELDS(data_key_fields) },
	{ "GenerateDataKeyWithoutPlaintext", op_generate_data_key_wo, FIELDS(data_key_fields) },
	{ "GenerateRandom", op_generate_random, FIELDS(random_fields) },
	{ "GetKeyPolicy", op_get_key_policy, FIELDS(get_policy_fields) },
	{ "PutKeyPolicy", op_put_key_policy, FIELDS(put_policy_fields) },
};

/* ---- errors and responses ---- */

static const char *errno_type(int rc, int *status)
{
	*status = 400;
	switch (-rc) {
	case ENOENT: return "NotFoundException";
	case EACCES: return "AccessDeniedException";
	case EINVAL: return "ValidationException";
	case EBADMSG: return "InvalidCiphertextException";
	case EXDEV: return "IncorrectKeyException";
	case EILSEQ: return "MalformedPolicyDocumentException";
	case ESHUTDOWN: return "DisabledException";
	case EOPNOTSUPP: return "UnsupportedOperationException";
	case ENOSYS: return "UnknownOperationException";
	default:
		*status = 500;
		return "KMSInternalException";
	}
}

void kiln_devkms_resp_error(struct kiln_devkms_resp *out, int status, const char *type,
			    const char *msg)
{
	json_t *j = json_pack("{s:s, s:s}", "__type", type, "message", msg);
	out->status = status;
	out->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	out->len = out->body ? strlen(out->body) : 0;
	json_decref(j);
}

void kiln_devkms_resp_free(struct kiln_devkms_resp *r)
{
	kiln_free_secret(r->body, r->len);
	r->body = NULL;
	r->len = 0;
}

static int run(struct op *o, const char *target, const uint8_t *body, size_t len)
{
	static const char prefix[] = "TrentService.";
	json_error_t e;

	if (strncmp(target, prefix, sizeof(prefix) - 1))
		return kiln_err(ENOSYS, "Unknown operation %s", target);
	const char *name = target + sizeof(prefix) - 1;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(ops[i].name, name))
			continue;
		o->req = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &e);
		if (!o->req || !json_is_object(o->req))
			return kiln_err(EINVAL, "The request body is not a JSON object");
		o->resp = json_object();
		if (!o->resp)
			return kiln_err(ENOMEM, "out of memory");
		int rc = read_fields(o, ops[i].fields, ops[i].nfields);
		return rc < 0 ? rc : ops[i].fn(o);
	}
	return kiln_err(ENOSYS, "Unknown operation %s", target);
}

void kiln_devkms_handle(struct kiln_devkms *d, const char *target, const char *region,
			const uint8_t *body, size_t len, struct kiln_devkms_resp *out)
{
	struct op o = { .d = d, .region = region };
	int rc = run(&o, target, body, len);

	memset(out, 0, sizeof(*out));
	if (rc < 0) {
		int status;
		const char *type = errno_type(rc, &status);
		kiln_devkms_resp_error(out, status, type, kiln_errmsg());
	} else {
		out->status = 200;
		out->body = json_dumps(o.resp, JSON_COMPACT);
		out->len = out->body ? strlen(out->body) : 0;
	}
	json_decref(o.req);
	json_decref(o.resp);
	kiln_devkms_key_clear(&o.key);
	kiln_attest_doc_free(o.doc);
	args_free(&o.a);
}
