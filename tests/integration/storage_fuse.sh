#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Encrypted storage through the FUSE frontend on this host: POSIX suite, model test, SQLite,
# persistence, wrong key, tampering on the parent (EIO, logged) and no plaintext in the store.
# The objects cross the storage channel to kilnd's store code (kiln_fs_mount --channel).
source "$(dirname "$0")/../lib/common.sh"
B=$KILN_ROOT/build/tools
[ "$(id -u)" = 0 ] && [ -c /dev/fuse ] || skip "needs root and /dev/fuse"
command -v sqlite3 >/dev/null || skip "sqlite3 is not installed (scripts/deps)"
S=$T/store M=$T/mnt P=$T/plain
mkdir -p "$S" "$M" "$P"
MARKER=kiln-marker-$RANDOM$RANDOM

mnt() { # mount [args...]: start the FUSE server, wait until it says mounted
	: >"$T/mount.out" # emptied here: the old "mounted" must not count for this mount
	"$B/kiln_fs_mount" --channel "$@" "$S" "$M" >"$T/mount.out" 2>>"$T/mount.err" &
	MPID=$!
	for _ in $(seq 600); do grep -q mounted "$T/mount.out" 2>/dev/null &&
		grep -q " $M fuse.kiln " /proc/mounts && return 0; \
		kill -0 $MPID 2>/dev/null || return 1; sleep 0.05; done
	return 1
}
unmnt() { umount "$M" && wait $MPID || fail "unmount or final commit failed: $(tail -3 "$T/mount.err")"; }
defer 'umount -l "$M" 2>/dev/null'

mnt --create || fail "first mount: $(cat "$T/mount.err")"
mkdir "$M/suite" && "$B/posix_suite" "$M/suite" >"$T/suite.log" || { cat "$T/suite.log"; fail "POSIX suite"; }
tail -1 "$T/suite.log"
mkdir "$M/model" "$P/model"
"$B/fs_model_dirs" "$M/model" "$P/model" 600 >"$T/model.log" || { cat "$T/model.log"; fail "model test"; }
tail -1 "$T/model.log"
sqlite3 "$M/app.db" >"$T/sql.out" <<SQL || fail "sqlite3 write-heavy script"
PRAGMA journal_mode=WAL;
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<30000)
  INSERT INTO t(b) SELECT hex(randomblob(120)) FROM c;
UPDATE t SET b=hex(randomblob(60)) WHERE a%3=0;
DELETE FROM t WHERE a%7=0;
CREATE INDEX tb ON t(b);
INSERT INTO t(b) VALUES('$MARKER');
PRAGMA integrity_check;
SQL
assert_eq "$(tail -1 "$T/sql.out")" ok "integrity_check on the mount"
printf '%s\n' "$MARKER" >"$M/secret.txt"
mkdir "$M/dir-$MARKER"
unmnt

# nothing readable on the parent: not the marker, not the names
! grep -rqa "$MARKER" "$S" || fail "the marker is readable in the store"
! grep -rqa "secret.txt" "$S" || fail "a file name is readable in the store"

# survives a remount; the database is intact
mnt || fail "remount: $(cat "$T/mount.err")"
assert_eq "$(sqlite3 "$M/app.db" "PRAGMA integrity_check; SELECT count(*) FROM t WHERE b='$MARKER';")" \
	"$(printf 'ok\n1')" "database after remount"
assert_eq "$(cat "$M/secret.txt")" "$MARKER"
INO=$(printf '%x' "$(stat -c %i "$M/secret.txt")")
unmnt

# the wrong key: refused with a clear error
! "$B/kiln_fs_mount" --secret not-the-key "$S" "$M" 2>"$T/wrong.err" || fail "wrong key mounted"
assert_contains "$(cat "$T/wrong.err")" "wrong key"

# tampering: flip one byte of the file's block in its segment; reads fail with EIO and the log names it
OBJ=$(seg_object "$S" "b-$INO-0-" | cut -d' ' -f1)
flip_object "$S" "$OBJ" 30
mnt || fail "mount after tampering"
! cat "$M/secret.txt" 2>"$T/cat.err" || fail "tampered file was read"
assert_contains "$(cat "$T/cat.err")" "Input/output error"
unmnt
assert_contains "$(cat "$T/mount.err")" "integrity failure: block 0 of inode $((16#$INO)) (object $OBJ)"
echo "storage over FUSE: suite, model, sqlite, persistence, wrong key, tamper ok"
