#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Plain storage in a sim enclave: kiln run -v DIR:/data:plain with mode: plain; the app's files
# are ordinary files in DIR, the parent's file is read by the app, both survive a restart; the
# POSIX suite on the mount (user xattrs too; chown unsupported); mode mismatches refused; kiln build
# takes frontend: nfs for it (served by NFS in tests/integration/guestlab_nfs_sim.sh).
source "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" = 0 ] || skip "needs root"
[ -c /dev/fuse ] || skip "no /dev/fuse on this host"
export KILN_STATE_DIR=$T/state
MARKER=kiln-plain-marker-$RANDOM$RANDOM

c=$(posix_suite_container)
mnt=$(bah mount "$c")
cat >"$mnt/app/run.sh" <<SH
#!/bin/sh
if [ ! -e /data/count ]; then
	mkdir /data/suite && /usr/local/bin/posix_suite /data/suite >/tmp/suite.log 2>&1
	grep -e '^FAIL' -e 'checks,' /tmp/suite.log | sed 's/^/suite: /'
	rm -rf /data/suite
fi
echo "count=\$(cat /data/count 2>/dev/null || echo 0)"
echo \$(( \$(cat /data/count 2>/dev/null || echo 0) + 1 )) >/data/count
mkdir -p /data/out && echo $MARKER >/data/out/app.txt && chmod 640 /data/out/app.txt
echo "parent says: \$(cat /data/from-parent.txt 2>&1)"
ls -ln /data/out/app.txt | awk '{print "owner=" \$3 ":" \$4}'
sync
SH
chmod 755 "$mnt/app/run.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/run.sh"]' --cmd '[]' "$c"
save_image "$c" sp "$T/sp.tar" ""
printf 'version: 1\nname: sp\nstorage:\n  - {path: /data, mode: plain}\n' >"$T/plain.yaml"
printf 'version: 1\nname: sp\nstorage:\n  - {path: /data, mode: plain, frontend: nfs}\n' >"$T/nfs.yaml"
printf 'version: 1\nname: sp\nstorage:\n  - {path: /data, mode: encrypted, key: sim}\n' >"$T/enc.yaml"
kiln build -q -c "$T/plain.yaml" "docker-archive:$T/sp.tar" -o "$T/sp.eif" >/dev/null
kiln build -q -c "$T/enc.yaml" "docker-archive:$T/sp.tar" -o "$T/enc.eif" >/dev/null
rc=0; out=$(kiln build -q -c "$T/nfs.yaml" "docker-archive:$T/sp.tar" -o "$T/nfs.eif" 2>&1) || rc=$?
assert_eq "$rc" 0 "kiln build of mode: plain with frontend: nfs: $out"
V=$T/vol

run() { rc=0; out=$(kiln run --sim --name sp1 -v "$V:/data${2-:plain}" "$1" 2>&1) || rc=$?; }
run "$T/sp.eif"
assert_eq "$rc" 0 "first run: $out"
assert_contains "$out" "storage /data: mounted (plain, fuse)"
assert_contains "$out" "mode: plain: the parent reads and changes these files"
assert_contains "$out" "count=0"
assert_contains "$out" "owner=0:0" "the app's own uid on the mount"
echo "$out" | grep '^suite: ' || true
assert_contains "$out" "suite: posix_suite: " "the POSIX suite ran on the plain mount"
bad=$(echo "$out" | grep '^suite: FAIL' | grep -v -e 'chown(' || true)
[ -z "$bad" ] || fail "POSIX suite failures besides chown: $bad"

# the app's files are ordinary files in DIR, with the content and mode it gave them
assert_eq "$(cat "$V/out/app.txt")" "$MARKER" "the app's file on the parent"
assert_eq "$(stat -c %a "$V/out/app.txt")" 640
assert_eq "$(cat "$V/count")" 1
[ ! -e "$V/suite" ] || fail "the suite's directory was not removed"

# the parent writes a file; the app reads it after a restart, and its count survived
echo "hello from the parent" >"$V/from-parent.txt"
run "$T/sp.eif"
assert_eq "$rc" 0 "second run: $out"
assert_contains "$out" "count=1" "data back after an enclave restart"
assert_contains "$out" "parent says: hello from the parent"

# kilnd restart: kiln run starts a new one, which serves the same directory
kp=$(ss -xlpn 2>/dev/null | grep -F "$KILN_STATE_DIR/kilnd.sock" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
[ -n "$kp" ] || fail "no kilnd found serving $KILN_STATE_DIR"
kill "$kp"
for _ in $(seq 100); do kill -0 "$kp" 2>/dev/null || break; sleep 0.05; done
run "$T/sp.eif"
assert_contains "$out" "count=2" "data back after a kilnd restart"

# a symlink the parent plants pointing outside is not followed
echo outside-secret >"$T/outside.txt"
ln -s "$T/outside.txt" "$V/from-parent.txt.new" && mv -T "$V/from-parent.txt.new" "$V/from-parent.txt"
run "$T/sp.eif"
assert_eq "$rc" 0 "third run: $out"
[[ $out != *outside-secret* ]] || fail "the app read through a planted symlink: $out"
assert_contains "$out" "parent says: cat: can't open '/data/from-parent.txt'"

# -v without :plain for a plain volume: refused, the app never runs
run "$T/sp.eif" ""
[ "$rc" != 0 ] || fail "a plain volume was mounted from a directory registered encrypted"
assert_contains "$out" "the parent keeps this volume encrypted"
[[ $out != *count=* ]] || fail "the app ran without its volume"

# and an encrypted volume from a directory given with :plain: refused too
run "$T/enc.eif"
[ "$rc" != 0 ] || fail "an encrypted volume was mounted from a directory registered plain"
assert_contains "$out" "the parent keeps this volume as plain files"
[[ $out != *count=* ]] || fail "the app ran without its volume"
echo "plain storage in a sim enclave: files on the parent, restart, suite, refusals, nfs build ok"
