# effbench figure: test accuracy against a swept task parameter, suite "claim-recall"
# Regenerate the image: cd to this directory and run `gnuplot sweep-selective_copy.gp`.
# Data: sweep-selective_copy.dat (columns and units in its header).

set terminal pngcairo size 1280,800 enhanced font 'Sans,16' linewidth 1.5 background '#ffffff'
set output 'sweep-selective_copy.png'
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
set linetype 5 lc rgb '#B07AA1' lw 2 pt 13 ps 1.4*PS  # mamba

set title "Test accuracy against len — task 'selective_copy' (generated, seed 0), suite 'claim-recall'\npoints: mean over seeds, bars: min–max" noenhanced
set xlabel "selective_copy.len" noenhanced
set ylabel 'Test accuracy (%)'
set logscale x 2
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
set key outside right top spacing 1.2

plot \
  'sweep-selective_copy.dat' index 0 using 1:2:3:4 with yerrorlines lt 2 dt 1 title "linformer", \
  'sweep-selective_copy.dat' index 1 using 1:2:3:4 with yerrorlines lt 5 dt 1 title "mamba", \
  'sweep-selective_copy.dat' index 2 using 1:2:3:4 with yerrorlines lt 3 dt 1 title "performer", \
  'sweep-selective_copy.dat' index 3 using 1:2:3:4 with yerrorlines lt 4 dt 1 title "poolformer", \
  'sweep-selective_copy.dat' index 4 using 1:2:3:4 with yerrorlines lt 1 dt 1 title "vanilla", \
  'sweep-selective_copy.dat' index 5 using 1:2 with lines lc rgb '#999999' dt 2 lw 2 title 'majority class'
