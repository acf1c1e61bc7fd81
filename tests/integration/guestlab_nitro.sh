#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln run --nitro's own vsock code in the guest lab (tests/lib/guestlab.sh), where no /dev/nitro_enclaves is
# needed: its heartbeat listener answers a real kiln-bootstrap (an EIF booted with kiln.parent_cid=1), its
# timeout path and a stray CID; kiln console's connect and reader against a vsock server.
# Env: QEMU_TIMEOUT, QEMU_MEM.
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
bah config --entrypoint '["/bin/true"]' --cmd '[]' "$c"
save_image "$c" glnitro "$T/glnitro.tar" ""
printf 'version: 1\nname: nitro1\nnetwork:\n  dns: none\n' >"$T/kiln.yaml"
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/glnitro.tar" -o "$T/glnitro.eif" >/dev/null

d=$T/lab
GUESTLAB_MODULES=vsock_loopback guestlab_eif_lab "$d" tests/guestlab/nitro_parent.sh \
	build/tools/nitro_vsock "$(command -v socat)"

log=$KILN_ROOT/build/test-logs/guestlab_nitro.console
mkdir -p "$(dirname "$log")"
guestlab_boot_eif "$T/glnitro.eif" "$d" "$log" || echo "guestlab: the boot did not end cleanly (see $log)"
# kiln-bootstrap logs a heartbeat it could not complete (no echo, a wrong byte) before it gives up.
! grep "kiln-bootstrap: .*heartbeat" "$log" || fail "kiln-bootstrap's heartbeat failed; console: $log"
guestlab_verdict "$log" heartbeat-timeout heartbeat-stray console console-refused heartbeat ||
	fail "guest lab checks failed; console: $log"
echo "all guest lab Nitro vsock checks passed"
