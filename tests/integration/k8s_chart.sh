# SPDX-License-Identifier: Apache-2.0
# deploy/helm/kiln-webhook rendered (tests/lib/helm_render.py: helm is not in
# Debian) with its defaults and with cert-manager off and node setup on; every
# object loaded with python3-kubernetes' models; the webhook's args accepted
# by the real kiln-webhook; the node setup scripts parse.
source "$(dirname "$0")/../lib/common.sh"

PY=/usr/bin/python3
$PY -c 'import kubernetes, yaml' 2>/dev/null || skip "python3-kubernetes/python3-yaml missing (scripts/deps)"
chart=$KILN_ROOT/deploy/helm/kiln-webhook
render() { $PY "$KILN_ROOT/tests/lib/helm_render.py" "$chart" kiln-system "$@"; }

render >"$T/default.yaml" || fail "rendering the defaults failed"
$PY "$KILN_ROOT/tests/lib/k8s_chart_check.py" kiln-system certmanager <"$T/default.yaml" >"$T/args1" ||
	fail "default chart objects"
render certManager.enabled=false tls.caBundle=Q0EK nodeSetup.enabled=true cpuPairs=false \
	logAll=true hugepages=1Gi >"$T/alt.yaml" || fail "rendering the alternative failed"
$PY "$KILN_ROOT/tests/lib/k8s_chart_check.py" kiln-system selfsigned "$T/setup.sh" <"$T/alt.yaml" >"$T/args2" ||
	fail "alternative chart objects"
sh -n "$T/setup.sh" || fail "the node setup script does not parse"
bash -n "$KILN_ROOT/deploy/node-setup/user-data.sh" || fail "user-data.sh does not parse"
grep -qx -- --no-cpu-pairs "$T/args2" && grep -qx -- --verbose "$T/args2" || fail "flags from values: $(cat "$T/args2")"
grep -qx -- --no-cpu-pairs "$T/args1" && fail "--no-cpu-pairs by default"

# The rendered args are ones kiln-webhook takes (certificate and port swapped for the test's).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -keyout "$T/k.pem" \
	-out "$T/c.pem" -subj /CN=t 2>/dev/null
for f in args1 args2; do
	mapfile -t args < <(sed -e "s|^--cert=.*|--cert=$T/c.pem|; s|^--key=.*|--key=$T/k.pem|; s|^--listen=.*|--listen=127.0.0.1:0|" "$T/$f")
	kiln-webhook "${args[@]}" --shutdown-delay 1 2>"$T/$f.log" & pid=$!
	for _ in $(seq 100); do grep -q "serving on port" "$T/$f.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
	grep -q "serving on port" "$T/$f.log" || fail "kiln-webhook refused the chart's args ($f): $(cat "$T/$f.log")"
	kill $pid; wait $pid || true
done

# A template outside the renderer's subset fails loudly, not silently.
cp -r "$chart" "$T/chart"
echo '{{ include "x" . }}' >>"$T/chart/templates/service.yaml"
assert_fails_with "unsupported" $PY "$KILN_ROOT/tests/lib/helm_render.py" "$T/chart" ns
echo "all k8s_chart checks passed"
