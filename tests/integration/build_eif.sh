# SPDX-License-Identifier: Apache-2.0
# kiln build end to end: a buildah image -> EIF; PCRs checked independently
# (shell + sha384sum over the sections), describe-eif, pcr, CRC, signing,
# metadata, reproducibility, and refusal of corrupt EIFs without leftovers.
source "$(dirname "$0")/../lib/common.sh"
source "$KILN_ROOT/scripts/demo-image.sh"
source "$KILN_ROOT/tests/lib/qemu.sh"

demo_image "$T/demo.tar"
mkdir -p "$T/oci"
bah push -q kiln-demo "oci:$T/oci/layout:v1" >/dev/null

# extend(x) = SHA384(48 zero bytes || SHA384(x)), computed by coreutils.
pcr_of() {
	{ head -c 48 /dev/zero; cat "$@" | sha384sum | cut -d' ' -f1 | xxd -r -p; } |
		sha384sum | cut -d' ' -f1
}

out=$(kiln build -q "docker-archive:$T/demo.tar" -o "$T/a.eif")
echo "$out"
jq -e '.Measurements.HashAlgorithm == "Sha384 { ... }"' <<<"$out" >/dev/null ||
	fail "measurements JSON shape"
pcr0=$(jq -r .Measurements.PCR0 <<<"$out")
pcr1=$(jq -r .Measurements.PCR1 <<<"$out")
pcr2=$(jq -r .Measurements.PCR2 <<<"$out")
[ "$(jq -r '.Measurements.PCR8 // "none"' <<<"$out")" = none ] || fail "PCR8 on an unsigned EIF"

# Independent PCRs from the raw sections.
eif_sections "$T/a.eif" "$T/sec"
assert_eq "$(pcr_of "$T/sec/kernel" "$T/sec/cmdline" "$T/sec/ramdisk0" "$T/sec/ramdisk1")" "$pcr0" PCR0
assert_eq "$(pcr_of "$T/sec/kernel" "$T/sec/cmdline" "$T/sec/ramdisk0")" "$pcr1" PCR1
assert_eq "$(pcr_of "$T/sec/ramdisk1")" "$pcr2" PCR2

# Ramdisk layout: GNU cpio lists what the kernel will unpack.
r0=$(cpio -it --quiet <"$T/sec/ramdisk0" | tr '\n' ' ')
assert_eq "$r0" "dev init " "ramdisk0 entries"
r1=$(cpio -it --quiet <"$T/sec/ramdisk1")
for p in cmd env rootfs rootfs/bin/busybox rootfs/app/hello.sh rootfs/.kiln/kiln-init \
	rootfs/.kiln/config.json; do
	grep -qx "$p" <<<"$r1" || fail "ramdisk1 lacks $p"
done
mkdir "$T/x" && (cd "$T/x" && cpio -id --quiet <"$T/sec/ramdisk1")
assert_eq "$(cat "$T/x/cmd")" "/.kiln/kiln-init" "cmd file"
grep -qx 'GREETING=hi' "$T/x/env" || fail "env file lacks the image's Env"
jq -e '.entrypoint == ["/app/hello.sh","world"] and .workdir == "/app"' \
	"$T/x/rootfs/.kiln/config.json" >/dev/null || fail "config.json: $(cat "$T/x/rootfs/.kiln/config.json")"
cmp "$T/x/rootfs/bin/busybox" /bin/busybox || fail "busybox content"

# kiln pcr and describe-eif agree with build.
assert_eq "$(kiln pcr "$T/a.eif" | jq -r .Measurements.PCR0)" "$pcr0" "kiln pcr"
d=$(kiln describe-eif "$T/a.eif")
assert_eq "$(jq -r .EifVersion <<<"$d")" 4 "EifVersion"
assert_eq "$(jq -r '[.Sections[].Type] | join(",")' <<<"$d")" "kernel,cmdline,metadata,ramdisk,ramdisk" "section order"
assert_eq "$(jq -r .Metadata.BuildMetadata.BuildTool <<<"$d")" kiln "BuildTool"
assert_contains "$(jq -r .Cmdline <<<"$d")" "console=ttyS0" "cmdline"

# The OCI layout of the same image gives the same PCR2 (same rootfs, config).
oci_out=$(kiln build -q "oci:$T/oci/layout:v1" -o "$T/oci.eif")
assert_eq "$(jq -r .Measurements.PCR2 <<<"$oci_out")" "$pcr2" "PCR2 from OCI layout"

# Reproducible: another temp dir, another time, same bytes.
sleep 1.1
mkdir -p "$T/again" && cp "$T/demo.tar" "$T/again/demo.tar"
(cd "$T/again" && TMPDIR="$T/again" kiln build -q docker-archive:demo.tar -o b.eif >/dev/null)
cmp "$T/a.eif" "$T/again/b.eif" || fail "two builds of the same image differ"
SOURCE_DATE_EPOCH=1700000000 kiln build -q "docker-archive:$T/demo.tar" -o "$T/c.eif" >/dev/null
! cmp -s "$T/a.eif" "$T/c.eif" || fail "SOURCE_DATE_EPOCH had no effect"

# kiln.yaml is measured into PCR2.
printf 'version: 1\nname: other\n' >"$T/k.yaml"
k_out=$(kiln build -q "docker-archive:$T/demo.tar" -c "$T/k.yaml" -o "$T/k.eif")
[ "$(jq -r .Measurements.PCR2 <<<"$k_out")" != "$pcr2" ] || fail "config not measured"
assert_eq "$(jq -r .Measurements.PCR1 <<<"$k_out")" "$pcr1" "PCR1 independent of config"

# Signing: PCR8 = extend(DER of the certificate); describe-eif validates it.
openssl ecparam -name secp384r1 -genkey -noout -out "$T/key.pem"
openssl req -new -x509 -key "$T/key.pem" -out "$T/cert.pem" -days 30 -subj /CN=kiln-test 2>/dev/null
s_out=$(kiln build -q "docker-archive:$T/demo.tar" -o "$T/s.eif" \
	--signing-key "$T/key.pem" --signing-certificate "$T/cert.pem")
openssl x509 -in "$T/cert.pem" -outform DER -out "$T/cert.der"
assert_eq "$(jq -r .Measurements.PCR8 <<<"$s_out")" "$(pcr_of "$T/cert.der")" "PCR8"
assert_eq "$(jq -r .Measurements.PCR0 <<<"$s_out")" "$pcr0" "signing changes PCR0"
jq -e '.Signature.Signed and .Signature.Valid' <<<"$(kiln describe-eif "$T/s.eif")" >/dev/null ||
	fail "signature not valid in describe-eif"

# CustomMetadata.
echo '{"team": "kiln", "n": 1}' >"$T/md.json"
kiln build -q "docker-archive:$T/demo.tar" --metadata "$T/md.json" -o "$T/m.eif" >/dev/null
assert_eq "$(kiln describe-eif "$T/m.eif" | jq -r .Metadata.CustomMetadata.team)" kiln "CustomMetadata"

# An AWS-style blobs directory (bzImage, cmdline, init, nsm.ko) is used
# whole: its cmdline, and ramdisk0 = dev/ + init + nsm.ko from it.
mkdir "$T/blobs"
cp /var/lib/kiln/kernel/vmlinuz "$T/blobs/bzImage"
cp "$KILN_ROOT/build/kiln-bootstrap" "$T/blobs/init"
printf 'not really a module' >"$T/blobs/nsm.ko"
printf 'console=ttyS0 custom.flag=1\n' >"$T/blobs/cmdline"
kiln build -q "docker-archive:$T/demo.tar" --blobs "$T/blobs" -o "$T/aws.eif" >/dev/null
eif_sections "$T/aws.eif" "$T/awssec"
assert_eq "$(cat "$T/awssec/cmdline")" "console=ttyS0 custom.flag=1" "blobs cmdline"
assert_eq "$(cpio -it --quiet <"$T/awssec/ramdisk0" | tr '\n' ' ')" "dev init nsm.ko " "blobs ramdisk0"
rm "$T/blobs/nsm.ko"
assert_fails_with "lacks bzImage, init or nsm.ko" kiln build -q "docker-archive:$T/demo.tar" --blobs "$T/blobs" -o "$T/x.eif"
assert_fails_with "--kernel /nonexistent: not found" kiln build -q "docker-archive:$T/demo.tar" --kernel /nonexistent -o "$T/x.eif"

# Corrupt EIFs are refused with the reason.
cp "$T/a.eif" "$T/bad.eif"
printf 'X' | dd of="$T/bad.eif" bs=1 seek=5000 conv=notrunc 2>/dev/null
assert_fails_with "CRC mismatch" kiln describe-eif "$T/bad.eif"
head -c 3000 "$T/a.eif" >"$T/trunc.eif"
assert_fails_with "trunc.eif" kiln pcr "$T/trunc.eif"
printf 'XXXX' | dd of="$T/magic.eif" bs=1 conv=notrunc 2>/dev/null; cat "$T/a.eif" >>"$T/magic.eif"
printf 'JUNK' | dd of="$T/magic.eif" bs=1 conv=notrunc 2>/dev/null
assert_fails_with "magic" kiln pcr "$T/magic.eif"

# A hostile docker-archive (a layer entry "../../escape") is refused with an
# error naming the layer and the entry; nothing is written anywhere.
mkdir -p "$T/hostile/work/sub" && cd "$T/hostile/work/sub"
echo pwned >../escape
tar --format=gnu -P -cf "$T/hostile/layer.tar" ../escape
cd "$KILN_ROOT"
diff_id=sha256:$(sha256sum "$T/hostile/layer.tar" | cut -d' ' -f1)
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/x"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
	"$diff_id" >"$T/hostile/config.json"
cfg=$(sha256sum "$T/hostile/config.json" | cut -d' ' -f1)
mv "$T/hostile/config.json" "$T/hostile/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["evil:1"],"Layers":["layer.tar"]}]' "$cfg" >"$T/hostile/manifest.json"
(cd "$T/hostile" && tar -cf ../evil.tar manifest.json "$cfg.json" layer.tar)
assert_fails_with "layer 1" kiln build -q "docker-archive:$T/evil.tar" -o "$T/empty/evil.eif"
out=$(kiln build -q "docker-archive:$T/evil.tar" -o "$T/empty/evil.eif" 2>&1 || true)
assert_contains "$out" "escape" "hostile error names the entry"
assert_eq "$(echo "$out" | wc -l)" 1 "hostile error is one line"

# Failures leave nothing behind: a corrupted layer, no output file, no temp files.
mkdir "$T/empty"
cp "$T/demo.tar" "$T/bad.tar"
size=$(stat -c %s "$T/bad.tar")
printf 'garbage!' | dd of="$T/bad.tar" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
assert_fails_with "kiln: build:" kiln build -q "docker-archive:$T/bad.tar" -o "$T/empty/out.eif"
assert_eq "$(ls -A "$T/empty")" "" "files left after a failed build"
assert_fails_with "no-such.tar" kiln build -q "docker-archive:$T/no-such.tar" -o "$T/empty/o.eif"
assert_fails_with "unknown key" kiln build -q "docker-archive:$T/demo.tar" -c <(echo 'version: 1'; echo 'bogus: 1') -o "$T/empty/o.eif"
assert_eq "$(ls -A "$T/empty")" "" "files left after a failed build"
echo "all build checks passed"
