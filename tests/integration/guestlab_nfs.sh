#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The NFSv4 frontend with a real kernel NFS client (Debian's 6.1 cloud kernel under QEMU, tests/lib/guestlab.sh):
# kiln_nfs_mount serves a storage-core volume on 127.0.0.1 and mounts it with mount(2) (nfs4, vers=4.2:
# sessions and user xattrs); a POSIX smoke test (create, write, read, rename, readdir, unlink, links,
# chmod, 8 MiB of I/O), the storage POSIX suite (fsync, mmap, locks, xattrs, ...; less flock), a
# model test, SQLite's write-heavy script and integrity_check, a clean unmount, no plaintext in the
# store, the data back after a remount, a wrong key refused, a tampered block read as EIO and logged;
# all of it with write delegations (kiln_nfs_mount grants them as kiln-init does); on a volume of their
# own: granted and returned after the last close, so a stat of
# just-written files sends no GETATTR and their unlink no DELEGRETURN (counted in mountstats), rm -rf of
# a tree just written works (no .nfsXXXX left behind), the POSIX suite passes, fsync still durable,
# files closed just before the unmount intact after it.
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
command -v sqlite3 >/dev/null || skip "sqlite3 is not installed (scripts/deps)"
for b in kiln_nfs_mount posix_suite fs_model_dirs kiln_seg; do
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
	gl_check nfs-vers-4.2 grep -q ' /mnt/v nfs4 .*vers=4.2' /proc/mounts
	# the only client: long attribute caching, no close-to-open revalidation
	gl_check nfs-attr-cache sh -c "grep ' /mnt/v ' /proc/mounts | grep -q 'acregmin=600,.*nocto'"
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
# The storage POSIX suite. One difference is the Linux NFS client's own, in
# every minor version, not the server's: it turns flock() into a whole-file
# POSIX lock whose owner is the open file, which conflicts with the same
# process's fcntl lock (docs/storage.md, "What differs from FUSE").
mkdir ps
posix_suite /mnt/v/ps >/tmp/ps.out 2>&1
grep '^FAIL ' /tmp/ps.out >/tmp/ps.fail || true
grep -v -e '^FAIL t_locks:.*flock(fd, LOCK_EX | LOCK_NB) == 0' \
	/tmp/ps.fail >/tmp/ps.other || true
sed 's/^/GL INFO posix_suite: /' /tmp/ps.fail | head -40
echo "GL INFO posix_suite: $(tail -1 /tmp/ps.out)"
if grep -q checks /tmp/ps.out && [ ! -s /tmp/ps.other ]; then
	gl_pass posix-suite
else
	gl_fail posix-suite "$(head -1 /tmp/ps.other) ($(tail -1 /tmp/ps.out))"
fi
MARKER=kiln-nfs-marker-4242
sqlite3 /mnt/v/app.db >/tmp/sql.out 2>&1 <<SQL
PRAGMA journal_mode=WAL;
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<5000)
  INSERT INTO t(b) SELECT hex(randomblob(120)) FROM c;
UPDATE t SET b=hex(randomblob(60)) WHERE a%3=0;
DELETE FROM t WHERE a%7=0;
CREATE INDEX tb ON t(b);
INSERT INTO t(b) VALUES('$MARKER');
PRAGMA integrity_check;
SQL
gl_check sqlite-integrity test "$(tail -1 /tmp/sql.out)" = ok
mkdir /mnt/v/model /tmp/model
gl_check model fs_model_dirs /mnt/v/model /tmp/model 300
echo "$MARKER" >/mnt/v/secret.txt
cd /
kill -TERM $pid
if wait $pid && ! grep -q " /mnt/v " /proc/mounts && grep -q "unmounted and committed" /tmp/m.err; then
	gl_pass unmount-clean
else
	gl_fail unmount-clean "kiln_nfs_mount did not unmount and commit"
	gl_dump /tmp/m.err
fi
if grep -rq -e "hello kiln" -e "$MARKER" -e secret.txt /store; then
	gl_fail store-ciphertext "plaintext in the store"
else
	gl_pass store-ciphertext
fi

# mount [ARGS]: mount /store on /mnt/v again (log /tmp/m.err); umnt: unmount and commit
mnt() {
	rm -f /tmp/m.out # not the last mount's "mounted" (the redirection happens in the child)
	kiln_nfs_mount "$@" /store /mnt/v >/tmp/m.out 2>/tmp/m.err &
	pid=$!
	gl_wait 60 grep -q mounted /tmp/m.out
}
umnt() { kill -TERM $pid; wait $pid; }
if mnt; then
	echo "GL INFO remount: $(ls /mnt/v | tr '\n' ' ') $(grep ' /mnt/v ' /proc/mounts)"
	gl_check persisted sh -c '[ "$(cat /mnt/v/b)" = "hello kiln" ] && cmp /tmp/big /mnt/v/big'
	gl_check sqlite-after-remount test "$(sqlite3 /mnt/v/app.db "PRAGMA integrity_check; SELECT count(*) FROM t WHERE b='$MARKER';" | tr '\n' ' ')" = "ok 1 "
	INO=$(printf '%x' "$(stat -c %i /mnt/v/secret.txt)")
	umnt || gl_fail unmount-clean "second unmount"
else
	gl_fail persisted "the remount failed"
	gl_dump /tmp/m.err
fi
if kiln_nfs_mount --secret not-the-key /store /mnt/v >/dev/null 2>/tmp/wrong.err; then
	gl_fail wrong-key "a wrong key mounted"
else
	gl_check wrong-key grep -q "wrong key" /tmp/wrong.err
fi
# tampering on the parent: one byte of the file's block (its record's data in a segment); the
# read is EIO, the log names it
set -- $(kiln_seg /store | grep "^b-$INO-0-")
OBJ=$1 AT=$(($3 + 30))
# invert the byte: a fixed value could equal what was there
B=$(od -An -tu1 -j $AT -N1 "/store/$2" | tr -d ' ')
printf "\\$(printf '%03o' $((B ^ 255)))" | dd of="/store/$2" bs=1 seek=$AT conv=notrunc 2>/dev/null
if mnt; then
	if cat /mnt/v/secret.txt >/tmp/cat.out 2>/tmp/cat.err; then
		gl_fail tamper-eio "the tampered file was read: $(cat /tmp/cat.out)"
	else
		gl_check tamper-eio grep -q "Input/output error" /tmp/cat.err
	fi
	umnt
	gl_check tamper-logged grep -q "integrity failure: block 0 of inode $((0x$INO)) (object $OBJ)" /tmp/m.err
else
	gl_fail tamper-eio "the mount after tampering failed"
	gl_dump /tmp/m.err
fi
# Write delegations (on in every mount here, as in kiln-init; a volume of their own): one is granted
# and returned; fsync still commits (a copy of the store taken right
# after it, the file still open, has the data); files closed just before the unmount, whose
# flushes close() no longer waits for, are all in the store after it
mkdir -p /store2 /mnt/w
kiln_nfs_mount --create /store2 /mnt/w >/tmp/w.out 2>/tmp/w.err &
wpid=$!
if gl_wait 60 grep -q mounted /tmp/w.out; then
	# ops NAME: how many NAME calls the client sent (this mount is the only nfs4 one then)
	ops() { awk -v op="$1:" '$1 == op { n += $2 } END { print n + 0 }' /proc/self/mountstats; }
	d0=$(ops DELEGRETURN)
	echo x >/mnt/w/dg && rm /mnt/w/dg
	echo "GL INFO DELEGRETURN: $d0 before, $(ops DELEGRETURN) after"
	gl_check deleg-granted test "$(ops DELEGRETURN)" -gt "$d0"
	# the client returns each delegation after the file's last close (kiln_nfs_mount sets
	# delegation_watermark 0; the client's own return of unused ones waits for a lease renewal):
	# waited for by count, then stat asks nothing and unlink only REMOVEs
	gl_check deleg-return-on-close test "$(cat /sys/module/nfsv4/parameters/delegation_watermark)" = 0
	mkdir /mnt/w/st
	d0=$(ops DELEGRETURN)
	for i in $(seq 20); do echo "st $i" >/mnt/w/st/f$i; done
	gl_wait 60 test "$(ops DELEGRETURN)" -ge $((d0 + 20))
	g0=$(ops GETATTR) d0=$(ops DELEGRETURN) r0=$(ops REMOVE)
	for i in $(seq 20); do stat /mnt/w/st/f$i >/dev/null; done
	echo "GL INFO stat of 20 files written under delegations: $(($(ops GETATTR) - g0)) GETATTR"
	gl_check deleg-stat-cached test "$(ops GETATTR)" -eq "$g0"
	rm /mnt/w/st/f*
	echo "GL INFO unlink of 20: $(($(ops REMOVE) - r0)) REMOVE, $(($(ops DELEGRETURN) - d0)) DELEGRETURN"
	gl_check deleg-unlink-remove-only test "$(ops DELEGRETURN)" -eq "$d0" -a "$(ops REMOVE)" -eq $((r0 + 20))
	# rm -rf of a tree just written: the client still holds a file whose write is in flight
	# (close() did not wait for it) as it holds one open; told PRESERVE_UNLINKED it removes it
	# instead of renaming it to .nfsXXXX, which left the directory not empty. The file held
	# open here (fds 3 and 4) makes that hold certain; it stays readable and writable after the rm.
	mkdir -p /mnt/w/t/a /mnt/w/t/b
	for i in $(seq 15); do echo "t $i" >/mnt/w/t/a/$i; echo "t $i" >/mnt/w/t/b/$i; done
	exec 3>/mnt/w/t/a/held
	echo held >&3
	exec 4</mnt/w/t/a/held
	rm -rf /mnt/w/t 2>/tmp/rmrf.err || true
	echo more >&3
	gl_check deleg-rm-rf sh -c '[ ! -e /mnt/w/t ] && [ ! -s /tmp/rmrf.err ] && [ -z "$(ls -A /mnt/w/st)" ]'
	gl_check deleg-unlinked-held test "$(cat <&4 | tr '\n' ' ')" = "held more "
	exec 3>&- 4<&-
	[ ! -s /tmp/rmrf.err ] || gl_dump /tmp/rmrf.err
	mkdir /mnt/w/ps
	posix_suite /mnt/w/ps >/tmp/wps.out 2>&1
	grep '^FAIL ' /tmp/wps.out | grep -v -e '^FAIL t_locks:.*flock(fd, LOCK_EX | LOCK_NB) == 0' >/tmp/wps.other || true
	echo "GL INFO posix_suite with delegations: $(tail -1 /tmp/wps.out)"
	if grep -q checks /tmp/wps.out && [ ! -s /tmp/wps.other ]; then
		gl_pass deleg-posix-suite
	else
		gl_fail deleg-posix-suite "$(head -1 /tmp/wps.other) ($(tail -1 /tmp/wps.out))"
	fi
	exec 3>/mnt/w/synced
	echo "synced data" | dd of=/mnt/w/synced conv=notrunc,fsync 2>/dev/null
	cp -a /store2 /snap
	exec 3>&-
	for i in $(seq 20); do echo "small $i" >/mnt/w/small.$i; done
	kill -TERM $wpid
	wait $wpid || gl_fail deleg-persisted "unmount: $(tail -1 /tmp/w.err)"
	mnt2() {
		rm -f /tmp/w.out
		kiln_nfs_mount "$1" /mnt/w >/tmp/w.out 2>/tmp/w.err &
		wpid=$!
		gl_wait 60 grep -q mounted /tmp/w.out
	}
	if mnt2 /store2; then
		gl_check deleg-persisted sh -c 'for i in $(seq 20); do [ "$(cat /mnt/w/small.$i)" = "small $i" ] || exit 1; done'
		kill -TERM $wpid
		wait $wpid
	else
		gl_fail deleg-persisted "the remount failed"
	fi
	if mnt2 /snap; then
		gl_check fsync-durable test "$(cat /mnt/w/synced)" = "synced data"
		kill -TERM $wpid
		wait $wpid
	else
		gl_fail fsync-durable "the store copied after fsync did not mount"
		gl_dump /tmp/w.err
	fi
else
	gl_fail deleg-granted "no mount with delegations"
	gl_dump /tmp/w.err
fi
SH

tree=$T/tree
guestlab_tree "$tree" "$T/test.sh"
for b in build/tools/kiln_nfs_mount build/tools/posix_suite build/tools/fs_model_dirs build/tools/kiln_seg \
	"$(command -v sqlite3)"; do
	guestlab_add_bin "$tree" "$b"
done
[ -z "${GUESTLAB_SAVE:-}" ] || cp -a "$tree" "$GUESTLAB_SAVE"

log=$KILN_ROOT/build/test-logs/guestlab_nfs.console
mkdir -p "$(dirname "$log")"
guestlab_boot "$tree" "$log" || echo "guestlab: the boot did not end cleanly (see $log)"
guestlab_verdict "$log" nfs-mounted nfs-attr-cache create-write-read rename readdir unlink big-io link-symlink \
	chmod posix-suite sqlite-integrity model unmount-clean store-ciphertext persisted \
	sqlite-after-remount wrong-key tamper-eio tamper-logged deleg-granted deleg-return-on-close \
	deleg-stat-cached deleg-unlink-remove-only deleg-rm-rf deleg-unlinked-held deleg-posix-suite deleg-persisted fsync-durable ||
	fail "guest checks failed (console: $log)"
echo "PASS: the kernel's NFSv4 client on kiln's NFS frontend"
