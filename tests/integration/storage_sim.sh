#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Encrypted storage in a sim enclave: kiln run -v, the POSIX suite on the mount inside the
# enclave, data back after an enclave restart and a kilnd restart, no plaintext on the parent,
# a tampered volume and key: kms without a key id refused before the app starts.
source "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" = 0 ] || skip "needs root"
[ -c /dev/fuse ] || skip "no /dev/fuse on this host"
export KILN_STATE_DIR=$T/state
MARKER=kiln-sim-marker-$RANDOM$RANDOM

# The POSIX suite as a static program at a fixed path in the image (posix_suite_container).
c=$(posix_suite_container)
mnt=$(bah mount "$c")
cat >"$mnt/app/run.sh" <<SH
#!/bin/sh
if [ ! -e /data/count ]; then
	mkdir /data/suite && /usr/local/bin/posix_suite /data/suite | tail -3
fi
echo "count=\$(cat /data/count 2>/dev/null || echo 0)"
echo \$(( \$(cat /data/count 2>/dev/null || echo 0) + 1 )) >/data/count
echo $MARKER >/data/secret
SH
chmod 755 "$mnt/app/run.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/run.sh"]' --cmd '[]' "$c"
save_image "$c" st "$T/st.tar" ""
printf 'version: 1\nname: st\nstorage:\n  - {path: /data, mode: encrypted, key: sim}\n' >"$T/sim.yaml"
printf 'version: 1\nname: st\nstorage:\n  - {path: /data, mode: encrypted, key: kms}\n' >"$T/kms.yaml"
kiln build -q -c "$T/sim.yaml" "docker-archive:$T/st.tar" -o "$T/st.eif" >/dev/null
kiln build -q -c "$T/kms.yaml" "docker-archive:$T/st.tar" -o "$T/kms.eif" >/dev/null
V=$T/vol

run() { rc=0; out=$(kiln run --sim --name st1 -v "$V:/data" "$1" 2>&1) || rc=$?; }
run "$T/st.eif"
assert_eq "$rc" 0 "first run: $out"
assert_contains "$out" "posix_suite: " "the suite ran on the mount"
assert_contains "$out" " 0 failed" "POSIX suite inside the enclave: $out"
assert_contains "$out" "count=0"
assert_contains "$out" "key: sim wraps the volume key" "the sim key warning"
assert_contains "$out" "storage /data: committed and unmounted"

run "$T/st.eif"
assert_contains "$out" "count=1" "data back after an enclave restart"

# kilnd restart: kiln run starts a new one, which serves the same directory
kp=$(ss -xlpn 2>/dev/null | grep -F "$KILN_STATE_DIR/kilnd.sock" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
[ -n "$kp" ] || fail "no kilnd found serving $KILN_STATE_DIR"
kill "$kp"
for _ in $(seq 100); do kill -0 "$kp" 2>/dev/null || break; sleep 0.05; done
run "$T/st.eif"
assert_contains "$out" "count=2" "data back after a kilnd restart"

! grep -rqa "$MARKER" "$V" || fail "plaintext marker found in the volume directory"
seg_object "$V" "hdr " >/dev/null && seg_object "$V" "root " >/dev/null # the volume is in the -v directory

# -v for a path the config does not mount: a clear error before anything starts
rc=0; out=$(kiln run --sim --name st3 -v "$T/other:/other" "$T/st.eif" 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "-v for an unmounted path was accepted"
assert_contains "$out" "the EIF's config mounts no storage volume \"other\""

# key: kms without its KMS key id: refused, the app never runs (tests/integration/storage_kms.sh has the rest)
rc=0; out=$(kiln run --sim --name st2 "$T/kms.eif" 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "key: kms mounted"
assert_contains "$out" "key: kms needs storage[].kms_key_id"
[[ $out != *count=* ]] || fail "the app ran without its volume"

# a tampered root: refused with the object named, the app never runs
flip_object "$V" root 20
run "$T/st.eif"
[ "$rc" != 0 ] || fail "tampered volume mounted"
assert_contains "$out" "integrity failure: volume root (object root)"
[[ $out != *count=* ]] || fail "the app ran on a tampered volume"
echo "storage in a sim enclave: suite, restarts, no plaintext, kms and tamper refusals ok"
