#!/usr/bin/env bash
# ctest-labels: e2e
# The scriptable CLI and rerun history (issue 19, deliverables 4 and 5):
# list/report/run --json parse as strict JSON (no NaN, no Infinity), run's
# JSON Lines (the default when stdout is not a terminal) carry the documented
# events with a suite ETA, train --json prints null and a status for a
# diverged run, every error message names its command once, and
# `run --fresh` keeps the previous attempt (report --attempt all shows it).
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
q() { sqlite3 "$tmp/r.db" "$1"; }

# strict JSON: python's json accepts NaN/Infinity unless told not to
cat >"$tmp/strict.py" <<'PY'
import json, sys
def no_const(c):
    raise ValueError("not JSON: " + c)
def load(text):
    return json.loads(text, parse_constant=no_const)
mode, path = sys.argv[1], sys.argv[2]
text = open(path).read()
if mode == "doc":
    load(text)
else:  # JSON Lines: every non-empty line one object with an "event"
    lines = [l for l in text.split("\n") if l]
    assert lines, "no lines"
    for l in lines:
        o = load(l)
        assert isinstance(o, dict) and "event" in o, l
PY
strict() { python3 "$tmp/strict.py" "$1" "$2" 2>&1; }
py() { python3 -c "$1" "${@:2}" 2>&1; }

# --- list --json
"$eb" list archs --json >"$tmp/archs.json" || fail "list archs --json exit $?"
strict doc "$tmp/archs.json" >/dev/null || fail "list archs --json: $(strict doc "$tmp/archs.json")"
out=$(py 'import json,sys; d=json.load(open(sys.argv[1]))
names=[a["name"] for a in d]
assert "vanilla" in names and "mamba" in names, names
v=d[names.index("vanilla")]
assert v["origin"] == "built-in" and v["summary"], v
p=[x for x in v["params"] if x["name"] == "attention"][0]
assert p["type"] == "string" and "naive" in p["choices"] and p["default"], p
print(len(d))' "$tmp/archs.json") || fail "list archs --json content: $out"
[[ "$out" == "$("$eb" list archs | grep -c '^[a-z]')" ]] ||
  fail "list archs --json has $out entries, the text list $("$eb" list archs | grep -c '^[a-z]')"
"$eb" list tasks --json >"$tmp/tasks.json" || fail "list tasks --json exit $?"
out=$(py 'import json,sys; d=json.load(open(sys.argv[1]))
assert "listops" in [t["name"] for t in d] and all("params" in t for t in d)' \
  "$tmp/tasks.json") || fail "list tasks --json: $out"

# --- run: JSON Lines when stdout is not a terminal (a file here)
suite=$src/tests/suites/tiny.yaml
"$eb" run "$suite" --db "$tmp/r.db" >"$tmp/ev.jsonl" 2>"$tmp/ev.err" ||
  fail "run exit $?: $(cat "$tmp/ev.err")"
strict lines "$tmp/ev.jsonl" >/dev/null || fail "run events: $(strict lines "$tmp/ev.jsonl")"
grep -q "4 done now" "$tmp/ev.err" || fail "the text summary is not on stderr: $(cat "$tmp/ev.err")"
out=$(py 'import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
kinds=[e["event"] for e in ev]
assert kinds[0] == "suite_start" and ev[0]["runs"] == 4 and ev[0]["suite"] == "tiny", ev[0]
assert kinds[-1] == "suite_end", kinds[-1]
end=ev[-1]
assert (end["selected"], end["done"], end["failed"], end["speed_rows"]) == (4, 4, 0, 4), end
assert kinds.count("run_start") == 4 and kinds.count("run_end") == 4, kinds
assert kinds.count("speed") == 4, kinds
ends=[e for e in ev if e["event"] == "run_end"]
assert all(e["status"] == "done" and 0 <= e["test_accuracy"] <= 1 and e["seconds"] > 0
           and e["error"] is None and len(e["key"]) == 32 for e in ends), ends
assert [e["index"] for e in ends] == [1, 2, 3, 4] and all(e["total"] == 4 for e in ends)
evals=[e for e in ev if e["event"] == "eval"]
assert evals and all(e["split"] in ("val", "test") and e["step"] > 0 for e in evals)
prog=[e for e in ev if e["event"] == "progress"]
assert prog and all(e["steps"] == 30 and e["run_eta_s"] >= 0 for e in prog), prog[:2]
# the suite ETA: null before any run finished, a number after
first_end=kinds.index("run_end")
before=[e for e in ev[:first_end] if "suite_eta_s" in e]
after=[e for e in ev[first_end + 1:] if e["event"] in ("run_start", "progress")]
assert before and all(e["suite_eta_s"] is None for e in before), before
assert after and all(isinstance(e["suite_eta_s"], (int, float)) and e["suite_eta_s"] >= 0
                     for e in after), after
assert all(e["suite_eta_s"] > 0 for e in after if e["event"] == "run_start"), after
sp=[e for e in ev if e["event"] == "speed"]
assert all(e["status"] == "done" and e["ms_median"] > 0 and e["seq_len"] in (32, 64)
           for e in sp), sp' "$tmp/ev.jsonl") || fail "run events content: $out"

# --json on a resume (nothing to train) and --text; a dry run stays text
"$eb" run "$suite" --db "$tmp/r.db" --json >"$tmp/ev2.jsonl" 2>/dev/null || fail "resume --json"
out=$(py 'import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sk=[e for e in ev if e["event"] == "run_skip"]
assert len(sk) == 4 and all(e["reason"] == "done" for e in sk), sk
assert ev[-1]["event"] == "suite_end" and ev[-1]["already_done"] == 4, ev[-1]' \
  "$tmp/ev2.jsonl") || fail "resume events: $out"
out=$("$eb" run "$suite" --db "$tmp/r.db" --text 2>/dev/null)
[[ "$out" == "suite tiny: 4 runs selected, 4 already done"* ]] || fail "--text stdout: $out"
out=$("$eb" run "$suite" --db "$tmp/r.db" --dry-run --json 2>/dev/null)
[[ "$out" == "suite tiny: 4 runs"* && "$out" != *'"event"'* ]] || fail "dry run with --json: $out"
out=$("$eb" run "$suite" --json --text 2>&1)
[[ $? -eq 2 && "$out" == *"choose one"* ]] || fail "--json --text: $out"

# --- report --json / --format json
"$eb" report --db "$tmp/r.db" --json >"$tmp/rep.json" || fail "report --json exit $?"
strict doc "$tmp/rep.json" >/dev/null || fail "report --json: $(strict doc "$tmp/rep.json")"
"$eb" report --db "$tmp/r.db" --format json >"$tmp/rep2.json" || fail "--format json"
cmp -s "$tmp/rep.json" "$tmp/rep2.json" || fail "--json and --format json differ"
out=$(py 'import json,sys
rows=json.load(open(sys.argv[1]))
acc=[r for r in rows if r["table"] == "accuracy" and r["task"] == "majority" and r["metric"] == "test_accuracy"]
assert [r["arch"] for r in acc] == ["vanilla [attention=blockwise]", "vanilla [attention=naive]"], acc
assert all(r["n"] == 2 for r in acc), acc
assert 0 <= acc[0]["value"] <= 1 and acc[0]["best"] in (True, False, None), acc
maj=[r for r in rows if r["table"] == "accuracy" and r["metric"] == "majority_class"]
assert len(maj) == 1 and maj[0]["arch"] == "majority class" and 0 < maj[0]["value"] <= 1, maj
sp=[r for r in rows if r["table"] == "speed"]
assert sp and all(isinstance(r["seq_len"], int) for r in sp), sp[:1]
keys="table,suite,arch,task,mode,seq_len,metric,value,std,n,runs,status,best,ratio_to_vanilla,data_source,sem".split(",")
assert all(list(r) == keys for r in rows), list(rows[0])' "$tmp/rep.json") ||
  fail "report --json content: $out"
[[ $("$eb" report --db "$tmp/r.db" --format csv | tail -n +2 | wc -l) -eq \
  $(py 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/rep.json") ]] ||
  fail "report --json rows differ from the CSV's"
out=$("$eb" report --db "$tmp/r.db" --json --format latex 2>&1)
[[ $? -eq 2 && "$out" == *"choose one"* ]] || fail "--json --format latex: $out"

# --- train --json: a diverged run prints null and its status, never nan
"$eb" train --arch mamba --task majority --task-param len=16 --steps 100 --lr 10 --clip 0 \
  --schedule constant --warmup 0 --eval-every 50 --dim 16 --depth 1 --heads 2 --ffn 32 \
  --json >"$tmp/train.json" 2>"$tmp/train.err"
[[ $? -eq 1 ]] || fail "a diverged train did not exit 1"
strict doc "$tmp/train.json" >/dev/null || fail "train --json: $(cat "$tmp/train.json")"
! grep -qiE 'nan|inf[^o]' "$tmp/train.json" || fail "nan/inf printed: $(cat "$tmp/train.json")"
out=$(py 'import json,sys; d=json.load(open(sys.argv[1]))
assert d["status"] == "diverged" and d["final_loss"] is None, d' "$tmp/train.json") ||
  fail "train --json diverged: $out"

# --- every error names its command once
for c in list train bench export check data run merge slurm report compare plot; do
  "$eb" $c --no-such-option >/dev/null 2>"$tmp/e"
  rc=$?
  [[ $rc -eq 2 ]] || fail "$c --no-such-option exit $rc"
  grep -q "^effbench $c: " "$tmp/e" || fail "$c: no prefix: $(cat "$tmp/e")"
done
"$eb" report --db "$tmp/none.db" 2>>"$tmp/e"
"$eb" report --db "$tmp/r.db" --suite nope 2>>"$tmp/e"
"$eb" compare "$tmp/none.db" "$tmp/r.db" 2>>"$tmp/e"
"$eb" run "$tmp/none.yaml" 2>>"$tmp/e"
"$eb" train --steps x 2>>"$tmp/e"
"$eb" plot --kind nope --db "$tmp/r.db" 2>>"$tmp/e"
"$eb" merge "$tmp/m.db" "$tmp/none.db" 2>>"$tmp/e"
"$eb" nosuchcommand 2>>"$tmp/e"
for c in list train bench export check data run merge slurm report compare plot; do
  "$eb" $c --no-such-option 2>>"$tmp/e"
done
! grep -E '^effbench( [a-z]+)?: .*effbench( [a-z]+)?: ' "$tmp/e" ||
  fail "a doubled prefix: $(grep -E '^effbench( [a-z]+)?: .*effbench( [a-z]+)?: ' "$tmp/e")"

# --- reruns keep history: --fresh archives attempt 1, report --attempt all shows it
"$eb" run "$suite" --db "$tmp/r.db" --fresh --only '*seed=0*' --text >/dev/null 2>&1 ||
  fail "run --fresh"
[[ $(q "select count(*) from runs") -eq 4 ]] || fail "--fresh added runs rows"
[[ $(q "select count(*) from runs where attempt=2") -eq 2 ]] ||
  fail "attempts: $(q 'select arch, seed, attempt from runs')"
[[ $(q "select count(*) from run_attempts where attempt=1 and status='done' and
        test_accuracy is not null and run_id in (select id from runs where attempt=2)") -eq 2 ]] ||
  fail "archived attempts: $(q 'select run_id, attempt, status from run_attempts')"
[[ $(q "select count(*) from eval_attempts") -eq $(q "select count(*) from evals e join runs r
      on r.id=e.run_id where r.attempt=2") ]] || fail "archived evals not the attempt's curve"
"$eb" report --db "$tmp/r.db" --table accuracy >"$tmp/latest.md" || fail "report after --fresh"
! grep -q "attempt" "$tmp/latest.md" || fail "the default report shows attempts: $(cat "$tmp/latest.md")"
grep -q "| vanilla \[attention=naive\] | " "$tmp/latest.md" || fail "latest report: $(cat "$tmp/latest.md")"
"$eb" report --db "$tmp/r.db" --table accuracy --attempt all >"$tmp/all.md" ||
  fail "report --attempt all"
grep -q "| vanilla \[attention=naive\] (attempt 1) | " "$tmp/all.md" ||
  fail "attempt 1 row: $(cat "$tmp/all.md")"
grep -q "| vanilla \[attention=naive\] (attempt 2) | \**[0-9.]* (n=1)\** |" "$tmp/all.md" ||
  fail "attempt 2 row (1 of the variant's 2 runs): $(cat "$tmp/all.md")"
"$eb" report --db "$tmp/r.db" --attempt all --json >"$tmp/all.json" || fail "--attempt all --json"
out=$(py 'import json,sys; rows=json.load(open(sys.argv[1]))
a={r["arch"]: r["n"] for r in rows if r["table"] == "accuracy" and r["task"] == "majority" and r["metric"] == "test_accuracy"}
v = lambda s, n: "vanilla [attention=%s] (attempt %d)" % (s, n)
assert a == {v("blockwise", 1): 2, v("blockwise", 2): 1, v("naive", 1): 2, v("naive", 2): 1}, a' "$tmp/all.json") ||
  fail "--attempt all --json: $out"
out=$("$eb" report --db "$tmp/r.db" --attempt 3 2>&1)
[[ $? -eq 2 && "$out" == "effbench report: --attempt 3: expected latest or all" ]] ||
  fail "--attempt 3: $out"
# the read-only report left the database as it was (temporary views only)
[[ $(q "select count(*) from sqlite_master where name in ('runs','run_stats') and type='view'") -eq 0 ]] ||
  fail "report --attempt all wrote views into the database"
# merge and compare read the latest attempt, with its number
"$eb" merge "$tmp/m.db" "$tmp/r.db" >/dev/null 2>&1 || fail "merge of a database with attempts"
[[ $(sqlite3 "$tmp/m.db" "select count(*) from runs where attempt=2") -eq 2 ]] ||
  fail "merge lost the attempt numbers"
# ... and their history: every archived attempt, its evals and stats, under the
# merged run of the same key; merging again adds nothing
hist="select r.run_key, a.attempt, a.status, a.test_accuracy, a.arch_sha256,
        (select count(*) from eval_attempts e where e.attempt_id=a.id),
        (select group_concat(e.step || ':' || e.loss, ',') from eval_attempts e
          where e.attempt_id=a.id),
        (select count(*) from run_stat_attempts t where t.attempt_id=a.id)
      from run_attempts a join runs r on r.id=a.run_id order by r.run_key, a.attempt"
[[ -n $(q "$hist") && "$(sqlite3 "$tmp/m.db" "$hist")" == "$(q "$hist")" ]] ||
  fail "merge lost the archived attempts: $(sqlite3 "$tmp/m.db" "$hist")"
"$eb" merge "$tmp/m.db" "$tmp/r.db" >/dev/null 2>&1 || fail "second merge"
[[ "$(sqlite3 "$tmp/m.db" "$hist")" == "$(q "$hist")" ]] ||
  fail "a second merge changed the archived attempts"
"$eb" compare "$tmp/r.db" "$tmp/m.db" --fail-on-regression >/dev/null 2>&1 ||
  fail "compare of a database with attempts and its merge"

if ((fails)); then
  echo "cli_json: $fails check(s) failed" >&2
  exit 1
fi
echo "cli_json: all checks passed"
