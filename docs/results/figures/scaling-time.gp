# effbench figure: step time vs sequence length, suite "speed"
# Regenerate the image: cd to this directory and run `gnuplot scaling-time.gp`.
# Data: scaling-time.dat (columns and units in its header).

set terminal pngcairo size 1280,800 enhanced font 'Sans,16' linewidth 1.5 background '#ffffff'
set output 'scaling-time.png'
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

set title "Step time vs sequence length — suite 'speed' (batch 8, 2 threads)\ntraining: solid lines, inference: dashed lines" noenhanced
set xlabel 'Sequence length (tokens, log scale)'
set ylabel 'Median step time (ms, log scale)'
set logscale xy
set xrange [819.2:10240]
set yrange [4.14683:8346.05]
set ytics ("10" 10, "100" 100, "1000" 1000, "30" 30, "300" 300, "3000" 3000)
set xtics (1024, 2048, 4096, 8192)
set key outside right top spacing 1.2

plot \
  'scaling-time.dat' index 0 using 1:2 with linespoints lt 1 title "vanilla (train)", \
  'scaling-time.dat' index 1 using 1:2 with linespoints lt 1 dt 2 pi -1 title "vanilla (infer)", \
  'scaling-time.dat' index 2 using 1:2 with linespoints lt 2 title "linformer (train)", \
  'scaling-time.dat' index 3 using 1:2 with linespoints lt 2 dt 2 pi -1 title "linformer (infer)", \
  'scaling-time.dat' index 4 using 1:2 with linespoints lt 3 title "performer (train)", \
  'scaling-time.dat' index 5 using 1:2 with linespoints lt 3 dt 2 pi -1 title "performer (infer)", \
  'scaling-time.dat' index 6 using 1:2 with linespoints lt 4 title "poolformer (train)", \
  'scaling-time.dat' index 7 using 1:2 with linespoints lt 4 dt 2 pi -1 title "poolformer (infer)", \
  'scaling-time.dat' index 8 using 1:2 with linespoints lt 5 title "moe (train)", \
  'scaling-time.dat' index 9 using 1:2 with linespoints lt 5 dt 2 pi -1 title "moe (infer)", \
  'scaling-time.dat' index 10 using 1:2 with linespoints lt 6 title "mamba (train)", \
  'scaling-time.dat' index 11 using 1:2 with linespoints lt 6 dt 2 pi -1 title "mamba (infer)", \
  'scaling-time.dat' index 12 using 1:2 with linespoints lt 7 title "wide (train)", \
  'scaling-time.dat' index 13 using 1:2 with linespoints lt 7 dt 2 pi -1 title "wide (infer)"
