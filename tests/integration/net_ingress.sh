#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Ingress end to end: `kiln run -p` -> kilnd host listener -> channel 7100 -> kiln-init ->
# a server inside (busybox httpd, driven by curl and wrk), PROXY v2 to a raw listener,
# a port with no listener inside (prompt close + log), a port the EIF does not admit (refused
# by kiln run at once), and a host port conflict.
set -eu
source "$(dirname "$0")/../lib/net.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
net_private_parent "$0" "$@"
source "$(dirname "$0")/../lib/common.sh"
command -v curl >/dev/null || skip "curl is not installed (scripts/deps)"
export KILN_STATE_DIR=$T/state

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app" "$mnt/www" "$mnt/tmp"
for a in httpd nc od head; do ln -sf busybox "$mnt/bin/$a"; done
echo "hello from inside the enclave" >"$mnt/www/index.html"
cat >"$mnt/app/serve.sh" <<'SH'
#!/bin/sh
httpd -f -p 8080 -h /www &
# One connection on 9001: print the first bytes it carries (the PROXY v2 header).
(nc -l -p 9001 | head -c 64 | od -An -tx1 | tr -d '\n' | sed 's/^/proxy-bytes:/'; echo) &
sleep 600
SH
chmod 755 "$mnt/app/serve.sh"
ln -sf busybox "$mnt/bin/tr"
ln -sf busybox "$mnt/bin/sed"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/serve.sh"]' --cmd '[]' "$c"
save_image "$c" ingress "$T/ingress.tar" ""
cat >"$T/kiln.yaml" <<'YAML'
version: 1
name: ingress
network:
  ingress: [{port: 8080}, {port: 9001, proxy_protocol: true}, {port: 9002}]
YAML
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/ingress.tar" -o "$T/ingress.eif" >/dev/null

# 7777 is not in network.ingress: kiln run refuses it before anything starts.
rc=0; out=$(kiln run --sim --name in0 -p 127.0.0.1:18080:8080 -p 127.0.0.1:19003:7777 \
	"$T/ingress.eif" 2>&1) || rc=$?
assert_eq "$rc" 125 "exit code for -p to a port the EIF does not admit"
assert_eq "$out" "kiln: run: -p 127.0.0.1:19003->7777: the enclave does not admit port 7777 (admitted: 8080, 9001, 9002 (network.ingress))" \
	"-p refusal"
echo "ok   unadmitted port refused at once: $out"

kiln run --sim --name in1 -p 127.0.0.1:18080:8080 -p 127.0.0.1:19001:9001 \
	-p 127.0.0.1:19002:9002 "$T/ingress.eif" >"$T/run.out" 2>&1 &
rpid=$!
defer "kiln stop in1 --timeout 2 >/dev/null 2>&1; kill $rpid 2>/dev/null"
for _ in $(seq 100); do
	page=$(curl -s --max-time 2 http://127.0.0.1:18080/index.html || true)
	[ -n "$page" ] && break
	sleep 0.1
done
assert_eq "$page" "hello from inside the enclave" "curl from the host reaches httpd inside"
echo "ok   ingress: curl -> kilnd 18080 -> enclave 8080"

if command -v wrk >/dev/null; then
	w=$(wrk -t1 -c16 -d2s http://127.0.0.1:18080/index.html 2>&1)
	reqs=$(awk '/requests in/ {print $1}' <<<"$w")
	[ "${reqs:-0}" -gt 100 ] || fail "wrk through ingress: $w"
	grep -q "Socket errors" <<<"$w" && fail "wrk socket errors: $w"
	echo "ok   wrk: $reqs requests in 2 s, no socket errors"
fi

# PROXY v2: the server inside sees the signature, v2 PROXY over TCP/IPv4, the client's address
# and, as destination, the enclave's address that ingress dials (192.0.0.8, never loopback).
printf 'payload' | timeout 5 socat - TCP:127.0.0.1:19001 >/dev/null || true
for _ in $(seq 50); do grep -q proxy-bytes "$T/run.out" && break; sleep 0.1; done
pb=$(grep proxy-bytes "$T/run.out" || true)
assert_contains "$pb" "0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21 11 00 0c 7f 00 00 01 c0 00 00 08" \
	"PROXY v2 header (127.0.0.1 -> 192.0.0.8) before the client's bytes"
assert_contains "$pb" "23 29 70 61 79 6c 6f 61 64" "destination port 9001, then the payload"
echo "ok   PROXY v2 header with the client address, then the payload"

# Nothing listens on 9002 inside: the client's connection ends (curl's 52/56, not its
# time-out 28, which a hanging connection would give), and kiln-init says why.
rc=0; curl -sS --max-time 10 http://127.0.0.1:19002/ >/dev/null 2>&1 || rc=$?
[ "$rc" = 52 ] || [ "$rc" = 56 ] || fail "curl to a port with no listener inside: rc $rc"
want="ingress to port 9002: nothing listens on it in the enclave"
for _ in $(seq 100); do grep -qF "$want" "$T/run.out" && break; sleep 0.1; done
assert_contains "$(cat "$T/run.out")" "$want" "log line for the missing listener"
echo "ok   missing listener: closed at once, with a log line"

# A host port already taken: registration fails with a clear error, exit 125.
rc=0; out=$(kiln run --sim --name in2 -p 127.0.0.1:18080:8080 "$T/ingress.eif" 2>&1) || rc=$?
assert_eq "$rc" 125 "exit code on a port conflict"
assert_contains "$out" "port 18080 already in use" "port conflict message"
echo "ok   port conflict: $out"

# ps shows the mappings.
kiln ps --help >/dev/null 2>&1 && {
	ps_out=$(kiln ps 2>&1 || true)
	echo "$ps_out"
}

# Without -p, kiln run publishes network.ingress[].host_port from the EIF.
cat >"$T/auto.yaml" <<'YAML'
version: 1
name: ingress-auto
network:
  ingress: [{port: 8080, host_port: 18181}]
YAML
kiln build -q -c "$T/auto.yaml" "docker-archive:$T/ingress.tar" -o "$T/auto.eif" >/dev/null
kiln describe-eif "$T/auto.eif" | jq -e '.Metadata.KilnConfig.network.ingress[0].host_port == 18181' \
	>/dev/null || fail "KilnConfig not in the metadata"
kiln run --sim --name in3 "$T/auto.eif" >"$T/auto.out" 2>&1 &
apid=$!
defer "kiln stop in3 --timeout 2 >/dev/null 2>&1; kill $apid 2>/dev/null"
page=
for _ in $(seq 100); do
	page=$(curl -s --max-time 2 http://127.0.0.1:18181/index.html || true)
	[ -n "$page" ] && break
	sleep 0.1
done
assert_eq "$page" "hello from inside the enclave" "network.ingress host_port published without -p"
echo "ok   network.ingress host_port 18181 published from the EIF's config"
