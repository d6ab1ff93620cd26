# effbench figure: scaling fits: metric vs training model FLOPs, suite "lra-scaling"
# Regenerate the image: cd to this directory and run `gnuplot fit-text.gp`.
# Data: fit-text.dat (columns and units in its header).

set terminal pngcairo size 1280,800 enhanced font 'Sans,16' linewidth 1.5 background '#ffffff'
set output 'fit-text.png'
PS = 1  # point size scale for this terminal
set encoding utf8
set datafile missing 'NaN'
set border 3 lw 1
set tics nomirror out scale 0.7
set style line 100 lc rgb '#e6e6e6' lw 1 dt solid
set grid back ls 100, ls 100
set key noenhanced

# one linetype per arch, the same in every effbench figure
set linetype 1 lc rgb '#4E79A7' lw 2 pt 7 ps 1.4*PS  # vanilla
set linetype 2 lc rgb '#E15759' lw 2 pt 5 ps 1.4*PS  # linformer
set linetype 3 lc rgb '#59A14F' lw 2 pt 9 ps 1.4*PS  # performer
set linetype 4 lc rgb '#F28E2B' lw 2 pt 11 ps 1.4*PS  # poolformer
set linetype 5 lc rgb '#B07AA1' lw 2 pt 13 ps 1.4*PS  # moe
set linetype 6 lc rgb '#76B7B2' lw 2 pt 15 ps 1.4*PS  # mamba
set linetype 7 lc rgb '#9C755F' lw 2 pt 7 ps 1.4*PS  # wide

set title "Scaling fits — task 'text' (generated sentiment, seed 0), suite 'lra-scaling'\ntest loss = a·C^-b + c per arch; points: runs" noenhanced
set xlabel 'Training compute C (model FLOPs, no recompute: per step × steps, log scale)'
set ylabel 'Test loss (nats) (log scale)'
set logscale xy 10
set xrange [8.84598e+09:7.11437e+11]
set yrange [0.0192283:1.70822]
set xtics ("10^{10}" 1e+10, "10^{11}" 1e+11, "3×10^{10}" 3e+10, "3×10^{11}" 3e+11)
set ytics ("0.1" 0.1, "1" 1, "0.03" 0.03, "0.3" 0.3)
set key outside right top spacing 1.2

plot \
  'fit-text.dat' index 0 using 1:2 with points lt 1 ps 1.6*PS title "vanilla (b = 3.36)", \
  'fit-text.dat' index 1 using 1:2 with points lt 2 ps 1.6*PS title "linformer (b = 0.253)", \
  'fit-text.dat' index 2 using 1:2 with points lt 3 ps 1.6*PS title "performer (b = 1.72)", \
  'fit-text.dat' index 3 using 1:2 with points lt 4 ps 1.6*PS title "poolformer (b = 0.609)", \
  'fit-text.dat' index 4 using 1:2 with points lt 5 ps 1.6*PS title "moe (no fit)", \
  'fit-text.dat' index 5 using 1:2 with points lt 6 ps 1.6*PS title "mamba (b = 0.868)", \
  'fit-text.dat' index 6 using 1:2 with points lt 7 ps 1.6*PS title "wide (b = 4.04)", \
  'fit-text.dat' index 7 using 1:2 with lines lt 1 lw 2 notitle, \
  'fit-text.dat' index 8 using 1:2 with lines lt 2 lw 2 notitle, \
  'fit-text.dat' index 9 using 1:2 with lines lt 3 lw 2 notitle, \
  'fit-text.dat' index 10 using 1:2 with lines lt 4 lw 2 notitle, \
  'fit-text.dat' index 11 using 1:2 with lines lt 6 lw 2 notitle, \
  'fit-text.dat' index 12 using 1:2 with lines lt 7 lw 2 notitle
