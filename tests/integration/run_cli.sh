# SPDX-License-Identifier: Apache-2.0
# kiln ps / logs / stop / rm / console against real sim enclaves and a real kilnd:
# the table and JSON, log streams, follow, since, stop (trapped TERM -> exited (3),
# ignored TERM -> killed after --timeout), name reuse, and the error lines.
source "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (sim enclaves with cgroups)"
command -v jq >/dev/null || skip "jq is not installed"
kiln ps --help >/dev/null 2>&1 || fail "kiln ps is not in the command table"
export KILN_STATE_DIR=$T/state

# One container, four images: a talker that traps TERM and exits 3, one that
# ignores TERM, one that prints three lines over a second and exits 0, one
# that exits 5 at once.
c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
cat >"$mnt/app/talk.sh" <<'SH'
#!/bin/sh
trap 'echo "got TERM, cleaning up"; exit 3' TERM
echo "hello stdout"
echo "hello stderr" >&2
i=0
while :; do i=$((i+1)); echo "tick $i"; sleep 0.2; done
SH
cat >"$mnt/app/stubborn.sh" <<'SH'
#!/bin/sh
trap '' TERM
echo "ignoring TERM"
while :; do sleep 0.2; done
SH
cat >"$mnt/app/short.sh" <<'SH'
#!/bin/sh
for i in 1 2 3; do echo "short $i"; sleep 0.4; done
echo "short done" >&2
SH
chmod 755 "$mnt/app/"*.sh
bah umount "$c" >/dev/null
for i in talk stubborn short; do
	bah config --entrypoint "[\"/app/$i.sh\"]" --cmd '[]' "$c"
	save_image "$c" "$i" "$T/$i.tar" ""
	kiln build -q "docker-archive:$T/$i.tar" -o "$T/$i.eif" >/dev/null
done
bah config --entrypoint '["/bin/sh","-c","exit 5"]' "$c"
save_image "$c" five "$T/five.tar" ""
kiln build -q "docker-archive:$T/five.tar" -o "$T/five.eif" >/dev/null

# ---- no kilnd yet: one clear line each ----
sock=$KILN_STATE_DIR/kilnd.sock
assert_fails_with "kilnd is not running (no $sock): no enclaves" kiln ps
assert_fails_with "kilnd is not running (no $sock): no such enclave: web" kiln logs web
assert_fails_with "kilnd is not running (no $sock): no such enclave: web" kiln stop web

mkdir -p "$KILN_STATE_DIR"
kilnd --state-dir "$KILN_STATE_DIR" --foreground 2>"$T/kilnd.log" &
KPID=$!
# On any exit: enclaves go first (through kilnd, else by their monitors' kill
# signal, SIGRTMIN+2), then kilnd.
end_all() {
	kiln ps -a --json 2>/dev/null | jq -r '.[].name' | xargs -r kiln rm -f >/dev/null 2>&1 || true
	for l in "$KILN_STATE_DIR"/sim/*/lock; do [ -s "$l" ] && kill -36 "$(cat "$l")" 2>/dev/null; done
	kill "$KPID" 2>/dev/null
}
defer end_all
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

field() { kiln ps --all --json | jq -r ".[] | select(.name==\"$1\") | .$2"; }
wait_state() { # name state-regex
	for _ in $(seq 100); do [[ $(field "$1" state) =~ $2 ]] && return 0; sleep 0.1; done
	fail "$1: state $(field "$1" state), expected $2"
}
wait_line() { # name text: the app's line has reached kilnd
	for _ in $(seq 50); do grep -qF -- "$2" <<<"$(kiln logs "$1" 2>&1)" && return 0; sleep 0.1; done
	return 1
}

# ---- two detached enclaves in ps ----
id1=$(kiln run --sim -d --name web --cpus 1 --memory 256 "$T/talk.eif")
id2=$(kiln run --sim -d --name stub --debug "$T/stubborn.eif")
[[ $id1 =~ ^[0-9a-f]{12}$ && $id2 =~ ^[0-9a-f]{12}$ ]] || fail "ids: $id1 $id2"
table=$(kiln ps)
echo "$table"
head -1 <<<"$table" | grep -Eq '^NAME +ID +CID +STATE +UPTIME +CPUS +MEMORY +MODE$' || fail "header: $table"
grep -Eq "^web +$id1 +- +(starting|running) +[0-9]+s +1 +256MiB +sim$" <<<"$table" || fail "web row: $table"
grep -Eq "^stub +$id2 +- +(starting|running) " <<<"$table" || fail "stub row: $table"
# Columns line up: every row's ID column starts where the header's does.
col=$(head -1 <<<"$table" | grep -bo ' ID ' | cut -d: -f1)
for row in 2 3; do
	[ "$(sed -n "${row}p" <<<"$table" | cut -c$((col + 2))-$((col + 13)))" != "" ] || fail "alignment"
	[[ "$(sed -n "${row}p" <<<"$table" | cut -c$((col + 2))-$((col + 13)))" =~ ^[0-9a-f]{12}$ ]] ||
		fail "ID column misaligned in row $row: $table"
done
kiln ps --json | jq -e --arg id "$id1" 'length == 2 and (.[] | select(.name == "web") |
	.id == $id and .mode == "sim" and .cpus == 1 and .memory_mib == 256 and
	(.state | test("starting|running")) and .exit_code == null and (.pid > 0))' >/dev/null ||
	fail "ps --json: $(kiln ps --json)"

# ---- logs: stdout lines to stdout, stderr lines to stderr ----
wait_line web "hello stdout" || fail "the app's output never reached kilnd"
{
	kiln logs web >"$T/out" 2>"$T/err"
	grep -qx "hello stdout" "$T/out" || fail "stdout line: $(cat "$T/out")"
	grep -qx "tick 1" "$T/out" || fail "tick line"
	grep -qx "hello stderr" "$T/err" || fail "stderr line: $(cat "$T/err")"
	! grep -q "hello stderr" "$T/out" || fail "stderr line on stdout"
	! grep -q "kilnd:" "$T/out" "$T/err" || fail "kilnd events shown by default"
	assert_eq "$(kiln logs --stream stderr web 2>&1)" "hello stderr" "--stream stderr"
	kiln logs -t web >"$T/ts" 2>/dev/null
	head -1 "$T/ts" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z hello stdout$' ||
		fail "--timestamps: $(head -1 "$T/ts")"
}
grep -q "registered (sim, id $id1)" <<<"$(kiln logs --stream kilnd web 2>&1)" ||
	fail "kilnd events: $(kiln logs --stream kilnd web 2>&1)"

# ---- --since: a time after everything so far shows nothing old ----
sleep 1.1
since=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
assert_eq "$(kiln logs --since "$since" --stream kilnd web 2>&1)" "" "--since RFC 3339 (nothing new)"
assert_contains "$(kiln logs --since 1h --stream kilnd web 2>&1)" "registered" "--since 1h"
assert_eq "$(kiln logs --since "$(($(date +%s) + 5))" --stream all web 2>&1)" "" "--since unix"
assert_fails_with 'logs: --since "yesterday": not a duration' kiln logs --since yesterday web

# ---- stop: TERM reaches the app, which exits 3 ----
start=$SECONDS
assert_eq "$(kiln stop web)" "web" "stop prints the name"
[ $((SECONDS - start)) -le 3 ] || fail "stop of a TERM-trapping app took $((SECONDS - start)) s: $(kiln logs -t --stream all web 2>&1 | grep -v tick)"
assert_eq "$(field web state)" "exited" "state after stop"
assert_eq "$(field web exit_code)" 3 "exit code after stop"
grep -Eq "^web +$id1 +- +exited \(3\) +exited [0-9]+s ago " <<<"$(kiln ps -a)" || fail "ps -a: $(kiln ps -a)"
! grep -q "^web " <<<"$(kiln ps)" || fail "ps without --all lists an exited enclave"
assert_contains "$(kiln logs web)" "got TERM, cleaning up" "the app's TERM handler ran"
assert_eq "$(kiln stop web)" "web" "stop of an exited enclave"

# ---- stop: the app ignores TERM -> killed after --timeout 1 ----
start=$SECONDS
assert_eq "$(kiln stop --timeout 1 stub)" "stub" "stop --timeout 1"
dt=$((SECONDS - start))
[ $dt -ge 1 ] && [ $dt -le 8 ] || fail "stop --timeout 1 took $dt s"
[[ $(kiln ps -a | grep '^stub ') =~ (exited\ \(137\)|stopped) ]] || fail "stub: $(kiln ps -a)"
kiln logs --stream kilnd stub >"$T/ev" 2>&1; grep -q "sent STOP\|no control channel" "$T/ev" || fail "no stop event: $(cat "$T/ev")"
[ ! -e "$KILN_STATE_DIR/sim/stub" ] || fail "the monitor did not clean up after the kill"

# ---- console ----
assert_fails_with "enclave stub is not running" kiln console stub
id3=$(kiln run --sim -d --name quiet "$T/talk.eif")
assert_fails_with "enclave quiet was not started with --debug" kiln console quiet
id4=$(kiln run --sim -d --debug --name dbg "$T/short.eif")
rc=0; out=$(timeout 10 kiln console dbg 2>&1) || rc=$?
assert_eq "$rc" 0 "console ends when the enclave does"
assert_contains "$out" "its console is the terminal of \`kiln run\`" "sim console notice"

# ---- logs -f follows until the enclave exits ----
id5=$(kiln run --sim -d --name fol "$T/short.eif")
rc=0; timeout 20 kiln logs -f fol >"$T/fol.out" 2>"$T/fol.err" || rc=$?
assert_eq "$rc" 0 "logs -f ends with the enclave"
wait_state fol '^exited$'
assert_eq "$(field fol exit_code)" 0 "short's exit code"
assert_eq "$(cat "$T/fol.out")" "$(printf 'short 1\nshort 2\nshort 3')" "followed stdout"
assert_eq "$(cat "$T/fol.err")" "short done" "followed stderr"

# ---- rm, name reuse ----
assert_fails_with "enclave quiet is running: stop it first" kiln rm quiet
# (the sim's own lock says it before kilnd would: 'enclave name "quiet" is already in use')
assert_fails_with "quiet\" is already in use" \
	kiln run --sim -d --name quiet "$T/talk.eif"
assert_eq "$(kiln rm -f quiet)" quiet "rm -f"
assert_eq "$(kiln rm web)" web "rm"
[ ! -e "$KILN_STATE_DIR/enclaves/web.json" ] && [ ! -e "$KILN_STATE_DIR/logs/web.log" ] ||
	fail "rm left files"
assert_fails_with "no such enclave: web" kiln logs web
# fol has exited: the same name runs again, replacing the old record and log.
rc=0; kiln run --sim --name fol "$T/five.eif" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 5 "rerun under a finished name"
[ "$(field fol id)" != "$id5" ] || fail "the old record was not replaced"
assert_eq "$(field fol exit_code)" 5 "exit code of the new run"
grep -qF "replaces the finished enclave fol (id $id5, exited (0))" <<<"$(kiln logs --stream kilnd fol 2>&1)" ||
	fail "replace note: $(kiln logs --stream kilnd fol 2>&1)"
! grep -q "short" <<<"$(kiln logs fol)" || fail "the old run's lines are still in the log"

# ---- errors for unknown names ----
assert_fails_with "kiln: logs: no such enclave: nope" kiln logs nope
assert_fails_with "kiln: stop: no such enclave: nope" kiln stop nope
assert_fails_with "kiln: rm: no such enclave: nope" kiln rm nope
assert_fails_with "kiln: console: no such enclave: nope" kiln console nope
assert_fails_with "not a signal name" kiln stop --signal BOGUS web
assert_fails_with "--timeout \"-1\"" kiln stop --timeout -1 web
rc=0; kiln logs nope 2>"$T/err" || rc=$?
assert_eq "$rc" 1 "exit code of an error"
assert_eq "$(wc -l <"$T/err")" 1 "one error line"

kiln rm -f stub dbg fol >/dev/null
assert_eq "$(kiln ps -a --json)" "[]" "everything forgotten"
echo "all kiln ps/logs/stop/rm/console checks passed"
