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
  --tests LIST       comma list of rr,stream,wstream,crr,redis,nginx,proxy (default all;
                     quick: all but stream, which falls back to TCP by design)
  --variants LIST    comma list of plain,accel,unix,ref (default all; accel
                     and plain are always run)
  --places LIST      comma list of same,diff (default both; quick: diff)
  --sizes LIST       comma list of write sizes in bytes for stream and wstream
                     (default 4096,65536,262144,1048576; quick: 262144)
  --config FILE      sockaccel.conf for the accelerated runs (default empty:
                     every setting at its default)
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
	--sizes) sizes_opt=${2:-}; shift ;;
	--config) config_opt=${2:-}; shift ;;
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
	redis_cases="1"; nginx_cases="small"; proxy_cases="1m"; app_places="diff"
	warmup_ms=50
else
	: "${rounds:=3}" "${duration:=2}"
	rr_sizes="1 64 1024 16384"; stream_sizes="4096 65536 262144 1048576"
	wstream_sizes="$stream_sizes"; crr_size=32
	redis_cases="1 16"; nginx_cases="small 1m"; proxy_cases="small 1m 1m-splice"
	app_places="same diff"
	warmup_ms=300
fi
if [ -n "${sizes_opt:-}" ]; then
	for s in ${sizes_opt//,/ }; do
		case "$s" in ''|*[!0-9]*) die_usage "--sizes: '$s' is not a byte count" ;; esac
		[ "$s" -ge 1 ] && [ "$s" -le $((1 << 20)) ] || die_usage "--sizes: $s: want 1..1048576 (the wstream window)"
	done
	stream_sizes=${sizes_opt//,/ }; wstream_sizes=$stream_sizes
fi
[ -z "${config_opt:-}" ] || [ -r "$config_opt" ] || die_usage "--config $config_opt: not a readable file"
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
	tests=${tests_opt:-rr,wstream,crr,redis,nginx,proxy}
else
	tests=${tests_opt:-rr,stream,wstream,crr,redis,nginx,proxy}
fi
for t in ${tests//,/ }; do
	case "$t" in rr|stream|wstream|crr|redis|nginx|proxy) ;; *) die_usage "--tests: unknown test '$t'" ;; esac
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
has "$tests" proxy && need_tools="$need_tools nginx wrk haproxy curl cmp"
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
if [ -n "${config_opt:-}" ]; then cp "$config_opt" "$tmp/sockaccel.conf"; else : > "$tmp/sockaccel.conf"; fi
pins=$tmp/bpffs/pins

# Programs inherited from an ancestor cgroup would accelerate "plain" too;
# the plain runs' TCP byte counts catch it, this says why.
inherited=$(bpftool cgroup show "$cgroot/plain" effective 2> /dev/null | grep -c sock_ops)
[ "$inherited" -gt 0 ] &&
	log "warning: $inherited sock_ops program(s) inherited by $cgroot from an ancestor cgroup"

"$sockacceld" --cgroup "$cgroot/accel" --pin-dir "$pins" --config "$tmp/sockaccel.conf" \
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
# shellcheck source=SCRIPTDIR/lib-run.sh
. "$bench/lib-run.sh"
# shellcheck source=SCRIPTDIR/lib-apps.sh
. "$bench/lib-apps.sh"
# shellcheck source=SCRIPTDIR/lib-proxy.sh
. "$bench/lib-proxy.sh"

hz=$(getconf CLK_TCK)	# for noise
failures=0
invalid=0
printf 'round\ttest\tcase\tplace\tvariant\tvalue\tunit\tp50_us\tp99_us\tapp_bytes\ttcp_bytes\tvia_tcp_pct\tredirected\tfallbacks\terrors\teagain\tsteal_pct\tother_cpu_pct\tsecs\tvalid\tnote\textra\n' > "$tsv"
redis_n=""	# requests per redis-benchmark test, calibrated per cell
nginx_ready=0	# setup_nginx_files done

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
	echo "config=$(grep -v '^[[:space:]]*\(#\|$\)' "$tmp/sockaccel.conf" | paste -sd ';' -)"
	echo "redis=$(redis-server --version 2> /dev/null | awk '{ sub(/^v=/, "", $3); print $3 }')"
	echo "nginx=$(nginx -v 2>&1 | awk -F/ '{ print $2 }')"
	echo "haproxy=$(haproxy -v 2>/dev/null | awk 'NR == 1 { print $3 }')"
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
	if has "$tests" proxy; then
		for c in $proxy_cases; do
			for r in $(seq "$rounds"); do
				for v in $vlist; do
					[ "$v" = unix ] && continue	# wrk and HAProxy speak TCP here
					run_proxy "$r" "$c" "$place" "$v"
				done
			done
			log "proxy $c $place: done"
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
			# sa_rx and sa_splice run on reads: their cost is ours too
			progs="$pins/prog_msg $pins/prog_sockops"
			for p in prog_rx prog_splice; do
				[ -e "$pins/$p" ] && progs="$progs $pins/$p"
			done
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
