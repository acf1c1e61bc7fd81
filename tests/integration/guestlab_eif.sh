#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A kiln-built EIF booted as the enclave itself in the guest lab (tests/lib/guestlab.sh): its kernel,
# cmdline and ramdisks plus a test ramdisk; kiln-bootstrap is PID 1 and sends the heartbeat, and
# kiln-init dials the parent over vsock as on Nitro, both at kiln.parent_cid=1 from the cmdline.
# kilnd runs in the same guest (its own network namespace): heartbeat, control channel, an egress
# flow through iptables-legacy REDIRECT, and ingress. Env: QEMU_TIMEOUT, QEMU_MEM.
set -eu
cd "$(dirname "$0")/../.."
QEMU_MEM=${QEMU_MEM:-1024}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-240}
source tests/lib/qemu.sh
source tests/lib/guestlab.sh
source tests/lib/common.sh
[ "$(id -u)" = 0 ] || skip "needs root (buildah vfs)"
guestlab_require
command -v socat >/dev/null || skip "socat is not installed (scripts/deps)"

c=$(busybox_container)
mnt=$(bah mount "$c")
for a in wget nc; do ln -sf busybox "$mnt/bin/$a"; done
mkdir -p "$mnt/app" "$mnt/tmp"
cat >"$mnt/app/run.sh" <<'APP'
#!/bin/sh
echo "egress=$(wget -q -O - http://198.18.0.1/hello.txt)"
nc -l -p 9001 >/dev/null
echo app-done
sleep 1
APP
chmod 755 "$mnt/app/run.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/run.sh"]' --cmd '[]' "$c"
save_image "$c" glboot "$T/glboot.tar" ""
cat >"$T/kiln.yaml" <<'YAML'
version: 1
name: eif1
network:
  egress:
    allow: ["198.18.0.1"]
  dns: none
  ingress: [{port: 9001}]
YAML
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/glboot.tar" -o "$T/glboot.eif" >/dev/null

d=$T/lab
guestlab_eif_lab "$d" tests/guestlab/eif_parent.sh build/kiln build/kilnd "$(command -v socat)"

log=$KILN_ROOT/build/test-logs/guestlab_eif.console
mkdir -p "$(dirname "$log")"
guestlab_boot_eif "$T/glboot.eif" "$d" "$log" || echo "guestlab: the boot did not end cleanly (see $log)"
grep -q "kiln-bootstrap: /.kiln/kiln-init exited with status 0" "$log" ||
	fail "kiln-bootstrap did not report kiln-init's exit; console: $log"
guestlab_verdict "$log" registered control-channel heartbeat egress ingress ||
	fail "guest lab checks failed; console: $log"
echo "all guest lab EIF boot checks passed"
