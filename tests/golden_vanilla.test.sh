#!/usr/bin/env bash
# ctest-labels: golden
# Golden cross-check of the vanilla Transformer against an independent PyTorch
# float64 reference (tests/golden/torch_models.py): `effbench export --with-batch`
# writes parameters, a batch, logits, loss and every gradient; check_export.py
# recomputes them in torch and compares (logits/loss rel. err <= 1e-4, grads <= 1e-3).
# Env: EFFBENCH (binary), EB_SRC (source dir), EB_BUILD (build dir). Exit 77 = skipped.
set -u

: "${EFFBENCH:?EFFBENCH must point to the effbench binary}"
: "${EB_SRC:?EB_SRC must point to the source directory}"
CHECK="$EB_SRC/tests/golden/check_export.py"

# torch comes from Debian's python3-torch; a pyenv/venv python3 on PATH may lack it.
# EB_PYTHON, when set, is the only interpreter tried.
PY=""
for cand in ${EB_PYTHON:-/usr/bin/python3 python3}; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import torch, numpy' >/dev/null 2>&1; then
        PY="$cand"
        break
    fi
done
if [ -z "$PY" ]; then
    echo "SKIPPED: python3-torch not installed (no python3 with torch and numpy)"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/eb-golden.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

SMALL=(--dim 32 --depth 2 --heads 4 --ffn 64 --len 24 --batch 4 --vocab 20 --classes 5)
failed=0
ran=0

# run_case NAME CHECK-OPTIONS EXPORT-OPTIONS... (the default export batch pads
# some sequences; --require-padding makes sure the masked paths are exercised)
run_case() {
    local name=$1 checkopt=$2
    shift 2
    local out="$TMP/$name.safetensors"
    ran=$((ran + 1))
    if ! "$EFFBENCH" export --arch vanilla --with-batch --out "$out" "$@" >"$TMP/$name.log" 2>&1; then
        echo "FAIL $name: effbench export $* failed:"
        sed 's/^/    /' "$TMP/$name.log"
        failed=$((failed + 1))
        return
    fi
    echo "== $name: effbench export --arch vanilla $*"
    if ! "$PY" "$CHECK" $checkopt "$out"; then
        echo "FAIL $name"
        failed=$((failed + 1))
    fi
}

run_case mean-seed1  --require-padding --seed 1 --pool mean "${SMALL[@]}"
run_case cls-seed2   --require-padding --seed 2 --pool cls  "${SMALL[@]}"
run_case mean-1head  ""                --seed 3 --pool mean --dim 24 --depth 1 --heads 1 --ffn 40 --len 17 --batch 3 --vocab 13 --classes 2
run_case cls-depth3  ""                --seed 4 --pool cls  --dim 48 --depth 3 --heads 6 --ffn 96 --len 33 --batch 5 --vocab 30 --classes 7
run_case mean-causal ""                --seed 5 --pool mean --param causal=true "${SMALL[@]}"
run_case cls-causal  ""                --seed 6 --pool cls  --param causal=true "${SMALL[@]}"
# the naive kernel (stores the probabilities) and long sequences that span
# several query and key blocks of the blockwise kernel (64 x 256)
run_case mean-naive  --require-padding --seed 7 --pool mean --param attention=naive "${SMALL[@]}"
run_case causal-naive ""               --seed 8 --pool cls  --param attention=naive --param causal=true "${SMALL[@]}"
run_case long-blocks --require-padding --seed 9 --pool mean --dim 16 --depth 1 --heads 2 --ffn 32 --len 300 --batch 2 --vocab 20 --classes 3
run_case long-causal ""                --seed 10 --pool cls --param causal=true --dim 16 --depth 1 --heads 2 --ffn 32 --len 300 --batch 2 --vocab 20 --classes 3

echo "golden_vanilla: $((ran - failed))/$ran cases ok"
[ "$failed" -eq 0 ] || exit 1
exit 0
