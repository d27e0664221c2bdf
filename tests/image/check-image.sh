#!/bin/sh
# Check the OCI image that scripts/build-image.sh made (label "image"):
# unpack it with umoci and check its config (entrypoint, labels, names), that
# the binaries run in it, that it holds every file of the .deb that its dpkg
# configuration does not exclude, with the .deb's checksums, that it has no
# systemd and no apt, and report its size. Needs root (umoci unpack, chroot).
#
#   tests/image/check-image.sh OUT_DIR [DEB]
#
# DEB defaults to the .deb build-image.sh built, OUT_DIR/deb-build/sockaccel_*.deb.
# IMAGE_MAX_MIB (default 100): ceiling for the unpacked rootfs.
set -eu

out=${1:?usage: check-image.sh OUT_DIR [DEB]}
deb=${2:-}
max_mib=${IMAGE_MAX_MIB:-100}
entrypoint=/usr/sbin/sockacceld
ctl=/usr/sbin/sockaccelctl
archive=$out/sockaccel-image.oci.tar

fatal() {
	echo "FAIL: $*" >&2
	exit 1
}
failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
ok() {
	echo "ok: $*"
}

[ "$(id -u)" -eq 0 ] || fatal "must run as root (umoci unpack, chroot)"
for tool in umoci dpkg-deb perl chroot tar md5sum; do
	command -v "$tool" >/dev/null 2>&1 ||
		fatal "$tool missing: run scripts/install-deps.sh (as root)"
done
[ -f "$archive" ] || fatal "no image archive $archive: run scripts/build-image.sh $out first"
if [ -z "$deb" ]; then
	# shellcheck disable=SC2012  # cpack's file name has no odd characters
	deb=$(ls -t "$out"/deb-build/sockaccel_*.deb 2>/dev/null | head -1)
	[ -n "$deb" ] || fatal "no .deb in $out/deb-build/: pass the one the image was built from as DEB"
fi
[ -f "$deb" ] || fatal "no such .deb: $deb"
version=$(dpkg-deb -f "$deb" Version)
tag=sockaccel:$version

tmp=$(mktemp -d /tmp/sockaccel-check-image.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# 1. The layout: one manifest, named for Podman/skopeo (ref.name) and for
# containerd/Docker (io.containerd.image.name); its config.
mkdir "$tmp/oci"
tar -xf "$archive" -C "$tmp/oci" || fatal "$archive: not a tar archive"
if [ ! -f "$tmp/oci/oci-layout" ] || [ ! -f "$tmp/oci/index.json" ]; then
	fatal "$archive: no oci-layout or index.json at the top: not an OCI archive"
fi
perl -MJSON::PP -e '
	my $dir = shift;
	sub slurp { local $/; open(my $fh, "<", $_[0]) or die "$_[0]: $!\n"; decode_json(<$fh>) }
	sub blob { my ($d) = @_; $d =~ s/^sha256://; slurp("$dir/blobs/sha256/$d") }
	my $index = slurp("$dir/index.json");
	my @m = @{$index->{manifests} // []};
	print "manifests=", scalar(@m), "\n";
	exit 0 unless @m == 1;
	my $a = $m[0]{annotations} // {};
	print "ref.name=", $a->{"org.opencontainers.image.ref.name"} // "", "\n";
	print "containerd.name=", $a->{"io.containerd.image.name"} // "", "\n";
	my $manifest = blob($m[0]{digest});
	print "layers=", scalar(@{$manifest->{layers}}), "\n";
	my $c = blob($manifest->{config}{digest});
	my $cfg = $c->{config} // {};
	print "os=", $c->{os} // "", "\n";
	print "architecture=", $c->{architecture} // "", "\n";
	print "entrypoint=", JSON::PP->new->encode($cfg->{Entrypoint} // []), "\n";
	print "cmd=", JSON::PP->new->encode($cfg->{Cmd} // []), "\n";
	print "user=", $cfg->{User} // "", "\n";
	my $l = $cfg->{Labels} // {};
	print "label.$_=$l->{$_}\n" for sort keys %$l;
' "$tmp/oci" >"$tmp/config.txt" || fatal "$archive: cannot read index, manifest or config"
get() {
	sed -n "s|^$1=||p" "$tmp/config.txt"
}
expect() {	# key expected-value
	got=$(get "$1")
	if [ "$got" = "$2" ]; then
		ok "$1 = $2"
	else
		fail "image $1: expected '$2', got '$got'"
	fi
}
expect manifests 1
expect ref.name "$tag"
expect containerd.name "docker.io/library/$tag"
expect os linux
expect architecture "$(dpkg-deb -f "$deb" Architecture)"
expect entrypoint "[\"$entrypoint\"]"
expect cmd "[]"
expect user ""
expect label.org.opencontainers.image.version "$version"
expect label.org.opencontainers.image.title sockaccel
expect label.org.opencontainers.image.source "$(dpkg-deb -f "$deb" Homepage)"

# 2. Unpack as a runtime bundle, as a container runtime would see it
umoci unpack --image "$tmp/oci:$tag" "$tmp/bundle" >"$tmp/unpack.log" 2>&1 ||
	{ cat "$tmp/unpack.log" >&2; fatal "umoci unpack --image $archive:$tag failed"; }
root=$tmp/bundle/rootfs
[ -d "$root/usr" ] || fatal "unpacked image has no /usr"

# 3. The binaries run, and say the .deb's version
run() {	# what-to-print command...
	what=$1
	shift
	rc=0
	chroot "$root" "$@" >"$tmp/run.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "'$what' in the image: expected exit 0 and '$version', got exit $rc: $(head -3 "$tmp/run.out")"
	elif ! grep -F "$version" "$tmp/run.out" >/dev/null; then
		fail "'$what' in the image: expected the version $version in: $(head -3 "$tmp/run.out")"
	else
		ok "$what: $(head -1 "$tmp/run.out")"
	fi
}
run "$entrypoint --version" "$entrypoint" --version
run "$ctl version" "$ctl" version
# shellcheck disable=SC2016  # dpkg-query's format, not the shell's
status=$(chroot "$root" dpkg-query -W -f='${Status} ${Version}' sockaccel 2>&1 || true)
if [ "$status" = "install ok installed $version" ]; then
	ok "dpkg: sockaccel $version installed"
else
	fail "dpkg in the image: expected 'install ok installed $version' for sockaccel, got '$status'"
fi

# 4. The .deb's files: every regular file, unless the image's dpkg config
# (path-exclude/path-include, the last matching rule wins) leaves it out.
cat "$root"/etc/dpkg/dpkg.cfg.d/* 2>/dev/null |
	sed -n 's/^[[:space:]]*\(path-exclude\|path-include\)[[:space:]]*=*[[:space:]]*\(.*\)$/\1 \2/p' >"$tmp/filters"
excluded() {	# path: 0 if dpkg left it out
	set -f
	result=1
	while read -r kind pattern; do
		# shellcheck disable=SC2254  # the pattern is a glob, as for dpkg
		case $1 in
		$pattern) if [ "$kind" = path-exclude ]; then result=0; else result=1; fi ;;
		esac
	done <"$tmp/filters"
	set +f
	return $result
}
dpkg-deb -c "$deb" | awk '$1 ~ /^-/ { print substr($6, 2) }' >"$tmp/files"
[ -s "$tmp/files" ] || fatal "dpkg-deb -c $deb lists no regular files"
present=0
skipped=0
: >"$tmp/expected"
while read -r f; do
	if excluded "$f"; then
		skipped=$((skipped + 1))
		continue
	fi
	echo "$f" >>"$tmp/expected"
	if [ -f "$root$f" ]; then
		present=$((present + 1))
	else
		fail "$f: the .deb has it, expected it in the image, it is missing"
	fi
done <"$tmp/files"
ok "$present of the .deb's $(wc -l <"$tmp/files") files present ($skipped left out by the image's dpkg path-exclude)"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums >"$tmp/md5sums" 2>/dev/null || true
if [ -s "$tmp/md5sums" ]; then
	bad=0
	while read -r sum f; do
		grep -Fx "/$f" "$tmp/expected" >/dev/null || continue
		[ -f "$root/$f" ] || continue	# reported above
		got=$(md5sum <"$root/$f" | cut -d' ' -f1)
		[ "$got" = "$sum" ] || { fail "/$f: content differs from the .deb's (md5 $got, expected $sum)"; bad=1; }
	done <"$tmp/md5sums"
	[ "$bad" = 1 ] || ok "contents match the .deb's md5sums"
else
	fail "$deb has no md5sums: expected one (cpack writes it)"
fi

# 5. What is not there: no init system, no package manager beyond dpkg
before=$failures
for pkg in systemd systemd-sysv apt procps; do
	if grep -qx "Package: $pkg" "$root/var/lib/dpkg/status"; then
		fail "package $pkg is in the image: expected only the .deb's Depends (packaging.cmake: Recommends, not Depends)"
	fi
done
if [ -e "$root/usr/lib/systemd/systemd" ] || [ -e "$root/usr/bin/systemctl" ]; then
	fail "systemd binaries in the image: expected none"
fi
[ "$failures" -gt "$before" ] || ok "no systemd, systemd-sysv, apt, procps"

# 6. Sizes
npkgs=$(grep -c '^Package:' "$root/var/lib/dpkg/status")
rootfs_kib=$(du -sk --apparent-size "$root" | cut -f1)
rootfs_mib=$((rootfs_kib / 1024))
archive_kib=$(($(stat -c %s "$archive") / 1024))
mib() {
	awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'
}
echo "size: archive $(mib "$archive_kib") (gzip), rootfs unpacked $(mib "$rootfs_kib"), $npkgs packages"
[ "$rootfs_mib" -lt "$max_mib" ] ||
	fail "unpacked rootfs is $rootfs_mib MiB: expected less than $max_mib MiB (IMAGE_MAX_MIB)"

if [ "$failures" -gt 0 ]; then
	echo "FAIL: $failures check(s) of $archive failed" >&2
	exit 1
fi
echo "PASS: $archive ($tag)"
