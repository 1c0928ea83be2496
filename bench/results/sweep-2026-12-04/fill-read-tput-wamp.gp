set terminal pngcairo noenhanced size 900,600 font ',10'
set output 'fill-read-tput-wamp.png'
set title 'fill-read: throughput vs write amplification (medians of 3 runs)'
set xlabel 'write amplification (disk bytes written / user bytes)'
set ylabel 'ops/s (measured phase)'
set grid
set key top right
set offsets graph 0.1, graph 0.2, graph 0.1, graph 0.1
plot 'fill-read-tput-wamp.dat' index 0 using 2:3:1 with labels point pt 7 offset char 0.5,0.6 font ',8' title 'zipfian', 'fill-read-tput-wamp.dat' index 1 using 2:3:1 with labels point pt 9 offset char 0.5,0.6 font ',8' title 'uniform'
