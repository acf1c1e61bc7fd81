#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The real boot test: kiln-bootstrap and kiln-init as PID 1 and 2 under QEMU (TCG).
#
# Stage (a), self-contained: ramdisks are built by hand with GNU cpio in the
# EIF layout (ramdisk0 = dev/ + init; ramdisk1 = rootfs/ + cmd + env),
# concatenated as Nitro concatenates an EIF's ramdisks, and booted on the
# fallback kernel with the AWS x86_64 cmdline plus kiln.heartbeat=0:
#   1. bootstrap alone: /cmd argv (with spaces, an empty arg), /env, mounts,
#      exit status reported, VM powers off by itself;
#   2. kiln-init: config.json argv/env/workdir/user by name, xattrs applied,
#      the app's exit status passed through kiln-init and the bootstrap;
#   3. kiln-init forwarding SIGTERM to the app (128+n is not used: the app
#      traps TERM and exits 7);
#   4. heartbeat required (no kiln.heartbeat=0): fatal, VM ends, app never runs.
# Stage (b): KILN_TEST_EIF=app.eif boots an EIF's own sections (see
# qemu_boot_eif in tests/lib/qemu.sh); the lead wires `kiln build` into it.
#
# Env: QEMU_TIMEOUT (120), QEMU_MEM (512), QEMU_SMP (1), KILN_KERNEL, KEEP=1.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
. tests/lib/qemu.sh

qemu_require
for b in kiln-bootstrap kiln-init; do
	[ -x "build/$b" ] || { echo "FAIL: build/$b missing (make build/$b)"; exit 1; }
done
command -v busybox >/dev/null || { echo "skip: no busybox (busybox-static)"; exit 77; }
BUSYBOX=$(command -v busybox)
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
	ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic' ||
	{ echo "skip: $BUSYBOX is not static (install busybox-static)"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-boot.XXXXXX")
LOGS=$ROOT/build/test-logs
mkdir -p "$LOGS"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$T"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok:   $*"; }

# expect LOG LINE DESC: LOG has exactly LINE as one of its lines.
expect() {
	if grep -qxF -- "$2" "$1"; then ok "$3"; else fail "$3: no line '$2' in $1"; fi
}
# expect_re LOG REGEX DESC / reject LOG FIXED DESC
expect_re() {
	if grep -qE -- "$2" "$1"; then ok "$3"; else fail "$3: nothing matches /$2/ in $1"; fi
}
reject() {
	if grep -qF -- "$2" "$1"; then fail "$3: unexpected '$2' in $1"; else ok "$3"; fi
}

# ramdisk0: what kiln build puts in the bootstrap ramdisk without AWS blobs.
make_ramdisk0() {
	mkdir -p "$T/r0/dev"
	cp build/kiln-bootstrap "$T/r0/init"
	chmod 0755 "$T/r0/init"
	cpio_newc "$T/r0" "$T/ramdisk0"
}

# rootfs DIR: a tiny image: busybox, /etc/passwd and /etc/group, the test app.
make_rootfs() {
	local r=$1/rootfs a
	mkdir -p "$r/bin" "$r/etc" "$r/app" "$r/home/app" "$r/.kiln"
	cp "$BUSYBOX" "$r/bin/busybox"
	for a in sh echo cat id sleep kill printf ls env grep pwd; do
		ln -s busybox "$r/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n' >"$r/etc/passwd"
	printf 'root:x:0:\napp:x:1000:\nextra:x:2000:other,app\n' >"$r/etc/group"
	cp build/kiln-init "$r/.kiln/kiln-init"
	cat >"$r/app/entry.sh" <<'EOF'
#!/bin/sh
echo "ARGC=$#"
i=0
for a in "$@"; do i=$((i + 1)); echo "ARGV$i=[$a]"; done
echo "TEST_VAR=[$TEST_VAR]"
echo "ID=$(id -u):$(id -g) GROUPS=[$(id -G)]"
echo "PWD=$(pwd) HOME=$HOME"
while read -r src dst type rest; do echo "MOUNT $type $dst"; done </proc/mounts
if [ "${MODE:-}" = signal ]; then
	trap 'echo "GOT TERM"; exit 7' TERM
	kill -TERM "$PPID"   # kiln-init must forward it back to us
	sleep 30 & wait
	echo "NO SIGNAL"
fi
sleep 1 &            # an orphan-to-be for the reapers
exit 3
EOF
	chmod 0755 "$r/app/entry.sh"
}

# boot NAME EXTRA_CMDLINE: boot ramdisk0 + $T/NAME.cpio; the log, with CRs
# stripped, is $T/NAME.log (copied to build/test-logs).
boot() {
	local name=$1 extra=$2 rc
	cpio_newc "$T/$name" "$T/$name.cpio"
	qemu_boot_ramdisks "$KILN_KERNEL" "$KILN_AWS_CMDLINE $extra" "$T/$name.log" \
		"$T/ramdisk0" "$T/$name.cpio"
	rc=$?
	sed -i 's/\r$//' "$T/$name.log"
	cp "$T/$name.log" "$LOGS/boot_qemu-$name.log"
	echo "boot $name: qemu status $rc, ${QEMU_BOOT_SECONDS}s (-m $QEMU_MEM -smp $QEMU_SMP, tcg)"
	if [ $rc -eq 0 ]; then ok "$name: VM ended by itself"; else fail "$name: qemu status $rc (124 = timeout)"; fi
}

check_mounts() {
	local log=$1 m
	for m in "proc /proc" "sysfs /sys" "devtmpfs /dev" "devpts /dev/pts" "tmpfs /dev/shm" \
		"tmpfs /run" "tmpfs /tmp" "tmpfs /sys/fs/cgroup" "cgroup /sys/fs/cgroup/memory"; do
		expect "$log" "MOUNT $m" "mount $m"
	done
}

# 1. kiln-bootstrap alone runs /cmd with /env.
scenario_bootstrap() {
	local d=$T/plain
	make_rootfs "$d"
	printf '/app/entry.sh\nhello world\n  two  spaces \n\n' >"$d/cmd"
	printf 'TEST_VAR=from /env = ok\n\nPATH=/bin\n' >"$d/env"
	boot plain "kiln.heartbeat=0"
	local log=$T/plain.log
	expect "$log" "ARGC=3" "bootstrap: argc"
	expect "$log" "ARGV1=[hello world]" "bootstrap: argument with a space"
	expect "$log" "ARGV2=[  two  spaces ]" "bootstrap: argument with edge spaces"
	expect "$log" "ARGV3=[]" "bootstrap: empty argument"
	expect "$log" "TEST_VAR=[from /env = ok]" "bootstrap: env from /env"
	expect "$log" "ID=0:0 GROUPS=[0]" "bootstrap: runs as root"
	expect_re "$log" "^kiln-bootstrap: heartbeat to vsock:3:9000: .*; continuing \(kiln.heartbeat=0\)$" \
		"bootstrap: heartbeat failure tolerated"
	expect "$log" "kiln-bootstrap: /app/entry.sh exited with status 3" "bootstrap: exit status"
	check_mounts "$log"
}

# 2. kiln-init runs config.json's process as a named user.
scenario_init() {
	local d=$T/init
	make_rootfs "$d"
	cat >"$d/rootfs/.kiln/config.json" <<'EOF'
{"entrypoint": ["/app/entry.sh", "hello world", "second"],
 "env": ["TEST_VAR=kiln value 42", "PATH=/bin"],
 "workdir": "/app/work", "user": "app", "future_key": {"ignored": true}}
EOF
	printf '/app/entry.sh\ttrusted.kiln\t6b696c6e\n/missing\ttrusted.kiln\t00\n' \
		>"$d/rootfs/.kiln/xattrs"
	printf '/.kiln/kiln-init\n' >"$d/cmd"
	printf 'PATH=/bin\nTEST_VAR=bootstrap env, not for the app\n' >"$d/env"
	boot init "kiln.heartbeat=0"
	local log=$T/init.log
	expect "$log" "ARGC=2" "init: argc"
	expect "$log" "ARGV1=[hello world]" "init: argument with a space"
	expect "$log" "ARGV2=[second]" "init: second argument"
	expect "$log" "TEST_VAR=[kiln value 42]" "init: env from config.json"
	expect "$log" "ID=1000:1000 GROUPS=[1000 2000]" "init: user by name, supplementary group"
	expect "$log" "PWD=/app/work HOME=/home/app" "init: workdir created, HOME from passwd"
	expect "$log" "kiln-init: applied 1 xattr(s), 1 failed" "init: xattrs applied, failure a warning"
	expect "$log" "kiln-init: starting /app/entry.sh as 1000:1000 in /app/work" "init: start line"
	expect "$log" "kiln-bootstrap: /.kiln/kiln-init exited with status 3" "init: exit status passed through"
}

# 3. kiln-init forwards SIGTERM to the app.
scenario_signal() {
	local d=$T/signal
	make_rootfs "$d"
	printf '{"entrypoint": ["/app/entry.sh"], "env": ["MODE=signal", "PATH=/bin"]}\n' \
		>"$d/rootfs/.kiln/config.json"
	printf '/.kiln/kiln-init\n' >"$d/cmd"
	printf 'PATH=/bin\n' >"$d/env"
	boot signal "kiln.heartbeat=0"
	local log=$T/signal.log
	expect "$log" "GOT TERM" "signal: SIGTERM forwarded to the app"
	reject "$log" "NO SIGNAL" "signal: app did not time out"
	expect "$log" "kiln-bootstrap: /.kiln/kiln-init exited with status 7" "signal: trap's exit status"
}

# 4. Without kiln.heartbeat=0 a failed heartbeat is fatal (as AWS's init).
scenario_heartbeat() {
	local d=$T/hb
	make_rootfs "$d"
	printf '/app/entry.sh\n' >"$d/cmd"
	printf 'PATH=/bin\n' >"$d/env"
	boot hb ""
	local log=$T/hb.log
	expect_re "$log" "^kiln-bootstrap: fatal: heartbeat to vsock:3:9000: " "heartbeat: failure is fatal"
	reject "$log" "ARGC=" "heartbeat: app never started"
}

# Stage (b): an EIF built by kiln build (wired by the lead), e.g.
#   KILN_TEST_EIF=build/test.eif tests/integration/boot_qemu.sh
scenario_eif() {
	local log=$T/eif.log rc
	qemu_boot_eif "$KILN_TEST_EIF" "$log" "kiln.heartbeat=0"
	rc=$?
	sed -i 's/\r$//' "$log"
	cp "$log" "$LOGS/boot_qemu-eif.log"
	echo "boot eif: qemu status $rc, ${QEMU_BOOT_SECONDS:-?}s"
	[ $rc -eq 0 ] && ok "eif: VM ended by itself" || fail "eif: qemu status $rc"
	expect_re "$log" "^kiln-bootstrap: .* exited with status [0-9]+$" "eif: command ran and exited"
}

make_ramdisk0
scenario_bootstrap
scenario_init
scenario_signal
scenario_heartbeat
if [ -n "${KILN_TEST_EIF:-}" ]; then
	scenario_eif
fi

if [ $fails -gt 0 ]; then
	echo "$fails check(s) failed; logs: $LOGS/boot_qemu-*.log"
	exit 1
fi
echo "all boot checks passed"
