#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Ingress admits only measured ports and never reaches loopback listeners (issue 10, finding 1).
#
# The image exposes 8080 (httpd on 0.0.0.0), 8081 (httpd on 127.0.0.1 only), 8082 (httpd on
# the enclave's IPv6 address only) and 50123 (the attestation API's port); no network.ingress. Checked: `kiln run -p` to 50123 (the attack:
# the parent asking kiln-init's attestation API for a document with its own key) and to any
# port the EIF does not admit fails at once; the raw ingress channel (playing kilnd on the
# enclave's 7100, bypassing the CLI) reaches neither the attestation API, nor DNS 53, nor the
# egress listener 15001, nor the loopback-only listener on the admitted 8081; the 0.0.0.0 app
# on the admitted 8080 is reachable both ways, the IPv6-only one on 8082 too; ExposedPorts-only images admit exactly those;
# network.ingress replaces them; kiln build refuses a network.ingress naming kiln-init's ports.
set -eu
source "$(dirname "$0")/../lib/net.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
net_private_parent "$0" "$@"
source "$(dirname "$0")/../lib/common.sh"
command -v curl >/dev/null || skip "curl is not installed (scripts/deps)"
export KILN_STATE_DIR=$T/state
CLIENT=$KILN_ROOT/build/tools/chan_client
[ -x "$CLIENT" ] || fail "$CLIENT is not built"
P=$((20000 + RANDOM % 9000))

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app" "$mnt/www" "$mnt/lo"
ln -sf busybox "$mnt/bin/httpd"
echo "app on the wildcard address" >"$mnt/www/index.html"
echo "loopback-only service" >"$mnt/lo/index.html"
mkdir -p "$mnt/v6"
echo "app on the enclave's IPv6 address" >"$mnt/v6/index.html"
cat >"$mnt/app/serve.sh" <<'SH'
#!/bin/sh
echo "measured: $(cat /.kiln/config.json)"
httpd -f -p 8080 -h /www &
httpd -f -p 127.0.0.1:8081 -h /lo &
httpd -f -p '[fd6b:696c:6e00::8]:8082' -h /v6 &
sleep 600
SH
chmod 755 "$mnt/app/serve.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/serve.sh"]' --cmd '[]' --port 8080 --port 8081/tcp \
	--port 8082 --port 50123 --port 5353/udp "$c"
save_image "$c" admit "$T/admit.tar" ""

# ExposedPorts are recorded (tcp only) in the measured config and the metadata; the exposed
# attestation port is reported at build time and never admitted.
rc=0; out=$(kiln build -q "docker-archive:$T/admit.tar" -o "$T/admit.eif" 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 0 "kiln build of an image exposing 50123"
assert_contains "$out" "the image exposes port 50123, which is kiln-init's attestation API" \
	"build warning for an exposed kiln-init port"
kiln describe-eif "$T/admit.eif" | jq -e '.Metadata.KilnExposedPorts == [8080, 8081, 8082, 50123]' \
	>/dev/null || fail "KilnExposedPorts not in the metadata: $(kiln describe-eif "$T/admit.eif" |
	jq -c .Metadata.KilnExposedPorts)"
echo "ok   build: tcp ExposedPorts recorded, exposed 50123 reported: $out"

# The attack from the issue, through the CLI: refused before anything starts.
for port in 50123 53 15001 9999; do
	rc=0; out=$(kiln run --sim -d --name atk -p 127.0.0.1:$P:$port "$T/admit.eif" 2>&1) || rc=$?
	assert_eq "$rc" 125 "kiln run -p to $port"
	assert_contains "$out" "the enclave does not admit port $port (admitted: 8080, 8081, 8082 (the image's ExposedPorts))" \
		"-p $port message"
	[ "$(wc -l <<<"$out")" = 1 ] || fail "more than one line: $out"
done
[ ! -e "$KILN_STATE_DIR/sim/atk" ] || fail "kiln run created the enclave atk anyway"
rc=0; curl -s --max-time 5 "http://127.0.0.1:$P/v1/attestation?public_key=QVRUQUNLRVI" || rc=$?
[ "$rc" = 7 ] || fail "something answers on host port $P (curl rc $rc)"
echo "ok   kiln run -p to 50123/53/15001/9999 fails at once: $out"

wait_log() { # text
	for _ in $(seq 100); do grep -qF -- "$1" "$T/run.out" && return 0; sleep 0.1; done
	fail "no log line '$1' in: $(cat "$T/run.out")"
}

kiln run --sim --name adm -p 127.0.0.1:$P:8080 -p 127.0.0.1:$((P + 1)):8081 \
	-p 127.0.0.1:$((P + 2)):8082 "$T/admit.eif" >"$T/run.out" 2>&1 &
rpid=$!
defer "kiln stop adm --timeout 2 >/dev/null 2>&1; kill $rpid 2>/dev/null"
page=
for _ in $(seq 100); do
	page=$(curl -s --max-time 2 "http://127.0.0.1:$P/index.html" || true)
	[ -n "$page" ] && break
	sleep 0.1
done
assert_eq "$page" "app on the wildcard address" "the app on 0.0.0.0:8080 through ingress ($(cat "$T/run.out"))"
echo "ok   admitted 8080: the app on 0.0.0.0 is reachable"
# What kiln-init decided from: the measured /.kiln/config.json of ramdisk1 (PCR2).
wait_log "measured: "
cfg=$(sed -n 's/^measured: //p' "$T/run.out")
jq -e '.exposed_ports == [8080, 8081, 8082, 50123] and .config.network.ingress == []' \
	<<<"$cfg" >/dev/null || fail "measured config lacks exposed_ports: $cfg"
echo "ok   the measured /.kiln/config.json records exposed_ports"
page=$(curl -sS --max-time 10 "http://127.0.0.1:$((P + 2))/index.html" 2>&1 || true)
assert_eq "$page" "app on the enclave's IPv6 address" "the app on [fd6b:696c:6e00::8]:8082"
echo "ok   admitted 8082: the app on the enclave's IPv6 address is reachable (IPv4 refused, then IPv6)"

# 8081 is admitted, but its listener is bound to 127.0.0.1: never reached.
rc=0; page=$(curl -sS --max-time 10 "http://127.0.0.1:$((P + 1))/index.html" 2>/dev/null) || rc=$?
[ "$rc" = 52 ] || [ "$rc" = 56 ] || fail "curl to the loopback-only listener: rc $rc, got: $page"
wait_log "ingress to port 8081: nothing listens on it in the enclave"
echo "ok   admitted 8081 with a 127.0.0.1-only listener: not reachable"

# Bypassing the CLI: kilnd's part played by hand on the enclave's ingress channel.
chan=$KILN_STATE_DIR/sim/adm/chan
[ -S "$chan/7100" ] || fail "no ingress channel at $chan/7100"
get=$'GET /v1/attestation?public_key=QVRUQUNLRVI HTTP/1.0\r\n\r\n'
for port in 50123 53 15001; do
	out=$("$CLIENT" "$chan" ingress $port "$get")
	assert_eq "$out" "ingress reply 0 bytes: " "raw ingress to $port"
	wait_log "ingress to port $port: not admitted (admitted: 8080, 8081, 8082 (the image's ExposedPorts))"
done
out=$("$CLIENT" "$chan" ingress 8081 $'GET /index.html HTTP/1.0\r\n\r\n')
assert_eq "$out" "ingress reply 0 bytes: " "raw ingress to the loopback-only 8081"
out=$("$CLIENT" "$chan" ingress 8080 $'GET /index.html HTTP/1.0\r\n\r\n')
assert_contains "$out" "app on the wildcard address" "raw ingress to the admitted 8080"
echo "ok   raw ingress header: 50123, 53, 15001 refused inside; 8081 (loopback) unreached; 8080 served"
kiln stop adm --timeout 2 >/dev/null 2>&1 || true

# network.ingress replaces the image's ExposedPorts.
cat >"$T/only8081.yaml" <<'YAML'
version: 1
name: only8081
network:
  ingress: [{port: 8081}]
YAML
kiln build -q -c "$T/only8081.yaml" "docker-archive:$T/admit.tar" -o "$T/only.eif" >/dev/null
rc=0; out=$(kiln run --sim -d --name only -p 127.0.0.1:$P:8080 "$T/only.eif" 2>&1) || rc=$?
assert_eq "$rc" 125 "kiln run -p to an exposed port that network.ingress leaves out"
assert_contains "$out" "does not admit port 8080 (admitted: 8081 (network.ingress))" "message"
echo "ok   network.ingress replaces ExposedPorts: $out"

# kiln build refuses a network.ingress naming kiln-init's own ports.
for spec in "53|kiln-init's DNS resolver" "15001|kiln-init's egress listener" \
	"50123|kiln-init's attestation API" "9443|kiln-init's attestation API|9443"; do
	IFS='|' read -r port owner listen <<<"$spec"
	{
		echo "version: 1"
		echo "network:"
		echo "  ingress: [{port: 8080}, {port: $port}]"
		[ -z "$listen" ] || echo "attestation_api: {listen: \"127.0.0.1:$listen\"}"
	} >"$T/bad.yaml"
	rc=0; out=$(kiln build -q -c "$T/bad.yaml" "docker-archive:$T/admit.tar" -o "$T/bad.eif" 2>&1) ||
		rc=$?
	[ "$rc" != 0 ] || fail "kiln build accepted network.ingress port $port"
	assert_contains "$out" "network.ingress[1].port: $port is $owner" "build refusal for $port"
	[ "$(wc -l <<<"$out")" = 1 ] || fail "more than one line: $out"
	[ ! -e "$T/bad.eif" ] || fail "an EIF was written for port $port"
done
echo "ok   kiln build refuses network.ingress with 53, 15001, the attestation port: $out"
echo "all ingress_admit checks passed"
