#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The app cannot reach the parent's channels in sim: no AF_VSOCK socket, no channel directory to
# find or connect to, none of kiln-init's descriptors (fd links, cwd, pidfd_getfd), while its
# egress and logs work and it can still ptrace its own children; app.allow_vsock: true gives it
# AF_VSOCK back.
set -eu
source "$(dirname "$0")/../lib/net.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
net_private_parent "$0" "$@"
source "$(dirname "$0")/../lib/common.sh"
command -v gcc >/dev/null || skip "gcc is not installed"
hold=$KILN_ROOT/build/tools/tcp_hold
[ -x "$hold" ] || fail "build/tools/tcp_hold missing (make)"
export KILN_STATE_DIR=$T/state
port=$((20000 + RANDOM % 10000))

# The parent: a server that greets each client with one byte, and kilnd.
"$hold" serve 198.18.0.1 "$port" 2>>"$T/server.log" &
defer "kill $! 2>/dev/null"
wait_port 198.18.0.1 "$port"
kilnd --state-dir "$KILN_STATE_DIR" --foreground 2>>"$T/kilnd.log" &
kpid=$!
defer "kill $kpid 2>/dev/null"
for _ in $(seq 100); do [ -S "$KILN_STATE_DIR/kilnd.sock" ] && break; sleep 0.05; done

# The image: busybox and the probe, static (the image has no libc), at a fixed path.
gcc -static -O1 -D_GNU_SOURCE -o "$T/isolation_probe" "$KILN_ROOT/tests/tools/isolation_probe.c"
c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/usr/local/bin"
cp "$T/isolation_probe" "$mnt/usr/local/bin/isolation_probe"
bah umount "$c" >/dev/null
bah config --entrypoint "[\"/usr/local/bin/isolation_probe\",\"198.18.0.1\",\"$port\"]" \
	--cmd '[]' "$c"
save_image "$c" iso "$T/iso.tar" ""
printf 'version: 1\nname: iso\n' >"$T/default.yaml"
printf 'version: 1\nname: iso\napp: {allow_vsock: true}\n' >"$T/vsock.yaml"
kiln build -q -c "$T/default.yaml" "docker-archive:$T/iso.tar" -o "$T/default.eif" >/dev/null
kiln build -q -c "$T/vsock.yaml" "docker-archive:$T/iso.tar" -o "$T/vsock.eif" >/dev/null

# Default: isolated.
rc=0; out=$(kiln run --sim --name iso1 "$T/default.eif" 2>&1) || rc=$?
echo "$out"
assert_eq "$rc" 0 "exit code of the probe"
assert_contains "$out" "probe_done" "the probe ran to its end"
assert_contains "$out" "vsock=denied" "socket(AF_VSOCK) fails with EPERM"
assert_contains "$out" "chandir=absent" "no channel directory"
assert_contains "$out" "chanmount=none" "no channel mount in mountinfo"
assert_contains "$out" "chanconnect=0" "no channel socket reachable by its sim path"
assert_contains "$out" "sockets_reached=0" "no socket file on the filesystem reachable"
assert_contains "$out" "netunix_reached=0" "no named unix socket of the namespace reachable"
assert_contains "$out" "initfd_links=0 initfd_open=0 initfd_getfd=0" "kiln-init's descriptors"
assert_contains "$out" "initcwd=denied" "kiln-init's working directory (the channels)"
assert_contains "$out" "ptrace_child=ok" "the app can still trace its own children"
assert_contains "$out" "egress=ok greeting=k" "egress through kiln-init"
# Its output reached kilnd over kiln-init's control channel.
logs=$(kiln logs iso1 2>&1)
assert_contains "$logs" "egress=ok greeting=k" "the app's logs in kilnd"
assert_contains "$logs" "probe_done" "the app's last line in kilnd"
echo "ok   the app is isolated from the channels; egress and logs work"

# app.allow_vsock: true, measured like every key: AF_VSOCK is the app's again.
rc=0; out=$(kiln run --sim --name iso2 "$T/vsock.eif" 2>&1) || rc=$?
echo "$out"
assert_eq "$rc" 0 "exit code of the probe (allow_vsock)"
assert_contains "$out" "vsock=allowed" "socket(AF_VSOCK) with app.allow_vsock"
assert_contains "$out" "egress=ok greeting=k" "egress with app.allow_vsock"
echo "all isolation checks passed"
