# SPDX-License-Identifier: Apache-2.0
# Signals through kiln run -> kiln-init -> the app: an app that traps SIGTERM
# and exits 3 after cleanup output; an app killed by SIGKILL (137); STOP from
# kilnd (SIGTERM, then SIGKILL after the timeout) for an app ignoring SIGTERM.
source "$(dirname "$0")/../lib/common.sh"

kiln run --help >/dev/null 2>&1 || fail "kiln run is not in the command table"
[ "$(id -u)" = 0 ] || skip "needs root"
command -v jq >/dev/null || skip "jq is not installed"
CLIENT=$KILN_ROOT/build/tools/chan_client
[ -x "$CLIENT" ] || CLIENT=$KILN_ROOT/build/tests/chan_client
ks=$T/state
export KILN_STATE_DIR=$ks

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
ln -sf busybox "$mnt/bin/kill"
cat >"$mnt/app/trap.sh" <<'SH'
#!/bin/sh
trap 'echo "cleanup: closing files"; echo "cleanup done" >&2; exit 3' TERM
echo "ready"
while :; do sleep 0.1; done
SH
cat >"$mnt/app/suicide.sh" <<'SH'
#!/bin/sh
echo "about to be killed"
kill -KILL $$
SH
cat >"$mnt/app/stubborn.sh" <<'SH'
#!/bin/sh
trap 'echo "ignoring TERM"' TERM
echo "ready"
while :; do sleep 0.1; done
SH
chmod 755 "$mnt/app/"*.sh
bah umount "$c" >/dev/null
for a in trap suicide stubborn; do
	bah config --entrypoint "[\"/app/$a.sh\"]" --cmd '[]' "$c"
	save_image "$c" "$a" "$T/$a.tar" ""
	kiln build -q "docker-archive:$T/$a.tar" -o "$T/$a.eif" >/dev/null
done

wait_for_line() { # file text
	for _ in $(seq 200); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	fail "'$2' never appeared in $1: $(cat "$1")"
}

# 1. SIGTERM to kiln run (no kilnd): forwarded to kiln-init, then the app; its trap runs.
kiln run --sim --no-kilnd --name trap "$T/trap.eif" >"$T/trap.out" 2>&1 & pid=$!
wait_for_line "$T/trap.out" ready
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
assert_eq "$rc" 3 "exit code of the app that traps SIGTERM"
assert_contains "$(cat "$T/trap.out")" "cleanup: closing files" "cleanup output (stdout)"
assert_contains "$(cat "$T/trap.out")" "cleanup done" "cleanup output (stderr)"

# 2. The app killed by SIGKILL: 128 + 9.
rc=0; out=$(kiln run --sim --no-kilnd "$T/suicide.eif" 2>&1) || rc=$?
assert_eq "$rc" 137 "exit code of an app killed by SIGKILL"
assert_contains "$out" "about to be killed" "output before the kill"

# With kilnd: the same, and the cleanup lines are in kilnd's log; state exited 3.
kilnd --state-dir "$ks" --foreground 2>"$T/kilnd.log" & kpid=$!
defer "kill $kpid 2>/dev/null"
for _ in $(seq 100); do [ -S "$ks/kilnd.sock" ] && break; sleep 0.05; done
req() { "$CLIENT" -r "$ks/kilnd.sock" "$1"; }
kiln run --sim --name trapk "$T/trap.eif" >"$T/trapk.out" 2>&1 & pid=$!
wait_for_line "$T/trapk.out" ready
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
assert_eq "$rc" 3 "exit code with kilnd"
logs=$(req '{"op":"logs","name":"trapk"}')
assert_contains "$(jq -r 'select(.stream=="stdout") | .line' <<<"$logs")" "cleanup: closing files" "cleanup line in kilnd's log"
assert_contains "$(jq -r 'select(.stream=="stderr") | .line' <<<"$logs")" "cleanup done" "stderr cleanup line in kilnd's log"
assert_eq "$(req '{"op":"ps"}' | jq -r '.enclaves[] | select(.name=="trapk") | "\(.state) \(.exit_code)"')" "exited 3" "kilnd state"

rc=0; kiln run --sim --name suicidek "$T/suicide.eif" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 137 "SIGKILL exit code with kilnd"
assert_eq "$(req '{"op":"ps"}' | jq -r '.enclaves[] | select(.name=="suicidek") | "\(.state) \(.signal)"')" "exited 9" "kilnd state after SIGKILL"

# 3. STOP from kilnd: the app ignores SIGTERM; kiln-init SIGKILLs it after the timeout.
kiln run --sim --name stub "$T/stubborn.eif" >"$T/stub.out" 2>&1 & pid=$!
wait_for_line "$T/stub.out" ready
start=$SECONDS
out=$(req '{"op":"stop","name":"stub","timeout":1}')
rc=0; wait "$pid" || rc=$?
assert_eq "$rc" 137 "exit code after STOP timeout"
# 1 s, far below kilnd's default 10 s; the bound leaves room for a loaded machine.
[ $((SECONDS - start)) -le 8 ] || fail "STOP took $((SECONDS - start)) s"
assert_contains "$(cat "$T/stub.out")" "ignoring TERM" "the app saw SIGTERM first"
assert_contains "$(cat "$T/stub.out")" "STOP timeout: killing the app" "kiln-init killed it"
req '{"op":"logs","name":"stub"}' | jq -e -s 'map(select(.event=="stop-ack")) | length == 1' >/dev/null ||
	fail "no stop-ack: $(req '{"op":"logs","name":"stub"}' | grep kilnd)"
echo "all run_signals checks passed"
