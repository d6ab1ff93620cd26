#!/usr/bin/env bash
# ctest-labels: e2e
# Issue 20: results know no architecture by name. A suite of vanilla, moe, a
# plugin that declares its stats (tokenmlp_stats) and a plugin built against
# the first ABI-1 header, whose shorter table has no declarations
# (tokenmlp_v1), still loading and training. `report --table stats` shows
# each arch's declared stats with their labels and units (moe's and the
# plugin's), an undeclared arch's by name, vanilla (none) not at all; `--table
# moe` is the same table; without the plugin loaded its stats fall back to
# their names. `--baseline ARCH` leads the rows and is what the speed ratios
# (and the CSV/JSON ratio column) are to; a baseline not in the suite is
# refused with exit 2 naming the archs there are, by report and plot alike.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
build=${EB_BUILD:?EB_BUILD must point at the build directory}
plugin() { echo "$build/test-plugins/eb_test_plugin_$1/eb_test_plugin_$1.so"; }
stats_so=$(plugin stats)
v1_so=$(plugin v1)
for so in "$stats_so" "$v1_so"; do
  [[ -f $so ]] || { echo "SKIP: $so not built"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
cat >"$tmp/s.yaml" <<'YAML'
suite: declared
model: {dim: 16, depth: 1, heads: 2, ffn: 32}
train: {steps: 6, batch: 8, eval_every: 6}
tasks:
  - majority: {len: 16, train: 128, val: 16, test: 16}
archs:
  - vanilla
  - moe: {experts: 4}
  - tokenmlp_stats
  - tokenmlp_v1
speed:
  lengths: [16]
  batch: 2
  modes: [train]
YAML
db="$tmp/r.db"
P=(--plugin "$stats_so" --plugin "$v1_so")
"$eb" "${P[@]}" run "$tmp/s.yaml" --db "$db" --threads 1 --text >"$tmp/run.log" 2>&1 ||
  fail "run: $(cat "$tmp/run.log")"
[[ $(sqlite3 "$db" "select count(*) from runs where status='done'") -eq 4 ]] ||
  fail "4 done runs: $(sqlite3 "$db" "select arch, status, error from runs")"

# --- the stats table, as the archs declare it
md=$("$eb" "${P[@]}" report --db "$db" --table stats 2>&1) || fail "report --table stats: $md"
head=$(grep '^| arch' <<<"$md")
for col in "load max/mean" "dropped (%)" "aux loss" "hidden width (neurons)" \
  "output mean abs" "| hidden_width |" "| out_abs_mean |"; do
  grep -qF "$col" <<<"$head" || fail "stats header lacks '$col': $head"
done
rows=$(grep -E '^\| [a-z]' <<<"$md" | grep -v '^| arch' | cut -d'|' -f2 | tr -d ' ' | tr '\n' ' ')
[[ $rows == "moe tokenmlp_stats tokenmlp_v1 " ]] || fail "stats rows: '$rows'"
grep -E '^\| tokenmlp_stats ' <<<"$md" | grep -q '| 32.00 |' ||
  fail "hidden width (last value, 2 x dim): $(grep tokenmlp_stats <<<"$md")"
grep -q "hidden width: each block's MLP width" <<<"$md" || fail "caption lacks the help: $md"
alias_md=$("$eb" "${P[@]}" report --db "$db" --table moe 2>&1)
[[ $alias_md == "$md" ]] || fail "--table moe differs from --table stats: $alias_md"
# the plugin not loaded: its stats by name, moe's still declared
bare=$("$eb" report --db "$db" --table stats 2>&1) || fail "report without plugins: $bare"
grep '^| arch' <<<"$bare" | grep -q "| hidden_width |.*load max/mean\|load max/mean.*| hidden_width |" ||
  fail "undeclared fallback: $(grep '^| arch' <<<"$bare")"
grep -q "declare no stats" <<<"$bare" || fail "the caption does not say why: $bare"

# --- the baseline
sp=$("$eb" "${P[@]}" report --db "$db" --table speed --baseline moe 2>&1) ||
  fail "report --baseline moe: $sp"
grep -q "ratio to moe at the same length" <<<"$sp" || fail "speed caption: $sp"
first=$(grep -E '^\| [a-z]' <<<"$sp" | grep -v '^| arch' | head -1 | cut -d'|' -f2 | tr -d ' ')
[[ $first == moe ]] || fail "first speed row '$first', want moe"
grep -E '^\| vanilla ' <<<"$sp" | grep -qE '\([0-9.]+x\)' || fail "no ratio to moe: $sp"
acc=$("$eb" "${P[@]}" report --db "$db" --table accuracy --baseline tokenmlp_v1 2>&1)
first=$(grep -E '^\| [a-z]' <<<"$acc" | grep -v '^| arch' | head -1 | cut -d'|' -f2 | tr -d ' ')
[[ $first == tokenmlp_v1 ]] || fail "first accuracy row '$first', want tokenmlp_v1"
json=$("$eb" "${P[@]}" report --db "$db" --table speed --baseline moe --json 2>&1)
python3 - "$json" <<'PY' || fail "json ratio_to_moe: $json"
import json, sys
rows = json.loads(sys.argv[1])
v = [r for r in rows if r["arch"] == "vanilla" and r["metric"] == "steps_per_s"]
assert v and isinstance(v[0]["ratio_to_moe"], float), v
PY
out=$("$eb" "${P[@]}" report --db "$db" --baseline nosuch 2>&1)
rc=$?
[[ $rc -eq 2 ]] || fail "report --baseline nosuch: exit $rc, want 2"
grep -qF "baseline 'nosuch' is not an arch of suite 'declared'" <<<"$out" &&
  grep -qF "(archs: moe, tokenmlp_stats, tokenmlp_v1, vanilla)" <<<"$out" ||
  fail "unknown baseline message: $out"
out=$("$eb" plot --db "$db" --baseline nosuch --out "$tmp/fig" 2>&1)
rc=$?
[[ $rc -eq 2 ]] || fail "plot --baseline nosuch: exit $rc, want 2 ($out)"
grep -qF "(archs: moe, tokenmlp_stats, tokenmlp_v1, vanilla)" <<<"$out" ||
  fail "plot's unknown baseline message: $out"
if command -v gnuplot >/dev/null; then
  "$eb" plot --db "$db" --baseline moe --kind scaling --format svg --out "$tmp/fig" \
    >"$tmp/plot.log" 2>&1 || fail "plot --baseline moe: $(cat "$tmp/plot.log")"
  # the baseline is the first block of every data file (first colour)
  first=$(grep -m1 -E '^# [a-z_0-9]+ (train|infer)$' "$tmp/fig/scaling-time.dat")
  [[ $first == "# moe train" ]] || fail "scaling data's first block '$first', want moe's"
fi

[[ $fails -eq 0 ]] || exit 1
echo "report_stats: ok"
