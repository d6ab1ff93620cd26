#!/usr/bin/env bash
# ctest-labels: golden
# Golden cross-check of linformer, performer and wide against the independent
# PyTorch float64 reference (tests/golden/torch_models.py): `effbench export
# --with-batch` writes parameters (and Performer's random features, a buffer),
# a batch, logits, loss and every gradient; check_export.py recomputes them in
# torch and compares (logits/loss rel. err <= 1e-4, grads <= 1e-3). Every
# Linformer sharing mode and both Performer kernels.
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

# run_case NAME ARCH CHECK-OPTIONS EXPORT-OPTIONS... (the default export batch
# pads some sequences; --require-padding makes sure the masked paths run)
run_case() {
    local name=$1 arch=$2 checkopt=$3
    shift 3
    local out="$TMP/$name.safetensors"
    ran=$((ran + 1))
    if ! "$EFFBENCH" export --arch "$arch" --with-batch --out "$out" "$@" >"$TMP/$name.log" 2>&1; then
        echo "FAIL $name: effbench export --arch $arch $* failed:"
        sed 's/^/    /' "$TMP/$name.log"
        failed=$((failed + 1))
        return
    fi
    echo "== $name: effbench export --arch $arch $*"
    if ! "$PY" "$CHECK" $checkopt "$out"; then
        echo "FAIL $name"
        failed=$((failed + 1))
    fi
}

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
run_case wide-16       wide      --require-padding --seed 11 --pool mean "${SMALL[@]}"
run_case wide-cls      wide      --require-padding --seed 12 --pool cls --param heads=8 --param attention=naive "${SMALL[@]}"
run_case wide-long     wide      ""                --seed 13 --pool mean --param heads=4 --dim 16 --depth 3 --heads 2 --ffn 32 --len 300 --batch 2 --vocab 20 --classes 3

echo "golden_archs: $((ran - failed))/$ran cases ok"
[ "$failed" -eq 0 ] || exit 1
exit 0
