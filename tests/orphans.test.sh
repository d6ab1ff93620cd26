#!/usr/bin/env bash
# ctest-labels: e2e
# Killed writers leave no partial output and no orphan temporaries: the data
# set cache and `effbench data --out DIR` write under NAME.tmp.HOST.PID and
# rename when whole; a later effbench removes the temporaries of dead writers
# of this host (and leaves a live writer's, or another host's, alone).
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
host=$(hostname)
params=(--task-param train=4000 --task-param val=50 --task-param test=50)
complete() { [[ -s $1/basic_train.tsv && -s $1/basic_val.tsv && -s $1/basic_test.tsv ]]; }
tmps() { find "$@" -maxdepth 1 -name '*.tmp.*' 2>/dev/null | wc -l; }

# --- kill -9 `data` at 8 moments (generation, cache write, the TSV files);
# on a loaded machine the writes come later, so if none of the 8 hit one,
# up to 12 more kills spread over the time an uninterrupted run took
hit=0 kills=0
full=0.5
for i in $(seq 0 19); do
  ((i >= 8 && hit > 0)) && break
  kills=$((kills + 1))
  if ((i < 8)); then
    d=$(awk -v i="$i" 'BEGIN { printf "%.2f", 0.03 + i * 0.06 }')
  else
    d=$(awk -v i="$i" -v f="$full" 'BEGIN { printf "%.2f", f * (i - 7) / 13 }')
  fi
  export EFFBENCH_CACHE="$tmp/cache$i"
  "$eb" data listops --out "$tmp/o$i" "${params[@]}" >/dev/null 2>&1 &
  pid=$!
  sleep "$d"
  killed=0
  kill -9 $pid 2>/dev/null && killed=1
  wait $pid 2>/dev/null
  if ((killed)) && [[ -e $tmp/o$i ]] && ! complete "$tmp/o$i"; then
    fail "kill at ${d}s left a partial output directory: $(ls "$tmp/o$i")"
  fi
  left=$(tmps "$tmp" "$EFFBENCH_CACHE")
  ((left > 0)) && hit=$((hit + 1))
  # the next writer there removes the dead one's temporaries and finishes
  rm -rf "$tmp/o$i" "$tmp/cache$i"/*.ebds
  t0=$(date +%s.%N)
  "$eb" data listops --out "$tmp/o$i" "${params[@]}" >"$tmp/r.log" 2>&1 || fail "rerun after kill at ${d}s: $(cat "$tmp/r.log")"
  full=$(awk -v a="$t0" -v b="$(date +%s.%N)" -v f="$full" 'BEGIN { d = b - a; print (d > f ? d : f) }')
  complete "$tmp/o$i" || fail "rerun after kill at ${d}s: incomplete output"
  [[ $(tmps "$tmp" "$EFFBENCH_CACHE") -eq 0 ]] ||
    fail "temporaries left after the rerun (kill at ${d}s): $(find "$tmp" -name '*.tmp.*')"
done
((hit >= 1)) || fail "no kill hit a write (no temporary left by any of $kills kills)"
echo "orphans: $hit of $kills kills left temporaries, all removed by the next run"

# --- whose temporaries are removed: a dead writer's of this host only
export EFFBENCH_CACHE="$tmp/cacheX"
mkdir -p "$EFFBENCH_CACHE"
sh -c 'exit 0' &
dead=$!
wait $dead
touch "$EFFBENCH_CACHE/a.ebds.tmp.$host.$dead" "$EFFBENCH_CACHE/b.ebds.tmp.$host.$$" \
  "$EFFBENCH_CACHE/c.ebds.tmp.otherhost.$dead"
mkdir -p "$tmp/out.tmp.$host.$dead/x" "$tmp/other.tmp.$host.$dead"
"$eb" data listops --out "$tmp/out" "${params[@]}" >"$tmp/r.log" 2>&1 || fail "data: $(cat "$tmp/r.log")"
[[ ! -e $EFFBENCH_CACHE/a.ebds.tmp.$host.$dead ]] || fail "a dead writer's cache temporary was kept"
[[ -e $EFFBENCH_CACHE/b.ebds.tmp.$host.$$ ]] || fail "a live writer's cache temporary was removed"
[[ -e $EFFBENCH_CACHE/c.ebds.tmp.otherhost.$dead ]] || fail "another host's temporary was removed"
[[ ! -e $tmp/out.tmp.$host.$dead ]] || fail "a dead writer's --out temporary was kept"
[[ -e $tmp/other.tmp.$host.$dead ]] || fail "another output's temporary was removed"
# --out must be new or empty, as before
out=$("$eb" data listops --out "$tmp/out" "${params[@]}" 2>&1)
rc=$?
[[ $rc -eq 1 && $out == *"out: not empty"* ]] || fail "a non-empty --out: exit $rc: $out"
mkdir "$tmp/empty"
"$eb" data listops --out "$tmp/empty/" "${params[@]}" >/dev/null 2>&1 && complete "$tmp/empty" ||
  fail "an empty existing --out directory (with a trailing slash) was not filled"

if ((fails)); then
  echo "orphans: $fails check(s) failed" >&2
  exit 1
fi
echo "orphans: ok"
