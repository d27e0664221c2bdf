#!/bin/sh
# Build the Debian package into build-deb/ (needs scripts/install-deps.sh run).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-deb}
cmake -S "$top" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	-DBUILD_TESTING=OFF
cmake --build "$out" -j "$(nproc)"
cd "$out" && cpack -G DEB
ls "$out"/sockaccel_*.deb
