#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# bench/report.sh DIR: from DIR/results.tsv (written by bench/run.sh) make
# DIR/summary.md and the plots (DIR/ratio.png, DIR/latency-<place>.png).
# Medians with min-max over the valid rounds; ratios computed per round
# (accel and the other variant of the same round) and then summarised.
# Invalid runs (the fast path not proven) are listed, never used.
#
# Exit status: 0 done, 1 no results or gnuplot failed, 2 usage.
set -u
set -o pipefail

[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: bench/report.sh RESULTS_DIR" >&2; exit 2; }
dir=$(cd "$1" && pwd)
tsv=$dir/results.tsv
[ -s "$tsv" ] || { echo "report: no $tsv" >&2; exit 1; }
mkdir -p "$dir/plot"
rm -f "$dir"/plot/*.dat

# Thresholds of the noise note: CPU time stolen by the hypervisor, in % of
# all CPUs' time, and CPU time of processes outside the benchmark, in % of
# one CPU (the driver's own shell and sockaccelctl calls count there too).
steal_max=1
other_max=25

# ---------------------------------------------------------------- numbers
awk -F'\t' -v plotdir="$dir/plot" -v steal_max="$steal_max" -v other_max="$other_max" \
	-v machine="$dir/machine.txt" -v profile="$dir/profile.tsv" '
function sortnum(s, a,   n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) {
		t = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n
}
function med(s,   a, n) {
	n = sortnum(s, a)
	if (n == 0) return ""
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function smin(s,   a, n) { n = sortnum(s, a); return n ? a[1] : "" }
function smax(s,   a, n) { n = sortnum(s, a); return n ? a[n] : "" }
function fmt(v) {
	if (v == "") return "-"
	if (v >= 1000) return sprintf("%.0f", v)
	if (v >= 100) return sprintf("%.1f", v)
	return sprintf("%.2f", v)
}
function cellfmt(s) {
	if (s == "") return "-"
	return fmt(med(s)) " (" fmt(smin(s)) "-" fmt(smax(s)) ")"
}
function rfmt(s) {
	if (s == "") return "-"
	return sprintf("%.2fx (%.2f-%.2f)", med(s), smin(s), smax(s))
}
function add(arr, k, v) { arr[k] = (k in arr) ? arr[k] " " v : v }
function sizename(c) {
	if (c ~ /^[0-9]+$/) {
		if (c >= 1048576 && c % 1048576 == 0) return (c / 1048576) " MiB"
		if (c >= 1024 && c % 1024 == 0) return (c / 1024) " KiB"
		return c " B"
	}
	return c
}
NR == 1 { next }
$1 == "0" || $1 == "P" { next }
{
	round = $1; test = $2; cs = $3; place = $4; v = $5; val = $6; valid = $20
	cell = test SUBSEP cs SUBSEP place
	if (!(cell in seen)) { seen[cell] = 1; cells[++ncells] = cell }
	if (!((test) in tseen)) { tseen[test] = 1; tests[++ntests] = test }
	runs++
	noisy = ($17 + 0 > steal_max || $18 + 0 > other_max)
	if (noisy) { nnoisy++; cnoisy[cell]++ }
	crun[cell]++
	if ($15 + 0 > 0) errors_total += $15
	if ($21 ~ /fell-back/) fb[cell, v] += $14
	if (valid != 1) {
		ninvalid++
		inval[ninvalid] = sprintf("| %s | %s | %s | %s | %s | %s %s | %s | %s |", test, sizename(cs), place, v, round, fmt(val), $7, $11 == "-" ? "-" : $11, $21)
		add(invals, cell SUBSEP v, val)
		if (v == "accel" && $21 ~ /fell-back/) rinv[cell, round] = val
		next
	}
	add(vals, cell SUBSEP v, val)
	if ($8 != "-") { add(p50, cell SUBSEP v, $8); add(p99, cell SUBSEP v, $9) }
	r[cell, v, round] = val
	rounds[cell, round] = 1
	if (!((cell SUBSEP round) in rseen)) { rseen[cell SUBSEP round] = 1; add(rlist, cell, round) }
	unit[test] = $7
}
END {
	split("plain accel unix ref", V, " ")
	# per-round ratios
	for (i = 1; i <= ncells; i++) {
		c = cells[i]
		n = split(rlist[c], rr_, " ")
		for (j = 1; j <= n; j++) {
			k = rr_[j]
			if (!((c SUBSEP "accel" SUBSEP k) in r)) continue
			a = r[c, "accel", k]
			for (o = 1; o <= 4; o++) {
				w = V[o]; if (w == "accel") continue
				if ((c SUBSEP w SUBSEP k) in r && r[c, w, k] > 0)
					add(ratio, c SUBSEP w, a / r[c, w, k])
			}
		}
	}
	for (k in rinv) {
		split(k, kp, SUBSEP); c = kp[1] SUBSEP kp[2] SUBSEP kp[3]
		if ((c SUBSEP "plain" SUBSEP kp[4]) in r && r[c, "plain", kp[4]] > 0)
			add(fbratio, c, rinv[k] / r[c, "plain", kp[4]])
	}
	while ((getline line < machine) > 0) {
		split(line, kv, "="); m[kv[1]] = substr(line, length(kv[1]) + 2)
	}
	print "# sockaccel benchmark results"
	print ""
	printf "Run %s on %s CPUs (%s), kernel %s, %s; sockaccel %s.\n", m["date"], m["host_cpus"], m["cpu_model"], m["kernel"], m["os"], m["sockaccel"]
	printf "Settings: %s rounds of %s s per run after %s ms of warm-up%s; CPUs %s; queue limit %s; wstream window %s bytes; redis %s, nginx %s, wrk %s. Elapsed %s s.\n", m["rounds"], m["duration_s"], m["warmup_ms"], (m["quick"] == 1 ? " (--quick smoke run: timings not meaningful)" : ""), m["cpus"], m["queue_limit"], m["wstream_window"], m["redis"], m["nginx"], m["wrk"], m["elapsed_s"]
	print ""
	print "Variants, run in this order in every round: **plain** (TCP over loopback, nothing attached), **accel** (sockacceld attached to the benchmark cgroup), **unix** (AF_UNIX stream), **ref** (a minimal sockmap program pair loaded with bpftool: the reference of issue 6). Each cell shows the median over the valid rounds with (min-max); ratios are computed per round and summarised the same way. same = client and server on one CPU, diff = on two."
	print ""
	printf "Runs: %d, invalid (fast path not proven, not used): %d, failed or with application errors: %s, noisy: %d.\n", runs, ninvalid + 0, (m["failures"] == "" ? 0 : m["failures"]), nnoisy + 0
	if (nnoisy > 0)
		printf "\n**Noisy machine:** %d of %d runs had more than %d%% of the CPU time stolen or other processes using more than %d%% of a CPU during the run (load average %s at the start, %s at the end); their cells are marked with their count of noisy runs.\n", nnoisy, runs, steal_max, other_max, m["loadavg_start"], m["loadavg_end"]
	print ""
	title["rr"] = "rr: ping-pong on one connection (round trips/s)"
	title["stream"] = "stream: bulk writes, MB/s received and verified (no flow control but TCP'"'"'s)"
	title["wstream"] = "wstream: bulk writes with an application window of half the flow limit (1 MiB), MB/s received and verified"
	title["crr"] = "crr: connect, exchange 32 B, close (connections/s)"
	title["redis"] = "redis-benchmark, 50 clients (requests/s)"
	title["nginx"] = "nginx + wrk, 1 thread, 50 connections (requests/s)"
	title["proxy"] = "two hops: wrk (1 thread, 50 connections) -> HAProxy (default buffers; 1m-splice: splicing on) -> nginx (requests/s)"
	for (t = 1; t <= ntests; t++) {
		tt = tests[t]
		print "## " title[tt]
		print ""
		print "| case | CPUs | plain | accel | unix | ref | accel/plain | accel/unix | accel/ref | noisy |"
		print "|---|---|---|---|---|---|---|---|---|---|"
		for (i = 1; i <= ncells; i++) {
			c = cells[i]; split(c, p, SUBSEP)
			if (p[1] != tt) continue
			line = "| " sizename(p[2]) " | " p[3]
			for (o = 1; o <= 4; o++) {
				s = vals[c SUBSEP V[o]]
				if (s == "" && (c SUBSEP V[o]) in invals) line = line " | invalid"
				else line = line " | " cellfmt(s)
			}
			line = line " | " rfmt(ratio[c SUBSEP "plain"]) " | " rfmt(ratio[c SUBSEP "unix"]) " | " rfmt(ratio[c SUBSEP "ref"])
			line = line " | " (cnoisy[c] ? cnoisy[c] "/" crun[c] : "-") " |"
			print line
		}
		print ""
		if (tt == "rr" || tt == "crr" || tt == "redis" || tt == "nginx" || tt == "proxy") {
			print "Latency, median of the runs'"'"' p50 / p99 in microseconds" (tt == "crr" ? " (one connect-exchange-close)" : "") ":"
			print ""
			print "| case | CPUs | plain | accel | unix | ref |"
			print "|---|---|---|---|---|---|"
			for (i = 1; i <= ncells; i++) {
				c = cells[i]; split(c, p, SUBSEP)
				if (p[1] != tt) continue
				line = "| " sizename(p[2]) " | " p[3]
				for (o = 1; o <= 4; o++) {
					s = p50[c SUBSEP V[o]]
					line = line " | " (s == "" ? "-" : fmt(med(s)) " / " fmt(med(p99[c SUBSEP V[o]])))
				}
				print line " |"
			}
			print ""
		}
		# plot data: ratio by size, one file per test
		if (tt == "rr" || tt == "stream" || tt == "wstream") {
			f = plotdir "/ratio-" tt ".dat"
			print "# size, then med min max of accel/X per round for X_place: plain_same plain_diff unix_same unix_diff ref_same ref_diff fellback_same fellback_diff" > f
			split("", sz); nsz = 0
			for (i = 1; i <= ncells; i++) {
				c = cells[i]; split(c, p, SUBSEP)
				if (p[1] != tt || (p[2] in sz)) continue
				sz[p[2]] = 1; szl[++nsz] = p[2]
			}
			for (q = 1; q <= nsz; q++) {
				line = szl[q]
				split("plain unix ref", W, " ")
				for (o = 1; o <= 3; o++) for (pl = 1; pl <= 2; pl++) {
					c = tt SUBSEP szl[q] SUBSEP (pl == 1 ? "same" : "diff")
					s = ratio[c SUBSEP W[o]]
					line = line (s == "" ? " ? ? ?" : sprintf(" %.4f %.4f %.4f", med(s), smin(s), smax(s)))
				}
				for (pl = 1; pl <= 2; pl++) {
					s = fbratio[tt SUBSEP szl[q] SUBSEP (pl == 1 ? "same" : "diff")]
					line = line (s == "" ? " ? ? ?" : sprintf(" %.4f %.4f %.4f", med(s), smin(s), smax(s)))
				}
				print line > f
			}
			close(f)
		}
	}
	# targets of issue 14 (the blanket ones follow)
	print "## Targets (issue 14)"
	print ""
	print "Ratios of medians in this run; the ref variant is a minimal bpftool-loaded sockmap run in the same rounds."
	print ""
	print "| target | measured (median, min-max) | met? |"
	print "|---|---|---|"
	tgt("rr", "64", "same", "plain", 1.2, "rr 64 B same CPU: >= 1.2x plain")
	tgt("rr", "64", "same", "unix", 1.3, "rr 64 B same CPU: >= 1.3x AF_UNIX")
	tgt("redis", "GET-P1", "same", "plain", 1.15, "redis GET -P 1 same CPU: >= 1.15x plain")
	tgt("redis", "GET-P1", "diff", "plain", 1.15, "redis GET -P 1 diff CPUs: >= 1.15x plain")
	tgt("stream", "65536", "same", "plain", 2.0, "bulk stream 64 KiB same CPU (no application window): >= 2x plain")
	tgt("stream", "65536", "diff", "plain", 2.0, "bulk stream 64 KiB diff CPUs (no application window): >= 2x plain")
	tgt("stream", "1048576", "same", "plain", 2.0, "bulk stream 1 MiB same CPU (no application window): >= 2x plain")
	tgt("stream", "1048576", "diff", "plain", 2.0, "bulk stream 1 MiB diff CPUs (no application window): >= 2x plain")
	tgt("stream", "4096", "same", "plain", 1.0, "stream 4 KiB same CPU: >= 1.0x plain")
	tgt("stream", "4096", "diff", "plain", 1.0, "stream 4 KiB diff CPUs: >= 1.0x plain")
	tgt("wstream", "4096", "same", "plain", 1.0, "windowed stream 4 KiB same CPU: >= 1.0x plain")
	tgt("wstream", "4096", "diff", "plain", 1.0, "windowed stream 4 KiB diff CPUs: >= 1.0x plain")
	tgt("crr", "32", "same", "plain", 1.0, "crr same CPU: >= 1.0x plain")
	tgt("crr", "32", "diff", "plain", 1.0, "crr diff CPUs: >= 1.0x plain")
	tgt("proxy", "small", "same", "plain", 1.0, "two hops, HAProxy default buffers, small page, same CPU: >= 1.0x plain")
	tgt("proxy", "small", "diff", "plain", 1.0, "two hops, HAProxy default buffers, small page, diff CPUs: >= 1.0x plain")
	tgt("proxy", "1m", "same", "plain", 1.0, "two hops, HAProxy default buffers, 1 MiB, same CPU: >= 1.0x plain")
	tgt("proxy", "1m", "diff", "plain", 1.0, "two hops, HAProxy default buffers, 1 MiB, diff CPUs: >= 1.0x plain")
	# the blanket targets, over every cell
	nb = 0; nu = 0; nr = 0; cb = ""; cu = ""; cr = ""; tb = 0; tu = 0; trf = 0
	for (i = 1; i <= ncells; i++) {
		c = cells[i]; split(c, p, SUBSEP)
		s = ratio[c SUBSEP "plain"]
		if (s != "") { tb++; if (med(s) < 1.0) { nb++; cb = cb " " p[1] "/" sizename(p[2]) "/" p[3] " " sprintf("%.2fx;", med(s)) } }
		if (p[1] == "rr" || p[1] == "redis") {
			s = ratio[c SUBSEP "unix"]
			if (s != "") { tu++; if (med(s) < 1.0) { nu++; cu = cu " " p[1] "/" sizename(p[2]) "/" p[3] " " sprintf("%.2fx;", med(s)) } }
		}
		s = ratio[c SUBSEP "ref"]
		if (s != "") { trf++; if (med(s) < 0.97) { nr++; cr = cr " " p[1] "/" sizename(p[2]) "/" p[3] " " sprintf("%.2fx;", med(s)) } }
	}
	printf "| every cell >= 0.97x ref | %d of %d cells below:%s | %s |\n", nr, trf, cr, nr ? "missed" : "met"
	printf "| no cell slower than plain (>= 1.0x) | %d of %d cells below:%s | %s |\n", nb, tb, cb, nb ? "missed" : "met"
	printf "| rr and redis >= 1.0x AF_UNIX | %d of %d cells below:%s | %s |\n", nu, tu, cu, nu ? "missed" : "met"
	nfb = 0
	for (i = 1; i <= ncells; i++) if (fb[cells[i], "accel"] > 0) nfb++
	print ""
	print "Cells with no valid accel run have no ratio: a target on such a cell is missed."
	if (nfb > 0) {
		print ""
		printf "**Fallback:** in %d cell(s) the accelerated direction fell back to TCP (directions_fallen_back rose): the reader held more than the queue limit of unread redirected bytes. Those runs are invalid and listed below.\n", nfb
		for (i = 1; i <= ncells; i++) {
			c = cells[i]; split(c, p, SUBSEP)
			if (fbratio[c] != "")
				printf "\n- %s %s %s: what the fallen-back accel runs delivered, per round against plain: %s", p[1], sizename(p[2]), p[3], rfmt(fbratio[c])
		}
		print ""
	}
	# profile
	print ""
	print "## ns per program call"
	print ""
	print "From kernel.bpf_stats_enabled (run_time_ns / run_cnt) in separate same-CPU runs after the timed rounds (the statistics cost time themselves)."
	print ""
	print "| workload | program | calls | ns per call |"
	print "|---|---|---|---|"
	np = 0
	while ((getline line < profile) > 0) {
		if (line ~ /^workload/) continue
		split(line, pf, "\t"); np++
		printf "| %s | %s | %s | %s |\n", pf[1], pf[2], pf[3], pf[4]
	}
	if (!np) print "| (not measured) | | | |"
	print ""
	print "## Invalid runs"
	print ""
	if (ninvalid) {
		print "Runs whose fast path could not be proven (accel/ref: TCP carried more than 0.1% of the bytes, or no redirect was counted; plain: TCP carried less than 99%). Not used above."
		print ""
		print "| test | case | CPUs | variant | round | value | TCP bytes | why |"
		print "|---|---|---|---|---|---|---|---|"
		for (i = 1; i <= ninvalid; i++) print inval[i]
	} else print "None."
}
function tgt(test, cs, place, other, want, label,   c, s) {
	c = test SUBSEP cs SUBSEP place
	if (!(c in seen)) return
	s = ratio[c SUBSEP other]
	if (s == "") { printf "| %s | no valid accel run | missed |\n", label; return }
	printf "| %s | %s | %s |\n", label, rfmt(s), (med(s) >= want ? "met" : sprintf("missed by %.1f%%", 100 * (1 - med(s) / want)))
}
' "$tsv" > "$dir/summary.md" || { echo "report: awk failed" >&2; exit 1; }

# ---------------------------------------------------------------- latency CDFs
# merge each rr cell's valid histograms over the rounds into a CDF (us, %)
awk -F'\t' 'NR > 1 && $2 == "rr" && $20 == 1 && $1 != "P" && $1 != "0" { print $2 "-" $3 "-" $4 "-" $5 "-" $1 }' "$tsv" |
while read -r h; do
	f=$dir/hist/$h.tsv
	[ -s "$f" ] && echo "${h%-*} $f"
done | sort | awk '{ files[$1] = files[$1] " " $2 } END { for (k in files) print k files[k] }' |
while read -r key files; do
	# shellcheck disable=SC2086
	cat $files | awk '!/^#/ { n[$1] += $2; t += $2 } END { for (v in n) print v, n[v], t }' | sort -n |
	awk '{ c += $2; printf "%.3f %.4f\n", $1 / 1000, 100 * c / $3 }' > "$dir/plot/lat-$key.dat"
done

# ---------------------------------------------------------------- plots
term="pngcairo size 1200,500 font 'sans,10'"
gnuplot -e "set terminal $term" > /dev/null 2>&1 || term="png size 1200,500"

panels=""
for t in rr wstream stream; do
	[ -s "$dir/plot/ratio-$t.dat" ] && panels="$panels $t"
done
npanels=$(echo $panels | wc -w)
if [ "$npanels" -gt 0 ]; then
	{
		echo "set terminal ${term/1200,500/$((420 * npanels + 60)),480}"
		echo "set output '$dir/ratio.png'"
		echo "set datafile missing '?'"
		echo "set multiplot layout 1,$npanels title 'sockaccel: accelerated / other variant, per-round median with min-max'"
		echo "set logscale x 2"
		echo "set format x '%.0b%B'"
		echo "set xlabel 'message / write size (bytes)'"
		echo "set ylabel 'ratio'"
		echo "set grid ytics"
		echo "set key top left font ',8'"
		echo "set yrange [0:*]"
		for t in $panels; do
			case $t in
			rr) ttl="rr (round trips/s)" ;;
			wstream) ttl="stream, windowed (MB/s)" ;;
			stream) ttl="stream, bulk (MB/s)" ;;
			esac
			f=$dir/plot/ratio-$t.dat
			echo "set title '$ttl'"
			echo "plot 1 with lines lc rgb 'gray' dt 2 notitle, \\"
			echo " '$f' using 1:2:3:4 with yerrorlines lc rgb '#1f77b4' title 'accel/plain same', \\"
			echo " '$f' using 1:5:6:7 with yerrorlines lc rgb '#1f77b4' dt 2 title 'accel/plain diff', \\"
			echo " '$f' using 1:8:9:10 with yerrorlines lc rgb '#2ca02c' title 'accel/unix same', \\"
			echo " '$f' using 1:11:12:13 with yerrorlines lc rgb '#2ca02c' dt 2 title 'accel/unix diff', \\"
			echo " '$f' using 1:14:15:16 with yerrorlines lc rgb '#d62728' title 'accel/ref same', \\"
			if [ "$t" = stream ]; then
				echo " '$f' using 1:17:18:19 with yerrorlines lc rgb '#d62728' dt 2 title 'accel/ref diff', \\"
				echo " '$f' using 1:20:21:22 with yerrorlines lc rgb '#9467bd' title 'accel fell back/plain same', \\"
				echo " '$f' using 1:23:24:25 with yerrorlines lc rgb '#9467bd' dt 2 title 'accel fell back/plain diff'"
			else
				echo " '$f' using 1:17:18:19 with yerrorlines lc rgb '#d62728' dt 2 title 'accel/ref diff'"
			fi
		done
		echo "unset multiplot"
	} > "$dir/plot/ratio.gp"
	gnuplot "$dir/plot/ratio.gp" 2> "$dir/plot/gnuplot.err" || { cat "$dir/plot/gnuplot.err" >&2; exit 1; }
fi

for place in same diff; do
	sizes=$(ls "$dir"/plot/lat-rr-*-"$place"-*.dat 2> /dev/null | sed 's/.*lat-rr-\([0-9]*\)-.*/\1/' | sort -un)
	[ -n "$sizes" ] || continue
	n=$(echo $sizes | wc -w)
	{
		echo "set terminal ${term/1200,500/$((400 * n + 60)),420}"
		echo "set output '$dir/latency-$place.png'"
		echo "set multiplot layout 1,$n title 'rr round-trip latency, $place CPU(s): cumulative distribution over all valid rounds'"
		echo "set logscale x 10"
		echo "set xlabel 'round trip (us)'"
		echo "set ylabel 'percentile'"
		echo "set yrange [0:100]"
		echo "set grid"
		echo "set key bottom right font ',8'"
		for s in $sizes; do
			echo "set title '$s bytes'"
			plot="plot"
			for v in plain accel unix ref; do
				f=$dir/plot/lat-rr-$s-$place-$v.dat
				[ -s "$f" ] || continue
				case $v in plain) c='#1f77b4' ;; accel) c='#d62728' ;; unix) c='#2ca02c' ;; ref) c='#ff7f0e' ;; esac
				plot="$plot '$f' using 1:2 with lines lw 2 lc rgb '$c' title '$v',"
			done
			echo "${plot%,}"
		done
		echo "unset multiplot"
	} > "$dir/plot/latency-$place.gp"
	gnuplot "$dir/plot/latency-$place.gp" 2> "$dir/plot/gnuplot.err" || { cat "$dir/plot/gnuplot.err" >&2; exit 1; }
done
rm -f "$dir/plot/gnuplot.err"

# the plots that were made, at the end of the summary
{
	echo
	echo "## Plots"
	[ -s "$dir/ratio.png" ] && printf '\n![accel ratios by message size](ratio.png)\n'
	[ -s "$dir/latency-same.png" ] && printf '\n![rr latency distribution, same CPU](latency-same.png)\n'
	[ -s "$dir/latency-diff.png" ] && printf '\n![rr latency distribution, different CPUs](latency-diff.png)\n'
	printf '\nRaw data: [results.tsv](results.tsv) (one row per run), [profile.tsv](profile.tsv), [machine.txt](machine.txt), latency histograms in hist/.\n'
} >> "$dir/summary.md"
echo "report: $dir/summary.md"
