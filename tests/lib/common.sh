# SPDX-License-Identifier: Apache-2.0
# Shared helpers for integration tests and scripts: temp dirs, buildah, asserts.
set -euo pipefail
KILN_ROOT=${KILN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export PATH=$KILN_ROOT/build:$PATH

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-test.XXXXXX")
# The sim rootfs cache of this run only (else /var/cache/kiln/rootfs).
export KILN_CACHE_DIR=${KILN_CACHE_DIR:-$T/cache}
_cleanups=()
# On exit: the test's own cleanups, then any kiln process still naming $T
# (a kilnd that kiln run started for a test state dir, a detached monitor).
on_exit() {
	local f
	for f in "${_cleanups[@]}"; do eval "$f" || true; done
	pkill -TERM -f -- "$T/" 2>/dev/null && sleep 0.3
	pkill -KILL -f -- "$T/" 2>/dev/null || true
	rm -rf "$T"
}
trap on_exit EXIT
defer() { _cleanups+=("$1"); }

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: '$1' != '$2'"; }
assert_contains() { grep -qF -- "$2" <<<"$1" || fail "${3:-missing text}: '$2' not in: $1"; }
# Run a command that must fail; its stderr must contain $1.
# flip_byte FILE OFFSET: invert every bit of one byte in place (a write of a
# fixed value could equal what was there and tamper with nothing).
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$b" ] || fail "flip_byte: $1 has no byte at offset $2"
	printf "\\$(printf '%03o' $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# seg_object DIR PREFIX: "ID SEGMENT DATA_OFFSET DATA_LENGTH" of the one live object of the
# segment-store volume DIR whose id starts with PREFIX (build/tools/kiln_seg lists them).
seg_object() {
	local l
	l=$("$KILN_ROOT/build/tools/kiln_seg" "$1" | grep "^$2" | cut -d' ' -f1-4)
	[ -n "$l" ] && [ "$(wc -l <<<"$l")" = 1 ] || fail "seg_object: not one object $2 in $1"
	echo "$l"
}
# flip_object DIR ID OFFSET: flip_byte at OFFSET of object ID's data in its segment.
flip_object() {
	local l id seg off len
	l=$(seg_object "$1" "$2 ")
	read -r id seg off len <<<"$l"
	[ "$3" -lt "$len" ] || fail "flip_object: $id has $len bytes"
	flip_byte "$1/$seg" $((off + $3))
}
# object_data DIR ID: object ID's data bytes (as its record in a segment holds them) on stdout.
object_data() {
	local l id seg off len
	l=$(seg_object "$1" "$2 ")
	read -r id seg off len <<<"$l"
	tail -c +$((off + 1)) "$1/$seg" | head -c "$len"
}
assert_fails_with() {
	local want=$1; shift
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "expected failure of: $*"
	grep -qF -- "$want" <<<"$out" || fail "error of '$*' lacks '$want': $out"
}

# buildah with private vfs storage under $T, so tests never touch the host's.
bah() {
	buildah --root "$T/storage" --runroot "$T/run" --storage-driver vfs "$@"
}

# A FROM scratch working container with busybox-static at /bin/busybox and
# the usual applet links; prints the container name.
# A busybox container with a static POSIX suite at /usr/local/bin/posix_suite and an empty /app.
posix_suite_container() {
	local c mnt
	${CC:-gcc} -static -O2 -D_GNU_SOURCE -o "$T/posix_suite" "$KILN_ROOT/tests/tools/posix_suite.c" ||
		fail "building the static POSIX suite"
	c=$(busybox_container)
	mnt=$(bah mount "$c")
	mkdir -p "$mnt/app" "$mnt/usr/local/bin"
	cp "$T/posix_suite" "$mnt/usr/local/bin/posix_suite"
	bah umount "$c" >/dev/null
	echo "$c"
}

busybox_container() {
	local c
	c=$(bah from scratch)
	bah copy "$c" /bin/busybox /bin/busybox >/dev/null
	local mnt
	mnt=$(bah mount "$c")
	for a in sh echo cat ls env id pwd sleep true false printf mkdir rm wc head sha256sum; do
		ln -sf busybox "$mnt/bin/$a"
	done
	bah umount "$c" >/dev/null
	echo "$c"
}

# Commit container $1 as image $2 and write it as docker-archive $3 and OCI dir $4.
save_image() {
	local c=$1 name=$2 dar=$3 oci=$4
	bah commit -q "$c" "$name" >/dev/null
	[ -z "$dar" ] || bah push -q "$name" "docker-archive:$dar:$name:latest" >/dev/null
	[ -z "$oci" ] || bah push -q "$name" "oci:$oci:latest" >/dev/null
}
