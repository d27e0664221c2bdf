set terminal pngcairo size 1660,420 font 'sans,10'
set output '/work/main/bench/results/2026-11-25T133410/latency-same.png'
set multiplot layout 1,4 title 'rr round-trip latency, same CPU(s): cumulative distribution over all valid rounds'
set logscale x 10
set xlabel 'round trip (us)'
set ylabel 'percentile'
set yrange [0:100]
set grid
set key bottom right font ',8'
set title '1 bytes'
plot '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-1-same-plain.dat' using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'plain', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-1-same-accel.dat' using 1:2 with lines lw 2 lc rgb '#d62728' title 'accel', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-1-same-unix.dat' using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'unix', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-1-same-ref.dat' using 1:2 with lines lw 2 lc rgb '#ff7f0e' title 'ref'
set title '64 bytes'
plot '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-64-same-plain.dat' using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'plain', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-64-same-accel.dat' using 1:2 with lines lw 2 lc rgb '#d62728' title 'accel', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-64-same-unix.dat' using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'unix', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-64-same-ref.dat' using 1:2 with lines lw 2 lc rgb '#ff7f0e' title 'ref'
set title '1024 bytes'
plot '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-1024-same-plain.dat' using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'plain', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-1024-same-accel.dat' using 1:2 with lines lw 2 lc rgb '#d62728' title 'accel', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-1024-same-unix.dat' using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'unix', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-1024-same-ref.dat' using 1:2 with lines lw 2 lc rgb '#ff7f0e' title 'ref'
set title '16384 bytes'
plot '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-16384-same-plain.dat' using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'plain', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-16384-same-accel.dat' using 1:2 with lines lw 2 lc rgb '#d62728' title 'accel', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-16384-same-unix.dat' using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'unix', '/work/main/bench/results/2026-11-25T133410/plot/lat-rr-16384-same-ref.dat' using 1:2 with lines lw 2 lc rgb '#ff7f0e' title 'ref'
unset multiplot
