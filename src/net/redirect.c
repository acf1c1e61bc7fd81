/* SPDX-License-Identifier: Apache-2.0 */
/* iptables-legacy nat REDIRECT through IPT_SO_* / IP6T_SO_* and SO_ORIGINAL_DST. */
#include "net/redirect.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include "util/cleanup.h"

/*
 * How this works: a legacy xtables table is one blob of entries, each
 * {ip match, counters, target_offset, next_offset, matches..., target}.
 * The kernel hands the blob out (GET_INFO for sizes and hook offsets,
 * GET_ENTRIES for the bytes) and only accepts a whole new blob back
 * (SET_REPLACE). To append to OUTPUT we splice our entry in front of the
 * OUTPUT chain's policy entry (its "underflow"), then shift every offset
 * that pointed past that spot: later hook entry points and underflows, and
 * the absolute jump offsets in standard targets (user chains). A jump to
 * exactly that spot is a fall-through from the end of OUTPUT and now
 * lands on our rule, which is what the CLI does too. Inserting at the head
 * of OUTPUT (the enclave address exemption, as -I) splices at OUTPUT's
 * entry point instead, which keeps pointing there, at the new rule. The
 * ipt_* and ip6t_* table-level structures have the same layout; entries
 * differ only in the size of the address-match part, so one code path
 * serves both families.
 * If another writer changes the table between GET and SET the kernel says
 * EAGAIN (counter count mismatch) and we start over.
 */

#define TABLE "nat"
#define TRIES 5

struct fam {
	int af, level;
	size_t entry_size;		/* sizeof(struct ipt_entry / ip6t_entry) */
	size_t ip_size;			/* the address-match part compared for identity */
	size_t off_target, off_next;	/* offsetof(target_offset / next_offset) */
};

static const struct fam fam4 = {
	AF_INET, IPPROTO_IP, sizeof(struct ipt_entry), sizeof(struct ipt_ip),
	offsetof(struct ipt_entry, target_offset), offsetof(struct ipt_entry, next_offset),
};
static const struct fam fam6 = {
	AF_INET6, IPPROTO_IPV6, sizeof(struct ip6t_entry), sizeof(struct ip6t_ip6),
	offsetof(struct ip6t_entry, target_offset), offsetof(struct ip6t_entry, next_offset),
};

static const struct fam *fam_of(int family)
{
	return family == 4 ? &fam4 : family == 6 ? &fam6 : NULL;
}

/*
 * One OUTPUT rule for TCP: REDIRECT --to-ports port for destinations not in
 * 127.0.0.0/8 (or ::1), or, with exempt set, ACCEPT for destinations equal
 * to exempt (a /32 or /128), which takes them out of the nat table's reach.
 */
struct rule {
	uint16_t port;
	const struct kiln_ip *exempt;
};

/* The target part: REDIRECT with its range, or the standard ACCEPT verdict. */
static size_t build_target(int family, const struct rule *r, uint8_t *buf)
{
	struct xt_entry_target t = { 0 };
	size_t dsize, tsize;

	if (r->exempt) {
		int verdict = -NF_ACCEPT - 1;

		tsize = XT_ALIGN(sizeof(struct xt_standard_target));
		memcpy(buf + sizeof(t), &verdict, sizeof(verdict));
	} else if (family == 4) {
		struct nf_nat_ipv4_multi_range_compat mr = { 0 };

		mr.rangesize = 1;
		mr.range[0].flags = NF_NAT_RANGE_PROTO_SPECIFIED;
		mr.range[0].min.tcp.port = mr.range[0].max.tcp.port = htons(r->port);
		dsize = sizeof(mr);
		tsize = XT_ALIGN(sizeof(t) + dsize);
		memcpy(buf + sizeof(t), &mr, dsize);
	} else {
		struct nf_nat_range nr = { 0 };

		nr.flags = NF_NAT_RANGE_PROTO_SPECIFIED;
		nr.min_proto.tcp.port = nr.max_proto.tcp.port = htons(r->port);
		dsize = sizeof(nr);
		tsize = XT_ALIGN(sizeof(t) + dsize);
		memcpy(buf + sizeof(t), &nr, dsize);
	}
	t.u.user.target_size = (uint16_t)tsize;
	if (!r->exempt)
		strcpy(t.u.user.name, "REDIRECT");
	memcpy(buf, &t, sizeof(t));
	return tsize;
}

/* The rule entry; returns its size (a multiple of XT_ALIGN). */
static size_t build_rule(int family, const struct rule *r, uint8_t *buf, size_t cap)
{
	size_t esize, tsize;

	memset(buf, 0, cap);
	if (family == 4) {
		struct ipt_entry e = { 0 };

		e.ip.proto = IPPROTO_TCP;
		if (r->exempt) {
			memcpy(&e.ip.dst.s_addr, r->exempt->a, 4);
			e.ip.dmsk.s_addr = 0xFFFFFFFF;
		} else {
			e.ip.dst.s_addr = htonl(0x7F000000);
			e.ip.dmsk.s_addr = htonl(0xFF000000);
			e.ip.invflags = IPT_INV_DSTIP;
		}
		esize = sizeof(e);
		tsize = build_target(family, r, buf + esize);
		e.target_offset = (uint16_t)esize;
		e.next_offset = (uint16_t)(esize + tsize);
		memcpy(buf, &e, esize);
	} else {
		struct ip6t_entry e = { 0 };

		e.ipv6.proto = IPPROTO_TCP;
		e.ipv6.flags = IP6T_F_PROTO;
		if (r->exempt) {
			memcpy(&e.ipv6.dst, r->exempt->a, 16);
		} else {
			e.ipv6.dst = in6addr_loopback;
			e.ipv6.invflags = IP6T_INV_DSTIP;
		}
		memset(&e.ipv6.dmsk, 0xFF, sizeof(e.ipv6.dmsk));
		esize = sizeof(e);
		tsize = build_target(family, r, buf + esize);
		e.target_offset = (uint16_t)esize;
		e.next_offset = (uint16_t)(esize + tsize);
		memcpy(buf, &e, esize);
	}
	return esize + tsize;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

struct table {
	struct ipt_getinfo info;
	struct ipt_get_entries *entries;	/* entrytable holds info.size bytes */
};

static int table_read(int s, const struct fam *f, struct table *t)
{
	socklen_t len = sizeof(t->info);

	memset(&t->info, 0, sizeof(t->info));
	strcpy(t->info.name, TABLE);
	if (getsockopt(s, f->level, IPT_SO_GET_INFO, &t->info, &len) < 0)
		return kiln_err(errno, "iptables-legacy: no IPv%d nat table: %s",
				f->af == AF_INET ? 4 : 6, strerror(errno));
	t->entries = calloc(1, sizeof(*t->entries) + t->info.size);
	if (!t->entries)
		return kiln_err(ENOMEM, "out of memory");
	strcpy(t->entries->name, TABLE);
	t->entries->size = t->info.size;
	len = (socklen_t)(sizeof(*t->entries) + t->info.size);
	if (getsockopt(s, f->level, IPT_SO_GET_ENTRIES, t->entries, &len) < 0)
		return kiln_err(errno, "iptables-legacy: reading the nat table: %s",
				strerror(errno));
	return 0;
}

/* Walk the blob; check each entry's offsets stay inside it. */
static int entry_at(const struct fam *f, const uint8_t *blob, size_t size, size_t off,
		    size_t *next, size_t *toff)
{
	uint16_t n, t;

	if (off + f->entry_size > size)
		return kiln_err(EBADMSG, "iptables-legacy: entry at %zu runs past the table", off);
	n = get16(blob + off + f->off_next);
	t = get16(blob + off + f->off_target);
	if (n < f->entry_size || off + n > size || t < f->entry_size ||
	    t + sizeof(struct xt_entry_target) > n)
		return kiln_err(EBADMSG, "iptables-legacy: malformed entry at %zu", off);
	*next = off + n;
	*toff = off + t;
	return 0;
}

/* 1 when an entry equal to rule (ignoring counters and bookkeeping) exists. */
static int find_rule(const struct fam *f, const struct table *t, const uint8_t *rule,
		     size_t rlen)
{
	const uint8_t *blob = (const uint8_t *)t->entries->entrytable;
	size_t off = 0, next, toff;
	int rc;

	while (off < t->info.size) {
		rc = entry_at(f, blob, t->info.size, off, &next, &toff);
		if (rc < 0)
			return rc;
		if (next - off == rlen && !memcmp(blob + off, rule, f->ip_size) &&
		    !memcmp(blob + off + f->off_target, rule + f->off_target, 4) &&
		    !memcmp(blob + off + f->entry_size, rule + f->entry_size, rlen - f->entry_size))
			return 1;
		off = next;
	}
	return 0;
}

static unsigned shift(unsigned x, unsigned at, unsigned by)
{
	return x > at ? x + by : x;
}

/* New blob with rule inserted at offset `at`, jump offsets fixed. */
static int splice_rule(const struct fam *f, const struct table *t, unsigned at,
		       const uint8_t *rule, size_t rlen, uint8_t *out)
{
	const uint8_t *blob = (const uint8_t *)t->entries->entrytable;
	size_t off = 0, next, toff;
	int rc;

	memcpy(out, blob, at);
	memcpy(out + at, rule, rlen);
	memcpy(out + at + rlen, blob + at, t->info.size - at);
	while (off < t->info.size) {
		struct xt_standard_target st;
		size_t o = off >= at ? off + rlen : off;

		rc = entry_at(f, blob, t->info.size, off, &next, &toff);
		if (rc < 0)
			return rc;
		memcpy(&st, blob + toff, sizeof(st.target));
		if (!st.target.u.user.name[0] && next - toff >= sizeof(st)) {
			memcpy(&st, blob + toff, sizeof(st));
			if (st.verdict >= 0) {
				st.verdict = (int)shift((unsigned)st.verdict, at, (unsigned)rlen);
				memcpy(out + o + (toff - off), &st, sizeof(st));
			}
		}
		off = next;
	}
	return 0;
}

/*
 * Splice rule into OUTPUT: appended (before the policy entry, as -A) or,
 * with head, first (as -I). An exemption must precede the REDIRECT rule
 * whichever was installed first, so it always goes to the head.
 */
static int table_replace(int s, const struct fam *f, const struct table *t, const uint8_t *rule,
			 size_t rlen, bool head)
{
	_cleanup_free_ struct ipt_replace *r = NULL;
	_cleanup_free_ struct xt_counters *counters = NULL;
	unsigned at = head ? t->info.hook_entry[NF_INET_LOCAL_OUT] :
			     t->info.underflow[NF_INET_LOCAL_OUT];
	size_t size = t->info.size + rlen;
	int rc;

	if (!(t->info.valid_hooks & (1u << NF_INET_LOCAL_OUT)) || at >= t->info.size)
		return kiln_err(EBADMSG, "iptables-legacy: nat table has no OUTPUT chain");
	r = calloc(1, sizeof(*r) + size);
	counters = calloc(t->info.num_entries + 1, sizeof(*counters));
	if (!r || !counters)
		return kiln_err(ENOMEM, "out of memory");
	strcpy(r->name, TABLE);
	r->valid_hooks = t->info.valid_hooks;
	r->num_entries = t->info.num_entries + 1;
	r->size = (unsigned)size;
	/*
	 * Entry points at `at` stay (they now start at the new rule); policy
	 * entries at `at` move behind it: appending, OUTPUT's own; inserting
	 * into an empty OUTPUT, too (its entry point is its policy entry).
	 */
	for (int h = 0; h < NF_INET_NUMHOOKS; h++) {
		r->hook_entry[h] = shift(t->info.hook_entry[h], at, (unsigned)rlen);
		r->underflow[h] = t->info.underflow[h] >= at ? t->info.underflow[h] + (unsigned)rlen :
							       t->info.underflow[h];
	}
	r->num_counters = t->info.num_entries;
	r->counters = counters;
	rc = splice_rule(f, t, at, rule, rlen, (uint8_t *)r->entries);
	if (rc < 0)
		return rc;
	if (setsockopt(s, f->level, IPT_SO_SET_REPLACE, r, (socklen_t)(sizeof(*r) + size)) < 0)
		return kiln_err(errno, "iptables-legacy: replacing the nat table: %s",
				strerror(errno));
	return 0;
}

static int redirect(int family, const struct rule *ru, bool install)
{
	const struct fam *f = fam_of(family);
	_cleanup_close_ int s = -1;
	uint8_t rule[512];
	size_t rlen;
	int rc = 0;

	if (!f || (!ru->exempt && ru->port == 0) || (ru->exempt && ru->exempt->family != family))
		return kiln_err(EINVAL, "redirect: bad family %d or port %u", family, ru->port);
	rlen = build_rule(family, ru, rule, sizeof(rule));
	s = socket(f->af, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (s < 0)
		return kiln_err(errno, "redirect: raw IPv%d socket: %s", family, strerror(errno));
	for (int i = 0; i < TRIES; i++) {
		struct table t = { 0 };

		rc = table_read(s, f, &t);
		if (rc == 0)
			rc = find_rule(f, &t, rule, rlen);
		if (install && rc == 1) {
			rc = 0; /* already there */
		} else if (install && rc == 0) {
			rc = table_replace(s, f, &t, rule, rlen, ru->exempt != NULL);
			rc = rc < 0 ? rc : 1;
		}
		free(t.entries);
		if (rc != -EAGAIN)
			break;
	}
	return rc;
}

int kiln_redirect_install(int family, uint16_t port)
{
	return redirect(family, &(struct rule){ .port = port }, true);
}

int kiln_redirect_present(int family, uint16_t port)
{
	return redirect(family, &(struct rule){ .port = port }, false);
}

int kiln_redirect_exempt(const struct kiln_ip *ip)
{
	return redirect(ip->family, &(struct rule){ .exempt = ip }, true);
}

int kiln_redirect_exempt_present(const struct kiln_ip *ip)
{
	return redirect(ip->family, &(struct rule){ .exempt = ip }, false);
}

void kiln_redirect_warm(void)
{
	const struct fam *fams[] = { &fam4, &fam6 };

	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		struct ipt_getinfo info = { .name = TABLE };
		socklen_t len = sizeof(info);
		int s = socket(fams[i]->af, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);

		if (s < 0)
			continue;
		(void)!getsockopt(s, fams[i]->level, IPT_SO_GET_INFO, &info, &len);
		close(s);
	}
}

int kiln_original_dst(int fd, struct kiln_ip *ip, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return kiln_err(errno, "getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&ss)->sin6_addr)) {
		struct sockaddr_in6 s6;

		len = sizeof(s6);
		if (getsockopt(fd, IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, &s6, &len) < 0)
			return kiln_err(errno, "IP6T_SO_ORIGINAL_DST: %s", strerror(errno));
		kiln_ip_from_bytes(ip, 6, s6.sin6_addr.s6_addr);
		*port = ntohs(s6.sin6_port);
		return 0;
	}
	struct sockaddr_in s4;

	len = sizeof(s4);
	if (getsockopt(fd, IPPROTO_IP, SO_ORIGINAL_DST, &s4, &len) < 0)
		return kiln_err(errno, "SO_ORIGINAL_DST: %s", strerror(errno));
	kiln_ip_from_bytes(ip, 4, (const uint8_t *)&s4.sin_addr);
	*port = ntohs(s4.sin_port);
	return 0;
}
