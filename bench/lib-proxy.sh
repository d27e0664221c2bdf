# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash disable=SC2154 # the variables are run.sh's
#
# Sourced by bench/run.sh: the two-hop cell, wrk -> HAProxy -> nginx, all on
# this host: a sidecar or a reverse proxy in front of an app server. HAProxy
# runs with its default buffers (tune.bufsize 16 KiB); case 1m-splice turns
# its kernel splicing on both ways (option splice-request, splice-response).

# haproxy_conf DIR FRONT_PORT BACK_PORT SPLICE
haproxy_conf() {
	local splice=""
	[ "$4" = 1 ] && splice=$'\toption splice-request\n\toption splice-response'
	cat <<EOF
global
	nbthread 1
	maxconn 4096
	pidfile $1/haproxy.pid
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
$splice
frontend front
	bind 127.0.0.1:$2
	default_backend app
backend app
	server nginx 127.0.0.1:$3
EOF
}

# proxy_fetch_exact CGROUP PORT FILE: curl FILE through the proxy from the
# client CPU, in CGROUP, and compare it with the served file
proxy_fetch_exact() {
	local cpu
	cpu=$(cpus_of diff); cpu=${cpu#* }
	in_cg "$1" "$cpu" curl -sS --max-time 10 -o "$tmp/proxy.got" "http://127.0.0.1:$2/$3" 2>> "$log" &&
		cmp -s "$tmp/proxy.got" "$tmp/www/$3"
}

# run_proxy ROUND CASE PLACE VARIANT; CASE small, 1m or 1m-splice. The
# proxy and the server share the server CPU; wrk is on the client CPU.
run_proxy() {
	local round=$1 case=$2 place=$3 variant=$4
	local cg scpu fport bport npid hpid dir file splice=0 by_design=""
	cg=$(cg_of "$variant")
	scpu=$(cpus_of "$place"); scpu=${scpu% *}
	setup_nginx_files
	dir=$tmp/proxy
	file=small.html
	case "$case" in
	1m) file=1m.bin ;;
	1m-splice)
		file=1m.bin; splice=1
		# the splice guard moves spliced sockets to TCP: correct, not fast
		by_design=spliced-hops-on-tcp-by-design ;;
	esac
	bport=$(free_port) && fport=$(free_port) && [ "$fport" != "$bport" ] ||
		{ log "no free port"; failures=$((failures + 1)); return; }
	nginx_start "$cg" "$scpu" "$dir/nginx" "$bport" || {
		log "proxy $case $place $variant round $round: no server"
		failures=$((failures + 1))
		return
	}
	npid=$started
	haproxy_conf "$dir" "$fport" "$bport" "$splice" > "$dir/haproxy.cfg"
	in_cg "$cg" "$scpu" haproxy -db -f "$dir/haproxy.cfg" > "$dir/haproxy.log" 2>&1 &
	hpid=$!
	track "$hpid"
	if ! wait_listen "$fport"; then
		log "proxy $case $place $variant round $round: haproxy did not start: $(tail -n 3 "$dir/haproxy.log")"
		failures=$((failures + 1))
		stop_pid "$hpid"; stop_pid "$npid"
		return
	fi
	# byte-exact through both hops, before the timed run and after it
	if ! proxy_fetch_exact "$cg" "$fport" "$file"; then
		if [ "$variant" = ref ] && [ "$splice" = 1 ]; then
			# HAProxy reads the headers with recv() and splices the
			# body: a plain sockmap strands the redirected bytes
			# (docs/kernel-behaviours.md); only sockaccel's guard helps
			invalid=$((invalid + 1))
			log "proxy $case $place ref round $round: the reference is NOT byte-exact (recv, then splice): no timed run"
			row "$round" proxy "$case" "$place" ref 0 - - - 0 0 0 0 0 1 0 0 0 0 0 not-byte-exact -
			stop_pid "$hpid"; stop_pid "$npid"
			return
		fi
		failures=$((failures + 1))
		log "proxy $case $place $variant round $round: NOT byte-exact before the run"
	fi
	wrk_cell "$round" proxy "$case" "$place" "$variant" "http://127.0.0.1:$fport/$file" \
		"$by_design" "$fport" "$bport"
	if ! proxy_fetch_exact "$cg" "$fport" "$file"; then
		failures=$((failures + 1))
		log "proxy $case $place $variant round $round: NOT byte-exact after the run"
	fi
	stop_pid "$hpid"; stop_pid "$npid"
}
