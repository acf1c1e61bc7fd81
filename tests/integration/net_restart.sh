#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kilnd dies (SIGKILL) under a running sim enclave and comes back with the same --state-dir: the
# app's long-lived egress flow ends instead of hanging, and once kilnd is back a new egress
# connection (by IP, and by name through kiln-init's DNS channel) and ingress work at once.
# While it is down, new egress fails instead of hanging.
set -eu
source "$(dirname "$0")/../lib/net.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
net_private_parent "$0" "$@"
source "$(dirname "$0")/../lib/common.sh"
for p in nginx dnsmasq curl openssl; do
	command -v $p >/dev/null || skip "$p is not installed (scripts/deps)"
done
hold=$KILN_ROOT/build/tools/tcp_hold
[ -x "$hold" ] || fail "build/tools/tcp_hold missing (make)"
export KILN_STATE_DIR=$T/state

# The parent: nginx (HTTP), dnsmasq (one name), and a server that greets each client with one
# byte and holds the connection until the client closes it (the long-lived flow).
mkdir -p "$T/www"
chmod 755 "$T"
echo "hello from the parent" >"$T/www/hello.txt"
make_cert files.kiln.test
start_nginx "$T/www" 198.18.0.1:80
dnsmasq --keep-in-foreground --port=5353 --listen-address=127.0.0.1 --bind-interfaces \
	--no-resolv --no-hosts --log-facility=- --address=/files.kiln.test/198.18.0.1 \
	2>>"$T/dnsmasq.log" &
defer "kill $! 2>/dev/null"
"$hold" serve 198.18.0.1 7777 2>>"$T/server.log" &
defer "kill $! 2>/dev/null"
wait_port 198.18.0.1 80
wait_port 198.18.0.1 7777
kpid=
start_kilnd() {
	kilnd --state-dir "$KILN_STATE_DIR" --foreground --resolver 127.0.0.1:5353 \
		2>>"$T/kilnd.log" &
	kpid=$!
	for _ in $(seq 100); do [ -S "$KILN_STATE_DIR/kilnd.sock" ] && return 0; sleep 0.05; done
	fail "kilnd did not start: $(tail -5 "$T/kilnd.log")"
}
defer 'kill $kpid 2>/dev/null'
start_kilnd

# The enclave: busybox (nc, httpd) + curl. run.sh opens the long-lived flow and reports when it
# ends; GET /cgi-bin/egress on its httpd (reached through ingress) makes new egress connections.
c=$(busybox_container)
mnt=$(bah mount "$c")
copy_with_libs "$mnt" /usr/bin/curl
for a in nc httpd mkfifo; do ln -sf busybox "$mnt/bin/$a"; done
mkdir -p "$mnt/app/www/cgi-bin" "$mnt/tmp"
cat >"$mnt/app/run.sh" <<'SH'
#!/bin/sh
httpd -p 8080 -h /app/www
# stdin stays open (a FIFO a sleeping writer holds), so only the far end can end this flow;
# not a pipeline: wait would wait for the whole job, sleep included
mkfifo /tmp/in
sleep 3600 >/tmp/in &
nc 198.18.0.1 7777 </tmp/in >/tmp/flow &
nc_pid=$!
i=0
until [ -s /tmp/flow ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || { echo "flow_timeout"; exit 1; }
	sleep 0.1
done
echo "flow_up greeting=$(cat /tmp/flow)"
wait $nc_pid
echo "flow_closed rc=$?"
# kilnd is still down: new connections fail instead of hanging, and the DNS query leaves
# kiln-init's channel retrying (the state kilnd comes back to).
curl -sS --max-time 60 -o /dev/null http://198.18.0.1/hello.txt 2>/dev/null
echo "down_byip rc=$?"
curl -sS --max-time 60 -o /dev/null http://files.kiln.test/hello.txt 2>/dev/null
echo "down_byname rc=$?"
exec sleep 3600
SH
cat >"$mnt/app/www/cgi-bin/egress" <<'SH'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "byip=$(curl -sS --max-time 20 http://198.18.0.1/hello.txt 2>&1)"
echo "byname=$(curl -sS --max-time 20 http://files.kiln.test/hello.txt 2>&1)"
SH
chmod 755 "$mnt/app/run.sh" "$mnt/app/www/cgi-bin/egress"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/run.sh"]' --cmd '[]' "$c"
save_image "$c" restart "$T/restart.tar" ""
cat >"$T/kiln.yaml" <<'YAML'
version: 1
name: restart
resources: {memory_mib: 512}
network:
  dns: parent
  ingress: [{port: 8080}]
YAML
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/restart.tar" -o "$T/restart.eif" >/dev/null

wait_line() { # pattern seconds what
	for _ in $(seq $(($2 * 10))); do
		grep -q "$1" "$T/run.out" && return 0
		kill -0 "$rpid" 2>/dev/null || fail "enclave ended early: $(cat "$T/run.out")"
		sleep 0.1
	done
	fail "$3: no '$1' after $2 s: $(tail -5 "$T/run.out")"
}
# The CGI's answer through ingress; curl fails only if ingress itself does.
egress_now() {
	curl -sS --max-time 60 http://127.0.0.1:18080/cgi-bin/egress 2>&1 || true
}

kiln run --sim --name rs --memory 1024 -p 127.0.0.1:18080:8080 "$T/restart.eif" \
	>"$T/run.out" 2>&1 &
rpid=$!
defer "kill $rpid 2>/dev/null"
wait_line '^flow_up greeting=k' 30 "the long-lived flow"
wait_port 127.0.0.1 18080
out=$(egress_now)
assert_contains "$out" "byip=hello from the parent" "egress by IP before the restart"
assert_contains "$out" "byname=hello from the parent" "egress by name before the restart"
echo "ok   long-lived flow up; egress and ingress work"

kill -KILL "$kpid"
wait "$kpid" 2>/dev/null || true
# kilnd's end of the channel is gone: the flow must end, well before this bound (it is a
# hang detector, not a timing check).
wait_line '^flow_closed' 30 "the long-lived flow after kilnd died"
echo "ok   the long-lived flow ended when kilnd was killed"
wait_line '^down_byname' 60 "egress while kilnd is down"
grep -Eq "^down_byip rc=(7|56)$" "$T/run.out" || fail "egress by IP while kilnd is down: $(grep '^down_byip' "$T/run.out")"
grep -q "^down_byname rc=6$" "$T/run.out" || fail "egress by name while kilnd is down: $(grep '^down_byname' "$T/run.out")"
echo "ok   while kilnd is down, new egress fails (reset, or the name does not resolve)"

start_kilnd
# The first request after kilnd is back: ingress, then egress by IP and by name from inside.
out=$(egress_now)
assert_contains "$out" "byip=hello from the parent" "egress by IP right after the restart"
assert_contains "$out" "byname=hello from the parent" "egress by name right after the restart"
kill -0 "$rpid" || fail "the enclave ended: $(tail -5 "$T/run.out")"
echo "ok   new egress (by IP and by name) and ingress work as soon as kilnd is back"

kiln stop --timeout 2 rs >/dev/null 2>&1 || true
wait "$rpid" 2>/dev/null || true
