# SPDX-License-Identifier: Apache-2.0
# kiln-init runs the app as the image says, kiln.yaml first: user (a name from
# the image's /etc/passwd with its groups, or uid:gid), workdir (created when
# missing), env precedence (kiln.yaml app.env > image Env > defaults).
source "$(dirname "$0")/../lib/common.sh"

kiln run --help >/dev/null 2>&1 || fail "kiln run is not in the command table"
[ "$(id -u)" = 0 ] || skip "needs root"

c=$(busybox_container)
mnt=$(bah mount "$c")
mkdir -p "$mnt/app" "$mnt/etc" "$mnt/work" "$mnt/home/app"
cat >"$mnt/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
app:x:1234:2345:App:/home/app:/bin/sh
P
cat >"$mnt/etc/group" <<'G'
root:x:0:
appgrp:x:2345:
extra:x:3000:app
G
cat >"$mnt/app/probe.sh" <<'SH'
#!/bin/sh
echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"
echo "pwd=$(pwd)"
echo "FOO=$FOO BAR=$BAR NEW=$NEW"
echo "HOME=$HOME"
echo "PATH=$PATH"
SH
chmod 755 "$mnt/app/probe.sh"
bah umount "$c" >/dev/null
bah config --entrypoint '["/app/probe.sh"]' --cmd '[]' --env FOO=image --env BAR=image \
	--workingdir /work --user app "$c"
save_image "$c" named "$T/named.tar" ""
bah config --env PATH- --env FOO- --env BAR- --user '' --workingdir / "$c"
save_image "$c" plain "$T/plain.tar" ""

run() { # eif -> output (must exit 0)
	local out rc=0
	out=$(kiln run --sim --no-kilnd "$1" 2>&1) || rc=$?
	echo "$out" >&2
	assert_eq "$rc" 0 "exit code of $1"
	echo "$out"
}

# 1. The image alone: USER by name (groups from /etc/group), WorkingDir, Env.
kiln build -q "docker-archive:$T/named.tar" -o "$T/named.eif" >/dev/null
out=$(run "$T/named.eif")
assert_contains "$out" "uid=1234 gid=2345 groups=2345 3000" "USER name from /etc/passwd"
assert_contains "$out" "pwd=/work" "WorkingDir"
assert_contains "$out" "FOO=image BAR=image NEW=" "image Env"
assert_contains "$out" "HOME=/home/app" "HOME from /etc/passwd"

# 2. kiln.yaml over the image: uid:gid, a missing workdir, app.env.
cat >"$T/kiln.yaml" <<'Y'
version: 1
name: envtest
app:
  user: "4321:4322"
  workdir: /made/here
  env: ["FOO=yaml", "NEW=1"]
Y
kiln build -q -c "$T/kiln.yaml" "docker-archive:$T/named.tar" -o "$T/yaml.eif" >/dev/null
out=$(run "$T/yaml.eif")
assert_contains "$out" "uid=4321 gid=4322 groups=4322" "uid:gid from kiln.yaml"
assert_contains "$out" "pwd=/made/here" "workdir from kiln.yaml, created"
assert_contains "$out" "FOO=yaml BAR=image NEW=1" "kiln.yaml env over image Env"
assert_contains "$out" "HOME=/" "HOME for a uid without a passwd entry"

# 3. Defaults: root, /, the default PATH, HOME from passwd; app.env sets HOME and PATH.
kiln build -q "docker-archive:$T/plain.tar" -o "$T/plain.eif" >/dev/null
out=$(run "$T/plain.eif")
assert_contains "$out" "uid=0 gid=0" "root by default"
assert_contains "$out" "pwd=/" "/ by default"
assert_contains "$out" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "default PATH"
assert_contains "$out" "HOME=/root" "root's HOME"
printf 'version: 1\napp:\n  env: ["HOME=/data", "PATH=/app:/bin"]\n' >"$T/env.yaml"
kiln build -q -c "$T/env.yaml" "docker-archive:$T/plain.tar" -o "$T/env.eif" >/dev/null
out=$(run "$T/env.eif")
assert_contains "$out" "HOME=/data" "app.env HOME over the default"
assert_contains "$out" "PATH=/app:/bin" "app.env PATH over the default"
echo "all run_user_env checks passed"
