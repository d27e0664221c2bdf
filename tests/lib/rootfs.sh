#!/bin/bash
# Print the path of a cached Debian 12 minbase rootfs, making it once with
# debootstrap (about a minute, ~280 MB). Shared by the systemd-nspawn and
# the second-kernel (qemu) tests; never modified after it is made: users
# put an overlay or a read-only 9p mount over it.
#
#   tests/lib/rootfs.sh CACHE_DIR
set -euo pipefail

PACKAGES="systemd,systemd-sysv,dbus,libbpf1,libelf1,libsystemd0,libjansson4,libmicrohttpd12,iproute2,procps,man-db"
SUITE=bookworm

cache_dir=$1
key=$(echo "$SUITE $PACKAGES" | sha256sum | cut -c1-12)
cache="$cache_dir/$key"

mkdir -p "$cache_dir"
exec 9>"$cache_dir/.lock"
flock 9		# one builder at a time; the others wait and reuse
if [ ! -e "$cache/.complete" ]; then
	command -v debootstrap >/dev/null || { echo "FAIL: debootstrap missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
	# the mirror the host already uses, read at run time
	mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
	[ -n "$mirror" ] || { echo "FAIL: no Debian mirror in the host's apt sources" >&2; exit 1; }
	echo "== debootstrap $SUITE into $cache (once; about a minute)" >&2
	rm -rf "$cache"
	mkdir -p "$cache"
	debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$cache/root" "$mirror" \
		>"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; echo "FAIL: debootstrap" >&2; exit 1; }
	touch "$cache/.complete"
fi
echo "$cache/root"
