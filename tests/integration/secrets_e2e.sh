#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Secrets at boot end to end in sim against kiln dev-kms: a key whose policy admits the
# EIF's PCR0, `kiln secret encrypt`, the app sees the values (env, and a file with its
# mode); an image with one byte changed is refused naming the PCR condition; wrong
# credentials and an unreachable KMS fail the boot clearly and in time; the secret's
# bytes are nowhere on the parent (kilnd's state and logs, dev-kms's state and log, the EIF).
set -eu
source "$(dirname "$0")/../lib/net.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
net_private_parent "$0" "$@"
source "$(dirname "$0")/../lib/common.sh"
source "$KILN_ROOT/tests/lib/devkms.sh"
kiln secret --help >/dev/null 2>&1 || skip "kiln secret is not built"
export KILN_STATE_DIR=$T/state

# The sim CA exists before dev-kms starts, so dev-kms can trust it (--root).
root=$("$KILN_ROOT/build/tools/devkms_doc" "$KILN_STATE_DIR" "$T/probe.doc" "$T/probe.pem")
DEVKMS_HOST=198.18.0.1 devkms_start "$T/kms" --root "$root"

# A key, and two secrets encrypted under it with kiln's own client.
kid=$("$DEVKMS_AWS" kms create-key --endpoint-url "$DEVKMS_URL" --query KeyMetadata.KeyId --output text)
value="pw-$(head -c 12 /dev/urandom | xxd -p)"
fvalue="key-$(head -c 12 /dev/urandom | xxd -p)"
enc() { printf %s "$1" | kiln secret encrypt --key-id "$kid" --endpoint "$DEVKMS_URL" --ca-bundle "$T/kms/ca.pem"; }
ct1=$(enc "$value")
ct2=$(enc "$fvalue")
want1=$(printf %s "$value" | sha256sum | cut -d' ' -f1)
want2=$(printf %s "$fvalue" | sha256sum | cut -d' ' -f1)

# The app prints digests and the file's mode, never the values.
c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
for a in stat cut; do ln -sf busybox "$mnt/bin/$a"; done
cp "$T/kms/ca.pem" "$mnt/app/devkms-ca.pem"
cat >"$mnt/app/show.sh" <<'SH'
#!/bin/sh
echo "env_sha=$(printf %s "$DB_PASSWORD" | sha256sum | cut -d' ' -f1)"
echo "file_sha=$(sha256sum </run/secrets/tls.key | cut -d' ' -f1)"
echo "file_mode=$(stat -c %a /run/secrets/tls.key)"
SH
chmod 755 "$mnt/app/show.sh"
echo 1 >"$mnt/app/version"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/show.sh"]' --cmd '[]' "$c"
save_image "$c" secrets "$T/app.tar" ""
# The one-byte change: the same image with /app/version "2".
mnt=$(bah mount "$c")
echo 2 >"$mnt/app/version"
bah umount "$c" >/dev/null
save_image "$c" secrets2 "$T/app2.tar" ""

config() { # endpoint secret_access_key timeout
	cat <<YAML
version: 1
name: secrets
network:
  egress: {allow: ["198.18.0.1"]}
  dns: none
kms:
  region: us-east-1
  endpoint: "$1"
  ca_bundle: /app/devkms-ca.pem
  credentials: static
  access_key_id: $AWS_ACCESS_KEY_ID
  secret_access_key: "$2"
  timeout_s: $3
secrets:
  - {name: DB_PASSWORD, kms_ciphertext: "$ct1", to: env}
  - {name: tls.key, kms_ciphertext: "$ct2", to: "file:/run/secrets/tls.key", mode: "0440"}
YAML
}
config "$DEVKMS_URL" "$AWS_SECRET_ACCESS_KEY" 10 >"$T/kiln.yaml"
pcr0=$(kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/app.tar" -o "$T/app.eif" | jq -r .Measurements.PCR0)
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/app2.tar" -o "$T/app2.eif" >/dev/null

# The key policy: the account administers the key; Decrypt only for this PCR0.
cat >"$T/policy.json" <<JSON
{"Version": "2012-10-17", "Statement": [
 {"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
  "Action": ["kms:Encrypt", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy"], "Resource": "*"},
 {"Sid": "enclave", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*",
  "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "$pcr0"}}}]}
JSON
"$DEVKMS_AWS" kms put-key-policy --endpoint-url "$DEVKMS_URL" --key-id "$kid" --policy-name default \
	--policy "file://$T/policy.json"

# 1. The admitted image: both secrets delivered.
rc=0; out=$(kiln run --sim --name s1 "$T/app.eif" 2>&1) || rc=$?
[ $rc -eq 0 ] || fail "the admitted image did not run (rc=$rc): $out"
assert_contains "$out" "env_sha=$want1" "the secret in the environment"
assert_contains "$out" "file_sha=$want2" "the secret in the file"
assert_contains "$out" "file_mode=440" "the file's mode"
echo "ok   secrets delivered to env and file (mode 0440)"

# 2. One byte changed: refused by the key policy, the boot stops naming the condition.
rc=0; out=$(kiln run --sim --name s2 "$T/app2.eif" 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "the changed image booted: $out"
assert_contains "$out" "DB_PASSWORD" "the failing secret is named"
assert_contains "$out" "kms:RecipientAttestation:PCR0 mismatch" "the failed condition is named"
! grep -q "env_sha=" <<<"$out" || fail "the app ran although a required secret failed"
echo "ok   a one-byte change is refused: $(grep -m1 'PCR0 mismatch' <<<"$out" | cut -c1-160)"

# 3. Wrong credentials.
config "$DEVKMS_URL" wrong-secret 10 >"$T/bad-creds.yaml"
kiln build -q -c "$T/bad-creds.yaml" "docker-archive:$T/app.tar" -o "$T/bad-creds.eif" >/dev/null
rc=0; out=$(kiln run --sim --name s3 "$T/bad-creds.eif" 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "wrong credentials booted: $out"
assert_contains "$out" "InvalidSignatureException" "wrong credentials are reported with KMS's error"
echo "ok   wrong credentials refused"

# 4. KMS unreachable: retries, then a clear error within the configured timeout.
closed=$((DEVKMS_PORT == 29999 ? 20000 : DEVKMS_PORT + 1))
config "https://198.18.0.1:$closed" "$AWS_SECRET_ACCESS_KEY" 3 >"$T/unreach.yaml"
kiln build -q -c "$T/unreach.yaml" "docker-archive:$T/app.tar" -o "$T/unreach.eif" >/dev/null
rc=0; out=$(timeout 60 kiln run --sim --name s4 "$T/unreach.eif" 2>&1) || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "unreachable KMS: rc=$rc: $out"
assert_contains "$out" "DB_PASSWORD" "the failing secret is named"
grep -Eqi "unreachable|connect|timed out|timeout" <<<"$out" || fail "no clear unreachable error: $out"
echo "ok   unreachable KMS fails the boot: $(grep -m1 DB_PASSWORD <<<"$out" | cut -c1-160)"

# 4b. A KMS that accepts connections and never answers: the configured 3 s bound the boot.
silent=$((closed == 29999 ? 20000 : closed + 1))
socat "TCP-LISTEN:$silent,bind=198.18.0.1,fork,reuseaddr" SYSTEM:"sleep 120" 2>/dev/null &
defer "kill $! 2>/dev/null"
wait_port 198.18.0.1 "$silent"
config "https://198.18.0.1:$silent" "$AWS_SECRET_ACCESS_KEY" 3 >"$T/silent.yaml"
kiln build -q -c "$T/silent.yaml" "docker-archive:$T/app.tar" -o "$T/silent.eif" >/dev/null
rc=0; out=$(timeout 60 kiln run --sim --name s5 "$T/silent.eif" 2>&1) || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "silent KMS: rc=$rc: $out"
assert_contains "$out" "DB_PASSWORD" "the failing secret is named"
grep -Eqi "timed out|timeout|time limit|gave up" <<<"$out" || fail "no clear timeout error: $out"
echo "ok   a silent KMS fails the boot at the configured timeout: $(grep -m1 DB_PASSWORD <<<"$out" | cut -c1-160)"

# 5. The secret's bytes are nowhere on the parent.
for where in "$KILN_STATE_DIR" "$T/kms" "$DEVKMS_LOG" "$T/app.eif" "$T/app2.eif"; do
	! grep -rqaF -e "$value" -e "$fvalue" "$where" || fail "a secret's bytes are in $where"
done
echo "ok   no secret bytes in kilnd's state and logs, dev-kms's state and log, or the EIFs"
echo "PASS secrets_e2e"
