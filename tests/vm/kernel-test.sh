#!/bin/bash
# The fast-path integration suite on another kernel than the host's, under
# qemu. One harness, registered once per kernel by tests/vm/CMakeLists.txt:
#
#   kernel61   Debian 12's own 6.1 (linux-image-amd64): no sockmap links, so
#              sk_msg is attached the legacy way (bpf_prog_attach).
#   kernel612  Debian 12's 6.12 (bookworm-security, linux-image-6.12.*+deb12-amd64):
#              sockmap links, and the kernel Debian 12 moves to.
#
# qemu under TCG (no KVM here) boots the kernel with a small initramfs
# (busybox and the 9p/virtio/overlay/veth/sock_diag modules the kernel does not build
# in); the Debian rootfs and the build tree come in over read-only 9p, an
# overlay on tmpfs makes the root writable, and the results are printed to
# the serial console. Before the tests, `sockacceld --preflight` runs in the
# VM; its `variant:` line must match EXPECTED_VARIANT_REGEX (grep -E), so a
# kernel whose verifier makes sockacceld pick another variant is a named
# failure, not a silent change.
#
#   tests/vm/kernel-test.sh NAME KERNEL_PKG EXPECTED_VARIANT_REGEX BUILD_DIR TEST_EXE...
#
#   NAME        short name for messages, the run dir ($BUILD_DIR/vm-run/NAME)
#               and the VM's closing line "NAME: N passed, M failed"
#   KERNEL_PKG  a meta package (linux-image-amd64): the linux-image-* it
#               depends on today; or a quoted glob
#               ('linux-image-6.12.*+deb12-amd64'): the newest matching
#               package apt-cache knows (sort -V; -dbg, -unsigned and
#               -signed-template excluded); or one image package by name
#
# Kernels and initramfs are cached in $BUILD_DIR/vm-cache, keyed by package
# and kernel version; an initramfs is rebuilt when this script changes.
#
# Why 6.12 is the generic flavour and not -cloud: Debian's 6.12 cloud kernel
# (linux-image-6.12.*-cloud-amd64) has no 9p at all (CONFIG_NET_9P is not
# set); it only builds in virtio-fs, which would need two virtiofsd daemons
# on the host and a shared-memory backend in qemu. The generic flavour has
# 9p as modules, is the same flavour as the 6.1 test, and its BPF, cgroup,
# TLS and netns options are identical to the cloud flavour's (the configs
# differ in drivers). Its modules are .ko.xz: they are decompressed here,
# so busybox insmod needs no decompressor of its own.
#
# Run by ctest (labels "kernel61" and "kernel612") and so by .ci/run.
# SA_VM_TIMEOUT (seconds, default 1500) bounds the VM.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ $# -ge 5 ] || fail "usage: $0 NAME KERNEL_PKG EXPECTED_VARIANT_REGEX BUILD_DIR TEST_EXE..."
name=$1 kernel_pkg=$2 variant_re=$3
build=$(realpath "$4")
shift 4
[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || fail "NAME '$name': letters, digits, '.', '_', '-' only"
src=$(cd "$(dirname "$0")/../.." && pwd)
vm_timeout=${SA_VM_TIMEOUT:-1500}

[ "$(id -u)" = 0 ] || fail "$name: needs root (bpf in the VM is root's; 9p export of the build tree)"
for tool in qemu-system-x86_64 busybox depmod modprobe apt-get apt-cache dpkg-deb; do
	command -v "$tool" >/dev/null || fail "$name: $tool missing (scripts/install-deps.sh installs it)"
done
[ -x "$build/daemon/sockacceld" ] || fail "$name: $build/daemon/sockacceld missing (build first)"
# grep -E exits 2 on a malformed regex: refuse it before booting
re_rc=0; echo | grep -Eq -- "$variant_re" 2>/dev/null || re_rc=$?
[ "$re_rc" != 2 ] ||
	fail "$name: EXPECTED_VARIANT_REGEX '$variant_re' is not a valid extended regex"

cache="$build/vm-cache"
mkdir -p "$cache"

# --- the kernel package ------------------------------------------------------
case $kernel_pkg in
*[*?[]*)	# a glob: the newest image package it matches
	kpkg=$(apt-cache pkgnames "${kernel_pkg%%[*?[]*}" 2>/dev/null |
		while read -r p; do
			# shellcheck disable=SC2254 # the glob is meant to match
			case $p in
			*-dbg | *-unsigned | *-signed-template) ;;
			$kernel_pkg) echo "$p" ;;
			esac
		done | sort -V | tail -1)
	[ -n "$kpkg" ] || fail "$name: apt-cache knows no package matching '$kernel_pkg' (run apt-get update)"
	;;
*)	# a meta package: what it depends on; else the package itself
	kpkg=$(apt-cache depends "$kernel_pkg" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
	if [ -z "$kpkg" ]; then
		apt-cache show "$kernel_pkg" >/dev/null 2>&1 ||
			fail "$name: apt-cache does not know $kernel_pkg (run apt-get update)"
		kpkg=$kernel_pkg
	fi
	;;
esac
kdir="$cache/$kpkg"
if [ ! -e "$kdir/.complete" ]; then
	step "$name: fetching $kpkg (once)"
	rm -rf "$kdir"
	mkdir -p "$kdir"
	(cd "$kdir" && apt-get download "$kpkg" >/dev/null 2>&1) || fail "$name: apt-get download $kpkg"
	dpkg-deb -x "$kdir"/*.deb "$kdir/x"
	touch "$kdir/.complete"
fi
kver=$(ls "$kdir/x/lib/modules")
vmlinuz="$kdir/x/boot/vmlinuz-$kver"
kconfig="$kdir/x/boot/config-$kver"
for f in "$vmlinuz" "$kconfig"; do
	[ -e "$f" ] || fail "$name: $kpkg holds no ${f#"$kdir/x/"}"
done
grep -q '^CONFIG_BPF_STREAM_PARSER=y' "$kconfig" ||
	fail "$name: $kver lacks CONFIG_BPF_STREAM_PARSER (no sockmap, nothing to test)"
# what booting needs: 9p over virtio for / and the build tree, overlay to make
# / writable; veth for remote_peer. Built in (=y) or a module (=m).
for opt in NET_9P NET_9P_VIRTIO 9P_FS VIRTIO_PCI OVERLAY_FS VETH; do
	grep -Eq "^CONFIG_$opt=[ym]" "$kconfig" ||
		fail "$name: $kpkg ($kver) lacks CONFIG_$opt, which this harness needs (9p root over virtio, overlay, veth)"
done

# --- the initramfs: busybox, the modules 9p, overlay and sock_diag need, /init
initrd="$cache/initrd-$kver.cpio.gz"
if [ ! -e "$initrd" ] || [ "$0" -nt "$initrd" ] || [ "$kdir/.complete" -nt "$initrd" ]; then
	step "$name: building the initramfs for $kver"
	depmod -b "$kdir/x" "$kver"
	ird=$(mktemp -d)
	mkdir -p "$ird"/{bin,dev,proc,sys,mod,newroot,lower,upper,build}
	cp "$(command -v busybox)" "$ird/bin/busybox"
	# "insmod PATH" for each module and its dependencies, in load order;
	# "builtin NAME" for what the kernel has built in: nothing to load
	deps=""
	# inet_diag/tcp_diag: a Debian host autoloads them on the first sock_diag
	# query (sockaccelctl disable's drain); the guest has no module tree
	for m in 9pnet_virtio 9p virtio_pci overlay veth inet_diag tcp_diag; do
		d=$(modprobe -d "$kdir/x" -S "$kver" --show-depends "$m" 2>&1) ||
			fail "$name: $kver has no module $m and does not build it in: $d"
		deps+="$d"$'\n'
	done
	: >"$ird/mod/order"
	for m in $(echo "$deps" | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
		ko=$(basename "$m")
		case $ko in
		*.ko) cp "$m" "$ird/mod/$ko" ;;
		*.ko.xz) ko=${ko%.xz}; busybox xzcat "$m" >"$ird/mod/$ko" ;;
		*.ko.gz) ko=${ko%.gz}; busybox zcat "$m" >"$ird/mod/$ko" ;;
		*.ko.zst) ko=${ko%.zst}
			command -v zstd >/dev/null || fail "$name: $ko.zst needs zstd on the host"
			zstd -qdc "$m" >"$ird/mod/$ko" ;;
		*) fail "$name: module $m: unknown compression" ;;
		esac
		echo "$ko" >>"$ird/mod/order"
	done
	cat >"$ird/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /mod/order); do insmod /mod/$m || echo "insmod $m failed"; done
build=$(sed -n 's/.*sa_build=\([^ ]*\).*/\1/p' /proc/cmdline)
suite=$(sed -n 's/.*sa_suite=\([^ ]*\).*/\1/p' /proc/cmdline)
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 rootfs /lower
mount -t tmpfs tmpfs /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot
mkdir -p /newroot$build
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 build /newroot$build
chroot /newroot /bin/sh $suite
echo "sockaccel-vm: suite finished"
poweroff -f
INIT
	chmod +x "$ird/init"
	(cd "$ird" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	rm -rf "$ird"
fi

# --- the rootfs and the suite script ---------------------------------------
rootfs=$("$src/tests/lib/rootfs.sh" "$build/rootfs-cache") || exit 1
run="$build/vm-run/$name"
mkdir -p "$run"
# The VM prints "NAME-preflight-variant: LINE" with the first line of
# sockacceld --preflight that starts with "variant:", or
# "NAME-preflight-variant-missing" when there is none.
{
	cat <<SUITE
#!/bin/sh
# generated by tests/vm/kernel-test.sh for $name; runs inside the VM, in the chroot
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
# / is an overlay on tmpfs, so /tmp is writable already; but overlayfs gives
# files there another st_dev than their directory, which the tests' cleanup
# takes for a mount point and does not cross: a tmpfs of its own, unless the
# build tree is under /tmp
case $build/ in /tmp/*) ;; *) mount -t tmpfs tmpfs /tmp ;; esac
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
echo "kernel: \$(uname -r)"
echo "-- sockacceld --preflight"
out=\$($build/daemon/sockacceld --preflight 2>&1); rc=\$?
printf '%s\n' "\$out"
echo "-- sockacceld --preflight exit: \$rc"
variant=\$(printf '%s\n' "\$out" | grep -m1 '^variant:')
if [ -n "\$variant" ]; then echo "$name-preflight-variant: \$variant"; else echo "$name-preflight-variant-missing"; fi
pass=0; fail=0
SUITE
	for t in "$@"; do
		t=$(realpath "$t")
		b=$(basename "$t")
		echo "echo '-- $b'"
		echo "if $t; then pass=\$((pass+1)); echo 'PASS $b'; else fail=\$((fail+1)); echo 'FAIL $b'; fi"
	done
	echo "echo \"$name: \$pass passed, \$fail failed\""
} >"$run/suite.sh"

# --- boot ------------------------------------------------------------------
log="$run/console.log"
boot() {
	step "$name: booting $kver ($kpkg) under qemu (TCG); the suite runs inside"
	start=$SECONDS
	rc=0
	timeout "$vm_timeout" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2048 \
		-nographic -no-reboot -monitor none -serial stdio \
		-kernel "$vmlinuz" -initrd "$initrd" \
		-append "console=ttyS0 rdinit=/init panic=-1 quiet sa_build=$build sa_suite=$run/suite.sh" \
		-fsdev local,id=r,path="$rootfs",security_model=none,readonly=on \
		-device virtio-9p-pci,fsdev=r,mount_tag=rootfs \
		-fsdev local,id=b,path="$build",security_model=none,readonly=on \
		-device virtio-9p-pci,fsdev=b,mount_tag=build \
		</dev/null >"$log" 2>&1 || rc=$?
	echo "== $name: the VM ran $((SECONDS - start)) s (console: $log)"
}

# the console log without CRs and terminal escapes (the guest resets the
# serial terminal just before the suite's first line)
console() { tr -d '\r' <"$log" | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[c]//g'; }

boot
# A guest kernel panic is a finding about that kernel, not a test result:
# show where and the oops first (a long console would bury it), keep the
# whole console, and run the suite once more. Two panics fail.
if console | grep -q "Kernel panic"; then
	cp "$log" "$run/panic-1.log"
	echo "== $name: THE GUEST KERNEL PANICKED during: $(console | grep -E '^-- ' | tail -1)"
	console | grep -E 'BUG:|RIP:|Oops|Call Trace|^\[ *[0-9.]+\] +[a-z_0-9.]+\+0x|Kernel panic' | head -60
	echo "== $name: whole console kept in $run/panic-1.log; booting once more"
	boot
	console | grep -q "Kernel panic" && { console | tail -60; fail "$name: the guest kernel panicked twice"; }
fi
console | sed -n '/^kernel:/,$p'
[ "$rc" = 124 ] && fail "$name: the VM did not finish within ${vm_timeout}s"
summary=$(console | grep -E "^$name: [0-9]+ passed, [0-9]+ failed" | tail -1)
[ -n "$summary" ] || { console | tail -30; fail "$name: no result from the VM (qemu exit $rc)"; }

failures=()
vline=$(console | sed -n "s/^$name-preflight-variant: //p" | tail -1)
if [ -z "$vline" ]; then
	failures+=("$name: sockacceld --preflight printed no variant line (expected one matching '$variant_re')")
elif ! printf '%s\n' "$vline" | grep -Eq -- "$variant_re"; then
	failures+=("$name: variant line '$vline' does not match the expected '$variant_re'")
else
	echo "== $name: '$vline' matches '$variant_re'"
fi
echo "$summary"
echo "$summary" | grep -q ' 0 failed$' || failures+=("$summary")

[ ${#failures[@]} = 0 ] || { for f in "${failures[@]}"; do echo "FAIL: $f" >&2; done; exit 1; }
echo "== $name: passed on $kver"
