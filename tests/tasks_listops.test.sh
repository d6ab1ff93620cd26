#!/usr/bin/env bash
# ctest-labels: e2e
# `effbench data listops`: writes the official TSV files, loads them back
# unchanged, and rejects bad data directories and parameters with exit 2 and
# a message naming the file and line.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE=$tmp/cache
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect CODE PATTERN -- command...: exit code and a stderr/stdout pattern
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -ne $code ]]; then
    fail "'$*' exited $rc, expected $code; output: $out"
  elif ! grep -qE -- "$pattern" <<<"$out"; then
    fail "'$*' output does not match /$pattern/: $out"
  fi
}

small=(--task-param train=50 --task-param val=5 --task-param test=5
  --task-param min_len=10 --task-param max_len=80)

expect 0 "" -- "$eb" data listops --out "$tmp/a" --seed 3 "${small[@]}"
for s in train val test; do
  f=$tmp/a/basic_$s.tsv
  [[ -s $f ]] || fail "no $f"
  [[ $(head -1 "$f") == $'Source\tTarget' ]] || fail "$f header: $(head -1 "$f")"
done
[[ $(($(wc -l <"$tmp/a/basic_train.tsv") - 1)) -eq 50 ]] || fail "train rows"
grep -qE $'^\\( .*\\[(MIN|MAX|MED|SM) .* \\] \\)\t[0-9]$' "$tmp/a/basic_val.tsv" ||
  fail "val rows not in the official form: $(sed -n 2p "$tmp/a/basic_val.tsv")"

# same seed, same bytes; another seed, other data
expect 0 "" -- "$eb" data listops --out "$tmp/b" --seed 3 "${small[@]}"
# writing over an earlier data set is refused (and leaves it alone)
expect 1 "$tmp/b: not empty" -- "$eb" data listops --out "$tmp/b" --seed 4 "${small[@]}"
cmp -s "$tmp/a/basic_train.tsv" "$tmp/b/basic_train.tsv" || fail "seed 3 twice differs"
expect 0 "" -- "$eb" data listops --out "$tmp/c" --seed 4 "${small[@]}"
cmp -s "$tmp/a/basic_train.tsv" "$tmp/c/basic_train.tsv" && fail "seeds 3 and 4 agree"

# loading the written files and writing them again changes nothing
expect 0 "" -- "$eb" data listops --out "$tmp/d" --task-param path="$tmp/a" \
  --task-param max_len=80
for s in train val test; do
  cmp -s "$tmp/a/basic_$s.tsv" "$tmp/d/basic_$s.tsv" || fail "round trip changed $s"
done

# bad data: exit 2, FILE:LINE
mkdir -p "$tmp/bad"
cp "$tmp/a"/*.tsv "$tmp/bad/"
sed -i '4s/\t[0-9]$/\tx/' "$tmp/bad/basic_val.tsv"
expect 2 "$tmp/bad/basic_val.tsv:4: label 'x' is not an integer 0-9" -- \
  "$eb" data listops --out "$tmp/e" --task-param path="$tmp/bad" --task-param max_len=80
cp "$tmp/a/basic_val.tsv" "$tmp/bad/"
head -c 300 "$tmp/a/basic_train.tsv" >"$tmp/bad/basic_train.tsv"
expect 2 "$tmp/bad/basic_train.tsv:[0-9]+: " -- \
  "$eb" data listops --out "$tmp/e" --task-param path="$tmp/bad" --task-param max_len=80
rm "$tmp/bad/basic_train.tsv"
expect 2 "$tmp/bad/basic_train.tsv: cannot open" -- \
  "$eb" data listops --out "$tmp/e" --task-param path="$tmp/bad"
expect 2 "basic_train.tsv: cannot open" -- \
  "$eb" train --task listops --task-param path="$tmp/nonexistent" --steps 1

# bad parameters: exit 2, task and parameter named
expect 2 "task 'listops': min_len \(90\) must be" -- \
  "$eb" data listops --out "$tmp/e" --task-param min_len=90 --task-param max_len=80
expect 2 "task 'listops': max_args must be in" -- \
  "$eb" data listops --out "$tmp/e" --task-param max_args=1
expect 2 "task 'listops' has no parameter 'maxlen'; did you mean 'max_len'" -- \
  "$eb" data listops --out "$tmp/e" --task-param maxlen=5
expect 0 "listops .*ListOps" -- "$eb" list tasks

if [[ $fails -ne 0 ]]; then
  echo "tasks_listops: $fails check(s) failed" >&2
  exit 1
fi
echo "tasks_listops: ok"
