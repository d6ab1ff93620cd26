#!/usr/bin/env bash
# ctest-labels: e2e
# effbench slurm: the job array, merge job and submit script it writes pass
# `bash -n` and say what they should (one array task per shard, --requeue,
# each shard its own database, the merge after the array with afterany);
# --submit without sbatch fails with a message; with a stand-in sbatch the
# merge is submitted depending on the array's id; and the scripts, run by
# hand as Slurm would run them, give a merged database equal to one process.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
suite="$src/tests/suites/tiny.yaml"
cd "$tmp" || exit 1
d="$tmp/jobs"
out=$("$eb" slurm "$suite" --db-dir jobs --shards 3 --partition short --time 0:30:00 --cpus 2 2>&1) ||
  fail "slurm: $out"
for f in array.sbatch merge.sbatch submit.sh; do
  [[ -x "$d/$f" ]] || fail "$f not written or not executable"
  bash -n "$d/$f" || fail "$f: bash -n"
done
a=$(cat "$d/array.sbatch")
for want in "#SBATCH --array=0-2" "#SBATCH --requeue" "#SBATCH --cpus-per-task=2" \
  "#SBATCH --time=0:30:00" "#SBATCH --partition=short" "#SBATCH --job-name=effbench-tiny" \
  "--shard \"\$shard/3\" --threads 2" "'$d'\"/shard-\$shard.db\"" "'$suite'"; do
  [[ "$a" == *"$want"* ]] || fail "array.sbatch lacks: $want"
done
grep -q "merge \"\$dir/merged.db\"" "$d/merge.sbatch" || fail "merge.sbatch does not merge into merged.db"
grep -q 'dependency="afterany:$array"' "$d/submit.sh" || fail "submit.sh: no afterany dependency"
# defaults: one shard per run, no time or partition lines
"$eb" slurm "$suite" --db-dir jobs2 >/dev/null 2>&1 || fail "slurm with defaults"
grep -q '^#SBATCH --array=0-3$' jobs2/array.sbatch || fail "default shards: not one per run (4)"
! grep -q -- '--time\|--partition' jobs2/array.sbatch || fail "time/partition lines without the options"
! grep -q -- '-changed' jobs2/array.sbatch || fail "a code-change flag without the option"
# the code-change choice reaches every array task's run
"$eb" slurm "$suite" --db-dir jobs5 --rerun-changed >/dev/null 2>&1 || fail "slurm --rerun-changed"
grep -q -- '--threads 1 --rerun-changed' jobs5/array.sbatch ||
  fail "--rerun-changed not passed to run: $(cat jobs5/array.sbatch)"
bash -n jobs5/array.sbatch || fail "array.sbatch with --rerun-changed: bash -n"
"$eb" slurm "$suite" --db-dir jobs6 --keep-changed >/dev/null 2>&1 || fail "slurm --keep-changed"
grep -q -- '--threads 1 --keep-changed' jobs6/array.sbatch || fail "--keep-changed not passed to run"
out=$("$eb" slurm "$suite" --db-dir jobs7 --rerun-changed --keep-changed 2>&1)
[[ $? -eq 2 && "$out" == *"choose one"* ]] || fail "both code-change flags: $out"
# bad input
out=$("$eb" slurm "$suite" 2>&1)
[[ $? -eq 2 && "$out" == *"--db-dir"* ]] || fail "no --db-dir: $out"
out=$("$eb" slurm "$suite" --db-dir "with space" 2>&1)
[[ $? -eq 2 && "$out" == *"#SBATCH"* ]] || fail "a directory with a space: $out"
out=$("$eb" slurm "$src/tests/suites/bad/$(ls "$src/tests/suites/bad" | head -n 1)" --db-dir bad 2>&1)
[[ $? -eq 2 ]] || fail "a bad suite: $out"
# --submit without sbatch on PATH
out=$(PATH=/usr/bin/nonexistent:/bin/none "$eb" slurm "$suite" --db-dir jobs3 --submit 2>&1)
[[ $? -eq 1 && "$out" == *"sbatch is not on PATH"* ]] || fail "--submit without sbatch: $out"
# --submit with a stand-in sbatch that records its arguments
mkdir bin
cat >bin/sbatch <<'SB'
#!/bin/bash
echo "$*" >>"$SBATCH_LOG"
n=$(wc -l <"$SBATCH_LOG")
echo "$((41 + n));cluster"
SB
chmod +x bin/sbatch
out=$(SBATCH_LOG="$tmp/sbatch.log" PATH="$tmp/bin:$PATH" "$eb" slurm "$suite" --db-dir jobs4 --shards 2 --submit 2>&1) ||
  fail "--submit: $out"
[[ "$(sed -n 1p sbatch.log)" == "--parsable $tmp/jobs4/array.sbatch" &&
  "$(sed -n 2p sbatch.log)" == "--parsable --dependency=afterany:42 $tmp/jobs4/merge.sbatch" ]] ||
  fail "submitted: $(cat sbatch.log)"
[[ "$out" == *"array job 42 and merge job 43"* ]] || fail "--submit output: $out"
# the scripts run by hand, as the array tasks and then the merge job
for i in 0 1 2; do
  SLURM_ARRAY_TASK_ID=$i bash "$d/array.sbatch" >/dev/null 2>&1 || fail "array task $i"
done
bash "$d/merge.sbatch" >/dev/null 2>&1 || fail "merge job"
"$eb" run "$suite" --db one.db >/dev/null 2>&1 || fail "one-process run"
q="SELECT run_key, status, printf('%!.17g', test_accuracy) FROM runs ORDER BY run_key;
   SELECT r.run_key, e.step, e.split, printf('%!.17g', e.loss) FROM evals e JOIN runs r
   ON r.id=e.run_id ORDER BY 1, 2, 3"
[[ -s "$d/merged.db" && "$(sqlite3 "$d/merged.db" "$q")" == "$(sqlite3 one.db "$q")" ]] ||
  fail "merged.db differs from one process"
[[ $(sqlite3 "$d/merged.db" "PRAGMA integrity_check") == ok ]] || fail "integrity_check"
# a shard that wrote nothing: the merge goes on with the others and says so
rm "$d/shard-1.db"
out=$(bash "$d/merge.sbatch" 2>&1) || fail "merge with a shard missing: $out"
[[ "$out" == *"shard 1 wrote no database"* ]] || fail "missing shard not named: $out"
((fails == 0)) || exit 1
echo "slurm scripts: all checks passed"
