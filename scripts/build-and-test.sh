#!/bin/sh
# Install dependencies, build, and run every test: the ASan/UBSan
# configuration, a short fuzz campaign, then the main suite (unit,
# integration, ctl, system under systemd-nspawn, the 6.1 and 6.12 kernels
# under qemu, stress, and the benchmark smoke run). Needs root. Extra
# arguments go to the main ctest run, e.g. -L unit to run only the unit
# tests there.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
if [ $# -eq 0 ]; then
	echo "== sanitizers (build-asan)"
	"$top/scripts/sanitize-test.sh"
	echo "== fuzzing, 30 s per harness (build-fuzz)"
	"$top/scripts/fuzz.sh" 30
fi
echo "== main suite (build)"
cd "$top/build"
[ $# -eq 0 ] || exec ctest --output-on-failure --timeout 1800 "$@"
# The two qemu suites (labels kernel61, kernel612) keep about one CPU each
# busy under TCG (16.8 CPU minutes in 16 minutes, run one after the other),
# so they run side by side, after the rest; both runs go to the end.
vms='^kernel6(1|12)$'
rc=0
ctest --output-on-failure --timeout 1800 -LE "$vms" || rc=$?
ctest --output-on-failure --timeout 1800 -j 2 -L "$vms" || rc=$?
exit "$rc"
