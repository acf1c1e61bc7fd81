#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kilnd's side of `kiln run --nitro -p` without a Nitro device: a nitro registration with
# "ports" (as kiln_nitro_run sends it) makes kilnd listen on the host ports and dial the
# enclave's vsock CID:7100 per client; here no enclave answers, so the client is reset and
# kilnd logs why. Port and CID conflicts, ps, release on exit and reload after a restart.
set -eu
source "$(dirname "$0")/../lib/net.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
net_private_parent "$0" "$@" # fixed host ports, no clash with the machine's
source "$(dirname "$0")/../lib/common.sh"
command -v jq >/dev/null || fail "jq is not installed (scripts/deps)"
command -v curl >/dev/null || fail "curl is not installed (scripts/deps)"
KILND=$KILN_ROOT/build/kilnd
CLIENT=$KILN_ROOT/build/tools/chan_client
[ -x "$KILND" ] && [ -x "$CLIENT" ] || fail "build first (make)"
S=$T/state/kilnd.sock
# vsock CIDs nobody uses here: connects to them fail (no vsock peer on this machine).
CID=4242

start_kilnd() {
	"$KILND" --foreground --state-dir "$T/state" 2>>"$T/kilnd.err" &
	KPID=$!
	defer "kill -9 $KPID 2>/dev/null"
	for _ in $(seq 100); do [ -S "$S" ] && return 0; sleep 0.05; done
	fail "kilnd did not create $S: $(cat "$T/kilnd.err")"
}
stop_kilnd() {
	kill -TERM "$KPID"
	wait "$KPID" || fail "kilnd exited $? on SIGTERM"
}
req() { "$CLIENT" -r "$S" "$1"; }
field() { req '{"op":"ps"}' | jq -c ".enclaves[] | select(.name==\"$1\") | .$2"; }
# A stand-in for `kiln run --nitro` (the process holding the enclave fd).
runtime() { sleep 600 & RT=$!; defer "kill -9 $RT 2>/dev/null"; }
register() { # name cid pid ports-json
	req "{\"op\":\"register\",\"name\":\"$1\",\"mode\":\"nitro\",\"cid\":$2,\"cpus\":2,\"memory_mib\":512,\"pid\":$3,\"kill_signal\":36,\"ports\":$4}"
}
listening() { ss -Hltn "sport = :$1" | grep -q .; }
# Wait for a line in kilnd's stderr (bounded only so that a broken kilnd fails the test).
wait_log() {
	for _ in $(seq 300); do grep -qF -- "$1" "$T/kilnd.err" && return 0; sleep 0.05; done
	fail "kilnd did not log '$1': $(tail -20 "$T/kilnd.err")"
}

start_kilnd
runtime
WEB_RT=$RT
out=$(register web $CID "$WEB_RT" '[{"host_ip":"127.0.0.1","host_port":18080,"port":80},{"host_ip":null,"host_port":18443,"port":443}]')
if jq -e '(.error // "") | test("AF_VSOCK|vsock")' >/dev/null <<<"$out"; then
	skip "kilnd cannot listen on vsock here: $out"
fi
jq -e '.ok and .control == "vsock:3:7000" and .heartbeat == "runtime"' >/dev/null <<<"$out" ||
	fail "nitro register with ports: $out"
listening 18080 || fail "kilnd does not listen on 127.0.0.1:18080"
listening 18443 || fail "kilnd does not listen on *:18443"
assert_eq "$(field web ports)" \
	'[{"host_ip":"127.0.0.1","host_port":18080,"port":80},{"host_ip":null,"host_port":18443,"port":443}]' \
	"ps ports"
assert_eq "$(field web mode)/$(field web cid)/$(field web chan_dir)" '"nitro"/4242/null' "ps mode, cid, no chan_dir"
echo "ok   nitro registration with ports: kilnd listens on the host ports"

# A client: kilnd dials vsock CID:7100, nothing answers, the client is reset with a log line.
rc=0; curl -sS --max-time 30 http://127.0.0.1:18080/ >/dev/null 2>"$T/curl.err" || rc=$?
[ "$rc" = 52 ] || [ "$rc" = 56 ] || fail "client of an unreachable enclave: curl rc $rc: $(cat "$T/curl.err")"
wait_log "enclave web: ingress to port 80 (vsock 4242:7100): enclave not reachable"
[ "$(field web state)" = '"starting"' ] || fail "an unreachable client changed the state: $(field web state)"
echo "ok   no vsock peer: client reset, kilnd says: $(grep -F 'enclave web: ingress' "$T/kilnd.err" | tail -1)"

# Conflicts fail the registration (kiln run --nitro then terminates the enclave, exits 125).
runtime
out=$(register api $((CID + 1)) "$RT" '[{"host_ip":null,"host_port":18080,"port":8080}]')
jq -e '.ok == false and (.error | test("port 18080 already in use"))' >/dev/null <<<"$out" ||
	fail "host port conflict: $out"
[ -z "$(field api state)" ] || fail "a refused registration left a record"
out=$(register api $CID "$RT" '[{"host_ip":null,"host_port":18081,"port":8080}]')
jq -e '.ok == false and (.error | test("cid 4242 is in use by enclave web"))' >/dev/null <<<"$out" ||
	fail "CID conflict: $out"
listening 18081 && fail "port of a refused registration left listening"
out=$(register api $((CID + 1)) "$RT" '[{"host_ip":null,"host_port":18081,"port":8080},{"host_ip":null,"host_port":18081,"port":8081}]')
jq -e '.ok == false and (.error | test("host port 18081 is mapped twice"))' >/dev/null <<<"$out" ||
	fail "duplicate host port: $out"
echo "ok   port and CID conflicts refuse the registration"

# The runtime's heartbeat report, then kilnd restarts: the record and its listeners come back.
req '{"op":"heartbeat","name":"web"}' | jq -e .ok >/dev/null || fail "heartbeat op"
[ "$(field web heartbeat)" = true ] || fail "heartbeat not recorded"
stop_kilnd
listening 18080 && fail "port still listening after kilnd stopped"
start_kilnd
listening 18080 || fail "ports not listening again after a kilnd restart"
[ "$(field web state)" = '"starting"' ] || fail "web after restart: $(field web state)"
echo "ok   kilnd restart: nitro enclave resumed with its ports"

# The runtime exits (the enclave is gone): the ports are released at once.
kill "$WEB_RT"
for _ in $(seq 200); do [ "$(field web state)" = '"exited"' ] && break; sleep 0.05; done
[ "$(field web state)" = '"exited"' ] || fail "web not exited after its runtime died"
listening 18080 && fail "host port still listening after the enclave ended"
out=$(register web2 $CID "$RT" '[{"host_ip":"127.0.0.1","host_port":18080,"port":80}]')
jq -e .ok >/dev/null <<<"$out" || fail "port and CID of an ended enclave not reusable: $out"
echo "ok   ended enclave releases its ports and CID"
stop_kilnd
echo "nitro_ingress: all passed"
