# SPDX-License-Identifier: Apache-2.0
# Every libFuzzer target builds (make fuzz) and survives a short run from an
# empty corpus, so no parser's fuzz target rots. Long runs: build/fuzz/X -max_total_time=N.
source "$(dirname "$0")/../lib/common.sh"
command -v clang >/dev/null || skip "clang is not installed (scripts/deps)"
make -s -C "$KILN_ROOT" fuzz >"$T/build.log" 2>&1 || { tail -20 "$T/build.log"; fail "make fuzz"; }
n=0
for f in "$KILN_ROOT"/build/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	mkdir -p "$T/corpus-$n"
	"$f" -runs=3000 -max_total_time=5 "$T/corpus-$n" >"$T/run-$n.log" 2>&1 ||
		{ tail -30 "$T/run-$n.log"; fail "$(basename "$f") crashed"; }
	n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "only $n fuzz targets built"
echo "$n fuzz targets built and ran clean"
