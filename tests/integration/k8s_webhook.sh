# SPDX-License-Identifier: Apache-2.0
# kiln-webhook as a real HTTPS server: AdmissionReviews shaped as the API
# reference shows, every patch applied with python3-jsonpatch and loaded as
# a V1Pod by python3-kubernetes (tests/lib/k8s_admission.py); then the TLS
# certificate is replaced on disk and the new one is served.
source "$(dirname "$0")/../lib/common.sh"

PY=/usr/bin/python3 # Debian's, with python3-jsonpatch and python3-kubernetes
$PY -c 'import jsonpatch, kubernetes' 2>/dev/null || skip "python3-jsonpatch/python3-kubernetes missing (scripts/deps)"
command -v openssl >/dev/null || skip "openssl missing"

mkcert() { # DIR CN
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$1/k.pem" -out "$1/c.pem" -subj "/CN=$2" \
		-addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
}
# A Secret volume: files behind a ..data symlink that an update swaps.
mkdir -p "$T/v1" "$T/v2" "$T/tls"
mkcert "$T/v1" first
mkcert "$T/v2" second
ln -s "$T/v1" "$T/tls/..data"
ln -s ..data/c.pem "$T/tls/tls.crt"
ln -s ..data/k.pem "$T/tls/tls.key"

# Bad flags: one line naming what is wrong.
assert_fails_with "--cert and --key are required" kiln-webhook
assert_fails_with "is not 2Mi or 1Gi" kiln-webhook --cert x --key y --hugepages 4Mi
assert_fails_with "$T/none.pem" kiln-webhook --cert "$T/none.pem" --key "$T/tls/tls.key" --listen 127.0.0.1:0

for _ in 1 2 3; do
	port=$((20000 + RANDOM % 10000))
	kiln-webhook --cert "$T/tls/tls.crt" --key "$T/tls/tls.key" --listen "127.0.0.1:$port" \
		--reload-interval 200 --shutdown-delay 3000 2>"$T/wh.log" & pid=$!
	defer "kill $pid 2>/dev/null"
	for _ in $(seq 100); do grep -q "serving on port" "$T/wh.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
	grep -q "serving on port" "$T/wh.log" && break
done
grep -q "serving on port" "$T/wh.log" || fail "kiln-webhook did not start: $(cat "$T/wh.log")"

$PY "$KILN_ROOT/tests/lib/k8s_admission.py" "$port" "$T/v1/c.pem" || fail "admission checks failed"
assert_contains "$(cat "$T/wh.log")" "denied shop/web: container w: resources.limits.cpu is 3" "denials are logged"

# 1Gi pages, no SMT pairs, a default memory: a second instance.
port2=$((20000 + RANDOM % 10000))
kiln-webhook --cert "$T/tls/tls.crt" --key "$T/tls/tls.key" --listen "127.0.0.1:$port2" \
	--hugepages 1Gi --no-cpu-pairs --default-memory 1536Mi --shutdown-delay 1 2>"$T/wh2.log" & pid2=$!
defer "kill $pid2 2>/dev/null"
for _ in $(seq 100); do grep -q "serving on port" "$T/wh2.log" && break; kill -0 $pid2 2>/dev/null || break; sleep 0.05; done
grep -q "serving on port" "$T/wh2.log" || fail "second kiln-webhook did not start: $(cat "$T/wh2.log")"
$PY "$KILN_ROOT/tests/lib/k8s_admission.py" "$port2" "$T/v1/c.pem" 1g || fail "1Gi admission checks failed"
kill $pid2

# The Secret is updated: the new certificate is served without a restart.
served() { echo | openssl s_client -connect "127.0.0.1:$port" 2>/dev/null | openssl x509 -noout -subject 2>/dev/null; }
assert_contains "$(served)" "CN = first" "the first certificate"
ln -sfn "$T/v2" "$T/tls/..data.tmp" && mv -T "$T/tls/..data.tmp" "$T/tls/..data"
for _ in $(seq 200); do served | grep -q "CN = second" && break; sleep 0.1; done
assert_contains "$(served)" "CN = second" "the reloaded certificate"
assert_contains "$(cat "$T/wh.log")" "reloaded the TLS certificate" "reload logged"
# A broken update keeps the working certificate.
echo garbage >"$T/v2/c.pem"
for _ in $(seq 100); do grep -q "keeping the old certificate" "$T/wh.log" && break; sleep 0.1; done
assert_contains "$(cat "$T/wh.log")" "keeping the old certificate" "a bad certificate is refused"
assert_contains "$(served)" "CN = second" "still serving after a bad update"
# SIGTERM: /readyz fails at once (the endpoints drop the replica), reviews are
# still answered while that happens, then it exits 0.
ready() { curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/readyz"; }
assert_eq "$(ready)" 200 "ready before SIGTERM"
kill -TERM $pid
for _ in $(seq 100); do [ "$(ready)" = 503 ] && break; sleep 0.02; done
assert_eq "$(ready)" 503 "not ready while draining"
code=$(curl -sk -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	--data '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","object":{"metadata":{}}}}' \
	"https://127.0.0.1:$port/mutate")
assert_eq "$code" 200 "reviews answered while draining"
rc=0; wait $pid || rc=$?
assert_eq "$rc" 0 "kiln-webhook exits 0 on SIGTERM"
assert_contains "$(cat "$T/wh.log")" "draining for 3000 ms" "drain logged"
echo "all k8s_webhook checks passed"
