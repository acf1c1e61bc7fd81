#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Many concurrent egress flows held at once: an app in a sim enclave opens FLOWS (default 1000)
# TCP connections to a parent listener; kiln-init + kilnd RSS must grow < 64 KiB per flow.
# tests/stress/net_flows.sh runs this with 10,000.
set -eu
source "$(dirname "$0")/../lib/net.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
net_private_parent "$0" "$@"
source "$(dirname "$0")/../lib/common.sh"
FLOWS=${KILN_FLOWS:-1000}
HOLD_S=${KILN_FLOWS_HOLD_S:-8}
hold=$KILN_ROOT/build/tools/tcp_hold
[ -x "$hold" ] || fail "build/tools/tcp_hold missing (make)"
export KILN_STATE_DIR=$T/state

# A held flow costs kiln-init and kilnd 2 fds each, its sockets (relay.c: a flow holds a splice
# pipe only while bytes wait in it; the greeting passes through the loop's spare pipe). Raise
# the file limit for the app, kiln-init, kilnd and the server (inherited from this shell); where
# the hard limit cannot be raised (no CAP_SYS_RESOURCE), hold as many flows as it allows and
# say so.
need=$((FLOWS * 2 + 256))
if ! ulimit -n "$need" 2>/dev/null; then
	hard=$(ulimit -Hn)
	ulimit -Sn "$hard"
	if [ $(((hard - 256) / 2)) -lt "$FLOWS" ]; then
		echo "NOTE: hard RLIMIT_NOFILE $hard cannot be raised here; $(((hard - 256) / 2)) flows instead of $FLOWS"
		FLOWS=$(((hard - 256) / 2))
	fi
fi
echo "RLIMIT_NOFILE soft $(ulimit -Sn) hard $(ulimit -Hn) for the app, kiln-init, kilnd and the server"

"$hold" serve 198.18.0.1 7777 2>>"$T/server.log" &
defer "kill $! 2>/dev/null"
wait_port 198.18.0.1 7777
kilnd --state-dir "$KILN_STATE_DIR" --foreground 2>>"$T/kilnd.log" &
kpid=$!
defer "kill $kpid 2>/dev/null"
for _ in $(seq 100); do [ -S "$KILN_STATE_DIR/kilnd.sock" ] && break; sleep 0.05; done

c=$(busybox_container)
mnt=$(bah mount "$c")
copy_with_libs "$mnt" "$hold" /usr/local/bin/tcp_hold
bah umount "$c" >/dev/null
bah config --entrypoint "[\"/usr/local/bin/tcp_hold\", \"open\", \"198.18.0.1\", \"7777\", \"$FLOWS\", \"256\", \"$HOLD_S\"]" \
	--cmd '[]' "$c"
save_image "$c" flows "$T/flows.tar" ""
cat >"$T/kiln.yaml" <<'YAML'
version: 1
name: flows
resources: {memory_mib: 512}
network:
  dns: none
YAML
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/flows.tar" -o "$T/flows.eif" >/dev/null

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# kiln-init is a descendant of `kiln run` (sim); find it by walking the children.
find_init() { # pid
	local p
	for p in $(pgrep -P "$1"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = kiln-init ] && { echo "$p"; return 0; }
		find_init "$p" && return 0
	done
	return 1
}
wait_line() { # pattern seconds
	for _ in $(seq $(($2 * 10))); do
		grep -q "$1" "$T/run.out" && return 0
		kill -0 "$rpid" 2>/dev/null || fail "enclave ended early: $(cat "$T/run.out")"
		sleep 0.1
	done
	fail "no '$1' after $2 s: $(tail -5 "$T/run.out")"
}

kiln run --sim --name flows --memory 1024 "$T/flows.eif" >"$T/run.out" 2>&1 &
rpid=$!
defer "kill $rpid 2>/dev/null"
wait_line '^baseline' 30
ipid=$(find_init "$rpid") || fail "no kiln-init below kiln run ($rpid)"
grep -i 'open files' "/proc/$ipid/limits" | sed 's/^/kiln-init: /'
init0=$(rss_kib "$ipid") kd0=$(rss_kib "$kpid")
wait_line '^held' 150
init1=$(rss_kib "$ipid") kd1=$(rss_kib "$kpid")
grep '^held' "$T/run.out"
fds_init=$(ls "/proc/$ipid/fd" | wc -l) fds_kd=$(ls "/proc/$kpid/fd" | wc -l)
per=$(( ((init1 - init0) + (kd1 - kd0)) * 1024 / FLOWS ))
echo "RSS kiln-init ${init0} -> ${init1} KiB, kilnd ${kd0} -> ${kd1} KiB, fds kiln-init $fds_init kilnd $fds_kd"
echo "growth per flow: $per bytes (limit 65536)"
[ "$per" -lt 65536 ] || fail "RSS grows $per bytes per flow"
echo "ok   $FLOWS flows held; kiln-init + kilnd grow $per bytes per flow"

wait_line '^released' $((HOLD_S + 30))
wait "$rpid" || fail "app exit code $?: $(tail -5 "$T/run.out")"
# The flows are gone from both daemons once the app closed them.
for _ in $(seq 100); do
	[ "$(ls "/proc/$kpid/fd" | wc -l)" -lt 100 ] && break
	sleep 0.1
done
[ "$(ls "/proc/$kpid/fd" | wc -l)" -lt 100 ] || fail "kilnd still holds $(ls "/proc/$kpid/fd" | wc -l) fds"
echo "ok   all flows closed in kilnd after the app exited"
