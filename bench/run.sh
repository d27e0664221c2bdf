#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The sockaccel benchmark suite: plain TCP over loopback, TCP accelerated by
# sockaccel, AF_UNIX stream sockets and a minimal bpftool-loaded sockmap
# reference, run in the same session in interleaved rounds
# (plain accel unix ref plain accel unix ref ...). See bench/README.md.
#
#   bench/run.sh [--quick] [--rounds N] [--duration SEC] [--tests LIST] ...
#
# Exit status: 0 every run done and every accelerated/ref run proven to
# bypass TCP; 1 a run or the setup failed; 2 usage; 3 all runs done but
# some accelerated/ref runs were invalid (their TCP byte counts show the
# fast path was not taken), or a plain run was accelerated by something
# outside the benchmark.
set -u
set -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bench=$top/bench

# ---------------------------------------------------------------- options
quick=0
rounds=""
duration=""
tests_opt=""
variants_opt=""
places_opt=""
build_dir=$top/build
out=""
same_cpu=""
diff_cpus=""
profile=1
report=1

usage() {
	cat <<EOF
Usage: bench/run.sh [OPTIONS]
Run the sockaccel benchmark suite as root; results go to bench/results/<date>/
(summary.md, results.tsv, plots). Needs the build (cmake --build BUILD --target bench)
and redis-server, redis-tools, nginx, wrk, gnuplot-nox (scripts/install-deps.sh).

  --quick            smoke run, under 2 minutes: fewer sizes, short runs
  --rounds N         interleaved rounds per cell, 3..50 (default 3)
  --duration SEC     measured seconds per run, 0.1..60 (default 2; quick 0.2)
  --tests LIST       comma list of rr,stream,wstream,crr,redis,nginx (default all;
                     quick: all but stream, which falls back to TCP by design)
  --variants LIST    comma list of plain,accel,unix,ref (default all; accel
                     and plain are always run)
  --places LIST      comma list of same,diff (default both; quick: diff)
  --same-cpu N       the CPU for same-CPU cells (default the last one)
  --diff-cpus S,C    server and client CPUs for different-CPU cells (default 0,1)
  --build-dir DIR    the build tree (default ./build)
  --out DIR          where results go (default bench/results/<date>)
  --no-profile       skip the ns-per-call profile (kernel.bpf_stats_enabled)
  --no-report        write results.tsv only (bench/report.sh DIR makes the rest)
  -h, --help         this text

Exit status: 0 all runs done and proven; 1 a run or the setup failed; 2 usage;
3 some accelerated/ref runs invalid (the fast path was not taken).
EOF
}

die_usage() {
	echo "bench/run.sh: $*" >&2
	usage >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--rounds) rounds=${2:-}; shift ;;
	--duration) duration=${2:-}; shift ;;
	--tests) tests_opt=${2:-}; shift ;;
	--variants) variants_opt=${2:-}; shift ;;
	--places) places_opt=${2:-}; shift ;;
	--same-cpu) same_cpu=${2:-}; shift ;;
	--diff-cpus) diff_cpus=${2:-}; shift ;;
	--build-dir) build_dir=${2:-}; shift ;;
	--out) out=${2:-}; shift ;;
	--no-profile) profile=0 ;;
	--no-report) report=0 ;;
	-h|--help) usage; exit 0 ;;
	*) die_usage "unknown option '$1'" ;;
	esac
	shift
done

ncpu=$(nproc)
if [ "$quick" = 1 ]; then
	: "${rounds:=3}" "${duration:=0.2}"
	rr_sizes="64"; stream_sizes="262144"; wstream_sizes="262144"; crr_size=32
	redis_cases="1"; nginx_cases="small"; app_places="diff"
	warmup_ms=50
else
	: "${rounds:=3}" "${duration:=2}"
	rr_sizes="1 64 1024 16384"; stream_sizes="4096 65536 262144 1048576"
	wstream_sizes="$stream_sizes"; crr_size=32
	redis_cases="1 16"; nginx_cases="small 1m"; app_places="same diff"
	warmup_ms=300
fi
# stream: bulk writes with no window of the application's; sockaccel's flow
# control sends part of it over TCP (its share is reported); the 256 MiB
# guard only bounds what the reference (which has no bound) may queue.
# wstream: the writer stays half of sockaccel's default flow limit (2 MiB)
# ahead of the reader's acknowledgements, so a reader that keeps up on
# average never sends the direction to TCP.
stream_guard=$((256 << 20))
wstream_window=$((1 << 20))
case "$rounds" in ''|*[!0-9]*) die_usage "--rounds '$rounds': want an integer 3..50" ;; esac
[ "$rounds" -ge 3 ] && [ "$rounds" -le 50 ] || die_usage "--rounds $rounds: want 3..50"
case "$duration" in
''|*[!0-9.]*|*.*.*) die_usage "--duration '$duration': want seconds, 0.1..60" ;;
esac
duration_ms=$(awk -v d="$duration" 'BEGIN { printf "%d", d * 1000 }')
[ "$duration_ms" -ge 100 ] && [ "$duration_ms" -le 60000 ] ||
	die_usage "--duration $duration: want 0.1..60 seconds"

if [ "$quick" = 1 ]; then
	# bulk streams fall back to TCP by design (docs/performance.md): the
	# smoke run checks the fast path with the windowed stream
	tests=${tests_opt:-rr,wstream,crr,redis,nginx}
else
	tests=${tests_opt:-rr,stream,wstream,crr,redis,nginx}
fi
for t in ${tests//,/ }; do
	case "$t" in rr|stream|wstream|crr|redis|nginx) ;; *) die_usage "--tests: unknown test '$t'" ;; esac
done
variants=${variants_opt:-plain,accel,unix,ref}
for v in ${variants//,/ }; do
	case "$v" in plain|accel|unix|ref) ;; *) die_usage "--variants: unknown variant '$v'" ;; esac
done
case ",$variants," in *,plain,*) ;; *) variants="plain,$variants" ;; esac
case ",$variants," in *,accel,*) ;; *) variants="$variants,accel" ;; esac
# always in this order within a round
vlist=""
for v in plain accel unix ref; do
	case ",$variants," in *,$v,*) vlist="$vlist $v" ;; esac
done
if [ "$quick" = 1 ]; then places=${places_opt:-diff}; else places=${places_opt:-same,diff}; fi
for p in ${places//,/ }; do
	case "$p" in same|diff) ;; *) die_usage "--places: unknown place '$p'" ;; esac
done
: "${same_cpu:=$((ncpu - 1))}"
: "${diff_cpus:=0,1}"
case "$same_cpu" in ''|*[!0-9]*) die_usage "--same-cpu '$same_cpu': want a CPU number" ;; esac
[ "$same_cpu" -lt "$ncpu" ] || die_usage "--same-cpu $same_cpu: this machine has $ncpu CPUs"
diff_srv=${diff_cpus%,*}
diff_cli=${diff_cpus#*,}
case "$diff_srv,$diff_cli" in
*[!0-9,]*|,*|*,) die_usage "--diff-cpus '$diff_cpus': want two CPU numbers S,C" ;;
esac
if [ "$ncpu" -lt 2 ]; then
	echo "bench/run.sh: one CPU only: different-CPU cells are skipped" >&2
	places=same
fi
[ "$diff_srv" != "$diff_cli" ] && [ "$diff_srv" -lt "$ncpu" ] && [ "$diff_cli" -lt "$ncpu" ] ||
	die_usage "--diff-cpus $diff_cpus: want two different CPUs below $ncpu"

has() { case ",$1," in *,$2,*) return 0 ;; esac; return 1; }

# ---------------------------------------------------------------- checks
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: must run as root (bpf, cgroups, mounts)" >&2; exit 1; }

sockacceld=$build_dir/daemon/sockacceld
sockaccelctl=$build_dir/daemon/sockaccelctl
sabench=$build_dir/bench/sabench
ref_obj=$build_dir/bpf/sockmap_ref.bpf.o
missing=""
for f in "$sockacceld" "$sockaccelctl" "$sabench"; do
	[ -x "$f" ] || missing="$missing $f"
done
if has "$variants" ref && [ ! -r "$ref_obj" ]; then
	missing="$missing $ref_obj"
fi
if [ -n "$missing" ]; then
	echo "bench/run.sh: not built:$missing" >&2
	echo "  fix: cmake -S $top -B $build_dir && cmake --build $build_dir --target bench" >&2
	exit 1
fi
need_tools="taskset ss awk bpftool"
has "$tests" redis && need_tools="$need_tools redis-server redis-benchmark redis-cli"
has "$tests" nginx && need_tools="$need_tools nginx wrk"
[ "$report" = 1 ] && need_tools="$need_tools gnuplot"
for t in $need_tools; do
	command -v "$t" > /dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$t" > /dev/null 2>&1 ||
		missing="$missing $t"
done
export PATH=$PATH:/usr/sbin:/sbin
if [ -n "$missing" ]; then
	echo "bench/run.sh: missing tools:$missing (fix: scripts/install-deps.sh)" >&2
	exit 1
fi

if [ -z "$out" ]; then
	out=$bench/results/$(date +%Y-%m-%dT%H%M%S)
fi
mkdir -p "$out/hist" || exit 1
out=$(cd "$out" && pwd)
tsv=$out/results.tsv
log=$out/run.log
: > "$log"

log() { echo "bench: $*" | tee -a "$log" >&2; }

# ---------------------------------------------------------------- cleanup
tmp=""
cgroot=""
daemon_pid=""
bpf_stats_old=""
pids=""		# every process this script started in the background

track() { pids="$pids $1"; }
untrack() { pids=$(echo "$pids" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' '); }

cleanup() {
	local p cg m i
	trap - EXIT INT TERM HUP
	for p in $pids; do
		kill -TERM "$p" 2> /dev/null
	done
	for p in $pids; do
		wait "$p" 2> /dev/null
	done
	if [ -n "$cgroot" ] && [ -d "$cgroot" ]; then
		# only this script's children can be in these cgroups
		for cg in "$cgroot"/*/; do
			[ -w "$cg/cgroup.kill" ] && echo 1 > "$cg/cgroup.kill" 2> /dev/null
		done
		for i in $(seq 50); do
			grep -q '^populated 0' "$cgroot/cgroup.events" 2> /dev/null && break
			sleep 0.1
		done
		if [ -d "$cgroot/ref" ] && [ -e "$tmp/bpffs/ref/ref_sockops" ]; then
			bpftool cgroup detach "$cgroot/ref" sock_ops pinned "$tmp/bpffs/ref/ref_sockops" 2> /dev/null
		fi
		for cg in "$cgroot"/*/ "$cgroot"; do
			rmdir "$cg" 2> /dev/null
		done
		[ -d "$cgroot" ] && echo "bench: can't remove cgroup $cgroot" >&2
	fi
	if [ -n "$bpf_stats_old" ]; then
		sysctl -q -w kernel.bpf_stats_enabled="$bpf_stats_old" > /dev/null 2>&1
	fi
	if [ -n "$tmp" ] && [ -d "$tmp" ]; then
		if [ -e "$tmp/bpffs/ref/ref_msg" ]; then
			bpftool prog detach pinned "$tmp/bpffs/ref/ref_msg" msg_verdict \
				pinned "$tmp/bpffs/refmaps/ref_hash" 2> /dev/null
		fi
		rm -rf "$tmp/bpffs/pins" "$tmp/bpffs/ref" "$tmp/bpffs/refmaps" 2> /dev/null
		awk -v p="$tmp/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do
			umount -l "$m" || echo "bench: can't unmount $m" >&2
		done
		rm -rf --one-file-system "$tmp"
	fi
}
trap cleanup EXIT
# fd 3: the original stderr, for a trap that fires inside a redirected command
exec 3>&2
trap 'echo "bench: interrupted" >&3; exit 130' INT TERM HUP

# ---------------------------------------------------------------- setup
tmp=$(mktemp -d /tmp/sockaccel-bench-XXXXXX) || exit 1
cg2=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break } }' \
	/proc/self/mountinfo | head -n 1)
if [ -z "$cg2" ]; then
	log "no cgroup2 mount: sockaccel needs one (docs/operations.md)"
	exit 1
fi
cgroot=$cg2/sockaccel-bench-$$
mkdir "$cgroot" "$cgroot/plain" "$cgroot/accel" "$cgroot/ref" || exit 1
mkdir "$tmp/bpffs" && mount -t bpf bpf "$tmp/bpffs" || { log "can't mount a private bpffs"; exit 1; }
: > "$tmp/empty.conf"
pins=$tmp/bpffs/pins

# Programs inherited from an ancestor cgroup would accelerate "plain" too;
# the plain runs' TCP byte counts catch it, this says why.
inherited=$(bpftool cgroup show "$cgroot/plain" effective 2> /dev/null | grep -c sock_ops)
[ "$inherited" -gt 0 ] &&
	log "warning: $inherited sock_ops program(s) inherited by $cgroot from an ancestor cgroup"

"$sockacceld" --cgroup "$cgroot/accel" --pin-dir "$pins" --config "$tmp/empty.conf" \
	2> "$tmp/sockacceld.log" &
daemon_pid=$!
track "$daemon_pid"
for i in $(seq 200); do
	grep -q 'ready:' "$tmp/sockacceld.log" && break
	if ! kill -0 "$daemon_pid" 2> /dev/null; then
		log "sockacceld exited during setup:"
		cat "$tmp/sockacceld.log" >&2
		exit 1
	fi
	sleep 0.05
done
grep -q 'ready:' "$tmp/sockacceld.log" || { log "sockacceld not ready after 10 s"; exit 1; }
log "$(grep 'ready:' "$tmp/sockacceld.log" | head -n 1)"

if has "$variants" ref; then
	mkdir -p "$tmp/bpffs/refmaps"
	if ! bpftool prog loadall "$ref_obj" "$tmp/bpffs/ref" pinmaps "$tmp/bpffs/refmaps" ||
	   ! bpftool prog attach pinned "$tmp/bpffs/ref/ref_msg" msg_verdict \
		pinned "$tmp/bpffs/refmaps/ref_hash" ||
	   ! bpftool cgroup attach "$cgroot/ref" sock_ops pinned "$tmp/bpffs/ref/ref_sockops"; then
		log "can't load the reference programs with bpftool"
		exit 1
	fi
fi

# ---------------------------------------------------------------- helpers

# in_cg CGROUP CPU CMD...: run CMD inside CGROUP, pinned to CPU
in_cg() {
	local cg=$1 cpu=$2
	shift 2
	bash -c 'echo $$ > "$0/cgroup.procs" && exec taskset -c "$1" "${@:2}"' "$cg" "$cpu" "$@"
}

cg_of() {
	case "$1" in
	accel) echo "$cgroot/accel" ;;
	ref) echo "$cgroot/ref" ;;
	*) echo "$cgroot/plain" ;;
	esac
}

cpus_of() {	# PLACE -> "server client"
	if [ "$1" = same ]; then echo "$same_cpu $same_cpu"; else echo "$diff_srv $diff_cli"; fi
}

# kv KEY FILE: the value of KEY in a line of key=value fields
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' "$2"; }

# sockaccel counters as "redirected passed fallback draining fallen_back"
counters() {
	"$sockaccelctl" --pin-dir "$pins" --json stats 2> /dev/null |
	awk '{
		n = split($0, f, /[{},]/)
		for (i = 1; i <= n; i++) {
			split(f[i], kvp, ":"); gsub(/"/, "", kvp[1]); v[kvp[1]] = kvp[2] + 0
		}
		printf "%d %d %d %d %d\n", v["msgs_redirected"], v["msgs_passed"],
			v["msgs_fallback"], v["msgs_draining"], v["directions_fallen_back"]
	}'
}

# CPU accounting for the noise note: "steal busy" (USER_HZ ticks, all CPUs)
# and this benchmark's own CPU time (usec, its cgroups).
stat_snap() {
	awk '$1 == "cpu" { printf "%d %d ", $9, $2 + $3 + $4 }' /proc/stat
	awk '$1 == "usage_usec" { print $2 }' "$cgroot/cpu.stat"
}
hz=$(getconf CLK_TCK)

# noise BEFORE AFTER WALL_MS -> "steal_pct other_pct": steal in % of all
# CPUs' time, other processes' CPU in % of one CPU
noise() {
	awk -v a="$1" -v b="$2" -v wall="$3" -v hz="$hz" -v n="$ncpu" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		if (wall <= 0) wall = 1
		steal = (y[1] - x[1]) * 1000 / hz
		busy = (y[2] - x[2]) * 1000 / hz
		ours = (y[3] - x[3]) / 1000
		other = busy - ours; if (other < 0) other = 0
		printf "%.1f %.1f\n", 100 * steal / (wall * n), 100 * other / wall
	}'
}

now_ms() { date +%s%3N; }

# wait_file F TIMEOUT_S: wait until F exists
wait_file() {
	local i
	for i in $(seq $(($2 * 20))); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 10000))
		[ -z "$(ss -Htan "sport = :$p")" ] && { echo "$p"; return 0; }
	done
	return 1
}

failures=0
invalid=0

# row ROUND TEST CASE PLACE VARIANT VALUE UNIT P50_US P99_US APP_BYTES TCP_BYTES
#     VIA_TCP_PCT REDIRECTED FALLBACKS ERRORS EAGAIN STEAL OTHER SECS VALID NOTE
row() {
	local IFS=$'\t'
	echo "$*" >> "$tsv"
}
printf 'round\ttest\tcase\tplace\tvariant\tvalue\tunit\tp50_us\tp99_us\tapp_bytes\ttcp_bytes\tvia_tcp_pct\tredirected\tfallbacks\terrors\teagain\tsteal_pct\tother_cpu_pct\tsecs\tvalid\tnote\textra\n' > "$tsv"

# judge VARIANT APP_BYTES TCP_BYTES TEST -> "valid via_tcp_pct note"
# accel/ref: TCP carried at most 0.1% of the bytes; plain: at least 99%.
# accel on stream: flow control sends part of a window-less stream over TCP
# by design, so it is valid once any of it was redirected (the share is
# reported).
judge() {
	awk -v v="$1" -v app="$2" -v tcp="$3" -v t="$4" 'BEGIN {
		pct = app > 0 ? 100 * tcp / app : 0
		ok = 1; note = "-"
		if (v == "accel" && t == "stream") {
			if (app <= 0 || tcp >= app) { ok = 0; note = "fast-path-not-taken" }
		} else if (v == "accel" || v == "ref") {
			if (app <= 0 || tcp > app / 1000) { ok = 0; note = "fast-path-not-taken" }
		} else if (v == "plain") {
			if (app > 0 && tcp < app * 0.99) { ok = 0; note = "plain-was-accelerated" }
		}
		printf "%d %.3f %s\n", ok, pct, note
	}'
}

# ---------------------------------------------------------------- sabench runs
# run_gen ROUND TEST SIZE PLACE VARIANT
run_gen() {
	local round=$1 test=$2 size=$3 place=$4 variant=$5
	local cg cpus scpu ccpu spid rc src c0 c1 s0 s1 t0 t1 conn hist res
	local value unit p50 p99 app tcp eag valid pct note red fb nz
	local gtest=$test win=0 extra=-
	case "$test" in
	stream) gtest=stream; win=$stream_guard ;;
	wstream) gtest=stream; win=$wstream_window ;;
	esac
	cg=$(cg_of "$variant")
	cpus=$(cpus_of "$place"); scpu=${cpus% *}; ccpu=${cpus#* }
	rm -f "$tmp/ready" "$tmp/client.out" "$tmp/server.err" "$tmp/client.err"
	conn=""
	[ "$variant" = unix ] && conn="--unix $tmp/sabench.sock"
	hist=$out/hist/$test-$size-$place-$variant-$round.tsv
	# shellcheck disable=SC2086
	in_cg "$cg" "$scpu" "$sabench" server --test "$gtest" --size "$size" --window "$win" \
		--warmup-ms "$warmup_ms" --ready-file "$tmp/ready" $conn 2> "$tmp/server.err" &
	spid=$!
	track "$spid"
	if ! wait_file "$tmp/ready" 10; then
		log "$test $size $place $variant round $round: the server did not start: $(cat "$tmp/server.err")"
		kill "$spid" 2> /dev/null; wait "$spid" 2> /dev/null; untrack "$spid"
		failures=$((failures + 1))
		row "$round" "$test" "$size" "$place" "$variant" 0 - - - 0 0 0 0 0 1 0 0 0 0 0 server-failed -
		return
	fi
	[ "$variant" = unix ] || conn="--port $(cat "$tmp/ready")"
	[ "$variant" = accel ] && c0=$(counters)
	s0=$(stat_snap); t0=$(now_ms)
	# shellcheck disable=SC2086
	in_cg "$cg" "$ccpu" "$sabench" client --test "$gtest" --size "$size" --window "$win" \
		--duration-ms "$duration_ms" --warmup-ms "$warmup_ms" $conn \
		--hist-file "$hist" > "$tmp/client.out" 2> "$tmp/client.err"
	rc=$?
	wait "$spid"; src=$?
	untrack "$spid"
	t1=$(now_ms); s1=$(stat_snap)
	red=0; fb=0
	if [ "$variant" = accel ]; then
		c1=$(counters)
		red=$(( ${c1%% *} - ${c0%% *} ))
		fb=$(( ${c1##* } - ${c0##* } ))
	fi
	nz=$(noise "$s0" "$s1" $((t1 - t0)))
	[ "$test" = stream ] || [ -s "$hist" ] || rm -f "$hist"
	if [ "$rc" != 0 ] || [ "$src" != 0 ] || [ ! -s "$tmp/client.out" ]; then
		log "$test $size $place $variant round $round: FAILED (client $rc, server $src)"
		sed 's/^/  client: /' "$tmp/client.err" | tee -a "$log" >&2
		sed 's/^/  server: /' "$tmp/server.err" | tee -a "$log" >&2
		failures=$((failures + 1))
		row "$round" "$test" "$size" "$place" "$variant" 0 - - - 0 0 0 "$red" "$fb" 1 0 $nz 0 0 run-failed -
		return
	fi
	res=$tmp/client.out
	case "$test" in
	rr) value=$(kv rate "$res"); unit="rt/s" ;;
	stream|wstream)
		value=$(kv mbps "$res"); unit="MB/s"
		extra="tx_mbps=$(kv tx_mbps "$res"),window_waits=$(kv window_waits "$res")"
		;;
	crr) value=$(kv rate "$res"); unit="conn/s" ;;
	esac
	p50=$(kv p50_ns "$res"); p99=$(kv p99_ns "$res")
	if [ -n "$p50" ]; then
		p50=$(awk -v n="$p50" 'BEGIN { printf "%.2f", n / 1000 }')
		p99=$(awk -v n="$p99" 'BEGIN { printf "%.2f", n / 1000 }')
	else
		p50=-; p99=-
	fi
	app=$(kv app_bytes "$res"); tcp=$(kv tcp_bytes "$res"); eag=$(kv eagain "$res")
	read -r valid pct note <<< "$(judge "$variant" "$app" "$tcp" "$test")"
	if [ "$variant" = accel ] && [ "$red" -le 0 ]; then
		valid=0; note=no-redirects
	fi
	[ "$fb" -gt 0 ] && note="$note,fell-back"
	if [ "$valid" = 0 ]; then
		invalid=$((invalid + 1))
		log "$test $size $place $variant round $round: INVALID ($note): TCP carried $tcp of $app bytes"
	fi
	row "$round" "$test" "$size" "$place" "$variant" "$value" "$unit" "$p50" "$p99" "$app" "$tcp" \
		"$pct" "$red" "$fb" 0 "${eag:-0}" $nz $(((t1 - t0) / 1000)).$(((t1 - t0) % 1000 / 100)) \
		"$valid" "$note" "$extra"
}

# ---------------------------------------------------------------- apps
# ss_sample PORT -> "sockets bytes_sent": TCP's own count over the
# established connections to or from PORT right now
ss_sample() {
	ss -Htin state established "( sport = :$1 or dport = :$1 )" 2> /dev/null |
	awk '/^[^ \t]/ { n++ } { for (i = 1; i <= NF; i++) if ($i ~ /^bytes_sent:/) { split($i, a, ":"); s += a[2] } }
	     END { printf "%d %d\n", n, s }'
}

# app_judge VARIANT C0 C1 SS -> "valid via_tcp_pct redirected fallbacks note"
# accel: the sockaccel counters (messages redirected vs passed to TCP);
# ref and plain: the mid-run ss sample.
app_judge() {
	awk -v v="$1" -v c0="$2" -v c1="$3" -v s="$4" 'BEGIN {
		split(c0, a, " "); split(c1, b, " "); split(s, ss, " ")
		red = b[1] - a[1]; tcpm = (b[2] - a[2]) + (b[3] - a[3]) + (b[4] - a[4]); fb = b[5] - a[5]
		ok = 1; note = "-"; pct = 0
		if (v == "accel") {
			pct = red + tcpm > 0 ? 100 * tcpm / (red + tcpm) : 100
			if (red <= 0 || pct > 0.1) { ok = 0; note = "fast-path-not-taken" }
		} else if (v == "ref") {
			if (ss[1] == 0) note = "no-ss-sample"
			else if (ss[2] > 0) { ok = 0; note = "fast-path-not-taken"; pct = 100 }
		} else if (v == "plain") {
			if (ss[1] == 0) note = "no-ss-sample"
			else if (ss[2] == 0) { ok = 0; note = "plain-was-accelerated" }
			else pct = 100
		}
		if (v != "accel") red = 0
		if (fb > 0) note = note ",fell-back"
		printf "%d %.3f %d %d %s\n", ok, pct, red, (fb > 0 ? fb : 0), note
	}'
}

redis_n=""	# requests per redis-benchmark test, calibrated per cell

# run_redis ROUND PIPELINE PLACE VARIANT
run_redis() {
	local round=$1 pl=$2 place=$3 variant=$4
	local cg cpus scpu ccpu port rpid conn bpid rc c0 c1 ss s0 s1 t0 t1 nz
	local errs stats0 stats1 valid pct red fb note op rps p50 p99 want dir
	cg=$(cg_of "$variant")
	cpus=$(cpus_of "$place"); scpu=${cpus% *}; ccpu=${cpus#* }
	dir=$tmp/redis
	rm -rf "$dir"; mkdir -p "$dir"
	if [ "$variant" = unix ]; then
		port=0
		printf 'port 0\nunixsocket %s/redis.sock\nunixsocketperm 700\n' "$dir" > "$dir/redis.conf"
		conn="-s $dir/redis.sock"
	else
		port=$(free_port) || { log "no free port"; failures=$((failures + 1)); return; }
		printf 'port %s\nbind 127.0.0.1\n' "$port" > "$dir/redis.conf"
		conn="-h 127.0.0.1 -p $port"
	fi
	printf 'save ""\nappendonly no\ndir %s\nlogfile %s/redis.log\ndaemonize no\nprotected-mode no\n' \
		"$dir" "$dir" >> "$dir/redis.conf"
	in_cg "$cg" "$scpu" redis-server "$dir/redis.conf" > /dev/null 2>&1 &
	rpid=$!
	track "$rpid"
	for _ in $(seq 100); do
		# shellcheck disable=SC2086
		[ "$(in_cg "$cg" "$ccpu" redis-cli $conn ping 2> /dev/null)" = PONG ] && break
		sleep 0.05
	done
	# shellcheck disable=SC2086
	stats0=$(in_cg "$cg" "$ccpu" redis-cli $conn info stats 2> /dev/null | tr -d '\r')
	if [ -z "$stats0" ]; then
		log "redis P$pl $place $variant round $round: redis-server did not start"
		cat "$dir/redis.log" >> "$log" 2> /dev/null
		kill "$rpid" 2> /dev/null; wait "$rpid" 2> /dev/null; untrack "$rpid"
		failures=$((failures + 1))
		return
	fi
	[ "$variant" = accel ] && c0=$(counters) || c0="0 0 0 0 0"
	s0=$(stat_snap); t0=$(now_ms)
	# shellcheck disable=SC2086
	in_cg "$cg" "$ccpu" redis-benchmark $conn -c 50 -n "$redis_n" -P "$pl" -t set,get --csv \
		> "$tmp/redis.out" 2> "$tmp/redis.err" &
	bpid=$!
	track "$bpid"
	ss="0 0"
	if [ "$port" != 0 ]; then
		sleep "$(awk -v d="$duration" 'BEGIN { printf "%.2f", d / 2 }')"
		ss=$(ss_sample "$port")
	fi
	wait "$bpid"; rc=$?
	untrack "$bpid"
	t1=$(now_ms); s1=$(stat_snap)
	[ "$variant" = accel ] && c1=$(counters) || c1="0 0 0 0 0"
	nz=$(noise "$s0" "$s1" $((t1 - t0)))
	# shellcheck disable=SC2086
	stats1=$(in_cg "$cg" "$ccpu" redis-cli $conn info stats 2> /dev/null | tr -d '\r')
	# shellcheck disable=SC2086
	in_cg "$cg" "$ccpu" redis-cli $conn shutdown nosave > /dev/null 2>&1
	wait "$rpid" 2> /dev/null
	untrack "$rpid"
	errs=$(printf '%s\n%s\n' "$stats0" "$stats1" | awk -F: '
		$1 == "total_error_replies" || $1 == "rejected_connections" { v[$1] = $2 - v[$1] }
		END { print v["total_error_replies"] + v["rejected_connections"] }')
	read -r valid pct red fb note <<< "$(app_judge "$variant" "$c0" "$c1" "$ss")"
	if [ "$rc" != 0 ] || [ "$(grep -c '^"[SG]ET"' "$tmp/redis.out")" != 2 ]; then
		log "redis P$pl $place $variant round $round: redis-benchmark FAILED ($rc): $(head -c 300 "$tmp/redis.err")"
		failures=$((failures + 1))
		row "$round" redis "SET-P$pl" "$place" "$variant" 0 - - - 0 0 0 "$red" "$fb" 1 0 $nz 0 0 run-failed -
		return
	fi
	want=$(printf '%s\n%s\n' "$stats0" "$stats1" | awk -F: '
		$1 == "total_commands_processed" { v = $2 - v } END { print v }')
	if [ "$errs" != 0 ] || [ "$want" -lt $((2 * redis_n)) ]; then
		log "redis P$pl $place $variant round $round: $errs error replies/rejected connections, $want of $((2 * redis_n)) commands"
		failures=$((failures + 1))
		errs=$((errs + 1))
	fi
	if [ "$valid" = 0 ]; then
		invalid=$((invalid + 1))
		log "redis P$pl $place $variant round $round: INVALID ($note): counters $c0 -> $c1, ss $ss"
	fi
	while IFS=, read -r op rps _ _ p50 _ p99 _; do
		op=${op//\"/}; rps=${rps//\"/}; p50=${p50//\"/}; p99=${p99//\"/}
		case "$op" in SET|GET) ;; *) continue ;; esac
		p50=$(awk -v n="$p50" 'BEGIN { printf "%.2f", n * 1000 }')
		p99=$(awk -v n="$p99" 'BEGIN { printf "%.2f", n * 1000 }')
		row "$round" redis "$op-P$pl" "$place" "$variant" "$rps" "req/s" "$p50" "$p99" - \
			"${ss#* }" "$pct" "$red" "$fb" "$errs" 0 $nz $(((t1 - t0) / 1000)).$(((t1 - t0) % 1000 / 100)) \
			"$valid" "$note" "n=$redis_n"
	done < "$tmp/redis.out"
}

# calibrate_redis PIPELINE PLACE: pick -n so a plain GET run takes ~duration
calibrate_redis() {
	local pl=$1 place=$2 rps
	redis_n=10000
	[ "$quick" = 1 ] && { redis_n=$((pl == 1 ? 10000 : 50000)); return; }
	run_redis 0 "$pl" "$place" plain > /dev/null 2>&1
	rps=$(awk -F'\t' -v p="$place" -v c="GET-P$pl" '$1 == 0 && $3 == c && $4 == p { print int($6) }' "$tsv" | tail -n 1)
	# the calibration run is not a result
	awk -F'\t' '$1 != "0"' "$tsv" > "$tmp/tsv" && cat "$tmp/tsv" > "$tsv"
	[ -n "$rps" ] && [ "$rps" -gt 0 ] || rps=20000
	redis_n=$(awk -v r="$rps" -v d="$duration" 'BEGIN { n = int(r * d / 1000) * 1000; if (n < 10000) n = 10000; print n }')
}

nginx_ready=0
setup_nginx_files() {
	[ "$nginx_ready" = 1 ] && return
	mkdir -p "$tmp/www"
	{
		echo '<!DOCTYPE html><html><head><title>sockaccel bench</title></head><body>'
		for i in $(seq 12); do echo "<p>line $i of a small page served by nginx for the benchmark.</p>"; done
		echo '</body></html>'
	} > "$tmp/www/small.html"
	head -c 1048576 /dev/urandom > "$tmp/www/1m.bin"
	nginx_ready=1
}

# run_nginx ROUND CASE PLACE VARIANT
run_nginx() {
	local round=$1 case=$2 place=$3 variant=$4
	local cg cpus scpu ccpu port npid dir url c0 c1 ss s0 s1 t0 t1 nz rc wpid
	local rps non2xx sockerr p50 p99 valid pct red fb note errs secs file
	cg=$(cg_of "$variant")
	cpus=$(cpus_of "$place"); scpu=${cpus% *}; ccpu=${cpus#* }
	setup_nginx_files
	dir=$tmp/nginx
	rm -rf "$dir"; mkdir -p "$dir/logs"
	port=$(free_port) || { log "no free port"; failures=$((failures + 1)); return; }
	cat > "$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	default_type application/octet-stream;
	client_body_temp_path $dir/client_body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	server {
		listen 127.0.0.1:$port;
		root $tmp/www;
	}
}
EOF
	in_cg "$cg" "$scpu" nginx -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" \
		> /dev/null 2>> "$log" &
	npid=$!
	track "$npid"
	for _ in $(seq 100); do
		[ -n "$(ss -Htln "sport = :$port")" ] && break
		sleep 0.05
	done
	if [ -z "$(ss -Htln "sport = :$port")" ]; then
		log "nginx $case $place $variant round $round: nginx did not start: $(tail -n 3 "$dir/logs/error.log" 2> /dev/null)"
		kill "$npid" 2> /dev/null; wait "$npid" 2> /dev/null; untrack "$npid"
		failures=$((failures + 1))
		return
	fi
	file=small.html
	[ "$case" = 1m ] && file=1m.bin
	url=http://127.0.0.1:$port/$file
	secs=$(awk -v d="$duration" 'BEGIN { s = int(d + 0.5); if (s < 1) s = 1; print s }')
	[ "$variant" = accel ] && c0=$(counters) || c0="0 0 0 0 0"
	s0=$(stat_snap); t0=$(now_ms)
	in_cg "$cg" "$ccpu" wrk -t1 -c50 -d"${secs}s" --latency "$url" > "$tmp/wrk.out" 2>&1 &
	wpid=$!
	track "$wpid"
	sleep "$(awk -v d="$secs" 'BEGIN { printf "%.2f", d / 2 }')"
	ss=$(ss_sample "$port")
	wait "$wpid"; rc=$?
	untrack "$wpid"
	t1=$(now_ms); s1=$(stat_snap)
	[ "$variant" = accel ] && c1=$(counters) || c1="0 0 0 0 0"
	nz=$(noise "$s0" "$s1" $((t1 - t0)))
	kill "$npid" 2> /dev/null; wait "$npid" 2> /dev/null; untrack "$npid"
	read -r valid pct red fb note <<< "$(app_judge "$variant" "$c0" "$c1" "$ss")"
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$tmp/wrk.out")
	sockerr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$tmp/wrk.out")
	errs=$(( ${non2xx:-0} + ${sockerr:-0} ))
	# wrk --latency: "50%  1.23ms" lines; to microseconds
	p50=$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.out")
	p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.out")
	to_us() { awk -v t="$1" 'BEGIN { v = t + 0; if (t ~ /us$/) f = 1; else if (t ~ /ms$/) f = 1000; else if (t ~ /s$/) f = 1e6; else { print "-"; exit } printf "%.2f", v * f }'; }
	p50=$(to_us "$p50"); p99=$(to_us "$p99")
	if [ "$rc" != 0 ] || [ -z "$rps" ]; then
		log "nginx $case $place $variant round $round: wrk FAILED ($rc): $(head -c 300 "$tmp/wrk.out")"
		failures=$((failures + 1))
		row "$round" nginx "$case" "$place" "$variant" 0 - - - 0 0 0 "$red" "$fb" 1 0 $nz 0 0 run-failed -
		return
	fi
	if [ "$errs" != 0 ]; then
		log "nginx $case $place $variant round $round: $errs errors (non-2xx $non2xx, socket $sockerr)"
		failures=$((failures + 1))
	fi
	if [ "$valid" = 0 ]; then
		invalid=$((invalid + 1))
		log "nginx $case $place $variant round $round: INVALID ($note): counters $c0 -> $c1, ss $ss"
	fi
	row "$round" nginx "$case" "$place" "$variant" "$rps" "req/s" "$p50" "$p99" - "${ss#* }" "$pct" \
		"$red" "$fb" "$errs" 0 $nz $(((t1 - t0) / 1000)).$(((t1 - t0) % 1000 / 100)) "$valid" "$note" "transfer=$(awk '/^Transfer\/sec:/ { print $2 }' "$tmp/wrk.out")"
}

# ---------------------------------------------------------------- the rounds
machine() {
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host_cpus=$ncpu"
	echo "cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "kernel=$(uname -r)"
	echo "os=$(. /etc/os-release 2> /dev/null && echo "$PRETTY_NAME")"
	echo "sockaccel=$(git -C "$top" describe --always --dirty 2> /dev/null || echo unknown)"
	echo "quick=$quick"
	echo "rounds=$rounds"
	echo "duration_s=$duration"
	echo "warmup_ms=$warmup_ms"
	echo "variants=$vlist"
	echo "places=$places"
	echo "cpus=same: $same_cpu, diff: server $diff_srv client $diff_cli"
	echo "wstream_window=$wstream_window"
	echo "redis=$(redis-server --version 2> /dev/null | awk '{ sub(/^v=/, "", $3); print $3 }')"
	echo "nginx=$(nginx -v 2>&1 | awk -F/ '{ print $2 }')"
	echo "wrk=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')"
	echo "queue_limit=tcp_rmem max $(awk '{ print $3 }' /proc/sys/net/ipv4/tcp_rmem)"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
}
machine > "$out/machine.txt"

start_s=$(date +%s)
log "results in $out; rounds $rounds, ${duration}s per run, variants:$vlist"

gen_cell() {	# TEST SIZE PLACE
	local r v
	for r in $(seq "$rounds"); do
		for v in $vlist; do
			run_gen "$r" "$1" "$2" "$3" "$v"
		done
	done
	log "$1 $2 $3: done"
}

for place in ${places//,/ }; do
	if has "$tests" rr; then
		for s in $rr_sizes; do gen_cell rr "$s" "$place"; done
	fi
	if has "$tests" stream; then
		for s in $stream_sizes; do gen_cell stream "$s" "$place"; done
	fi
	if has "$tests" wstream; then
		for s in $wstream_sizes; do gen_cell wstream "$s" "$place"; done
	fi
	if has "$tests" crr; then
		gen_cell crr "$crr_size" "$place"
	fi
done

for place in $app_places; do
	has "$places" "$place" || continue
	if has "$tests" redis; then
		for pl in $redis_cases; do
			calibrate_redis "$pl" "$place"
			log "redis -P $pl $place: $redis_n requests per test"
			for r in $(seq "$rounds"); do
				for v in $vlist; do run_redis "$r" "$pl" "$place" "$v"; done
			done
		done
	fi
	if has "$tests" nginx; then
		for c in $nginx_cases; do
			for r in $(seq "$rounds"); do
				for v in $vlist; do
					[ "$v" = unix ] && continue	# wrk speaks TCP only
					run_nginx "$r" "$c" "$place" "$v"
				done
			done
			log "nginx $c $place: done"
		done
	fi
done

# ---------------------------------------------------------------- profile
# ns per program call from kernel.bpf_stats_enabled (run_time_ns/run_cnt),
# measured apart from the timed rounds: the statistics cost time themselves.
prog_stats() {	# FILE -> lines "name run_cnt run_time_ns"
	bpftool prog show pinned "$1" 2> /dev/null |
	awk 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "name") n = $(i + 1) }
	     { for (i = 1; i <= NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) } }
	     END { printf "%s %d %d\n", n, c, t }'
}

if [ "$profile" = 1 ]; then
	prof=$out/profile.tsv
	printf 'workload\tprogram\tcalls\tns_per_call\n' > "$prof"
	bpf_stats_old=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -q -w kernel.bpf_stats_enabled=1 > /dev/null
	profile_run() {	# TEST SIZE VARIANT
		local progs p before after
		if [ "$3" = accel ]; then
			progs="$pins/prog_msg $pins/prog_sockops"
		else
			progs="$tmp/bpffs/ref/ref_msg $tmp/bpffs/ref/ref_sockops"
		fi
		before=""
		for p in $progs; do before="$before$(prog_stats "$p");"; done
		run_gen P "$1" "$2" same "$3"
		for p in $progs; do
			after=$(prog_stats "$p")
			echo "$before" | tr ';' '\n' | awk -v a="$after" -v w="$1-$2" '
				NF { split(a, x, " "); if ($1 == x[1]) {
					c = x[2] - $2; t = x[3] - $3
					printf "%s\t%s\t%d\t%.1f\n", w, $1, c, (c > 0 ? t / c : 0) } }' >> "$prof"
		done
	}
	for v in accel ref; do
		[ "$v" = ref ] && ! has "$variants" ref && continue
		profile_run rr 64 "$v"
		[ "$quick" = 1 ] && continue
		profile_run wstream 65536 "$v"
		profile_run crr "$crr_size" "$v"
	done
	sysctl -q -w kernel.bpf_stats_enabled="$bpf_stats_old" > /dev/null
	bpf_stats_old=""
	# the profile runs are not results
	awk -F'\t' '$1 != "P"' "$tsv" > "$tmp/tsv" && cat "$tmp/tsv" > "$tsv"
	rm -f "$out"/hist/*-P.tsv
	log "profile: $(awk -F'\t' 'NR > 1 { printf "%s %s %s ns; ", $1, $2, $4 }' "$prof")"
fi

"$sockaccelctl" --pin-dir "$pins" --json stats > "$out/sockaccel-stats.json" 2> /dev/null
{
	echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "elapsed_s=$(($(date +%s) - start_s))"
	echo "failures=$failures"
	echo "invalid=$invalid"
} >> "$out/machine.txt"
cp "$tmp/sockacceld.log" "$out/sockacceld.log" 2> /dev/null

if [ "$report" = 1 ]; then
	"$bench/report.sh" "$out" || { log "report failed"; failures=$((failures + 1)); }
fi

log "done in $(($(date +%s) - start_s)) s: $failures failed runs, $invalid invalid runs; $out/summary.md"
[ "$failures" -gt 0 ] && exit 1
[ "$invalid" -gt 0 ] && exit 3
exit 0
