#!/usr/bin/env bash
# ctest-labels: e2e
# Matched models: wide's heads: auto resolves to model.depth x model.heads and
# the run key names the resolved count; `match: params|flops` gives every arch
# a width whose count is within the tolerance of the reference's, checked in
# the database after a tiny run and in --dry-run; bad values exit 2 with
# file:line:col (the bad corpus in tests/suites/bad/match-*.yaml covers
# match: foo, a reference missing from archs and an arch too coarse to match).
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
build=${EB_BUILD:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
keys() { grep -oE '^[0-9a-f]{32}' "$1"; }

# --- wide heads: auto (the default) = depth 2 x heads 4 = 8: the same run
# (same key) as heads: 8, not the one of heads: 16 (the old default)
for h in default auto 8 16; do
  entry="wide: {heads: $h}"
  [[ $h == default ]] && entry=wide
  cat >"$tmp/w-$h.yaml" <<EOF
suite: w
model: {dim: 32, depth: 2, heads: 4, ffn: 64}
tasks: [majority]
archs:
  - $entry
EOF
  "$eb" run "$tmp/w-$h.yaml" --dry-run >"$tmp/w-$h" 2>&1 || fail "wide heads $h: $(cat "$tmp/w-$h")"
done
[[ -n $(keys "$tmp/w-8") ]] || fail "no run key for wide heads: 8"
cmp -s <(keys "$tmp/w-default") <(keys "$tmp/w-8") ||
  fail "wide's default heads is not depth x heads = 8 (keys differ from heads: 8)"
cmp -s <(keys "$tmp/w-auto") <(keys "$tmp/w-8") || fail "wide heads: auto is not 8"
cmp -s <(keys "$tmp/w-default") <(keys "$tmp/w-16") &&
  fail "wide's default heads still shares a key with heads: 16"
# a different baseline resolves differently: depth 3 x heads 2 = 6
sed 's/depth: 2, heads: 4/depth: 3, heads: 2/; s/dim: 32/dim: 36/' "$tmp/w-default.yaml" >"$tmp/w6.yaml"
"$eb" run "$tmp/w6.yaml" --db "$tmp/w6.db" >"$tmp/w6.out" 2>&1 || fail "wide depth 3 x heads 2: $(cat "$tmp/w6.out")"
cfg=$(sqlite3 "$tmp/w6.db" "SELECT json_extract(config_json, '\$.arch_params.heads') FROM runs")
[[ $cfg == 6 ]] || fail "wide auto heads stored as '$cfg' in config_json, want 6"

# --- match: params, run into a database: every arch within the tolerance
cat >"$tmp/m.yaml" <<'EOF'
suite: matched
model: {dim: 64, depth: 2, heads: 4, ffn: 128, dropout: 0.0}
train: {steps: 2, batch: 4, eval_every: 2, eval_batches: 1}
match: params
match_tolerance: 0.1
tasks:
  - majority: {len: 24, train: 64, val: 16, test: 16}
archs: [vanilla, wide, mamba, poolformer, linformer, performer]
EOF
"$eb" run "$tmp/m.yaml" --db "$tmp/m.db" >"$tmp/m.out" 2>&1 || fail "matched run: $(cat "$tmp/m.out")"
q() { sqlite3 "$tmp/m.db" "$1"; }
[[ $(q "SELECT count(*) FROM runs WHERE status='done'") == 6 ]] || fail "matched runs not all done"
ref=$(q "SELECT params_total FROM runs WHERE arch='vanilla'")
# the stored count (of the model that trained) within 10% of vanilla's, and
# the same as the count the width was chosen by
bad=$(q "SELECT arch || ' ' || params_total FROM runs WHERE
          abs(params_total - $ref) > 0.1 * $ref
          OR params_total != json_extract(config_json, '\$.match.params')
          OR json_extract(config_json, '\$.match.gap') > 0.1
          OR json_extract(config_json, '\$.match.ref_params') != $ref
          OR json_extract(config_json, '\$.match.tolerance') != 0.1")
[[ -z $bad ]] || fail "runs outside the tolerance of vanilla's $ref parameters: $bad"
# widths really changed (wide has one layer: it must grow to match two)
wd=$(q "SELECT json_extract(config_json, '\$.model.dim') FROM runs WHERE arch='wide'")
[[ $wd -gt 64 ]] || fail "wide kept dim $wd: nothing was matched"
# both counts per run: training FLOPs per token as a column too
[[ $(q "SELECT count(*) FROM runs WHERE flops_train_token > 0 AND
        abs(flops_train_token - json_extract(config_json, '\$.match.flops_per_token'))
        <= 1e-6 * flops_train_token") == 6 ]] ||
  fail "flops_train_token missing or not the matched count: $(q "SELECT arch, flops_train_token FROM runs")"

# the accuracy table names each arch's width
out=$("$eb" report --db "$tmp/m.db" --table accuracy 2>&1) || fail "report: $out"
[[ "$out" == *"Matched models: each arch's width chosen to match vanilla's parameter count"* &&
   "$out" == *"wide: dim $wd ffn "* ]] || fail "report does not show the matched widths: $out"

# --- match: flops in --dry-run: each line shows the width, both counts and
# the distance to the reference, all within the tolerance
sed 's/match: params/match: flops/; s/match_tolerance: 0.1/match_tolerance: 0.08/' "$tmp/m.yaml" >"$tmp/f.yaml"
"$eb" run "$tmp/f.yaml" --dry-run >"$tmp/f.out" 2>&1 || fail "match: flops dry run: $(cat "$tmp/f.out")"
n=$(grep -cE 'dim [0-9]+ ffn [0-9]+  [0-9]+ params  [0-9.e+]+ FLOP/token  match flops [-+][0-9.]+% vs vanilla' "$tmp/f.out")
[[ $n == 6 ]] || fail "dry run lacks width and counts per run: $(cat "$tmp/f.out")"
grep -oE 'match flops [-+][0-9.]+%' "$tmp/f.out" | tr -d '+%' | awk '
  { v = $3 < 0 ? -$3 : $3; if (v > 8) bad = bad " " $3 }
  END { if (bad != "") { print "FLOPs/token off by" bad "%"; exit 1 } }' ||
  fail "match: flops beyond 8%: $(cat "$tmp/f.out")"
# a suite without match keeps its keys (no match in the configuration)
sed '/^match/d' "$tmp/m.yaml" >"$tmp/plain.yaml"
"$eb" run "$tmp/plain.yaml" --dry-run >"$tmp/plain.out" 2>&1 || fail "plain: $(cat "$tmp/plain.out")"
grep -qE "match (params|flops)" "$tmp/plain.out" && fail "an unmatched suite prints match columns"

# --- match_to: another reference
sed 's/match: params/match: params\nmatch_to: mamba/' "$tmp/m.yaml" >"$tmp/to.yaml"
"$eb" run "$tmp/to.yaml" --dry-run >"$tmp/to.out" 2>&1 || fail "match_to: $(cat "$tmp/to.out")"
grep -q "mamba/majority/seed=0 .*match params +0.00% vs mamba" "$tmp/to.out" ||
  fail "match_to: mamba is not the reference: $(cat "$tmp/to.out")"

# --- the speed section measures the matched widths too (at its own shape:
# vocab 256, 10 classes, each length), not the suite's base model
cat >"$tmp/s.yaml" <<'EOF'
suite: speedmatched
model: {dim: 32, depth: 2, heads: 4, ffn: 64, dropout: 0.0}
train: {steps: 1, batch: 2, eval_every: 1, eval_batches: 1}
match: params
match_tolerance: 0.15
tasks:
  - majority: {len: 16, train: 16, val: 8, test: 8}
archs: [vanilla, wide]
speed: {lengths: [32, 64], batch: 1, modes: [infer]}
EOF
"$eb" run "$tmp/s.yaml" --dry-run >"$tmp/s.out" 2>&1 || fail "matched speed dry run: $(cat "$tmp/s.out")"
grep -q "speed vanilla len=32 infer  dim 32 ffn 64" "$tmp/s.out" ||
  fail "dry run: the reference's speed rows are not at its own width: $(cat "$tmp/s.out")"
sdim=$(grep -oE "speed wide len=64 infer  dim [0-9]+" "$tmp/s.out" | awk '{print $NF}')
[[ -n $sdim && $sdim -gt 32 ]] || fail "dry run: wide's speed width not matched: $(cat "$tmp/s.out")"
"$eb" run "$tmp/s.yaml" --db "$tmp/s.db" >"$tmp/s.run" 2>&1 || fail "matched speed run: $(cat "$tmp/s.run")"
got=$(sqlite3 "$tmp/s.db" "SELECT json_extract(config_json, '\$.dim') FROM speed
                           WHERE arch='wide' AND seq_len=64")
[[ $got == "$sdim" ]] || fail "wide's speed row measured dim '$got', dry run said $sdim"
[[ $(sqlite3 "$tmp/s.db" "SELECT count(*) FROM speed WHERE status='done'") == 4 ]] ||
  fail "speed rows: $(sqlite3 "$tmp/s.db" "SELECT arch, seq_len, status FROM speed")"
# resuming measures nothing again; a row of another width is not taken as done
"$eb" run "$tmp/s.yaml" --db "$tmp/s.db" >"$tmp/s.run2" 2>&1 || fail "resume: $(cat "$tmp/s.run2")"
[[ $(sqlite3 "$tmp/s.db" "SELECT count(*) FROM speed") == 4 ]] || fail "resume re-measured speed rows"
sqlite3 "$tmp/s.db" "UPDATE speed SET config_json = json_set(config_json, '\$.dim', 32)
                     WHERE arch='wide' AND seq_len=64"
"$eb" run "$tmp/s.yaml" --db "$tmp/s.db" >"$tmp/s.run3" 2>&1 || fail "resume 2: $(cat "$tmp/s.run3")"
[[ $(sqlite3 "$tmp/s.db" "SELECT count(*) FROM speed WHERE arch='wide' AND seq_len=64") == 2 ]] ||
  fail "a speed row of another width counted as done"

# --- an arch without an analytic FLOP count cannot be matched by flops
so=${build:+$build/test-plugins/eb_test_plugin_good/eb_test_plugin_good.so}
if [[ -n $so && -f $so ]]; then
  cat >"$tmp/p.yaml" <<'EOF'
suite: p
model: {dim: 64, depth: 2, heads: 4, ffn: 128}
match: flops
tasks: [majority]
archs:
  - vanilla
  - tokenmlp
EOF
  out=$("$eb" --plugin "$so" run "$tmp/p.yaml" --dry-run 2>&1)
  [[ $? -eq 2 && "$out" == *"p.yaml:7:5: arch 'tokenmlp'"*"no analytic FLOP count"*"match: params"* ]] ||
    fail "match: flops with an arch without flops(): $out"
  sed -i 's/match: flops/match: params/' "$tmp/p.yaml"
  out=$("$eb" --plugin "$so" run "$tmp/p.yaml" --dry-run 2>&1) ||
    fail "match: params with the plugin refused: $out"
fi

if [[ $fails -ne 0 ]]; then
  echo "match: $fails check(s) failed" >&2
  exit 1
fi
echo "match: ok"
