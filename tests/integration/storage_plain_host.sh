#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A plain volume through the FUSE frontend on this host (tests/tools/kiln_fs_mount --plain, over
# kilnd's handlers): what the parent changes is seen by a reader holding the file, no stale cache;
# hard links show one st_ino, user.* xattrs, FIFOs and RENAME_EXCHANGE reach the parent.
source "$(dirname "$0")/../lib/common.sh"
B=$KILN_ROOT/build/tools
[ "$(id -u)" = 0 ] && [ -c /dev/fuse ] || skip "needs root and /dev/fuse"
S=$T/dir M=$T/mnt
mkdir -p "$S" "$M"
"$B/kiln_fs_mount" --plain "$S" "$M" >"$T/mount.out" 2>"$T/mount.err" &
MPID=$!
defer 'umount -l "$M" 2>/dev/null'
for _ in $(seq 600); do grep -q mounted "$T/mount.out" 2>/dev/null &&
	grep -q " $M fuse.kiln " /proc/mounts && break; kill -0 $MPID 2>/dev/null || break; sleep 0.05; done
grep -q " $M fuse.kiln " /proc/mounts || fail "mount: $(cat "$T/mount.err")"

# until the mount shows want (the attributes are cached for a second; 20 s is the bound)
seen() { for _ in $(seq 200); do [ "$(cat "$1" 2>&1)" = "$2" ] && return 0; sleep 0.1; done; return 1; }

echo one >"$S/f"
assert_eq "$(cat "$M/f")" one
exec 3<"$M/f" # the app keeps the file open (and its inode cached)
echo two >>"$S/f"
seen "$M/f" "$(printf 'one\ntwo')" || fail "the parent's append is not seen: $(cat "$M/f" | od -c | head -3)"
printf 'shorter\n' >"$S/f"
seen "$M/f" shorter || fail "the parent's rewrite is not seen: $(cat "$M/f")"
exec 3<&-
echo app >"$M/g"
assert_eq "$(cat "$S/g")" app "the app's write on the parent"

# hard links: one inode number and the host's link count, whoever made the second name
ln "$M/g" "$M/g2" && ln "$S/g" "$S/g3"
assert_eq "$(stat -c %i "$M/g2")" "$(stat -c %i "$M/g")" "two names of one file, one st_ino"
assert_eq "$(stat -c '%i %h' "$M/g3")" "$(stat -c %i "$M/g") 3" "the parent's link: same st_ino, nlink 3"
rm "$M/g2" "$M/g3"
assert_eq "$(stat -c %h "$M/g")" 1

# user.* xattrs are the host file's; FIFOs are made, device nodes refused
python3 - "$M/g" "$S/g" <<'PY' || fail "xattrs through the mount"
import os, sys
os.setxattr(sys.argv[1], "user.colour", b"blue")
assert os.getxattr(sys.argv[2], "user.colour") == b"blue"
os.setxattr(sys.argv[2], "user.parent", b"p")
assert sorted(os.listxattr(sys.argv[1])) == ["user.colour", "user.parent"]
os.removexattr(sys.argv[1], "user.colour")
assert os.listxattr(sys.argv[2]) == ["user.parent"]
PY
mkfifo -m 640 "$M/q" || fail "mkfifo on the mount"
assert_eq "$(stat -c '%F %a' "$S/q")" "fifo 640" "the FIFO on the parent"
mknod "$M/null" c 1 3 2>/dev/null && fail "a device node was made on the parent"
[ ! -e "$S/null" ] || fail "a device node is on the parent"

# RENAME_EXCHANGE swaps the two on the parent
mkdir "$M/x"
python3 - "$M/g" "$M/x" <<'PY' || fail "renameat2(RENAME_EXCHANGE) through the mount"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
if libc.renameat2(AT_FDCWD, sys.argv[1].encode(), AT_FDCWD, sys.argv[2].encode(), RENAME_EXCHANGE):
    raise OSError(ctypes.get_errno(), "renameat2")
PY
[ -d "$S/g" ] && [ "$(cat "$S/x")" = app ] || fail "the exchange is not on the parent"
assert_eq "$(cat "$M/x")" app "the exchanged file through the mount"
umount "$M" && wait $MPID || fail "unmount: $(tail -3 "$T/mount.err")"
echo "plain volume on the host: the parent's changes seen, links, xattrs, FIFOs, exchange ok"
