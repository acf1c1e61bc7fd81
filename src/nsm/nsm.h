/* SPDX-License-Identifier: Apache-2.0 */
/* The Nitro Secure Module: its CBOR protocol, transports (/dev/nsm, a stream) and a client. */
#ifndef KILN_NSM_NSM_H
#define KILN_NSM_NSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * The protocol is aws-nitro-enclaves-nsm-api's Request/Response enums as
 * serde writes them in CBOR (externally tagged): a unit variant is a text
 * string ("DescribeNSM"), a struct variant a one-pair map {"ExtendPCR":
 * {"index": 16, "data": h'..'}} with the fields in declaration order, byte
 * fields (serde_bytes) as byte strings, Option::None as null. The sizes are
 * the driver's (uapi linux/nsm.h): NSM_REQUEST_MAX_SIZE 0x1000 and
 * NSM_RESPONSE_MAX_SIZE 0x3000.
 */
#define KILN_NSM_REQUEST_MAX 0x1000
#define KILN_NSM_RESPONSE_MAX 0x3000
#define KILN_NSM_PCR_MAX 64	       /* largest PCR (SHA-512); SHA-384 PCRs are 48 */
#define KILN_NSM_USER_DATA_MAX 512     /* attestation document spec: user_data, nonce */
#define KILN_NSM_PUBLIC_KEY_MAX 1024   /* public_key 1..1024 */
#define KILN_NSM_MODULE_ID_MAX 255
#define KILN_NSM_LOCKED_MAX 256	       /* locked_pcrs entries a decoder accepts */

enum kiln_nsm_op {
	KILN_NSM_OP_NONE = 0,
	KILN_NSM_DESCRIBE_PCR,
	KILN_NSM_EXTEND_PCR,
	KILN_NSM_LOCK_PCR,
	KILN_NSM_LOCK_PCRS,
	KILN_NSM_DESCRIBE_NSM,
	KILN_NSM_ATTESTATION,
	KILN_NSM_GET_RANDOM,
	KILN_NSM_ERROR, /* responses only */
};

/* nsm-api's ErrorCode, in its order. */
enum kiln_nsm_status {
	KILN_NSM_SUCCESS = 0,
	KILN_NSM_INVALID_ARGUMENT,
	KILN_NSM_INVALID_INDEX,
	KILN_NSM_INVALID_RESPONSE,
	KILN_NSM_READ_ONLY_INDEX,
	KILN_NSM_INVALID_OPERATION,
	KILN_NSM_BUFFER_TOO_SMALL,
	KILN_NSM_INPUT_TOO_LARGE,
	KILN_NSM_INTERNAL_ERROR,
	KILN_NSM_STATUS_COUNT,
};

enum kiln_nsm_digest {
	KILN_NSM_SHA256 = 1,
	KILN_NSM_SHA384,
	KILN_NSM_SHA512,
};

/* Bytes: data == NULL means absent (CBOR null); an empty string has data != NULL. */
struct kiln_nsm_blob {
	const uint8_t *data;
	size_t len;
};

struct kiln_nsm_request {
	enum kiln_nsm_op op;
	uint16_t index;			 /* DescribePCR, ExtendPCR, LockPCR */
	uint16_t range;			 /* LockPCRs */
	struct kiln_nsm_blob data;	 /* ExtendPCR */
	struct kiln_nsm_blob user_data;	 /* Attestation (each optional) */
	struct kiln_nsm_blob nonce;
	struct kiln_nsm_blob public_key;
};

struct kiln_nsm_description {
	uint16_t version_major, version_minor, version_patch;
	char module_id[KILN_NSM_MODULE_ID_MAX + 1];
	uint16_t max_pcrs;
	uint16_t locked_pcrs[KILN_NSM_LOCKED_MAX]; /* increasing */
	size_t n_locked;
	enum kiln_nsm_digest digest;
};

struct kiln_nsm_response {
	enum kiln_nsm_op op;
	enum kiln_nsm_status error;	/* KILN_NSM_ERROR */
	bool lock;			/* DescribePCR */
	/* DescribePCR, ExtendPCR: the PCR; Attestation: the document; GetRandom: the bytes. */
	struct kiln_nsm_blob data;
	struct kiln_nsm_description nsm; /* DescribeNSM */
};

/* "InvalidIndex"; "?" when out of range. */
const char *kiln_nsm_status_name(enum kiln_nsm_status s);
/* "ExtendPCR"; "?" when out of range. */
const char *kiln_nsm_op_name(enum kiln_nsm_op op);

/* Encode into a fresh buffer (free()); fails on values the protocol cannot carry. */
int kiln_nsm_request_encode(const struct kiln_nsm_request *r, uint8_t **out,
			    size_t *len) KILN_MUST;
int kiln_nsm_response_encode(const struct kiln_nsm_response *r, uint8_t **out,
			     size_t *len) KILN_MUST;

/*
 * Decoders for untrusted bytes. Strict: exactly one known variant, every
 * field present once with its type (u16 range, byte strings, bool), no
 * unknown fields; only an Attestation request may omit its optional fields
 * (serde reads a missing Option as None). Blobs point into buf or into *doc,
 * which the caller frees with kiln_nsm_doc_free() after using them.
 */
struct kiln_cbor_doc;
int kiln_nsm_request_decode(const uint8_t *buf, size_t len, struct kiln_nsm_request *r,
			    struct kiln_cbor_doc **doc) KILN_MUST;
int kiln_nsm_response_decode(const uint8_t *buf, size_t len, struct kiln_nsm_response *r,
			     struct kiln_cbor_doc **doc) KILN_MUST;
void kiln_nsm_doc_free(struct kiln_cbor_doc *doc);

/*
 * Transports. roundtrip() sends one request and receives one response into
 * resp, whose capacity is *resp_len on entry (KILN_NSM_RESPONSE_MAX) and the
 * response length on return.
 */
struct kiln_nsm_transport {
	int (*roundtrip)(void *ctx, const uint8_t *req, size_t req_len, uint8_t *resp,
			 size_t *resp_len);
	void (*close)(void *ctx); /* NULL: nothing to release */
};

struct kiln_nsm;

/* A client over any transport; ctx is released by t->close in kiln_nsm_close(). */
int kiln_nsm_open(const struct kiln_nsm_transport *t, void *ctx, struct kiln_nsm **out) KILN_MUST;
/* /dev/nsm (path NULL) through NSM_IOCTL_RAW; the ioctl needs CAP_SYS_ADMIN. */
int kiln_nsm_open_dev(const char *path, struct kiln_nsm **out) KILN_MUST;
/* A connected stream socket to a sim NSM (framing below); takes the fd. */
int kiln_nsm_open_stream(int fd, int timeout_ms, struct kiln_nsm **out) KILN_MUST;
void kiln_nsm_close(struct kiln_nsm *n);

/*
 * Client calls. They are serialized by a mutex inside struct kiln_nsm. An
 * NSM error response becomes a negative errno with the message "nsm:
 * <ErrorCode>": InvalidArgument -EINVAL, InvalidIndex -ERANGE,
 * InvalidResponse -EPROTO, ReadOnlyIndex -EROFS, InvalidOperation
 * -EOPNOTSUPP, BufferTooSmall -ENOBUFS, InputTooLarge -EMSGSIZE, others -EIO.
 * A response of another variant than the request's is -EPROTO.
 */
int kiln_nsm_errno(enum kiln_nsm_status s);

/* Each of user_data, nonce, public_key may be NULL (absent); *doc is free()d by the caller. */
int kiln_nsm_attestation(struct kiln_nsm *n, const struct kiln_nsm_blob *user_data,
			 const struct kiln_nsm_blob *nonce, const struct kiln_nsm_blob *public_key,
			 uint8_t **doc, size_t *doc_len) KILN_MUST;
/* value has room for KILN_NSM_PCR_MAX bytes. */
int kiln_nsm_describe_pcr(struct kiln_nsm *n, uint16_t index, bool *locked, uint8_t *value,
			  size_t *value_len) KILN_MUST;
int kiln_nsm_extend_pcr(struct kiln_nsm *n, uint16_t index, const void *data, size_t len,
			uint8_t *value, size_t *value_len) KILN_MUST;
int kiln_nsm_lock_pcr(struct kiln_nsm *n, uint16_t index) KILN_MUST;
int kiln_nsm_lock_pcrs(struct kiln_nsm *n, uint16_t range) KILN_MUST;
int kiln_nsm_describe_nsm(struct kiln_nsm *n, struct kiln_nsm_description *d) KILN_MUST;
/* Up to cap random bytes (one GetRandom; the NSM decides how many, 256 on the sim). */
int kiln_nsm_get_random(struct kiln_nsm *n, uint8_t *buf, size_t cap, size_t *len) KILN_MUST;
/*
 * Feed at least `bytes` bytes from GetRandom into the kernel pool with
 * RNDADDENTROPY on random_fd (-1: open /dev/random), crediting them as
 * entropy. Needs CAP_SYS_ADMIN (kiln-init is root in the enclave).
 */
int kiln_nsm_seed_rng(struct kiln_nsm *n, int random_fd, size_t bytes) KILN_MUST;

/*
 * Stream framing for the sim NSM channel (AF_UNIX in sim): each message is a
 * u32 big-endian length then that many bytes; a request is at most
 * KILN_NSM_REQUEST_MAX bytes, a response at most KILN_NSM_RESPONSE_MAX; an
 * empty message or a longer length is malformed and the channel is closed.
 * timeout_ms bounds the whole call (< 0: no limit).
 */
int kiln_nsm_stream_write(int fd, const uint8_t *msg, size_t len, size_t max,
			  int timeout_ms) KILN_MUST;
/* 1: a message of *len bytes in buf (cap >= max); 0: clean EOF before a header; < 0: error. */
int kiln_nsm_stream_read(int fd, uint8_t *buf, size_t max, size_t *len, int timeout_ms) KILN_MUST;

#endif
