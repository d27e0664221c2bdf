#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Remove what a killed integration test (ctest's timeout sends SIGKILL) may
# have left: mounts below /tmp/sockaccel-test.* (the private bpffs, a v1
# cgroup hierarchy), the temp dirs themselves, and sockaccel-test-* cgroups
# under the cgroup2 mount, and the same of an interrupted "sockaccelctl
# selftest". Tests still running are left alone: a temp dir's
# "owner" file names its test by pid and start time, a cgroup's name by pid.
# Processes need no help: tests spawn everything with PR_SET_PDEATHSIG.
#
# Runs as a ctest fixture before and after the integration tests; exits
# non-zero only if something could not be removed.
set -u

status=0

# alive PID [STARTTIME]: is PID an integration test still running?
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	case "$(cat "/proc/$1/comm" 2>/dev/null)" in
	sa_itest_*) ;;
	*) return 1 ;;
	esac
	# fields after the comm (which may contain spaces): 3 is the state,
	# 22 the start time. A zombie is as dead as it gets.
	rest=$(sed 's/^.*) //' "/proc/$1/stat")
	case "$rest" in
	Z*|X*|x*) return 1 ;;
	esac
	[ -n "${2:-}" ] || return 0
	[ "$(echo "$rest" | cut -d' ' -f20)" = "$2" ]
}

for d in /tmp/sockaccel-test.*; do
	[ -d "$d" ] || continue
	if [ -r "$d/owner" ]; then
		read -r pid start < "$d/owner" || pid=""
		if [ -n "$pid" ] && alive "$pid" "$start"; then
			continue
		fi
	elif [ -n "$(find "$d" -maxdepth 0 -mmin -1)" ]; then
		continue	# just created; its owner file is on the way
	fi
	# every mount below it, deepest first
	awk -v p="$d/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
	while read -r m; do
		echo "cleanup-leftovers: umount $m"
		umount -l "$m" || echo "cleanup-leftovers: can't unmount $m" >&2
	done
	echo "cleanup-leftovers: rm -r $d"
	rm -rf --one-file-system "$d" || status=1
done

# mountinfo: field 5 is the mount point, the type follows the "-" separator
cg2=$(awk '{
	for (i = 7; i < NF; i++)
		if ($i == "-") {
			if ($(i + 1) == "cgroup2")
				print $5
			break
		}
}' /proc/self/mountinfo | head -n 1)
if [ -n "$cg2" ]; then
	for cg in "$cg2"/sockaccel-test-*; do
		[ -d "$cg" ] || continue
		rest=${cg##*/sockaccel-test-}
		pid=${rest%%-*}
		if alive "$pid"; then
			continue
		fi
		echo "cleanup-leftovers: removing cgroup $cg"
		[ -w "$cg/cgroup.kill" ] && echo 1 > "$cg/cgroup.kill"
		i=0
		while [ $i -lt 50 ] && ! grep -q '^populated 0' "$cg/cgroup.events" 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		i=0
		while [ $i -lt 50 ]; do
			find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$cg" ] || break
			sleep 0.1
			i=$((i + 1))
		done
		if [ -d "$cg" ]; then
			echo "cleanup-leftovers: can't remove $cg" >&2
			status=1
		fi
	done
	# "sockaccelctl selftest" (run by tests) names its cgroup and temp dir
	# after its pid
	for cg in "$cg2"/sockaccel-selftest-*; do
		[ -d "$cg" ] || continue
		pid=${cg##*/sockaccel-selftest-}
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sockaccelctl ] && continue
		echo "cleanup-leftovers: removing cgroup $cg"
		[ -w "$cg/cgroup.kill" ] && echo 1 > "$cg/cgroup.kill"
		sleep 0.2
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$cg" ] && { echo "cleanup-leftovers: can't remove $cg" >&2; status=1; }
	done
fi

for d in /tmp/sockaccel-selftest.*; do
	[ -d "$d" ] || continue
	pid=${d#/tmp/sockaccel-selftest.}
	pid=${pid%%.*}
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sockaccelctl ] && continue
	awk -v p="$d/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
	while read -r m; do umount -l "$m"; done
	echo "cleanup-leftovers: rm -r $d"
	rm -rf --one-file-system "$d" || status=1
done

exit $status
