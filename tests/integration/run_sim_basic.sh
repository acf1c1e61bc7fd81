# SPDX-License-Identifier: Apache-2.0
# kiln run --sim end to end: a buildah image -> EIF -> an enclave in namespaces:
# output, exit codes, env, workdir, USER, lo only, hostname, /dev, channels,
# cgroup limits and weights, errors (memory, corrupt, name in use, vsock without kilnd),
# signals, -d, an ordinary user, kilnd registration, and 20 runs that leave nothing behind.
source "$(dirname "$0")/../lib/common.sh"

kiln run --help >/dev/null 2>&1 || fail "kiln run is not in the command table"
[ "$(id -u)" = 0 ] || skip "needs root (the unprivileged case is tested from root via setpriv)"
export KILN_STATE_DIR=$T/state
chmod 755 "$T" # the unprivileged run below reads the EIFs

# One container, three images: a probe that reports what it sees and exits 7,
# the same as USER 1000:1000, and a sleeper.
c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app" "$mnt/work"
for a in hostname tr ps grep; do ln -sf busybox "$mnt/bin/$a"; done
cat >"$mnt/app/probe.sh" <<'SH'
#!/bin/sh
echo "host=$(hostname)"
echo "net=$(ls /sys/class/net | tr '\n' ' ')"
echo "FOO=$FOO"
echo "pwd=$(pwd) uid=$(id -u) gid=$(id -g)"
[ -d /run/kiln-chan ] && echo "chandir=yes" || echo "chandir=no"
touch /sys/probe 2>/dev/null || echo "sys=ro"
echo "dev=$(ls /dev | tr '\n' ' ')"
echo "pid1=$(tr '\0' ' ' </proc/1/cmdline)"
echo "procs=$(ps -o pid | tail -n +2 | wc -l)"
echo "initfds=$(for f in /proc/1/fd/*; do readlink "$f"; done | tr '\n' ' ')"
echo x >/dev/null && echo "devnull=ok"
echo "rand=$(head -c 4 /dev/urandom | wc -c)"
for m in /tmp /run /dev/shm; do
	grep -q " $m tmpfs [^ ]*noexec" /proc/mounts && echo "noexec=$m"
done
exit 7
SH
chmod 755 "$mnt/app/probe.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/probe.sh"]' --cmd '[]' --env FOO=bar --workingdir /work "$c"
save_image "$c" probe "$T/probe.tar" ""
bah config --user 1000:1000 "$c"
save_image "$c" probeu "$T/probeu.tar" ""
bah config --user 0 --entrypoint '["/bin/sleep","60"]' "$c"
save_image "$c" sleeper "$T/sleeper.tar" ""
for i in probe probeu sleeper; do
	kiln build -q "docker-archive:$T/$i.tar" -o "$T/$i.eif" >/dev/null
done

sim() { kiln run --sim --no-kilnd "$@"; }
wait_gone() { # path: the monitor removes it once the enclave is cleaned up
	for _ in $(seq 100); do [ -e "$1" ] || return 0; sleep 0.05; done
	fail "$1 still exists"
}

# Output, exit code, env, workdir, hostname, network, mounts, PID 1.
rc=0; out=$(sim --name t1 "$T/probe.eif" 2>&1) || rc=$?
echo "$out"
assert_eq "$rc" 7 "exit code of the app"
assert_contains "$out" "host=t1" "hostname is the enclave name"
assert_contains "$out" "net=lo " "only lo in the enclave's network namespace"
assert_contains "$out" "FOO=bar" "image Env"
for m in /tmp /run /dev/shm; do # as AWS's enclave init mounts them
	assert_contains "$out" "noexec=$m" "$m is noexec"
done
assert_contains "$out" "pwd=/work uid=0 gid=0" "WorkingDir and root user"
# kiln-init detaches the channel directory before the app starts (run_isolation.sh).
assert_contains "$out" "chandir=no" "channel directory hidden from the app"
assert_contains "$out" "sys=ro" "sysfs read-only"
fuse_dev=$([ -c /dev/fuse ] && echo "fuse " || true) # for encrypted storage (docs/storage.md)
assert_contains "$out" "dev=console fd full ${fuse_dev}null ptmx pts random shm stderr stdin stdout tty urandom zero " "/dev"
assert_contains "$out" "pid1=/.kiln/kiln-init" "kiln-init is PID 1"
assert_contains "$out" "devnull=ok" "/dev/null"
assert_contains "$out" "rand=4" "/dev/urandom"
# kiln-init's descriptors are not the app's to read (it is non-dumpable).
! grep -qE '^initfds=.*[a-z/]' <<<"$out" || fail "kiln-init's fds seen by the app: $out"

# USER 1000:1000.
rc=0; out=$(sim "$T/probeu.eif" 2>&1) || rc=$?
assert_eq "$rc" 7 "exit code (non-root user)"
assert_contains "$out" "pwd=/work uid=1000 gid=1000" "image USER"

# Errors: one line, exit 125.
rc=0; out=$(sim --memory 10 "$T/probe.eif" 2>&1) || rc=$?
assert_eq "$rc" 125 "exit code of a kiln failure"
assert_contains "$out" "not enough memory: 10 MiB requested" "memory check"
assert_eq "$(wc -l <<<"$out")" 1 "one error line"
cp "$T/probe.eif" "$T/bad.eif"
printf 'X' | dd of="$T/bad.eif" bs=1 seek=15000000 conv=notrunc 2>/dev/null
assert_fails_with "corrupt EIF $T/bad.eif: CRC mismatch" sim "$T/bad.eif"
assert_fails_with "EIF $T/none.eif: not found" sim "$T/none.eif"
assert_fails_with "not allowed" sim --name 'a/b' "$T/probe.eif"
assert_fails_with "/dev/nitro_enclaves" kiln run --nitro "$T/probe.eif"
# Over vsock kiln-init dials CID 1, where a kilnd serving another enclave would take it
# for that one: not without kilnd (the guest lab tests the second enclave with kilnd).
assert_fails_with "--channel vsock needs kilnd (drop --no-kilnd)" sim --channel vsock "$T/probe.eif"

# -d prints the id; the name is then in use; limits are in the cgroup;
# SIGTERM to the monitor reaches the app; everything goes away.
id=$(sim -d --name busy --cpus 2 --memory 300 "$T/sleeper.eif")
[[ $id =~ ^[0-9a-f]{12}$ ]] || fail "-d printed '$id', not an id"
lock=$KILN_STATE_DIR/sim/busy/lock
[ -s "$lock" ] || fail "no lock file with the monitor's pid"
monitor=$(cat "$lock")
assert_fails_with 'enclave name "busy" is already in use' sim --name busy "$T/probe.eif"
rc=0; sim -d --name busy "$T/probe.eif" 2>"$T/err" || rc=$?
assert_eq "$rc" 125 "-d: exit code of a setup failure (as in the foreground)"
assert_contains "$(cat "$T/err")" 'enclave name "busy" is already in use' "-d: the error"
# The enclave's own cgroup, read from its /proc entry (kiln/busy.HASH).
child=$(pgrep -P "$monitor" | head -1 || true)
[ -n "$child" ] || fail "no enclave process under the monitor"
cgpath=$(awk -F: '$2 == "memory" || $2 == "" { print $3; exit }' "/proc/$child/cgroup")
# Seen from the host once kiln-init runs: it opens its own pipes and
# sockets; nothing of the host's crosses (the EIF, the state dir, the
# monitor's pipes are closed before exec).
for _ in $(seq 100); do [ "$(cat "/proc/$child/comm")" = kiln-init ] && break; sleep 0.05; done
initfds=$(for f in /proc/$child/fd/*; do readlink "$f"; done | tr '\n' ' ')
! grep -qE '\.eif|/sim/|kiln-test' <<<"$initfds" || fail "host fds leaked into the enclave: $initfds"
case $cgpath in */kiln/busy.*) ;; *) fail "enclave cgroup is '$cgpath'" ;; esac
v1= v2=
[ -d "/sys/fs/cgroup/memory$cgpath" ] && v1=/sys/fs/cgroup/memory$cgpath
[ -d "/sys/fs/cgroup$cgpath" ] && [ -f "/sys/fs/cgroup$cgpath/memory.max" ] && v2=/sys/fs/cgroup$cgpath
if [ -n "$v1" ]; then
	leaf=${v1##*/}
	assert_eq "$(cat "$v1/memory.limit_in_bytes")" 314572800 "v1 memory limit"
	assert_eq "$(cat /sys/fs/cgroup/cpu/kiln/$leaf/cpu.cfs_quota_us)" 200000 "v1 cpu quota"
	assert_eq "$(cat /sys/fs/cgroup/cpuset/kiln/$leaf/cpuset.cpus)" 0-1 "v1 cpuset"
	# The weight of 2 vCPUs; kiln/ weighs at least that (the sum over its enclaves,
	# other runs' included), not one task's 1024 for all of them.
	assert_eq "$(cat /sys/fs/cgroup/cpu/kiln/$leaf/cpu.shares)" 2048 "v1 cpu.shares"
	[ "$(cat /sys/fs/cgroup/cpu/kiln/cpu.shares)" -ge 2048 ] ||
		fail "kiln/ cpu.shares $(cat /sys/fs/cgroup/cpu/kiln/cpu.shares) < its enclave's 2048"
	[ -n "$(cat "$v1/cgroup.procs")" ] || fail "enclave not in its cgroup"
elif [ -n "$v2" ]; then
	assert_eq "$(cat "$v2/memory.max")" 314572800 "v2 memory.max"
	assert_eq "$(cat "$v2/cpu.max")" "200000 100000" "v2 cpu.max"
	assert_eq "$(cat "$v2/cpu.weight")" 200 "v2 cpu.weight"
	[ "$(cat "${v2%/*}/cpu.weight")" -ge 200 ] || fail "kiln/ cpu.weight < its enclave's 200"
else
	fail "no cgroup for the enclave (root should always get one here)"
fi
kill -TERM "$monitor"
wait_gone "$KILN_STATE_DIR/sim/busy"
for _ in $(seq 100); do kill -0 "$monitor" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$monitor" 2>/dev/null || fail "monitor still running"
[ ! -d "/sys/fs/cgroup/memory$cgpath" ] && [ ! -d "/sys/fs/cgroup/cpu$cgpath" ] &&
	[ ! -f "/sys/fs/cgroup$cgpath/memory.max" ] || fail "cgroup $cgpath left behind"

# Foreground: SIGTERM to kiln run is forwarded; the exit code is 128 + 15.
kiln run --sim --no-kilnd --name fg "$T/sleeper.eif" & pid=$!
for _ in $(seq 100); do [ -s "$KILN_STATE_DIR/sim/fg/lock" ] && break; sleep 0.05; done
sleep 0.3
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
assert_eq "$rc" 143 "exit code after SIGTERM"

# 20 start/stop cycles leave no mounts, processes, cgroups or state files.
mounts_before=$(wc -l </proc/self/mountinfo)
for i in $(seq 20); do
	rc=0; sim --name loop "$T/probe.eif" >/dev/null 2>&1 || rc=$?
	assert_eq "$rc" 7 "loop run $i"
done
assert_eq "$(wc -l </proc/self/mountinfo)" "$mounts_before" "mount count after 20 runs"
assert_eq "$(grep -c -- "$T" /proc/self/mountinfo || true)" 0 "mounts under the test dir"
assert_eq "$(pgrep -f -- "kiln run .*$T/" || true)" "" "processes left"
assert_eq "$(find "$KILN_STATE_DIR" -mindepth 1 ! -path "$KILN_STATE_DIR/sim" ! -path "$KILN_STATE_DIR/eif-cache*" | wc -l)" 0 "state files left"
[ -z "$(ls -d /sys/fs/cgroup/memory/kiln/loop.* /sys/fs/cgroup/kiln/loop.* 2>/dev/null)" ] || fail "cgroup left behind"

# An ordinary user: user namespace, no cgroup (a notice says so).
if command -v setpriv >/dev/null; then
	mkdir "$T/ustate" && chown 65534:65534 "$T/ustate"
	rc=0
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
		env KILN_STATE_DIR="$T/ustate" "$(command -v kiln)" run --sim --no-kilnd --name u1 \
		"$T/probe.eif" 2>&1) || rc=$?
	echo "$out"
	assert_contains "$out" "notice: no CPU or memory limits" "cgroup notice for a user"
	assert_contains "$out" "starting /app/probe.sh" "kiln-init started as an ordinary user"
	assert_eq "$rc" 7 "exit code as an ordinary user"
	assert_contains "$out" "host=u1" "hostname as an ordinary user"
	assert_contains "$out" "net=lo " "lo only as an ordinary user"
	assert_eq "$(ls -A "$T/ustate/sim")" "" "state left by the ordinary user"
fi

# kilnd: the enclave registers with a running kilnd.
if [ -x "$KILN_ROOT/build/kilnd" ]; then
	ks=$T/kstate
	kilnd --state-dir "$ks" --foreground 2>"$T/kilnd.log" & kpid=$!
	defer "kill $kpid"
	for _ in $(seq 100); do [ -S "$ks/kilnd.sock" ] && break; sleep 0.05; done
	rc=0; KILN_STATE_DIR=$ks kiln run --sim --name kd1 "$T/probe.eif" >/dev/null 2>&1 || rc=$?
	assert_eq "$rc" 7 "exit code with kilnd"
	jq -e '.mode == "sim" and (.chan_dir | endswith("/sim/kd1/chan"))' "$ks/enclaves/kd1.json" \
		>/dev/null || fail "kilnd record: $(cat "$ks/enclaves/kd1.json")"
	# An exited enclave's name can be used again (its record is replaced).
	rc=0; KILN_STATE_DIR=$ks kiln run --sim --name kd1 "$T/probe.eif" >/dev/null 2>&1 || rc=$?
	assert_eq "$rc" 7 "name reuse after exit"

	# No kilnd serving: kiln run starts one (found beside kiln) and registers.
	ks2=$T/kstate2
	rc=0; KILN_STATE_DIR=$ks2 kiln run --sim --name kd2 "$T/probe.eif" >/dev/null 2>&1 || rc=$?
	kp=$(ss -xlpn 2>/dev/null | grep -F "$ks2/kilnd.sock" | grep -o 'pid=[0-9]*' | cut -d= -f2 | head -1 || true)
	[ -z "$kp" ] || defer "kill $kp"
	assert_eq "$rc" 7 "exit code with a started kilnd"
	[ -S "$ks2/kilnd.sock" ] || fail "kiln run did not start kilnd"
	[ -f "$ks2/enclaves/kd2.json" ] || fail "not registered with the started kilnd"
fi
echo "all sim run checks passed"
