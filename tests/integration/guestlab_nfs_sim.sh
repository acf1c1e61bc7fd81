#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln-init's NFS frontend chosen and used for real: a sim enclave in the guest lab (Debian's 6.1 kernel,
# no /dev/fuse there) mounts its encrypted volume with the kernel's NFSv4 client (frontend chosen
# automatically), the app's data survives an enclave restart, the parent's directory holds no
# plaintext. The same over `--channel vsock` (kilnd's storage listener on vsock 7003, the enclave
# found by its CID, as on Nitro): written, restarted, read back; first, test_chan_vsock_buf on the
# guest's real AF_VSOCK (the storage channel's buffer on both ends, the receiver's is the credit). A plain volume (-v DIR:/data:plain)
# goes to NFS too: the POSIX suite on it, the app's file an ordinary file in DIR, the parent's file
# read, and a change the parent makes while the app holds the file open is seen. On this host (no
# NFS client) a volume forced to `frontend: nfs` is refused before the app.
# Env: QEMU_TIMEOUT, QEMU_MEM, GUESTLAB_SAVE=DIR (keep the guest tree).
set -eu
cd "$(dirname "$0")/../.."
QEMU_MEM=${QEMU_MEM:-1024}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-600}
source tests/lib/qemu.sh
source tests/lib/guestlab.sh
source tests/lib/common.sh
[ "$(id -u)" = 0 ] || skip "needs root (buildah vfs)"
GUESTLAB_MODULES="nfsv4 vsock_loopback"
guestlab_require
export KILN_STATE_DIR=$T/state
MARKER=kiln-nfs-sim-marker-$RANDOM$RANDOM
PMARKER=kiln-nfs-plain-marker-$RANDOM$RANDOM

# The plain volume's app: the suite, its own file, the parent's file, then it holds live.txt open,
# says ready and waits (bounded) for the parent's change to show.
c=$(posix_suite_container)
mnt=$(bah mount "$c")
for a in grep cut sed; do ln -sf busybox "$mnt/bin/$a"; done
cat >"$mnt/app/run.sh" <<SH
#!/bin/sh
echo "pmount=\$(grep ' /data ' /proc/mounts | cut -d' ' -f3)"
mkdir /data/suite && /usr/local/bin/posix_suite /data/suite >/tmp/suite.log 2>&1
grep -e '^FAIL' -e 'checks,' /tmp/suite.log | sed 's/^/suite: /'
rm -rf /data/suite
echo $PMARKER >/data/app.txt
echo "parent says: \$(cat /data/from-parent.txt 2>&1)"
exec 3</data/live.txt
echo "live0=\$(cat /data/live.txt)"
echo ready >/data/ready
i=0
while [ "\$(cat /data/live.txt)" != two ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
echo "live=\$(cat /data/live.txt)"
exec 3<&-
SH
chmod 755 "$mnt/app/run.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/run.sh"]' --cmd '[]' "$c"
save_image "$c" nfspl "$T/pl.tar" ""
printf 'version: 1\nname: pl\nstorage:\n  - {path: /data, mode: plain}\n' >"$T/plain.yaml"
kiln build -q -c "$T/plain.yaml" "docker-archive:$T/pl.tar" -o "$T/plain.eif" >/dev/null

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
for a in grep dd cmp tr; do ln -sf busybox "$mnt/bin/$a"; done
cat >"$mnt/app/run.sh" <<SH
#!/bin/sh
echo "mount=\$(grep ' /data ' /proc/mounts | cut -d' ' -f3 2>/dev/null || grep ' /data ' /proc/mounts)"
echo "count=\$(cat /data/count 2>/dev/null || echo 0)"
echo \$(( \$(cat /data/count 2>/dev/null || echo 0) + 1 )) >/data/count
echo $MARKER >/data/secret
dd if=/dev/urandom of=/tmp/r bs=64k count=32 2>/dev/null
cat /tmp/r >/data/r && cmp /tmp/r /data/r && echo "io=ok"
SH
ln -sf busybox "$mnt/bin/cut"
chmod 755 "$mnt/app/run.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/run.sh"]' --cmd '[]' "$c"
save_image "$c" nfsst "$T/st.tar" ""
printf 'version: 1\nname: st\nstorage:\n  - {path: /data, mode: encrypted, key: sim}\n' >"$T/auto.yaml"
printf 'version: 1\nname: st\nstorage:\n  - {path: /data, key: sim, frontend: nfs}\n' >"$T/nfs.yaml"
kiln build -q -c "$T/auto.yaml" "docker-archive:$T/st.tar" -o "$T/auto.eif" >/dev/null
kiln build -q -c "$T/nfs.yaml" "docker-archive:$T/st.tar" -o "$T/nfs.eif" >/dev/null

# Here: forced to NFS on a kernel without an NFSv4 client, the app never runs.
if ! grep -qw nfs4 /proc/filesystems && ! modprobe -n nfsv4 2>/dev/null; then
	rc=0
	out=$(kiln run --sim --name nfs1 -v "$T/vol0:/data" "$T/nfs.eif" 2>&1) || rc=$?
	[ "$rc" != 0 ] || fail "a forced NFS volume mounted without an NFS client: $out"
	assert_contains "$out" "this kernel has no NFSv4 client"
	[[ $out != *count=* ]] || fail "the app ran without its volume"
fi

cat >"$T/test.sh" <<'SH'
. /guest/lib.sh
export KILN_STATE_DIR=/run/kiln KILN_CACHE_DIR=/run/kiln-cache
mkdir -p /run/kiln /vol
[ -e /dev/fuse ] && gl_fail no-fuse "/dev/fuse exists: the automatic choice would be FUSE"
# The storage channel's vsock buffer on kilnd's and kiln-init's ends, over real AF_VSOCK
# (the loopback transport), before anything listens on 7003
if KILN_TEST_VSOCK=1 /usr/local/bin/test_chan_vsock_buf >/tmp/vbuf.out 2>&1; then
	gl_pass vsock-buffer
else
	gl_fail vsock-buffer "$(grep -m1 FAIL /tmp/vbuf.out)"; gl_dump /tmp/vbuf.out
fi
# kiln-init's words after the app (the final commit) go to the sim's console, which is
# /dev/null without a terminal; a second run opening the volume shows the first let go of it
run() { kiln run --sim --name st -v /vol:/data "$1" >/tmp/run.out 2>&1; }
if run /guest/auto.eif; then gl_pass run1; else gl_fail run1 "$(tail -1 /tmp/run.out)"; gl_dump /tmp/run.out; fi
gl_check frontend-nfs grep -q "storage /data: mounted (encrypted, key: sim, nfs)" /tmp/run.out
gl_check app-sees-nfs4 grep -q "^mount=nfs4" /tmp/run.out
gl_check first-count grep -q "^count=0" /tmp/run.out
gl_check io grep -q "^io=ok" /tmp/run.out
if run /guest/nfs.eif; then gl_pass run2; else gl_fail run2 "$(tail -1 /tmp/run.out)"; gl_dump /tmp/run.out; fi
gl_check restart-count grep -q "^count=1" /tmp/run.out
if grep -rq "$(cat /guest/marker)" /vol; then gl_fail no-plaintext "marker in /vol"; else gl_pass no-plaintext; fi
# Over vsock: kiln-init dials vsock:1:7003, kilnd knows the enclave by its CID.
mkdir -p /volv
vrun() { kiln run --sim --channel vsock --name stv -v /volv:/data /guest/auto.eif >/tmp/vrun.out 2>&1; }
if vrun; then gl_pass vsock-run1; else gl_fail vsock-run1 "$(tail -1 /tmp/vrun.out)"; gl_dump /tmp/vrun.out; fi
gl_check vsock-first-count grep -q "^count=0" /tmp/vrun.out
if vrun; then gl_pass vsock-run2; else gl_fail vsock-run2 "$(tail -1 /tmp/vrun.out)"; gl_dump /tmp/vrun.out; fi
gl_check vsock-restart-count grep -q "^count=1" /tmp/vrun.out
gl_check vsock-volume-on-parent test -s /volv/header -o -n "$(ls -A /volv)"
if grep -rq "$(cat /guest/marker)" /volv; then gl_fail vsock-no-plaintext "marker in /volv"; else gl_pass vsock-no-plaintext; fi
# A plain volume: NFS chosen for it too; the parent changes live.txt once the app holds it.
mkdir -p /volp
echo "hello from the parent" >/volp/from-parent.txt
echo one >/volp/live.txt
kiln run --sim --name pl -v /volp:/data:plain /guest/plain.eif >/tmp/prun.out 2>&1 &
rp=$!
# (the wait ends with the run too: a refused volume never says ready)
gl_wait 600 sh -c "test -e /volp/ready || ! kill -0 $rp"
[ ! -e /volp/ready ] || echo two >/volp/live.txt
if wait $rp; then gl_pass plain-run; else gl_fail plain-run "$(tail -1 /tmp/prun.out)"; gl_dump /tmp/prun.out; fi
gl_check plain-frontend-nfs grep -q "storage /data: mounted (plain, nfs)" /tmp/prun.out
gl_check plain-app-sees-nfs4 grep -q "^pmount=nfs4" /tmp/prun.out
grep '^suite: ' /tmp/prun.out | sed 's/^/GL INFO plain /'
# unsupported on plain volumes: chown; xattrs: the guest's parent directory is on 6.1's tmpfs,
# which keeps no user xattrs (EOPNOTSUPP from the parent); the NFS client's flock is a POSIX lock
grep '^suite: FAIL' /tmp/prun.out | grep -v -e 't_xattr:' -e 'chown(' \
	-e 't_locks:.*flock(fd, LOCK_EX | LOCK_NB) == 0' >/tmp/psuite.other || true
if grep -q '^suite: posix_suite: ' /tmp/prun.out && [ ! -s /tmp/psuite.other ]; then
	gl_pass plain-posix-suite
else
	gl_fail plain-posix-suite "$(head -1 /tmp/psuite.other)"
fi
gl_check plain-app-file sh -c "[ -f /volp/app.txt ] && [ \"\$(cat /volp/app.txt)\" = $(cat /guest/pmarker) ]"
gl_check plain-parent-file grep -q "^parent says: hello from the parent" /tmp/prun.out
gl_check plain-parent-change sh -c 'grep -q "^live0=one" /tmp/prun.out && grep -q "^live=two" /tmp/prun.out'
grep -e '^live' /tmp/prun.out | sed 's/^/GL INFO plain /'
grep -q "^live=two" /tmp/prun.out || gl_dump /tmp/prun.out
SH

tree=$T/tree
guestlab_tree "$tree" "$T/test.sh"
for b in build/kiln build/kilnd build/tests/test_chan_vsock_buf; do guestlab_add_bin "$tree" "$b"; done
cp "$T/auto.eif" "$T/nfs.eif" "$T/plain.eif" "$tree/guest/"
echo "$MARKER" >"$tree/guest/marker"
echo "$PMARKER" >"$tree/guest/pmarker"
[ -z "${GUESTLAB_SAVE:-}" ] || cp -a "$tree" "$GUESTLAB_SAVE"

log=$KILN_ROOT/build/test-logs/guestlab_nfs_sim.console
mkdir -p "$(dirname "$log")"
guestlab_boot "$tree" "$log" || echo "guestlab: the boot did not end cleanly (see $log)"
guestlab_verdict "$log" vsock-buffer run1 frontend-nfs app-sees-nfs4 first-count io run2 \
	restart-count no-plaintext vsock-run1 vsock-first-count vsock-run2 vsock-restart-count \
	vsock-volume-on-parent vsock-no-plaintext plain-run plain-frontend-nfs plain-app-sees-nfs4 \
	plain-posix-suite plain-app-file plain-parent-file plain-parent-change || fail "guest checks failed (console: $log)"
echo "PASS: a sim enclave's volume over kiln-init's NFS frontend and the kernel's NFS client"
