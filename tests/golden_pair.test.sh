#!/usr/bin/env bash
# ctest-labels: golden
# Golden cross-check of the pair (two-tower) model of the Retrieval task
# (model/model.c: one shared encoder reads both sequences; pooled a, b enter
# ReLU(head.pair.w [a, b, a*b, a-b] + head.pair.b), then head.w) against the
# independent PyTorch float64 reference (tests/golden/torch_models.py, which
# encodes the two towers separately). The test helper eb_golden_export_pair
# writes parameters, a batch of two padded towers, logits, loss and every
# gradient; check_export.py recomputes them in torch and compares (logits/loss
# rel. err <= 1e-4, grads <= 1e-3; each tensor judged per slice - sequence,
# head, position, feature block, row - against its own scale).
# Env: EFFBENCH (binary), EB_SRC (source dir), EB_BUILD (build dir). Exit 77 = skipped.
set -u
: "${EB_SRC:?EB_SRC must point to the source directory}"
: "${EB_BUILD:?EB_BUILD must point to the build directory}"
. "$EB_SRC/tests/golden/common.sh"
EXPORT_PAIR="$EB_BUILD/eb_golden_export_pair"
if [ ! -x "$EXPORT_PAIR" ]; then
    echo "FAIL: $EXPORT_PAIR not built"
    exit 1
fi

# pair_case NAME ARCH SEED POOL DIM DEPTH HEADS FFN LEN BATCH VOCAB CLASSES [key=value ...]
pair_case() {
    local name=$1
    shift
    local out="$TMP/$name.safetensors"
    ran=$((ran + 1))
    if ! "$EXPORT_PAIR" "$out" "$@" >"$TMP/$name.log" 2>&1; then
        echo "FAIL $name: eb_golden_export_pair $* failed:"
        sed 's/^/    /' "$TMP/$name.log"
        failed=$((failed + 1))
        return
    fi
    echo "== $name: eb_golden_export_pair $*"
    if ! "$PY" "$CHECK" --require-padding "$out"; then
        echo "FAIL $name"
        failed=$((failed + 1))
    fi
}

pair_case vanilla-mean  vanilla   1 mean 32 2 4 64 24 4 20 5
pair_case vanilla-cls   vanilla   2 cls  32 2 4 64 24 4 20 3
pair_case performer     performer 3 mean 16 1 2 32 20 3 20 2 features=16
pair_case mamba-bi      mamba     4 mean 16 1 2 24 17 3 13 2 bidirectional=true
pair_case moe           moe       5 mean 16 2 2 24 20 3 13 2 experts=4

golden_done golden_pair
