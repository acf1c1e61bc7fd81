/* SPDX-License-Identifier: Apache-2.0 */
/* Egress request/reply and ingress headers: encoders and strict decoders. */
#include "net/egress_hdr.h"

#include <string.h>

#include "util/cursor.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int check_req(const struct kiln_egress_req *r)
{
	char norm[KILN_NAME_LEN + 1];

	if (r->port == 0)
		return kiln_err(EINVAL, "egress header: port 0");
	switch (r->family) {
	case KILN_EGRESS_BY_NAME:
		if (r->hint[0])
			return kiln_err(EINVAL, "egress header: hint given with a name destination");
		if (kiln_name_norm(r->name, strlen(r->name), norm) < 0 || strcmp(norm, r->name))
			return kiln_err(EINVAL, "egress header: destination is not a normalised host name");
		return 0;
	case KILN_EGRESS_IPV4:
	case KILN_EGRESS_IPV6:
		if (r->ip.family != r->family)
			return kiln_err(EINVAL, "egress header: address family mismatch");
		if (r->hint[0] &&
		    (kiln_name_norm(r->hint, strlen(r->hint), norm) < 0 || strcmp(norm, r->hint)))
			return kiln_err(EINVAL, "egress header: hint is not a normalised host name");
		return 0;
	default:
		return kiln_err(EINVAL, "egress header: unknown family %u", r->family);
	}
}

int kiln_egress_req_encode(const struct kiln_egress_req *r, uint8_t *out, size_t cap, size_t *len)
{
	size_t alen, hlen = strlen(r->hint);
	const void *addr;
	int rc = check_req(r);

	if (rc < 0)
		return rc;
	if (r->family == KILN_EGRESS_BY_NAME) {
		addr = r->name;
		alen = strlen(r->name);
	} else {
		addr = r->ip.a;
		alen = kiln_ip_len(&r->ip);
	}
	if (cap < KILN_EGRESS_REQ_FIXED + alen + hlen)
		return kiln_err(ENOBUFS, "egress header does not fit in %zu bytes", cap);
	out[0] = KILN_NETHDR_VERSION;
	out[1] = r->family;
	put16(out + 2, r->port);
	out[4] = (uint8_t)alen;
	out[5] = (uint8_t)hlen;
	memcpy(out + 6, addr, alen);
	memcpy(out + 6 + alen, r->hint, hlen);
	*len = KILN_EGRESS_REQ_FIXED + alen + hlen;
	return 0;
}

static int version(uint8_t v, const char *what)
{
	if (v != KILN_NETHDR_VERSION)
		return kiln_err(EPROTONOSUPPORT, "%s: unsupported version %u", what, v);
	return 0;
}

/* Copy n name bytes into out as a C string; NUL bytes are malformed. */
static int take_name(struct kiln_cursor *c, size_t n, char *out)
{
	int rc = kiln_cursor_copy(c, out, n);

	if (rc < 0)
		return rc;
	out[n] = '\0';
	if (strlen(out) != n)
		return kiln_err(EBADMSG, "egress header: NUL byte in a name");
	return 0;
}

int kiln_egress_req_decode(const uint8_t *buf, size_t len, struct kiln_egress_req *r,
			   size_t *used)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint8_t ver, alen, hlen;
	const uint8_t *p;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len < KILN_EGRESS_REQ_FIXED)
		return 0;
	if ((rc = kiln_cursor_u8(&c, &ver)) < 0 || (rc = version(ver, "egress header")) < 0)
		return rc;
	if ((rc = kiln_cursor_u8(&c, &r->family)) < 0 || (rc = kiln_cursor_be16(&c, &r->port)) < 0 ||
	    (rc = kiln_cursor_u8(&c, &alen)) < 0 || (rc = kiln_cursor_u8(&c, &hlen)) < 0)
		return rc;
	switch (r->family) {
	case KILN_EGRESS_IPV4:
	case KILN_EGRESS_IPV6:
		if (alen != (r->family == KILN_EGRESS_IPV4 ? 4 : 16))
			return kiln_err(EBADMSG, "egress header: address length %u for IPv%u", alen,
					r->family);
		break;
	case KILN_EGRESS_BY_NAME:
		if (alen == 0 || alen > KILN_NAME_LEN)
			return kiln_err(EBADMSG, "egress header: name length %u", alen);
		break;
	default:
		return kiln_err(EBADMSG, "egress header: unknown family %u", r->family);
	}
	if (hlen > KILN_NAME_LEN)
		return kiln_err(EBADMSG, "egress header: hint length %u", hlen);
	if (kiln_cursor_left(&c) < (size_t)alen + hlen)
		return 0;
	if (r->family == KILN_EGRESS_BY_NAME) {
		rc = take_name(&c, alen, r->name);
	} else {
		rc = kiln_cursor_bytes(&c, alen, &p);
		if (rc == 0)
			kiln_ip_from_bytes(&r->ip, r->family, p);
	}
	if (rc == 0)
		rc = take_name(&c, hlen, r->hint);
	if (rc == 0)
		rc = check_req(r);
	if (rc < 0)
		return rc;
	*used = c.pos;
	return 1;
}

int kiln_egress_reply_encode(uint8_t status, uint8_t *out, size_t cap, size_t *len)
{
	if (status > KILN_EGRESS_BAD_REQUEST)
		return kiln_err(EINVAL, "egress reply: unknown status %u", status);
	if (cap < KILN_EGRESS_REPLY_LEN)
		return kiln_err(ENOBUFS, "egress reply needs %d bytes", KILN_EGRESS_REPLY_LEN);
	out[0] = KILN_NETHDR_VERSION;
	out[1] = status;
	out[2] = out[3] = 0;
	*len = KILN_EGRESS_REPLY_LEN;
	return 0;
}

int kiln_egress_reply_decode(const uint8_t *buf, size_t len, uint8_t *status, size_t *used)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint8_t ver;
	uint16_t reserved;
	int rc;

	if (len < KILN_EGRESS_REPLY_LEN)
		return 0;
	if ((rc = kiln_cursor_u8(&c, &ver)) < 0 || (rc = version(ver, "egress reply")) < 0 ||
	    (rc = kiln_cursor_u8(&c, status)) < 0 || (rc = kiln_cursor_be16(&c, &reserved)) < 0)
		return rc;
	if (*status > KILN_EGRESS_BAD_REQUEST)
		return kiln_err(EBADMSG, "egress reply: unknown status %u", *status);
	if (reserved)
		return kiln_err(EBADMSG, "egress reply: reserved field is %u", reserved);
	*used = c.pos;
	return 1;
}

const char *kiln_egress_status_str(unsigned status)
{
	switch (status) {
	case KILN_EGRESS_OK:
		return "ok";
	case KILN_EGRESS_REFUSED:
		return "connection refused";
	case KILN_EGRESS_UNREACHABLE:
		return "destination unreachable";
	case KILN_EGRESS_DENIED:
		return "denied by the parent's policy";
	case KILN_EGRESS_TIMEOUT:
		return "connection timed out";
	case KILN_EGRESS_BAD_REQUEST:
		return "bad request";
	default:
		return "?";
	}
}

int kiln_ingress_hdr_encode(const struct kiln_ingress_hdr *h, uint8_t *out, size_t cap,
			    size_t *len)
{
	size_t alen = h->has_client ? kiln_ip_len(&h->client) : 0;
	size_t n = 4 + (h->has_client ? alen + 2 : 0);

	if (h->port == 0)
		return kiln_err(EINVAL, "ingress header: port 0");
	if (h->has_client && h->client.family != 4 && h->client.family != 6)
		return kiln_err(EINVAL, "ingress header: bad client family");
	if (cap < n)
		return kiln_err(ENOBUFS, "ingress header needs %zu bytes", n);
	out[0] = KILN_NETHDR_VERSION;
	put16(out + 1, h->port);
	out[3] = h->has_client ? h->client.family : 0;
	if (h->has_client) {
		memcpy(out + 4, h->client.a, alen);
		put16(out + 4 + alen, h->client_port);
	}
	*len = n;
	return 0;
}

int kiln_ingress_hdr_decode(const uint8_t *buf, size_t len, struct kiln_ingress_hdr *h,
			    size_t *used)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint8_t ver, fam;
	const uint8_t *p;
	size_t alen;
	int rc;

	memset(h, 0, sizeof(*h));
	if (len < 4)
		return 0;
	if ((rc = kiln_cursor_u8(&c, &ver)) < 0 || (rc = version(ver, "ingress header")) < 0 ||
	    (rc = kiln_cursor_be16(&c, &h->port)) < 0 || (rc = kiln_cursor_u8(&c, &fam)) < 0)
		return rc;
	if (h->port == 0)
		return kiln_err(EBADMSG, "ingress header: port 0");
	if (fam != 0 && fam != 4 && fam != 6)
		return kiln_err(EBADMSG, "ingress header: unknown client family %u", fam);
	if (fam) {
		alen = fam == 4 ? 4 : 16;
		if (kiln_cursor_left(&c) < alen + 2)
			return 0;
		if ((rc = kiln_cursor_bytes(&c, alen, &p)) < 0 ||
		    (rc = kiln_cursor_be16(&c, &h->client_port)) < 0)
			return rc;
		kiln_ip_from_bytes(&h->client, fam, p);
		h->has_client = true;
	}
	*used = c.pos;
	return 1;
}
