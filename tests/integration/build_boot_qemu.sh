# SPDX-License-Identifier: Apache-2.0
# The real boot: `kiln build` of a buildah image, then the EIF's own kernel,
# cmdline and concatenated ramdisks (kiln-bootstrap as ramdisk0) boot under
# qemu-system-x86_64 -accel tcg; the entrypoint's output on the serial
# console must show its argv and env intact, and the VM must power off.
source "$(dirname "$0")/../lib/common.sh"
source "$KILN_ROOT/tests/lib/qemu.sh"
qemu_require

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
cat >"$mnt/app/show.sh" <<'SH'
#!/bin/sh
i=0
for a in "$@"; do echo "arg$i=[$a]"; i=$((i + 1)); done
echo "FROM_IMAGE=[$FROM_IMAGE] FROM_YAML=[$FROM_YAML] pwd=[$(pwd)]"
exit 5
SH
chmod 755 "$mnt/app/show.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/show.sh", "two words"]' --cmd '["  spaced  ", "last"]' \
	--env 'FROM_IMAGE=image value' --workingdir /app "$c"
save_image "$c" boot-test "$T/img.tar" ""
cat >"$T/kiln.yaml" <<'YAML'
version: 1
name: boot-test
app: {env: ["FROM_YAML=yaml = value"]}
YAML
kiln build -q "docker-archive:$T/img.tar" -c "$T/kiln.yaml" -o "$T/app.eif" >/dev/null

rc=0
qemu_boot_eif "$T/app.eif" "$T/console.log" "kiln.heartbeat=0" || rc=$?
tr -d '\r' <"$T/console.log" >"$T/c.log"
echo "qemu status $rc after ${QEMU_BOOT_SECONDS:-?} s"
grep -E '^arg|FROM_|kiln-(init|bootstrap)' "$T/c.log" || true
[ $rc -eq 0 ] || fail "VM did not end by itself (status $rc)"
grep -qx 'arg0=\[two words\]' "$T/c.log" || fail "entrypoint argument lost"
grep -qx 'arg1=\[  spaced  \]' "$T/c.log" || fail "CMD argument with spaces lost"
grep -qx 'arg2=\[last\]' "$T/c.log" || fail "last CMD argument lost"
grep -qx 'FROM_IMAGE=\[image value\] FROM_YAML=\[yaml = value\] pwd=\[/app\]' "$T/c.log" ||
	fail "env or workdir wrong"
grep -q 'status 5\|exit.* 5\|code 5' "$T/c.log" || fail "app exit status 5 not reported"
