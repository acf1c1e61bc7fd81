#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln doctor: this host (a sim host without Nitro), fake /dev, /sys and /etc trees for
# the Nitro checks (ready, no device, wrong permissions, hugepages, no blobs), kilnd's version.
source "$(dirname "$0")/../lib/common.sh"
command -v jq >/dev/null || skip "jq is missing (make deps)"
[ "$(id -u)" = 0 ] || skip "needs root (mknod for the fake device, setpriv)"

VERSION=$(kiln --version | cut -d' ' -f2)
export KILN_STATE_DIR=$T/state # no kilnd there
# The status of check $2 in doctor JSON $1.
status() { jq -r --arg id "$2" '.checks[] | select(.id == $id) | .status' <<<"$1"; }
field() { jq -r --arg id "$2" --arg f "$3" '.checks[] | select(.id == $id) | .[$f]' <<<"$1"; }
doctor() { # expected-exit args...: stdout in $out
	local want=$1 rc=0; shift
	out=$(kiln doctor "$@" 2>"$T/err") || rc=$?
	[ "$rc" = "$want" ] || fail "kiln doctor $*: exit $rc, not $want: $out $(cat "$T/err")"
}

# ---- help and usage ----
doctor 0 --help
assert_contains "$out" "Exit status: 0 when a mode checked is ready"
doctor 2 bogus
doctor 2 --frobnicate

# ---- this host: the sim really works here ----
doctor 0 --sim --json
j=$out
assert_eq "$(jq -r .sim.ready <<<"$j")" true "sim ready"
assert_eq "$(jq -r .nitro <<<"$j")" null "nitro not checked"
for id in sim.namespaces sim.cgroups sim.iptables sim.overlayfs sim.fuse sim.kernel; do
	assert_eq "$(status "$j" $id)" ok "$id on this host: $(field "$j" $id message)"
done
assert_eq "$(jq -r '[.checks[] | select(.mode == "nitro")] | length' <<<"$j")" 0 "--sim only"
jq -e '.version and (.checks | length > 0) and (.checks | all(
	(.id | type == "string") and (.mode | IN("sim", "nitro", "both")) and
	(.status | IN("ok", "warn", "fail", "skip")) and (.message | type == "string") and
	(has("fix")) and (.status != "fail" or (.fix | type == "string"))))' <<<"$j" >/dev/null ||
	fail "JSON shape: $j"
assert_eq "$(status "$j" kilnd)" warn "kilnd absent"
assert_contains "$(field "$j" kilnd message)" "not running (no $T/state/kilnd.sock)"
doctor 0 --sim
assert_contains "$out" "ok    sim    namespaces: "
assert_contains "$out" "sim: ready"
# A sim check that fails makes the sim's exit 1 and names its fix.
KILN_KERNEL_DIR=$T/nokernel doctor 1 --sim --blobs "$T/noblobs"
assert_contains "$out" "FAIL  sim    fallback kernel: missing ($T/nokernel/vmlinuz) and no AWS blobs"
assert_contains "$out" "fix: make deps"
assert_contains "$out" "sim: not ready (1 to fix)"

# The probes act for real: without CAP_SYS_ADMIN no namespace (and what needs one is
# not tried); without CAP_NET_ADMIN no nat rule.
rc=0; out=$(setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin kiln doctor --sim --json) || rc=$?
assert_eq "$rc" 1 "sim without CAP_SYS_ADMIN"
assert_eq "$(status "$out" sim.namespaces)" fail
assert_contains "$(field "$out" sim.namespaces message)" "cannot create a mount namespace"
assert_contains "$(field "$out" sim.namespaces fix)" "privileged container"
assert_eq "$(status "$out" sim.iptables)" skip
assert_eq "$(status "$out" sim.overlayfs)" skip
rc=0; out=$(setpriv --inh-caps=-net_admin --bounding-set=-net_admin kiln doctor --sim --json) || rc=$?
assert_eq "$rc" 1 "sim without CAP_NET_ADMIN"
assert_eq "$(status "$out" sim.namespaces)" ok
assert_eq "$(status "$out" sim.iptables)" fail
assert_contains "$(field "$out" sim.iptables fix)" "CAP_NET_ADMIN"

# ---- this host has no Nitro ----
if [ ! -e /dev/nitro_enclaves ]; then
	doctor 1 --nitro
	assert_contains "$out" "FAIL  nitro  /dev/nitro_enclaves: missing"
	assert_contains "$out" "fix: on an EC2 instance launched with enclaves enabled"
	assert_contains "$out" "nitro: not ready"
	doctor 1 --nitro --json
	assert_eq "$(jq -r .nitro.ready <<<"$out")" false
	assert_eq "$(status "$out" nitro.device)" fail
	jq -e '[.checks[] | select(.status == "fail")] | length > 0 and all(.fix | type == "string")' \
		<<<"$out" >/dev/null || fail "a fail line without its fix: $out"
	# Either mode is enough without flags; both flags want both.
	doctor 0
	assert_contains "$out" "sim: ready"
	doctor 1 --sim --nitro
fi

# ---- fake trees ----
# A parent as nitro-cli's allocator leaves it: /dev/nitro_enclaves root:ne 0660,
# 2 CPUs, 1 GiB of 2 MiB pages, the blobs.
fake_parent() { # dir
	local r=$1 f
	mkdir -p "$r/dev" "$r/etc/nitro_enclaves" "$r/sys/module/nitro_enclaves/parameters" \
		"$r/sys/kernel/mm/hugepages/hugepages-2048kB" \
		"$r/sys/kernel/mm/hugepages/hugepages-1048576kB" "$r/usr/share/nitro_enclaves/blobs"
	mknod "$r/dev/nitro_enclaves" c 10 125 # never opened: stat only
	chgrp 4242 "$r/dev/nitro_enclaves"
	chmod 0660 "$r/dev/nitro_enclaves"
	echo "ne:x:4242:" >"$r/etc/group"
	printf -- '---\nmemory_mib: 1024\ncpu_count: 2\n' >"$r/etc/nitro_enclaves/allocator.yaml"
	echo "1,3" >"$r/sys/module/nitro_enclaves/parameters/ne_cpus"
	echo 512 >"$r/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
	echo 512 >"$r/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
	echo 0 >"$r/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
	echo 0 >"$r/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages"
	for f in bzImage bzImage.config cmdline init nsm.ko; do
		echo x >"$r/usr/share/nitro_enclaves/blobs/$f"
	done
}

R=$T/ready
fake_parent "$R"
KILN_DOCTOR_ROOT=$R doctor 0 --nitro --json
j=$out
assert_eq "$(jq -r .nitro.ready <<<"$j")" true "fake parent ready"
assert_eq "$(status "$j" nitro.device)" ok
assert_eq "$(field "$j" nitro.device message)" "$R/dev/nitro_enclaves: present, and this user may open it"
assert_eq "$(field "$j" nitro.cpus message)" "CPU pool: 2 CPUs (1,3)"
assert_eq "$(field "$j" nitro.hugepages message)" \
	"hugepages: 1024 MiB reserved (512 x 2048 kB), 1024 MiB free"
assert_eq "$(status "$j" nitro.blobs)" ok
assert_eq "$(status "$j" nitro.service)" skip
assert_eq "$(jq -r '[.checks[] | select(.status == "fail")] | length' <<<"$j")" 0
KILN_DOCTOR_ROOT=$R doctor 0 --nitro
assert_contains "$out" "nitro: ready"

# No device, no driver.
R=$T/nodev
fake_parent "$R"
rm "$R/dev/nitro_enclaves"
rm -r "$R/sys/module/nitro_enclaves"
KILN_DOCTOR_ROOT=$R doctor 1 --nitro --json
assert_eq "$(status "$out" nitro.device)" fail
assert_contains "$(field "$out" nitro.device fix)" "modprobe nitro_enclaves"
assert_eq "$(status "$out" nitro.cpus)" skip

# Wrong permissions, judged for an ordinary user (kiln copied where nobody can run it).
R=$T/perm
fake_parent "$R"
mkdir "$T/bin" && cp "$(command -v kiln)" "$T/bin/kiln"
chmod 755 "$T" "$T/bin"
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env KILN_DOCTOR_ROOT="$R" KILN_STATE_DIR="$T/state" "$T/bin/kiln" doctor --nitro "$@"
}
rc=0; out=$(as_nobody) || rc=$?
assert_eq "$rc" 1 "nobody without the group"
assert_contains "$out" "FAIL  nitro  $R/dev/nitro_enclaves: nobody may not open it (mode 0660, group ne)"
assert_contains "$out" "fix: usermod -aG ne nobody, then log in again"
echo "ne:x:4242:nobody" >"$R/etc/group"
rc=0; out=$(as_nobody) || rc=$?
assert_contains "$out" "fix: log in again (or run \`newgrp ne\`)"
chmod 0600 "$R/dev/nitro_enclaves"
rc=0; out=$(as_nobody --json) || rc=$?
assert_eq "$rc" 1
assert_contains "$(field "$out" nitro.device fix)" "run as root, or give the device to a group"
chmod 0666 "$R/dev/nitro_enclaves"
rc=0; out=$(as_nobody --json) || rc=$?
assert_eq "$(status "$out" nitro.device)" ok "mode 0666 for nobody"
# An ordinary user without XDG_RUNTIME_DIR has no state dir: a skipped line, not an error.
rc=0; out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env -u XDG_RUNTIME_DIR \
	-u KILN_STATE_DIR KILN_DOCTOR_ROOT="$R" "$T/bin/kiln" doctor --nitro --json) || rc=$?
assert_eq "$rc" 0 "no state dir"
assert_eq "$(status "$out" kilnd)" skip

# Hugepages: too few for allocator.yaml, then only a size enclaves cannot use.
R=$T/huge
fake_parent "$R"
echo 100 >"$R/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
KILN_DOCTOR_ROOT=$R doctor 1 --nitro --json
assert_eq "$(field "$out" nitro.hugepages message)" \
	"hugepages: 200 MiB reserved (100 x 2048 kB), fewer than the 1024 MiB allocator.yaml asks for"
assert_contains "$(field "$out" nitro.hugepages fix)" "systemctl restart nitro-enclaves-allocator"
echo 0 >"$R/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
mkdir "$R/sys/kernel/mm/hugepages/hugepages-64kB"
echo 16 >"$R/sys/kernel/mm/hugepages/hugepages-64kB/nr_hugepages"
echo 16 >"$R/sys/kernel/mm/hugepages/hugepages-64kB/free_hugepages"
KILN_DOCTOR_ROOT=$R doctor 1 --nitro
assert_contains "$out" "FAIL  nitro  hugepages: no pages of 2 MiB or more reserved for enclaves (16 x 64 kB are, which enclaves cannot use)"

# No blobs: EIFs built here would not boot on Nitro (and kiln build uses the fallback kernel).
R=$T/noblobs
fake_parent "$R"
rm -r "$R/usr/share/nitro_enclaves/blobs"
KILN_DOCTOR_ROOT=$R doctor 1 --nitro --json
assert_eq "$(status "$out" nitro.blobs)" fail
assert_contains "$(field "$out" nitro.blobs message)" "the fallback kernel, which does not boot on Nitro"
# --blobs points elsewhere.
KILN_DOCTOR_ROOT=$R doctor 0 --nitro --json --blobs "$T/ready/usr/share/nitro_enclaves/blobs"
assert_eq "$(status "$out" nitro.blobs)" ok

# ---- kilnd: this kiln's version, and an older kilnd without the version request ----
mkdir -p "$T/kd"
kilnd --foreground --state-dir "$T/kd" 2>"$T/kilnd.err" &
KPID=$!
defer "kill $KPID"
# Until the socket is there, however long that takes, unless kilnd died.
until [ -S "$T/kd/kilnd.sock" ]; do kill -0 $KPID || fail "kilnd died: $(cat "$T/kilnd.err")"; sleep 0.05; done
doctor 0 --sim --json --state-dir "$T/kd"
assert_eq "$(status "$out" kilnd)" ok "$(field "$out" kilnd message)"
assert_eq "$(field "$out" kilnd message)" "kilnd: running ($T/kd), version $VERSION"
if command -v socat >/dev/null; then # (else that part is left out)
	mkdir -p "$T/old"
	# What a kilnd from before the version request answers.
	cat >"$T/old/kilnd" <<'OLD'
#!/bin/sh
read -r l
printf '%s\n' '{"ok":false,"error":"unknown op \"version\""}'
OLD
	chmod +x "$T/old/kilnd"
	socat UNIX-LISTEN:"$T/old/kilnd.sock",fork EXEC:"$T/old/kilnd" &
	SPID=$!
	defer "kill $SPID"
	until [ -S "$T/old/kilnd.sock" ]; do kill -0 $SPID || fail "socat died"; sleep 0.05; done
	doctor 0 --sim --json --state-dir "$T/old"
	assert_eq "$(status "$out" kilnd)" warn
	assert_contains "$(field "$out" kilnd message)" "older than this kiln $VERSION (it has no version request)"
fi
echo "doctor: ok"
