#!/usr/bin/env bash
# ctest-labels: e2e
# Suites end to end: strict validation (the bad corpus), a tiny suite into a
# database, resume, --fresh, --only, --shard, retry of runs left `running`,
# and reports from the database.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
q() { sqlite3 "$tmp/r.db" "$1"; }

# --- every file of the bad corpus: exit 2, file:line:col and message, nothing written
for f in "$src"/tests/suites/bad/*.yaml; do
  want=$(head -n 1 "$f" | sed 's/^# expect: //')
  out=$("$eb" run "$f" --db "$tmp/bad.db" 2>&1)
  rc=$?
  [[ $rc -eq 2 ]] || fail "$(basename "$f"): exit $rc, expected 2: $out"
  grep -qE -- "^effbench run: $f:$want" <<<"$out" ||
    fail "$(basename "$f"): message does not match '$f:$want': $out"
  [[ ! -e "$tmp/bad.db" ]] || { fail "$(basename "$f"): a database was written"; rm -f "$tmp/bad.db"; }
done
# --- hostile YAML fails at once (bounds of harness/yamltree.c): nested aliases
# (in the bad corpus above), 100,000 nested '[', more than 1 MiB, an endless file
{ printf 'suite: deep\nx: '; head -c 100000 /dev/zero | tr '\0' '['; } >"$tmp/deep.yaml"
{ printf 'suite: big\n'; yes '# padding padding padding padding' | head -c 2000000; } >"$tmp/big.yaml"
for c in "$src/tests/suites/bad/aliases.yaml|expands to more than" \
  "$tmp/deep.yaml|nesting too deep" "$tmp/big.yaml|larger than" "/dev/zero|larger than"; do
  f=${c%%|*} want=${c#*|}
  t0=$(date +%s%N)
  out=$(timeout 30 "$eb" run "$f" --db "$tmp/bad.db" 2>&1)
  rc=$? ms=$((($(date +%s%N) - t0) / 1000000))
  [[ $rc -eq 2 && "$out" == *"$want"* ]] || fail "$f: exit $rc, expected 2 and '$want': $out"
  ((ms < 5000)) || fail "$f: took $ms ms to refuse (bound: 5000)"
  [[ ! -e "$tmp/bad.db" ]] || { fail "$f: a database was written"; rm -f "$tmp/bad.db"; }
done
# --- pool: cls with the fixes the refusals name: bidirectional mamba, causal
# false, and an override giving poolformer pool: mean
cat >"$tmp/cls.yaml" <<'EOF'
suite: cls
model: {pool: cls}
tasks: [majority]
archs:
  - mamba: {bidirectional: true}
  - vanilla: {causal: false}
  - poolformer
overrides:
  - match: {arch: poolformer}
    model: {pool: mean}
EOF
out=$("$eb" run "$tmp/cls.yaml" --dry-run 2>&1) || fail "pool: cls with its fixes refused: $out"
out=$("$eb" run "$tmp/nonexistent.yaml" 2>&1)
[[ $? -eq 2 && "$out" == *"nonexistent.yaml: cannot read"* ]] || fail "missing suite: $out"

suite="$src/tests/suites/tiny.yaml"
# --- train.decay_embeddings: true is the default (same run keys as without
# the key), false is a different config (other keys)
"$eb" run "$suite" --dry-run >"$tmp/dk0" 2>&1 || fail "dry run failed: $(cat "$tmp/dk0")"
for v in true false; do
  sed "s/^train: {/train: {decay_embeddings: $v, /" "$suite" >"$tmp/decay-$v.yaml"
  "$eb" run "$tmp/decay-$v.yaml" --dry-run >"$tmp/dk-$v" 2>&1 ||
    fail "decay_embeddings: $v refused: $(cat "$tmp/dk-$v")"
done
cmp -s <(grep -oE '^[0-9a-f]{32}' "$tmp/dk0") <(grep -oE '^[0-9a-f]{32}' "$tmp/dk-true") ||
  fail "decay_embeddings: true changed the run keys"
[[ -z $(comm -12 <(grep -oE '^[0-9a-f]{32}' "$tmp/dk0" | sort) \
  <(grep -oE '^[0-9a-f]{32}' "$tmp/dk-false" | sort)) ]] ||
  fail "decay_embeddings: false kept a run key of the default"
# --- dry run: the grid with stable keys
# (on stdout: the grid is the output, `> grid.txt` keeps it)
# a task parameter out of range passes the schema but not the task: dry run says
# which run cannot run and exits 2, writing nothing
printf 'suite: oor\ntasks:\n  - majority: {classes: 300}\narchs: [vanilla]\n' >"$tmp/oor.yaml"
out=$("$eb" run "$tmp/oor.yaml" --db "$tmp/oor.db" --dry-run 2>&1)
[[ $? -eq 2 && "$out" == *"cannot run: task 'majority'"*"classes 300"* ]] ||
  fail "dry run with an out-of-range task parameter: $out"
[[ ! -e "$tmp/oor.db" ]] || fail "dry run wrote a database"
# (a given peak: the estimated times would follow a measured one's noise)
"$eb" run "$suite" --dry-run --peak-gflops 100 >"$tmp/dry1" 2>"$tmp/dry.err" || fail "dry run failed: $(cat "$tmp/dry.err")"
"$eb" run "$suite" --dry-run --peak-gflops 100 >"$tmp/dry2" 2>/dev/null
cmp -s "$tmp/dry1" "$tmp/dry2" || fail "run keys differ between two dry runs"
[[ $(grep -cE '^[0-9a-f]{32}  vanilla/majority/seed=' "$tmp/dry1") -eq 4 ]] ||
  fail "dry run does not list 4 keyed runs: $(cat "$tmp/dry1")"
grep -q "FLOP/step" "$tmp/dry1" || fail "dry run shows no FLOP estimate"
[[ ! -e "$tmp/r.db" ]] || fail "dry run wrote a database"

# --- the suite: 2 seeds x 2 attention kernels, plus 2 lengths x 2 modes of speed
"$eb" run "$suite" --db "$tmp/r.db" >"$tmp/run1" 2>&1 || fail "run failed: $(cat "$tmp/run1")"
[[ $(q "select count(*) from runs where status='done'") -eq 4 ]] ||
  fail "expected 4 done runs: $(q 'select run_key,status,error from runs')"
[[ $(q "select count(*) from runs where test_accuracy > 0.4") -eq 4 ]] ||
  fail "accuracies: $(q 'select test_accuracy from runs')"
[[ $(q "select count(distinct run_id) from evals where split='val'") -eq 4 ]] ||
  fail "training curves missing"
[[ $(q "select count(*) from speed where status='done'") -eq 4 ]] ||
  fail "expected 4 speed rows: $(q 'select * from speed')"
# the suite's speed rows and runs say which GEMM backend ran them (one row writer)
[[ $(q "select count(*) from speed where json_extract(config_json, '\$.gemm_backend')
        in ('onednn','openblas')") -eq 4 ]] || fail "suite speed rows lack gemm_backend"
[[ $(q "select count(*) from runs where build not like '% gemm %:%'") -eq 0 ]] ||
  fail "runs.build lacks the GEMM backend: $(q 'select build from runs')"
[[ $(q "select count(*) from runs where config_json like '%\"ffn\":24%'") -eq 4 ]] ||
  fail "override model.ffn=24 not applied"
[[ $(q "select count(*) from env where key in ('cpu_model', 'blas', 'blas_coretype', 'git_commit')") -eq 4 ]] ||
  fail "env rows: $(q 'select key from env')"
# config values as the YAML wrote them (lr: 2e-3), not float32 noise (0.00200000009)
[[ $(q "select count(*) from runs where json_extract(config_json, '\$.train.lr') = 0.002
        and config_json like '%\"lr\":0.002,%'") -eq 4 ]] ||
  fail "config_json lr not as written: $(q 'select config_json from runs limit 1')"
# ... while the run keys stay those of the canonical "%.9g" form that databases
# written before (effbench 857a900) hold, so resuming them reruns nothing
want_keys="79578f597fc87429f2afbc11623e1f03 89e5a1b5fc28bed5dc257b9bbc5d156f cee34de0df5c45e851efb1ea8bc9bce2 dabc7c85b873441c9bcb07362525a8a6"
got_keys=$(q "select group_concat(run_key, ' ') from (select run_key from runs order by run_key)")
[[ "$got_keys" == "$want_keys" ]] || fail "run keys changed: $got_keys"
# every speed row keeps the statistics of its step times, threads and backend
[[ $(q "select count(*) from speed where step_ms_n >= 1 and step_ms_mean > 0
        and step_ms_std >= 0 and step_ms_min <= step_ms_median and threads = 1
        and gemm_backend like '%:%'") -eq 4 ]] ||
  fail "speed statistics: $(q 'select step_ms_n, step_ms_mean, step_ms_std, gemm_backend from speed')"

# --- resume: nothing reruns
before=$(q "select group_concat(finished_at) from runs")
"$eb" run "$suite" --db "$tmp/r.db" >"$tmp/run2" 2>&1 || fail "resume failed: $(cat "$tmp/run2")"
grep -q "4 already done, 0 done now" "$tmp/run2" || fail "resume summary: $(cat "$tmp/run2")"
[[ "$(q "select group_concat(finished_at) from runs")" == "$before" ]] || fail "resume reran runs"
[[ $(q "select count(*) from speed") -eq 4 ]] || fail "resume re-measured speed"

# --- a run left `running` by a killed process is retried
q "update runs set status='running' where run_key=(select min(run_key) from runs)"
"$eb" run "$suite" --db "$tmp/r.db" >"$tmp/run3" 2>&1 || fail "retry failed"
grep -q "3 already done, 1 done now" "$tmp/run3" || fail "retry summary: $(cat "$tmp/run3")"

# --- --only and --shard select runs; --fresh reruns them
"$eb" run "$suite" --db "$tmp/r.db" --fresh --only '*seed=1*attention=naive*' >"$tmp/run4" 2>&1 ||
  fail "--only failed: $(cat "$tmp/run4")"
grep -q "1 runs selected, 0 already done, 1 done now" "$tmp/run4" || fail "--only: $(cat "$tmp/run4")"
"$eb" run "$suite" --db "$tmp/r.db" --shard 1/2 --dry-run >"$tmp/shard" 2>&1
[[ $(grep -cE '^[0-9a-f]{32}  ' "$tmp/shard") -eq 2 ]] || fail "--shard 1/2: $(cat "$tmp/shard")"
SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=4 "$eb" run "$suite" --dry-run >"$tmp/slurm" 2>&1
[[ $(grep -cE '^[0-9a-f]{32}  ' "$tmp/slurm") -eq 1 ]] || fail "SLURM shard: $(cat "$tmp/slurm")"
out=$("$eb" run "$suite" --shard 2/2 2>&1)
[[ $? -eq 2 && "$out" == *"--shard 2/2"* ]] || fail "bad shard accepted: $out"

# --- a run that fails is recorded with its error; the suite goes on; exit 1
out=$("$eb" run "$src/tests/suites/partial.yaml" --db "$tmp/p.db" 2>&1)
[[ $? -eq 1 ]] || fail "partial suite should exit 1: $out"
[[ "$(sqlite3 "$tmp/p.db" "select status from runs where task='text'")" == failed ]] ||
  fail "failed run not recorded: $(sqlite3 "$tmp/p.db" 'select task,status,error from runs')"
sqlite3 "$tmp/p.db" "select error from runs where task='text'" | grep -q "/nonexistent/aclImdb" ||
  fail "the error does not name the path"
[[ "$(sqlite3 "$tmp/p.db" "select status from runs where task='majority'")" == done ]] ||
  fail "the suite did not go on after a failed run"

# --- MoE: active < total parameters, stats recorded, MoE table
"$eb" run "$src/tests/suites/moe.yaml" --db "$tmp/m.db" >/dev/null 2>&1 || fail "moe suite failed"
[[ "$(sqlite3 "$tmp/m.db" "select params_active < params_total and params_active > 0 from runs")" == 1 ]] ||
  fail "moe params: $(sqlite3 "$tmp/m.db" 'select params_total, params_active from runs')"
[[ $(sqlite3 "$tmp/m.db" "select count(*) from run_stats where name in
     ('expert_load_max_over_mean', 'dropped_fraction', 'aux_loss')") -eq 3 ]] ||
  fail "moe stats: $(sqlite3 "$tmp/m.db" 'select name, value from run_stats')"
"$eb" report --db "$tmp/m.db" --table moe | grep -q "moe" || fail "MoE table"

# --- reports
"$eb" report --db "$tmp/r.db" --table accuracy >"$tmp/acc.md" 2>&1 || fail "report: $(cat "$tmp/acc.md")"
grep -q "majority" "$tmp/acc.md" && grep -q "vanilla" "$tmp/acc.md" || fail "accuracy table: $(cat "$tmp/acc.md")"
"$eb" report --db "$tmp/r.db" --table speed --format latex >"$tmp/speed.tex" 2>&1 || fail "latex report"
grep -q '\\toprule' "$tmp/speed.tex" || fail "latex: $(cat "$tmp/speed.tex")"
"$eb" report --db "$tmp/r.db" --format csv -o "$tmp/all.csv" || fail "csv report"
[[ -s "$tmp/all.csv" ]] || fail "csv report empty"
# a run stopped by its time budget keeps its best result, marked in the table
q "update runs set status='timeout' where run_key=(select min(run_key) from runs)"
"$eb" report --db "$tmp/r.db" --table accuracy | grep -qE "\((n=[0-9]+; )?1 timeout\)" ||
  fail "timed-out result not shown: $("$eb" report --db "$tmp/r.db" --table accuracy)"
out=$("$eb" report --db "$tmp/none.db" 2>&1)
[[ $? -eq 2 && "$out" == *"none.db"* ]] || fail "missing database: $out"
[[ ! -e "$tmp/none.db" ]] || fail "report created a database"
out=$("$eb" report --db "$tmp/r.db" --suite nosuch 2>&1)
[[ $? -eq 2 && "$out" == *"nosuch"* && "$out" == *"tiny"* ]] || fail "unknown suite: $out"

# --- figures (gnuplot is installed by scripts/install-deps)
if command -v gnuplot >/dev/null 2>&1; then
  "$eb" plot --db "$tmp/r.db" --out "$tmp/fig" >"$tmp/plot.out" 2>&1 || fail "plot: $(cat "$tmp/plot.out")"
  for f in bubble scaling-time scaling-memory curves-majority pareto-majority; do
    [[ -s "$tmp/fig/$f.png" && -s "$tmp/fig/$f.gp" && -s "$tmp/fig/$f.dat" ]] ||
      fail "figure $f missing: $(ls "$tmp/fig" 2>&1)"
  done
  out=$("$eb" plot --db "$tmp/r.db" --kind pie 2>&1)
  [[ $? -eq 2 && "$out" == *"--kind pie"* ]] || fail "bad --kind: $out"
else
  echo "note: gnuplot absent, figures not checked"
fi

# --- bench --db: each length becomes a speed row of suite "bench" (or --suite)
small=(--arch poolformer --dim 16 --depth 1 --heads 2 --ffn 32 --batch 2
  --min-time 0 --min-reps 1 --warmup 0 --no-peak)
"$eb" bench "${small[@]}" --len 32,64 --db "$tmp/r.db" >"$tmp/bench.out" 2>&1 ||
  fail "bench --db: $(cat "$tmp/bench.out")"
[[ $(q "select count(*) from speed s join suites u on u.id=s.suite_id
        where u.name='bench' and s.arch='poolformer' and s.status='done'
        and s.step_ms_median > 0 and s.peak_mem_bytes > 0") -eq 2 ]] ||
  fail "bench --db rows: $(q 'select * from speed')"
# provenance: every speed row names the GEMM backend and ISA that ran it, as does env
[[ $(q "select count(*) from speed s join suites u on u.id=s.suite_id where u.name='bench'
        and json_extract(s.config_json, '\$.gemm_backend') in ('onednn','openblas')
        and length(json_extract(s.config_json, '\$.gemm_isa')) > 0") -eq 2 ]] ||
  fail "bench --db rows lack the GEMM backend: $(q 'select config_json from speed')"
[[ $(q "select value from env where key='gemm_backend'") =~ ^(onednn|openblas)$ ]] ||
  fail "env lacks gemm_backend: $(q 'select * from env')"
out=$("$eb" report --db "$tmp/r.db" --suite bench --table speed 2>&1)
grep -qE '^\| poolformer \| [0-9.]+ \| [0-9.]+ \|' <<<"$out" || fail "bench rows not reported: $out"
# never into a suite that `run` wrote from a suite file: exit 2, nothing written
before=$(q "select count(*), (select yaml from suites where name='tiny') from speed" | md5sum)
[[ -n "$(q "select yaml from suites where name='tiny'")" ]] || fail "suite tiny has no YAML"
out=$("$eb" bench "${small[@]}" --len 32 --db "$tmp/r.db" --suite tiny 2>&1)
[[ $? -eq 2 && "$out" == *"suite 'tiny' was written by 'effbench run'"* ]] ||
  fail "bench --suite tiny: $out"
[[ $(q "select count(*), (select yaml from suites where name='tiny') from speed" | md5sum) == "$before" ]] ||
  fail "bench --suite tiny changed the database"
# bad settings and --suite without --db are bad input (2), checked before any write
out=$("$eb" bench --arch vanilla --dim 30 --heads 4 --len 32 --batch 2 --db "$tmp/cfg.db" 2>&1)
[[ $? -eq 2 && "$out" == *"must divide"* && ! -e "$tmp/cfg.db" ]] ||
  fail "bench --db with a bad model: $out"
out=$("$eb" bench "${small[@]}" --len 32 --suite x 2>&1)
[[ $? -eq 2 && "$out" == *"--db"* ]] || fail "bench --suite without --db: $out"
# a file that is not an effbench database is bad input (2) and left alone
printf 'my notes\n' >"$tmp/notes.txt"
out=$("$eb" bench "${small[@]}" --len 32 --db "$tmp/notes.txt" 2>&1)
[[ $? -eq 2 && "$out" == *"notes.txt"* ]] || fail "bench into a text file: $out"
[[ "$(cat "$tmp/notes.txt")" == "my notes" ]] || fail "bench changed a foreign file"
out=$("$eb" run "$suite" --db "$tmp/notes.txt" 2>&1)
[[ $? -eq 2 && "$out" == *"notes.txt"* ]] || fail "run into a text file: $out"
# an SQLite header over garbage is a bad file too
{ printf 'SQLite format 3\0'; head -c 8192 /dev/zero | tr '\0' 'x'; } >"$tmp/bad.db"
out=$("$eb" report --db "$tmp/bad.db" 2>&1)
[[ $? -eq 2 && "$out" == *"bad.db"* ]] || fail "report on a damaged database: $out"

if [[ $fails -ne 0 ]]; then
  echo "suite: $fails check(s) failed" >&2
  exit 1
fi
echo "suite: ok"
