#!/bin/sh
# Install dependencies, build, and run the whole test suite (unit and
# integration tests on the real kernel; needs root). Extra arguments go to
# ctest, e.g. -L unit.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
cd "$top/build"
exec ctest --output-on-failure --timeout 600 "$@"
