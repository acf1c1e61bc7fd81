#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kilnd end to end: register, a fake kiln-init on sim channels, ps, logs, garbage, restart, stop.
set -eu
cd "$(dirname "$0")/../.."
ROOT=$PWD
KILND=${KILND:-$ROOT/build/kilnd}
CLIENT=$ROOT/build/tests/chan_client
[ -x "$KILND" ] || { echo "FAIL: $KILND is not built"; exit 1; }
command -v jq >/dev/null || { echo "skip: jq is not installed"; exit 77; }
# The fake kiln-init (until the Makefile builds it with the tests).
if [ ! -x "$CLIENT" ] || [ tests/tools/chan_client.c -nt "$CLIENT" ] ||
   [ build/libkiln.a -nt "$CLIENT" ]; then
	mkdir -p build/tests
	${CC:-gcc} -std=gnu17 -Wall -Wextra -Werror -D_GNU_SOURCE -g -Isrc -o "$CLIENT" \
		tests/tools/chan_client.c build/libkiln.a -larchive -lcrypto -ljansson -lyaml -lz
fi

T=$(mktemp -d /tmp/kilnd-test.XXXXXX)
S=$T/state/kilnd.sock
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	echo "--- kilnd stderr"; tail -60 "$T/kilnd.err" 2>/dev/null || true
	exit 1
}
ok() { echo "ok   $*"; }

start_kilnd() {
	"$KILND" --foreground --state-dir "$T/state" --log-max 65536 2>>"$T/kilnd.err" &
	KPID=$!
	PIDS+=("$KPID")
	for _ in $(seq 50); do [ -S "$S" ] && return 0; sleep 0.1; done
	fail "kilnd did not create $S"
}
stop_kilnd() {
	kill -TERM "$KPID"
	wait "$KPID" || fail "kilnd exited $? on SIGTERM"
	[ ! -e "$S" ] || fail "socket left behind after SIGTERM"
}
req() { "$CLIENT" -r "$S" "$1"; }
# A stand-in for the runtime-side process (kiln run): its pid is registered.
runtime() { sleep 300 & RT=$!; PIDS+=("$RT"); }
register() { # name [pid]
	mkdir -p "$T/chan-$1"
	local pid=${2:+,\"pid\":$2}
	req "{\"op\":\"register\",\"name\":\"$1\",\"mode\":\"sim\",\"chan_dir\":\"$T/chan-$1\",\"cpus\":2,\"memory_mib\":512$pid}"
}
field() { req '{"op":"ps"}' | jq -r ".enclaves[] | select(.name==\"$1\") | .$2"; }
wait_state() { # name state
	for _ in $(seq 50); do [ "$(field "$1" state)" = "$2" ] && return 0; sleep 0.1; done
	fail "$1: state $(field "$1" state), expected $2"
}
seqs() { req "{\"op\":\"logs\",\"name\":\"$1\"}" | jq -r 'select(.seq) | .seq' | tr '\n' ' '; }
client() { "$CLIENT" "$T/chan-$1" "${@:2}"; }
has_event() { req "{\"op\":\"logs\",\"name\":\"$1\"}" | jq -c "select(.event == \"$2\")" | grep -q .; }

# ---- start, single instance ----
start_kilnd
"$KILND" --foreground --state-dir "$T/state" 2>"$T/second.err" && fail "second kilnd started"
grep -q "another kilnd is serving $S" "$T/second.err" || fail "second kilnd: $(cat "$T/second.err")"
ok "one kilnd per socket"

# ---- register, with negative cases ----
runtime
out=$(register web "$RT")
echo "$out" | jq -e '.ok and (.id | test("^[0-9a-f]{12}$"))' >/dev/null || fail "register: $out"
[ "$(echo "$out" | jq -r .control)" = "unix:$T/chan-web/7000" ] || fail "control: $out"
[ -S "$T/chan-web/7000" ] && [ -S "$T/chan-web/9000" ] || fail "channel sockets missing"
register web | jq -e '.error | test("name web is in use by a running enclave")' >/dev/null ||
	fail "duplicate name"
req '{"op":"register","name":"../x","mode":"sim","chan_dir":"/tmp"}' |
	jq -e '.error | test("not allowed")' >/dev/null || fail "bad name accepted"
req '{"op":"register","name":"n","mode":"nitro"}' |
	jq -e '.error | test("needs \"cid\"")' >/dev/null || fail "nitro without cid"
req '{"op":"register","name":"n","mode":"sim","chan_dir":"/nonexistent"}' |
	jq -e '.error | test("not a directory")' >/dev/null || fail "missing chan_dir"
req '{"op":"register","name":"n","mode":"sim","chan_dir":"/tmp","colour":1}' |
	jq -e '.error | test("unknown key \"colour\"")' >/dev/null || fail "unknown key"
req 'not json' | jq -e '.ok == false and (.error | test("not JSON"))' >/dev/null || fail "not JSON"
req '{"op":"dance"}' | jq -e '.error == "unknown op \"dance\""' >/dev/null || fail "unknown op"
req '{"op":"logs","name":"nope"}' | jq -e '.error == "no such enclave: nope"' >/dev/null ||
	fail "logs of unknown enclave"
ok "register and request errors"

# ---- a fake kiln-init: heartbeat, hello, logs; garbage on other connections ----
runtime
register db "$RT" >/dev/null
client db hello db log 2 1 sleep 1500 log 2 3 exit 0 >"$T/db.out" &
DBC=$!
out=$(client web hb hello web log 3 1 garbage oversize log 3 4 running)
[ "$out" = "$(printf 'heartbeat ok\nnext_seq 1\nclosed\nclosed')" ] || fail "client: $out"
wait "$DBC" || fail "db client failed: $(cat "$T/db.out")"
[ "$(seqs web)" = "1 2 3 4 5 6 " ] || fail "web seqs: $(seqs web)"
[ "$(seqs db)" = "1 2 3 4 " ] || fail "db seqs after garbage on web: $(seqs db)"
[ "$(req '{"op":"logs","name":"web"}' | jq -c 'select(.event=="control-error")' | wc -l)" = 2 ] ||
	fail "garbage not recorded"
grep -q "unsupported control protocol version 9; closing it" "$T/kilnd.err" || fail "no log line"
grep -q "length 1048576 exceeds maximum 65528" "$T/kilnd.err" || fail "no oversize log line"
ok "garbage and oversize frames close only their connection"

ps=$(req '{"op":"ps"}')
echo "$ps" | jq -e '.enclaves | map(.name) == ["db","web"]' >/dev/null || fail "ps: $ps"
echo "$ps" | jq -e '.enclaves[1] | .state == "running" and .last_seq == 6 and .heartbeat
	and .cpus == 2 and .memory_mib == 512 and .mode == "sim" and (.pid > 0)' >/dev/null ||
	fail "ps web: $ps"
echo "$ps" | jq -e '.enclaves[0] | .state == "exited" and .exit_code == 0' >/dev/null ||
	fail "ps db: $ps"
lines=$(req '{"op":"logs","name":"web"}' | jq -r 'select(.seq) | "\(.stream) \(.line)"')
[ "$lines" = "$(printf 'stdout line 1\nstderr line 2\nstdout line 3\nstderr line 4\nstdout line 5\nstderr line 6')" ] ||
	fail "web log lines: $lines"
req '{"op":"logs","name":"web"}' | tail -1 | jq -e '.end' >/dev/null || fail "logs end marker"
ok "ps and logs content and order"

# ---- follow, reconnect (seq resumes), exit code ----
req '{"op":"logs","name":"web","follow":true}' >"$T/follow.out" &
FOL=$!
sleep 0.3
out=$(client web hello web dropped 4 log 2 7 exit 3)
[ "$out" = "next_seq 7" ] || fail "reconnect: $out"
for _ in $(seq 50); do kill -0 "$FOL" 2>/dev/null || break; sleep 0.1; done
kill -0 "$FOL" 2>/dev/null && fail "follower still running after exit"
jq -e -s 'map(select(.seq) | .seq) == [1,2,3,4,5,6,7,8]' "$T/follow.out" >/dev/null ||
	fail "follow: $(cat "$T/follow.out")"
tail -1 "$T/follow.out" | jq -e '.end and .state == "exited" and .exit_code == 3' >/dev/null ||
	fail "follow end: $(tail -1 "$T/follow.out")"
jq -e -s 'map(select(.event == "dropped"))[0].count == 4' "$T/follow.out" >/dev/null ||
	fail "dropped event"
[ "$(field web exit_code)" = 3 ] || fail "exit code"
ok "follow, reconnect, DROPPED, exit code"

# ---- since filter ----
# (not through jq: it reads numbers as doubles, and ns timestamps need 61 bits)
cut=$(req '{"op":"logs","name":"web"}' | grep '"seq":7,' | sed 's/.*"ts":\([0-9]*\),.*/\1/')
[ "$(req "{\"op\":\"logs\",\"name\":\"web\",\"since\":$cut}" | jq -r 'select(.seq) | .seq' | tr '\n' ' ')" = "7 8 " ] ||
	fail "since"
ok "logs since"

# ---- restart: state reloaded, channels listening again, duplicates skipped ----
runtime
API_RT=$RT
register api "$API_RT" >/dev/null
client api hello api log 2 1 running >/dev/null
stop_kilnd
start_kilnd
[ "$(field api state)" = running ] || fail "api after restart: $(field api state)"
[ "$(field web state)" = exited ] || fail "web after restart"
[ -S "$T/chan-api/7000" ] || fail "api channel not listening after restart"
out=$(client api hello api log 3 2)
[ "$out" = "next_seq 3" ] || fail "api reconnect: $out"
[ "$(seqs api)" = "1 2 3 4 " ] || fail "api seqs after resend: $(seqs api)"
ok "restart reloads state and accepts kiln-init reconnecting"

# ---- kilnd killed (SIGKILL): the resend point is the log's last seq, not the state file's ----
runtime
register crash "$RT" >/dev/null
client crash hello crash log 3 1 >/dev/null # no status: the state file keeps last_seq 0
for _ in $(seq 50); do [ "$(seqs crash)" = "1 2 3 " ] && break; sleep 0.1; done
kill -KILL "$KPID"
wait "$KPID" 2>/dev/null || true
rm -f "$S" # left behind by the kill: start_kilnd waits for the new one
start_kilnd
out=$(client crash hello crash log 3 1)
[ "$out" = "next_seq 4" ] || fail "reconnect after SIGKILL: $out"
[ "$(seqs crash)" = "1 2 3 " ] || fail "crash seqs after resend: $(seqs crash)"
ok "after a SIGKILL, lines stored before it are not stored twice"

# ---- stop: kiln-init obeys STOP ----
client api hello api waitstop exit 0 >"$T/stop.out" &
STC=$!
sleep 0.3
out=$(req '{"op":"stop","name":"api","timeout":5}')
wait "$STC" || fail "stop client: $(cat "$T/stop.out")"
grep -qx "stop 15 5000" "$T/stop.out" || fail "STOP frame: $(cat "$T/stop.out")"
echo "$out" | jq -e '.ok and .state == "exited" and .exit_code == 0' >/dev/null || fail "stop: $out"
has_event api stop-ack || fail "stop ack not recorded"
ok "stop over the control channel"

# ---- stop: kiln-init ignores STOP; the runtime pid ignores SIGTERM: SIGKILL after timeout ----
bash -c 'trap "" TERM; while :; do sleep 0.2; done' &
HUNG=$!
PIDS+=("$HUNG")
register hung "$HUNG" >/dev/null
client hung hello hung running sleep 4000 >/dev/null &
HC=$!
PIDS+=("$HC")
sleep 0.3
start=$SECONDS
out=$(req '{"op":"stop","name":"hung","timeout":1}')
echo "$out" | jq -e '.state == "stopped"' >/dev/null || fail "stop hung: $out"
# kiln-init got STOP (it kills the app at the timeout itself): kilnd waits 3 s more.
[ $((SECONDS - start)) -le 6 ] || fail "stop took $((SECONDS - start)) s"
sleep 0.2
kill -0 "$HUNG" 2>/dev/null && fail "hung runtime pid not killed"
has_event hung kill || fail "kill event"
ok "stop timeout kills the runtime pid"

# ---- stop with another signal; the runtime reports the exit status ----
runtime
register sig "$RT" >/dev/null
client sig hello sig running waitstop >"$T/sig.out" &
SGC=$!
sleep 0.3
req '{"op":"stop","name":"sig","timeout":1,"signal":0}' | jq -e '.error | test("signal")' >/dev/null ||
	fail "signal 0 accepted"
req '{"op":"stop","name":"sig","timeout":5,"signal":2}' >"$T/sigstop.out" &
STP=$!
for _ in $(seq 50); do grep -q "^stop " "$T/sig.out" 2>/dev/null && break; sleep 0.1; done
grep -qx "stop 2 5000" "$T/sig.out" || fail "STOP with SIGINT: $(cat "$T/sig.out")"
req "{\"op\":\"exited\",\"name\":\"sig\",\"id\":\"000000000000\",\"exit_code\":1}" |
	jq -e '.error | test("has id")' >/dev/null || fail "exited with a wrong id accepted"
id=$(field sig id)
req "{\"op\":\"exited\",\"name\":\"sig\",\"id\":\"$id\",\"exit_code\":1,\"signal\":2}" |
	jq -e '.error | test("exactly one")' >/dev/null || fail "exited with code and signal"
req "{\"op\":\"exited\",\"name\":\"sig\",\"id\":\"$id\",\"signal\":2}" |
	jq -e '.ok and .state == "exited" and .signal == 2' >/dev/null || fail "exited op"
wait "$STP"
jq -e '.ok and .state == "exited" and .signal == 2' "$T/sigstop.out" >/dev/null ||
	fail "stop reply after the runtime's report: $(cat "$T/sigstop.out")"
kill "$SGC" 2>/dev/null || true
req '{"op":"heartbeat","name":"sig"}' | jq -e '.error | test("in sim kilnd answers")' >/dev/null ||
	fail "heartbeat op in sim"
ok "stop --signal, the runtime's exit report"

# ---- name reuse: a finished enclave is replaced, a running one is not ----
old_id=$(field sig id)
runtime
out=$(register sig "$RT")
echo "$out" | jq -e ".ok and .id != \"$old_id\"" >/dev/null || fail "re-register after exit: $out"
[ "$(field sig state)" = starting ] || fail "replaced record state: $(field sig state)"
req '{"op":"logs","name":"sig"}' | jq -e -s "map(select(.event == \"replaced\"))[0].line |
	test(\"id $old_id, exited \\\\(signal 2\\\\)\")" >/dev/null ||
	fail "replaced event: $(req '{"op":"logs","name":"sig"}')"
req '{"op":"logs","name":"sig"}' | jq -e -s 'map(select(.event == "stop")) == []' >/dev/null ||
	fail "the old run's log was kept"
register sig | jq -e '.error | test("in use by a running enclave")' >/dev/null ||
	fail "running name reused"
kill "$RT"
wait_state sig exited
ok "name reuse after exit replaces the record and its logs"

# ---- the runtime pid exiting ends the enclave ----
runtime
register gone "$RT" >/dev/null
kill "$RT"
wait_state gone exited
ok "runtime pid exit noticed"

# ---- forget ----
register live >/dev/null
req '{"op":"forget","name":"live"}' | jq -e '.error | test("stop it first")' >/dev/null ||
	fail "forget running"
req '{"op":"stop","name":"live"}' | jq -e '.state == "stopped"' >/dev/null || fail "stop live"
req '{"op":"forget","name":"live"}' | jq -e '.ok' >/dev/null || fail "forget"
[ -z "$(field live state)" ] || fail "live still listed"
[ ! -e "$T/state/enclaves/live.json" ] && [ ! -e "$T/state/logs/live.log" ] || fail "files left"
ok "forget"

# ---- log rotation at the cap (64 KiB here) ----
runtime
register chatty "$RT" >/dev/null
client chatty hello chatty log 3000 1 exit 0 >/dev/null
wait_state chatty exited
[ -e "$T/state/logs/chatty.log.1" ] || fail "no rotation"
[ "$(stat -c %s "$T/state/logs/chatty.log")" -le 65536 ] || fail "log over cap"
s=$(req '{"op":"logs","name":"chatty"}' | jq -s 'map(select(.seq) | .seq)')
echo "$s" | jq -e 'last == 3000 and (. == [range(first; 3001)])' >/dev/null ||
	fail "rotated logs not contiguous: $(echo "$s" | jq -c '[first, last, length]')"
ok "log rotation keeps the newest records contiguous"

stop_kilnd
ok "SIGTERM: clean shutdown"
echo "kilnd_basic: all passed"
