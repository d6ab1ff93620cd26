#!/usr/bin/env bash
# ctest-labels: golden
# Golden cross-check of poolformer, mamba and moe against the independent
# PyTorch float64 reference (tests/golden/torch_models.py): `effbench export
# --with-batch` writes parameters, a batch, logits, loss and every gradient;
# check_export.py recomputes them in torch and compares (logits/loss rel. err
# <= 1e-4, grads <= 1e-3; each tensor judged per slice - sequence, head, position,
# row - against its own scale). Mamba's reference scan is a plain sequential loop;
# the MoE reference recomputes the routing in float64 (and refuses a batch
# with a near-tie, where float32 and float64 could route differently), with
# capacities that drop tokens and that do not. An export is an evaluation pass,
# so its capacity is eval_capacity_factor's (default 0: no limit; set in
# moe-top2 and moe-tight to keep dropping covered).
# Env: EFFBENCH (binary), EB_SRC (source dir), EB_BUILD (build dir). Exit 77 = skipped.
set -u
: "${EB_SRC:?EB_SRC must point to the source directory}"
. "$EB_SRC/tests/golden/common.sh"

run_case pool-mean     poolformer --require-padding --seed 1 --pool mean "${SMALL[@]}"
# pool: cls needs position 0 to see all 24 + 1 positions: 1 + depth * (pool/2) >= 25
run_case pool-cls25    poolformer --require-padding --seed 2 --pool cls  --param pool=25 "${SMALL[@]}"
run_case pool-wide     poolformer ""                --seed 3 --pool mean --param pool=31 --dim 16 --depth 1 --heads 2 --ffn 32 --len 17 --batch 3 --vocab 13 --classes 2
run_case mamba-mean    mamba      --require-padding --seed 4 --pool mean "${SMALL[@]}"
run_case mamba-small   mamba      --require-padding --seed 5 --pool mean --param state=4 --param conv=3 --param dt_rank=3 "${SMALL[@]}"
run_case mamba-bi      mamba      --require-padding --seed 6 --pool mean --param bidirectional=true "${SMALL[@]}"
run_case mamba-bi-cls  mamba      --require-padding --seed 7 --pool cls  --param bidirectional=true --param expand=1 --param state=8 "${SMALL[@]}"
run_case mamba-long    mamba      ""                --seed 8 --pool mean --dim 16 --depth 1 --heads 2 --ffn 32 --len 150 --batch 2 --vocab 20 --classes 3 --param bidirectional=true
run_case moe-default   moe        --require-padding --seed 9 --pool mean "${SMALL[@]}"
run_case moe-nodrop    moe        --require-padding --seed 10 --pool cls --param capacity_factor=8 "${SMALL[@]}"
run_case moe-top2      moe        --require-padding --seed 11 --pool mean --param experts=4 --param top_k=2 --param eval_capacity_factor=1.5 "${SMALL[@]}"
run_case moe-tight     moe        ""                --seed 12 --pool cls --param experts=3 --param eval_capacity_factor=0.5 --dim 16 --depth 3 --heads 2 --ffn 24 --len 20 --batch 3 --vocab 13 --classes 3

golden_done golden_archs2
