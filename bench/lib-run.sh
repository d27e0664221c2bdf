# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash disable=SC2154 # the variables are run.sh's
#
# Sourced by bench/run.sh: the helpers every run uses (cgroups and CPUs,
# counters, the noise note, the results row and its validity) and the
# sabench runs. Functions only; they use run.sh's settings and state
# ($out, $tsv, $log, $tmp, $cgroot, $pins, failures, invalid, ...).

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

# sockaccel counters as "redirected passed fallback draining fallen_back
# small_streams"
counters() {
	"$sockaccelctl" --pin-dir "$pins" --json stats 2> /dev/null |
	awk '{
		n = split($0, f, /[{},]/)
		for (i = 1; i <= n; i++) {
			split(f[i], kvp, ":"); gsub(/"/, "", kvp[1]); v[kvp[1]] = kvp[2] + 0
		}
		# fallbacks beyond the two ends the half-close guard marks per
		# half-closing socket (every run ends with a shutdown)
		fb = v["directions_fallen_back"] - 2 * (v["halfclose_demoted"] + v["halfclose_busy"])
		printf "%d %d %d %d %d %d\n", v["msgs_redirected"], v["msgs_passed"],
			v["msgs_fallback"], v["msgs_draining"], fb, v["small_write_streams"]
	}'
}

# CPU accounting for the noise note: "steal busy" (USER_HZ ticks, all CPUs)
# and this benchmark's own CPU time (usec, its cgroups).
stat_snap() {
	awk '$1 == "cpu" { printf "%d %d ", $9, $2 + $3 + $4 }' /proc/stat
	awk '$1 == "usage_usec" { print $2 }' "$cgroot/cpu.stat"
}

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

# row ROUND TEST CASE PLACE VARIANT VALUE UNIT P50_US P99_US APP_BYTES TCP_BYTES
#     VIA_TCP_PCT REDIRECTED FALLBACKS ERRORS EAGAIN STEAL OTHER SECS VALID NOTE
row() {
	local IFS=$'\t'
	echo "$*" >> "$tsv"
}

# judge VARIANT APP_BYTES TCP_BYTES TEST SMALL -> "valid via_tcp_pct note"
# accel/ref: TCP carried at most 0.1% of the bytes; plain: at least 99%.
# accel on stream: flow control sends part of a window-less stream over TCP
# by design, so it is valid once any of it was redirected (the share is
# reported). accel on crr: one request and one response per connection go
# over TCP by design (the splice guard starts each direction on TCP until
# its receiver has read), so what it measures is the setup cost. accel whose
# connection the path choice moved to TCP (SMALL > 0, small_write_streams) is
# valid: TCP is the path it chose for that traffic.
judge() {
	awk -v v="$1" -v app="$2" -v tcp="$3" -v t="$4" -v small="${5:-0}" 'BEGIN {
		pct = app > 0 ? 100 * tcp / app : 0
		ok = 1; note = "-"
		if (v == "accel" && small > 0) {
			note = "tcp-by-path-choice"
		} else if (v == "accel" && t == "crr") {
			note = "on-tcp-by-design"
		} else if (v == "accel" && t == "stream") {
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
	local cg cpus scpu ccpu spid rc src c0 c1 s0 s1 t0 t1 conn hist res small
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
	red=0; fb=0; small=0
	if [ "$variant" = accel ]; then
		c1=$(counters)
		local -a a0 a1
		read -r -a a0 <<< "$c0"; read -r -a a1 <<< "$c1"
		red=$((a1[0] - a0[0])); fb=$((a1[4] - a0[4])); small=$((a1[5] - a0[5]))
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
	read -r valid pct note <<< "$(judge "$variant" "$app" "$tcp" "$test" "$small")"
	if [ "$variant" = accel ] && [ "$red" -le 0 ] && [ "$test" != crr ]; then
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
