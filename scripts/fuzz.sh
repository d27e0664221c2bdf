#!/bin/sh
# Build the libFuzzer harnesses (clang, ASan+UBSan) into build-fuzz/ and run
# each for SECONDS (default 300): sockaccel.conf parsing and sockacceld's
# command line. Seeds: tests/fuzz/corpus/; past crashes: tests/fuzz/regressions/.
#   scripts/fuzz.sh [SECONDS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-300}
"$top/scripts/install-deps.sh"
cmake -S "$top" -B "$top/build-fuzz" -DCMAKE_C_COMPILER=clang -DSA_FUZZ=ON -DSA_HARDEN=OFF \
	-DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$top/build-fuzz" -j "$(nproc)" --target fuzz_config fuzz_opts
for f in config opts; do
	echo "== fuzz_$f for ${secs}s"
	"$top/tests/fuzz/fuzz-run.sh" "$top/build-fuzz/tests/fuzz/fuzz_$f" \
		"$top/tests/fuzz/corpus/$f" "$secs"
done
