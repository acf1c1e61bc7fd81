# SPDX-License-Identifier: Apache-2.0
# kiln-init's log path end to end: an app writing interleaved stdout/stderr at
# >= 10k lines/s into kilnd's log (all lines, per-stream order, stream tags,
# continuous seq), kilnd restarted mid-run (no line lost or doubled), a
# fake parent sending garbage (kiln-init reconnects, the app keeps running),
# and kiln-init's own lines (start, egress denial) in their own stream.
source "$(dirname "$0")/../lib/common.sh"

kiln run --help >/dev/null 2>&1 || fail "kiln run is not in the command table"
[ "$(id -u)" = 0 ] || skip "needs root"
command -v jq >/dev/null || skip "jq is not installed"
command -v socat >/dev/null || skip "socat is not installed"
CLIENT=$KILN_ROOT/build/tools/chan_client
[ -x "$CLIENT" ] || CLIENT=$KILN_ROOT/build/tests/chan_client
[ -x "$CLIENT" ] || fail "chan_client is not built"
ks=$T/state
export KILN_STATE_DIR=$ks

# writer.sh N EVERY PAUSE_US: N numbered lines on each stream, interleaved,
# pausing PAUSE_US every EVERY pairs (0: never); then "done" on both.
c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
ln -sf busybox "$mnt/bin/usleep"
ln -sf busybox "$mnt/bin/wget"
cat >"$mnt/app/writer.sh" <<'SH'
#!/bin/sh
n=$1 every=$2 pause=$3 i=0
while [ $i -lt $n ]; do
	i=$((i + 1))
	echo "out $i"
	echo "err $i" >&2
	[ "$every" -gt 0 ] && [ $((i % every)) -eq 0 ] && usleep "$pause"
done
echo "done out"
echo "done err" >&2
SH
chmod 755 "$mnt/app/writer.sh"
bah umount "$c" >/dev/null
build() { # name args...
	local args
	args=$(printf '"%s",' "${@:2}")
	bah config --entrypoint '["/app/writer.sh"]' --cmd "[${args%,}]" "$c"
	save_image "$c" "$1" "$T/$1.tar" ""
	kiln build -q "docker-archive:$T/$1.tar" -o "$T/$1.eif" >/dev/null
}
build fast 25000 0 0          # 50k lines as fast as it goes
build paced 25000 500 100000  # 50k lines over ~5 s
build slow 4000 100 150000    # 8k lines over ~6 s
bah config --entrypoint '["/bin/sh","-c","wget -q -O- http://198.18.0.9/ || echo refused >&2"]' \
	--cmd '[]' "$c"
save_image "$c" denied "$T/denied.tar" ""
printf 'version: 1\nnetwork:\n  egress:\n    allow: []\n' >"$T/deny.yaml"
kiln build -q -c "$T/deny.yaml" "docker-archive:$T/denied.tar" -o "$T/denied.eif" >/dev/null

start_kilnd() {
	kilnd --state-dir "$ks" --foreground 2>>"$T/kilnd.log" & kpid=$!
	for _ in $(seq 100); do [ -S "$ks/kilnd.sock" ] && return 0; sleep 0.05; done
	fail "kilnd did not start: $(cat "$T/kilnd.log")"
}
stop_kilnd() { kill -TERM "$kpid"; wait "$kpid" || true; }
defer 'kill -9 $kpid 2>/dev/null'
logs() { "$CLIENT" -r "$ks/kilnd.sock" "{\"op\":\"logs\",\"name\":\"$1\"}"; }

# Every line of both streams, in order, tagged right; seq 1..N with no gap or
# dup over all records, kiln-init's own (stream kiln-init) included.
check_log() { # name pairs
	local name=$1 n=$2 recs
	recs=$(logs "$name" | grep '"seq":' || true)
	assert_eq "$(jq -r 'select(.stream=="stdout" or .stream=="stderr") | .seq' <<<"$recs" | wc -l)" \
		$((2 * n + 2)) "$name: app lines"
	assert_eq "$(jq -r 'select(.stream=="stdout") | .line' <<<"$recs" | md5sum)" \
		"$( (seq -f 'out %.0f' 1 "$n"; echo 'done out') | md5sum)" "$name: stdout lines, in order"
	assert_eq "$(jq -r 'select(.stream=="stderr") | .line' <<<"$recs" | md5sum)" \
		"$( (seq -f 'err %.0f' 1 "$n"; echo 'done err') | md5sum)" "$name: stderr lines, in order"
	assert_eq "$(jq -r '.seq' <<<"$recs" | md5sum)" "$(seq 1 "$(wc -l <<<"$recs")" | md5sum)" \
		"$name: seq continuous, no duplicate"
	jq -r 'select(.stream=="kiln-init") | .line' <<<"$recs" | grep -q '^kiln-init: starting ' ||
		fail "$name: kiln-init's start line is not in its stream"
	assert_eq "$(logs "$name" | jq -c 'select(.event=="missing" or .event=="dropped")' | wc -l)" 0 \
		"$name: no missing or dropped event"
}
state() { "$CLIENT" -r "$ks/kilnd.sock" '{"op":"ps"}' | jq -r ".enclaves[] | select(.name==\"$1\") | \"\(.state) \(.exit_code)\""; }

start_kilnd

# 1. Throughput and order: 50k lines, interleaved.
s=$(date +%s.%N)
rc=0; kiln run --sim --name fast "$T/fast.eif" >"$T/fast.out" 2>"$T/fast.err" || rc=$?
e=$(date +%s.%N)
assert_eq "$rc" 0 "exit code of the fast writer"
rate=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%d", 50002 / (e - s) }')
echo "fast: 50002 lines in $(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }') s ($rate lines/s end to end)"
[ "$rate" -ge 10000 ] || fail "only $rate lines/s"
check_log fast 25000
assert_eq "$(state fast)" "exited 0" "kilnd state after the app exits"
assert_eq "$(grep -c '^out ' "$T/fast.out")" 25000 "console copy of stdout"
assert_eq "$(grep -c '^err ' "$T/fast.err")" 25000 "console copy of stderr"

# 2. kilnd restarts while the app writes: nothing lost, nothing doubled.
kiln run --sim --name paced "$T/paced.eif" >/dev/null 2>"$T/paced.err" & rpid=$!
sleep 1.5
stop_kilnd
sleep 0.5
start_kilnd
rc=0; wait "$rpid" || rc=$?
assert_eq "$rc" 0 "exit code of the paced writer"
check_log paced 25000
logs paced | jq -e -s 'map(select(.event=="hello")) | length >= 2' >/dev/null ||
	fail "kiln-init did not reconnect: $(logs paced | grep kilnd)"
grep -q "control channel .* back; resending from log seq" "$T/paced.err" ||
	fail "no reconnect note on the console: $(grep kiln-init "$T/paced.err")"

# 3. A fake parent answering HELLO with garbage ("g" = version 103): kiln-init closes that
#    connection with an error on the console, retries, and the app goes on;
#    kilnd back, every line arrives.
kiln run --sim --name slow "$T/slow.eif" >/dev/null 2>"$T/slow.err" & rpid=$!
sleep 1
stop_kilnd
chan=$ks/sim/slow/chan
socat UNIX-LISTEN:"$chan/7000",fork,unlink-early SYSTEM:'printf garbage; sleep 1' \
	2>/dev/null & spid=$!
defer "kill $spid 2>/dev/null"
sleep 2
kill "$spid"; wait "$spid" 2>/dev/null || true
kill -0 "$rpid" || fail "the enclave ended while the parent sent garbage"
start_kilnd
rc=0; wait "$rpid" || rc=$?
assert_eq "$rc" 0 "exit code after the garbage parent"
grep -q "unsupported control protocol version 103; closing it" "$T/slow.err" ||
	fail "no console error for the garbage: $(grep kiln-init "$T/slow.err")"
check_log slow 4000

# 4. kiln-init's own lines: the egress denial from its networking thread is in
#    the kiln-init stream (not the app's stderr) and on the console once.
rc=0; kiln run --sim --name denied "$T/denied.eif" >/dev/null 2>"$T/denied.err" || rc=$?
assert_eq "$rc" 0 "exit code of the denied app"
recs=$(logs denied | grep '"seq":')
jq -r 'select(.stream=="kiln-init") | .line' <<<"$recs" |
	grep -q 'kiln-init: net: egress to 198.18.0.9:80: denied' ||
	fail "no egress denial in the kiln-init stream: $recs"
app_err=$(jq -r 'select(.stream=="stderr") | .line' <<<"$recs")
assert_contains "$app_err" "refused" "the app's stderr"
grep -q "kiln-init" <<<"$app_err" && fail "kiln-init's lines in the app's stderr: $app_err"
assert_eq "$(grep -c 'egress to 198.18.0.9:80: denied' "$T/denied.err")" 1 "denial on the console once"
out=$(kiln logs --stream kiln-init denied 2>&1)
assert_contains "$out" "kiln-init: net: egress to 198.18.0.9:80: denied" "kiln logs --stream kiln-init"
out=$(kiln logs denied 2>&1)
grep -q "kiln-init:" <<<"$out" && fail "kiln logs shows kiln-init's lines by default: $out"
stop_kilnd
echo "all run_logs checks passed"
