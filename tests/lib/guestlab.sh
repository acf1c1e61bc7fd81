# SPDX-License-Identifier: Apache-2.0
# The guest lab: boot Debian's cloud kernel under QEMU with real AF_VSOCK (vsock_loopback) and iptables-legacy.
# Source it after tests/lib/qemu.sh: . tests/lib/guestlab.sh
#
# How this works: the guest is the fallback EIF kernel (scripts/deps puts it in
# /var/lib/kiln/kernel) with its own package's modules (scripts/deps unpacks
# them and runs depmod in /var/cache/kiln/guestlab/VERSION). One cpio ramdisk
# holds busybox-static, the modules GUESTLAB_MODULES need (dependencies from
# modules.dep, loaded with insmod in order), the programs under test (static,
# or with their shared libraries copied at their paths) and a test script.
# The ramdisk's /init copies itself into a tmpfs and switch_roots there (the
# sim's pivot_root refuses the initramfs as the old root), loads the modules,
# brings lo up, runs /guest/test.sh, prints "GL END RC" and powers off.
# Processes in the guest reach each other over vsock at VMADDR_CID_LOCAL (1).
#
# The serial protocol: the test script prints one line per check,
#   GL PASS NAME        or        GL FAIL NAME: WHY
# (gl_pass / gl_fail / gl_check in /guest/lib.sh); "GL INFO TEXT" reports a
# fact (e.g. what the kernel does with splice on vsock) without a verdict.
# Nothing else should start with "GL ". guestlab_verdict reads the console
# log on the host.

GUESTLAB_CACHE=${KILN_GUESTLAB_CACHE:-/var/cache/kiln/guestlab}
GUESTLAB_MODULES=${GUESTLAB_MODULES:-"vsock_loopback ip_tables iptable_nat xt_REDIRECT"}

# guestlab_require: exit 77 (skip) when QEMU, the kernel, its modules or
# busybox-static are missing. Sets GUESTLAB_KVER and GUESTLAB_MODDIR.
guestlab_require() {
	qemu_require
	GUESTLAB_KVER=$(cat "$(dirname "$KILN_KERNEL")/version" 2>/dev/null)
	GUESTLAB_MODDIR=$GUESTLAB_CACHE/$GUESTLAB_KVER/lib/modules/$GUESTLAB_KVER
	[ -n "$GUESTLAB_KVER" ] && [ -s "$GUESTLAB_MODDIR/modules.dep" ] ||
		{ echo "skip: no kernel modules in $GUESTLAB_MODDIR (run scripts/deps)"; exit 77; }
	GUESTLAB_BUSYBOX=$(command -v busybox) ||
		{ echo "skip: no busybox (busybox-static)"; exit 77; }
	[[ $(ldd "$GUESTLAB_BUSYBOX" 2>&1 || true) == *"not a dynamic"* ]] ||
		{ echo "skip: $GUESTLAB_BUSYBOX is not static (install busybox-static)"; exit 77; }
}

# guestlab_module_order MODULE...: the .ko paths (relative to the module
# directory) to insmod, dependencies first, each once.
guestlab_module_order() {
	awk -v want="$*" '
	BEGIN { n = split(want, w, " ") }
	{
		name = $1; sub(/:$/, "", name)
		base = name; sub(/.*\//, "", base); sub(/\.ko(\.[a-z]+)?$/, "", base)
		path[base] = name
		deps[base] = ""
		for (i = NF; i >= 2; i--) deps[base] = deps[base] " " $i
	}
	function emit(p,   b, k, d, m) {
		if (seen[p]++) return
		b = p; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b)
		# modules.dep lists the closure; modprobe loads it last to first.
		k = split(deps[b], d, " ")
		for (m = 1; m <= k; m++) if (!seen[d[m]]++) print d[m]
		print p
	}
	END {
		for (i = 1; i <= n; i++) {
			if (!(w[i] in path)) { print "missing module " w[i] > "/dev/stderr"; exit 1 }
			emit(path[w[i]])
		}
	}' "$GUESTLAB_MODDIR/modules.dep"
}

# guestlab_add_bin DIR PROGRAM [DEST]: copy PROGRAM into the ramdisk tree
# DIR at DEST (default /usr/local/bin/NAME), with its shared libraries.
guestlab_add_bin() {
	local dir=$1 bin=$2 dest=${3:-/usr/local/bin/$(basename "$2")} lib
	mkdir -p "$dir$(dirname "$dest")"
	cp -L "$bin" "$dir$dest"
	for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$dir$lib" ] && continue
		mkdir -p "$dir$(dirname "$lib")"
		cp -L "$lib" "$dir$lib"
	done
}

# guestlab_tree DIR TEST_SCRIPT: the ramdisk tree: busybox, modules, /init,
# /guest/lib.sh and TEST_SCRIPT as /guest/test.sh. The caller adds programs
# (guestlab_add_bin) and data under DIR/guest before guestlab_boot.
guestlab_tree() {
	local dir=$1 script=$2 m
	mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,guest,lib/modules} || return 1
	cp "$GUESTLAB_BUSYBOX" "$dir/bin/busybox"
	ln -s busybox "$dir/bin/sh"
	guestlab_modules "$dir/lib/modules" "$dir/etc/guestlab-modules" || return 1
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n' >"$dir/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
	printf '127.0.0.1 localhost\n' >"$dir/etc/hosts"
	cat >"$dir/init" <<'EOF'
#!/bin/busybox sh
# The guest lab's PID 1: move to a tmpfs root, load modules, run the test, power off.
if [ ! -e /.guestlab-moved ]; then
	/bin/busybox mkdir -p /newroot
	/bin/busybox mount -t tmpfs -o mode=0755 root /newroot
	for f in /*; do [ "$f" = /newroot ] || /bin/busybox cp -a "$f" /newroot/; done
	/bin/busybox touch /newroot/.guestlab-moved
	exec /bin/busybox switch_root /newroot /init
fi
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /root
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
while read -r m; do
	insmod "/lib/modules/$m" || echo "GL FAIL boot: insmod $m"
done </etc/guestlab-modules
ip link set lo up
echo "GL BOOTED $(uname -r)"
cd /guest && sh /guest/test.sh </dev/null
echo "GL END $?"
sync
poweroff -f
EOF
	chmod 755 "$dir/init"
	guestlab_lib "$dir/guest/lib.sh"
	cp "$script" "$dir/guest/test.sh"
}

# guestlab_modules DIR LIST: GUESTLAB_MODULES' .ko files under DIR, and
# their paths relative to DIR, in load order, in LIST.
guestlab_modules() {
	local dir=$1 list=$2 m
	guestlab_module_order $GUESTLAB_MODULES >"$list" || return 1
	while read -r m; do
		mkdir -p "$dir/$(dirname "$m")"
		cp "$GUESTLAB_MODDIR/$m" "$dir/$m"
	done <"$list"
}

# guestlab_lib FILE: the guest-side helpers (gl_pass, gl_fail, gl_check, gl_wait, gl_dump).
guestlab_lib() {
	cat >"$1" <<'EOF'
# Guest-side helpers: one line per check on the console.
gl_pass() { echo "GL PASS $1"; }
gl_fail() { echo "GL FAIL $1: $2"; }
# gl_check NAME CMD...: PASS when CMD succeeds, else FAIL with its last output line.
gl_check() {
	local n=$1 out
	shift
	if out=$("$@" 2>&1); then gl_pass "$n"; else gl_fail "$n" "$(echo "$out" | tail -1)"; fi
}
# gl_wait SECONDS CMD...: retry CMD every 0.2 s until it succeeds; 1 on timeout.
gl_wait() {
	local i=0 n=$(($1 * 5))
	shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge $n ] && return 1
		sleep 0.2
	done
}
# gl_dump FILE: a file's tail on the console, for a failure's context.
gl_dump() { echo "--- $1"; tail -n 30 "$1" 2>/dev/null | sed 's/^/  | /'; }
EOF
}

# guestlab_boot DIR LOG: pack DIR and boot it (QEMU_MEM, QEMU_SMP,
# QEMU_TIMEOUT from qemu.sh); the console, CRs stripped, is LOG.
guestlab_boot() {
	local dir=$1 log=$2 rc
	cpio_newc "$dir" "$log.cpio" || return 2
	qemu_boot_ramdisks "$KILN_KERNEL" "console=ttyS0 panic=-1 quiet loglevel=3" "$log" "$log.cpio"
	rc=$?
	rm -f "$log.cpio"
	sed -i 's/\r$//' "$log"
	echo "guestlab: qemu status $rc, ${QEMU_BOOT_SECONDS}s (-m $QEMU_MEM -smp $QEMU_SMP, tcg)"
	return $rc
}

# guestlab_boot_eif EIF DIR LOG: boot the EIF itself (its kernel, cmdline and
# ramdisks, as Nitro loads them) with DIR packed as one more ramdisk after
# them, and the cmdline extended by "rdinit=/gl/init kiln.parent_cid=1": the
# test's /gl/init starts the parent's side (kilnd, in a network namespace of
# its own so kiln-init's REDIRECT rules do not catch kilnd's connections),
# then execs the EIF's /init (kiln-bootstrap), which stays PID 1.
guestlab_boot_eif() {
	local eif=$1 dir=$2 log=$3 sec rc i
	local -a rds=()
	sec=$(mktemp -d) || return 2
	eif_sections "$eif" "$sec" || { rm -rf "$sec"; return 2; }
	for ((i = 0; ; i++)); do
		[ -f "$sec/ramdisk$i" ] || break
		rds+=("$sec/ramdisk$i")
	done
	cpio_newc "$dir" "$sec/lab.cpio" || { rm -rf "$sec"; return 2; }
	qemu_boot_ramdisks "$sec/kernel" "$(cat "$sec/cmdline") rdinit=/gl/init kiln.parent_cid=1" \
		"$log" "${rds[@]}" "$sec/lab.cpio"
	rc=$?
	rm -rf "$sec"
	sed -i 's/\r$//' "$log"
	echo "guestlab: EIF boot: qemu status $rc, ${QEMU_BOOT_SECONDS}s (-m $QEMU_MEM -smp $QEMU_SMP, tcg)"
	return $rc
}

# guestlab_eif_lab DIR PARENT PROGRAM...: the test ramdisk of guestlab_boot_eif, all under
# DIR/gl so nothing of the EIF's is replaced: busybox, GUESTLAB_MODULES, lib.sh, the rdinit
# (tests/guestlab/eif_init.sh: it runs PARENT, the parent's side, in a network namespace of
# its own, and execs the EIF's /init once PARENT touched /gl/ready) and the PROGRAMs in /gl/bin.
guestlab_eif_lab() {
	local d=$1 parent=$2 b
	shift 2
	mkdir -p "$d/gl/bin" "$d/gl/modules" || return 1
	cp "$GUESTLAB_BUSYBOX" "$d/gl/bin/busybox"
	guestlab_modules "$d/gl/modules" "$d/gl/modules.list" || return 1
	guestlab_lib "$d/gl/lib.sh"
	install -m 755 "$KILN_ROOT/tests/guestlab/eif_init.sh" "$d/gl/init"
	cp "$parent" "$d/gl/parent.sh"
	for b; do guestlab_add_bin "$d" "$b" "/gl/bin/$(basename "$b")"; done
}

# guestlab_verdict LOG CHECK...: 0 when the guest ended its script, no
# check failed and every named CHECK passed; prints each check's result.
guestlab_verdict() {
	local log=$1 c bad=0
	shift
	grep -E "^GL (PASS|FAIL|INFO) " "$log"
	grep -q '^GL BOOTED ' "$log" || { echo "guestlab: the guest did not boot"; bad=1; }
	grep -q '^GL END ' "$log" || { echo "guestlab: the guest script did not finish"; bad=1; }
	grep -q '^GL FAIL ' "$log" && bad=1
	for c in "$@"; do
		grep -qxF "GL PASS $c" "$log" || { echo "guestlab: check '$c' did not pass"; bad=1; }
	done
	return $bad
}
