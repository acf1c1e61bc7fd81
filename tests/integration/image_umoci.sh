#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Flattens a buildah-made multi-layer image (OCI and docker-archive) with kiln; compares with umoci.
#
# Layer 1 (buildah): busybox-static, symlinks, hardlinks, modes, nested dirs.
# Layer 2 (buildah): deletions (whiteouts), replacements, a new hardlink.
# Layer 3 (hand-made, umoci raw add-layer): an opaque dir, a whiteout, an
#   in-layer hardlink and a symlinked parent directory.
# The image is read by kiln as oci:DIR:TAG and as docker-archive (skopeo and
# buildah writers); every tree must equal what `umoci unpack` produces.
set -euo pipefail

for tool in buildah umoci skopeo busybox gcc tar sha256sum; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
ROOT=${KILN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d "${TMPDIR:-/tmp}/kiln-image-umoci.XXXXXX")
B=(buildah --storage-driver vfs --root "$W/root" --runroot "$W/runroot")
cleanup() {
	[ -n "${KEEP:-}" ] && return
	"${B[@]}" rm --all >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The dump tool: the Makefile's build/tools/image_dump, else built here from source.
DUMP=$ROOT/build/tools/image_dump
if [ ! -x "$DUMP" ]; then
	DUMP=$W/image_dump
	gcc -std=gnu17 -O1 -D_GNU_SOURCE -I"$ROOT/src" -o "$DUMP" "$ROOT/tests/tools/image_dump.c" \
		"$ROOT"/src/image/*.c "$ROOT/src/util/err.c" -larchive -lcrypto -ljansson -lz
fi

# ---- layer 1 ----
c1=$("${B[@]}" from scratch)
m=$("${B[@]}" mount "$c1")
mkdir -p "$m"/bin "$m"/etc/opq/sub "$m"/etc/gone-dir/deep "$m"/usr/lib "$m"/data "$m"/a
cp "$(command -v busybox)" "$m/bin/busybox"
for app in sh ls cat; do ln -s busybox "$m/bin/$app"; done
ln -s /bin/busybox "$m/bin/abs-link"
ln "$m/bin/busybox" "$m/bin/bb-hard"
echo keep >"$m/etc/keep"; echo gone >"$m/etc/gone"; echo x >"$m/etc/gone-dir/deep/x"
echo a >"$m/etc/opq/a"; echo b >"$m/etc/opq/sub/b"
echo one >"$m/a/one"; ln "$m/a/one" "$m/a/two"; ln "$m/a/one" "$m/a-three"
echo secret >"$m/data/s"; chmod 0600 "$m/data/s"; chmod 0700 "$m/data"
chown 1000:1000 "$m/data/s"; chmod 4755 "$m/bin/busybox"
ln -s lib "$m/usr/lib64"; ln -s /usr/lib "$m/lib"
echo lib >"$m/usr/lib/libc.so"
"${B[@]}" config --entrypoint '["/bin/sh","-c"]' --cmd 'echo hi' --env A=1 --workingdir /data "$c1"
"${B[@]}" commit -q "$c1" img1 >/dev/null

# ---- layer 2 ----
c2=$("${B[@]}" from img1)
m=$("${B[@]}" mount "$c2")
rm -f "$m/etc/gone" "$m/a/one"
rm -rf "$m/etc/gone-dir"
echo changed >"$m/etc/keep"
rm -f "$m/usr/lib64"; mkdir "$m/usr/lib64"; echo 64 >"$m/usr/lib64/x"
ln "$m/etc/keep" "$m/etc/keep-link"
"${B[@]}" commit -q "$c2" img2 >/dev/null
"${B[@]}" push -q img2 "oci:$W/oci:v1" >/dev/null

# ---- layer 3, by hand: opaque dir, whiteout, hardlink, symlinked parent ----
l3=$W/l3
mkdir -p "$l3/etc/opq/newsub" "$l3/bin" "$l3/usr"
echo fresh >"$l3/etc/opq/fresh"; echo n >"$l3/etc/opq/newsub/n"
: >"$l3/etc/opq/.wh..wh..opq"; : >"$l3/bin/.wh.cat"
echo h >"$l3/usr/h1"; ln "$l3/usr/h1" "$l3/usr/h2"
mkdir -p "$l3/usr/lib" "$l3/lib"; echo via >"$l3/usr/lib/via-layer3"; echo sym >"$l3/lib/via-symlink"
# "lib/via-symlink" without a "lib" entry: it must land in usr/lib through the lower symlink.
(cd "$l3" && find etc bin usr lib/via-symlink | LC_ALL=C sort) >"$W/l3.list"
tar --numeric-owner --owner=0 --group=0 -C "$l3" --no-recursion -cf "$W/l3.tar" -T "$W/l3.list"
umoci raw add-layer --image "$W/oci:v1" --tag v2 "$W/l3.tar"
skopeo copy -q "oci:$W/oci:v2" "docker-archive:$W/skopeo.tar:kiln/test:v2"
# buildah's own docker-archive (podman layout: symlinked layer.tar) of the first two layers;
# layer 3 cannot go through containers-storage, which re-reads lib/via-symlink literally.
"${B[@]}" push -q img2 "docker-archive:$W/buildah.tar:kiln/test:v1" >/dev/null

# ---- reference tree from umoci ----
umoci unpack --image "$W/oci:v2" "$W/bundle" >/dev/null
umoci unpack --image "$W/oci:v1" "$W/bundle1" >/dev/null
ref_tree() { # DIR: the same line format as image_dump, minus link groups
	(cd "$1" && find . -mindepth 1 -printf '%y %m %U %G %s %P\t%l\n' | LC_ALL=C sort -k6) |
	while IFS=$'\t' read -r head target; do
		read -r y mode uid gid size path <<<"$head"
		mode=$(printf '%04d' "$mode")
		case $y in
		d) echo "d $mode $uid $gid 0 $path" ;;
		l) echo "l $mode $uid $gid 0 $path -> $target" ;;
		f) echo "f $mode $uid $gid $size $path $(sha256sum <"$1/$path" | cut -d' ' -f1)" ;;
		*) echo "? $y $path" ;;
		esac
	done
}
ref_links() { # DIR: hardlink groups, one sorted line of paths per inode
	(cd "$1" && find . -mindepth 1 -type f -links +1 -printf '%i %P\n') |
	awk '{g[$1] = g[$1] " " $2} END {for (i in g) print g[i]}' |
	while read -r l; do tr ' ' '\n' <<<"$l" | LC_ALL=C sort | tr '\n' ' '; echo; done | LC_ALL=C sort
}
kiln_links() { # DUMPFILE
	awk '$1 == "f" && $8 ~ /^link=/ {split($8, a, /[=\/]/); g[a[2]] = g[a[2]] " " $6}
	     END {for (i in g) print g[i]}' "$1" |
	while read -r l; do tr ' ' '\n' <<<"$l" | LC_ALL=C sort | tr '\n' ' '; echo; done | LC_ALL=C sort
}
ref_tree "$W/bundle/rootfs" >"$W/want.txt"
ref_links "$W/bundle/rootfs" >"$W/want-links.txt"
ref_tree "$W/bundle1/rootfs" >"$W/want1.txt"
ref_links "$W/bundle1/rootfs" >"$W/want1-links.txt"
[ "$(wc -l <"$W/want.txt")" -gt 20 ] || fail "umoci tree suspiciously small"
grep -q 'etc/opq/fresh' "$W/want.txt" || fail "reference lacks layer 3"
grep -q ' usr/lib/via-symlink ' "$W/want.txt" || fail "reference did not follow the lib symlink"

check_ref() { # NAME REF [WANT]
	local name=$1 ref=$2 want=${3:-want} out=$W/$1.dump
	"$DUMP" "$ref" "$W" >"$out" 2>"$W/$name.err" || { cat "$W/$name.err"; fail "$name: image_dump failed"; }
	grep -v '^x ' "$out" | sed -E '/^f /{s/ link=[0-9]+\/[0-9]+//; s/ data$//}' >"$W/$name.txt"
	# kiln's order must be bytewise-sorted paths
	awk '{print $6}' "$W/$name.txt" >"$W/$name.paths"
	LC_ALL=C sort -c "$W/$name.paths" || fail "$name: paths not in bytewise order"
	diff -u "$W/$want.txt" "$W/$name.txt" || fail "$name: tree differs from umoci's"
	kiln_links "$out" >"$W/$name-links.txt"
	diff -u "$W/$want-links.txt" "$W/$name-links.txt" || fail "$name: hardlink groups differ"
	# exactly one path per group carries the data, and it is the last one
	awk '$8 ~ /^link=/ {last[$8] = $0} END {for (g in last) print last[g]}' "$out" |
		grep -vq ' data$' && fail "$name: data_here not on the last path of a group"
	"$DUMP" --config "$ref" "$W" >"$W/$name.cfg" 2>/dev/null || fail "$name: config"
	grep -qx 'entrypoint: \[/bin/sh\] \[-c\]' "$W/$name.cfg" || fail "$name: entrypoint"
	grep -qx 'working_dir: /data' "$W/$name.cfg" || fail "$name: working_dir"
	echo "ok: $name ($(wc -l <"$W/$name.txt") paths)"
}
check_ref oci "oci:$W/oci:v2"
check_ref skopeo-archive "docker-archive:$W/skopeo.tar"
check_ref buildah-archive "docker-archive:$W/buildah.tar" want1
gzip -c "$W/skopeo.tar" >"$W/skopeo.tar.gz"
check_ref gzip-archive "docker-archive:$W/skopeo.tar.gz"

# The same image through any door gives the same tree, link groups included.
cmp -s "$W/oci.dump" "$W/skopeo-archive.dump" || fail "oci and docker-archive dumps differ"

# A tampered layer blob is refused, naming the layer.
blob=$(ls -S "$W/oci/blobs/sha256" | head -1)
chmod u+w "$W/oci/blobs/sha256/$blob"
printf 'X' | dd of="$W/oci/blobs/sha256/$blob" bs=1 seek=1000 conv=notrunc status=none
if "$DUMP" "oci:$W/oci:v2" "$W" >/dev/null 2>"$W/tamper.err"; then fail "tampered blob accepted"; fi
grep -q 'layer 1 (sha256:.*digest mismatch' "$W/tamper.err" || { cat "$W/tamper.err"; fail "tamper message"; }
echo "PASS"
