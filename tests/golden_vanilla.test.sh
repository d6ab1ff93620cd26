#!/usr/bin/env bash
# ctest-labels: golden
# Golden cross-check of the vanilla Transformer against an independent PyTorch
# float64 reference (tests/golden/torch_models.py): `effbench export --with-batch`
# writes parameters, a batch, logits, loss and every gradient; check_export.py
# recomputes them in torch and compares (logits/loss rel. err <= 1e-4, grads <= 1e-3),
# each tensor judged per slice (sequence, head, position, row) against its own scale.
# Env: EFFBENCH (binary), EB_SRC (source dir), EB_BUILD (build dir). Exit 77 = skipped.
set -u
: "${EB_SRC:?EB_SRC must point to the source directory}"
. "$EB_SRC/tests/golden/common.sh"

run_case mean-seed1   vanilla --require-padding --seed 1 --pool mean "${SMALL[@]}"
run_case cls-seed2    vanilla --require-padding --seed 2 --pool cls  "${SMALL[@]}"
run_case mean-1head   vanilla ""                --seed 3 --pool mean --dim 24 --depth 1 --heads 1 --ffn 40 --len 17 --batch 3 --vocab 13 --classes 2
run_case cls-depth3   vanilla ""                --seed 4 --pool cls  --dim 48 --depth 3 --heads 6 --ffn 96 --len 33 --batch 5 --vocab 30 --classes 7
run_case mean-causal  vanilla ""                --seed 5 --pool mean --param causal=true "${SMALL[@]}"
# (causal + pool: cls is refused: a causal CLS sees only itself)
run_case causal-seed6 vanilla ""                --seed 6 --pool mean --param causal=true "${SMALL[@]}"
# the naive kernel (stores the probabilities) and long sequences that span
# several query and key blocks of the blockwise kernel (32 x 256)
run_case mean-naive   vanilla --require-padding --seed 7 --pool mean --param attention=naive "${SMALL[@]}"
run_case causal-naive vanilla ""                --seed 8 --pool mean --param attention=naive --param causal=true "${SMALL[@]}"
run_case long-blocks  vanilla --require-padding --seed 9 --pool mean --dim 16 --depth 1 --heads 2 --ffn 32 --len 300 --batch 2 --vocab 20 --classes 3
run_case long-causal  vanilla ""                --seed 10 --pool mean --param causal=true --dim 16 --depth 1 --heads 2 --ffn 32 --len 301 --batch 2 --vocab 20 --classes 3

golden_done golden_vanilla
