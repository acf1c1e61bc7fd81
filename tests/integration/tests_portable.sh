# SPDX-License-Identifier: Apache-2.0
# The suite depends on nothing beside the checkout and not on the checkout's path: no reader
# looks for fixtures outside the repository, the unit tests find tests/fixtures from their own
# binary (from any directory, under a path with spaces), and helper programs go into images at
# fixed in-image paths (under /tmp, the enclave's own tmpfs would hide a checkout's path).
source "$(dirname "$0")/../lib/common.sh"
source "$KILN_ROOT/tests/lib/net.sh"

# 1. Nothing the build, tests or benches read points outside the repository.
out=$(cd "$KILN_ROOT" && grep -rnI '\.\./shared' Makefile scripts tests bench src cmd fuzz 2>/dev/null || true)
[ -z "$out" ] || fail "references to a directory beside the checkout: $out"
[ -s "$KILN_ROOT/tests/fixtures/README.md" ] || fail "tests/fixtures/README.md missing"
echo "ok   fixtures come from the repository"

# 2. A unit test in a checkout under a path with spaces, run from elsewhere, finds its fixtures.
co="$T/a checkout/kiln"
mkdir -p "$co/build/tests" "$co/tests"
cp "$KILN_ROOT/build/tests/test_fixtures" "$co/build/tests/"
cp -r "$KILN_ROOT/tests/fixtures" "$co/tests/"
(cd / && env -u KILN_FIXTURES "$co/build/tests/test_fixtures") >"$T/fixtures.log" 2>&1 ||
	fail "test_fixtures from '$co': $(tail -3 "$T/fixtures.log")"
echo "ok   test_fixtures under '$co', run from /, finds tests/fixtures"

# 3. A program from the checkout needs an in-image path; it lands there with its libraries.
mnt=$T/img
mkdir -p "$mnt"
rc=0
msg=$(copy_with_libs "$mnt" "$KILN_ROOT/build/tools/tcp_hold" 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "copy_with_libs put a checkout path into an image"
assert_contains "$msg" "give an in-image path for" "copy_with_libs refusal"
copy_with_libs "$mnt" "$KILN_ROOT/build/tools/tcp_hold" /usr/local/bin/tcp_hold
[ -x "$mnt/usr/local/bin/tcp_hold" ] || fail "tcp_hold not at /usr/local/bin/tcp_hold"
[ ! -e "$mnt$KILN_ROOT" ] || fail "the checkout's path appears in the image"
libc=$(ldd "$KILN_ROOT/build/tools/tcp_hold" | grep -o '/[^ ]*libc\.so[^ ]*')
[ -e "$mnt$libc" ] || fail "tcp_hold's libc ($libc) not copied"
echo "ok   helper programs go into images at fixed paths"

# 4. The integration tests and benches give every checkout program an in-image path.
bad=$(cd "$KILN_ROOT" && grep -nE 'copy_with_libs "\$mnt" "\$[A-Za-z_]+"$' tests/integration/*.sh bench/* scripts/* 2>/dev/null || true)
[ -z "$bad" ] || fail "copy_with_libs of a variable path without an in-image path: $bad"
echo "ok   no copy_with_libs call leaves the in-image path to the checkout"
