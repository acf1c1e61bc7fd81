# SPDX-License-Identifier: Apache-2.0
# kiln launch (the --output-image entrypoint) in sim: the app's output on
# stdout, SIGTERM passed on, the enclave killed when the grace period is
# over, the app's exit code as the launcher's; run from an unpacked image.
source "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root"
command -v umoci >/dev/null || skip "umoci missing"
export SOURCE_DATE_EPOCH=1700000000

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
cat >"$mnt/app/exit7.sh" <<'SH'
#!/bin/sh
echo "line one from the enclave"
echo "line two on stderr" >&2
exit 7
SH
cat >"$mnt/app/trap.sh" <<'SH'
#!/bin/sh
trap 'echo "graceful: flushing"; exit 3' TERM
echo "ready"
while :; do sleep 0.1; done
SH
cat >"$mnt/app/stubborn.sh" <<'SH'
#!/bin/sh
trap 'echo "ignoring TERM"' TERM
echo "ready"
while :; do sleep 0.1; done
SH
chmod 755 "$mnt/app/"*.sh
bah umount "$c" >/dev/null
for a in exit7 trap stubborn; do
	bah config --entrypoint "[\"/app/$a.sh\"]" --cmd '[]' "$c"
	save_image "$c" "$a" "$T/$a.tar" ""
done
kiln build -q "docker-archive:$T/exit7.tar" --output-image "oci:$T/oci:v1" >/dev/null
for a in trap stubborn; do kiln build -q "docker-archive:$T/$a.tar" -o "$T/$a.eif" >/dev/null; done
umoci unpack --rootless --image "$T/oci:v1" "$T/bundle" >/dev/null
r=$T/bundle/rootfs

wait_for_line() { # file text
	for _ in $(seq 400); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	fail "'$2' never appeared in $1: $(cat "$1")"
}

# 1. The image's own kiln and EIF, mode from the environment as a Pod would set it:
#    output streamed, exit code 7 propagated.
rc=0
out=$(KILN_LAUNCH_MODE=sim KILN_EIF=$r/kiln/app.eif KILN_STATE_DIR=$T/s1 HOSTNAME=pod-a \
	"$r/kiln/bin/kiln" launch 2>&1) || rc=$?
assert_eq "$rc" 7 "launcher exit code"
assert_contains "$out" "line one from the enclave" "stdout streamed"
assert_contains "$out" "line two on stderr" "stderr streamed"

# 2. SIGTERM: passed on; the app's trap runs; its exit code is the launcher's.
kiln launch --sim --eif "$T/trap.eif" --state-dir "$T/s2" --name trap >"$T/trap.out" 2>&1 & pid=$!
wait_for_line "$T/trap.out" ready
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
assert_eq "$rc" 3 "exit code after SIGTERM"
assert_contains "$(cat "$T/trap.out")" "graceful: flushing" "the app's SIGTERM handler ran"

# 3. An app ignoring SIGTERM: killed when the grace period (2 s) is over, 137.
KILN_GRACE_SECONDS=2 kiln launch --sim --eif "$T/stubborn.eif" --state-dir "$T/s3" \
	--name stub >"$T/stub.out" 2>&1 & pid=$!
wait_for_line "$T/stub.out" ready
kill -TERM "$pid"
# A launcher that never kills would hang the test: a watchdog, far beyond 2 s.
(sleep 45; touch "$T/dog.fired"; kill -KILL "$pid" 2>/dev/null) & dog=$!
rc=0; wait "$pid" || rc=$?
kill "$dog" 2>/dev/null || true
[ ! -e "$T/dog.fired" ] || fail "the launcher never killed the enclave (the watchdog did)"
assert_contains "$(cat "$T/stub.out")" "did not stop within 2 s" "the launcher said why it killed"
assert_eq "$rc" 137 "exit code after the grace period"
assert_contains "$(cat "$T/stub.out")" "ignoring TERM" "the app saw SIGTERM first"

# Bad settings: one line, exit 125 (kiln's own failure, as kiln run).
rc=0; out=$(KILN_LAUNCH_MODE=qemu kiln launch 2>&1) || rc=$?
assert_eq "$rc" 125 "bad mode exit code"
assert_contains "$out" 'KILN_LAUNCH_MODE "qemu": want sim or nitro' "bad mode message"
rc=0; out=$(kiln launch --sim --grace 0 2>&1) || rc=$?
assert_contains "$out" "--grace" "bad grace message"
rc=0; out=$(kiln launch --sim --eif "$T/none.eif" --state-dir "$T/s4" 2>&1) || rc=$?
assert_eq "$rc" 125 "missing EIF exit code"
assert_contains "$out" "none.eif" "missing EIF named"
echo "all k8s_launch checks passed"
