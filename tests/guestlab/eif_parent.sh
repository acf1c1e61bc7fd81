# SPDX-License-Identifier: Apache-2.0
# Parent side of tests/integration/guestlab_eif.sh (own netns): kilnd for an EIF booted as the enclave; GL lines.
. /gl/lib.sh
# A failed check ends the VM at once (the app would wait for ingress forever).
FAILED=
gl_fail() { echo "GL FAIL $1: $2"; FAILED=1; }
export PATH=/gl/bin KILN_STATE_DIR=/gl/state
S=$KILN_STATE_DIR
N=eif1
mkdir -p $S /gl/www /tmp
ip link set lo up
ip addr add 198.18.0.1/32 dev lo
echo "hello from the parent" >/gl/www/hello.txt
httpd -p 198.18.0.1:80 -h /gl/www
kilnd --state-dir $S --foreground >/gl/kilnd.log 2>&1 &
gl_wait 20 test -S $S/kilnd.sock || gl_fail kilnd-up "no socket"
# As `kiln run --sim --channel vsock` registers: known by CID 1 (loopback), ingress 29001 -> 9001.
echo '{"op":"register","name":"'$N'","mode":"sim","cid":1,"ports":[{"host_ip":"127.0.0.1","host_port":29001,"port":9001}]}' |
	socat -t 5 - UNIX-CONNECT:$S/kilnd.sock >/gl/reg.out 2>&1
if grep -q '"ok": *true' /gl/reg.out; then gl_pass registered; else gl_fail registered "$(cat /gl/reg.out)"; fi
touch /gl/ready
logs() { kiln logs --stream all $N 2>&1; }
has() { logs | grep -q "$1"; }
if gl_wait 60 has 'kiln-init connected'; then gl_pass control-channel; else gl_fail control-channel "no HELLO"; fi
if has 'boot heartbeat'; then gl_pass heartbeat; else gl_fail heartbeat "kilnd saw none"; fi
if gl_wait 60 has '^egress=hello from the parent$'; then gl_pass egress
else gl_fail egress "$(logs | grep '^egress=')"; fi
# Ingress tells the app to end; kiln-bootstrap then reports its exit and powers off.
echo bye | nc -w 5 127.0.0.1 29001 >/dev/null 2>&1
if gl_wait 30 has '^app-done$'; then gl_pass ingress; else gl_fail ingress "app did not end"; fi
logs | tail -20
gl_dump /gl/kilnd.log
echo "GL END 0"
[ -z "$FAILED" ] || poweroff -f
