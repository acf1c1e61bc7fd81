# SPDX-License-Identifier: Apache-2.0
# Device nodes and fifos in a layer whose parent directories are not in the layer:
# kiln build keeps them and makes the parents, as for files, into the EIF's ramdisk.
source "$(dirname "$0")/../lib/common.sh"
source "$KILN_ROOT/tests/lib/qemu.sh"

[ "$(id -u)" = 0 ] || skip "needs root (mknod for the hand-made layer)"

# A layer tar naming only the nodes (--no-recursion: no dev/, dev/foo/, var/q/ entries).
mkdir -p "$T/root/dev/foo" "$T/root/var/q" "$T/root/bin"
mknod "$T/root/dev/foo/null" c 1 3
mknod "$T/root/dev/loop9" b 7 9
mkfifo "$T/root/var/q/fifo"
cp /bin/busybox "$T/root/bin/busybox"
tar --numeric-owner --owner=0 --group=0 --no-recursion -cf "$T/layer.tar" -C "$T/root" \
	bin bin/busybox dev/foo/null dev/loop9 var/q/fifo
listing=$(tar -tf "$T/layer.tar")
! grep -qx "dev/\|dev/foo/\|var/q/" <<<"$listing" || fail "the layer has parent entries: $listing"

# An OCI layout around it, by hand.
oci=$T/oci
mkdir -p "$oci/blobs/sha256"
blob() { # FILE -> its digest (hex), stored as a blob
	local d
	d=$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$oci/blobs/sha256/$d"
	echo "$d"
}
layer=$(blob "$T/layer.tar")
printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/busybox","ls","-l","/var/q"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
	"$layer" >"$T/config.json"
config=$(blob "$T/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
	"$config" "$(stat -c %s "$T/config.json")" "$layer" "$(stat -c %s "$T/layer.tar")" \
	>"$T/manifest.json"
manifest=$(blob "$T/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
	"$manifest" "$(stat -c %s "$T/manifest.json")" >"$oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"

# The flattened image: the nodes and their made parents.
tree=$("$KILN_ROOT/build/tools/image_dump" "oci:$oci" "$T")
echo "$tree"
for want in "d 0755 0 0 0 dev" "d 0755 0 0 0 dev/foo" "c 0644 0 0 0 dev/foo/null 1,3" \
	"b 0644 0 0 0 dev/loop9 7,9" "d 0755 0 0 0 var/q" "p 0644 0 0 0 var/q/fifo"; do
	grep -qxF "$want" <<<"$tree" || fail "image_dump lacks '$want'"
done

# The EIF's ramdisk: GNU cpio lists what the kernel will unpack.
kiln build -q "oci:$oci" -o "$T/d.eif" >/dev/null
eif_sections "$T/d.eif" "$T/sec"
list=$(cpio -itv --quiet <"$T/sec/ramdisk1")
echo "$list" | grep -E "rootfs/(dev|var)"
grep -qE '^drwxr-xr-x .* rootfs/dev/foo$' <<<"$list" || fail "ramdisk lacks the dir rootfs/dev/foo"
grep -qE '^c.* 1, +3 .* rootfs/dev/foo/null$' <<<"$list" || fail "ramdisk lacks char device 1,3"
grep -qE '^b.* 7, +9 .* rootfs/dev/loop9$' <<<"$list" || fail "ramdisk lacks block device 7,9"
grep -qE '^drwxr-xr-x .* rootfs/var/q$' <<<"$list" || fail "ramdisk lacks the dir rootfs/var/q"
grep -qE '^p.* rootfs/var/q/fifo$' <<<"$list" || fail "ramdisk lacks the fifo"

# The sim unpacks the ramdisk into the enclave's root (mounted nodev) and boots it.
export KILN_STATE_DIR=$T/state
rc=0; out=$(kiln run --sim --name devnodes "$T/d.eif" 2>&1) || rc=$?
kp=$(ss -xlpn 2>/dev/null | grep -F "$KILN_STATE_DIR/kilnd.sock" | grep -o 'pid=[0-9]*' |
	cut -d= -f2 | head -1 || true)
[ -z "$kp" ] || defer "kill $kp"
echo "$out"
assert_eq "$rc" 0 "exit code of the app"
grep -qE '^p.* fifo$' <<<"$out" || fail "the app does not see /var/q/fifo"
echo "device nodes and their parents are in the ramdisk and the sim enclave"
