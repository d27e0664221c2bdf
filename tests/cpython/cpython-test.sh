#!/bin/bash
# CPython's own socket-related test modules, from Debian's
# libpython3.11-testsuite, run twice in one job: once on plain TCP (a child
# cgroup nothing is attached to) and once inside a child cgroup accelerated
# by this build's sockacceld (its own pin dir on a private bpffs). A test that
# fails only when accelerated fails this script, named; so does an
# accelerated run whose traffic was not really redirected (too few sockets
# inserted, too few bytes redirected).
#
#   tests/cpython/cpython-test.sh BUILD_DIR
#
# Run by ctest (label "cpython") and so by .ci/run. Bounded in time: each run
# gets SA_CPYTHON_TIMEOUT seconds (default 900). SA_CPYTHON_MODULES replaces
# the module list, e.g. to try one module alone.
set -uo pipefail

build=$(realpath "$1")
py=/usr/bin/python3.11
# the modules issue 10 names, then the other clients and servers of the
# standard library that talk TCP over loopback (all pass accelerated)
modules=${SA_CPYTHON_MODULES:-"test_socket test_ssl test_asyncio test_socketserver test_httplib test_selectors
	test_urllib2_localnet test_xmlrpc test_docxmlrpc test_httpservers test_ftplib test_poplib
	test_imaplib test_smtplib test_logging test_asyncore test_asynchat test_telnetlib test_os"}
# AF_VSOCK needs a vsock device this machine does not have: it fails on plain
# TCP as well, and it is not TCP.
ignore=(-i '*VSOCK*')
budget=${SA_CPYTHON_TIMEOUT:-900}
# What the accelerated run must show to count: measured 2,766 sockets and
# 348 MB redirected (6.18.44-fc-v1045). The tests that flood a socket until
# EAGAIN are held back by flow control as TCP holds them, so they no longer
# redirect GiBs as they did without a bound.
min_sockets=2000
min_bytes=$((256 << 20))

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (cgroups, bpffs, sockacceld)"
[ -x "$py" ] || fail "$py missing (scripts/install-deps.sh installs python3.11)"
[ -d /usr/lib/python3.11/test/test_asyncio ] ||
	fail "CPython's test suite missing: apt-get install libpython3.11-testsuite (scripts/install-deps.sh does)"

cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$cg2" ] || fail "no cgroup2 mount in /proc/self/mountinfo"
tmp=$(mktemp -d /tmp/sockaccel-cpython.XXXXXX)
cg_plain=$cg2/sockaccel-cpython-$$-plain
cg_accel=$cg2/sockaccel-cpython-$$-accel
pins=$tmp/bpffs/pins
daemon=""

# A killed task leaves cgroup.procs before it has exited, and rmdir fails
# until it has: wait for "populated 0", then retry the rmdir.
kill_cgroup() {
	[ -d "$1" ] || return 0
	for _ in $(seq 50); do
		grep -q '^populated 0' "$1/cgroup.events" 2>/dev/null && break
		if [ -w "$1/cgroup.kill" ]; then
			echo 1 > "$1/cgroup.kill" 2>/dev/null
		else
			xargs -r kill -9 < "$1/cgroup.procs" 2>/dev/null
		fi
		sleep 0.1
	done
	for _ in 1 2 3 4 5; do
		rmdir "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "cleanup: can't remove $1" >&2
}

cleanup() {
	[ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	kill_cgroup "$cg_accel"
	kill_cgroup "$cg_plain"
	[ -d "$pins" ] && "$build/daemon/sockaccelctl" --pin-dir "$pins" disable > /dev/null 2>&1
	mountpoint -q "$tmp/bpffs" && umount "$tmp/bpffs"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/bpffs" "$tmp/plain" "$tmp/accel"
mount -t bpf bpf "$tmp/bpffs" || fail "can't mount a private bpffs at $tmp/bpffs"
mkdir "$cg_plain" "$cg_accel" || fail "can't create child cgroups under $cg2"

# Runs the modules inside cgroup $2, logs to $tmp/$1.log; prints the
# failing test cases (FAIL:/ERROR: lines of the verbose re-run) to $tmp/$1.failed.
run() {
	local label=$1 cg=$2 rc=0
	step "$label run: python3.11 -m test $modules (at most ${budget} s)"
	( echo "$BASHPID" > "$cg/cgroup.procs" && cd "$tmp/$label" &&
	  exec timeout "$budget" "$py" -m test -w "${ignore[@]}" $modules ) \
		> "$tmp/$label.log" 2>&1 || rc=$?
	grep -E '^(FAIL|ERROR): ' "$tmp/$label.log" | sed 's/^[A-Z]*: //' | sort -u > "$tmp/$label.failed"
	echo "$label: exit $rc, $(wc -l < "$tmp/$label.failed") failing test cases"
	tail -4 "$tmp/$label.log"
	[ "$rc" = 124 ] && fail "$label run did not finish within ${budget} s"
	return 0
}

run plain "$cg_plain"

step "starting sockacceld on $cg_accel"
"$build/daemon/sockacceld" --cgroup "$cg_accel" --pin-dir "$pins" --config /dev/null \
	> "$tmp/sockacceld.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do grep -q "ready:" "$tmp/sockacceld.log" && break; sleep 0.1; done
grep "ready:" "$tmp/sockacceld.log" || { cat "$tmp/sockacceld.log"; fail "sockacceld did not get ready"; }

accel_start=$SECONDS
run accel "$cg_accel"
accel_secs=$((SECONDS - accel_start))

"$build/daemon/sockaccelctl" --pin-dir "$pins" --json stats > "$tmp/stats.json" ||
	fail "sockaccelctl stats failed"
counter() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$tmp/stats.json" "$1"; }
inserted=$(counter sockets_inserted)
redirected=$(counter bytes_redirected)
to_tcp=$(counter flow_switches_to_tcp)
back=$(counter flow_switches_to_redirect)
over_tcp=$(counter bytes_flow_tcp)
echo "accelerated traffic: $inserted sockets inserted, $redirected bytes redirected," \
	"$(counter msgs_redirected) messages; flow control: $to_tcp to TCP," \
	"$back back; $(counter directions_fallen_back) directions fell back for good;" \
	"$(counter small_write_streams) connections moved to TCP as small-write streams"
# issue 10 asks for the switch rate and the share of bytes redirected: of
# what accelerated sockets sent while flow control chose the path (before
# their connection fell back for good, if it did)
"$py" -c 'import sys
to, back, secs, red, tcp = (int(a) for a in sys.argv[1:])
secs = max(secs, 1)
print("flow control over %d s: %d switches to TCP (%.1f/s), %d back (%.1f/s, most of them new"
      " connections leaving their start on TCP); %.1f%% of the %d bytes it decided on were"
      " redirected, %d went over TCP"
      % (secs, to, to / secs, back, back / secs, 100.0 * red / max(red + tcp, 1), red + tcp, tcp))' \
	"$to_tcp" "$back" "$accel_secs" "$redirected" "$over_tcp"

only=$(comm -13 "$tmp/plain.failed" "$tmp/accel.failed")
status=0
if [ -n "$only" ]; then
	echo "FAIL: these fail only when accelerated:" >&2
	echo "$only" | sed 's/^/    /' >&2
	status=1
fi
if [ -s "$tmp/plain.failed" ]; then
	echo "fail on plain TCP as well (the environment, not sockaccel):"
	sed 's/^/    /' "$tmp/plain.failed"
fi
if [ -n "${SA_CPYTHON_MODULES:-}" ]; then
	echo "not checked: how much was redirected (the minimums are the full list's)"
else
	[ "$inserted" -ge "$min_sockets" ] ||
		{ echo "FAIL: only $inserted sockets inserted (at least $min_sockets expected)" >&2; status=1; }
	[ "$redirected" -ge "$min_bytes" ] ||
		{ echo "FAIL: only $redirected bytes redirected (at least $min_bytes expected)" >&2; status=1; }
fi
[ "$status" = 0 ] && echo "cpython: the suite passes accelerated as on plain TCP"
exit "$status"
