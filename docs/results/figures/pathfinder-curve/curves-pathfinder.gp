# effbench figure: validation accuracy during training, suite "lra-pathfinder-curve"
# Regenerate the image: cd to this directory and run `gnuplot curves-pathfinder.gp`.
# Data: curves-pathfinder.dat (columns and units in its header).

set terminal pngcairo size 1280,800 enhanced font 'Sans,16' linewidth 1.5 background '#ffffff'
set output 'curves-pathfinder.png'
PS = 1  # point size scale for this terminal
set encoding utf8
set datafile missing 'NaN'
set border 3 lw 1
set tics nomirror out scale 0.7
set style line 100 lc rgb '#e6e6e6' lw 1 dt solid
set grid back ls 100, ls 100
set key noenhanced

# one linetype per arch, the same in every effbench figure
set linetype 1 lc rgb '#4E79A7' lw 2 pt 7 ps 1.4*PS  # mamba
set linetype 2 lc rgb '#E15759' lw 2 pt 5 ps 1.4*PS  # linformer

set title "Validation accuracy during training — task 'pathfinder' (generated, seed 0), suite 'lra-pathfinder-curve'" noenhanced
set xlabel 'Training step'
set ylabel 'Validation accuracy (%)'
set key outside right top spacing 1.2
set offsets 0, 0, graph 0.05, graph 0.05
set style fill transparent solid 0.15 noborder

plot \
  'curves-pathfinder.dat' index 0 using 1:2 with linespoints lt 1 pi 1 title "mamba", \
  'curves-pathfinder.dat' index 1 using 1:2 with linespoints lt 2 pi 1 title "linformer"
