/* SPDX-License-Identifier: Apache-2.0 */
/* Transparent egress interception: iptables-legacy nat REDIRECT, original destination, routes. */
#ifndef KILN_NET_REDIRECT_H
#define KILN_NET_REDIRECT_H

#include <stdint.h>

#include "net/ip.h"
#include "util/err.h"

/*
 * Append to the nat table's OUTPUT chain (family 4 or 6) the rule
 *   iptables  -t nat -A OUTPUT -p tcp ! -d 127.0.0.0/8 -j REDIRECT --to-ports PORT
 *   ip6tables -t nat -A OUTPUT -p tcp ! -d ::1/128     -j REDIRECT --to-ports PORT
 * byte for byte as the iptables-legacy CLI builds it, through the raw
 * get/setsockopt interface (no libiptc, no binary). Returns 1 when added,
 * 0 when the identical rule is already there, or a negative errno
 * (-ENOENT: no legacy nat table for this family in the kernel).
 * Needs CAP_NET_ADMIN in the network namespace.
 */
int kiln_redirect_install(int family, uint16_t port) KILN_MUST;
/* 1 when that exact rule is in nat OUTPUT, 0 when not, or a negative errno. */
int kiln_redirect_present(int family, uint16_t port) KILN_MUST;
/*
 * Insert at the head of nat OUTPUT (ip->family's table) the rule
 *   iptables  -t nat -I OUTPUT -p tcp -d IP/32  -j ACCEPT
 *   ip6tables -t nat -I OUTPUT -p tcp -d IP/128 -j ACCEPT
 * so connections to the enclave's own address (kiln-init's ingress, the
 * app reaching itself) are never REDIRECTed to the egress listener.
 * Returns as kiln_redirect_install.
 */
int kiln_redirect_exempt(const struct kiln_ip *ip) KILN_MUST;
int kiln_redirect_exempt_present(const struct kiln_ip *ip) KILN_MUST;

/*
 * Have the kernel create both families' nat tables in this network
 * namespace now. A new namespace gets its xtables on first use, which
 * costs ~0.4 ms per family on this kernel (serialised inside it, so two
 * threads do not help); the sim enclave pays it while its monitor prepares
 * the root, not on kiln-init's way to the app. Best effort: kiln-init
 * reports a missing table when it installs the rule.
 */
void kiln_redirect_warm(void);

/*
 * The destination a redirected TCP connection was originally sent to
 * (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST on the accepted socket).
 */
int kiln_original_dst(int fd, struct kiln_ip *ip, uint16_t *port) KILN_MUST;

/* Bring the loopback interface up (SIOCSIFFLAGS). */
int kiln_lo_up(void) KILN_MUST;
/*
 * "ip route add default dev lo" for family 4 or 6 through rtnetlink, so
 * that connect() to any address reaches the nat OUTPUT hook instead of
 * failing with ENETUNREACH. An existing default route is left alone (0).
 */
int kiln_route_default_lo(int family) KILN_MUST;
/*
 * "ip addr add IP/32 (or /128) dev lo". An enclave needs one IPv4 address
 * that is not loopback on lo: connections the nat rule redirects would
 * otherwise have the source 127.0.0.1 and a non-loopback destination,
 * and the kernel drops the listener's replies to them. An existing
 * address is left alone (0).
 */
int kiln_lo_addr_add(const struct kiln_ip *ip) KILN_MUST;

/*
 * Make this network namespace's default TCP congestion control one that
 * does not pace (cubic, else reno). Inside an enclave every TCP connection
 * is a loopback hop between the app and kiln-init, with nothing to control;
 * a host default of bbr (inherited by the sim's namespace) paces each of
 * them with timers, which cut iperf3 over lo to a third here (15 against
 * 51 Gbit/s). Apps that choose their own (TCP_CONGESTION) keep it. A
 * namespace other than the host's may only pick one of the host's
 * net.ipv4.tcp_allowed_congestion_control, where reno always is.
 */
int kiln_tcp_cc_default_unpaced(void) KILN_MUST;

#endif
