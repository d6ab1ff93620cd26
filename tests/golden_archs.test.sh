#!/usr/bin/env bash
# ctest-labels: golden
# Golden cross-check of linformer, performer and wide against the independent
# PyTorch float64 reference (tests/golden/torch_models.py): `effbench export
# --with-batch` writes parameters (and Performer's random features, a buffer),
# a batch, logits, loss and every gradient; check_export.py recomputes them in
# torch and compares (logits/loss rel. err <= 1e-4, grads <= 1e-3), each
# tensor judged per slice (sequence, head, position, row) against its own scale. Every
# Linformer sharing mode and both Performer kernels.
# Env: EFFBENCH (binary), EB_SRC (source dir), EB_BUILD (build dir). Exit 77 = skipped.
set -u
: "${EB_SRC:?EB_SRC must point to the source directory}"
. "$EB_SRC/tests/golden/common.sh"

run_case lin-none      linformer --require-padding --seed 1 --pool mean --param k=8 "${SMALL[@]}"
run_case lin-kv        linformer --require-padding --seed 2 --pool cls  --param k=8 --param share=kv "${SMALL[@]}"
run_case lin-layer     linformer --require-padding --seed 3 --pool mean --param k=6 --param share=layer "${SMALL[@]}"
run_case lin-default-k linformer ""                --seed 4 --pool cls  "${SMALL[@]}"
run_case lin-depth3    linformer ""                --seed 5 --pool mean --param k=16 --dim 48 --depth 3 --heads 6 --ffn 96 --len 33 --batch 5 --vocab 30 --classes 7
run_case perf-softmax  performer --require-padding --seed 6 --pool mean --param features=16 "${SMALL[@]}"
run_case perf-soft-cls performer --require-padding --seed 7 --pool cls  --param features=37 "${SMALL[@]}"
run_case perf-relu     performer --require-padding --seed 8 --pool mean --param features=16 --param kernel=relu "${SMALL[@]}"
run_case perf-relu-cls performer ""                --seed 9 --pool cls  --param features=8 --param kernel=relu --param redraw=10 "${SMALL[@]}"
run_case perf-default  performer ""                --seed 10 --pool mean --dim 16 --depth 1 --heads 2 --ffn 32 --len 40 --batch 3 --vocab 20 --classes 3
run_case wide-auto     wide      --require-padding --seed 11 --pool mean "${SMALL[@]}"
run_case wide-16       wide      --require-padding --seed 14 --pool mean --param heads=16 "${SMALL[@]}"
run_case wide-cls      wide      --require-padding --seed 12 --pool cls --param heads=8 --param attention=naive "${SMALL[@]}"
run_case wide-long     wide      ""                --seed 13 --pool mean --param heads=4 --dim 16 --depth 3 --heads 2 --ffn 32 --len 300 --batch 2 --vocab 20 --classes 3

golden_done golden_archs
