#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Crash safety of encrypted storage: SIGKILL the process holding the volume (core, FUSE server
# and store in one, as if the enclave and kilnd died together) at a random point of a write
# workload; after a remount every write that was fsync'd before the kill is there and a walk
# of the whole volume reads without error; a write never fsync'd survives once the background
# commit has run. Every other round the store is reached through kilnd's store code over the
# storage channel (kiln_fs_mount --channel), as kiln-init reaches it: its commits are then one
# round trip, the journal record a commit point right behind the objects it names.
# Rounds: $KILN_STORAGE_CRASH_ROUNDS (default 4; tests/stress/storage_crash.sh runs 100).
source "$(dirname "$0")/../lib/common.sh"
B=$KILN_ROOT/build/tools
[ "$(id -u)" = 0 ] && [ -c /dev/fuse ] || skip "needs root and /dev/fuse"
ROUNDS=${KILN_STORAGE_CRASH_ROUNDS:-4}
SEED=${KILN_STORAGE_CRASH_SEED:-$RANDOM}
RANDOM=$SEED
echo "storage_crash: $ROUNDS rounds, seed $SEED (KILN_STORAGE_CRASH_SEED to repeat)"
S=$T/store M=$T/mnt LOG=$T/durable.log
mkdir -p "$S" "$M"
: >"$LOG"
defer 'umount -l "$M" 2>/dev/null'

VIA= # --channel: through kilnd's store code
mnt() {
	: >"$T/mount.out"
	"$B/kiln_fs_mount" $VIA "$@" "$S" "$M" >>"$T/mount.out" 2>>"$T/mount.err" &
	MPID=$!
	for _ in $(seq 600); do grep -q mounted "$T/mount.out" 2>/dev/null &&
		grep -q " $M fuse.kiln " /proc/mounts && return 0; \
		kill -0 $MPID 2>/dev/null || return 1; sleep 0.05; done
	return 1
}

# content of file i: recognisable, and long enough to span blocks for some i
content() { head -c $(( ($1 * 7919) % 70000 + 1 )) /dev/zero | tr '\0' "$(printf "\\$(printf %o $(( $1 % 26 + 97 )))")"; }

check() { # every logged (fsync'd) file has its content; the whole tree reads
	local i
	while read -r i; do
		cmp -s <(content "$i") "$M/f$i" || fail "round $r (seed $SEED): fsync'd file f$i lost or wrong"
	done <"$LOG"
	find "$M" -type f -exec cat {} + >/dev/null 2>"$T/walk.err" ||
		fail "round $r (seed $SEED): reading the volume failed: $(head -3 "$T/walk.err")"
}

i=0
mnt --create || fail "first mount: $(cat "$T/mount.err")"
for r in $(seq "$ROUNDS"); do
	( # the workload: files written and fsync'd one by one, logged once durable
		j=$i
		while :; do
			content $j | dd of="$M/f$j" conv=fsync status=none 2>/dev/null || exit 0
			echo $j >>"$LOG"
			[ $((j % 5)) = 0 ] && rm -f "$M/f$((j - 3))" && sed -i "/^$((j - 3))\$/d" "$LOG"
			j=$((j + 1))
		done
	) &
	W=$!
	sleep "0.$(( RANDOM % 9 + 1 ))"
	kill -9 $MPID
	wait $W 2>/dev/null || true
	wait $MPID 2>/dev/null || true
	umount -l "$M" 2>/dev/null || true
	i=$(( $(tail -1 "$LOG" 2>/dev/null || echo $i) + 10 ))
	VIA=; [ $((r % 2)) = 0 ] || VIA=--channel
	mnt || fail "round $r (seed $SEED): the volume does not mount after the crash: $(tail -2 "$T/mount.err")"
	check
done
# Without fsync: the background commit makes it durable soon after (waiting for the commit,
# seen as a new root record on the parent, not for a fixed time), then a kill loses nothing.
before=$(seg_object "$S" "root ")
echo "no fsync here" >"$M/unsynced"
for _ in $(seq 1200); do [ "$(seg_object "$S" "root ")" != "$before" ] && break; sleep 0.05; done
[ "$(seg_object "$S" "root ")" != "$before" ] || fail "no background commit within a minute"
kill -9 $MPID; wait $MPID 2>/dev/null || true; umount -l "$M" 2>/dev/null || true
mnt || fail "mount after the background commit"
assert_eq "$(cat "$M/unsynced")" "no fsync here" "a write committed in the background"
umount "$M" && wait $MPID || fail "final unmount"
echo "storage_crash: $ROUNDS rounds, $(wc -l <"$LOG") fsync'd files all present"
