# SPDX-License-Identifier: Apache-2.0
# The sim always execs what the EIF carries, as Nitro's init does: even a cached EIF whose
# kiln-init is the one built with this kiln runs its /.kiln/kiln-init (issue 17: no kiln-init
# code in the sim's first process). PID 1 is kiln-init with the EIF's command line and none of
# the host's environment; exit codes and SIGTERM come through. Which program ran is told by
# --debug's step line (the app cannot read kiln-init's /proc/1/exe: it is non-dumpable).
source "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (the rootfs cache is root's)"
export KILN_STATE_DIR=$T/state KILN_CACHE_DIR=$T/cache

c=$(busybox_container)
mnt=$(bah mount "$c")
for a in readlink tr cat; do ln -sf busybox "$mnt/bin/$a"; done
cat >"$mnt/probe.sh" <<'SH'
#!/bin/sh
echo "comm=$(cat /proc/1/comm)"
echo "cmdline=$(tr '\0' ' ' </proc/1/cmdline | tr -s ' ')"
echo "environ=$(tr '\0' '\n' </proc/1/environ | grep -c HOST_ONLY_MARKER)"
echo "exe=$(readlink /proc/1/exe)"
echo "appvar=$APPVAR"
trap 'echo "got TERM"; exit 3' TERM
[ "$1" = wait ] && { echo waiting; while :; do sleep 0.1; done; }
exit 7
SH
chmod 755 "$mnt/probe.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/probe.sh"]' --cmd '[]' --env APPVAR=from-image "$c"
save_image "$c" probe "$T/probe.tar" ""
kiln build -q "docker-archive:$T/probe.tar" -o "$T/probe.eif" >/dev/null
bah config --entrypoint '["/probe.sh","wait"]' "$c"
save_image "$c" waiter "$T/waiter.tar" ""
kiln build -q "docker-archive:$T/waiter.tar" -o "$T/waiter.eif" >/dev/null
run() { HOST_ONLY_MARKER=secret kiln run --sim --no-kilnd "$@"; }
sleep 3 # past the racy window: the next run's check is recorded, then the tree cached
# Twice each, until the app has started (the tree is in the cache by then).
warm_up() {
	local i pid
	for i in 1 2; do
		kiln run --sim --no-kilnd "$1" >"$T/warm.out" 2>&1 &
		pid=$!
		for _ in $(seq 200); do grep -q '^exe=' "$T/warm.out" && break; sleep 0.05; done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}
for eif in probe waiter; do warm_up "$T/$eif.eif"; done

set +e
out=$(run --debug "$T/probe.eif" 2>&1); code=$?
set -e
assert_eq "$code" 7 "the app's exit code"
assert_contains "$out" "kiln: sim: /.kiln/kiln-init" "a cached EIF with this kiln's kiln-init execs it"
assert_contains "$out" "comm=kiln-init" "PID 1 is named kiln-init"
assert_contains "$out" "cmdline=/.kiln/kiln-init" "PID 1's command line is the EIF's, not the host's"
assert_contains "$out" "environ=0" "no host environment in /proc/1/environ"
assert_contains "$out" "appvar=from-image" "the image's environment reaches the app"
[ -z "$(ls "$KILN_CACHE_DIR"/*/kiln-init.sha256 2>/dev/null)" ] ||
	fail "a kiln-init digest is still recorded beside the cached tree"

# SIGTERM through kiln-init to the app, which exits 3.
HOST_ONLY_MARKER=secret kiln run --sim --no-kilnd --debug "$T/waiter.eif" >"$T/sig.out" 2>"$T/sig.err" &
pid=$!
for _ in $(seq 100); do grep -q waiting "$T/sig.out" 2>/dev/null && break; sleep 0.05; done
grep -q "kiln: sim: /.kiln/kiln-init" "$T/sig.err" || fail "signal run did not exec kiln-init: $(cat "$T/sig.err")"
kill -TERM "$pid"
set +e
wait "$pid"; code=$?
set -e
assert_eq "$code" 3 "SIGTERM reaches the app through kiln-init ($(cat "$T/sig.out" "$T/sig.err"))"
assert_contains "$(cat "$T/sig.out")" "got TERM" "the app's trap ran"
echo "all run_init_exec checks passed"
