#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# key: kms end to end in sim against kiln dev-kms: a key whose policy admits the EIF's PCR0
# for GenerateDataKey and Decrypt; the first boot makes the volume (the key made by KMS for
# this enclave, wrapped as the CiphertextBlob in the header), the second mounts it and finds
# the data; an image with one byte changed is refused naming the PCR condition, the app never
# runs; the volume key (learned afterwards by the key's admin) is nowhere on the parent. A
# secret in the same config is delivered too (kiln-init's one attestation document serves both).
set -eu
source "$(dirname "$0")/../lib/net.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
net_private_parent "$0" "$@"
source "$(dirname "$0")/../lib/common.sh"
source "$KILN_ROOT/tests/lib/devkms.sh"
[ -c /dev/fuse ] || skip "no /dev/fuse on this host"
export KILN_STATE_DIR=$T/state
MARKER=kiln-kms-marker-$RANDOM$RANDOM

root=$("$KILN_ROOT/build/tools/devkms_doc" "$KILN_STATE_DIR" "$T/probe.doc" "$T/probe.pem")
DEVKMS_HOST=198.18.0.1 devkms_start "$T/kms" --root "$root"
kid=$("$DEVKMS_AWS" kms create-key --endpoint-url "$DEVKMS_URL" --query KeyMetadata.KeyId --output text)
value="pw-$(head -c 12 /dev/urandom | xxd -p)"
ct=$(printf %s "$value" | kiln secret encrypt --key-id "$kid" --endpoint "$DEVKMS_URL" --ca-bundle "$T/kms/ca.pem")

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
ln -sf busybox "$mnt/bin/cut"
cp "$T/kms/ca.pem" "$mnt/app/devkms-ca.pem"
cat >"$mnt/app/run.sh" <<SH
#!/bin/sh
echo "secret_sha=\$(printf %s "\$DB_PASSWORD" | sha256sum | cut -d' ' -f1)"
echo "count=\$(cat /data/count 2>/dev/null || echo 0)"
echo \$(( \$(cat /data/count 2>/dev/null || echo 0) + 1 )) >/data/count
echo $MARKER >/data/secret
SH
chmod 755 "$mnt/app/run.sh"
echo 1 >"$mnt/app/version"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/run.sh"]' --cmd '[]' "$c"
save_image "$c" stkms "$T/app.tar" ""
mnt=$(bah mount "$c")
echo 2 >"$mnt/app/version" # the one-byte change
bah umount "$c" >/dev/null
save_image "$c" stkms2 "$T/app2.tar" ""

cat >"$T/kiln.yaml" <<YAML
version: 1
name: stkms
network:
  egress: {allow: ["198.18.0.1"]}
  dns: none
kms:
  region: us-east-1
  endpoint: "$DEVKMS_URL"
  ca_bundle: /app/devkms-ca.pem
  credentials: static
  access_key_id: $AWS_ACCESS_KEY_ID
  secret_access_key: "$AWS_SECRET_ACCESS_KEY"
  timeout_s: 10
storage:
  - {path: /data, key: kms, kms_key_id: "$kid"}
secrets:
  - {name: DB_PASSWORD, kms_ciphertext: "$ct", to: env}
YAML
pcr0=$(kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/app.tar" -o "$T/app.eif" | jq -r .Measurements.PCR0)
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/app2.tar" -o "$T/app2.eif" >/dev/null

policy() { # the actions the account (the key's admin) has besides administering it
	cat >"$T/policy.json" <<JSON
{"Version": "2012-10-17", "Statement": [
 {"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
  "Action": ["kms:Encrypt", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy"$1],
  "Resource": "*"},
 {"Sid": "enclave", "Effect": "Allow", "Principal": {"AWS": "*"},
  "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
  "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "$pcr0"}}}]}
JSON
	"$DEVKMS_AWS" kms put-key-policy --endpoint-url "$DEVKMS_URL" --key-id "$kid" \
		--policy-name default --policy "file://$T/policy.json"
}
policy ""
V=$T/vol
run() { rc=0; out=$(kiln run --sim --name "$1" -v "$V:/data" "$2" 2>&1) || rc=$?; }

# 1. First boot: the volume is made, its key from KMS GenerateDataKey.
run k1 "$T/app.eif"
assert_eq "$rc" 0 "first boot: $out"
assert_contains "$out" "storage /data: mounted (encrypted, key: kms"
assert_contains "$out" "count=0"
assert_contains "$out" "secret_sha=$(printf %s "$value" | sha256sum | cut -d' ' -f1)" "the secret too"
[[ $out != *"key: sim wraps"* ]] || fail "the sim key warning with key: kms"
echo "ok   first boot made the volume (key: kms)"

# 2. Second boot: KMS Decrypt of the header's blob, the data is back.
run k2 "$T/app.eif"
assert_eq "$rc" 0 "second boot: $out"
assert_contains "$out" "count=1" "data back after a restart"
echo "ok   second boot mounted it, data back"

# 3. One byte changed: KMS refuses, the mount is refused with one line, the app never runs.
run k3 "$T/app2.eif"
[ "$rc" != 0 ] || fail "the changed image mounted the volume: $out"
assert_contains "$out" "kms:RecipientAttestation:PCR0 mismatch" "the failed condition is named"
assert_contains "$out" "storage /data"
[[ $out != *count=* ]] || fail "the app ran without its volume"
echo "ok   a one-byte change is refused: $(grep -m1 'PCR0 mismatch' <<<"$out")"

# 4. The header holds the CiphertextBlob; its plaintext (which the admin may now learn) is
# nowhere on the parent, nor is the app's data.
object_data "$V" hdr >"$T/hdr" && [ -s "$T/hdr" ] || fail "no volume header in $V"
! grep -rqa "$MARKER" "$V" "$KILN_STATE_DIR" || fail "plaintext marker on the parent"
! grep -rqaF "$value" "$V" "$KILN_STATE_DIR" "$DEVKMS_LOG" || fail "the secret on the parent"
policy ', "kms:Decrypt"'
blob=$(python3 -c '
import base64, sys
h = open(sys.argv[1], "rb").read()
i = h.index(b"\x03kms") + 4
n = int.from_bytes(h[i:i + 4], "big")
print(base64.b64encode(h[i + 4:i + 4 + n]).decode())' "$T/hdr")
printf %s "$blob" | base64 -d >"$T/blob.bin"
key=$("$DEVKMS_AWS" kms decrypt --endpoint-url "$DEVKMS_URL" --ciphertext-blob "fileb://$T/blob.bin" \
	--query Plaintext --output text)
[ "$(printf %s "$key" | base64 -d | wc -c)" = 32 ] || fail "the header's blob is not a 32-byte KMS data key"
python3 - "$key" "$V" "$KILN_STATE_DIR" "$DEVKMS_LOG" <<'PY' || fail "the volume key's bytes are on the parent"
import base64, os, sys
k = base64.b64decode(sys.argv[1])
for top in sys.argv[2:]:
    paths = [top] if os.path.isfile(top) else [os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs]
    for p in paths:
        try:
            data = open(p, "rb").read()
        except OSError:
            continue
        if k in data:
            sys.exit("key bytes in " + p)
PY
echo "ok   the header holds the KMS CiphertextBlob; the volume key is not on the parent"
echo "PASS storage_kms"
