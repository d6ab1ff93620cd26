#!/usr/bin/env bash
# ctest-labels: e2e
# Divergence: a NaN or inf training loss, or a NaN or inf in the gradients
# while the loss is still finite, ends the run as `diverged` with the step in
# runs.error; the suite goes on with its next run and exits 0 (a result).
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# lr 10, constant, no clipping: mamba's exp(A_log) overflows within a few
# steps (a NaN loss); vanilla, after it, trains on
cat >"$tmp/d.yaml" <<'YAML'
suite: div
seeds: [0]
model: {dim: 16, depth: 1, heads: 2, ffn: 24, dropout: 0.0}
train: {steps: 60, batch: 8, lr: 10, warmup: 0, schedule: constant, eval_every: 10, clip: 0}
tasks:
  - majority: {len: 24, train: 256, val: 64, test: 64}
archs:
  - mamba
  - vanilla
YAML
out=$("$eb" run "$tmp/d.yaml" --db "$tmp/d.db" 2>&1)
rc=$?
[[ $rc -eq 0 ]] || fail "a diverged run made the suite exit $rc: $out"
st=$(sqlite3 "$tmp/d.db" "select status || '|' || steps_done || '|' || error from runs where arch='mamba'")
[[ $st =~ ^diverged\|([0-9]+)\|"training loss is "(nan|inf)" at step "([0-9]+)$ ]] ||
  fail "mamba at lr 10: $st"
[[ ${BASH_REMATCH[1]:-x} == "${BASH_REMATCH[3]:-y}" ]] || fail "steps_done and the step in the error differ: $st"
[[ $(sqlite3 "$tmp/d.db" "select status || '|' || steps_done from runs where arch='vanilla'") == "done|60" ]] ||
  fail "the suite did not go on after the diverged run: $(sqlite3 "$tmp/d.db" "select arch, status from runs")"
[[ $out == *"1 done now, 1 ended early"* ]] || fail "summary: $out"

# an inf gradient at step 3 (EFFBENCH_INJECT_INF_GRAD, a test hook) while the
# loss is finite: diverged at step 3, not a step later when the parameters
# turn NaN
cat >"$tmp/g.yaml" <<'YAML'
suite: grad
seeds: [0]
model: {dim: 16, depth: 1, heads: 2, ffn: 24, dropout: 0.0}
train: {steps: 20, batch: 8, lr: 2e-3, warmup: 2, eval_every: 2}
tasks:
  - majority: {len: 24, train: 256, val: 64, test: 64}
archs:
  - vanilla
YAML
out=$(EFFBENCH_INJECT_INF_GRAD=3 "$eb" run "$tmp/g.yaml" --db "$tmp/g.db" 2>&1)
rc=$?
[[ $rc -eq 0 ]] || fail "inf gradient: exit $rc: $out"
st=$(sqlite3 "$tmp/g.db" "select status || '|' || steps_done || '|' || error from runs")
[[ $st =~ ^diverged\|3\|"gradient norm is inf at step 3 (loss "[0-9.e+-]+")"$ ]] ||
  fail "inf gradient with a finite loss: $st"
# the best result so far is kept: validated at step 2, tested there
[[ $(sqlite3 "$tmp/g.db" "select best_step, test_accuracy is not null from runs") == "2|1" ]] ||
  fail "diverged run lost its best result: $(sqlite3 "$tmp/g.db" "select best_step, test_accuracy from runs")"
[[ $(sqlite3 "$tmp/g.db" "select count(*) from evals where split='test' and step=2") -eq 1 ]] ||
  fail "no test evaluation at the best step"

if ((fails)); then
  echo "diverge: $fails check(s) failed" >&2
  exit 1
fi
echo "diverge: ok"
