#!/bin/sh
# Run one libFuzzer harness for SECONDS on a scratch copy of its corpus.
#   fuzz-run.sh FUZZER CORPUS_DIR SECONDS
# On a crash the input is printed (base64) and kept in $SA_FUZZ_ARTIFACTS
# (default: the current directory); add it to tests/fuzz/regressions/.
set -eu
fuzzer=$1; corpus=$2; secs=$3
artifacts=${SA_FUZZ_ARTIFACTS:-$PWD}/fuzz-artifacts
work=$(mktemp -d /tmp/sockaccel-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work/"
mkdir -p "$artifacts"
rc=0
"$fuzzer" -max_total_time="$secs" -artifact_prefix="$artifacts/" -print_final_stats=1 \
	"$work" >"$work.log" 2>&1 || rc=$?
tail -12 "$work.log"
rm -f "$work.log"
if [ "$rc" != 0 ]; then
	for a in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-*; do
		[ -e "$a" ] || continue
		echo "input $a (base64):"
		base64 "$a"
	done
fi
exit "$rc"
