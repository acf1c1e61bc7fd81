#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Nitro half over real vsock on Debian's 6.1 kernel, in one guest-lab boot (tests/lib/guestlab.sh):
# kilnd + `kiln run --sim --channel vsock` (kiln-init dials the parent at VMADDR_CID_LOCAL, kilnd
# listens on vsock as on Nitro): the control channel and logs, egress through iptables-legacy
# REDIRECT to a server in the guest (100 MB, sha256), DNS through the channel, an ingress port,
# the sim NSM's attestation fetched by the app and verified, a second sim over vsock refused
# (kilnd tells vsock enclaves apart by CID; all are CID 1), the app denied AF_VSOCK by seccomp
# while kiln-init uses it, kilnd killed and restarted mid-stream (no log line lost), `kiln stop`.
# Env: QEMU_TIMEOUT, QEMU_MEM, KEEP=1 (see tests/lib/qemu.sh).
set -eu
cd "$(dirname "$0")/../.."
QEMU_MEM=${QEMU_MEM:-1024}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}
source tests/lib/qemu.sh
source tests/lib/guestlab.sh
source tests/lib/common.sh
source tests/lib/net.sh
[ "$(id -u)" = 0 ] || skip "needs root (buildah vfs)"
guestlab_require
command -v dnsmasq >/dev/null || skip "dnsmasq is not installed (scripts/deps)"
probe=$KILN_ROOT/build/tools/vsock_probe
[ -x "$probe" ] || fail "build/tools/vsock_probe missing (make)"

nonce=$(head -c 32 /dev/urandom | xxd -p -c 64)
nonce_b64=$(xxd -r -p <<<"$nonce" | basenc --base64url | tr -d '=\n')

# The app: serves 8080 (ingress), reports vsock/DNS/egress/attestation, then logs "seq N" until
# a connection on 9001 (ingress, so through a restarted kilnd) tells it to stop, then waits.
c=$(busybox_container)
mnt=$(bah mount "$c")
copy_with_libs "$mnt" "$probe" /usr/local/bin/vsock_probe
mkdir -p "$mnt/app" "$mnt/www" "$mnt/tmp"
for a in wget base64 tr nc httpd nslookup cut grep touch; do ln -sf busybox "$mnt/bin/$a"; done
echo "hello through ingress" >"$mnt/www/hello.txt"
cat >"$mnt/app/probe.sh" <<SH
#!/bin/sh
httpd -p 8080 -h /www
(nc -l -p 9001 >/dev/null; touch /tmp/stop) &
echo "vsock=\$(vsock_probe socket)"
echo "dns=\$(nslookup files.kiln.test 2>&1 | grep -c 198.18.0.1)"
echo "egress_sha=\$(wget -q -O - http://files.kiln.test/big.bin | sha256sum | cut -d' ' -f1)"
echo "doc=\$(wget -q -O - 'http://127.0.0.1:50123/v1/attestation?nonce=$nonce_b64' | base64 | tr -d '\n')"
i=0
while [ ! -e /tmp/stop ]; do i=\$((i + 1)); echo "seq \$i"; sleep 0.1; done
echo "seq-end \$i"
exec sleep 100000
SH
chmod 755 "$mnt/app/probe.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/probe.sh"]' --cmd '[]' "$c"
save_image "$c" glapp "$T/glapp.tar" ""
cat >"$T/kiln.yaml" <<'YAML'
version: 1
name: glapp
resources: {memory_mib: 256}
network:
  egress:
    allow: ["files.kiln.test"]
  dns: parent
  ingress: [{port: 8080}, {port: 9001}]
YAML
meas=$(kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/glapp.tar" -o "$T/glapp.eif")
pcr0=$(jq -r .Measurements.PCR0 <<<"$meas")
[[ $pcr0 =~ ^[0-9a-f]{96}$ ]] || fail "no PCR0 in kiln build's output: $meas"

# The guest: kiln, kilnd, dnsmasq, the EIF and the script below.
tree=$T/tree
guestlab_tree "$tree" tests/guestlab/enclave.sh
for b in build/kiln build/kilnd "$probe" "$(command -v dnsmasq)"; do guestlab_add_bin "$tree" "$b"; done
cp "$T/glapp.eif" "$tree/guest/glapp.eif"
printf '%s\n' "$pcr0" >"$tree/guest/pcr0"
printf '%s\n' "$nonce" >"$tree/guest/nonce"
[ -z "${GUESTLAB_SAVE:-}" ] || cp -a "$tree" "$GUESTLAB_SAVE" # for guest-side work

log=$KILN_ROOT/build/test-logs/guestlab_enclave.console
mkdir -p "$(dirname "$log")"
guestlab_boot "$tree" "$log" || echo "guestlab: the boot did not end cleanly (see $log)"
guestlab_verdict "$log" boot-vsock-loopback kilnd-up enclave-started control-channel-vsock \
	registered-by-cid hello second-vsock-refused seccomp-denies-app-vsock dns egress-sha256 ingress attestation \
	kilnd-killed kilnd-restarted logs-lossless kiln-stop heartbeat-port-released ||
	fail "guest lab checks failed; console: $log"
echo "all guest lab checks passed"
