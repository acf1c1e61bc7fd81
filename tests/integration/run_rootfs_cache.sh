# SPDX-License-Identifier: Apache-2.0
# The sim rootfs cache (src/sim/rootfs_cache.c): a stable EIF's tree is
# unpacked once and mounted read-only under each run's tmpfs (overlay). The
# app sees exactly the tree a copy gives, its writes never reach the cache
# or the next run, trees in use survive pruning, only 4 are kept, and
# leftovers of killed runs go.
source "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (an ordinary user's enclave always copies)"
export KILN_STATE_DIR=$T/state KILN_CACHE_DIR=$T/cache

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app" "$mnt/data/sub"
for a in find sort stat grep awk tail; do ln -sf busybox "$mnt/bin/$a"; done
echo original >"$mnt/data/file"
echo linked >"$mnt/data/h1" && ln "$mnt/data/h1" "$mnt/data/h2"
ln -s ../data/file "$mnt/data/sub/link"
chown 1234:4321 "$mnt/data/sub" && chmod 2750 "$mnt/data/sub"
cat >"$mnt/app/probe.sh" <<'SH'
#!/bin/sh
echo "rootfs=$(awk '$2 == "/" { print $3 }' /proc/mounts | tail -1)"
echo "file=$(cat /data/file)"
# Every path's type, mode, owner, link count, size of files (a directory's
# is the filesystem's business), link target.
find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \) -prune \
	-o -print | sort | while read -r p; do
	echo "tree $p $(stat -c '%F %a %u:%g %h' "$p") $( [ -d "$p" ] || stat -c %s "$p")" \
		"$( [ -L "$p" ] && readlink "$p")"
done
echo changed >/data/file && echo new >/data/new && rm /data/h2 && echo "wrote=ok"
SH
chmod 755 "$mnt/app/probe.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/probe.sh"]' --cmd '[]' "$c"
save_image "$c" probe "$T/probe.tar" ""
kiln build -q "docker-archive:$T/probe.tar" -o "$T/probe.eif" >/dev/null
bah config --entrypoint '["/bin/sleep","60"]' "$c"
save_image "$c" sleeper "$T/sleeper.tar" ""
kiln build -q "docker-archive:$T/sleeper.tar" -o "$T/sleeper.eif" >/dev/null

run() { kiln run --sim --no-kilnd "$@"; }
trees() { find "$KILN_CACHE_DIR" -mindepth 1 -maxdepth 1 -type d -name 'v1-*' ! -name '*.*' 2>/dev/null | sort; }
tree_sum() { (cd "$1" && find . -printf '%p %y %m %U %G %n %s %l\n' | sort && find . -type f -exec sha256sum {} + | sort) | sha256sum; }

# A just-written EIF is not on record yet (racy timestamps): copied, no cache.
out=$(run "$T/probe.eif" 2>&1) || fail "run of a fresh EIF: $out"
assert_contains "$out" "rootfs=tmpfs" "a fresh EIF is copied into the tmpfs"
[ -z "$(trees)" ] || fail "a tree was cached for an EIF not on record: $(trees)"
copy_tree=$(grep '^tree ' <<<"$out")

sleep 3 # past the racy window: the next run's full check is recorded
run "$T/probe.eif" >/dev/null 2>&1 || fail "recording run"
[ -z "$(trees)" ] || fail "cached before the record existed"
out=$(run "$T/probe.eif" 2>&1) || fail "first cached run: $out"
assert_eq "$(trees | wc -l)" 1 "one tree after the first run from the record"
assert_contains "$out" "rootfs=overlay" "the enclave's root is the overlay"
assert_contains "$out" "file=original" "the image's file"
assert_contains "$out" "wrote=ok" "the app writes to its rootfs"
assert_eq "$(grep '^tree ' <<<"$out" | grep -v '^tree / ')" "$(grep -v '^tree / ' <<<"$copy_tree")" \
	"the overlay shows the same tree as the copy"
tree=$(trees)
sum=$(tree_sum "$tree")
out=$(run "$T/probe.eif" 2>&1) || fail "second cached run: $out"
assert_contains "$out" "file=original" "a run's writes do not reach the next run"
assert_contains "$out" "rootfs=overlay" "the second run uses the tree"
assert_eq "$(tree_sum "$tree")" "$sum" "the cached tree is never written"
[ -z "$(find "$KILN_CACHE_DIR" -name '*.tmp.*')" ] || fail "fill directory left behind"
stat -c %a "$KILN_CACHE_DIR" | grep -qx 700 || fail "cache dir is not 0700"

# The sleeper's tree is in use while it runs: pruning five newer trees
# must keep it (and keep only 4 others); a killed run's fill of the same
# key stays while the key is in use and goes with it.
touch -d '2 seconds ago' "$T/sleeper.eif"; sleep 3
kiln run --sim --no-kilnd "$T/sleeper.eif" >/dev/null 2>&1 & # records the check
sleep 1; kill $! 2>/dev/null; wait $! 2>/dev/null || true
kiln run --sim --no-kilnd --name busy "$T/sleeper.eif" >/dev/null 2>&1 & busy=$!
defer "kill $busy 2>/dev/null"
for _ in $(seq 100); do [ "$(trees | wc -l)" = 2 ] && break; sleep 0.1; done
assert_eq "$(trees | wc -l)" 2 "the sleeper's tree"
sleeper_tree=$(ls -dt "$KILN_CACHE_DIR"/v1-* | grep -v '\.lock$' | head -1)
mkdir "$sleeper_tree.tmp.deadbeef" # as a run killed mid-unpack leaves it
for i in 1 2 3 4 5; do
	bah config --entrypoint "[\"/bin/echo\",\"variant $i\"]" "$c"
	save_image "$c" "v$i" "$T/v$i.tar" ""
	kiln build -q "docker-archive:$T/v$i.tar" -o "$T/v$i.eif" >/dev/null
done
touch -d '10 seconds ago' "$T"/v?.eif; sleep 3
for i in 1 2 3 4 5; do
	run "$T/v$i.eif" >/dev/null 2>&1 || fail "variant $i (record)"
	out=$(run "$T/v$i.eif" 2>&1) || fail "variant $i: $out"
	assert_contains "$out" "variant $i" "variant $i runs from its tree"
done
[ -d "$sleeper_tree" ] || fail "the tree of a running enclave was pruned"
assert_eq "$(trees | grep -vc "^$sleeper_tree\$")" 4 "only the 4 most recently used other trees are kept"
[ -d "$sleeper_tree.tmp.deadbeef" ] || fail "a fill of a key in use was removed"
kill $busy; wait $busy 2>/dev/null || true
run "$T/v1.eif" >/dev/null 2>&1 # v1 was pruned: refilled, and the sleeper's tree goes now
[ ! -d "$sleeper_tree" ] || fail "an unused old tree survived pruning"
[ ! -e "$sleeper_tree.tmp.deadbeef" ] || fail "a killed run's fill survived pruning"
assert_eq "$(trees | wc -l)" 4 "4 trees kept"

# No overlayfs-usable cache (a file where the directory should be): copied.
out=$(KILN_CACHE_DIR=$T/probe.tar/x run "$T/probe.eif" 2>&1) || fail "run without a usable cache: $out"
assert_contains "$out" "rootfs=tmpfs" "an unusable cache directory means a copy"
echo "ok"
