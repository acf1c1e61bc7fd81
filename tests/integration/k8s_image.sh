# SPDX-License-Identifier: Apache-2.0
# kiln build --output-image: identical bytes from two builds (oci: and
# docker-archive:), loadable by skopeo, umoci and buildah, PCRs and memory as
# annotations/labels, the launcher entrypoint, kilnd's libraries in the image.
source "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (buildah, chroot)"
command -v skopeo >/dev/null && command -v umoci >/dev/null || skip "skopeo/umoci missing"
export SOURCE_DATE_EPOCH=1700000000

c=$(busybox_container)
bah config --entrypoint '["/bin/echo","hello"]' --cmd '[]' "$c"
save_image "$c" app "$T/app.tar" ""

pcrs=$(kiln build -q "docker-archive:$T/app.tar" -o "$T/app.eif" --output-image "oci:$T/oci1:v1")
kiln build -q "docker-archive:$T/app.tar" --output-image "oci:$T/oci2:v1" >/dev/null
kiln build -q "docker-archive:$T/app.tar" --output-image "docker-archive:$T/img1.tar" --name demo >/dev/null
kiln build -q "docker-archive:$T/app.tar" --output-image "docker-archive:$T/img2.tar" --name demo >/dev/null
diff -r "$T/oci1" "$T/oci2" >/dev/null || fail "two oci: builds differ"
cmp -s "$T/img1.tar" "$T/img2.tar" || fail "two docker-archive: builds differ"
[ ! -e "$T/oci1/blobs/sha256/layer.tmp" ] || fail "temporary layer left behind"

# The manifest (no layer pulled) carries the PCRs kiln build printed.
mdig=$(jq -r '.manifests[0].digest' "$T/oci1/index.json")
man=$T/oci1/blobs/sha256/${mdig#sha256:}
assert_eq "$(jq -r '.annotations["enclave.kiln/pcr0"]' "$man")" "$(jq -r .Measurements.PCR0 <<<"$pcrs")" "pcr0 annotation"
assert_eq "$(jq -r '.annotations["enclave.kiln/pcr2"]' "$man")" "$(jq -r .Measurements.PCR2 <<<"$pcrs")" "pcr2 annotation"
assert_eq "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$T/oci1/index.json")" v1 "tag"
# kiln run's rule: memory >= 4 x EIF size, even MiB.
size=$(stat -c %s "$T/app.eif")
min=$(( (4 * size + 1048575) / 1048576 )); min=$(( min + min % 2 ))
assert_eq "$(jq -r '.annotations["enclave.kiln/min-memory"]' "$man")" "${min}Mi" "min-memory annotation"
assert_eq "$(jq -r '.annotations["enclave.kiln/storage"]' "$man")" null "no storage: no storage annotation"

# skopeo reads both forms' config: entrypoint, labels.
for ref in "oci:$T/oci1:v1" "docker-archive:$T/img1.tar"; do
	cfg=$(skopeo inspect --config "$ref") || fail "skopeo cannot read $ref"
	assert_eq "$(jq -c .config.Entrypoint <<<"$cfg")" '["/kiln/bin/kiln","launch"]' "entrypoint of $ref"
	assert_eq "$(jq -r '.config.Labels["enclave.kiln/pcr0"]' <<<"$cfg")" "$(jq -r .Measurements.PCR0 <<<"$pcrs")" "pcr0 label of $ref"
	assert_eq "$(jq -r .created <<<"$cfg")" "2023-11-14T22:13:20Z" "created of $ref"
done
assert_eq "$(tar -xOf "$T/img1.tar" manifest.json | jq -r ".[0].RepoTags[0]")" "demo:latest" "docker-archive tag"
skopeo copy -q "docker-archive:$T/img1.tar" "oci:$T/copied:x" || fail "skopeo copy of the docker-archive failed"
bah pull -q "docker-archive:$T/img1.tar" >/dev/null || fail "buildah cannot load the docker-archive"
(cd "$T" && bah pull -q "oci:oci1:v1" >/dev/null) || fail "buildah cannot load the oci layout"

# umoci unpacks it; the files and kilnd's libraries are where the loader looks.
umoci unpack --rootless --image "$T/oci1:v1" "$T/bundle" >/dev/null || fail "umoci unpack failed"
r=$T/bundle/rootfs
cmp -s "$r/kiln/app.eif" "$T/app.eif" || fail "the image's EIF is not the one built"
cmp -s "$r/kiln/bin/kiln" "$KILN_ROOT/build/kiln" || fail "the image's kiln differs"
chroot "$r" /kiln/bin/kilnd --help >/dev/null 2>&1 || fail "kilnd does not start inside the image: $(chroot "$r" /kiln/bin/kilnd --help 2>&1 | head -2)"
chroot "$r" /kiln/bin/kiln --version >/dev/null || fail "kiln does not start inside the image"
assert_eq "$(stat -c %a "$r/tmp")" 1777 "/tmp mode"

# Bad destinations: one line naming what is wrong.
assert_fails_with "want docker-archive:FILE or oci:DIR" kiln build -q "docker-archive:$T/app.tar" --output-image "tarball:$T/x"
# ... checked before the build (the missing input would be the error otherwise)
assert_fails_with "want docker-archive:FILE or oci:DIR" kiln build -q "docker-archive:$T/none.tar" --output-image "tarball:$T/x"
[ ! -e "$T/x" ] || fail "a bad destination wrote something"
echo "all k8s_image checks passed"
