#!/usr/bin/env bash
# ctest-labels: e2e
# Resource exhaustion: parameters too large for the memory limit end the run
# as `oom` with the size asked (the suite exits 0: oom is a result); past a
# file-size limit `run` says what happened (no silent death by SIGXFSZ), exits
# 1 and loses no committed row.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# --- 1.6e9 parameters (26 GB with gradients and moments) under a 4 GB address space
cat >"$tmp/big.yaml" <<'YAML'
suite: big
seeds: [0]
model: {dim: 4096, depth: 8, heads: 8, ffn: 16384, dropout: 0.0}
train: {steps: 2, batch: 1, lr: 2e-3, warmup: 1, eval_every: 1, time_budget: 1m}
tasks:
  - majority: {len: 8, train: 16, val: 8, test: 8}
archs:
  - vanilla
YAML
out=$(ulimit -v 4000000 && "$eb" run "$tmp/big.yaml" --db "$tmp/big.db" 2>&1)
rc=$?
[[ $rc -eq 0 ]] || fail "oom suite exited $rc (oom is a result, not a failure): $out"
st=$(sqlite3 "$tmp/big.db" "select status || '|' || error from runs")
[[ $st == oom\|*"out of memory allocating 1611161604 parameters (25778585856 bytes asked"* ]] ||
  fail "status and error: $st"
[[ $out == *"1 ended early"* ]] || fail "summary: $out"

# --- file-size limit: a first suite stored, then a second one under an 8 KiB
# limit, which the database's 32 KiB shared-memory file already passes: without
# SIGXFSZ ignored the process dies by the signal (exit 153) without a word
cat >"$tmp/small.yaml" <<'YAML'
suite: small
seeds: [0, 1]
model: {dim: 16, depth: 1, heads: 2, ffn: 24, dropout: 0.0}
train: {steps: 20, batch: 8, lr: 2e-3, warmup: 5, eval_every: 10, time_budget: 1m}
tasks:
  - majority: {len: 24, train: 256, val: 64, test: 64}
archs:
  - vanilla
YAML
"$eb" run "$tmp/small.yaml" --db "$tmp/f.db" --only '*seed=0*' >/dev/null 2>&1 || fail "first run failed"
sqlite3 "$tmp/f.db" "pragma wal_checkpoint(truncate)" >/dev/null
before=$(sqlite3 "$tmp/f.db" "select run_key, status, finished_at from runs; select count(*) from evals")
out=$(ulimit -f 8 && "$eb" run "$tmp/small.yaml" --db "$tmp/f.db" 2>&1)
rc=$?
[[ $rc -eq 1 ]] || fail "past the file-size limit: exit $rc, expected 1: $out"
[[ $out == *"f.db: I/O error while "* ]] ||
  fail "past the file-size limit, no message naming the file: $out"
after=$(sqlite3 "$tmp/f.db" "select run_key, status, finished_at from runs; select count(*) from evals")
[[ $before == "$after" ]] || fail "committed rows changed: before $before, after $after"
[[ $(sqlite3 "$tmp/f.db" "pragma integrity_check") == ok ]] || fail "integrity_check"
if ((fails)); then
  echo "resources: $fails check(s) failed" >&2
  exit 1
fi
echo "resources: ok"
