#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The NFSv4 frontend with a real kernel NFS client (Debian's 6.1 cloud kernel under QEMU, tests/lib/guestlab.sh):
# kiln_nfs_mount serves a storage-core volume on 127.0.0.1 and mounts it with mount(2) (nfs4, vers=4.0);
# a POSIX smoke test (create, write, read, rename, readdir, unlink, links, chmod, 8 MiB of I/O), the
# storage POSIX suite (fsync, mmap, locks, ...; less NFSv4.0's own differences: xattrs, flock), a
# clean unmount, the data back after a remount, and no plaintext in the store.
# Env: QEMU_TIMEOUT, QEMU_MEM, GUESTLAB_SAVE=DIR (keep the guest tree).
set -eu
cd "$(dirname "$0")/../.."
QEMU_MEM=${QEMU_MEM:-512}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-240}
source tests/lib/qemu.sh
source tests/lib/guestlab.sh
source tests/lib/common.sh
# nfsv4 brings its closure from modules.dep: nfs, sunrpc, lockd, grace, fscache, netfs, dns_resolver
GUESTLAB_MODULES="nfsv4"
guestlab_require
for b in kiln_nfs_mount posix_suite; do
	[ -x "build/tools/$b" ] || fail "build/tools/$b missing (make)"
done

cat >"$T/test.sh" <<'SH'
. /guest/lib.sh
for m in sunrpc lockd grace netfs fscache dns_resolver nfs nfsv4; do
	grep -q "^$m " /proc/modules || gl_fail modules "$m is not loaded"
done
mkdir -p /store /mnt/v
kiln_nfs_mount --create /store /mnt/v >/tmp/m.out 2>/tmp/m.err &
pid=$!
if gl_wait 60 grep -q mounted /tmp/m.out && grep -q " /mnt/v nfs4 " /proc/mounts; then
	gl_pass nfs-mounted
	echo "GL INFO $(grep ' /mnt/v ' /proc/mounts)"
else
	gl_fail nfs-mounted "no nfs4 mount"
	gl_dump /tmp/m.err
	exit 1
fi
cd /mnt/v
echo "hello kiln" >a
gl_check create-write-read test "$(cat a)" = "hello kiln"
mv a b
gl_check rename sh -c '[ ! -e a ] && [ "$(cat b)" = "hello kiln" ]'
mkdir d && touch d/x d/y d/z
gl_check readdir test "$(ls d | tr '\n' ' ')" = "x y z "
rm d/y
gl_check unlink test "$(ls d | tr '\n' ' ')" = "x z "
dd if=/dev/urandom of=/tmp/big bs=1M count=8 2>/dev/null
cp /tmp/big big
gl_check big-io cmp /tmp/big big
ln -s b s && ln b h
gl_check link-symlink sh -c '[ "$(readlink s)" = b ] && [ "$(cat h)" = "hello kiln" ] && [ "$(stat -c %h b)" = 2 ]'
chmod 600 b
gl_check chmod test "$(stat -c %a b)" = 600
# The storage POSIX suite. Two differences are NFSv4.0's own, not the server's:
# no user xattrs (RFC 8276 is NFSv4.2), and the client turns flock() into a
# whole-file POSIX lock, which conflicts with the same process's fcntl lock.
mkdir ps
posix_suite /mnt/v/ps >/tmp/ps.out 2>&1
grep '^FAIL ' /tmp/ps.out >/tmp/ps.fail || true
grep -v -e '^FAIL t_xattr:' -e '^FAIL t_locks:.*flock(fd, LOCK_EX | LOCK_NB) == 0' \
	/tmp/ps.fail >/tmp/ps.other || true
sed 's/^/GL INFO posix_suite: /' /tmp/ps.fail | head -40
echo "GL INFO posix_suite: $(tail -1 /tmp/ps.out)"
if grep -q checks /tmp/ps.out && [ ! -s /tmp/ps.other ]; then
	gl_pass posix-suite
else
	gl_fail posix-suite "$(head -1 /tmp/ps.other) ($(tail -1 /tmp/ps.out))"
fi
cd /
kill -TERM $pid
if wait $pid && ! grep -q " /mnt/v " /proc/mounts; then
	gl_pass unmount-clean
else
	gl_fail unmount-clean "kiln_nfs_mount did not unmount and commit"
	gl_dump /tmp/m.err
fi
kiln_nfs_mount /store /mnt/v >/tmp/m2.out 2>/tmp/m2.err &
pid=$!
if gl_wait 60 grep -q mounted /tmp/m2.out; then
	gl_check persisted sh -c '[ "$(cat /mnt/v/b)" = "hello kiln" ] && cmp /tmp/big /mnt/v/big'
else
	gl_fail persisted "the remount failed"
	gl_dump /tmp/m2.err
fi
kill -TERM $pid
wait $pid || gl_fail unmount-clean "second unmount"
if grep -rq "hello kiln" /store; then gl_fail store-ciphertext "plaintext in the store"; else gl_pass store-ciphertext; fi
SH

tree=$T/tree
guestlab_tree "$tree" "$T/test.sh"
for b in build/tools/kiln_nfs_mount build/tools/posix_suite; do guestlab_add_bin "$tree" "$b"; done
[ -z "${GUESTLAB_SAVE:-}" ] || cp -a "$tree" "$GUESTLAB_SAVE"

log=$KILN_ROOT/build/test-logs/guestlab_nfs.console
mkdir -p "$(dirname "$log")"
guestlab_boot "$tree" "$log" || echo "guestlab: the boot did not end cleanly (see $log)"
guestlab_verdict "$log" nfs-mounted create-write-read rename readdir unlink big-io link-symlink \
	chmod posix-suite unmount-clean persisted store-ciphertext ||
	fail "guest checks failed (console: $log)"
echo "PASS: the kernel's NFSv4 client on kiln's NFS frontend"
