# SPDX-License-Identifier: Apache-2.0
# Guest side of tests/integration/guestlab_enclave.sh: kilnd + a sim enclave over vsock, one GL line per check.
. /guest/lib.sh
export KILN_STATE_DIR=/run/kiln KILN_CACHE_DIR=/run/kiln-cache
S=$KILN_STATE_DIR
N=gl1
mkdir -p $S /www /tmp/gl

# Real AF_VSOCK between two processes of this guest (VMADDR_CID_LOCAL).
vsock_probe echo 5999 >/tmp/gl/echo.out 2>&1 &
gl_wait 5 grep -q listening /tmp/gl/echo.out
gl_check boot-vsock-loopback vsock_probe dial 1 5999 over-vsock
# What this kernel does with splice on vsock (the relays fall back to copies on EINVAL).
vsock_probe splice 5998 2>&1 | sed 's/^/GL INFO /'

# The parent's side: 198.18.0.1 on lo serving 100 MB, dnsmasq for one name, kilnd.
ip addr add 198.18.0.1/32 dev lo
dd if=/dev/urandom of=/www/big.bin bs=1M count=100 2>/dev/null
want=$(sha256sum /www/big.bin | cut -d' ' -f1)
httpd -p 198.18.0.1:80 -h /www
dnsmasq --keep-in-foreground --port=5353 --listen-address=127.0.0.1 --bind-interfaces \
	--no-resolv --no-hosts -u root --pid-file=/tmp/gl/dnsmasq.pid \
	--address=/files.kiln.test/198.18.0.1 \
	>/tmp/gl/dnsmasq.log 2>&1 &
start_kilnd() {
	kilnd --state-dir $S --foreground --resolver 127.0.0.1:5353 >>/tmp/gl/kilnd.log 2>&1 &
	KPID=$!
	gl_wait 10 test -S $S/kilnd.sock
}
if start_kilnd; then gl_pass kilnd-up; else gl_fail kilnd-up "no socket"; gl_dump /tmp/gl/kilnd.log; fi

# The enclave, detached; its channels are vsock to CID 1.
if kiln run --sim --channel vsock --name $N -d -p 127.0.0.1:28080:8080 -p 127.0.0.1:29001:9001 \
	/guest/glapp.eif >/tmp/gl/run.out 2>&1; then
	gl_pass enclave-started
else
	gl_fail enclave-started "$(tail -1 /tmp/gl/run.out)"
	gl_dump /tmp/gl/run.out
fi
logs() { kiln logs --stream all $N 2>&1; }
has() { logs | grep -q "$1"; }
gl_wait 60 has '^seq 3$' || { gl_fail control-channel-vsock "no log lines"; logs | tail -20; }
has '^seq 3$' && gl_pass control-channel-vsock
# Registered by CID with kilnd (no channel directory sockets), as a Nitro enclave is.
kiln ps --json >/tmp/gl/ps.json 2>&1
if grep -q '"cid": *1' /tmp/gl/ps.json && ! ls $S/sim/$N/chan/7000 >/dev/null 2>&1; then
	gl_pass registered-by-cid
else
	gl_fail registered-by-cid "$(tr -d '\n' </tmp/gl/ps.json | head -c 200)"
fi
gl_check hello sh -c "kiln logs --stream kilnd $N 2>&1 | grep -q 'kiln-init connected'"

# A second sim over vsock while $N runs: every one is CID 1, and kilnd tells vsock enclaves
# apart by CID, so it is refused in one line saying so, before its kiln-init starts (its
# channels would be $N's: the one "kiln-init connected" counted below would be two).
if kiln run --sim --channel vsock --name gl2 -d /guest/glapp.eif >/tmp/gl/run2.out 2>&1; then
	gl_fail second-vsock-refused "it started: $(tail -1 /tmp/gl/run2.out)"
elif [ "$(wc -l </tmp/gl/run2.out)" = 1 ] && ! kiln ps --all 2>&1 | grep -q gl2 &&
	grep -q "cid 1 is in use by enclave $N: kilnd tells vsock enclaves apart by CID" /tmp/gl/run2.out; then
	gl_pass second-vsock-refused
	sed 's/^/GL INFO /' /tmp/gl/run2.out
else
	gl_fail second-vsock-refused "$(tr '\n' '|' </tmp/gl/run2.out | head -c 400)"
fi

# The app cannot open AF_VSOCK (seccomp); kiln-init did (the lines above came over it).
if has '^vsock=vsock: denied: '; then gl_pass seccomp-denies-app-vsock
else gl_fail seccomp-denies-app-vsock "$(logs | grep '^vsock=')"; fi
if has '^dns=[1-9]'; then gl_pass dns; else gl_fail dns "$(logs | grep '^dns=')"; fi
if has "^egress_sha=$want\$"; then gl_pass egress-sha256
else gl_fail egress-sha256 "$(logs | grep '^egress_sha=') want $want"; fi

# Ingress: kilnd 28080 -> vsock:1:7100 -> kiln-init -> the app's httpd.
out=$(wget -q -O - http://127.0.0.1:28080/hello.txt 2>&1)
if [ "$out" = "hello through ingress" ]; then gl_pass ingress; else gl_fail ingress "$out"; fi

# Attestation: the app's document, signed by the sim NSM over vsock:1:7004, verified here.
logs | sed -n 's/^doc=//p' | base64 -d >/tmp/gl/doc.cbor 2>/dev/null
if kiln attest verify /tmp/gl/doc.cbor --root $S/sim-ca/root.pem --pcr 0="$(cat /guest/pcr0)" \
	--nonce "$(cat /guest/nonce)" >/tmp/gl/verify.out 2>&1; then
	gl_pass attestation
else
	gl_fail attestation "$(tail -1 /tmp/gl/verify.out) ($(wc -c </tmp/gl/doc.cbor) bytes)"
fi

# kilnd killed mid-stream: the app keeps logging (into kiln-init's ring) until told to stop
# through ingress, which needs the restarted kilnd; every seq line arrives once, in order.
before=$(logs | grep -c '^seq ')
kill -9 $KPID
wait $KPID 2>/dev/null
if kill -0 $KPID 2>/dev/null; then gl_fail kilnd-killed "still running"; else gl_pass kilnd-killed; fi
sleep 2 # lines pile up in kiln-init meanwhile
if start_kilnd; then gl_pass kilnd-restarted; else gl_fail kilnd-restarted "no socket"; fi
gl_wait 30 sh -c "kiln logs --stream kilnd $N 2>&1 | grep -c 'kiln-init connected' | grep -q 2"
echo stop | nc -w 5 127.0.0.1 29001 >/dev/null 2>&1
gl_wait 30 has '^seq-end ' || gl_fail logs-lossless "no seq-end line"
end=$(logs | sed -n 's/^seq-end //p')
logs | sed -n 's/^seq //p' >/tmp/gl/seq
seq 1 "${end:-0}" >/tmp/gl/want
# More lines than kilnd had before it was killed: some went through kiln-init's ring.
if [ -n "$end" ] && [ "$end" -gt "$before" ] && cmp -s /tmp/gl/seq /tmp/gl/want; then
	gl_pass logs-lossless
else
	gl_fail logs-lossless "seq-end ${end:-none}, $(wc -l </tmp/gl/seq) seq lines, $before before the kill"
	diff /tmp/gl/want /tmp/gl/seq | head -5
fi

# kiln stop ends it; kilnd records it.
if kiln stop --timeout 5 $N >/tmp/gl/stop.out 2>&1 && kiln ps --all 2>&1 | grep $N | grep -qE 'exited|stopped'; then
	gl_pass kiln-stop
else
	gl_fail kiln-stop "$(tail -1 /tmp/gl/stop.out)"
fi

# With no sim-by-cid enclave left, kilnd gives the heartbeat port back (for a Nitro runtime).
gl_check heartbeat-port-released sh -c 'vsock_probe dial 1 9000 x 2>&1 | grep "connect vsock:1:9000"'

# Context for a failure.
gl_dump /tmp/gl/run.out
gl_dump /tmp/gl/kilnd.log
kiln ps --all
logs | grep -v '^seq \|^doc=' | tail -30
gl_dump /tmp/gl/dnsmasq.log
