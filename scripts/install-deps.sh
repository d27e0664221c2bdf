#!/bin/sh
# Install everything sockaccel needs to build, run and test on Debian 12.
# Idempotent; needs root (apt-get).
set -eu

# The last line is for the benchmark suite (bench/run.sh): the applications it
# measures and gnuplot for its plots.
PKGS="build-essential cmake pkg-config clang llvm bpftool \
libbpf-dev libelf-dev zlib1g-dev libsystemd-dev iproute2 procps \
systemd-container debootstrap lintian qemu-system-x86 busybox-static kmod \
redis-server redis-tools nginx wrk gnuplot-nox valgrind"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get install)" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
