#!/usr/bin/env bash
# ctest-labels: e2e
# Scaling fits end to end: a database made by a real `effbench bench --db`,
# then given runs by SQL whose test loss and error follow y = a C^-b + c with
# known a, b, c (C = model_flops_train_step x steps_done, 6 budgets, 3 seeds
# with noise of ±0.004). `report --table fit` must recover b and c in every
# format, with bootstrap intervals around them, identically twice; an arch at
# 3 budgets and a task with one seed say why instead of a number; `plot --kind
# fit` writes its image, data and script (skipped without gnuplot).
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
db="$tmp/fit.db"

"$eb" bench --arch vanilla --dim 16 --depth 1 --heads 2 --ffn 32 --len 16 --batch 2 \
  --min-time 0.05 --min-reps 3 --no-peak --db "$db" >"$tmp/bench" 2>&1 ||
  fail "bench --db: $(cat "$tmp/bench")"

# arch a b c (loss), budgets, seeds; error = ea C^-eb + ec
awk 'BEGIN {
  print "insert into suites(name, created_at) values(\"scal\", \"2025-01-01T00:00:00Z\");"
  n = split("100 300 1000 3000 10000 30000", steps, " ")
  id = 0
  # arch, a, b, c, number of budgets, seeds, task
  spec[1] = "vanilla 40 0.15 0.9 6 3 listops"
  spec[2] = "mamba 60 0.2 0.7 6 3 listops"
  spec[3] = "poolformer 40 0.15 0.9 3 3 listops"
  spec[4] = "vanilla 40 0.15 0.9 6 1 text"
  for (s = 1; s <= 4; s++) {
    split(spec[s], f, " ")
    for (k = 1; k <= f[5]; k++) for (seed = 0; seed < f[6]; seed++) {
      id++
      C = 1e9 * steps[k]
      noise = 0.004 * sin(1.3 * seed + 2.1 * k) # differs per seed and budget
      loss = f[2] * C ^ (-f[3]) + f[4] + noise
      err = 5 * C ^ (-0.1) + 0.2 + noise / 2
      printf "insert into runs(id, suite_id, run_key, arch, task, seed, status, " \
             "model_flops_train_step, steps_done, test_accuracy) values(%d, " \
             "(select id from suites where name=\"scal\"), \"k%d\", \"%s\", \"%s\", %d, " \
             "\"done\", 1e9, %d, %.9f);\n", id, id, f[1], f[7], seed, steps[k], 1 - err
      printf "insert into evals(run_id, step, split, loss, accuracy) values(%d, %d, " \
             "\"test\", %.9f, %.9f);\n", id, steps[k], loss, 1 - err
    }
  }
  # a run stored before model FLOPs were recorded: left out and counted
  id++
  printf "insert into runs(id, suite_id, run_key, arch, task, seed, status, steps_done, " \
         "test_accuracy) values(%d, (select id from suites where name=\"scal\"), \"k%d\", " \
         "\"mamba\", \"listops\", 0, \"done\", 100, 0.5);\n", id, id
}' >"$tmp/rows.sql"
sqlite3 "$db" <"$tmp/rows.sql" || fail "inserting rows"

# --- the table: CSV numbers against the truth
"$eb" report --db "$db" --suite scal --table fit --format csv >"$tmp/fit.csv" 2>"$tmp/err" ||
  fail "report --table fit csv: $(cat "$tmp/err")"
val() { # arch task metric -> value
  awk -F, -v a="$1" -v t="$2" -v m="$3" '$1 == "fit" && $3 == a && $4 == t && $7 == m { print $8 }' "$tmp/fit.csv"
}
near() { awk -v x="$1" -v w="$2" -v tol="$3" 'BEGIN { exit !(x != "" && (x - w < tol && w - x < tol)) }'; }
inside() { awk -v lo="$1" -v x="$2" -v hi="$3" 'BEGIN { exit !(lo != "" && hi != "" && lo + 0 <= x + 0 && x + 0 <= hi + 0 && lo + 0 < hi + 0) }'; }
b=$(val vanilla listops loss_b)
near "$b" 0.15 0.02 || fail "vanilla listops b = '$b', want 0.15 ± 0.02: $(cat "$tmp/fit.csv")"
near "$(val vanilla listops loss_c)" 0.9 0.05 || fail "vanilla listops c = $(val vanilla listops loss_c), want 0.9"
near "$(val mamba listops loss_b)" 0.2 0.03 || fail "mamba b = $(val mamba listops loss_b), want 0.2"
inside "$(val vanilla listops loss_b_lo)" "$b" "$(val vanilla listops loss_b_hi)" ||
  fail "b $b not inside its interval [$(val vanilla listops loss_b_lo), $(val vanilla listops loss_b_hi)]"
grep -q '^fit,scal,poolformer,listops,,,loss_fit,.*no fit: 3 distinct compute budgets (at least 4 needed)' "$tmp/fit.csv" ||
  fail "poolformer at 3 budgets not refused: $(grep poolformer "$tmp/fit.csv")"
grep -q '^fit,scal,poolformer,listops,,,loss_b,' "$tmp/fit.csv" && fail "a number for poolformer's b"
grep -q '^fit,scal,vanilla,text,,,loss_b_lo,,,6,6,one seed' "$tmp/fit.csv" ||
  fail "one seed gives an interval: $(grep text "$tmp/fit.csv")"
grep -q '^fit,scal,mamba,listops,,,loss_b,[0-9.e-]*,,18,19,ok' "$tmp/fit.csv" ||
  fail "mamba: 18 points of 19 runs (one left out) expected: $(grep mamba "$tmp/fit.csv" | head -2)"

# --- the error metric
"$eb" report --db "$db" --suite scal --table fit --format csv --metric error >"$tmp/err.csv" 2>&1 ||
  fail "--metric error: $(cat "$tmp/err.csv")"
e=$(awk -F, '$3 == "vanilla" && $4 == "listops" && $7 == "error_b" { print $8 }' "$tmp/err.csv")
near "$e" 0.1 0.02 || fail "error-rate b = '$e', want 0.1: $(cat "$tmp/err.csv")"

# --- Markdown and LaTeX; the same output twice (seeded bootstrap)
"$eb" report --db "$db" --suite scal --table fit >"$tmp/fit.md" 2>&1 || fail "md: $(cat "$tmp/fit.md")"
"$eb" report --db "$db" --suite scal --table fit >"$tmp/fit2.md" 2>&1
cmp -s "$tmp/fit.md" "$tmp/fit2.md" || fail "two reports differ: $(diff "$tmp/fit.md" "$tmp/fit2.md")"
grep -qE '^\| vanilla \| listops \| [0-9.e+]+ \[[0-9.e+]+, [0-9.e+]+\] \| 0\.1[0-9]* \[' "$tmp/fit.md" ||
  fail "md row of vanilla: $(cat "$tmp/fit.md")"
grep -q '| poolformer | listops | no fit: 3 distinct compute budgets (at least 4 needed) | — |' "$tmp/fit.md" ||
  fail "md row of poolformer: $(grep poolformer "$tmp/fit.md")"
grep -q '200/200 resamples\|/200 resamples' "$tmp/fit.md" || fail "no resample count: $(cat "$tmp/fit.md")"
grep -q 'none: one seed' "$tmp/fit.md" || fail "one-seed row: $(grep text "$tmp/fit.md")"
grep -q '18 (+1 left out)' "$tmp/fit.md" || fail "left-out run not counted: $(grep mamba "$tmp/fit.md")"
"$eb" report --db "$db" --suite scal --table fit --format latex >"$tmp/fit.tex" 2>&1 || fail "latex"
grep -q 'begin{tabular}' "$tmp/fit.tex" && grep -q 'Scaling fits' "$tmp/fit.tex" ||
  fail "latex: $(cat "$tmp/fit.tex")"
out=$("$eb" report --db "$db" --suite scal --table fit --bootstrap 0 2>&1)
[[ "$out" == *"none (0 resamples)"* && "$out" == *"no intervals"* ]] || fail "--bootstrap 0: $out"
grep -qE "^\| vanilla \| listops \| [0-9.]+ \| 0\.1[0-9]* \| [0-9.]+ \| " <<<"$out" || fail "--bootstrap 0 row: $out"
# `all` includes the fit table where there is something to fit, and only there
"$eb" report --db "$db" --suite scal >"$tmp/all.md" 2>&1 || fail "all: $(cat "$tmp/all.md")"
grep -q 'Scaling fits' "$tmp/all.md" || fail "--table all lacks the fits"
out=$("$eb" report --db "$db" --suite bench 2>&1) || fail "all on bench: $out"
[[ "$out" != *"Scaling fits"* ]] || fail "--table all shows fits without budgets: $out"
out=$("$eb" report --db "$db" --suite scal --table fit --metric accuracy 2>&1)
[[ $? -eq 2 && "$out" == *"--metric accuracy: expected loss or error"* ]] || fail "bad metric: $out"

# --- the figure
if command -v gnuplot >/dev/null 2>&1; then
  for m in loss error; do
    out=$("$eb" plot --db "$db" --suite scal --kind fit --metric $m --format svg --out "$tmp/fig-$m" 2>&1) ||
      fail "plot --kind fit --metric $m: $out"
    [[ -s "$tmp/fig-$m/fit-listops.svg" && -s "$tmp/fig-$m/fit-listops.dat" && -s "$tmp/fig-$m/fit-text.svg" ]] ||
      fail "fit figures missing ($m): $(ls "$tmp/fig-$m" 2>&1)"
    grep -q 'set logscale xy' "$tmp/fig-$m/fit-listops.gp" || fail "fit figure not log-log"
    grep -q '"poolformer (no fit)"' "$tmp/fig-$m/fit-listops.gp" || fail "poolformer not marked unfitted"
    grep -q '# vanilla: fit a=' "$tmp/fig-$m/fit-listops.dat" || fail "no fitted curve in the data"
  done
  (cd "$tmp/fig-loss" && gnuplot fit-listops.gp) || fail "the script does not regenerate the image"
  # only poolformer-like cells: nothing to draw, exit 2 with the reason
  sqlite3 "$db" "delete from runs where suite_id=(select id from suites where name='scal') and arch != 'poolformer'"
  out=$("$eb" plot --db "$db" --suite scal --kind fit --out "$tmp/none" 2>&1)
  [[ $? -eq 2 && "$out" == *"3 distinct compute budgets"* ]] || fail "nothing to fit: $out"
else
  echo "fit: gnuplot not installed, figure checks skipped"
fi

if [[ $fails -ne 0 ]]; then
  echo "fit: $fails check(s) failed" >&2
  exit 1
fi
echo "fit: ok"
