#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln launch and storage on a PersistentVolume, in sim: a directory bind-mounted at the storage
# path stands in for the Pod's PVC mount; data back after a Pod restart; only ciphertext on it.
source "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root"
[ -c /dev/fuse ] || skip "no /dev/fuse on this host"
command -v unshare >/dev/null || skip "unshare missing"
MARKER=kiln-pv-marker-$RANDOM$RANDOM

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
cat >"$mnt/app/run.sh" <<SH
#!/bin/sh
trap 'echo "stopping"; exit 0' TERM
if [ -f /data/note ]; then echo "found: \$(cat /data/note)"; else echo $MARKER >/data/note; echo wrote; fi
echo ready
while :; do sleep 0.1; done
SH
chmod 755 "$mnt/app/run.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/run.sh"]' --cmd '[]' "$c"
save_image "$c" pv "$T/pv.tar" ""
printf 'version: 1\nname: pv\nstorage:\n  - {path: /data, mode: encrypted, key: sim}\n' >"$T/k.yaml"
kiln build -q -c "$T/k.yaml" "docker-archive:$T/pv.tar" -o "$T/pv.eif" --output-image "oci:$T/oci:v1" \
	>/dev/null
# The image names its storage paths (the Pod's enclave.kiln/storage annotation; the webhook checks it).
man=$T/oci/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/oci/index.json" | cut -d: -f2)
assert_eq "$(jq -r '.annotations["enclave.kiln/storage"]' "$man")" /data "storage annotation"

# The container as the launcher sees it: $T/root/data is where the Pod mounts the PVC.
R=$T/root PV=$T/pv
mkdir -p "$R/data" "$PV/lost+found"

wait_for_line() { # file text
	for _ in $(seq 600); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	fail "'$2' never appeared in $1: $(cat "$1")"
}
stop() { # pid: SIGTERM as the kubelet sends it; the launcher's exit code must be the app's 0
	kill -TERM "$1"
	rc=0; wait "$1" || rc=$?
	assert_eq "$rc" 0 "launcher exit code after SIGTERM"
}
# One Pod start: its own emptyDir (state dir), the PV bind-mounted in a mount namespace of its own.
pod() { # name
	unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh \
		"$PV" "$R/data" kiln launch --sim --eif "$T/pv.eif" --state-dir "$T/$1" --name "$1" \
		--mount-root "$R" --hugepages 4096 >"$T/$1.out" 2>&1 &
	pid=$!
}

# 1. No volume mounted at the storage path: refused at start, naming the path and the fix.
rc=0; out=$(timeout 60 kiln launch --sim --eif "$T/pv.eif" --state-dir "$T/s0" --name p0 \
	--mount-root "$R" 2>&1) || rc=$?
assert_eq "$rc" 125 "exit code without a volume"
assert_contains "$out" "storage /data (kiln.yaml storage[0]) has no volume mounted at /data" \
	"refusal names the storage path"
assert_contains "$out" "PersistentVolumeClaim" "refusal says what to mount"

# 2. The PV: the app writes, the Pod is stopped and a new one (new emptyDir) finds the data.
pod pod1
wait_for_line "$T/pod1.out" ready
assert_contains "$(cat "$T/pod1.out")" wrote "first Pod wrote its note"
stop "$pid"
assert_contains "$(cat "$T/pod1.out")" "storage /data: committed and unmounted" "committed at stop"
kp=$(ss -xlpn 2>/dev/null | grep -F "$T/pod1/kilnd.sock" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
[ -z "$kp" ] || kill "$kp" # the Pod's kilnd goes with the Pod
[ -n "$("$KILN_ROOT/build/tools/kiln_seg" "$PV" | grep '^hdr ')" ] || fail "the volume is not on the PV: $(ls -A "$PV")"
pod pod2
wait_for_line "$T/pod2.out" ready
assert_contains "$(cat "$T/pod2.out")" "found: $MARKER" "data back in a new Pod"
stop "$pid"
! grep -rqa "$MARKER" "$PV" || fail "plaintext marker found on the PV"
! grep -rqa "note" "$PV" || fail "a file name is readable on the PV"
[ -d "$PV/lost+found" ] || fail "the PV's own lost+found was touched"
[ -z "$(ls -A "$T/pod2/volumes" 2>/dev/null)" ] || fail "the volume went to the emptyDir too"

# 3. Hugepages that cannot hold the enclave's memory: refused at start.
rc=0; out=$(timeout 60 kiln launch --sim --eif "$T/pv.eif" --state-dir "$T/s3" --name p3 \
	--mount-root "$R" --memory 512 --hugepages 256 2>&1) || rc=$?
assert_eq "$rc" 125 "exit code with too few hugepages"
assert_contains "$out" "the Pod's hugepages (256 MiB" "hugepages refusal"
assert_contains "$out" "enclave's memory (512 MiB" "hugepages refusal names the memory"

# 4. A read-only volume (readOnly: true in the volumeMount): refused at start.
rc=0; out=$(timeout 60 unshare -m --propagation private sh -c 'mount --bind "$1" "$2" &&
	mount -o remount,bind,ro "$2" && shift 2 && exec "$@"' sh "$PV" "$R/data" kiln launch --sim \
	--eif "$T/pv.eif" --state-dir "$T/s5" --name p5 --mount-root "$R" 2>&1) || rc=$?
assert_eq "$rc" 125 "exit code with a read-only volume"
assert_contains "$out" "storage /data (kiln.yaml storage[0]): the volume mounted there is read-only" \
	"read-only refusal"

# 5. Opting out: kept in the emptyDir, loudly.
rc=0; KILN_EPHEMERAL_STORAGE=1 kiln launch --sim --eif "$T/pv.eif" --state-dir "$T/s4" --name p4 \
	--mount-root "$R" >"$T/p4.out" 2>&1 & pid=$!
wait_for_line "$T/p4.out" ready
stop "$pid"
assert_contains "$(cat "$T/p4.out")" "WARNING: storage /data has no volume mounted at /data" \
	"ephemeral storage warned"
echo "all k8s_storage checks passed"
