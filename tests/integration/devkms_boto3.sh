# SPDX-License-Identifier: Apache-2.0
# kiln dev-kms driven by Debian's boto3: every operation it serves, the KMS error
# types, Recipient with sim attestation documents (CMS opened with the document's
# key), PCR conditions, SigV4 failures, and the key files on disk.
source "$(dirname "$0")/../lib/common.sh"
source "$KILN_ROOT/tests/lib/devkms.sh"

"$DEVKMS_PY" -c 'import boto3' 2>/dev/null || skip "python3-boto3 is not installed (scripts/deps)"
command -v openssl >/dev/null || skip "openssl is not installed"

# Two sim attestation documents: one with the PCR0 the key policy admits, one not.
good=$(printf 'ab%.0s' $(seq 48)); bad=$(printf 'ab%.0s' $(seq 47))ac
root=$("$KILN_ROOT/build/tools/devkms_doc" "$T/sim" "$T/good.doc" "$T/good.pem" "$good")
"$KILN_ROOT/build/tools/devkms_doc" "$T/sim" "$T/bad.doc" "$T/bad.pem" "$bad" >/dev/null
devkms_start "$T/kms" --root "$root"

cat >"$T/t.py" <<'PY'
import base64, json, os, subprocess, sys
import boto3, botocore
from botocore.config import Config

T, url, good = sys.argv[1], sys.argv[2], sys.argv[3]
kms = boto3.client("kms", endpoint_url=url, config=Config(retries={"max_attempts": 1}))

def expect_error(kind, fn, want=""):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        msg = e.response["Error"]["Message"]
        assert got == kind, "%s: got %s: %s" % (kind, got, msg)
        assert want in msg, "%s: %r not in %r" % (kind, want, msg)
        return msg
    raise AssertionError("expected " + kind)

# Recipient: Debian's botocore predates the field, so add it to the signed body
# and read CiphertextForRecipient from the raw answer (botocore's own events).
recipient, raw = {}, {}
def add_recipient(request, **kw):
    if recipient:
        body = json.loads(request.data)
        body["Recipient"] = recipient
        request.data = json.dumps(body).encode()
        request.headers["Content-Length"] = str(len(request.data))
def keep_raw(http_response, **kw):
    raw["body"] = json.loads(http_response.content or b"{}")
kms.meta.events.register("before-sign.kms.*", add_recipient)
kms.meta.events.register("after-call.kms.*", keep_raw)
def with_doc(name):
    recipient.clear()
    recipient.update({"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
                      "AttestationDocument": base64.b64encode(open("%s/%s.doc" % (T, name), "rb").read()).decode()})
def open_cms(name, b64):
    der = base64.b64decode(b64)
    assert der[:2] == b"\x30\x80", "CiphertextForRecipient is not indefinite-length BER"
    p = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-binary",
                        "-inkey", "%s/%s.pem" % (T, name)], input=der, capture_output=True)
    assert p.returncode == 0, p.stderr
    return p.stdout

# CreateKey, DescribeKey, ListKeys
md = kms.create_key(Description="boto3 key")["KeyMetadata"]
kid = md["KeyId"]
for f, v in {"KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled", "Origin": "AWS_KMS",
             "KeySpec": "SYMMETRIC_DEFAULT", "Enabled": True, "Description": "boto3 key",
             "AWSAccountId": "111122223333", "KeyManager": "CUSTOMER"}.items():
    assert md[f] == v, (f, md[f])
assert md["Arn"] == "arn:aws:kms:us-east-1:111122223333:key/" + kid
assert kms.describe_key(KeyId=md["Arn"])["KeyMetadata"]["KeyId"] == kid
kid2 = kms.create_key()["KeyMetadata"]["KeyId"]
keys = [k["KeyId"] for k in kms.list_keys()["Keys"]]
assert sorted(keys) == sorted([kid, kid2]), keys
page = kms.list_keys(Limit=1)
assert page["Truncated"] and len(page["Keys"]) == 1
page2 = kms.list_keys(Limit=1, Marker=page["NextMarker"])
assert not page2["Truncated"] and page2["Keys"][0]["KeyId"] != page["Keys"][0]["KeyId"]
expect_error("NotFoundException", lambda: kms.describe_key(KeyId="alias/nope"))
expect_error("NotFoundException", lambda: kms.describe_key(KeyId="00000000-0000-4000-8000-000000000000"))

# Encrypt / Decrypt with an encryption context; Decrypt without KeyId finds the key.
secret = b"boto3-secret-value"
ct = kms.encrypt(KeyId=kid, Plaintext=secret, EncryptionContext={"app": "web"})["CiphertextBlob"]
assert secret not in ct
r = kms.decrypt(CiphertextBlob=ct, EncryptionContext={"app": "web"})
assert r["Plaintext"] == secret and r["KeyId"].endswith(kid) and r["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
assert kms.decrypt(CiphertextBlob=ct, KeyId=kid, EncryptionContext={"app": "web"})["Plaintext"] == secret
expect_error("InvalidCiphertextException", lambda: kms.decrypt(CiphertextBlob=ct))
expect_error("IncorrectKeyException", lambda: kms.decrypt(CiphertextBlob=ct, KeyId=kid2, EncryptionContext={"app": "web"}))
bad = bytearray(ct); bad[-1] ^= 1
expect_error("InvalidCiphertextException", lambda: kms.decrypt(CiphertextBlob=bytes(bad), EncryptionContext={"app": "web"}))
expect_error("InvalidCiphertextException", lambda: kms.decrypt(CiphertextBlob=b"not a blob"))
expect_error("ValidationException", lambda: kms.encrypt(KeyId=kid, Plaintext=b"x" * 4097))

# GenerateDataKey (both forms), GenerateDataKeyWithoutPlaintext, GenerateRandom
dk = kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
assert len(dk["Plaintext"]) == 32
assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
assert len(kms.generate_data_key(KeyId=kid, NumberOfBytes=64)["Plaintext"]) == 64
expect_error("ValidationException", lambda: kms.generate_data_key(KeyId=kid), "either")
wp = kms.generate_data_key_without_plaintext(KeyId=kid, KeySpec="AES_128")
assert "Plaintext" not in wp and len(kms.decrypt(CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]) == 16
assert len(kms.generate_random(NumberOfBytes=48)["Plaintext"]) == 48

# Key policies: the default, then one that admits only PCR0 == good for Decrypt.
assert "kms:*" in kms.get_key_policy(KeyId=kid, PolicyName="default")["Policy"]
policy = {"Version": "2012-10-17", "Statement": [
    {"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
     "Action": ["kms:Encrypt", "kms:Describe*", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GenerateDataKeyWithoutPlaintext"],
     "Resource": "*"},
    {"Sid": "enclave", "Effect": "Allow", "Principal": {"AWS": "*"},
     "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
     "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": good.upper(),
                                              "kms:RecipientAttestation:ImageSha384": good}}}]}
kms.put_key_policy(KeyId=kid, PolicyName="default", Policy=json.dumps(policy))
assert json.loads(kms.get_key_policy(KeyId=kid, PolicyName="default")["Policy"]) == policy
expect_error("MalformedPolicyDocumentException",
             lambda: kms.put_key_policy(KeyId=kid, PolicyName="default", Policy='{"Statement": [{"NotAction": "x"}]}'))
expect_error("MalformedPolicyDocumentException", lambda: kms.put_key_policy(KeyId=kid, PolicyName="default", Policy="{"))
expect_error("NotFoundException", lambda: kms.get_key_policy(KeyId=kid, PolicyName="other"))
expect_error("AccessDeniedException", lambda: kms.decrypt(CiphertextBlob=ct, EncryptionContext={"app": "web"}),
             "kms:RecipientAttestation:PCR0 missing")

# Recipient: the admitted document gets CiphertextForRecipient and no Plaintext.
with_doc("good")
r = kms.decrypt(CiphertextBlob=ct, EncryptionContext={"app": "web"})
assert "Plaintext" not in raw["body"] and "Plaintext" not in r, raw["body"].keys()
assert open_cms("good", raw["body"]["CiphertextForRecipient"]) == secret
kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
assert "Plaintext" not in raw["body"] and len(open_cms("good", raw["body"]["CiphertextForRecipient"])) == 32
kms.generate_random(NumberOfBytes=20)
assert "Plaintext" not in raw["body"] and len(open_cms("good", raw["body"]["CiphertextForRecipient"])) == 20
# The other document: denied, naming the failed condition.
with_doc("bad")
expect_error("AccessDeniedException", lambda: kms.decrypt(CiphertextBlob=ct, EncryptionContext={"app": "web"}),
             "kms:RecipientAttestation:PCR0 mismatch")
# A document from no trusted root, or not a document at all.
recipient["AttestationDocument"] = base64.b64encode(open(T + "/foreign.doc", "rb").read()).decode()
expect_error("ValidationException", lambda: kms.decrypt(CiphertextBlob=ct, EncryptionContext={"app": "web"}),
             "Invalid attestation document")
recipient["AttestationDocument"] = base64.b64encode(b"\xa0").decode()
expect_error("ValidationException", lambda: kms.decrypt(CiphertextBlob=ct, EncryptionContext={"app": "web"}))
recipient["KeyEncryptionAlgorithm"] = "RSAES_PKCS1_V1_5"
expect_error("ValidationException", lambda: kms.decrypt(CiphertextBlob=ct), "RSAES_OAEP_SHA_256")
recipient.clear()

# SigV4: wrong secret, unknown access key.
other = boto3.client("kms", endpoint_url=url, aws_secret_access_key="wrong",
                     aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], config=Config(retries={"max_attempts": 1}))
expect_error("InvalidSignatureException", lambda: other.list_keys(), "signature")
other = boto3.client("kms", endpoint_url=url, aws_access_key_id="AKIAOTHER", aws_secret_access_key="x",
                     config=Config(retries={"max_attempts": 1}))
expect_error("UnrecognizedClientException", lambda: other.list_keys())
print("boto3: all checks passed")
PY
# A document under a root dev-kms does not trust (another sim CA).
"$KILN_ROOT/build/tools/devkms_doc" "$T/othersim" "$T/foreign.doc" "$T/foreign.pem" "$good" >/dev/null
out=$("$DEVKMS_PY" "$T/t.py" "$T" "$DEVKMS_URL" "$good" 2>&1) || fail "boto3 checks: $out"
echo "$out"

# Key files: 0600, and the secret's bytes are in no file of the state dir or the log.
for f in "$T"/kms/keys/*.key; do
	assert_eq "$(stat -c %a "$f")" 600 "mode of $f"
done
assert_eq "$(stat -c %a "$T/kms/ca-key.pem")" 600 "mode of ca-key.pem"
! grep -rqF "boto3-secret-value" "$T/kms" "$DEVKMS_LOG" || fail "the plaintext reached dev-kms's state or log"
grep -q "AccessDeniedException.*PCR0 mismatch" "$DEVKMS_LOG" || fail "the log lacks the denial: $(cat "$DEVKMS_LOG")"
echo "PASS devkms_boto3"
