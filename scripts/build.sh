#!/bin/sh
# Install dependencies (Debian 12, root) and build into ./build.
#   scripts/build.sh [run|all]    which dependency set (scripts/install-deps.sh)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" "${1:-all}"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$top/build" -j "$(nproc)"
