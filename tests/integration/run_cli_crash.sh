# SPDX-License-Identifier: Apache-2.0
# An app that crashes (SIGSEGV to itself): kiln run exits 139, kiln ps shows
# exited (139), and its logs are kept until kiln rm.
source "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (sim enclaves with cgroups)"
command -v jq >/dev/null || skip "jq is not installed"
kiln ps --help >/dev/null 2>&1 || fail "kiln ps is not in the command table"
export KILN_STATE_DIR=$T/state

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
ln -sf busybox "$mnt/bin/kill"
cat >"$mnt/app/crash.sh" <<'SH'
#!/bin/sh
echo "about to crash"
echo "last words" >&2
kill -SEGV $$
echo "not reached"
SH
chmod 755 "$mnt/app/crash.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/crash.sh"]' --cmd '[]' "$c"
save_image "$c" crash "$T/crash.tar" ""
kiln build -q "docker-archive:$T/crash.tar" -o "$T/crash.eif" >/dev/null

mkdir -p "$KILN_STATE_DIR"
kilnd --state-dir "$KILN_STATE_DIR" --foreground 2>"$T/kilnd.log" &
KPID=$!
defer "kill $KPID"
for _ in $(seq 100); do [ -S "$KILN_STATE_DIR/kilnd.sock" ] && break; sleep 0.05; done

# Foreground: the exit code is 128 + SIGSEGV.
rc=0; kiln run --sim --name boom "$T/crash.eif" >"$T/run.out" 2>&1 || rc=$?
assert_eq "$rc" 139 "kiln run's exit code"
assert_contains "$(cat "$T/run.out")" "about to crash" "console output"

# Detached: the same outcome through kilnd.
kiln run --sim -d --name boom2 "$T/crash.eif" >/dev/null
for _ in $(seq 100); do
	[ "$(kiln ps -a --json | jq -r '.[] | select(.name=="boom2") | .state')" = exited ] && break
	sleep 0.1
done
for n in boom boom2; do
	j=$(kiln ps -a --json | jq -c ".[] | select(.name==\"$n\")")
	jq -e '.state == "exited"' <<<"$j" >/dev/null || fail "$n state: $j"
	# kiln-init reports signal 11, or the runtime reports exit code 139: both read 139.
	jq -e '(.exit_code == 139 and .signal == null) or (.exit_code == null and .signal == 11)' \
		<<<"$j" >/dev/null || fail "$n outcome: $j"
	grep -Eq "^$n +[0-9a-f]{12} +- +exited \(139\) +exited [0-9]+s ago " <<<"$(kiln ps -a)" ||
		fail "ps -a row of $n: $(kiln ps -a)"
	! grep -q "^$n " <<<"$(kiln ps)" || fail "ps lists the crashed $n as running"
done

# Logs are kept after the crash.
ev=$(kiln logs --stream kilnd boom2 2>&1)
assert_contains "$ev" "enclave exited" "exit recorded in the log"
assert_contains "$ev" "kiln-init connected" "kiln-init reached kilnd"
assert_eq "$(kiln logs boom2 2>/dev/null)" "about to crash" "stdout kept"
assert_eq "$(kiln logs boom2 2>&1 >/dev/null)" "last words" "stderr kept"
[ -s "$KILN_STATE_DIR/logs/boom2.log" ] || fail "log file gone"
assert_eq "$(kiln rm boom boom2 | tr '\n' ' ')" "boom boom2 " "rm"
[ ! -e "$KILN_STATE_DIR/logs/boom2.log" ] || fail "log file kept after rm"
echo "crash checks passed"
