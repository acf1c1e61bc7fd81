# SPDX-License-Identifier: Apache-2.0
# kiln dev-kms driven by Debian's AWS CLI (`aws kms ... --endpoint-url`): every operation
# it serves, error types and exit codes, policies with PCR conditions, SigV4 failures.
source "$(dirname "$0")/../lib/common.sh"
source "$KILN_ROOT/tests/lib/devkms.sh"

[ -x "$DEVKMS_AWS" ] || skip "awscli is not installed (scripts/deps)"
devkms_start "$T/kms"
aws() { "$DEVKMS_AWS" --endpoint-url "$DEVKMS_URL" --region us-east-1 --output json "$@"; }
export AWS_MAX_ATTEMPTS=1

# CreateKey, DescribeKey, ListKeys
md=$(aws kms create-key --description "cli key")
kid=$(jq -r .KeyMetadata.KeyId <<<"$md")
assert_eq "$(jq -r .KeyMetadata.KeyState <<<"$md")" Enabled "KeyState"
assert_eq "$(jq -r .KeyMetadata.Arn <<<"$md")" "arn:aws:kms:us-east-1:111122223333:key/$kid" "Arn"
assert_eq "$(aws kms describe-key --key-id "$kid" | jq -r .KeyMetadata.Description)" "cli key" "Description"
assert_eq "$(aws kms list-keys | jq -r '.Keys[].KeyId')" "$kid" "list-keys"
assert_fails_with "NotFoundException" aws kms describe-key --key-id alias/missing

# Encrypt / Decrypt (with and without --key-id), encryption context
printf 'cli-secret-value' >"$T/pt"
aws kms encrypt --key-id "$kid" --plaintext "fileb://$T/pt" --encryption-context app=web \
	--query CiphertextBlob --output text | base64 -d >"$T/ct"
got=$(aws kms decrypt --ciphertext-blob "fileb://$T/ct" --encryption-context app=web \
	--query Plaintext --output text | base64 -d)
assert_eq "$got" "cli-secret-value" "decrypt"
got=$(aws kms decrypt --key-id "$kid" --ciphertext-blob "fileb://$T/ct" --encryption-context app=web \
	--query Plaintext --output text | base64 -d)
assert_eq "$got" "cli-secret-value" "decrypt with --key-id"
assert_fails_with "InvalidCiphertextException" aws kms decrypt --ciphertext-blob "fileb://$T/ct"
kid2=$(aws kms create-key | jq -r .KeyMetadata.KeyId)
assert_fails_with "IncorrectKeyException" aws kms decrypt --key-id "$kid2" \
	--ciphertext-blob "fileb://$T/ct" --encryption-context app=web

# GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom
dk=$(aws kms generate-data-key --key-id "$kid" --key-spec AES_256)
assert_eq "$(jq -r .Plaintext <<<"$dk" | base64 -d | wc -c)" 32 "data key length"
jq -r .CiphertextBlob <<<"$dk" | base64 -d >"$T/dk"
assert_eq "$(aws kms decrypt --ciphertext-blob "fileb://$T/dk" --query Plaintext --output text)" \
	"$(jq -r .Plaintext <<<"$dk")" "data key round trip"
wp=$(aws kms generate-data-key-without-plaintext --key-id "$kid" --number-of-bytes 24)
assert_eq "$(jq -r 'has("Plaintext")' <<<"$wp")" false "GenerateDataKeyWithoutPlaintext has no Plaintext"
assert_eq "$(aws kms generate-random --number-of-bytes 40 --query Plaintext --output text | base64 -d | wc -c)" \
	40 "random length"

# Key policies
assert_contains "$(aws kms get-key-policy --key-id "$kid" --policy-name default --query Policy --output text)" \
	'"kms:*"' "default policy"
pcr0=$(printf '0%.0s' $(seq 96))
cat >"$T/policy.json" <<JSON
{"Version": "2012-10-17", "Statement": [
 {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
  "Action": ["kms:Encrypt", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy"], "Resource": "*"},
 {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*",
  "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "$pcr0"}}},
 {"Effect": "Deny", "Principal": "*", "Action": "kms:GenerateDataKey*", "Resource": "*"}]}
JSON
aws kms put-key-policy --key-id "$kid" --policy-name default --policy "file://$T/policy.json"
assert_eq "$(aws kms get-key-policy --key-id "$kid" --policy-name default --query Policy --output text | jq -c .)" \
	"$(jq -c . "$T/policy.json")" "stored policy"
assert_fails_with "kms:RecipientAttestation:PCR0 missing" \
	aws kms decrypt --ciphertext-blob "fileb://$T/ct" --encryption-context app=web
assert_fails_with "explicit deny" aws kms generate-data-key --key-id "$kid" --key-spec AES_256
assert_fails_with "MalformedPolicyDocumentException" \
	aws kms put-key-policy --key-id "$kid" --policy-name default --policy '{"Statement": "x"}'

# SigV4 failures
AWS_SECRET_ACCESS_KEY=wrong assert_fails_with "InvalidSignatureException" aws kms list-keys
AWS_ACCESS_KEY_ID=AKIAUNKNOWN assert_fails_with "UnrecognizedClientException" aws kms list-keys

# Keep-alive and TLS: one CLI process, one connection for several calls, verified
# against DIR/ca.pem (a client without it refuses the certificate).
AWS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt assert_fails_with "SSL" aws kms list-keys
assert_eq "$(grep -c 'ListKeys -> 200' "$DEVKMS_LOG")" 1 "ListKeys count"
! grep -qF cli-secret-value "$DEVKMS_LOG" "$T"/kms/keys/* || fail "plaintext in dev-kms's log or state"
echo "PASS devkms_awscli"
