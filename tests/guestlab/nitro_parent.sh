# SPDX-License-Identifier: Apache-2.0
# Parent side of tests/integration/guestlab_nitro.sh: kiln's own Nitro vsock code (tests/tools/nitro_vsock) against real vsock.
. /gl/lib.sh
export PATH=/gl/bin
# The timeout path: nobody connects to the listener on port 9000.
out=$(nitro_vsock heartbeat 1 1000 2>&1)
case "$out" in
*"no boot heartbeat on vsock port 9000 within 1.0 s"*) gl_pass heartbeat-timeout ;;
*) gl_fail heartbeat-timeout "$out" ;;
esac
# A connection from another CID (a stray enclave) is closed and named when the wait times out.
nitro_vsock heartbeat 5 8000 /gl/stray-ready >/gl/stray.out 2>&1 &
gl_wait 20 test -e /gl/stray-ready
printf '\267' | socat -u - VSOCK-CONNECT:1:9000
wait $!
if grep -q "within 8.0 s; ignored a connection from CID 1, expected CID 5" /gl/stray.out; then
	gl_pass heartbeat-stray
else
	gl_fail heartbeat-stray "$(cat /gl/stray.out)"
fi
# The console reader against a vsock server on enclave CID 16's console port (10016).
printf 'console line 1\nconsole line 2\n' >/gl/console.txt
socat -u OPEN:/gl/console.txt VSOCK-LISTEN:10016 &
# Dialled until socat listens (before, the connection is reset).
if gl_wait 20 sh -c 'nitro_vsock console 16 >/gl/console.out' &&
	cmp -s /gl/console.txt /gl/console.out; then
	gl_pass console
else
	gl_fail console "$(cat /gl/console.out 2>&1 | tail -1)"
fi
out=$(nitro_vsock console 16 2>&1)
case "$out" in
*"refused: the enclave is not running or was not started with --debug"*) gl_pass console-refused ;;
*) gl_fail console-refused "$out" ;;
esac
# A real kiln-bootstrap's heartbeat (kiln.parent_cid=1), answered by kiln_nitro_heartbeat_wait.
# /gl/ready lets eif_init.sh exec the EIF's /init once the listener is up.
if nitro_vsock heartbeat 1 120000 /gl/ready >/gl/hb.out 2>&1; then
	gl_pass heartbeat
else
	gl_fail heartbeat "$(tail -1 /gl/hb.out)"
fi
# kiln-init finds no kilnd behind port 7000; the checks are done.
sleep 1
echo "GL END 0"
sync
poweroff -f
