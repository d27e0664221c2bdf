set terminal pngcairo size 1320,480 font 'sans,10'
set output '/work/main/bench/results/2026-11-25T133410/ratio.png'
set datafile missing '?'
set multiplot layout 1,3 title 'sockaccel: accelerated / other variant, per-round median with min-max'
set logscale x 2
set format x '%.0b%B'
set xlabel 'message / write size (bytes)'
set ylabel 'ratio'
set grid ytics
set key top left font ',8'
set yrange [0:*]
set title 'rr (round trips/s)'
plot 1 with lines lc rgb 'gray' dt 2 notitle, \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-rr.dat' using 1:2:3:4 with yerrorlines lc rgb '#1f77b4' title 'accel/plain same', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-rr.dat' using 1:5:6:7 with yerrorlines lc rgb '#1f77b4' dt 2 title 'accel/plain diff', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-rr.dat' using 1:8:9:10 with yerrorlines lc rgb '#2ca02c' title 'accel/unix same', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-rr.dat' using 1:11:12:13 with yerrorlines lc rgb '#2ca02c' dt 2 title 'accel/unix diff', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-rr.dat' using 1:14:15:16 with yerrorlines lc rgb '#d62728' title 'accel/ref same', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-rr.dat' using 1:17:18:19 with yerrorlines lc rgb '#d62728' dt 2 title 'accel/ref diff'
set title 'stream, windowed (MB/s)'
plot 1 with lines lc rgb 'gray' dt 2 notitle, \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-wstream.dat' using 1:2:3:4 with yerrorlines lc rgb '#1f77b4' title 'accel/plain same', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-wstream.dat' using 1:5:6:7 with yerrorlines lc rgb '#1f77b4' dt 2 title 'accel/plain diff', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-wstream.dat' using 1:8:9:10 with yerrorlines lc rgb '#2ca02c' title 'accel/unix same', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-wstream.dat' using 1:11:12:13 with yerrorlines lc rgb '#2ca02c' dt 2 title 'accel/unix diff', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-wstream.dat' using 1:14:15:16 with yerrorlines lc rgb '#d62728' title 'accel/ref same', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-wstream.dat' using 1:17:18:19 with yerrorlines lc rgb '#d62728' dt 2 title 'accel/ref diff'
set title 'stream, bulk (MB/s)'
plot 1 with lines lc rgb 'gray' dt 2 notitle, \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-stream.dat' using 1:2:3:4 with yerrorlines lc rgb '#1f77b4' title 'accel/plain same', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-stream.dat' using 1:5:6:7 with yerrorlines lc rgb '#1f77b4' dt 2 title 'accel/plain diff', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-stream.dat' using 1:8:9:10 with yerrorlines lc rgb '#2ca02c' title 'accel/unix same', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-stream.dat' using 1:11:12:13 with yerrorlines lc rgb '#2ca02c' dt 2 title 'accel/unix diff', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-stream.dat' using 1:14:15:16 with yerrorlines lc rgb '#d62728' title 'accel/ref same', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-stream.dat' using 1:17:18:19 with yerrorlines lc rgb '#d62728' dt 2 title 'accel/ref diff', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-stream.dat' using 1:20:21:22 with yerrorlines lc rgb '#9467bd' title 'accel fell back/plain same', \
 '/work/main/bench/results/2026-11-25T133410/plot/ratio-stream.dat' using 1:23:24:25 with yerrorlines lc rgb '#9467bd' dt 2 title 'accel fell back/plain diff'
unset multiplot
