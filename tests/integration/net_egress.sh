#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Transparent egress end to end with real servers: curl in a sim enclave -> REDIRECT -> kiln-init
# (policy, DNS) -> kilnd -> nginx (HTTP, HTTPS 100 MB, sha256) and dnsmasq; denied and refused
# destinations are reset promptly with a log line.
set -eu
source "$(dirname "$0")/../lib/net.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
net_private_parent "$0" "$@"
source "$(dirname "$0")/../lib/common.sh"
for p in nginx dnsmasq curl openssl; do
	command -v $p >/dev/null || skip "$p is not installed (scripts/deps)"
done
export KILN_STATE_DIR=$T/state

# The parent side: nginx on 198.18.0.1 and .2 (HTTP 80, HTTPS 443) serving a
# 100 MB random file; dnsmasq answering the test names.
mkdir -p "$T/www"
chmod 755 "$T" # nginx workers (nobody) read the files
head -c 100M /dev/urandom >"$T/www/big.bin"
echo "hello from the parent" >"$T/www/hello.txt"
want=$(sha256sum <"$T/www/big.bin" | cut -d' ' -f1)
make_cert files.kiln.test
start_nginx "$T/www" 198.18.0.1:80 198.18.0.2:80 "198.18.0.1:443 ssl"
dnsmasq --keep-in-foreground --port=5353 --listen-address=127.0.0.1 --bind-interfaces \
	--no-resolv --no-hosts --log-facility=- \
	--address=/files.kiln.test/198.18.0.1 --address=/denied.kiln.test/198.18.0.2 \
	--address=/other.kiln.test/198.18.0.3 2>>"$T/dnsmasq.log" &
defer "kill $! 2>/dev/null"
wait_port 198.18.0.1 80
wait_port 198.18.0.1 443
kilnd --state-dir "$KILN_STATE_DIR" --foreground --resolver 127.0.0.1:5353 2>>"$T/kilnd.log" &
kpid=$!
defer "kill $kpid 2>/dev/null"
for _ in $(seq 100); do [ -S "$KILN_STATE_DIR/kilnd.sock" ] && break; sleep 0.05; done

# The enclave: busybox + curl (and its libraries), a probe script, a policy.
c=$(busybox_container)
mnt=$(bah mount "$c")
copy_with_libs "$mnt" /usr/bin/curl
mkdir -p "$mnt/app" "$mnt/tmp"
cp "$T/tls/cert.pem" "$mnt/app/ca.pem"
for a in cut date; do ln -sf busybox "$mnt/bin/$a"; done
cat >"$mnt/app/probe.sh" <<'SH'
#!/bin/sh
# Each line: NAME result; curl's exit code and time tell reset vs hang.
try() { # name url...
	n=$1; shift
	out=$(curl -sS --max-time 20 -o /dev/null -w '%{time_total}' "$@" 2>/tmp/err)
	echo "$n rc=$? t=$out err=$(head -c 120 /tmp/err)"
}
echo "resolv=$(grep nameserver /etc/resolv.conf)"
echo "hosts=$(grep -c localhost /etc/hosts)"
echo "tcp_cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control)"
echo "http_sha=$(curl -sS --max-time 120 http://files.kiln.test/big.bin | sha256sum | cut -d' ' -f1)"
echo "https_sha=$(curl -sS --max-time 120 --cacert /app/ca.pem https://files.kiln.test/big.bin | sha256sum | cut -d' ' -f1)"
echo "hello=$(curl -sS --max-time 10 http://files.kiln.test/hello.txt)"
try rawip_allowed http://198.18.0.1/hello.txt
try denied_name http://denied.kiln.test/hello.txt
try denied_ip http://198.18.0.2/hello.txt
try not_allowed http://198.18.0.4/hello.txt
try refused http://files.kiln.test:81/
try nxdomain http://nope.invalid/
echo "done"
SH
chmod 755 "$mnt/app/probe.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/probe.sh"]' --cmd '[]' "$c"
save_image "$c" egress "$T/egress.tar" ""
cat >"$T/kiln.yaml" <<'YAML'
version: 1
name: egress
resources: {memory_mib: 512}
network:
  egress:
    allow: ["files.kiln.test", "198.18.0.2", "other.kiln.test"]
    deny: ["denied.kiln.test"]
  dns: parent
  idle_timeout_s: 60
YAML
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/egress.tar" -o "$T/egress.eif" >/dev/null

rc=0
out=$(kiln run --sim --name eg1 --memory 1024 "$T/egress.eif" 2>&1) || rc=$?
echo "$out"
assert_eq "$rc" 0 "probe exit code"
assert_contains "$out" "resolv=nameserver 127.0.0.1" "resolv.conf points at kiln-init"
assert_contains "$out" "hosts=2" "hosts has localhost v4 and v6"
# Unpaced congestion control on the enclave's loopback-only TCP, whatever the host's default.
grep -Eq "^tcp_cc=(cubic|reno)$" <<<"$out" || fail "enclave TCP congestion control: $(grep ^tcp_cc <<<"$out")"
assert_contains "$out" "http_sha=$want" "100 MB over HTTP through egress: sha256 matches"
assert_contains "$out" "https_sha=$want" "100 MB over HTTPS through egress: sha256 matches"
assert_contains "$out" "hello=hello from the parent" "small HTTP GET by name"
grep -q "^rawip_allowed rc=0 " <<<"$out" || fail "raw IP of an allowed (resolved) name"
# Denied by a name rule: the IP resolved to denied.kiln.test (deny wins over the IP allow rule).
# A refusal is a reset right after the connect: curl meets it in connect (7), in its
# getpeername after connect (55, ENOTCONN: seen once in a clean-clone run) or in recv (56).
grep -Eq "^denied_name rc=(7|55|56) " <<<"$out" || fail "denied name not refused"
grep -Eq "^denied_ip rc=(7|55|56) " <<<"$out" || fail "raw IP of a denied name not refused"
grep -Eq "^not_allowed rc=(7|55|56) " <<<"$out" || fail "destination outside the allow list"
grep -Eq "^refused rc=(7|55|56) " <<<"$out" || fail "refused port"
assert_contains "$out" "egress to 198.18.0.2:80 (denied.kiln.test): denied by rule" "deny log line"
assert_contains "$out" "egress to 198.18.0.4:80: denied" "default-deny log line"
assert_contains "$out" "the parent reports: connection refused" "refused log line"
grep -q "^nxdomain rc=6 " <<<"$out" || fail "unknown name: curl cannot resolve (rc 6)"
# Prompt: every refusal well under a second (no hang until a timeout).
for n in denied_name denied_ip not_allowed refused; do
	t=$(grep "^$n " <<<"$out" | sed 's/.* t=\([0-9.]*\).*/\1/')
	awk -v t="$t" 'BEGIN { exit !(t < 1.0) }' || fail "$n took ${t}s"
done
echo "ok   egress: HTTP+HTTPS 100 MB sha256, policy by name and IP, prompt resets"

# network.dns none: resolv.conf untouched, names do not resolve.
sed -i 's/dns: parent/dns: none/' "$T/kiln.yaml"
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/egress.tar" -o "$T/egress2.eif" >/dev/null
out=$(kiln run --sim --name eg2 --memory 1024 "$T/egress2.eif" 2>&1) || true
grep -q "^resolv=$" <<<"$out" || fail "dns: none still wrote resolv.conf: $out"
echo "ok   dns: none leaves resolv.conf alone"

# kilnd's own deny list (defence in depth): the enclave allows it, kilnd refuses.
kill "$kpid"
for _ in $(seq 100); do [ -S "$KILN_STATE_DIR/kilnd.sock" ] || break; sleep 0.05; done
kilnd --state-dir "$KILN_STATE_DIR" --foreground --resolver 127.0.0.1:5353 \
	--egress-deny 198.18.0.1/32:80 2>>"$T/kilnd2.log" &
defer "kill $! 2>/dev/null"
for _ in $(seq 100); do [ -S "$KILN_STATE_DIR/kilnd.sock" ] && break; sleep 0.05; done
sed -i 's/dns: none/dns: parent/' "$T/kiln.yaml"
out=$(kiln run --sim --name eg3 --memory 1024 "$T/egress.eif" 2>&1) || true
assert_contains "$out" "the parent reports: denied by the parent's policy" "kilnd --egress-deny"
grep -q "refused by kilnd's --egress-deny" "$T/kilnd2.log" || fail "no kilnd log line for its deny"
echo "ok   kilnd --egress-deny refuses what the enclave allows"
