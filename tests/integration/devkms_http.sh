# SPDX-License-Identifier: Apache-2.0
# kiln dev-kms's HTTP layer over TLS: keep-alive with pipelined requests answered in order
# on one connection, a refused request closes the connection with SerializationException,
# unauthenticated requests get KMS's error shape, the certificate verifies against DIR/ca.pem
# for the listen address and localhost; bad command lines fail with one clear line.
source "$(dirname "$0")/../lib/common.sh"
source "$KILN_ROOT/tests/lib/devkms.sh"
command -v openssl >/dev/null || skip "openssl is not installed"

assert_fails_with "--listen and --state-dir are required" kiln dev-kms --state-dir "$T/x"
assert_fails_with "expected ADDR:PORT" kiln dev-kms --listen nowhere --state-dir "$T/x"
# Regression: 99999 was taken modulo 65536 (port 34463) instead of refused.
assert_fails_with "port 99999 is not in 0-65535" timeout 20 kiln dev-kms --listen 127.0.0.1:99999 --state-dir "$T/x"
assert_fails_with "port x is not in 0-65535" kiln dev-kms --listen 127.0.0.1:x --state-dir "$T/x"
assert_fails_with "go together" kiln dev-kms --listen 127.0.0.1:0 --state-dir "$T/x" --access-key-id A
assert_fails_with "--root $T/missing.pem" kiln dev-kms --listen 127.0.0.1:0 --state-dir "$T/x" --root "$T/missing.pem"
devkms_start "$T/kms"

tls() { # name or IP to verify, then the bytes on stdin; prints what the server sent
	local v=-verify_hostname
	[[ $1 =~ ^[0-9.]+$ ]] && v=-verify_ip
	openssl s_client -quiet -verify_return_error -CAfile "$T/kms/ca.pem" "$v" "$1" \
		-connect "127.0.0.1:$DEVKMS_PORT" 2>"$T/s_client.err"
}
req='POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Length: 2\r\n\r\n{}'
out=$(printf "$req$req"'POST / HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' | tls localhost)
assert_eq "$(grep -o 'HTTP/1.1 400 Bad Request' <<<"$out" | wc -l)" 3 "three answers on one connection"
assert_eq "$(grep -o 'Connection: keep-alive' <<<"$out" | wc -l)" 2 "keep-alive until Connection: close"
assert_contains "$out" '{"__type":"MissingAuthenticationTokenException","message":"Missing Authentication Token"}' "error shape"
assert_contains "$out" "Content-Type: application/x-amz-json-1.1" "content type"
out=$(printf 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' | tls 127.0.0.1)
assert_contains "$out" '"__type":"SerializationException"' "refused request"
assert_contains "$out" "Transfer-Encoding is not supported" "refusal names the reason"
assert_contains "$out" "Connection: close" "refused request closes the connection"
printf 'x' | tls wrong.example >/dev/null 2>&1 || true
grep -qi "verify\|mismatch" "$T/s_client.err" || fail "a wrong host name verified: $(cat "$T/s_client.err")"
# The CA is kept across restarts; key files and the CA key are private.
ca=$(sha256sum <"$T/kms/ca.pem")
kill "$DEVKMS_PID"; wait "$DEVKMS_PID" 2>/dev/null || true
devkms_start "$T/kms"
assert_eq "$(sha256sum <"$T/kms/ca.pem")" "$ca" "CA reused after a restart"
assert_eq "$(stat -c %a "$T/kms/ca-key.pem")" 600 "CA key mode"
echo "PASS devkms_http"
