set terminal pngcairo noenhanced size 1200,500 font ',10'
set output 'read-heavy-p99.png'
set multiplot layout 1,2 title 'read-heavy: p99 latency per interval (run with the median ops/s)'
set xlabel 'seconds into the measured phase'
set ylabel 'p99 (us)'
set logscale y
set grid
set key top left font ',8'
set title 'zipfian keys'
plot 'read-heavy-p99.dat' index 0 using 1:2 with linespoints pt 7 ps 0.4 title 'lsm/leveled', 'read-heavy-p99.dat' index 1 using 1:2 with linespoints pt 7 ps 0.4 title 'lsm/size_tiered', 'read-heavy-p99.dat' index 2 using 1:2 with linespoints pt 7 ps 0.4 title 'lsm/time_window', 'read-heavy-p99.dat' index 3 using 1:2 with linespoints pt 7 ps 0.4 title 'rocksdb/own', 'read-heavy-p99.dat' index 4 using 1:2 with linespoints pt 7 ps 0.4 title 'leveldb/own'
set title 'uniform keys'
plot 'read-heavy-p99.dat' index 5 using 1:2 with linespoints pt 7 ps 0.4 title 'lsm/leveled', 'read-heavy-p99.dat' index 6 using 1:2 with linespoints pt 7 ps 0.4 title 'lsm/size_tiered', 'read-heavy-p99.dat' index 7 using 1:2 with linespoints pt 7 ps 0.4 title 'lsm/time_window', 'read-heavy-p99.dat' index 8 using 1:2 with linespoints pt 7 ps 0.4 title 'rocksdb/own', 'read-heavy-p99.dat' index 9 using 1:2 with linespoints pt 7 ps 0.4 title 'leveldb/own'
unset multiplot
