# SPDX-License-Identifier: Apache-2.0
# 20 enclaves started (-d) and stopped in a loop through kilnd leave no
# processes, mounts, namespaces, cgroups, kilnd fds or state files behind.
source "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (sim enclaves with cgroups)"
command -v jq >/dev/null || skip "jq is not installed"
kiln ps --help >/dev/null 2>&1 || fail "kiln ps is not in the command table"
export KILN_STATE_DIR=$T/state
N=${KILN_LOOP_N:-20}

c=$(busybox_container)
bah config --entrypoint '["/bin/sleep","300"]' --cmd '[]' "$c"
save_image "$c" sleeper "$T/sleeper.tar" ""
kiln build -q "docker-archive:$T/sleeper.tar" -o "$T/sleeper.eif" >/dev/null

mkdir -p "$KILN_STATE_DIR"
kilnd --state-dir "$KILN_STATE_DIR" --foreground 2>"$T/kilnd.log" &
KPID=$!
end_all() {
	kiln ps -a --json 2>/dev/null | jq -r '.[].name' | xargs -r kiln rm -f >/dev/null 2>&1 || true
	kill "$KPID" 2>/dev/null
}
defer end_all
for _ in $(seq 100); do [ -S "$KILN_STATE_DIR/kilnd.sock" ] && break; sleep 0.05; done
kiln ps >/dev/null # kilnd has accepted a client once: its steady state

# Other tests may run at the same time: only our own enclaves' namespaces,
# mounts, cgroups and processes are matched.
netns_all() { { readlink /proc/[0-9]*/ns/net 2>/dev/null || true; } | sort -u; }
fds() { ls /proc/$KPID/fd | wc -l; }
mine() { pgrep -f -- "kiln run .*$T/" || true; }
mounts() { grep -c -- "$KILN_STATE_DIR" /proc/self/mountinfo || true; }
cgroups() { find /sys/fs/cgroup -maxdepth 4 -type d -path '*/kiln/loop*' 2>/dev/null | wc -l; }

fds0=$(fds) ns0=$(netns_all | wc -l)
for i in $(seq "$N"); do
	kiln run --sim -d --name "loop$i" --memory 256 "$T/sleeper.eif" >/dev/null ||
		fail "start $i"
done
assert_eq "$(kiln ps --json | jq length)" "$N" "running enclaves"
# Our enclaves' network namespaces (the kiln-init child of each monitor).
ours=$(for m in $(mine); do for k in $(pgrep -P "$m"); do readlink "/proc/$k/ns/net"; done; done | sort -u)
assert_eq "$(wc -l <<<"$ours")" "$N" "one network namespace per enclave"
for i in $(seq "$N"); do
	kiln stop --timeout 2 "loop$i" >/dev/null || fail "stop $i"
	kiln rm "loop$i" >/dev/null || fail "rm $i"
done
# A second round reusing the names (replace-on-exit, no rm).
for i in $(seq 5); do
	kiln run --sim -d --name "loop$i" --memory 256 "$T/sleeper.eif" >/dev/null
	kiln stop --timeout 2 "loop$i" >/dev/null
	kiln run --sim -d --name "loop$i" --memory 256 "$T/sleeper.eif" >/dev/null ||
		fail "reuse of loop$i after stop"
	kiln stop --timeout 2 "loop$i" >/dev/null
	kiln rm "loop$i" >/dev/null
done

assert_eq "$(kiln ps -a --json)" "[]" "kilnd records left"
assert_eq "$(mine)" "" "monitor processes left"
assert_eq "$(mounts)" 0 "mounts under the state dir"
assert_eq "$(cgroups)" 0 "cgroups left"
still=$(comm -12 <(echo "$ours") <(netns_all))
assert_eq "$still" "" "network namespaces of the enclaves still alive"
[ "$(netns_all | wc -l)" -le $((ns0 + 2)) ] || echo "note: $ns0 network namespaces before, $(netns_all | wc -l) after (system-wide)"
assert_eq "$(fds)" "$fds0" "kilnd's open fds"
# eif-cache (checked EIFs) and sim-ca (the per-machine sim CA) persist by design.
left=$(cd "$KILN_STATE_DIR" && find . -mindepth 1 ! -name kilnd.sock ! -name enclaves ! -name logs ! -name sim ! -path "./eif-cache*" ! -path "./sim-ca*" | sort)
assert_eq "$left" "" "state files left"
echo "$N enclaves started and stopped; nothing left behind"
