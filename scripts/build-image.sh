#!/bin/sh
# Build an OCI container image of sockacceld offline: no container daemon, no
# registry. mmdebstrap makes a minimal Debian 12 rootfs (the essential set,
# the .deb's runtime dependencies and the project's .deb, from the Debian
# mirror the host's apt uses), umoci packs it into an OCI image layout and
# the layout is tarred into an OCI archive.
#
#   scripts/build-image.sh [--deb FILE] OUT_DIR
#
# Without --deb the .deb is built first (scripts/build-deb.sh OUT_DIR/deb-build).
# Results, replaced on every run:
#   OUT_DIR/sockaccel-image.oci.tar   OCI archive, image sockaccel:VERSION
#   OUT_DIR/oci/                      the same image as an OCI layout
#   OUT_DIR/rootfs.log                mmdebstrap's log
# Needs root (mmdebstrap's root mode; as non-root it tries unshare mode) and
# mmdebstrap, umoci: scripts/install-deps.sh installs them.
#
# Loading the archive (VERSION as in the .deb, e.g. 0.1.0):
#   podman load -i OUT_DIR/sockaccel-image.oci.tar    -> localhost/sockaccel:VERSION
#   ctr -n k8s.io images import OUT_DIR/sockaccel-image.oci.tar
#                                                    -> docker.io/library/sockaccel:VERSION
#   docker load -i OUT_DIR/sockaccel-image.oci.tar    (Docker >= 25 loads OCI archives)
#   skopeo copy oci-archive:OUT_DIR/sockaccel-image.oci.tar docker-daemon:sockaccel:VERSION
# Running it: the daemon needs the host's bpffs and cgroup v2, the host's
# network and three capabilities, as deploy/kubernetes/daemonset.yaml gives
# them (docs/kubernetes.md), e.g.
#   podman run --cap-drop=all --cap-add=bpf,net_admin,perfmon --read-only
#     --network=host -v /sys/fs/bpf:/sys/fs/bpf -v /sys/fs/cgroup:/host/sys/fs/cgroup:ro
#     sockaccel:VERSION --cgroup=/host/sys/fs/cgroup
# The image keeps the default user (root): do not add a USER.
set -eu

SUITE=bookworm
# what the image leaves out: documentation, man pages, translations
DPKG_EXCLUDES="/usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* \
/usr/share/lintian/* /usr/share/linda/* /usr/share/bug/*"
# ... but keeps the licences
DPKG_INCLUDES="/usr/share/doc/*/copyright"

usage() {
	echo "usage: build-image.sh [--deb FILE] OUT_DIR" >&2
	exit 2
}
die() {
	echo "build-image: $*" >&2
	exit 1
}

deb=""
while [ $# -gt 0 ]; do
	case "$1" in
	--deb) [ $# -ge 2 ] || usage; deb=$2; shift 2 ;;
	--deb=*) deb=${1#--deb=}; shift ;;
	-h|--help) usage ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || usage
out=$1

top=$(cd "$(dirname "$0")/.." && pwd)
for tool in mmdebstrap mmtarfilter umoci dpkg-deb perl tar gzip; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "$tool missing: run scripts/install-deps.sh (as root) to install mmdebstrap and umoci"
done

start=$(date +%s)
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ -z "$deb" ]; then
	command -v cpack >/dev/null 2>&1 || die "cpack missing: run scripts/install-deps.sh (as root)"
	echo "== building the .deb (scripts/build-deb.sh $out/deb-build, log in $out/deb-build.log)"
	"$top/scripts/build-deb.sh" "$out/deb-build" >"$out/deb-build.log" 2>&1 ||
		{ tail -20 "$out/deb-build.log" >&2; die "scripts/build-deb.sh failed (log: $out/deb-build.log)"; }
	# shellcheck disable=SC2012  # cpack's file name has no odd characters
	deb=$(ls -t "$out"/deb-build/sockaccel_*.deb 2>/dev/null | head -1)
	[ -n "$deb" ] || die "scripts/build-deb.sh made no $out/deb-build/sockaccel_*.deb"
fi
[ -f "$deb" ] || die "no such .deb: $deb"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
version=$(dpkg-deb -f "$deb" Version) || die "$deb: not a Debian package"
[ "$(dpkg-deb -f "$deb" Package)" = sockaccel ] || die "$deb: not the sockaccel package"
depends=$(dpkg-deb -f "$deb" Depends)
homepage=$(dpkg-deb -f "$deb" Homepage)
summary=$(dpkg-deb -f "$deb" Description | head -1)
entrypoint=/usr/sbin/sockacceld
dpkg-deb -c "$deb" | grep " \.$entrypoint\$" >/dev/null || die "$deb does not install $entrypoint"
name=sockaccel
tag=$name:$version

# The mirrors the host's apt uses (deb822 or one-line format): the main
# archive for bookworm and bookworm-updates, and the security archive if the
# host has one.
sources=/etc/apt/sources.list.d/debian.sources
uris=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$sources" 2>/dev/null || true)
[ -n "$uris" ] || uris=$(awk '$1 == "deb" { print ($2 ~ /^\[/ ? $3 : $2) }' /etc/apt/sources.list 2>/dev/null || true)
mirror=$(echo "$uris" | grep -v 'debian-security' | head -1)
security=$(echo "$uris" | grep 'debian-security' | head -1 || true)
[ -n "$mirror" ] || die "no Debian mirror in $sources or /etc/apt/sources.list"

# One timestamp for the rootfs files, the image's created time and the archive
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

tmp=$(mktemp -d "$out/.build-image.XXXXXX")
debdir=""
cleanup() {
	rm -rf "$tmp"
	[ -z "$debdir" ] || rm -rf "$debdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== rootfs: mmdebstrap --variant=essential $SUITE + $(basename "$deb") (Depends: $depends), log in $out/rootfs.log"
# apt runs outside the chroot and hands the .deb's path to dpkg inside, so the
# .deb must be at the same path in both. A copy, not mmdebstrap's
# file-mirror-automount hook: that bind mount stays behind when a build fails.
# /tmp in the chroot is emptied by mmdebstrap at the end.
debdir=$(mktemp -d /tmp/sockaccel-image-deb.XXXXXX)
cp "$deb" "$debdir/"
chroot_deb=$debdir/$(basename "$deb")
# merged-usr: merged /usr the way debootstrap makes it (usr-is-merged), not
# with the usrmerge package, which would pull in perl.
set -- --variant=essential --include="$chroot_deb" \
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
	--setup-hook="mkdir -p \"\$1$debdir\" && cp \"$chroot_deb\" \"\$1$debdir/\"" \
	--customize-hook="rm -rf \"\$1$debdir\""
set -f	# the patterns are dpkg's, not the shell's
for p in $DPKG_EXCLUDES; do
	set -- "$@" --dpkgopt="path-exclude=$p"
done
for p in $DPKG_INCLUDES; do
	set -- "$@" --dpkgopt="path-include=$p"
done
set +f
# Left-overs of the build that a container has no use for ($1: the rootfs,
# expanded by mmdebstrap)
# shellcheck disable=SC2016
set -- "$@" --customize-hook='rm -rf "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old "$1"/var/cache/apt/*.bin "$1"/var/log/apt'
set -- "$@" "$SUITE" "$tmp/rootfs-dev.tar" "deb $mirror $SUITE main" "deb $mirror $SUITE-updates main"
[ -z "$security" ] || set -- "$@" "deb $security $SUITE-security main"
mmdebstrap "$@" >"$out/rootfs.log" 2>&1 ||
	{ tail -20 "$out/rootfs.log" >&2; die "mmdebstrap failed (log: $out/rootfs.log)"; }
# The runtime provides /dev; device nodes in a layer only get in the way.
mmtarfilter --path-exclude='/dev/*' <"$tmp/rootfs-dev.tar" >"$tmp/rootfs.tar"
rm -f "$tmp/rootfs-dev.tar"

tar -xOf "$tmp/rootfs.tar" ./var/lib/dpkg/status >"$tmp/status" ||
	die "rootfs has no /var/lib/dpkg/status"
npkgs=$(grep -c '^Package:' "$tmp/status")
if grep -qx 'Package: systemd' "$tmp/status"; then
	die "systemd ended up in the rootfs: the .deb must not depend on it (packaging.cmake)"
fi
rootfs_bytes=$(tar -tvf "$tmp/rootfs.tar" | awk '$1 ~ /^-/ { s += $3 } END { print s + 0 }')

echo "== OCI image $tag"
layout=$tmp/oci
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci raw add-layer --image "$layout:$tag" \
	--history.created="$created" --history.author="sockaccel build-image.sh" \
	--history.created_by="mmdebstrap --variant=essential $SUITE + sockaccel_$version" \
	"$tmp/rootfs.tar"
umoci config --image "$layout:$tag" \
	--created="$created" --author="sockaccel build-image.sh" \
	--os=linux --architecture="$(dpkg-deb -f "$deb" Architecture)" \
	--config.entrypoint="$entrypoint" \
	--config.env="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	--config.workingdir=/ \
	--config.label="org.opencontainers.image.title=$name" \
	--config.label="org.opencontainers.image.description=$summary" \
	--config.label="org.opencontainers.image.version=$version" \
	--config.label="org.opencontainers.image.source=$homepage" \
	--config.label="org.opencontainers.image.url=$homepage" \
	--config.label="org.opencontainers.image.created=$created" \
	--config.label="org.opencontainers.image.base.name=debian:$SUITE" \
	--history.created="$created" --history.author="sockaccel build-image.sh" \
	--history.created_by="umoci config (entrypoint $entrypoint, labels)"
umoci gc --layout "$layout"
# Podman and skopeo name the image after org.opencontainers.image.ref.name,
# containerd and Docker after io.containerd.image.name.
perl -MJSON::PP -e '
	my ($file, $tag, $full) = @ARGV;
	local $/; open(my $fh, "<", $file) or die "$file: $!"; my $j = decode_json(<$fh>); close $fh;
	my @m = @{$j->{manifests}};
	die "expected one manifest in $file, found " . scalar(@m) . "\n" unless @m == 1;
	die "manifest in $file is not tagged $tag\n"
		unless ($m[0]{annotations}{"org.opencontainers.image.ref.name"} // "") eq $tag;
	$m[0]{annotations}{"io.containerd.image.name"} = $full;
	open($fh, ">", $file) or die "$file: $!"; print $fh JSON::PP->new->canonical->encode($j); close $fh;
' "$layout/index.json" "$tag" "docker.io/library/$tag" || die "could not annotate $layout/index.json"

tar -C "$layout" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
	-cf "$tmp/image.oci.tar" oci-layout index.json blobs
rm -rf "$out/oci"
mv "$layout" "$out/oci"
mv -f "$tmp/image.oci.tar" "$out/sockaccel-image.oci.tar"

mib() {
	awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'
}
archive_bytes=$(stat -c %s "$out/sockaccel-image.oci.tar")
echo "== done in $(($(date +%s) - start)) s: $out/sockaccel-image.oci.tar ($tag)"
echo "   archive (gzip layer): $(mib "$archive_bytes")"
echo "   rootfs unpacked:      $(mib "$rootfs_bytes") in regular files, $npkgs packages (variant essential)"
