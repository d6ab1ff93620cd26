#!/usr/bin/env bash
# ctest-labels: e2e
# `effbench check`: every built-in arch passes it (with options that change
# the model: CLS pooling, dropout, a pair model, the LRA head and positions);
# tokenmlp test plugins broken on purpose fail it with exit 1 and name what is
# wrong (a wrong backward: the gradient rows; a flops() that is off: the flops
# row), one with a relu kink passes and reports the kink; bad input exits 2.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
build=${EB_BUILD:?EB_BUILD must point at the build tree}
fails=0
fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}
plugin() { echo "$build/test-plugins/eb_test_plugin_$1/eb_test_plugin_$1.so"; }

# every built-in arch; moe with a capacity that drops no token (its flops()
# is exact only then: with dropped tokens it is an upper bound)
archs=$("$eb" list archs | awk '/^[a-z]/ {print $1}')
[[ -n $archs ]] || fail "no archs listed"
for a in $archs; do
  extra=()
  [[ $a == moe ]] && extra=(--param capacity_factor=8)
  out=$("$eb" check --arch "$a" "${extra[@]}" 2>&1)
  rc=$?
  [[ $rc -eq 0 ]] || fail "check --arch $a: exit $rc: $out"
  for row in gradients flops "gemm flops" parameters determinism padding; do
    grep -qE "^$row +ok " <<<"$out" || fail "check --arch $a: no '$row ok' row: $out"
  done
done
# other model settings, on a few archs (cls pooling needs a whole-sequence
# view at position 0: mamba takes bidirectional=true)
for args in "--arch vanilla --pool cls --dropout 0.1 --seed 5" \
  "--arch linformer --pair --len 12" \
  "--arch performer --head mlp --positions sinusoidal --batch 3" \
  "--arch mamba --param bidirectional=true --pool cls" \
  "--arch wide --attention-dropout 0.2 --mlp-dropout 0.2 --depth 1"; do
  # shellcheck disable=SC2086
  out=$("$eb" check $args 2>&1) || fail "check $args: exit $?: $out"
done

# plugins: the good one passes (no flops(): those rows are skipped)
out=$("$eb" --plugin "$(plugin good)" check --arch tokenmlp 2>&1) ||
  fail "good plugin: exit $?: $out"
grep -qE "^flops +skipped +the arch has no flops" <<<"$out" || fail "good plugin: $out"

# a backward that passes dy where the forward doubled: exit 1, gradient rows
out=$("$eb" --plugin "$(plugin bad_backward)" check --arch tokenmlp 2>&1)
rc=$?
[[ $rc -eq 1 ]] || fail "wrong backward: exit $rc, want 1: $out"
grep -qE "^gradient embed\.pos +FAIL +\[[0-9]+\]: analytic" <<<"$out" ||
  fail "wrong backward: no failing row for embed.pos: $out"
grep -qE "^gradients +FAIL " <<<"$out" || fail "wrong backward: summary row: $out"
grep -qE "^flops +skipped" <<<"$out" || fail "wrong backward: flops row: $out"

# flops() counting the GEMMs only: exit 1 on the flops row, GEMM FLOPs exact
out=$("$eb" --plugin "$(plugin bad_flops)" check --arch tokenmlp 2>&1)
rc=$?
[[ $rc -eq 1 ]] || fail "wrong flops(): exit $rc, want 1: $out"
grep -qE "^flops +FAIL +B=4 N=16: forward counted" <<<"$out" || fail "flops row: $out"
grep -qE "^gemm flops +ok " <<<"$out" || fail "gemm flops row: $out"
grep -qE "^gradients +ok " <<<"$out" || fail "bad flops: gradients: $out"

# relu(kink) with kink = 0: on the kink, not a failure
out=$("$eb" --plugin "$(plugin kink)" check --arch tokenmlp 2>&1) ||
  fail "kink plugin: exit $?: $out"
grep -qE "^gradients +ok .*[0-9]+ on a kink \(non-smooth point\), e\.g\. blocks\.[01]\.kink\[" \
  <<<"$out" || fail "kink plugin: kinks not reported: $out"

# bad input: exit 2 with the reason
out=$("$eb" check --arch nosucharch 2>&1)
[[ $? -eq 2 && $out == *"nosucharch"*"--plugin"* ]] || fail "unknown arch: $out"
out=$("$eb" check --arch vanilla --dim 30 --heads 4 2>&1)
[[ $? -eq 2 && $out == *"arch 'vanilla'"* ]] || fail "heads not dividing dim: $out"
out=$("$eb" check --arch vanilla --samples 0 2>&1)
[[ $? -eq 2 && $out == *"--samples 0"* ]] || fail "--samples 0: $out"

[[ $fails -eq 0 ]] || exit 1
echo "check_cli: ok"
