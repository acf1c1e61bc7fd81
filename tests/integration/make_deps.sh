# SPDX-License-Identifier: Apache-2.0
# `make` without a -dev package stops before compiling, with one line naming the package and
# `make deps`: pointed (through CC) at a sysroot lacking yaml.h, then at a compiler lacking
# liblzma.a. The build goes to a directory under $T, so the checkout's build/ is untouched.
source "$(dirname "$0")/../lib/common.sh"

# A make of its own: not the jobserver or directory messages of a `make check` around us.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C "$KILN_ROOT" "$@"
}

# Headers kiln includes, as empty stubs, in a sysroot with nothing else (no libc either: the
# probe must stop make before anything is compiled against it).
stub_root() { # dir header...
	local d=$1 h
	shift
	for h in "$@"; do
		mkdir -p "$(dirname "$d/usr/include/$h")"
		: >"$d/usr/include/$h"
	done
}

assert_eq "$("$KILN_ROOT/scripts/deps" --probe gcc)" "" "the probe finds everything on this machine"

stub_root "$T/noyaml" archive.h openssl/evp.h jansson.h zlib.h
rc=0
out=$(mk B="$T/b1" CC="gcc --sysroot=$T/noyaml" all 2>&1) || rc=$?
echo "$out"
[ $rc -ne 0 ] || fail "make succeeded without yaml.h"
assert_eq "$(wc -l <<<"$out")" 1 "one line of output"
assert_contains "$out" "missing libyaml-dev (yaml.h); install with: make deps" "names the package"
[ ! -e "$T/b1/src" ] || fail "objects were compiled before the probe stopped make"
echo "ok   no yaml.h: one line naming libyaml-dev and make deps"

stub_root "$T/all" archive.h openssl/evp.h jansson.h zlib.h yaml.h
cat >"$T/cc" <<SH
#!/bin/sh
# gcc over the stub sysroot, and without liblzma.a (gcc echoes a name it cannot find).
case "\$*" in *-print-file-name=liblzma.a*) echo liblzma.a; exit 0 ;; esac
exec gcc --sysroot="$T/all" "\$@"
SH
chmod 755 "$T/cc"
rc=0
out=$(mk B="$T/b2" CC="$T/cc" 2>&1) || rc=$?
echo "$out"
[ $rc -ne 0 ] || fail "make succeeded without liblzma.a"
assert_eq "$(wc -l <<<"$out")" 1 "one line of output"
assert_contains "$out" "missing liblzma-dev (liblzma.a); install with: make deps" "names the package"
echo "ok   no liblzma.a: one line naming liblzma-dev"

rc=0
out=$(mk B="$T/b3" CC="$T/no-such-cc" 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "make succeeded without a compiler"
assert_contains "$out" "missing $T/no-such-cc (the C compiler)" "names the compiler"
echo "ok   no compiler: named"
