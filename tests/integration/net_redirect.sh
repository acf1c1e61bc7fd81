#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# REDIRECT from C in fresh netns: traffic arrives with its original destination, and iptables-legacy agrees byte for byte.
set -eu
cd "$(dirname "$0")/../.."
BIN=${NET_REDIRECT_BIN:-$PWD/build/tests/test_net_redirect}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
[ -x "$BIN" ] || fail "$BIN is not built"
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces and iptables"
command -v unshare >/dev/null || skip "unshare(1) missing"
IPT=$(command -v iptables-legacy || true)
IP6T=$(command -v ip6tables-legacy || true)
[ -n "$IPT" ] || skip "iptables-legacy binary missing (Debian package iptables)"
unshare -n true 2>/dev/null || skip "cannot create a network namespace here"
unshare -n "$IPT" -t nat -S OUTPUT >/dev/null 2>&1 ||
	skip "the legacy iptables nat table cannot be used in this kernel"

# 1. Our rule, installed from C, then read back by the CLI.
out=$(unshare -n bash -c "
	'$BIN' --in-netns >&2 || exit 9
	'$IPT' -t nat -S OUTPUT; echo @@; '$IP6T' -t nat -S OUTPUT")
want4="-P OUTPUT ACCEPT
-A OUTPUT -d 192.0.0.8/32 -p tcp -j ACCEPT
-A OUTPUT ! -d 127.0.0.0/8 -p tcp -j REDIRECT --to-ports 15001"
want6="-P OUTPUT ACCEPT
-A OUTPUT -d fd6b:696c:6e00::8/128 -p tcp -j ACCEPT
-A OUTPUT ! -d ::1/128 -p tcp -j REDIRECT --to-ports 15001"
[ "${out%%@@*}" = "$want4
" ] || fail "iptables-legacy -S shows: ${out%%@@*}"
[ "${out#*@@
}" = "$want6" ] || fail "ip6tables-legacy -S shows: ${out#*@@}"
ok "C-installed rule traffic-tested and read back by iptables-legacy/ip6tables-legacy -S"

# 2. The CLI's own rule is byte-identical to ours (found by exact comparison).
out=$(unshare -n bash -c "
	'$IPT' -t nat -A OUTPUT -p tcp ! -d 127.0.0.0/8 -j REDIRECT --to-ports 15002
	'$IP6T' -t nat -A OUTPUT -p tcp ! -d ::1/128 -j REDIRECT --to-ports 15002
	'$BIN' --present 4 15002; '$BIN' --install 4 15002
	'$BIN' --present 6 15002; '$BIN' --install 6 15002
	'$BIN' --present 4 15003")
[ "$(echo $out)" = "1 0 1 0 0" ] || fail "CLI rule vs ours: present/install gave: $(echo $out)"
ok "rule made by the CLI is recognised byte for byte; install is idempotent"

# 2b. The enclave address exemption (kiln-init's ingress target) matches the CLI's -I rule
# byte for byte and goes to the head of OUTPUT even after the REDIRECT rule.
out=$(unshare -n bash -c "
	'$IPT' -t nat -I OUTPUT -p tcp -d 192.0.0.8/32 -j ACCEPT
	'$IP6T' -t nat -I OUTPUT -p tcp -d fd6b:696c:6e00::8/128 -j ACCEPT
	'$BIN' --exempt-present 192.0.0.8; '$BIN' --exempt 192.0.0.8
	'$BIN' --exempt-present fd6b:696c:6e00::8; '$BIN' --exempt fd6b:696c:6e00::8
	'$BIN' --exempt-present 192.0.0.9")
[ "$(echo $out)" = "1 0 1 0 0" ] || fail "CLI exemption vs ours: gave: $(echo $out)"
out=$(unshare -n bash -c "
	'$BIN' --install 4 15005 >/dev/null; '$BIN' --exempt 192.0.0.8 >/dev/null
	'$IPT' -t nat -S OUTPUT")
[ "$out" = "-P OUTPUT ACCEPT
-A OUTPUT -d 192.0.0.8/32 -p tcp -j ACCEPT
-A OUTPUT ! -d 127.0.0.0/8 -p tcp -j REDIRECT --to-ports 15005" ] ||
	fail "exemption not at the head of OUTPUT: $out"
# kiln-init's order: the exemption into an empty OUTPUT chain, then the REDIRECT.
out=$(unshare -n bash -c "
	'$BIN' --exempt fd6b:696c:6e00::8; '$BIN' --install 6 15005 >/dev/null
	'$IP6T' -t nat -S OUTPUT")
[ "$out" = "1
-P OUTPUT ACCEPT
-A OUTPUT -d fd6b:696c:6e00::8/128 -p tcp -j ACCEPT
-A OUTPUT ! -d ::1/128 -p tcp -j REDIRECT --to-ports 15005" ] ||
	fail "exemption into an empty OUTPUT, then REDIRECT: $out"
ok "enclave address exemption: byte-identical to the CLI's, inserted before the REDIRECT"

# 3. Appending into a populated table keeps every chain and jump intact.
for v in 4 6; do
	T=$IPT; [ $v = 6 ] && T=$IP6T
	out=$(unshare -n bash -c "set -e
		'$T' -t nat -N KILN_T
		'$T' -t nat -A KILN_T -p udp -j RETURN
		'$T' -t nat -A KILN_T -p tcp --dport 22 -j ACCEPT
		'$T' -t nat -A PREROUTING -p tcp -j KILN_T
		'$T' -t nat -A OUTPUT -p udp -j KILN_T
		'$T' -t nat -A OUTPUT -p tcp --dport 9 -j RETURN
		'$T' -t nat -A OUTPUT -p sctp
		'$T' -t nat -A POSTROUTING -j KILN_T
		'$T' -t nat -N KILN_U
		'$T' -t nat -A KILN_U -j KILN_T
		before=\$('$T'-save -t nat | grep -v '^#')
		'$BIN' --install $v 15004 >/dev/null
		'$T' -t nat -A OUTPUT -p tcp --dport 7 -j ACCEPT
		after=\$('$T'-save -t nat | grep -v '^#')
		echo \"\$before\" > /tmp/kiln-net-before.$$; echo \"\$after\" > /tmp/kiln-net-after.$$
		diff /tmp/kiln-net-before.$$ /tmp/kiln-net-after.$$ | grep '^[<>]' || true
		rm -f /tmp/kiln-net-before.$$ /tmp/kiln-net-after.$$")
	lo=127.0.0.0/8; [ $v = 6 ] && lo=::1/128
	want="> -A OUTPUT ! -d $lo -p tcp -j REDIRECT --to-ports 15004
> -A OUTPUT -p tcp -m tcp --dport 7 -j ACCEPT"
	[ "$out" = "$want" ] || fail "IPv$v populated table changed unexpectedly:
$out"
	ok "IPv$v: appended after existing OUTPUT rules; user chains and jumps intact; CLI can append after"
done
echo "all net_redirect checks passed"
