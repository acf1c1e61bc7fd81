/* SPDX-License-Identifier: Apache-2.0 */
/* kiln dev-kms: a local AWS KMS (JSON 1.1 API, SigV4, key policies, Recipient) for sim and CI. */
#ifndef KILN_DEVKMS_DEVKMS_H
#define KILN_DEVKMS_DEVKMS_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The documented test credentials, accepted when none are configured. */
#define KILN_DEVKMS_TEST_ACCESS_KEY "AKIDEVKMSTEST0000000"
#define KILN_DEVKMS_TEST_SECRET_KEY "devkms-test-secret-key-not-for-production"
/* The account every caller belongs to (ARNs, the default key policy). */
#define KILN_DEVKMS_ACCOUNT "111122223333"
/* SigV4 clock skew limit, as AWS. */
#define KILN_DEVKMS_MAX_SKEW_S (15 * 60)
/* Extra trust anchors for attestation documents (--root). */
#define KILN_DEVKMS_MAX_ROOTS 8

/* ---- request.c: the bounded, strict HTTP/1.1 request parser ---- */

#define KILN_DEVKMS_MAX_HEAD 16384       /* request line + headers */
#define KILN_DEVKMS_MAX_HDRS 48
#define KILN_DEVKMS_MAX_BODY (256 * 1024) /* KMS requests are small (<= 4 KiB plaintext, ~16 KiB documents) */

struct kiln_devkms_span {
	const char *p; /* into the caller's buffer; not NUL-terminated */
	size_t len;
};

struct kiln_devkms_hdr {
	struct kiln_devkms_span name, value;
};

struct kiln_devkms_req {
	struct kiln_devkms_span method, path, query; /* query excludes the '?' */
	struct kiln_devkms_hdr hdr[KILN_DEVKMS_MAX_HDRS];
	size_t nhdr;
	const uint8_t *body;
	size_t body_len;
	size_t total;    /* bytes of buf this request used (head + body) */
	bool keep_alive; /* HTTP/1.1 without "Connection: close" */
};

/*
 * Parse one request at the start of buf. 0: complete (r filled, pointing
 * into buf); -EAGAIN: incomplete, read more; -EMSGSIZE: over a limit;
 * -EPROTO: malformed (message says what). Never reads past len.
 */
int kiln_devkms_req_parse(const uint8_t *buf, size_t len, struct kiln_devkms_req *r) KILN_MUST;
/* The value of header name (case-insensitive), or NULL when absent. */
const struct kiln_devkms_span *kiln_devkms_req_header(const struct kiln_devkms_req *r,
						       const char *name);

/* ---- the server state shared by the connection threads ---- */

struct kiln_attest_verifier;

/* Verified attestation documents (recipient.c): skip the signature and chain checks on a repeat. */
#define KILN_DEVKMS_DOC_CACHE 32
#define KILN_DEVKMS_DOC_PENDING (-1)

struct kiln_devkms_doc_seen {
	uint8_t sha384[48];  /* of the document's bytes */
	int64_t until_ms;    /* the earliest notAfter of its certificates; 0 = free slot,
			      * KILN_DEVKMS_DOC_PENDING = being verified by one request */
	uint64_t used;       /* d->doc_tick at the last hit: the oldest is replaced */
};

struct kiln_devkms {
	char state_dir[PATH_MAX];
	char access_key_id[129];
	char secret_key[129];          /* wiped by kiln_devkms_free() */
	struct kiln_attest_verifier *roots[KILN_DEVKMS_MAX_ROOTS + 1]; /* last: AWS root G1 */
	size_t nroots;
	pthread_mutex_t store_lock;    /* serialises key writes */
	int64_t now_override_s;        /* tests: a fixed clock (0 = real time) */
	pthread_mutex_t doc_lock;      /* the cache below */
	pthread_cond_t doc_done;       /* a pending verification ended */
	struct kiln_devkms_doc_seen doc_seen[KILN_DEVKMS_DOC_CACHE];
	uint64_t doc_tick;
	uint64_t doc_verifications;    /* full verifications done (tests count them) */
};

/* Load the roots (PEM files, then the AWS root); secret_key NULL = the test pair. */
int kiln_devkms_init(struct kiln_devkms *d, const char *state_dir, const char *access_key_id,
		     const char *secret_key, const char *const *root_paths, size_t nroot) KILN_MUST;
void kiln_devkms_free(struct kiln_devkms *d);
int64_t kiln_devkms_now(const struct kiln_devkms *d);

/* ---- ops.c: one KMS operation, JSON in, JSON out ---- */

struct kiln_devkms_resp {
	int status;  /* 200, 400 or 500 */
	char *body;  /* malloc'd JSON; freed (wiped) by kiln_devkms_resp_free() */
	size_t len;
};

/*
 * Run the operation named by target ("TrentService.Encrypt") for the
 * region of the request's signature. Always fills out: errors become KMS
 * error documents {"__type": ..., "message": ...}.
 */
void kiln_devkms_handle(struct kiln_devkms *d, const char *target, const char *region,
			const uint8_t *body, size_t len, struct kiln_devkms_resp *out);
void kiln_devkms_resp_free(struct kiln_devkms_resp *r);
/* A KMS error document; type like "AccessDeniedException". */
void kiln_devkms_resp_error(struct kiln_devkms_resp *out, int status, const char *type,
			    const char *msg);

/* ---- auth.c: SigV4 verification of a parsed request ---- */

/*
 * Check the request's Authorization header against the configured
 * credentials: access key, service "kms", any region (returned in region),
 * X-Amz-Date within KILN_DEVKMS_MAX_SKEW_S, and the signature itself. On
 * failure fills out with the error AWS gives and returns negative.
 */
int kiln_devkms_auth(struct kiln_devkms *d, const struct kiln_devkms_req *r, char *region,
		     size_t region_size, struct kiln_devkms_resp *out) KILN_MUST;

/* ---- store.c: keys, one file per key in STATE_DIR/keys ---- */

#define KILN_DEVKMS_KEY_ID_LEN 36 /* a UUID */
#define KILN_DEVKMS_KEY_LEN 32    /* AES-256 */
#define KILN_DEVKMS_MAX_POLICY 32768
#define KILN_DEVKMS_MAX_DESC 8192

struct kiln_devkms_key {
	char id[KILN_DEVKMS_KEY_ID_LEN + 1];
	int64_t created_s;
	bool enabled;
	char *description; /* malloc'd, may be "" */
	char *policy;      /* malloc'd JSON, or NULL for the default policy */
	uint8_t material[KILN_DEVKMS_KEY_LEN]; /* wiped by kiln_devkms_key_clear() */
	bool has_material;
};

/* Create a key with fresh material; key->id receives the new id. */
int kiln_devkms_store_create(struct kiln_devkms *d, const char *description, const char *policy,
			     struct kiln_devkms_key *key) KILN_MUST;
/*
 * Load a key by id, key ARN, or "alias/..." (no aliases: NotFound);
 * with_material false leaves material unread. -ENOENT when unknown.
 */
int kiln_devkms_store_load(struct kiln_devkms *d, const char *key_ref, bool with_material,
			   struct kiln_devkms_key *key) KILN_MUST;
/* Rewrite a key's file (policy changes); keeps its material. */
int kiln_devkms_store_set_policy(struct kiln_devkms *d, const char *id, const char *policy) KILN_MUST;
/* The ids of every key, sorted; *ids is one malloc'd array of n fixed-size ids. */
int kiln_devkms_store_list(struct kiln_devkms *d, char (**ids)[KILN_DEVKMS_KEY_ID_LEN + 1],
			   size_t *n) KILN_MUST;
void kiln_devkms_key_clear(struct kiln_devkms_key *key);
/* Is s a key id (lower-case UUID)? */
bool kiln_devkms_is_key_id(const char *s);

/* ---- ciphertext.c: dev-kms ciphertext blobs ---- */

#define KILN_DEVKMS_CT_OVERHEAD (4 + 1 + KILN_DEVKMS_KEY_ID_LEN + 12 + 16)

/* The key id a blob names (no decryption). -EBADMSG when not a dev-kms blob. */
int kiln_devkms_ct_key_id(const uint8_t *blob, size_t len, char id[KILN_DEVKMS_KEY_ID_LEN + 1]) KILN_MUST;
/* Seal pt under key; aad = the canonical encryption context (may be empty). */
int kiln_devkms_ct_seal(const struct kiln_devkms_key *key, const uint8_t *aad, size_t aad_len,
			const uint8_t *pt, size_t pt_len, uint8_t **blob, size_t *blob_len) KILN_MUST;
/* Open a blob sealed under key; *pt is freed with kiln_free_secret(*pt, *pt_len). */
int kiln_devkms_ct_open(const struct kiln_devkms_key *key, const uint8_t *aad, size_t aad_len,
			const uint8_t *blob, size_t len, uint8_t **pt, size_t *pt_len) KILN_MUST;

/* ---- policy.c: key policies ---- */

/* What a policy decision looks at. pcr[i] is lower-case hex or NULL (no document). */
struct kiln_devkms_ctx {
	const char *action;      /* "kms:Decrypt" */
	const char *key_arn;
	const char *pcr_hex[32];
	bool has_document;
};

/* Check that text is a policy this evaluator understands; -EILSEQ naming the problem. */
int kiln_devkms_policy_check(const char *text) KILN_MUST;
/*
 * Decide: 0 when allowed, -EACCES when denied (an explicit Deny, or no
 * Allow applies); the message names the failing condition when an Allow
 * matched all but its conditions. policy NULL = the default policy.
 */
int kiln_devkms_policy_eval(const char *policy, const struct kiln_devkms_ctx *ctx) KILN_MUST;

/* ---- recipient.c: attestation documents and CiphertextForRecipient ---- */

struct kiln_attest_doc;

/*
 * Verify a document against the roots (now, fresh); *out owns the parsed doc.
 * The COSE signature and certificate chain of a document (by the SHA-384 of
 * its bytes) verified before are not checked again until its earliest
 * certificate expiry; parsing, freshness and the public key are per call.
 */
int kiln_devkms_verify_document(struct kiln_devkms *d, const uint8_t *buf, size_t len,
				struct kiln_attest_doc **out) KILN_MUST;
/*
 * CMS EnvelopedData as KMS builds it: KeyTransRecipientInfo (rid = the
 * SubjectKeyIdentifier, RSAES-OAEP SHA-256 to spki_der), AES-256-CBC content.
 */
int kiln_devkms_cms_for_recipient(const uint8_t *spki_der, size_t spki_len, const uint8_t *pt,
				  size_t pt_len, uint8_t **out, size_t *out_len) KILN_MUST;

/* ---- tls.c: the dev-kms CA and server certificate ---- */

struct ssl_ctx_st;
/* Load or create STATE_DIR/ca.pem (+ ca-key.pem), issue a server certificate for host. */
int kiln_devkms_tls_ctx(const char *state_dir, const char *host, struct ssl_ctx_st **out) KILN_MUST;

/* ---- server.c ---- */

/* Serve on addr:port (foreground) until SIGINT/SIGTERM. */
int kiln_devkms_serve(struct kiln_devkms *d, const char *listen) KILN_MUST;

/* ---- util (ops.c) ---- */

/* Strict base64 (RFC 4648, padded) decode; *out freed with kiln_free_secret. */
int kiln_devkms_b64_decode(const char *s, uint8_t **out, size_t *out_len) KILN_MUST;
/* base64 encode into a malloc'd NUL-terminated string. */
char *kiln_devkms_b64_encode(const uint8_t *p, size_t len);

#endif
