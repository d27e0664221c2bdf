# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash disable=SC2154 # the variables are run.sh's
#
# Sourced by bench/run.sh: the application runs (redis, nginx) and how they
# are judged. Functions only, over lib-run.sh's helpers and run.sh's state.

# ---------------------------------------------------------------- apps
# ss_sample PORT -> "sockets bytes_sent": TCP's own count over the
# established connections to or from PORT right now
ss_sample() {
	ss -Htin state established "( sport = :$1 or dport = :$1 )" 2> /dev/null |
	awk '/^[^ \t]/ { n++ } { for (i = 1; i <= NF; i++) if ($i ~ /^bytes_sent:/) { split($i, a, ":"); s += a[2] } }
	     END { printf "%d %d\n", n, s }'
}

# app_judge VARIANT C0 C1 SS [MAX_PCT] -> "valid via_tcp_pct redirected fallbacks note"
# accel: the sockaccel counters (messages redirected vs passed to TCP, at
# most MAX_PCT percent, default 0.1); ref and plain: the mid-run ss sample.
app_judge() {
	awk -v v="$1" -v c0="$2" -v c1="$3" -v s="$4" -v maxpct="${5:-0.1}" 'BEGIN {
		split(c0, a, " "); split(c1, b, " "); split(s, ss, " ")
		red = b[1] - a[1]; tcpm = (b[2] - a[2]) + (b[3] - a[3]) + (b[4] - a[4]); fb = b[5] - a[5]
		ok = 1; note = "-"; pct = 0
		if (v == "accel") {
			pct = red + tcpm > 0 ? 100 * tcpm / (red + tcpm) : 100
			if (red <= 0 || pct > maxpct) { ok = 0; note = "fast-path-not-taken" }
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

# nginx_conf DIR PORT: one worker serving $tmp/www on 127.0.0.1:PORT, its
# state in DIR (the server of the nginx cell and the proxy cell's backend)
nginx_conf() {
	local dir=$1 port=$2
	cat <<EOF
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
}

# wait_listen PORT: up to 5 s for a listener on 127.0.0.1:PORT
wait_listen() {
	for _ in $(seq 100); do
		[ -n "$(ss -Htln "sport = :$1")" ] && return 0
		sleep 0.05
	done
	return 1
}

# stop_pid PID: end a server the run started
stop_pid() {
	kill "$1" 2> /dev/null; wait "$1" 2> /dev/null; untrack "$1"
}

# hops_in_map PORT...: "n1 n2 ..." sockets in sock_hash with each port
hops_in_map() {
	local conns p
	conns=$("$sockaccelctl" --pin-dir "$pins" conns 2> /dev/null)
	for p in "$@"; do
		printf '%d ' "$(echo "$conns" | grep -c ":$p\b")"
	done
}

# wrk_cell ROUND TEST CASE PLACE VARIANT URL BY_DESIGN PORT...: wrk, 1 thread,
# 50 connections, in the variant's cgroup on the client CPU, against URL;
# TCP's byte counts sampled mid-run over every PORT (each hop of the path).
# accel is valid when the counters show every message redirected and each
# hop has sockets in the map, or, with BY_DESIGN set (a note), whatever
# share went over TCP by design.
wrk_cell() {
	local round=$1 test=$2 case=$3 place=$4 variant=$5 url=$6 by_design=$7
	shift 7
	local cg ccpu c0 c1 ss s0 s1 t0 t1 nz rc wpid secs hops="" p
	local rps non2xx sockerr p50 p99 valid pct red fb note errs
	cg=$(cg_of "$variant")
	ccpu=$(cpus_of "$place"); ccpu=${ccpu#* }
	secs=$(awk -v d="$duration" 'BEGIN { s = int(d + 0.5); if (s < 1) s = 1; print s }')
	[ "$variant" = accel ] && c0=$(counters) || c0="0 0 0 0 0"
	s0=$(stat_snap); t0=$(now_ms)
	in_cg "$cg" "$ccpu" wrk -t1 -c50 -d"${secs}s" --latency "$url" > "$tmp/wrk.out" 2>&1 &
	wpid=$!
	track "$wpid"
	sleep "$(awk -v d="$secs" 'BEGIN { printf "%.2f", d / 2 }')"
	ss=$(for p in "$@"; do ss_sample "$p"; done | awk '{ n += $1; b += $2 } END { printf "%d %d\n", n, b }')
	[ "$variant" = accel ] && hops=$(hops_in_map "$@")
	wait "$wpid"; rc=$?
	untrack "$wpid"
	t1=$(now_ms); s1=$(stat_snap)
	[ "$variant" = accel ] && c1=$(counters) || c1="0 0 0 0 0"
	nz=$(noise "$s0" "$s1" $((t1 - t0)))
	# each of wrk's new connections starts each direction on TCP until its
	# receiver has read (the splice guard): a 1 MiB first response is many
	# messages, so up to 1% of them may go over TCP in a short run
	read -r valid pct red fb note <<< "$(app_judge "$variant" "$c0" "$c1" "$ss" 1.0)"
	if [ "$variant" = accel ]; then
		case " $hops" in *" 0 "*) valid=0; note="a-hop-not-in-map" ;; esac
		[ -n "$by_design" ] && [ "$valid" = 0 ] && { valid=1; note=$by_design; }
	fi
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
		log "$test $case $place $variant round $round: wrk FAILED ($rc): $(head -c 300 "$tmp/wrk.out")"
		failures=$((failures + 1))
		row "$round" "$test" "$case" "$place" "$variant" 0 - - - 0 0 0 "$red" "$fb" 1 0 $nz 0 0 run-failed -
		return
	fi
	if [ "$errs" != 0 ]; then
		log "$test $case $place $variant round $round: $errs errors (non-2xx $non2xx, socket $sockerr)"
		failures=$((failures + 1))
	fi
	if [ "$valid" = 0 ]; then
		invalid=$((invalid + 1))
		log "$test $case $place $variant round $round: INVALID ($note): counters $c0 -> $c1, ss $ss, sockets in the map per hop: ${hops:--}"
	fi
	row "$round" "$test" "$case" "$place" "$variant" "$rps" "req/s" "$p50" "$p99" - "${ss#* }" "$pct" \
		"$red" "$fb" "$errs" 0 $nz $(((t1 - t0) / 1000)).$(((t1 - t0) % 1000 / 100)) "$valid" "$note" "transfer=$(awk '/^Transfer\/sec:/ { print $2 }' "$tmp/wrk.out")${hops:+ hops_in_map=${hops// /,}}"
}

# nginx_start CGROUP CPU DIR PORT: start nginx, its pid in $started, once
# it listens (else fails)
nginx_start() {
	local cg=$1 cpu=$2 dir=$3 port=$4
	rm -rf "$dir"; mkdir -p "$dir/logs"
	nginx_conf "$dir" "$port" > "$dir/nginx.conf"
	in_cg "$cg" "$cpu" nginx -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" \
		> /dev/null 2>> "$log" &
	started=$!
	track "$started"
	if ! wait_listen "$port"; then
		log "nginx did not start: $(tail -n 3 "$dir/logs/error.log" 2> /dev/null)"
		stop_pid "$started"
		return 1
	fi
}

# run_nginx ROUND CASE PLACE VARIANT
run_nginx() {
	local round=$1 case=$2 place=$3 variant=$4
	local cg scpu port npid file
	cg=$(cg_of "$variant")
	scpu=$(cpus_of "$place"); scpu=${scpu% *}
	setup_nginx_files
	port=$(free_port) || { log "no free port"; failures=$((failures + 1)); return; }
	nginx_start "$cg" "$scpu" "$tmp/nginx" "$port" || {
		log "nginx $case $place $variant round $round: no server"
		failures=$((failures + 1))
		return
	}
	npid=$started
	file=small.html
	[ "$case" = 1m ] && file=1m.bin
	wrk_cell "$round" nginx "$case" "$place" "$variant" "http://127.0.0.1:$port/$file" "" "$port"
	stop_pid "$npid"
}
