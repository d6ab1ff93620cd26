#!/usr/bin/env bash
# ctest-labels: e2e
# `run --dry-run` estimates wall time from the FLOP count and the GEMM peak:
# every run line and the suite's summary line carry a finite positive time,
# the summary is FLOPs / (efficiency x peak) when both are given, a run is
# capped at its time budget, and bad values exit 2.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
suite="$src/tests/suites/tiny.yaml"
secs() { # "14 s" / "3.5 min" / "2.41 h" -> seconds
  awk -v v="$1" -v u="$2" 'BEGIN { m = u == "min" ? 60 : u == "h" ? 3600 : u == "s" ? 1 : -1;
    if (m < 0 || v == "" || v + 0 != v + 0) exit 1; printf "%.9g\n", v * m }'
}

# --- the measured peak: positive, finite times everywhere
"$eb" run "$suite" --dry-run --threads 1 >"$tmp/m" 2>&1 || fail "dry run: $(cat "$tmp/m")"
n=$(grep -cE 'FLOP total  est [0-9.e+-]+ (s|min|h)' "$tmp/m")
[[ $n == 4 ]] || fail "expected 4 run lines with an estimate, got $n: $(cat "$tmp/m")"
line=$(grep '^estimated time: ' "$tmp/m") || fail "no summary line: $(cat "$tmp/m")"
read -r v u <<<"$(sed -E 's/^estimated time: ([^ ]+) ([a-z]+) for.*/\1 \2/' <<<"$line")"
t=$(secs "$v" "$u") || fail "summary time not a number: $line"
awk -v t="$t" 'BEGIN { exit !(t > 0 && t < 1e12) }' || fail "time not finite and positive: $line"
pk=$(sed -E 's/.*GEMM peak of ([0-9.e+]+) GFLOP\/s measured now.*/\1/' <<<"$line")
awk -v p="$pk" 'BEGIN { exit !(p > 0 && p < 1e9) }' || fail "peak not measured: $line"
[[ "$line" == *"at 0.1 x the GEMM peak"* ]] || fail "default efficiency not 0.1: $line"

# --- given peak and efficiency: time = FLOPs / (efficiency x peak)
"$eb" run "$suite" --dry-run --peak-gflops 0.02 --efficiency 0.5 >"$tmp/g" 2>&1 ||
  fail "dry run with a given peak: $(cat "$tmp/g")"
line=$(grep '^estimated time: ' "$tmp/g")
read -r v u <<<"$(sed -E 's/^estimated time: ([^ ]+) ([a-z]+) for.*/\1 \2/' <<<"$line")"
t=$(secs "$v" "$u") || fail "summary time: $line"
f=$(sed -E 's/.*\(([0-9.e+]+) FLOP of training.*/\1/' <<<"$line")
awk -v t="$t" -v f="$f" 'BEGIN { w = f / (0.5 * 0.02e9); exit !(t > 0.97 * w && t < 1.03 * w) }' ||
  fail "time $t s is not FLOPs $f / (0.5 x 0.02 GFLOP/s): $line"
[[ "$line" == *"given by --peak-gflops"* && "$line" == *"for 4 run(s)"* ]] || fail "summary: $line"
grep -q "(time budget)" "$tmp/g" && fail "a run capped though under its budget: $(cat "$tmp/g")"

# --- a slow enough machine: every run stops at its 2-minute budget
"$eb" run "$suite" --dry-run --peak-gflops 0.001 --efficiency 1 >"$tmp/c" 2>&1 || fail "capped: $(cat "$tmp/c")"
[[ $(grep -c 'est 2.0 min (time budget)' "$tmp/c") == 4 ]] || fail "runs not capped: $(cat "$tmp/c")"
grep -q '^estimated time: 8.0 min for 4 run(s)' "$tmp/c" || fail "capped total: $(grep estimated "$tmp/c")"

# --- bad values
out=$("$eb" run "$suite" --dry-run --efficiency 2 2>&1)
[[ $? -eq 2 && "$out" == *"--efficiency 2"* ]] || fail "--efficiency 2 accepted: $out"
out=$("$eb" run "$suite" --dry-run --peak-gflops -1 2>&1)
[[ $? -eq 2 ]] || fail "--peak-gflops -1 accepted: $out"

if [[ $fails -ne 0 ]]; then
  echo "dry_estimate: $fails check(s) failed" >&2
  exit 1
fi
echo "dry_estimate: ok"
