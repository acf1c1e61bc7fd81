# SPDX-License-Identifier: Apache-2.0
# kiln build warns about image files under /tmp, /run, /dev, /proc, /sys (the enclave mounts
# over them at boot, so the app never sees them), naming the first few; empty mount points and
# empty directories beneath them do not warn, and the build still succeeds.
source "$(dirname "$0")/../lib/common.sh"

image() { # name setup-function
	local c mnt
	c=$(busybox_container)
	mnt=$(bah mount "$c")
	mkdir -p "$mnt/tmp" "$mnt/run" "$mnt/dev" "$mnt/proc" "$mnt/sys"
	"$2" "$mnt"
	bah umount "$c" >/dev/null
	bah config --entrypoint '["/bin/true"]' "$c"
	save_image "$c" "$1" "$T/$1.tar" ""
}

hiding() { # mnt
	mkdir -p "$1/run/sub" "$1/dev/shm" "$1/app"
	echo a >"$1/tmp/a"
	echo b >"$1/run/b"
	echo c >"$1/run/sub/c"
	ln -s /bin/busybox "$1/dev/shm/d"
	echo kept >"$1/app/tmp" # a name like a mount point elsewhere hides nothing
	echo kept >"$1/tmpfile"
}
image hiding hiding

out=$(kiln build -q "docker-archive:$T/hiding.tar" -o "$T/hiding.eif" 2>&1 >/dev/null) ||
	fail "build of an image with hidden files: $out"
echo "$out"
want="kiln build: warning: 4 files under /dev, /run, /tmp are hidden at run time by what the enclave mounts there: /dev/shm/d, /run/b, /run/sub/c, ... (move them elsewhere)"
assert_eq "$out" "$want" "warning line"
[ -s "$T/hiding.eif" ] || fail "no EIF written"
echo "ok   files under /tmp, /run, /dev: one warning naming the first three"

one() { # mnt
	echo x >"$1/sys/x"
}
image one one
out=$(kiln build -q "docker-archive:$T/one.tar" -o "$T/one.eif" 2>&1 >/dev/null)
assert_eq "$out" "kiln build: warning: 1 file under /sys is hidden at run time by what the enclave mounts there: /sys/x (move it elsewhere)" "single file"
echo "ok   one file: singular wording"

quiet() { # mnt
	mkdir -p "$1/tmp/empty/deeper" "$1/run/lock" "$1/dev/shm"
	echo x >"$1/app-tmp"
}
image quiet quiet
out=$(kiln build -q "docker-archive:$T/quiet.tar" -o "$T/quiet.eif" 2>&1 >/dev/null)
assert_eq "$out" "" "no warning for empty mount points and empty directories"
echo "ok   empty mount points and directories: no warning"
