# SPDX-License-Identifier: Apache-2.0
# kiln-init reaps orphans: the app double-forks 100 children that exit (they
# are reparented to kiln-init, the subreaper / PID 1); after a moment the app
# itself finds no zombie in /proc, and exits 0.
source "$(dirname "$0")/../lib/common.sh"

kiln run --help >/dev/null 2>&1 || fail "kiln run is not in the command table"
[ "$(id -u)" = 0 ] || skip "needs root"

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app"
for a in grep cut usleep; do ln -sf busybox "$mnt/bin/$a"; done
cat >"$mnt/app/zombies.sh" <<'SH'
#!/bin/sh
# Each child forks a grandchild and exits at once: 100 orphans for PID 1.
i=0
while [ $i -lt 100 ]; do
	i=$((i + 1))
	( usleep 500000 & )
done
# The orphans now belong to kiln-init (PID 1).
o=0
for s in /proc/[0-9]*/status; do
	grep -q "^PPid:[[:space:]]*1$" "$s" 2>/dev/null && o=$((o + 1))
done
echo "orphans=$o"
sleep 1.5
z=0 n=0
for s in /proc/[0-9]*/stat; do
	n=$((n + 1))
	st=$(cut -d' ' -f3 "$s" 2>/dev/null) || continue
	[ "$st" = Z ] && z=$((z + 1))
done
echo "processes=$n zombies=$z"
[ $z -eq 0 ] || exit 1
SH
chmod 755 "$mnt/app/zombies.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/zombies.sh"]' --cmd '[]' "$c"
save_image "$c" zombies "$T/zombies.tar" ""
kiln build -q "docker-archive:$T/zombies.tar" -o "$T/zombies.eif" >/dev/null

rc=0; out=$(kiln run --sim --no-kilnd "$T/zombies.eif" 2>&1) || rc=$?
echo "$out"
o=$(sed -n 's/^orphans=//p' <<<"$out")
[ "${o:-0}" -ge 90 ] || fail "expected ~100 orphans under kiln-init, saw '$o'"
assert_contains "$out" "zombies=0" "no zombie left after 100 orphans exited"
assert_eq "$rc" 0 "exit code"
echo "all run_zombies checks passed"
