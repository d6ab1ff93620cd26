#!/usr/bin/env bash
# ctest-labels: golden
# The golden checker checks itself: `check_export.py --self-test` builds exports
# from the torch reference (which must agree with a plain numpy transcription of
# the model), and checks that clean ones pass and broken ones fail: a perturbed
# gradient or logits, a missing or unknown tensor, and errors confined to one
# head or one padded position that the whole-tensor judgement would let pass.
# Env: EFFBENCH (binary), EB_SRC (source dir). Exit 77 = skipped.
set -u
: "${EB_SRC:?EB_SRC must point to the source directory}"
. "$EB_SRC/tests/golden/common.sh"

if ! "$PY" "$CHECK" --self-test; then
    echo "golden_checker: check_export.py --self-test FAILED"
    exit 1
fi
echo "golden_checker: ok"
