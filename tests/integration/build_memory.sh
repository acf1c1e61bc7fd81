# SPDX-License-Identifier: Apache-2.0
# kiln build streams: peak RSS does not grow with image size. Two images with
# the same file count, 16 MB and ${BIG_MB:-512} MB of content, must build with
# peak RSS within 8 MB of each other and under 64 MB (make stress runs 2 GB).
source "$(dirname "$0")/../lib/common.sh"
BIG_MB=${BIG_MB:-512}
FILES=64

make_image() { # name total_mb
	local c mnt per
	c=$(busybox_container)
	mnt=$(bah mount "$c")
	mkdir -p "$mnt/data"
	per=$(( $2 * 1024 / FILES ))
	for ((i = 0; i < FILES; i++)); do
		head -c "${per}K" /dev/urandom >"$mnt/data/f$i"
	done
	bah umount "$c" >/dev/null
	bah config --entrypoint '["/bin/true"]' "$c"
	bah commit -q "$c" "$1" >/dev/null
	bah push -q "$1" "docker-archive:$T/$1.tar:$1:latest" >/dev/null
	bah rm "$c" >/dev/null
	bah rmi -f "$1" >/dev/null
	rm -rf "$T/storage/vfs/dir"/* 2>/dev/null || true
}

peak_kb() {
	/usr/bin/time -f %M -o "$T/rss" kiln build -q "docker-archive:$T/$1.tar" \
		-o "$T/$1.eif" --tmpdir "$T" >/dev/null || fail "build of $1"
	cat "$T/rss"
}

make_image small 16
make_image big "$BIG_MB"
small=$(peak_kb small)
rm -f "$T/small.eif"
big=$(peak_kb big)
echo "peak RSS: 16 MB image ${small} KB, ${BIG_MB} MB image ${big} KB"
[ "$big" -lt 65536 ] || fail "peak RSS ${big} KB >= 64 MB"
[ $((big - small)) -lt 8192 ] || fail "RSS grew by $((big - small)) KB with image size"
