# SPDX-License-Identifier: Apache-2.0
# Attestation end to end in sim: an app fetches a document from kiln-init's API
# (127.0.0.1:50123), kilnd's sim NSM signs it with the EIF's PCRs, and the host
# verifies it against the sim root; the AWS root rejects it; bad input is 400.
source "$(dirname "$0")/../lib/common.sh"

kiln attest --help >/dev/null 2>&1 || fail "kiln attest is not in the command table"
[ "$(id -u)" = 0 ] || skip "needs root (buildah vfs, sim namespaces)"
export KILN_STATE_DIR=$T/state

nonce=$(head -c 32 /dev/urandom | xxd -p -c 64)
nonce_b64=$(xxd -r -p <<<"$nonce" | basenc --base64url | tr -d '=\n')

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
for a in wget base64 tr; do ln -sf busybox "$mnt/bin/$a"; done
cat >"$mnt/app/attest.sh" <<SH
#!/bin/sh
u=http://127.0.0.1:50123/v1/attestation
echo "doc=\$(wget -q -O - "\$u?nonce=$nonce_b64" | base64 | tr -d '\n')"
echo "doc2=\$(wget -q -O - "\$u?user_data=aGVsbG8" | base64 | tr -d '\n')"
echo "bad=\$(wget -O - "\$u?nonce=not*base64" 2>&1 | tr '\n' ' ')"
echo "unknown=\$(wget -O - "\$u?color=red" 2>&1 | tr '\n' ' ')"
SH
chmod 755 "$mnt/app/attest.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/attest.sh"]' --cmd '[]' "$c"
save_image "$c" attest "$T/attest.tar" ""
meas=$(kiln build -q "docker-archive:$T/attest.tar" -o "$T/attest.eif")
pcr0=$(jq -r .Measurements.PCR0 <<<"$meas")
pcr1=$(jq -r .Measurements.PCR1 <<<"$meas")
pcr2=$(jq -r .Measurements.PCR2 <<<"$meas")
[[ $pcr0 =~ ^[0-9a-f]{96}$ ]] || fail "no PCR0 in kiln build's output: $meas"

rc=0; out=$(kiln run --sim --name at1 "$T/attest.eif" 2>&1) || rc=$?
kp=$(ss -xlpn 2>/dev/null | grep -F "$KILN_STATE_DIR/kilnd.sock" | grep -o 'pid=[0-9]*' |
	cut -d= -f2 | head -1 || true)
[ -z "$kp" ] || defer "kill $kp"
grep -v "^doc" <<<"$out"
assert_eq "$rc" 0 "exit code of the app"
assert_contains "$out" "attestation API on 127.0.0.1:50123 (NSM: sim channel)" "API started"
[ -S "$KILN_STATE_DIR/kilnd.sock" ] || fail "kiln run did not start kilnd"

sed -n 's/^doc=//p' <<<"$out" | base64 -d >"$T/doc.cbor"
sed -n 's/^doc2=//p' <<<"$out" | base64 -d >"$T/doc2.cbor"
[ -s "$T/doc.cbor" ] || fail "the app got no document"
root=$KILN_STATE_DIR/sim-ca/root.pem
[ -s "$root" ] || fail "no sim root at $root"

# The sim root, the EIF's PCRs and the nonce: accepted.
kiln attest verify "$T/doc.cbor" --root "$root" --pcr 0="$pcr0" --pcr 1="$pcr1" \
	--pcr 2="$pcr2" --nonce "$nonce" || fail "verify with the sim root"
kiln attest verify "$T/doc2.cbor" --root "$root" --pcr 0="$pcr0" \
	--user-data "$(printf hello | xxd -p)" || fail "verify the user_data document"
# Fresh from the sim NSM: within --max-age by the clock; stale as of an hour later.
kiln attest verify "$T/doc.cbor" --root "$root" --max-age 5m || fail "verify --max-age 5m"
ts=$(kiln attest show --json "$T/doc.cbor" | jq -r .timestamp_ms)
assert_fails_with "document is 1h old, more than the maximum age 5m" \
	kiln attest verify "$T/doc.cbor" --root "$root" --max-age 5m --at $((ts + 3600000))
# The default (AWS) root, another PCR0, another nonce: rejected, naming the check.
out_aws=$(kiln attest verify "$T/doc.cbor" --pcr 0="$pcr0" --nonce "$nonce" 2>&1) &&
	fail "the AWS root accepted a sim document"
echo "AWS root: $out_aws"
assert_contains "$out_aws" "is not the pinned root" "the failure names the root check"
assert_fails_with "PCR0" kiln attest verify "$T/doc.cbor" --root "$root" \
	--pcr 0="$(printf '%096d' 0)"
assert_fails_with "nonce" kiln attest verify "$T/doc.cbor" --root "$root" --nonce 00
# show decodes it.
show=$(kiln attest show "$T/doc.cbor")
assert_contains "$show" "$pcr0" "show prints PCR0"
kiln attest show --json "$T/doc.cbor" | jq -e . >/dev/null || fail "show --json"
# Bad parameters: 400.
assert_contains "$(grep '^bad=' <<<"$out")" "400" "malformed nonce is 400"
assert_contains "$(grep '^unknown=' <<<"$out")" "400" "unknown parameter is 400"
# kilnd stopped serving the enclave's sim NSM once it ended.
[ ! -e "$KILN_STATE_DIR/sim/at1/chan/7004" ] || fail "7004 left in the channel directory"
echo "all attestation sim checks passed"
