# SPDX-License-Identifier: Apache-2.0
# Test helpers: build cpio ramdisks, boot them (or an EIF's sections) under QEMU.
# Source it: . tests/lib/qemu.sh

# The x86_64 kernel command line nitro-cli puts in EIFs (docs/architecture.md).
KILN_AWS_CMDLINE="reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on"
KILN_KERNEL=${KILN_KERNEL:-/var/lib/kiln/kernel/vmlinuz}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}   # seconds before the VM counts as hung
QEMU_MEM=${QEMU_MEM:-512}           # MiB
QEMU_SMP=${QEMU_SMP:-1}

# qemu_require: exit 77 (skip) when QEMU or the fallback kernel is missing.
qemu_require() {
	command -v qemu-system-x86_64 >/dev/null || { echo "skip: no qemu-system-x86_64"; exit 77; }
	command -v cpio >/dev/null || { echo "skip: no cpio"; exit 77; }
	[ -s "$KILN_KERNEL" ] || { echo "skip: no kernel at $KILN_KERNEL (run scripts/deps)"; exit 77; }
}

# cpio_newc DIR OUT: an uncompressed newc archive of DIR's contents, names
# relative to DIR ("init", "rootfs/bin/sh"), sorted, owned by 0:0, mtimes 0,
# inode numbers renumbered: the same tree gives the same bytes.
cpio_newc() {
	local dir=$1 out=$2
	find "$dir" -mindepth 1 -exec touch -h -d @0 {} +
	(cd "$dir" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
		cpio --quiet -o -H newc --reproducible --owner=0:0) >"$out"
}

# ---------------------------------------------------------------------------
# qemu_boot_ramdisks KERNEL CMDLINE OUT_LOG RAMDISK...
#
# THE REUSABLE BOOT: concatenates the ramdisks in order (as Nitro loads an
# EIF's ramdisk sections) into OUT_LOG.initrd, boots KERNEL with CMDLINE
# under TCG (no KVM assumed) with -no-reboot, so the guest's reboot ends
# QEMU, and writes the serial console to OUT_LOG. Returns QEMU's status:
# 0 when the guest rebooted or powered off by itself, 124 on timeout
# (QEMU_TIMEOUT seconds). Sets QEMU_BOOT_SECONDS to the wall time taken.
# ---------------------------------------------------------------------------
qemu_boot_ramdisks() {
	local kernel=$1 cmdline=$2 log=$3 rc start
	shift 3
	[ $# -gt 0 ] || { echo "qemu_boot_ramdisks: no ramdisk" >&2; return 2; }
	cat "$@" >"$log.initrd" || return 2
	start=$(date +%s.%N)
	timeout --foreground -k 5 "$QEMU_TIMEOUT" \
		qemu-system-x86_64 -accel tcg -smp "$QEMU_SMP" -m "$QEMU_MEM" \
		-nodefaults -display none -serial stdio -monitor none -no-reboot \
		-kernel "$kernel" -initrd "$log.initrd" -append "$cmdline" \
		</dev/null >"$log" 2>&1
	rc=$?
	QEMU_BOOT_SECONDS=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
	rm -f "$log.initrd"
	return $rc
}

# eif_sections EIF OUTDIR: split an EIF (v4, docs/architecture.md) into
# OUTDIR/kernel, OUTDIR/cmdline and OUTDIR/ramdisk0..N, in section order.
# Pure shell over od/dd so the test does not trust kiln's own EIF reader.
eif_sections() {
	local eif=$1 out=$2 n i off hdr type size r=0
	mkdir -p "$out" || return 1
	[ "$(head -c 4 "$eif")" = ".eif" ] || { echo "eif_sections: $eif: bad magic" >&2; return 1; }
	n=$(eif_be "$eif" 26 2)
	for ((i = 0; i < n; i++)); do
		hdr=$(eif_be "$eif" $((28 + 8 * i)) 8)
		type=$(eif_be "$eif" "$hdr" 2)
		size=$(eif_be "$eif" $((hdr + 4)) 8)
		off=$((hdr + 12))
		case $type in
		1) eif_dd "$eif" "$off" "$size" >"$out/kernel" ;;
		2) eif_dd "$eif" "$off" "$size" >"$out/cmdline" ;;
		3) eif_dd "$eif" "$off" "$size" >"$out/ramdisk$r"; r=$((r + 1)) ;;
		*) ;; # signature, metadata: not needed to boot
		esac
	done
	[ -s "$out/kernel" ] && [ -s "$out/cmdline" ] && [ $r -gt 0 ] ||
		{ echo "eif_sections: $eif: kernel, cmdline or ramdisk missing" >&2; return 1; }
}

# eif_be FILE OFFSET NBYTES: a big-endian unsigned integer, in decimal.
eif_be() {
	local hex
	hex=$(od -An -tx1 -v -j "$2" -N "$3" "$1" | tr -d ' \n')
	[ ${#hex} -eq $((2 * $3)) ] || { echo 0; return 1; }
	echo $((16#$hex))
}

# eif_dd FILE OFFSET SIZE: SIZE bytes from OFFSET to stdout.
eif_dd() {
	dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=1M status=none
}

# qemu_boot_eif EIF OUT_LOG [EXTRA_CMDLINE]: boot an EIF's own kernel,
# cmdline and ramdisks (plus EXTRA_CMDLINE, e.g. kiln.heartbeat=0).
# The EIF's kernel must boot under QEMU (kiln's fallback kernel does; the
# AWS enclave kernel needs Nitro).
qemu_boot_eif() {
	local eif=$1 log=$2 extra=${3:-} dir rc i
	local -a rds=()
	dir=$(mktemp -d) || return 2
	eif_sections "$eif" "$dir" || { rm -rf "$dir"; return 2; }
	for ((i = 0; ; i++)); do
		[ -f "$dir/ramdisk$i" ] || break
		rds+=("$dir/ramdisk$i")
	done
	qemu_boot_ramdisks "$dir/kernel" "$(cat "$dir/cmdline") $extra" "$log" "${rds[@]}"
	rc=$?
	rm -rf "$dir"
	return $rc
}
