# SPDX-License-Identifier: Apache-2.0
# Guest side of bench/guestlab_vsock: kiln egress/ingress over vsock against socat TCP->VSOCK->TCP, iperf3.
. /guest/lib.sh
export KILN_STATE_DIR=/run/kiln KILN_CACHE_DIR=/run/kiln-cache
S=$KILN_STATE_DIR
N=bench1
SECS=$(cat /guest/secs)
ROUNDS=$(cat /guest/rounds)
mkdir -p $S /tmp/b
ip addr add 198.18.0.1/32 dev lo
kilnd --state-dir $S --foreground >/tmp/b/kilnd.log 2>&1 &
gl_wait 10 test -S $S/kilnd.sock || gl_fail kilnd-up "no socket"
kiln run --sim --channel vsock --name $N -d -p 127.0.0.1:28201:5201 -p 127.0.0.1:29001:9001 \
	/guest/bench.eif >/tmp/b/run.out 2>&1 || { gl_fail enclave "$(tail -1 /tmp/b/run.out)"; exit 0; }
gl_wait 60 sh -c "kiln logs $N 2>&1 | grep -q '^ready$'" || { gl_fail enclave "not ready"; exit 0; }
# The socat chains (as with AWS's vsock-proxy): TCP -> VSOCK-CONNECT -> VSOCK-LISTEN -> TCP.
socat TCP-LISTEN:6001,bind=127.0.0.1,fork,reuseaddr VSOCK-CONNECT:1:6002 &
socat VSOCK-LISTEN:6002,fork,reuseaddr TCP:198.18.0.1:5202 &
socat TCP-LISTEN:6003,bind=127.0.0.1,fork,reuseaddr VSOCK-CONNECT:1:6004 &
socat VSOCK-LISTEN:6004,fork,reuseaddr TCP:127.0.0.1:5203 &
iperf3 -s -p 5203 -D
sleep 1

mbps() { awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i+1) == "Gbits/sec") v = $i * 1000;
	else if ($(i+1) == "Mbits/sec") v = $i } END { printf "%.0f", v + 0 }'; }
# kiln egress: the enclave's iperf3 client (started through the control port 9001) -> REDIRECT
# -> kiln-init -> vsock:1:7001 -> kilnd -> the server here, which reports the rate.
kiln_egress() {
	iperf3 -s -p 5202 -1 >/tmp/b/srv.out 2>&1 &
	sleep 0.5
	echo "egress $SECS" | nc -w 2 127.0.0.1 29001 >/dev/null 2>&1
	wait $!
	mbps </tmp/b/srv.out
}
socat_egress() {
	iperf3 -s -p 5202 -1 >/tmp/b/srv.out 2>&1 &
	sleep 0.5
	iperf3 -c 127.0.0.1 -p 6001 -t "$SECS" >/dev/null 2>&1
	wait $!
	mbps </tmp/b/srv.out
}
kiln_ingress() { iperf3 -c 127.0.0.1 -p 28201 -t "$SECS" 2>/dev/null | mbps; }
socat_ingress() { iperf3 -c 127.0.0.1 -p 6003 -t "$SECS" 2>/dev/null | mbps; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Alternating rounds, a slow moment hitting every path alike; each round starts one path later,
# so no path always runs right after the same other one.
PATHS="kiln_egress socat_egress kiln_ingress socat_ingress"
for r in $(seq "$ROUNDS"); do
	k=$(((r - 1) % 4 + 1))
	for p in $(echo $PATHS $PATHS | cut -d' ' -f$k-$((k + 3))); do
		$p >>/tmp/b/$p
		echo >>/tmp/b/$p
	done
done
for p in kiln_egress socat_egress kiln_ingress socat_ingress; do
	grep . /tmp/b/$p | median >/tmp/b/$p.med
	echo "GL INFO $p Mbit/s: $(grep . /tmp/b/$p | tr '\n' ' ')median $(cat /tmp/b/$p.med)"
done
for d in egress ingress; do
	awk -v k="$(cat /tmp/b/kiln_$d.med)" -v s="$(cat /tmp/b/socat_$d.med)" -v d=$d \
		'BEGIN { if (s > 0) printf "GL INFO ratio %s: kiln / socat = %.2f (goal >= 2)\n", d, k / s;
			 else printf "GL INFO ratio %s: no socat result\n", d }'
done
echo "stop" | nc -w 2 127.0.0.1 29001 >/dev/null 2>&1
