/* SPDX-License-Identifier: Apache-2.0 */
/* The control channel (port 7000) protocol: versioned, length-prefixed frames. */
#ifndef KILN_CHAN_FRAME_H
#define KILN_CHAN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * Every frame is an 8-byte big-endian header then the payload:
 *   u8 version (1) | u8 type | u16 flags | u32 payload length
 * A frame (header + payload) is at most KILN_FRAME_MAX bytes. Flags must be
 * zero except KILN_LOG_PARTIAL on LOG. Payloads are fixed layouts (see
 * docs/protocol.md); trailing bytes are malformed. Decoders reject unknown
 * versions, types, oversize lengths and malformed payloads: the receiver
 * closes that connection.
 */
#define KILN_CTL_VERSION 1
#define KILN_FRAME_HDR 8
#define KILN_FRAME_MAX 65536
#define KILN_FRAME_PAYLOAD_MAX (KILN_FRAME_MAX - KILN_FRAME_HDR)

#define KILN_NAME_MAX 63   /* enclave names: [A-Za-z0-9][A-Za-z0-9_.-]{0,62} */
#define KILN_PCR_HEX 96	   /* SHA-384 in lowercase hex */
#define KILN_SIGNAL_MAX 64

enum kiln_frame_type {
	KILN_FRAME_HELLO = 1,	/* enclave -> parent */
	KILN_FRAME_LOG = 2,	/* enclave -> parent */
	KILN_FRAME_STATUS = 3,	/* enclave -> parent */
	KILN_FRAME_DROPPED = 4, /* enclave -> parent */
	KILN_FRAME_STOP = 5,	/* parent -> enclave */
	KILN_FRAME_ACK = 6,	/* both ways */
};

#define KILN_LOG_PARTIAL 0x0001 /* LOG flag: the line continues in the next LOG frame */

enum kiln_log_stream {
	KILN_STREAM_STDOUT = 1,
	KILN_STREAM_STDERR = 2,
	KILN_STREAM_INIT = 3,	/* kiln-init's own lines: networking, attestation, notes */
};

enum kiln_app_state {
	KILN_STATE_STARTING = 1,
	KILN_STATE_RUNNING = 2,
	KILN_STATE_EXITED = 3,
};

struct kiln_hello {
	uint16_t max_version;		/* highest protocol version the sender speaks */
	uint32_t init_pid;		/* kiln-init's pid inside the enclave, > 0 */
	char name[KILN_NAME_MAX + 1];	/* enclave name, validated */
	char pcr0[KILN_PCR_HEX + 1];	/* "" or 96 lowercase hex digits */
};

struct kiln_log {
	uint8_t stream;		/* enum kiln_log_stream */
	uint64_t ts_ns;		/* wall clock, ns since the epoch */
	uint64_t seq;		/* per enclave, starts at 1, +1 per LOG frame */
	const uint8_t *line;	/* decoded: points into the decoder, valid until next call */
	size_t len;		/* line length, no trailing newline */
};

struct kiln_status {
	uint8_t state;		/* enum kiln_app_state */
	uint8_t exit_code;	/* EXITED only */
	uint8_t signal;		/* EXITED only: killed by this signal (then exit_code 0) */
};

struct kiln_dropped {
	uint64_t count;		/* >= 1 lines lost (e.g. buffer full while disconnected) */
};

struct kiln_stop {
	uint8_t signal;		/* 1..64, sent to the app first */
	uint32_t timeout_ms;	/* then SIGKILL after this long */
};

struct kiln_ack {
	uint8_t type;		/* the frame type acknowledged */
	uint64_t value;		/* HELLO: next log seq the parent expects; else 0 */
};

struct kiln_frame {
	uint8_t type;		/* enum kiln_frame_type */
	uint16_t flags;
	union {
		struct kiln_hello hello;
		struct kiln_log log;
		struct kiln_status status;
		struct kiln_dropped dropped;
		struct kiln_stop stop;
		struct kiln_ack ack;
	} u;
};

/* Name of a frame type ("HELLO"), "?" when unknown. */
const char *kiln_frame_type_name(unsigned type);
/* 0 when name is a valid enclave name (also used as a file name by kilnd). */
int kiln_name_check(const char *name) KILN_MUST;
/* Validate every field of f (the decoder and encoder both call it). */
int kiln_frame_check(const struct kiln_frame *f) KILN_MUST;

/* Encode f into out (cap bytes); *len gets the frame size. */
int kiln_frame_encode(const struct kiln_frame *f, uint8_t *out, size_t cap,
		      size_t *len) KILN_MUST;

/*
 * Incremental decoder: kiln_frame_dec_feed() copies bytes as they arrive
 * (as many as fit; *used says how many), kiln_frame_dec_next() yields each
 * complete frame. After an error the decoder stays failed; close the channel.
 */
struct kiln_frame_dec {
	uint8_t buf[KILN_FRAME_MAX];
	size_t start;	/* first unconsumed byte */
	size_t end;	/* one past the last buffered byte */
	int failed;
};

void kiln_frame_dec_init(struct kiln_frame_dec *d);
int kiln_frame_dec_feed(struct kiln_frame_dec *d, const void *buf, size_t len,
			size_t *used) KILN_MUST;
/* 1: *f holds a frame; 0: need more bytes; < 0: malformed input (message set). */
int kiln_frame_dec_next(struct kiln_frame_dec *d, struct kiln_frame *f) KILN_MUST;
/*
 * Feed n bytes that were read and call on_frame for each complete frame, in
 * order, until the bytes are used up. on_frame returns < 0 (an error: stop,
 * returned as is), 0 (go on) or 1 (stop without error: the receiver is
 * gone). Returns 0, 1 or the first error (malformed input included).
 */
typedef int (*kiln_frame_fn)(void *ctx, const struct kiln_frame *f);
int kiln_frame_dec_input(struct kiln_frame_dec *d, const uint8_t *p, size_t n,
			 kiln_frame_fn on_frame, void *ctx) KILN_MUST;
/* Decode exactly one whole frame from buf (tests, datagram-style users). */
int kiln_frame_decode(const uint8_t *buf, size_t len, struct kiln_frame *f,
		      size_t *used) KILN_MUST;

#endif
