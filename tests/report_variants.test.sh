#!/usr/bin/env bash
# ctest-labels: e2e
# Sweep variants in the accuracy table (issue 19): a suite sweeping train.lr
# for every run and vanilla.attention for vanilla's runs, two seeds. Every
# variant is a row of its own labelled with the values that set it apart
# (arch parameters by name, other keys by their path in config_json), with the
# seeds of that variant only (n=2), never pooled, and the caption's pooling
# warning gone; an arch with one configuration keeps its plain name; the fit
# table still pools an arch's runs (its budgets); CSV and JSON carry the same
# labels; the database is left as it was (temporary objects only).
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
cat >"$tmp/s.yaml" <<'YAML'
suite: variants
seeds: [0, 1]
model: {dim: 16, depth: 1, heads: 2, ffn: 24, dropout: 0.0}
train: {steps: 12, batch: 8, lr: 2e-3, warmup: 2, eval_every: 6, time_budget: 2m}
tasks:
  - majority: {len: 16, train: 256, val: 64, test: 64}
archs:
  - vanilla
  - poolformer
sweep:
  train.lr: [1e-3, 3e-3]
  vanilla.attention: [blockwise, naive]
YAML
db="$tmp/r.db"
"$eb" run "$tmp/s.yaml" --db "$db" --threads 1 --text >"$tmp/run.log" 2>&1 ||
  fail "run: $(cat "$tmp/run.log")"
[[ $(sqlite3 "$db" "select count(*) from runs where status='done'") -eq 12 ]] ||
  fail "expected 12 done runs: $(sqlite3 "$db" "select arch, status from runs")"
md=$("$eb" report --db "$db" --table accuracy) || fail "report: $md"
rows=$(grep -E '^\| (vanilla|poolformer)' <<<"$md" | cut -d'|' -f2 | sed 's/^ //; s/ $//' | sort)
want=$(printf '%s\n' \
  "poolformer [train.lr=0.001]" "poolformer [train.lr=0.003]" \
  "vanilla [attention=blockwise, train.lr=0.001]" "vanilla [attention=blockwise, train.lr=0.003]" \
  "vanilla [attention=naive, train.lr=0.001]" "vanilla [attention=naive, train.lr=0.003]" | sort)
[[ "$rows" == "$want" ]] || fail "variant rows: got [$rows], want [$want]"
[[ $(grep -cE '^\| (vanilla|poolformer).*\(n=2\)' <<<"$md") -eq 6 ]] ||
  fail "each variant should hold its 2 seeds: $md"
! grep -q "pool several runs" <<<"$md" || fail "pooling warning with variants as rows: $md"
csv=$("$eb" report --db "$db" --table accuracy --format csv)
grep -q '^accuracy,variants,"\?vanilla \[attention=naive, train.lr=0.003\]"\?,majority,' <<<"$csv" ||
  fail "CSV label: $csv"
"$eb" report --db "$db" --table accuracy --json >"$tmp/a.json" || fail "report --json"
python3 - "$tmp/a.json" <<'PY' || fail "JSON labels"
import json, sys
rows = [r for r in json.load(open(sys.argv[1])) if r["table"] == "accuracy" and r["task"] == "majority"
        and r["metric"] == "test_accuracy"]
assert len(rows) == 6 and all(r["n"] == 2 for r in rows), rows
PY
# an arch with one configuration keeps its name: only the seed differs
sqlite3 "$db" "delete from runs where arch='vanilla' or config_json like '%0.003%'"
md2=$("$eb" report --db "$db" --table accuracy) || fail "report after delete: $md2"
grep -q '^| poolformer | .*(n=2)' <<<"$md2" || fail "a single configuration got a label: $md2"
# the fit table pools the arch's runs (it is not split by variant)
fit=$("$eb" report --db "$db" --table fit --format csv --bootstrap 0 2>&1)
! grep -q '\[' <<<"$fit" || fail "fit rows labelled as variants: $fit"
[[ $(sqlite3 "$db" "select count(*) from sqlite_master where name like '%variant%' or type='view'") -eq 0 ]] ||
  fail "report left objects in the database"
# a task parameter swept: rows of that task's column only, labelled TASK.PARAM;
# the other task of the suite keeps one row per arch
cat >"$tmp/t.yaml" <<'YAML'
suite: taskvariants
seeds: [0]
model: {dim: 16, depth: 1, heads: 2, ffn: 24, dropout: 0.0}
train: {steps: 6, batch: 8, lr: 2e-3, warmup: 2, eval_every: 3, time_budget: 2m}
tasks:
  - majority: {len: 16, train: 128, val: 32, test: 32}
  - mqar: {train: 128, val: 32, test: 32}
archs: [vanilla]
sweep:
  mqar.len: [32, 48]
YAML
"$eb" run "$tmp/t.yaml" --db "$tmp/t.db" --threads 1 --text >"$tmp/run2.log" 2>&1 ||
  fail "run: $(cat "$tmp/run2.log")"
md3=$("$eb" report --db "$tmp/t.db" --table accuracy) || fail "report: $md3"
for l in 32 48; do # columns: majority, mqar, Avg
  grep -qE "^\\| vanilla \\[mqar.len=$l\\] \\|  \\| \\**[0-9.]+" <<<"$md3" ||
    fail "mqar.len=$l row: $md3"
done
grep -qE '^\| vanilla \| \**[0-9.]+[^|]* \|  \|' <<<"$md3" ||
  fail "majority column's own row: $md3"
! grep -q "pool several runs" <<<"$md3" || fail "pooling warning: $md3"
# plot --kind sweep: accuracy against mqar.len, one line per arch, the
# majority-class rate as its own block; a task without a sweep gets no figure
if command -v gnuplot >/dev/null; then
  "$eb" plot --db "$tmp/t.db" --kind sweep --out "$tmp/fig" >"$tmp/plot.log" 2>&1 ||
    fail "plot --kind sweep: $(cat "$tmp/plot.log")"
  dat="$tmp/fig/sweep-mqar.dat"
  [[ -s "$tmp/fig/sweep-mqar.png" && -s "$dat" ]] || fail "no sweep-mqar figure: $(ls "$tmp/fig")"
  [[ ! -e "$tmp/fig/sweep-majority.dat" ]] || fail "a figure for the task without a sweep"
  got=$(awk '/^# vanilla$/ {on = 1; next} /^$/ {on = 0} on {print $1, $5}' "$dat" | tr '\n' ' ')
  [[ "$got" == "32 1 48 1 " ]] || fail "vanilla's points (len, n): [$got] in $(cat "$dat")"
  grep -q '^# majority class$' "$dat" || fail "no majority-class block: $(cat "$dat")"
  ! "$eb" plot --db "$db" --kind sweep --out "$tmp/fig2" >"$tmp/plot2.log" 2>&1 ||
    fail "a suite without a task-parameter sweep drew a sweep figure"
  grep -q 'no numeric task parameter differs' "$tmp/plot2.log" ||
    fail "why nothing was drawn: $(cat "$tmp/plot2.log")"
fi
if ((fails)); then
  echo "report_variants: $fails check(s) failed" >&2
  exit 1
fi
echo "report_variants: ok"
