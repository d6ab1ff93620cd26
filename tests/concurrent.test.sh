#!/usr/bin/env bash
# ctest-labels: e2e
# Two `effbench run`s of one suite on one database at once (a second terminal,
# two array tasks sharing a file): both exit 0, each run is trained by exactly
# one of them (claims in results/store.c), evals stay unique per (run, step,
# split), no "database is locked", and the file passes integrity_check; the
# speed section's points are measured once each.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
q() { sqlite3 "$tmp/r.db" "$1"; }

cat >"$tmp/two.yaml" <<'YAML'
suite: two
seeds: [0, 1, 2]
model: {dim: 16, depth: 1, heads: 2, ffn: 24, dropout: 0.0}
train: {steps: 200, batch: 8, lr: 2e-3, warmup: 5, eval_every: 10, time_budget: 2m}
tasks:
  - majority: {len: 24, train: 512, val: 64, test: 64}
archs:
  - vanilla
sweep:
  vanilla.attention: [blockwise, naive]
YAML
# two_runs SUITE DB LOG1 LOG2: the suite run twice at once on one database;
# fails unless both exit 0
two_runs() {
  "$eb" run "$1" --db "$2" >"$3" 2>&1 &
  local pa=$!
  "$eb" run "$1" --db "$2" >"$4" 2>&1 &
  local pb=$! ra rb
  wait $pa
  ra=$?
  wait $pb
  rb=$?
  [[ $ra -eq 0 ]] || fail "$1: the first run exited $ra: $(cat "$3")"
  [[ $rb -eq 0 ]] || fail "$1: the second run exited $rb: $(cat "$4")"
}
nruns=6
two_runs "$tmp/two.yaml" "$tmp/r.db" "$tmp/a.log" "$tmp/b.log"
! grep -qi "locked" "$tmp/a.log" "$tmp/b.log" || fail "database is locked: $(grep -i locked "$tmp"/*.log)"
# each training prints its first eval ("label val step 10:"): once per run
# over both logs means each run was trained once
trained=$(cat "$tmp/a.log" "$tmp/b.log" | grep -oE '^\[[0-9]+/[0-9]+\] [^ ]+ val step 10:' |
  sed -E 's/^\[[0-9]+\/[0-9]+\] //; s/ val step 10:$//' | sort)
[[ $(wc -l <<<"$trained") -eq $nruns ]] ||
  fail "$(wc -l <<<"$trained") trainings for $nruns runs: $(uniq -c <<<"$trained")"
[[ -z $(uniq -d <<<"$trained") ]] || fail "trained twice: $(uniq -d <<<"$trained")"
[[ $(grep -c ': done, test accuracy' "$tmp/a.log" "$tmp/b.log" | awk -F: '{n += $2} END {print n}') -eq $nruns ]] ||
  fail "not one 'done' per run over both logs"
[[ $(q "select count(*) from runs where status='done'") -eq $nruns ]] ||
  fail "runs not all done: $(q "select run_key, status from runs")"
[[ $(q "select count(*) from (select 1 from evals group by run_id, step, split having count(*) > 1)") -eq 0 ]] ||
  fail "duplicate evals"
# 20 val evals (steps 10..200) and a test eval per run, none lost
[[ $(q "select count(*) from evals") -ge $((nruns * 20)) ]] || fail "evals missing: $(q "select count(*) from evals")"
[[ $(q "pragma integrity_check") == ok ]] || fail "integrity_check: $(q "pragma integrity_check")"
grep -q "left to another process" "$tmp/a.log" "$tmp/b.log" ||
  echo "note: the two processes did not overlap on a run this time"

# The speed section too: two processes on a new database (created by both at
# once) measure each speed point once (eb_store_speed_claim), and no claim is
# left behind.
cat >"$tmp/sp.yaml" <<'YAML'
suite: sp
model: {dim: 16, depth: 1, heads: 2, ffn: 24, dropout: 0.0}
archs: [vanilla, poolformer]
speed: {lengths: [64, 128], batch: 2, modes: [train, infer]}
YAML
two_runs "$tmp/sp.yaml" "$tmp/s.db" "$tmp/sa.log" "$tmp/sb.log"
sq() { sqlite3 "$tmp/s.db" "$1"; }
[[ $(sq "select count(*) from speed") -eq 8 && $(sq "select count(distinct arch || seq_len || mode) from speed") -eq 8 ]] ||
  fail "speed points measured other than once each: $(sq "select arch, seq_len, mode, count(*) from speed group by 1, 2, 3")"
[[ $(sq "select count(*) from speed_claims") -eq 0 ]] || fail "speed claims left: $(sq "select * from speed_claims")"
[[ $(sq "pragma integrity_check") == ok ]] || fail "speed db integrity_check: $(sq "pragma integrity_check")"
grep -q "measured in another process" "$tmp/sa.log" "$tmp/sb.log" ||
  echo "note: the two processes did not overlap on a speed point this time"
if ((fails)); then
  for l in a b sa sb; do echo "--- $l:"; cat "$tmp/$l.log"; done
  echo "concurrent: $fails check(s) failed" >&2
  exit 1
fi
echo "concurrent: ok"
