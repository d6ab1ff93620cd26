# effbench figure: validation accuracy during training, suite "lra-cpu"
# Regenerate the image: cd to this directory and run `gnuplot curves-image.gp`.
# Data: curves-image.dat (columns and units in its header).

set terminal pngcairo size 1280,800 enhanced font 'Sans,16' linewidth 1.5 background '#ffffff'
set output 'curves-image.png'
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

set title "Validation accuracy during training — task 'image' (Fashion-MNIST substitute, sha256 f37bf622), suite 'lra-cpu'\nlines: mean over seeds, bands: min–max over seeds" noenhanced
set xlabel 'Training step'
set ylabel 'Validation accuracy (%)'
set key outside right top spacing 1.2
set offsets 0, 0, graph 0.05, graph 0.05
set style fill transparent solid 0.15 noborder

plot \
  'curves-image.dat' index 0 using 1:3:4 with filledcurves lc rgb '#4E79A7' notitle, \
  'curves-image.dat' index 0 using 1:2 with linespoints lt 1 pi 1 title "vanilla", \
  'curves-image.dat' index 1 using 1:3:4 with filledcurves lc rgb '#E15759' notitle, \
  'curves-image.dat' index 1 using 1:2 with linespoints lt 2 pi 1 title "linformer", \
  'curves-image.dat' index 2 using 1:3:4 with filledcurves lc rgb '#59A14F' notitle, \
  'curves-image.dat' index 2 using 1:2 with linespoints lt 3 pi 1 title "performer", \
  'curves-image.dat' index 3 using 1:3:4 with filledcurves lc rgb '#F28E2B' notitle, \
  'curves-image.dat' index 3 using 1:2 with linespoints lt 4 pi 1 title "poolformer", \
  'curves-image.dat' index 4 using 1:3:4 with filledcurves lc rgb '#B07AA1' notitle, \
  'curves-image.dat' index 4 using 1:2 with linespoints lt 5 pi 1 title "moe", \
  'curves-image.dat' index 5 using 1:3:4 with filledcurves lc rgb '#76B7B2' notitle, \
  'curves-image.dat' index 5 using 1:2 with linespoints lt 6 pi 1 title "mamba", \
  'curves-image.dat' index 6 using 1:3:4 with filledcurves lc rgb '#9C755F' notitle, \
  'curves-image.dat' index 6 using 1:2 with linespoints lt 7 pi 1 title "wide"
