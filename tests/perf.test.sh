#!/usr/bin/env bash
# ctest-labels: perf;slow
# Performance goals as fractions of this machine's own peaks, which each
# `effbench bench` measures in the same invocation with the same threads
# (docs/performance.md, "What is timed"). Prints every measured fraction and
# fails when one is below its goal. Not in the default run (labels perf and
# slow): `ctest -L perf`. The goals are parameters, set in the environment:
#   EB_PERF_THREADS=2          threads of the goal runs
#   EB_PERF_GEMM_GOAL=0.80     vanilla d512 training step: model GFLOP/s / peak GEMM GFLOP/s
#   EB_PERF_BW_GOAL=0.50       poolformer d64 training step: GB/s moved by the ops / peak GB/s
#   EB_PERF_SCALING_GOAL=1.8   vanilla d512: tokens/s with EB_PERF_THREADS / with 1 thread
#   EB_PERF_ATT3_GOAL=0.35     vanilla d64 N512, 1 thread, on an AVX-512 CPU: tokens/s with the
#                              AVX2+FMA attention kernels (EFFBENCH_ATT_LEVEL=3) / with AVX-512
#   EB_PERF_ATT0_GOAL=0.15     the same with the portable kernels (EFFBENCH_ATT_LEVEL=0) / the
#                              CPU's best (AVX-512, or AVX2 where that is the best)
#   EB_PERF_MIN_TIME=2         --min-time of each bench (seconds)
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
threads=${EB_PERF_THREADS:-2}
gemm_goal=${EB_PERF_GEMM_GOAL:-0.80}
bw_goal=${EB_PERF_BW_GOAL:-0.50}
scaling_goal=${EB_PERF_SCALING_GOAL:-1.8}
min_time=${EB_PERF_MIN_TIME:-2}
att3_goal=${EB_PERF_ATT3_GOAL:-0.35}
att0_goal=${EB_PERF_ATT0_GOAL:-0.15}
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
jf() { sed -nE "s/.*\"$1\":(\"[^\"]*\"|[^,}]*).*/\1/p" <<<"$2"; } # field of one JSON line
holds() { awk "BEGIN { exit !($1) }"; }

# bench ARGS...: one JSON line (one length), or a failure
bench() {
  local out
  if ! out=$("$eb" bench --mode train --min-time "$min_time" --json "$@" 2>&1); then
    fail "effbench bench $*: $out"
    return 1
  fi
  grep '^{' <<<"$out" | tail -n 1
}

vanilla=(--arch vanilla --dim 512 --depth 2 --heads 8 --ffn 1024 --batch 8 --len 512)
pool=(--arch poolformer --dim 64 --batch 32 --len 512)

echo "goals at $threads thread(s): model FLOP rate >= $gemm_goal of peak GEMM (vanilla d512),"
echo "  bytes moved >= $bw_goal of peak bandwidth (poolformer d64),"
echo "  tokens/s >= $scaling_goal x 1 thread (vanilla d512)"

if v=$(bench "${vanilla[@]}" --threads "$threads"); then
  f=$(jf frac_gemm_peak "$v")
  echo "vanilla d512, $threads thread(s): $(jf gflops_model_per_s "$v") model GFLOP/s," \
    "peak GEMM $(jf peak_gemm_gflops "$v") GFLOP/s ($(jf gemm_backend "$v" | tr -d '"') $(jf gemm_isa "$v" | tr -d '"')):" \
    "fraction $f (goal $gemm_goal)"
  if [[ $f == null || -z $f ]]; then
    fail "vanilla d512: no fraction of the GEMM peak: $v"
  elif holds "$f > 1"; then # no step outruns one large GEMM: the peak run was disturbed
    fail "vanilla d512: $f of the GEMM peak is above 1: the machine was busy while the peak" \
      "was measured; the goal cannot be judged from this run, rerun on an idle machine"
  elif ! holds "$f >= $gemm_goal"; then
    fail "vanilla d512: model FLOP rate is $f of the peak GEMM rate, goal $gemm_goal"
  fi
fi

if p=$(bench "${pool[@]}" --threads "$threads"); then
  f=$(jf frac_bw_peak "$p")
  echo "poolformer d64, $threads thread(s): $(jf gbytes_per_s "$p") GB/s moved" \
    "($(jf bytes_step "$p") bytes/step), peak $(jf peak_bw_gbs "$p") GB/s: fraction $f (goal $bw_goal)"
  if [[ $f == null || -z $f ]]; then
    fail "poolformer d64: no fraction of the bandwidth peak (bytes_step $(jf bytes_step "$p"):" \
      "the ops do not count the bytes they move yet)"
  elif ! holds "$f >= $bw_goal"; then
    fail "poolformer d64: bytes moved at $f of the peak bandwidth, goal $bw_goal"
  fi
  # the step also runs its GEMMs: even with every model FLOP at the GEMM peak and
  # every byte at the triad peak, the bytes fraction could reach only this
  tm=$(awk "BEGIN { print $(jf bytes_step "$p") / ($(jf peak_bw_gbs "$p") * 1e9) }")
  tf=$(awk "BEGIN { print $(jf flops_model "$p") / ($(jf peak_gemm_gflops "$p") * 1e9) }")
  echo "poolformer d64: at both peaks the bytes fraction would be at most" \
    "$(awk "BEGIN { printf \"%.3f\", $tm / ($tm + $tf) }"); fraction of that roofline" \
    "time: $(jf frac_roofline "$p")"
fi

# thread scaling: the peaks are not needed, only tokens/s
if [[ -n ${v:-} ]] && one=$(bench "${vanilla[@]}" --threads 1 --no-peak); then
  t1=$(jf tokens_per_s "$one") tn=$(jf tokens_per_s "$v")
  s=$(awk "BEGIN { printf \"%.3f\", $tn / $t1 }")
  echo "vanilla d512: $tn tokens/s at $threads thread(s), $t1 at 1: scaling $s (goal $scaling_goal)"
  holds "$s >= $scaling_goal" ||
    fail "vanilla d512: $threads thread(s) give $s x the tokens/s of 1, goal $scaling_goal"
fi

# the attention kernels of the lower x86-64 levels, run on this CPU: each must
# keep its accumulators in its own registers (a kernel built on vectors wider
# than the level's registers runs several times slower and still passes every
# correctness test)
small=(--arch vanilla --dim 64 --batch 8 --len 512 --threads 1 --no-peak)
top=0
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && top=3
grep -qw avx512f /proc/cpuinfo && top=4
if [[ $top -gt 0 ]] && best=$(bench "${small[@]}"); then
  tb=$(jf tokens_per_s "$best")
  for lv in 3 0; do
    [[ $lv -lt $top ]] || continue
    goal=$att0_goal
    [[ $lv -eq 3 ]] && goal=$att3_goal
    if r=$(EFFBENCH_ATT_LEVEL=$lv bench "${small[@]}"); then
      s=$(awk "BEGIN { printf \"%.3f\", $(jf tokens_per_s "$r") / $tb }")
      echo "vanilla d64 N512, 1 thread: attention level $lv at $s of level $top's tokens/s" \
        "(goal $goal)"
      holds "$s >= $goal" ||
        fail "attention kernels of level $lv: $s of level $top's tokens/s, goal $goal"
    fi
  done
fi

if [[ $fails -ne 0 ]]; then
  echo "perf: $fails goal(s) not met" >&2
  exit 1
fi
echo "perf: all goals met"
