#!/bin/bash
# sockaccel under a real systemd: a Debian 12 rootfs booted with
# systemd-nspawn (systemd 252 as PID 1), the .deb installed inside, and the
# service driven with systemctl. Run by ctest (label "system") and .ci/run.
#
#   tests/system/systemd-test.sh BUILD_DIR SA_STREAM_BINARY
#
# The rootfs is made once by debootstrap and cached under BUILD_DIR, keyed
# by its package list; each run boots it through an overlay of its own, so
# the cache is never modified. Everything the run creates (overlay, the
# container, its cgroups) is removed on exit, also on failure.
set -euo pipefail

build=$(realpath "$1")
sa_stream=$(realpath "$2")
src=$(cd "$(dirname "$0")/../.." && pwd)

fail() { echo "FAIL: $*" >&2; dump_logs; exit 1; }
step() { echo "== $*"; }

# --- preconditions: say what is missing, never skip silently ----------------
for tool in systemd-nspawn nsenter; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root (systemd-nspawn, bpf)" >&2; exit 1; }
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$cg2" ] || { echo "FAIL: no cgroup2 mount" >&2; exit 1; }
cg1=$(awk '$9 == "cgroup" && $NF ~ /name=systemd/ { print $5; exit }' /proc/self/mountinfo)

# --- the package -------------------------------------------------------------
step "building the Debian package"
"$src/scripts/build-deb.sh" "$build/deb" >"$build/deb.log" 2>&1 || { tail -20 "$build/deb.log"; echo "FAIL: package build" >&2; exit 1; }
deb=$(ls "$build"/deb/sockaccel_*.deb | head -1)

# --- the rootfs cache --------------------------------------------------------
lower=$("$src/tests/lib/rootfs.sh" "$build/rootfs-cache") || exit 1

# --- one run's overlay, cgroups and container --------------------------------
run=$(mktemp -d /tmp/sockaccel-systest.XXXXXX)
root="$run/root"
cgname="sockaccel-systest-$$"
nspawn_pid=""
leader=""

rm_cgroup_tree() {
	[ -d "$1" ] || return 0
	find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
}

stop_container() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		[ -n "$leader" ] && kill -RTMIN+4 "$leader" 2>/dev/null || true	# poweroff
		for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$nspawn_pid" 2>/dev/null || true
		wait "$nspawn_pid" 2>/dev/null || true
	fi
	nspawn_pid=""
	leader=""
}

cleanup() {
	set +e
	stop_container
	for cg in "$cg2/$cgname" ${cg1:+"$cg1/$cgname"}; do
		[ -e "$cg/cgroup.kill" ] && echo 1 >"$cg/cgroup.kill" 2>/dev/null
		for _ in $(seq 25); do rm_cgroup_tree "$cg"; [ -d "$cg" ] || break; sleep 0.2; done
	done
	mountpoint -q "$root" && umount -l "$root"
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$run/upper" "$run/work" "$root"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$run/upper,workdir=$run/work" "$root"
mkdir -p "$cg2/$cgname" ${cg1:+"$cg1/$cgname"}

dump_logs() {
	[ -n "$leader" ] || return 0
	echo "--- journal of sockaccel.service in the container" >&2
	nsenter -t "$leader" -a -- journalctl -u sockaccel -u sockaccel-bpffs --no-pager -n 40 >&2 || true
}

boot() {
	: >"$run/console.log"
	(
		# the container's cgroup root is the launcher's: our own child
		# cgroup, never the host's root
		echo $BASHPID >"$cg2/$cgname/cgroup.procs"
		[ -n "$cg1" ] && echo $BASHPID >"$cg1/$cgname/cgroup.procs"
		SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn --quiet --register=no \
			--keep-unit -D "$root" --machine=sockaccel-test \
			--system-call-filter=bpf --capability=CAP_BPF,CAP_NET_ADMIN,CAP_PERFMON \
			--console=passive -b
	) >>"$run/console.log" 2>&1 &
	nspawn_pid=$!
	# the container's PID 1: nspawn's child once it has exec'd systemd
	for _ in $(seq 100); do
		leader=""
		for p in $(pgrep -P "$nspawn_pid" || true); do
			[ "$(cat /proc/$p/comm 2>/dev/null)" = systemd ] && leader=$p
		done
		[ -n "$leader" ] && break
		kill -0 "$nspawn_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$leader" ] || fail "the container did not start: $(cat "$run/console.log")"
	for _ in $(seq 100); do
		state=$(nsenter -t "$leader" -a -- systemctl is-system-running 2>/dev/null || true)
		case "$state" in running|degraded) return 0 ;; esac
		sleep 0.2
	done
	fail "the container's systemd did not come up (state: $state)"
}

# Run a command inside, as a transient unit: in the container's cgroups,
# so its sockets are seen by sockops (a plain nsenter'd process is not).
ct() { nsenter -t "$leader" -a -- systemd-run --quiet --wait --pipe --collect -- "$@"; }
ct_bg() { nsenter -t "$leader" -a -- systemd-run --quiet --wait --pipe --collect -- "$@" & }

json_field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" | head -1; }

stream_ok() {	# $1 = JSON line of sa_stream; $2 = "accelerated" or "plain"
	local ok bytes expected tcp
	ok=$(echo "$1" | json_field ok)
	bytes=$(echo "$1" | json_field bytes)
	expected=$(echo "$1" | json_field expected)
	tcp=$(echo "$1" | json_field tcp_bytes_sent)
	[ "$ok" = true ] && [ "$bytes" = "$expected" ] || fail "stream not byte-exact: $1"
	# tcp_bytes_sent is read after the receiver saw EOF: exact
	if [ "$2" = accelerated ]; then
		[ "$tcp" = 0 ] || fail "stream went over TCP ($tcp bytes), expected accelerated: $1"
	else
		# >= : tcpi_bytes_sent counts retransmissions too, on a busy host
		[ "$tcp" -ge "$expected" ] || fail "stream was accelerated ($tcp TCP bytes), expected plain TCP: $1"
	fi
}

attachments() { ct sockaccelctl --json status | json_field programs_on_cgroup; }
nrestarts() { ct systemctl show -P NRestarts sockaccel; }
mainpid() { ct systemctl show -P MainPID sockaccel; }

# --- the tests ---------------------------------------------------------------
step "boot"
boot
cp "$deb" "$root/root/sockaccel.deb"
cp "$sa_stream" "$root/usr/local/bin/sa_stream"
ct dpkg -i /root/sockaccel.deb >/dev/null || fail "dpkg -i"

step "systemd-analyze verify and security"
out=$(ct systemd-analyze verify sockaccel.service sockaccel-bpffs.service 2>&1) || fail "verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify printed: $out"
ct systemd-analyze security --no-pager sockaccel.service | tail -1

step "1. systemctl enable --now: active after READY, attached, a connection accelerated"
ct systemctl enable --now sockaccel || fail "enable --now"
[ "$(ct systemctl is-active sockaccel)" = active ] || fail "not active"
ct sockaccelctl status --probe >/dev/null || fail "status --probe: $(ct sockaccelctl status --probe)"
[ "$(attachments)" = 1 ] || fail "expected one sockops program on the cgroup"
stream_ok "$(ct sa_stream --bytes 16777216)" accelerated

step "2. systemctl restart during a transfer: no byte lost, still accelerated, one attachment"
ct_bg sa_stream --bytes 67108864 --duration-ms 6000 >"$run/stream2.json"
bg=$!
sleep 1
for _ in 1 2 3; do ct systemctl restart sockaccel || fail "restart"; sleep 0.5; done
wait "$bg" || true
stream_ok "$(cat "$run/stream2.json")" accelerated
[ "$(attachments)" = 1 ] || fail "more than one attachment after restarts"

step "3. watchdog: a stalled daemon is killed and restarted; the fast path stays up"
ct mkdir -p /etc/systemd/system/sockaccel.service.d
printf '[Service]\nWatchdogSec=3s\nTimeoutAbortSec=2s\n' >"$root/etc/systemd/system/sockaccel.service.d/test.conf"
ct systemctl daemon-reload
ct systemctl restart sockaccel
before=$(nrestarts)
pid=$(mainpid)
ct kill -STOP "$pid"
ct sockaccelctl status --probe >/dev/null || fail "fast path down while the daemon is stalled"
for _ in $(seq 60); do
	[ "$(nrestarts)" -gt "$before" ] && [ "$(ct systemctl is-active sockaccel)" = active ] && break
	sleep 0.5
done
[ "$(nrestarts)" -gt "$before" ] || fail "the watchdog did not restart the stalled daemon"
[ "$(mainpid)" != "$pid" ] || fail "same main pid after the watchdog restart"
ct sockaccelctl status --probe >/dev/null || fail "status --probe after the watchdog restart"
rm -f "$root/etc/systemd/system/sockaccel.service.d/test.conf"
ct systemctl daemon-reload

step "4. systemctl reload: a changed port policy applies to new connections; a bad file keeps the old"
printf 'exclude_ports = 45678\n' >"$root/etc/sockaccel/sockaccel.conf"
ct systemctl reload sockaccel || fail "reload"
stream_ok "$(ct sa_stream --bytes 1048576 --port 45678)" plain
stream_ok "$(ct sa_stream --bytes 1048576 --port 45679)" accelerated
printf 'exclude_ports = banana\n' >"$root/etc/sockaccel/sockaccel.conf"
ct systemctl reload sockaccel || true
sleep 0.5
[ "$(ct systemctl is-active sockaccel)" = active ] || fail "a bad file on reload stopped the service"
ct journalctl -u sockaccel --no-pager | grep -q "key 'exclude_ports'" || fail "the reload error is not in the journal"
stream_ok "$(ct sa_stream --bytes 1048576 --port 45678)" plain
: >"$root/etc/sockaccel/sockaccel.conf"
ct systemctl reload sockaccel

step "5. deleting the pins: the service exits cleanly and stays inactive"
before=$(nrestarts)
ct rm -r /sys/fs/bpf/sockaccel
for _ in $(seq 25); do [ "$(ct systemctl is-active sockaccel)" != active ] && break; sleep 0.2; done
sleep 3
[ "$(ct systemctl is-active sockaccel)" = inactive ] || fail "service is $(ct systemctl is-active sockaccel), expected inactive"
[ "$(nrestarts)" = "$before" ] || fail "the service was restarted after the pins were removed"
stream_ok "$(ct sa_stream --bytes 1048576)" plain

step "6. systemctl stop leaves the fast path; sockaccelctl disable removes it"
ct systemctl start sockaccel
ct systemctl stop sockaccel
ct sockaccelctl status --probe >/dev/null || fail "fast path gone after systemctl stop"
ct sockaccelctl disable || fail "sockaccelctl disable"
rc=0; ct sockaccelctl status >/dev/null || rc=$?
[ "$rc" = 3 ] || fail "status after disable exited $rc, expected 3 (off)"
stream_ok "$(ct sa_stream --bytes 1048576)" plain

step "7. reboot with the unit enabled: the service comes back and re-creates the fast path"
ct systemctl start sockaccel
stop_container		# a fresh boot: pins are gone, as on a real host
boot
for _ in $(seq 50); do [ "$(ct systemctl is-active sockaccel)" = active ] && break; sleep 0.2; done
[ "$(ct systemctl is-active sockaccel)" = active ] || fail "not active after reboot"
ct sockaccelctl status --probe >/dev/null || fail "status --probe after reboot"
stream_ok "$(ct sa_stream --bytes 4194304)" accelerated

echo "systemd: 7 passed, 0 failed"
