#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Half-close end to end: the app in a sim enclave sends a request and shuts down its write side;
# the parent's server reads to EOF, then replies; the app receives the whole reply.
set -eu
source "$(dirname "$0")/../lib/net.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
net_private_parent "$0" "$@"
source "$(dirname "$0")/../lib/common.sh"
hc=$KILN_ROOT/build/tools/tcp_halfclose
[ -x "$hc" ] || fail "build/tools/tcp_halfclose missing (make)"
export KILN_STATE_DIR=$T/state

"$hc" serve 198.18.0.1 7778 2>>"$T/server.log" &
defer "kill $! 2>/dev/null"
wait_port 198.18.0.1 7778
kilnd --state-dir "$KILN_STATE_DIR" --foreground 2>>"$T/kilnd.log" &
defer "kill $! 2>/dev/null"
for _ in $(seq 100); do [ -S "$KILN_STATE_DIR/kilnd.sock" ] && break; sleep 0.05; done

c=$(busybox_container)
mnt=$(bah mount "$c")
copy_with_libs "$mnt" "$hc" /usr/local/bin/tcp_halfclose
bah umount "$c" >/dev/null
bah config --entrypoint "[\"/usr/local/bin/tcp_halfclose\", \"ask\", \"198.18.0.1\", \"7778\", \"request then EOF\"]" \
	--cmd '[]' "$c"
save_image "$c" halfclose "$T/hc.tar" ""
printf 'version: 1\nname: halfclose\nnetwork:\n  dns: none\n' >"$T/kiln.yaml"
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/hc.tar" -o "$T/hc.eif" >/dev/null

rc=0
out=$(timeout 60 kiln run --sim --name hc --memory 512 "$T/hc.eif" 2>&1) || rc=$?
echo "$out"
assert_eq "$rc" 0 "app exit code"
assert_contains "$out" "reply: got 16 bytes: request then EOF" "reply after the server saw EOF"
echo "ok   half-close: request, SHUT_WR, server reads to EOF, reply reaches the app"
