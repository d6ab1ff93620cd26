#!/usr/bin/env bash
# ctest-labels: e2e
# The command line as a user meets it: help, listing, bad input (exit 2 with a
# one-line message naming the thing and the valid choices), export and train.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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

expect 0 "usage: effbench" -- "$eb" --help
expect 2 "usage: effbench" -- "$eb"
expect 0 "vanilla .*Transformer" -- "$eb" list archs
expect 0 "causal: bool = false" -- "$eb" list archs
expect 0 "majority" -- "$eb" list tasks
expect 2 "expected 'archs' or 'tasks'" -- "$eb" list things
expect 2 "unknown command 'trian'; did you mean 'train'" -- "$eb" trian
for c in train bench export; do
  expect 0 "usage: effbench $c" -- "$eb" $c --help
done
# one table of commands (harness/main.c): every command --help lists runs its
# own --help, and the unknown-command message names every one of them
cmds=$("$eb" --help | sed -n '/^commands:/,/^$/s/^  \([a-z]*\).*/\1/p')
[[ $(wc -w <<<"$cmds") -ge 12 ]] || fail "--help lists too few commands: $cmds"
unknown=$("$eb" nosuchcmd 2>&1)
for c in $cmds; do
  expect 0 "^usage: effbench $c" -- "$eb" $c --help
  [[ $unknown == *" $c"[,\)]* ]] || fail "the unknown-command message misses $c: $unknown"
done

# unknown arch: names it and lists the choices
expect 2 "unknown arch 'vanila'; did you mean 'vanilla'\? \(available: vanilla" -- \
  "$eb" bench --arch vanila --len 8
# bad option values
expect 2 "--len abc: expected positive integers" -- "$eb" bench --arch vanilla --len abc
expect 2 "--len 0,8: expected positive integers" -- "$eb" bench --arch vanilla --len 0,8
expect 2 "--batch -3: expected an integer in \[1," -- "$eb" bench --batch -3
expect 2 "--dropout 1.5: expected a number in \[0, 0.999\]" -- "$eb" train --dropout 1.5
expect 2 "--mode fast: expected train or infer" -- "$eb" bench --mode fast
expect 2 "--pool max: expected mean or cls" -- "$eb" train --pool max
expect 2 "unknown option '--lenght'; did you mean '--len'" -- "$eb" bench --lenght 8
expect 2 "option '--steps' needs a value" -- "$eb" train --steps
expect 2 "heads \(3\) must divide dim \(64\)" -- "$eb" bench --heads 3 --len 8
expect 2 "arch 'vanilla' has no parameter 'casual'; did you mean 'causal'" -- \
  "$eb" train --param casual=true
expect 2 "arch 'vanilla' parameter 'causal': 'maybe' is not a boolean" -- \
  "$eb" train --param causal=maybe
expect 2 "expected KEY=VALUE" -- "$eb" train --param causal
expect 2 "unknown task 'listopz'; did you mean 'listops'\? \(available: majority" -- \
  "$eb" train --task listopz
# an unknown name may be a plugin's: the message says how plugins are loaded
EFFBENCH_PLUGIN_PATH= expect 2 "with --plugin FILE.so or from the directories in \
EFFBENCH_PLUGIN_PATH \(unset\); no plugin is loaded" -- "$eb" train --arch linear_attn
expect 2 "need 2 <= classes <= 255" -- "$eb" train --task majority \
  --task-param classes=300 --task-param vocab=400
expect 2 "task 'majority' has no parameter 'length'; did you mean 'len'" -- \
  "$eb" train --task-param length=5
expect 2 "--out FILE is required" -- "$eb" export --arch vanilla
expect 2 "--schedule linear: expected constant, rsqrt or cosine" -- "$eb" train --schedule linear
# plugins that cannot be loaded are bad input, named
expect 2 "plugin /nonexistent.so: cannot load" -- "$eb" --plugin /nonexistent.so list archs
# unwritable output is a failure (1), named
expect 1 "/nonexistent/dir/x.safetensors: cannot write" -- \
  "$eb" export --arch vanilla --out /nonexistent/dir/x.safetensors

# export writes a safetensors file whose header names the tensors
"$eb" export --arch vanilla --dim 16 --depth 1 --heads 2 --ffn 32 --with-batch \
  --out "$tmp/v.safetensors" || fail "export failed"
if [[ -s "$tmp/v.safetensors" ]]; then
  header=$(head -c 4096 "$tmp/v.safetensors" | tail -c +9 | tr -d '\0')
  for name in embed.tok blocks.0.attn.wqkv head.w batch.tokens out.logits grad.head.w; do
    grep -q "\"$name\"" <<<"$header" || fail "export header lacks $name"
  done
else
  fail "export wrote no file"
fi

# a short training run prints a JSON result and writes one loss per step
"$eb" train --steps 5 --eval-every 5 --batch 4 --losses "$tmp/l.txt" --json >"$tmp/r.json" \
  || fail "train failed"
grep -q '"status":"done"' "$tmp/r.json" || fail "train JSON: $(cat "$tmp/r.json")"
[[ $(wc -l <"$tmp/l.txt") -eq 5 ]] || fail "losses file has $(wc -l <"$tmp/l.txt") lines"

# bench --json gives one object per length, each with its fractions of the peaks
# measured in the same invocation and the GEMM backend
jf() { sed -nE "s/.*\"$1\":(\"[^\"]*\"|[^,}]*).*/\1/p" <<<"$2"; } # field of one JSON line
holds() { awk "BEGIN { exit !($1) }"; }                               # numeric test
out=$("$eb" bench --arch vanilla --dim 16 --depth 1 --heads 2 --ffn 32 --len 16,32 --batch 2 \
  --min-time 0 --min-reps 2 --json)
n=$(grep -c '"tokens_per_s"' <<<"$out")
[[ $n -eq 2 ]] || fail "bench --json printed $n objects for 2 lengths"
line=$(tail -n 1 <<<"$out")
fm=$(jf flops_model "$line") fx=$(jf flops_executed "$line") fg=$(jf frac_gemm_peak "$line")
fb=$(jf frac_bw_peak "$line") bs=$(jf bytes_step "$line") gm=$(jf gflops_model_per_s "$line")
pg=$(jf peak_gemm_gflops "$line") pb=$(jf peak_bw_gbs "$line")
holds "$fm > 0 && $fm <= $fx" || fail "bench: flops_model $fm not in (0, flops_executed $fx]"
# both kinds under their issue-16 names; blockwise attention's backward
# recomputes the scores, so a training step executes more than the model's
mf=$(jf model_flops_step "$line") xf=$(jf executed_flops_step "$line")
mg=$(jf model_gemm_flops_step "$line") xg=$(jf executed_gemm_flops_step "$line")
holds "$mf > 0 && $mf < $xf && ($mf - $fm)^2 < ($fm * 1e-5)^2 && ($xf - $fx)^2 < ($fx * 1e-5)^2" ||
  fail "bench: model_flops_step $mf, executed_flops_step $xf vs flops_model $fm, flops_executed $fx"
holds "$mg > 0 && $mg < $xg && $xg < $xf && $mg < $mf" ||
  fail "bench: GEMM FLOPs model $mg, executed $xg not within model $mf, executed $xf"
holds "$gm > 0 && $pg > 0 && $pb > 0" ||
  fail "bench: model GFLOP/s $gm, peaks $pg GFLOP/s $pb GB/s not all positive"
holds "$fg > 0 && ($fg - $gm / $pg)^2 < 1e-4" || fail "bench: frac_gemm_peak $fg != $gm / $pg"
# bytes not counted yet by the ops: null, never a made-up number
if [[ $bs == null ]]; then
  [[ $fb == null && $(jf gbytes_per_s "$line") == null ]] || fail "bench: bytes null, fractions: $line"
else
  holds "$bs > 0 && $fb > 0" || fail "bench: bytes_step $bs, frac_bw_peak $fb"
  # roofline fraction = (model FLOPs at the GEMM peak + bytes at the triad peak) / step
  fr=$(jf frac_roofline "$line") ms=$(jf step_ms_median "$line")
  holds "$fr > 0 && ($fr - ($fm / ($pg * 1e9) + $bs / ($pb * 1e9)) / ($ms * 1e-3))^2 < 1e-4" ||
    fail "bench: frac_roofline $fr does not match its definition: $line"
fi
[[ $(jf gemm_backend "$line") =~ ^\"(onednn|openblas)\"$ && $(jf gemm_isa "$line") =~ ^\"..+\"$ ]] ||
  fail "bench --json lacks the GEMM backend: $line"
# --no-peak: the fractions are null, not 0
line=$("$eb" bench --arch vanilla --dim 16 --depth 1 --heads 2 --ffn 32 --len 16 --batch 2 \
  --min-time 0 --min-reps 1 --no-peak --json)
[[ $(jf frac_gemm_peak "$line") == null && $(jf peak_gemm_gflops "$line") == null &&
  $(jf frac_roofline "$line") == null ]] || fail "bench --no-peak: $line"

# the GEMM backend's warning is printed once, on stderr, by commands that compute
out=$(EFFBENCH_GEMM=bogus "$eb" bench --arch vanilla --dim 16 --depth 1 --heads 2 --ffn 32 \
  --len 16 --batch 2 --min-time 0 --min-reps 1 --no-peak --json 2>&1 >/dev/null)
[[ $(grep -c "effbench: warning: EFFBENCH_GEMM=bogus is not one of" <<<"$out") -eq 1 ]] ||
  fail "bench with EFFBENCH_GEMM=bogus: warning not printed once on stderr: $out"
out=$(EFFBENCH_GEMM=bogus "$eb" list archs 2>&1 >/dev/null)
[[ -z $out ]] || fail "list printed a GEMM warning: $out"

# bench --peak: the machine's GEMM and memory peaks, the backend that made them
line=$("$eb" bench --peak --threads 1 --json) || fail "bench --peak --json failed"
holds "$(jf peak_gemm_gflops "$line") > 0 && $(jf peak_bw_gbs "$line") > 0 &&
  $(jf gemm_gflops_median "$line") > 0" || fail "bench --peak: $line"
[[ $(jf gemm_backend "$line") =~ ^\"(onednn|openblas)\"$ && $(jf gemm_isa "$line") =~ ^\"..+\"$ &&
  $(jf threads "$line") == 1 ]] || fail "bench --peak lacks the backend or threads: $line"
# it measures only the machine: model options are refused, not ignored
expect 2 "--peak measures only the machine .* not '--len'" -- "$eb" bench --peak --len 8
expect 2 "not '--no-peak'" -- "$eb" bench --peak --no-peak
expect 2 "not '--db'" -- "$eb" bench --peak --db "$tmp/p.db"
[[ ! -e "$tmp/p.db" ]] || fail "bench --peak --db wrote a database"

if [[ $fails -ne 0 ]]; then
  echo "cli: $fails check(s) failed" >&2
  exit 1
fi
echo "cli: ok"
