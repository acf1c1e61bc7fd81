#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A plain volume through the FUSE frontend on this host (tests/tools/kiln_fs_mount --plain, over
# kilnd's handlers): what the parent changes is seen by a reader holding the file, no stale cache.
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
umount "$M" && wait $MPID || fail "unmount: $(tail -3 "$T/mount.err")"
echo "plain volume on the host: the parent's changes seen through the mount ok"
