#!/usr/bin/env bash
# ctest-labels: e2e
# effbench merge: a suite run in two shards and merged equals the suite run
# in one process (every run key once, the same results bit for bit, the
# speed rows); merging again changes nothing; inputs are never modified;
# a run key with different results is kept twice and flagged, report lists
# it, --prefer newest|first keeps one; an unfinished row gives way to a
# finished one; an older schema's input merges as it is; bad inputs exit 2
# naming the file before the output is written; a network file system gets
# rollback journaling.
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
# results of a database, every bit: runs, their evals and stats, speed rows
results() {
  sqlite3 "$1" "SELECT run_key, status, printf('%!.17g|%!.17g', val_accuracy, test_accuracy),
      best_step, steps_done, params_total FROM runs WHERE conflict_of IS NULL ORDER BY run_key;
    SELECT r.run_key, e.step, e.split, printf('%!.17g|%!.17g', e.loss, e.accuracy)
      FROM evals e JOIN runs r ON r.id=e.run_id WHERE r.conflict_of IS NULL
      ORDER BY r.run_key, e.split, e.step;
    SELECT r.run_key, x.step, x.name, x.value FROM run_stats x JOIN runs r ON r.id=x.run_id
      ORDER BY 1, 2, 3;
    SELECT arch, seq_len, mode, status FROM speed ORDER BY arch, seq_len, mode;"
}

"$eb" run "$suite" --db one.db >/dev/null 2>&1 || fail "one-process run"
"$eb" run "$suite" --shard 0/2 --db a.db >/dev/null 2>&1 || fail "shard 0/2"
"$eb" run "$suite" --shard 1/2 --db b.db >/dev/null 2>&1 || fail "shard 1/2"
sha256sum a.db b.db >inputs.sha
out=$("$eb" merge m.db a.db b.db 2>&1) || fail "merge: $out"
[[ "$out" == *"runs 4 added"* && "$out" == *"speed rows 4 added"* ]] || fail "merge summary: $out"
sha256sum --quiet -c inputs.sha || fail "an input was modified by merge"
[[ "$(results m.db)" == "$(results one.db)" ]] ||
  fail "merged shards differ from one process: $(diff <(results one.db) <(results m.db))"
[[ $(sqlite3 m.db "SELECT count(*) FROM runs") == 4 &&
  $(sqlite3 m.db "SELECT count(DISTINCT run_key) FROM runs") == 4 ]] || fail "run keys not once each"
[[ $(sqlite3 m.db "SELECT count(*) FROM runs WHERE cpu_model IS NULL OR cores IS NULL OR
  threads IS NULL OR git_commit IS NULL OR isa IS NULL OR host IS NULL") == 0 ]] ||
  fail "merged runs lack their machine and build"
[[ $(sqlite3 m.db "SELECT count(*) FROM speed WHERE cpu_model IS NULL OR cores IS NULL OR
  git_commit IS NULL OR host IS NULL OR compiler IS NULL OR c_flags IS NULL") == 0 ]] ||
  fail "merged speed rows lack their machine and build"
# the speed caption names the machine; rows from two machines name both
rep=$("$eb" report --db m.db --table speed 2>&1)
cpu=$(sqlite3 m.db "SELECT cpu_model FROM speed LIMIT 1")
[[ "$rep" == *"measured on $cpu ("*" cores), GEMM "*", commit "* && "$rep" != *several* ]] ||
  fail "speed caption without its machine: $rep"
cp m.db two.db
sqlite3 two.db "UPDATE speed SET cpu_model='Other CPU', cores=16 WHERE seq_len=64"
rep=$("$eb" report --db two.db --table speed 2>&1)
[[ "$rep" == *"several machines or builds: "*"Other CPU (16 cores)"*"(1 row)"* ]] ||
  fail "speed caption of two machines: $rep"
[[ $(sqlite3 m.db "PRAGMA integrity_check") == ok ]] || fail "integrity_check"
[[ $(sqlite3 m.db "SELECT count(*) FROM suites") == 1 ]] || fail "suite not merged once"
# --- idempotent: merging again (and in the other order) changes nothing
sqlite3 m.db .dump >dump1
out=$("$eb" merge m.db b.db a.db 2>&1) || fail "second merge: $out"
[[ "$out" == *"runs 0 added, 4 identical"* ]] || fail "second merge summary: $out"
sqlite3 m.db .dump >dump2
cmp -s dump1 dump2 || fail "merging twice changed the database: $(diff dump1 dump2 | head)"

# --- a conflict: the same key, other results from another machine
cp b.db c.db
key=$(sqlite3 c.db "SELECT run_key FROM runs ORDER BY id LIMIT 1")
sqlite3 c.db "UPDATE evals SET loss=loss*1.0000001 WHERE run_id=(SELECT id FROM runs WHERE
  run_key='$key'); UPDATE runs SET host='othernode', git_commit='0ther00',
  finished_at='2099-01-01T00:00:00Z' WHERE run_key='$key'"
cp m.db before_conflict.db
out=$("$eb" merge m.db c.db 2>&1) || fail "conflict merge: $out"
[[ "$out" == *"1 conflicting"* ]] || fail "conflict not reported by merge: $out"
[[ $(sqlite3 m.db "SELECT count(*) FROM runs WHERE conflict_of='$key' AND host='othernode'") == 1 &&
  $(sqlite3 m.db "SELECT host FROM runs WHERE run_key='$key'") != othernode ]] ||
  fail "conflicting version not kept beside, flagged"
rep=$("$eb" report --db m.db 2>&1) || fail "report: $rep"
[[ "$rep" == *"Conflicting results"* && "$rep" == *othernode* && "$rep" == *"kept beside"* ]] ||
  fail "report does not show the conflict: $rep"
csv=$("$eb" report --db m.db --format csv --table accuracy)
grep -q '^conflicts,tiny,vanilla,majority,.*kept beside, on othernode' <<<"$csv" ||
  fail "CSV lacks the conflict rows: $csv"
for v in blockwise naive; do
  grep -q "^accuracy,tiny,vanilla \\[attention=$v\\],majority,,,test_accuracy,[0-9.]*,[0-9.]*,2,2," \
    <<<"$csv" || fail "the kept-beside version counted in the accuracy table ($v): $csv"
done
rep1=$("$eb" report --db one.db 2>&1)
[[ "$rep1" != *"Conflicting"* ]] || fail "report shows conflicts where there are none"
sqlite3 m.db .dump >dump3
"$eb" merge m.db c.db a.db b.db >/dev/null 2>&1 || fail "merging the conflict again"
sqlite3 m.db .dump >dump4
cmp -s dump3 dump4 || fail "merging a conflict twice changed the database"
# --prefer: one version kept
"$eb" merge pn.db a.db b.db c.db --prefer newest >/dev/null 2>&1 || fail "--prefer newest"
[[ $(sqlite3 pn.db "SELECT count(*) FROM runs") == 4 &&
  $(sqlite3 pn.db "SELECT host FROM runs WHERE run_key='$key'") == othernode ]] ||
  fail "--prefer newest did not keep the newest version alone"
"$eb" merge pf.db a.db b.db c.db --prefer first >/dev/null 2>&1 || fail "--prefer first"
[[ $(sqlite3 pf.db "SELECT count(*) FROM runs") == 4 &&
  $(sqlite3 pf.db "SELECT host FROM runs WHERE run_key='$key'") != othernode ]] ||
  fail "--prefer first did not keep the first version alone"
[[ "$(results pf.db)" == "$(results one.db)" ]] || fail "--prefer first changed the results"
out=$("$eb" merge px.db a.db --prefer oldest 2>&1)
[[ $? -eq 2 && "$out" == *"--prefer oldest"* && ! -e px.db ]] || fail "--prefer oldest: $out"

# --- an unfinished row gives way to the finished one, in either order
cp a.db r.db
sqlite3 r.db "UPDATE runs SET status='running', finished_at=NULL"
"$eb" merge u1.db r.db a.db b.db >/dev/null 2>&1 || fail "merge running then done"
"$eb" merge u2.db a.db b.db r.db >/dev/null 2>&1 || fail "merge done then running"
for u in u1 u2; do
  [[ "$(results $u.db)" == "$(results one.db)" &&
    $(sqlite3 $u.db "SELECT count(*) FROM runs") == 4 ]] || fail "$u: unfinished rows not replaced"
done

# --- an input of an older schema (4: before the per-run machine columns)
cp a.db old.db
sqlite3 old.db "PRAGMA journal_mode=DELETE; DROP INDEX runs_conflict_of;
  ALTER TABLE runs DROP COLUMN cpu_model; ALTER TABLE runs DROP COLUMN isa;
  ALTER TABLE runs DROP COLUMN cores; ALTER TABLE runs DROP COLUMN threads;
  ALTER TABLE runs DROP COLUMN git_commit; ALTER TABLE runs DROP COLUMN compiler;
  ALTER TABLE runs DROP COLUMN c_flags; ALTER TABLE runs DROP COLUMN conflict_of;
  ALTER TABLE speed DROP COLUMN step_ms_n; ALTER TABLE speed DROP COLUMN step_ms_mean;
  ALTER TABLE speed DROP COLUMN step_ms_std; ALTER TABLE speed DROP COLUMN gemm_backend;
  DROP INDEX evals_unique; ALTER TABLE runs DROP COLUMN owner;
  ALTER TABLE runs DROP COLUMN heartbeat_at;
  PRAGMA user_version=4" >/dev/null
sha=$(sha256sum old.db)
"$eb" merge o.db old.db b.db >/dev/null 2>&1 || fail "merging a schema-4 input"
[[ "$(sha256sum old.db)" == "$sha" ]] || fail "the schema-4 input was modified"
[[ "$(results o.db)" == "$(results one.db)" ]] || fail "schema-4 input: results differ"
[[ $(sqlite3 o.db "SELECT count(*) FROM runs r WHERE cpu_model=(SELECT value FROM env
  WHERE key='cpu_model') AND git_commit IS NOT NULL") == 4 ]] ||
  fail "schema-4 runs did not take their machine from the input's env table"

# --- bad inputs: exit 2 naming the file, the output not written
printf 'not a database\n' >text.db
sqlite3 foreign.db "CREATE TABLE t(x)"
cp a.db newer.db
sqlite3 newer.db "PRAGMA user_version=99"
for bad in text.db foreign.db newer.db missing.db; do
  out=$("$eb" merge bad-out.db a.db "$bad" 2>&1)
  rc=$?
  [[ $rc -eq 2 && "$out" == *"$bad"* ]] || fail "$bad: exit $rc, want 2 naming it: $out"
  [[ ! -e bad-out.db ]] || { fail "$bad: the output was written"; rm -f bad-out.db; }
done
out=$("$eb" merge a.db b.db a.db 2>&1)
[[ $? -eq 2 && "$out" == *"output itself"* ]] || fail "merging a file into itself: $out"
sha256sum --quiet -c inputs.sha || fail "an input was modified by a refused merge"
out=$("$eb" merge only.db 2>&1)
[[ $? -eq 2 ]] || fail "merge without inputs: $out"

# --- a network file system (the test override): rollback journaling
EFFBENCH_TEST_NETWORK_FS=1 "$eb" merge nfs.db a.db >/dev/null 2>&1 || fail "merge on nfs"
[[ $(sqlite3 nfs.db "PRAGMA journal_mode") == delete ]] || fail "network fs: not journal_mode delete"
[[ $(sqlite3 m.db "PRAGMA journal_mode") == wal ]] || fail "local fs: not WAL"

((fails == 0)) || exit 1
echo "merge: all checks passed"
