#!/usr/bin/env bash
# ctest-labels: unit
# An allocation failure injected at every counted allocation of a small run
# (EFFBENCH_FAIL_ALLOC=N, N = 1, 2, ... until the run no longer meets one)
# ends the run as `oom` with the size asked and the suite exits 0. Labelled
# unit so that CI's ASan+UBSan stage runs it with leak detection: every
# failure path must also free what it took.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
command -v sqlite3 >/dev/null || { echo "alloc_fail: sqlite3 CLI missing (skipped)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

cat >"$tmp/m.yaml" <<'YAML'
suite: mem
seeds: [0]
model: {dim: 16, depth: 1, heads: 2, ffn: 24, dropout: 0.0}
train: {steps: 6, batch: 8, lr: 2e-3, warmup: 2, eval_every: 3, max_memory: 1GiB}
tasks:
  - majority: {len: 24, train: 64, val: 16, test: 16}
archs:
  - vanilla
YAML
sites=0 st=
for n in $(seq 1 200); do
  rm -f "$tmp/f.db"*
  out=$(EFFBENCH_FAIL_ALLOC=$n "$eb" run "$tmp/m.yaml" --db "$tmp/f.db" 2>&1 >/dev/null)
  rc=$?
  [[ $rc -eq 0 ]] || { fail "EFFBENCH_FAIL_ALLOC=$n: exit $rc: $out"; break; }
  st=$(sqlite3 "$tmp/f.db" "select status || '|' || coalesce(error, '') from runs")
  [[ $st == "done|" ]] && break
  [[ $st =~ ^oom\|.*"out of memory".*[0-9]+" "(bytes|parameters) ]] ||
    fail "EFFBENCH_FAIL_ALLOC=$n: $st"
  sites=$((sites + 1))
done
[[ $st == "done|" ]] || fail "EFFBENCH_FAIL_ALLOC: no run without a failure up to N=200"
((sites >= 6)) || fail "EFFBENCH_FAIL_ALLOC reached only $sites allocations"
echo "alloc_fail: $sites injected allocation failures, each oom"

if ((fails)); then
  echo "alloc_fail: $fails check(s) failed" >&2
  exit 1
fi
echo "alloc_fail: ok"
