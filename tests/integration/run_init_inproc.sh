# SPDX-License-Identifier: Apache-2.0
# kiln-init's code in the sim's first process (src/sim/init_inproc.c): used
# only for a cached EIF whose kiln-init is the one built with this kiln; the
# app sees PID 1 as kiln-init, with none of the host's arguments or
# environment; KILN_SIM_INIT=exec and an EIF with another kiln-init exec the
# EIF's file; exit codes and signals come through either way. Which way ran
# is told by --debug's step line (the app cannot read kiln-init's
# /proc/1/exe: kiln-init is non-dumpable).
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
# The probe image with a kiln-init that is not this kiln's (one byte more).
cp "$KILN_ROOT/build/kiln-init" "$T/other-init" && printf x >>"$T/other-init"
kiln build -q --kiln-init "$T/other-init" "docker-archive:$T/probe.tar" -o "$T/other.eif" >/dev/null

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
for eif in probe other waiter; do warm_up "$T/$eif.eif"; done

set +e
out=$(run --debug "$T/probe.eif" 2>&1); code=$?
set -e
assert_eq "$code" 7 "the app's exit code, in-process kiln-init"
assert_contains "$out" "kiln: sim: kiln-init, in this process" "a cached EIF with this kiln's kiln-init runs it in-process"
assert_contains "$out" "comm=kiln-init" "PID 1 is named kiln-init"
assert_contains "$out" "cmdline=/.kiln/kiln-init" "PID 1's command line is the EIF's, not the host's"
assert_contains "$out" "environ=0" "no host environment in /proc/1/environ"
assert_contains "$out" "appvar=from-image" "the image's environment reaches the app"
[ -s "$KILN_CACHE_DIR/$(ls "$KILN_CACHE_DIR" | grep -v '\.' | head -1)/kiln-init.sha256" ] ||
	fail "no kiln-init digest beside the cached tree"

set +e
out=$(KILN_SIM_INIT=exec run --debug "$T/probe.eif" 2>&1); code=$?
set -e
assert_eq "$code" 7 "the app's exit code, exec'd kiln-init"
assert_contains "$out" "kiln: sim: /.kiln/kiln-init" "KILN_SIM_INIT=exec execs the EIF's kiln-init"
assert_contains "$out" "environ=0" "no host environment with exec either"

set +e
out=$(run --debug "$T/other.eif" 2>&1); code=$?
set -e
assert_eq "$code" 7 "the app's exit code, another kiln-init"
assert_contains "$out" "kiln: sim: /.kiln/kiln-init" "an EIF with another kiln-init execs it"

# SIGTERM through the in-process kiln-init to the app, which exits 3.
HOST_ONLY_MARKER=secret kiln run --sim --no-kilnd --debug "$T/waiter.eif" >"$T/sig.out" 2>"$T/sig.err" &
pid=$!
for _ in $(seq 100); do grep -q waiting "$T/sig.out" 2>/dev/null && break; sleep 0.05; done
grep -q "kiln: sim: kiln-init, in this process" "$T/sig.err" || fail "signal run was not in-process: $(cat "$T/sig.err")"
kill -TERM "$pid"
set +e
wait "$pid"; code=$?
set -e
assert_eq "$code" 3 "SIGTERM reaches the app through the in-process kiln-init ($(cat "$T/sig.out" "$T/sig.err"))"
assert_contains "$(cat "$T/sig.out")" "got TERM" "the app's trap ran"
echo "all run_init_inproc checks passed"
