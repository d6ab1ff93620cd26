#!/usr/bin/env bash
# ctest-labels: e2e
# Checkpoints (docs/reliability.md): a run killed with kill -9 after a
# checkpoint resumes mid-training from it and ends with exactly the results of
# an uninterrupted run (1 thread: every eval loss and accuracy, the run's
# accuracies, bit for bit); the curve before the kill is stored once; the
# checkpoint is deleted when the run is done; a corrupt checkpoint is ignored
# with a warning (the run starts afresh, same result); train.checkpoint_minutes
# writes checkpoints by time.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# dropout on: the resumed run must also draw the same dropout masks
cat >"$tmp/s.yaml" <<'YAML'
suite: ckpt
seeds: [0]
model: {dim: 32, depth: 2, heads: 2, ffn: 48, dropout: 0.1}
train: {steps: 300, batch: 16, lr: 2e-3, warmup: 10, eval_every: 20, eval_batches: 2}
tasks:
  - majority: {len: 64, train: 2048, val: 64, test: 64}
archs:
  - vanilla
YAML
# every value to the last bit: %!.20e prints 21 significant digits
rows="select status, steps_done, best_step, printf('%!.20e', val_accuracy),
        printf('%!.20e', test_accuracy) from runs;
      select step, split, printf('%!.20e', loss), printf('%!.20e', accuracy)
        from evals order by step, split"
ckpt_step() { od -An -t d8 -j 56 -N 8 "$1" 2>/dev/null | tr -d ' '; }

"$eb" run "$tmp/s.yaml" --db "$tmp/a.db" >"$tmp/a.log" 2>&1 || fail "uninterrupted run: $(cat "$tmp/a.log")"
sqlite3 "$tmp/a.db" "$rows" >"$tmp/a.txt"
[[ $(grep -c '|val|' "$tmp/a.txt") -eq 15 ]] || fail "uninterrupted curve: $(cat "$tmp/a.txt")"
[[ ! -e "$tmp/a.db.ckpt" ]] ||
  fail "a checkpoint left after a done run: $(ls "$tmp/a.db.ckpt")"

# Starts a run checkpointing every 10 steps and kills it with -9 once a
# checkpoint of step >= 40 exists (two evaluations in it). Prints that step.
kill_after_ckpt() {
  local db=$1 f s=0
  EFFBENCH_CHECKPOINT_STEPS=10 "$eb" run "$tmp/s.yaml" --db "$db" >"$db.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 1000); do
    f=$(ls "$db.ckpt/"*.ckpt 2>/dev/null | head -1)
    if [[ -n $f ]]; then
      s=$(ckpt_step "$f")
      ((s >= 40)) && break
    fi
    sleep 0.01
  done
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  echo "$s"
}

# --- kill -9 after a checkpoint, resume: identical results
s=$(kill_after_ckpt "$tmp/b.db")
((s >= 40)) || fail "no checkpoint of step >= 40 seen before the kill (step '$s')"
[[ $(sqlite3 "$tmp/b.db" "select status from runs") == running ]] ||
  fail "the run was not killed mid-training: $(sqlite3 "$tmp/b.db" "select status from runs")"
# the latest checkpoint (possibly newer than the one seen)
f=$(ls "$tmp/b.db.ckpt/"*.ckpt)
s=$(ckpt_step "$f")
"$eb" run "$tmp/s.yaml" --db "$tmp/b.db" >"$tmp/b2.log" 2>&1 || fail "resume: $(cat "$tmp/b2.log")"
grep -q "resumed from the checkpoint at step $s/300" "$tmp/b2.log" ||
  fail "the resume did not start from the checkpoint at step $s: $(cat "$tmp/b2.log")"
# mid-training: the resumed process never evaluated the steps before the kill
grep -q "val step 20:" "$tmp/b2.log" && fail "the resume retrained from step 1: $(cat "$tmp/b2.log")"
sqlite3 "$tmp/b.db" "$rows" >"$tmp/b.txt"
diff "$tmp/a.txt" "$tmp/b.txt" >"$tmp/ab.diff" ||
  fail "resumed results differ from the uninterrupted run: $(cat "$tmp/ab.diff")"
dup=$(sqlite3 "$tmp/b.db" "select count(*) from (select 1 from evals group by run_id, step, split having count(*) > 1)")
[[ $dup -eq 0 ]] || fail "$dup duplicate eval rows"
[[ ! -e "$tmp/b.db.ckpt" ]] || fail "checkpoint not deleted when the run was done: $(ls "$tmp/b.db.ckpt")"

# --- a corrupt checkpoint (one payload byte flipped) is ignored with a warning
s=$(kill_after_ckpt "$tmp/c.db")
f=$(ls "$tmp/c.db.ckpt/"*.ckpt)
size=$(stat -c %s "$f")
printf '\x5a' | dd of="$f" bs=1 seek=$((size - 1000)) conv=notrunc 2>/dev/null
"$eb" run "$tmp/s.yaml" --db "$tmp/c.db" >"$tmp/c2.log" 2>&1 || fail "resume after corruption: $(cat "$tmp/c2.log")"
grep -q "checkpoint ignored, starting afresh: .*checksum mismatch" "$tmp/c2.log" ||
  fail "no warning for a corrupt checkpoint: $(cat "$tmp/c2.log")"
sqlite3 "$tmp/c.db" "$rows" >"$tmp/c.txt"
diff -q "$tmp/a.txt" "$tmp/c.txt" >/dev/null || fail "results after a corrupt checkpoint differ"

# --- a truncated checkpoint and one of another run: ignored too
s=$(kill_after_ckpt "$tmp/d.db")
f=$(ls "$tmp/d.db.ckpt/"*.ckpt)
truncate -s 5000 "$f"
"$eb" run "$tmp/s.yaml" --db "$tmp/d.db" >"$tmp/d2.log" 2>&1 || fail "resume after truncation: $(cat "$tmp/d2.log")"
grep -q "checkpoint ignored, starting afresh: .*size differs" "$tmp/d2.log" ||
  fail "no warning for a truncated checkpoint: $(cat "$tmp/d2.log")"
s=$(kill_after_ckpt "$tmp/e.db")
f=$(ls "$tmp/e.db.ckpt/"*.ckpt)
printf '0000000000000000' | dd of="$f" bs=1 seek=16 conv=notrunc 2>/dev/null
"$eb" run "$tmp/s.yaml" --db "$tmp/e.db" >"$tmp/e2.log" 2>&1 || fail "resume with a foreign checkpoint: $(cat "$tmp/e2.log")"
grep -q "checkpoint ignored, starting afresh: .*checkpoint of run 0000000000000000" "$tmp/e2.log" ||
  fail "no warning for another run's checkpoint: $(cat "$tmp/e2.log")"
sqlite3 "$tmp/e.db" "$rows" >"$tmp/e.txt"
diff -q "$tmp/a.txt" "$tmp/e.txt" >/dev/null || fail "results after a foreign checkpoint differ"

# --- train.checkpoint_minutes: checkpoints by time (here every 0.06 s)
sed 's/eval_batches: 2}/eval_batches: 2, checkpoint_minutes: 0.001}/' "$tmp/s.yaml" >"$tmp/t.yaml"
"$eb" run "$tmp/t.yaml" --db "$tmp/t.db" >"$tmp/t.log" 2>&1 &
pid=$!
seen=0
for _ in $(seq 1 1000); do
  if ls "$tmp/t.db.ckpt/"*.ckpt >/dev/null 2>&1; then
    seen=1
    break
  fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.01
done
wait $pid || fail "timed checkpoints run: $(cat "$tmp/t.log")"
((seen)) || fail "train.checkpoint_minutes: 0.001 wrote no checkpoint during the run"
[[ ! -e "$tmp/t.db.ckpt" ]] || fail "timed checkpoint left after the run"
# not part of the run's identity: same key as without it
[[ $(sqlite3 "$tmp/t.db" "select run_key from runs") == $(sqlite3 "$tmp/a.db" "select run_key from runs") ]] ||
  fail "checkpoint_minutes changed the run key"

if ((fails)); then
  echo "checkpoint: $fails check(s) failed" >&2
  exit 1
fi
echo "checkpoint: ok"
