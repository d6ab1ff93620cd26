#!/usr/bin/env bash
# ctest-labels: slow;stress
# kill -9 a suite run at 24 moments spread over startup (opening, migrating),
# training, evaluation and result writes, resuming each time: the database
# passes integrity_check after every kill, a run that was done before a kill
# is still done with the same finished_at and its evals (nothing lost, never
# trained again), every done run has its whole curve once (no duplicate, no
# partial evals), and a last resume finishes every run. Also run by .ci/run.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
q() { sqlite3 "$tmp/r.db" "$1"; }

cat >"$tmp/k.yaml" <<'YAML'
suite: kills
seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
model: {dim: 16, depth: 1, heads: 2, ffn: 24, dropout: 0.0}
train: {steps: 3000, batch: 8, lr: 2e-3, warmup: 5, eval_every: 150, time_budget: 2m}
tasks:
  - majority: {len: 24, train: 512, val: 64, test: 64}
archs:
  - vanilla
sweep:
  vanilla.attention: [blockwise, naive]
YAML
nruns=24
per_run=21 # val evals at steps 150..3000 and one test eval
# (long enough that 24 kills of at most 0.6 s each cannot finish the suite on
# an idle machine)
done_rows() { q "select run_key, finished_at, (select count(*) from evals where run_id=runs.id) from runs where status='done' order by run_key"; }

kills=0
for i in $(seq 0 23); do
  before=$(done_rows 2>/dev/null)
  # delays from 20 ms to 0.6 s: the short ones land in opening and
  # migrating, the others in training, evals and the commits of results
  d=$(awk -v i="$i" 'BEGIN { printf "%.3f", 0.02 + (i % 12) * 0.05 + int(i / 12) * 0.023 }')
  "$eb" run "$tmp/k.yaml" --db "$tmp/r.db" >"$tmp/run.log" 2>&1 &
  pid=$!
  sleep "$d"
  if kill -9 $pid 2>/dev/null; then kills=$((kills + 1)); fi
  wait $pid 2>/dev/null
  [[ -e "$tmp/r.db" ]] || continue
  ic=$(q "pragma integrity_check")
  [[ $ic == ok ]] || fail "kill $i (${d}s): integrity_check: $ic"
  after=$(done_rows)
  missing=$(comm -23 <(sort <<<"$before") <(sort <<<"$after") | grep -v '^$')
  [[ -z $missing ]] || fail "kill $i (${d}s): done runs lost or rerun: $missing"
  bad=$(q "select run_key from runs where status='done' and (select count(*) from evals where run_id=runs.id) != $per_run")
  [[ -z $bad ]] || fail "kill $i (${d}s): done runs with a partial curve: $bad"
  dup=$(q "select count(*) from (select 1 from evals group by run_id, step, split having count(*) > 1)")
  [[ $dup -eq 0 ]] || fail "kill $i (${d}s): $dup duplicate eval rows"
done
((kills >= 20)) || fail "only $kills of 24 runs were still alive to be killed (the suite is too quick)"
before=$(done_rows)
"$eb" run "$tmp/k.yaml" --db "$tmp/r.db" >"$tmp/last.log" 2>&1 || fail "the last resume failed: $(cat "$tmp/last.log")"
[[ $(q "select count(*) from runs where status='done'") -eq $nruns ]] ||
  fail "not every run done: $(q "select run_key, status from runs")"
[[ -z $(comm -23 <(sort <<<"$before") <(sort <<<"$(done_rows)") | grep -v '^$') ]] ||
  fail "the last resume reran done runs"
[[ $(q "select count(*) from evals") -eq $((nruns * per_run)) ]] ||
  fail "evals: $(q "select count(*) from evals"), expected $((nruns * per_run))"
[[ $(q "pragma integrity_check") == ok ]] || fail "final integrity_check"
echo "kill: $kills kills, $(wc -l <<<"$before") runs done before the last resume"
if ((fails)); then
  echo "kill: $fails check(s) failed" >&2
  exit 1
fi
echo "kill: ok"
